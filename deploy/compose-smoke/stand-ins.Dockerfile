# Stand-ins for the upstream base images that docker-compose.yml and the
# Dockerfile name, for machines that reach no image registry. Built by
# scripts/compose-smoke from root filesystems made of Debian's packages
# (imported with `docker import`) and tagged with the upstream names, so the
# project's own files run unmodified. The upstream images are used whenever
# a registry answers.

ARG RUNTIME_ROOTFS
ARG POSTGRES_ROOTFS

# gcr.io/distroless/cc-debian12:nonroot: glibc, libgcc, libstdc++, OpenSSL,
# CA certificates, tzdata, the nonroot user (65532); no shell, no package
# manager. The packages are extracted, not installed (as distroless does).
FROM ${RUNTIME_ROOTFS} AS runtime
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /home/nonroot
USER 65532
LABEL shop.compose-smoke.stand-in="gcr.io/distroless/cc-debian12:nonroot, from Debian packages"

# postgres:16-bookworm: Debian's PostgreSQL 15 (bookworm has no 16), with an
# entrypoint honouring what compose uses of the upstream one.
FROM ${POSTGRES_ROOTFS} AS postgres
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
LABEL shop.compose-smoke.stand-in="postgres:16-bookworm, from Debian's PostgreSQL 15"

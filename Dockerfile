# syntax=docker/dockerfile:1
# One Dockerfile for every component: `docker build --target product-service .`
# (or cart-service, order-service, fulfillment-service, gateway, shop). Multi-stage: dependencies
# are cooked in their own cached layer (cargo-chef), queries are checked
# against the committed .sqlx/ data (no database at build time), protobuf is
# compiled by protox (no protoc), and each runtime image is distroless,
# non-root and multi-arch.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.73
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ENV SQLX_OFFLINE=true
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked \
        -p product-service -p cart-service -p order-service -p fulfillment-service -p gateway -p shop \
    && mkdir -p /out \
    && cp target/release/product-service target/release/cart-service target/release/order-service \
          target/release/fulfillment-service \
          target/release/gateway target/release/shop /out/

# Runtime images: glibc + CA certificates, no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
USER 65532:65532
ENV LOG_FORMAT=json

FROM runtime AS product-service
COPY --from=builder /out/product-service /usr/local/bin/product-service
EXPOSE 50051 9101
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/product-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/product-service"]

FROM runtime AS cart-service
COPY --from=builder /out/cart-service /usr/local/bin/cart-service
EXPOSE 50052 9102
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/cart-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cart-service"]

FROM runtime AS order-service
COPY --from=builder /out/order-service /usr/local/bin/order-service
EXPOSE 50053 9103
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/order-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-service"]

FROM runtime AS fulfillment-service
COPY --from=builder /out/fulfillment-service /usr/local/bin/fulfillment-service
EXPOSE 50054 9104
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/fulfillment-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/fulfillment-service"]

FROM runtime AS gateway
COPY --from=builder /out/gateway /usr/local/bin/gateway
EXPOSE 8080 8081
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gateway"]

# The CLI (load generator, local tools).
FROM runtime AS shop
COPY --from=builder /out/shop /usr/local/bin/shop
ENTRYPOINT ["/usr/local/bin/shop"]

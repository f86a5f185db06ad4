# syntax=docker/dockerfile:1.7
# One image with both subgraph binaries, `payments` and `murchases` (each with the subcommands
# serve | schema | migrate | mint-token): built with the Rust toolchain, run on Debian slim as an
# unprivileged user. Used by docker-compose.yml for the migration step and both subgraphs.
#
#   docker build -t mallnline .
#   docker run --rm -e JWT_SECRET=... -e DATABASE_URL=postgres://... mallnline payments serve

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY . .
# Registry and target caches survive between builds (BuildKit); the binaries are copied out of
# the cache mount so the next stage can take them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin payments --bin murchases \
 && mkdir -p /out \
 && cp target/release/payments target/release/murchases /out/

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to Stripe and PostgreSQL; curl: container health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /app mallnline \
 && mkdir -p /app/data \
 && chown mallnline /app/data
COPY --from=builder /out/payments /out/murchases /usr/local/bin/
WORKDIR /app
USER mallnline
# Container defaults: listen on every interface, JSON logs. Secrets (JWT_SECRET or
# JWT_PUBLIC_KEY_FILE, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRETS) and DATABASE_URL come from the
# environment at run time; nothing secret is baked in.
ENV APP_ENV=production \
    LOG_FORMAT=json \
    RUST_LOG=info \
    PAYMENTS_ADDR=0.0.0.0:4001 \
    MURCHASES_ADDR=0.0.0.0:4002 \
    DATABASE_URL=sqlite:///app/data/mallnline.db?mode=rwc
EXPOSE 4001 4002
CMD ["payments", "--help"]

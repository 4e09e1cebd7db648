# syntax=docker/dockerfile:1
# Build: docker build -t accessbot .
# Run:   docker run -p 8080:8080 --env-file .env -v accessbot-data:/data \
#          -v $PWD/config/accessbot.toml:/etc/accessbot/accessbot.toml:ro accessbot
# Or with PostgreSQL: docker compose up -d (see docker-compose.yml).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Everything Cargo.toml refers to: the lib and bin (src), the declared
# [[bench]] target (benches), and the SQL that sqlx::migrate! embeds at
# compile time (migrations). tests/ is discovered, not declared: not needed.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
# The registry and target caches survive between builds (BuildKit); the
# binary is copied out of the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --bin accessbot \
 && install -m 0755 target/release/accessbot /usr/local/bin/accessbot

FROM debian:bookworm-slim
# ca-certificates: HTTPS to Slack, Tailscale and PostgreSQL (rustls with the
# system's roots). bash (already in the image) runs the compose healthcheck.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 accessbot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin accessbot \
 && mkdir -p /data /etc/accessbot \
 && chown accessbot:accessbot /data
COPY --from=build /usr/local/bin/accessbot /usr/local/bin/accessbot
COPY config/accessbot.example.toml /etc/accessbot/accessbot.example.toml
# Numeric, so platforms that insist on a non-root user can check it.
USER 10001:10001
WORKDIR /data
# The embedded SQLite database lives on this volume by default.
VOLUME ["/data"]
ENV ACCESSBOT_CONFIG=/etc/accessbot/accessbot.toml \
    ACCESSBOT_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/accessbot.db \
    ACCESSBOT_LOG_FORMAT=json
EXPOSE 8080
# accessbot handles SIGTERM itself (finishes in-flight work, exits 0).
ENTRYPOINT ["accessbot"]
CMD ["serve"]

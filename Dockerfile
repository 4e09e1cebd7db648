# syntax=docker/dockerfile:1
# Build: docker build -t accessbot .
# Run:   docker run -p 8080:8080 --env-file .env -v accessbot-data:/data \
#          -v $PWD/config/accessbot.toml:/etc/accessbot/accessbot.toml:ro accessbot

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --locked --release --bin accessbot

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin accessbot \
 && mkdir -p /data /etc/accessbot \
 && chown accessbot /data
COPY --from=build /src/target/release/accessbot /usr/local/bin/accessbot
COPY config/accessbot.example.toml /etc/accessbot/accessbot.example.toml
USER accessbot
WORKDIR /data
# The embedded SQLite database lives on this volume by default.
VOLUME ["/data"]
ENV ACCESSBOT_CONFIG=/etc/accessbot/accessbot.toml \
    ACCESSBOT_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/accessbot.db \
    ACCESSBOT_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["accessbot"]
CMD ["serve"]

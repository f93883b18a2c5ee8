# Multi-stage build: compile with cargo, run on a slim base as a non-root user.
# Volumes and ports match CloudServer's image, so existing `docker run` lines keep working.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin s3server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /usr/src/app s3server
WORKDIR /usr/src/app
COPY --from=build /src/target/release/s3server /usr/local/bin/s3server
COPY config.json ./config.json
COPY conf ./conf
RUN mkdir -p localData localMetadata && chown -R s3server /usr/src/app
USER s3server
# Same environment as CloudServer's image: SCALITY_ACCESS_KEY_ID, SCALITY_SECRET_ACCESS_KEY,
# ENDPOINT, LOG_LEVEL, S3BACKEND, S3DATAPATH, S3METADATAPATH, ...
ENV S3DATAPATH=/usr/src/app/localData S3METADATAPATH=/usr/src/app/localMetadata
VOLUME ["/usr/src/app/localData", "/usr/src/app/localMetadata"]
EXPOSE 8000 8002
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8002/live || exit 1
ENTRYPOINT ["s3server"]

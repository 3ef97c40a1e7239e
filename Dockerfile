# syntax=docker/dockerfile:1
# One container: build with the locked dependencies, run as a non-root user from a slim image.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so editing src/ does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin provisiond \
 && rm -rf src
COPY schema.sql schema.pg.sql ./
COPY migrations ./migrations
COPY src ./src
# Make sure cargo sees the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin provisiond

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin provisiond \
 && mkdir -p /data && chown provisiond:provisiond /data
COPY --from=build /src/target/release/provisiond /usr/local/bin/provisiond
USER provisiond
ENV BIND=0.0.0.0:8080 \
    DATABASE_PATH=/data/provisiond.db \
    RUST_LOG=info
VOLUME /data
EXPOSE 8080
# The binary checks itself: no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["provisiond", "healthcheck"]
ENTRYPOINT ["provisiond"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# jwt-relay-cli (keys, tokens, config checks, the demo's echo upstream and identity service), built
# from source in two stages. Build context: the repository root.
#   docker build -f deploy/cli.Dockerfile -t jwt-relay-cli:dev .     (or `make cli-image`)
#   docker run --rm jwt-relay-cli:dev --help
# deploy/cli.Dockerfile.dockerignore keeps the context to the sources the build needs.

# The toolchain `make test` uses; the workspace needs at least Rust 1.85 (rust-version).
FROM rust:1.95-slim-trixie AS build
WORKDIR /src
# The workspace: the filter crate (the CLI links its rlib: `check-config` runs the filter's own
# parser), its signature verifiers and the CLI. Cargo.lock pins every dependency (--locked).
COPY Cargo.toml Cargo.lock ./
COPY src/ src/
COPY verifiers/ verifiers/
COPY cli/ cli/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p jwt-relay-cli \
    && install -D -m 0755 target/release/jwt-relay-cli /out/jwt-relay-cli

FROM debian:trixie-slim
COPY --from=build /out/jwt-relay-cli /usr/local/bin/jwt-relay-cli
# Not root; the demo keys mounted by envoy/docker-compose.yaml are world-readable in a checkout.
USER 65532:65532
ENTRYPOINT ["jwt-relay-cli"]
CMD ["--help"]

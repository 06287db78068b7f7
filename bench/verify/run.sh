#!/usr/bin/env bash
# One signature verify per algorithm, in µs: natively, as wasm32-wasip1 in V8 under Node.js
# (`node --no-liftoff`, as Envoy runs V8: TurboFan only), and in Envoy's own V8 (probe.rs) when
# an Envoy binary is found (`jwt-relay-cli envoy which`: $ENVOY_BIN, `envoy` on PATH, or the one
# `make envoy` puts in .venv).
# Numbers only: nothing here is a test, and nothing here runs in `make test`.
#
#   bench/verify/run.sh [ITERATIONS]      (default 100 per round, best of 7 rounds)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"
iterations=${1:-100}

rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
command -v node >/dev/null || { echo "error: node (Node.js >= 20) is needed for the V8 runs" >&2; exit 1; }

cargo build --release --quiet
cargo build --release --quiet --target wasm32-wasip1
mkdir -p target/fixtures
./target/release/verify-bench gen target/fixtures/tokens.json

echo "## $(date -u +%Y-%m-%d) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
echo
./target/release/verify-bench run target/fixtures/tokens.json "$iterations"
echo
node --no-liftoff --no-warnings run.mjs target/wasm32-wasip1/release/verify-bench.wasm \
  target/fixtures/tokens.json "$iterations"
echo

# The project's one Envoy launcher decides which binary (cli/src/envoy.rs).
envoy=$(cd "$root" && cargo run --quiet --locked -p jwt-relay-cli -- envoy which 2>/dev/null || true)
if [[ -x "$envoy" ]]; then
  node --no-warnings envoy.mjs "$envoy" target/wasm32-wasip1/release/verify_probe.wasm \
    target/fixtures/tokens.json "$iterations" 2> >(grep -v 'no configured limit\|caught ENVOY_SIGTERM' >&2)
else
  echo "(no Envoy found: set ENVOY_BIN or run \`make envoy\` for the in-Envoy table)"
fi

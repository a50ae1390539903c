# shellcheck shell=bash
# Sourced by the bench scripts that measure one `hookflow serve` of their own (store.sh, hmac.sh):
# paths, messages, the tools they need, the release build, a temporary directory, the server
# (started on 127.0.0.1:0, its listeners' addresses read from its log, stopped at exit) and the
# credentials' secrets it prints once. Set NAME (the script's name, for messages) and
# READY_TIMEOUT before sourcing.

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
RESULTS="$BENCH/results"
HF_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/hookflow"

die() { echo "$NAME: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk)"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
log "building hookflow (release)"
(cd "$ROOT" && cargo build --release -p hookflow)
mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookflow-$NAME.XXXXXX")"
SERVER=""

stop() {
    if [[ -n "$SERVER" ]] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    SERVER=""
}
cleanup() {
    stop
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# address WHICH: `http://` and the address of the `WHICH listening` line of the server's log,
# waiting for it.
address() {
    local deadline=$((SECONDS + READY_TIMEOUT)) found
    while ((SECONDS < deadline)); do
        found="$(grep -oE "$1 listening on http://127\.0\.0\.1:[0-9]+" "$TMP/serve.err" 2>/dev/null | head -n1 || true)"
        [[ -n "$found" ]] && { echo "http://${found##*http://}"; return 0; }
        kill -0 "$SERVER" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# serve OPTIONS...: a hookflow serve with these options and a fresh data directory; sets HOOKS
# and ADMIN.
serve() {
    rm -rf "$TMP/data"
    "$HF_BIN" serve --data "$TMP/data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$@" \
        >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SERVER=$!
    HOOKS="$(address webhooks)" || { cat "$TMP/serve.err" >&2; die "no webhook listener"; }
    ADMIN="$(address admin)" || die "no admin listener"
}

# secret_of NAME: the secret the server printed when it created credential NAME.
secret_of() {
    awk -v want="credential \`$1\`" 'index($0, want) { found = 1; next }
        found && $1 == "secret:" { print $2; exit }' "$TMP/serve.out"
}

#!/usr/bin/env bash
# The `store` node's cost and the fan-out latency of `emit`, on 127.0.0.1:
#
# - For each backend (redb, sled): wrk POSTs 1 KB records to a sync flow that stores each one
#   (durably, before it answers: bench/flows-store/stored.json) and, in turn, to the same flow
#   without the node (plain.json); the summary gives both throughputs and their ratio per round.
# - Fan-out (on redb): bench/fanout.py makes CALLS calls one at a time to a flow that emits an
#   event (fanout.json) and reports the time from each answer to the end of the flow the event
#   started (fanout-child.json), p50 and p99.
#
# Env: DURATION (s per run, default 10), ROUNDS (default 3), THREADS (2), CONNECTIONS (32),
#      CALLS (fan-out calls, default 500), READY_TIMEOUT (s, default 30).
# Raw wrk outputs go to bench/results/.
set -euo pipefail

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
CALLS="${CALLS:-500}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
RESULTS="$BENCH/results"
HF_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/hookflow"
TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

die() { echo "store.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk)"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
log "building hookflow (release)"
(cd "$ROOT" && cargo build --release -p hookflow)
mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookflow-store-bench.XXXXXX")"
SERVER=""

cleanup() {
    if [[ -n "$SERVER" ]] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# address LOG REGEX: the first `http://...` address of a line matching REGEX, waiting for it.
address() {
    local deadline=$((SECONDS + READY_TIMEOUT)) found
    while ((SECONDS < deadline)); do
        found="$(grep -oE "$2 on http://127\.0\.0\.1:[0-9]+" "$1" 2>/dev/null | head -n1 || true)"
        [[ -n "$found" ]] && { echo "http://${found##*http://}"; return 0; }
        kill -0 "$SERVER" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# serve STORE: a hookflow serve on the bench flows with that backend; sets HOOKS and ADMIN.
serve() {
    rm -rf "$TMP/data"
    "$HF_BIN" serve --flows "$BENCH/flows-store" --data "$TMP/data" --store "$1" \
        --admin-token "$TOKEN" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SERVER=$!
    HOOKS="$(address "$TMP/serve.err" 'webhooks listening')" || { cat "$TMP/serve.err" >&2; die "no listener"; }
    ADMIN="$(address "$TMP/serve.err" 'admin listening')" || die "no admin listener"
}

stop() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
}

# run NAME URL: one wrk run; prints requests/s; fails on non-2xx answers.
run() {
    local out="$RESULTS/store-$1-$STAMP-$round.txt"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency -s "$BENCH/store.lua" \
        "$2" >"$out" 2>&1 || { cat "$out" >&2; die "$1: wrk failed"; }
    grep -q 'Non-2xx or 3xx responses' "$out" && die "$1: wrk saw non-2xx answers (see $out)"
    awk '/^Requests\/sec:/ { print $2 }' "$out"
}

SUMMARY="$RESULTS/store-summary-$STAMP.txt"
{
    echo "store node — POST 1 KB records, wrk ${DURATION}s, $THREADS threads, $CONNECTIONS connections, $ROUNDS rounds"
    echo "machine: $(nproc) cores, $(awk '/^model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//')"
} >"$SUMMARY"
for store in redb sled; do
    log "backend $store"
    serve "$store"
    for ((round = 1; round <= ROUNDS; round++)); do
        with="$(run "$store-stored" "$HOOKS/hooks/stored")"
        without="$(run "$store-plain" "$HOOKS/hooks/plain")"
        printf "%s round %d: with the node %s req/s, without %s req/s, ratio %.2f\n" "$store" "$round" \
            "$with" "$without" "$(echo "$with / $without" | bc -l)" | tee -a "$SUMMARY" >&2
    done
    count="$(curl -sSf -H "Authorization: Bearer $TOKEN" "$ADMIN/api/collections" |
        grep -oE '"count":[0-9]+' | head -n1 | cut -d: -f2)"
    echo "$store: $count records stored" | tee -a "$SUMMARY" >&2
    stop
done
log "fan-out on redb, $CALLS calls"
serve redb
python3 "$BENCH/fanout.py" "$HOOKS" "$ADMIN" "$TOKEN" "$CALLS" | tee -a "$SUMMARY" >&2
stop
log "summary in $SUMMARY"
cat "$SUMMARY"

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

NAME=store.sh
TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# shellcheck source=bench/serve-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve-lib.sh"

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
    serve --flows "$BENCH/flows-store" --store "$store" --admin-token "$TOKEN"
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
serve --flows "$BENCH/flows-store" --store redb --admin-token "$TOKEN"
python3 "$BENCH/fanout.py" "$HOOKS" "$ADMIN" "$TOKEN" "$CALLS" | tee -a "$SUMMARY" >&2
stop
log "summary in $SUMMARY"
cat "$SUMMARY"

#!/usr/bin/env bash
# Measure hookflow's outbound webhooks on 127.0.0.1: one `hookflow serve` (release) on
# flows/order-intake.json, and bench/outbound, a receiver that answers 200 at once and measures.
#
#   bench/outbound.sh
#
# 1. Deliveries per second: EVENTS calls (default 20000) while the subscription is paused, so
#    every event is held; then the subscription is resumed and the clock runs until the receiver
#    has every message.
# 2. Event to first attempt: calls paced at RATE per second (default 500) for DURATION (s, default
#    10), each raising `execution.succeeded`: percentiles of the time from the event's timestamp
#    to its arrival at the receiver, every event accounted for.
#
# The request path's cost of a `*` subscription is measured by `SUBSCRIBE=1 bench/load.sh`.
# Env: EVENTS, CONCURRENCY (default 32), RATE, DURATION, READY_TIMEOUT (s, default 30),
#      SERVE_ARGS (more `hookflow serve` options). Output goes to bench/results/.
set -euo pipefail

EVENTS="${EVENTS:-20000}"
CONCURRENCY="${CONCURRENCY:-32}"
RATE="${RATE:-500}"
SECONDS_OF_LOAD="${DURATION:-10}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"
SERVE_ARGS="${SERVE_ARGS:-}"

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
RESULTS="$BENCH/results"
HF_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/hookflow"
OB_TARGET="$ROOT/target/outbound-bench"
OB_BIN="$OB_TARGET/release/hookflow-outbound-bench"

die() { echo "outbound.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }
for n in EVENTS CONCURRENCY RATE SECONDS_OF_LOAD; do
    [[ "${!n}" =~ ^[0-9]+$ && "${!n}" -gt 0 ]] || die "$n must be a positive integer"
done
command -v curl >/dev/null 2>&1 || die "curl is required"

log "building hookflow (release)"
(cd "$ROOT" && cargo build --release -p hookflow)
log "building hookflow-outbound-bench (release)"
(cd "$BENCH/outbound" && CARGO_TARGET_DIR="$OB_TARGET" cargo build --release)

mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookflow-outbound.XXXXXX")"
HF_PID=""
cleanup() {
    if [[ -n "$HF_PID" ]] && kill -0 "$HF_PID" 2>/dev/null; then
        kill "$HF_PID" 2>/dev/null || true
        wait "$HF_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_hookflow: a fresh server; sets HOOK, ADMIN, KEY, TOKEN.
start_hookflow() {
    rm -rf "$TMP/data" && mkdir -p "$TMP/data"
    TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    # shellcheck disable=SC2086 # SERVE_ARGS is a list of options
    "$HF_BIN" serve --flows "$ROOT/flows" --data "$TMP/data" --admin-token "$TOKEN" \
        --allow-private-outbound --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 $SERVE_ARGS \
        >"$TMP/serve.out" 2>"$TMP/serve.err" &
    HF_PID=$!
    local deadline=$((SECONDS + READY_TIMEOUT)) hooks admin
    until admin="$(grep -oE 'admin listening on http://127\.0\.0\.1:[0-9]+' "$TMP/serve.err")"; do
        kill -0 "$HF_PID" 2>/dev/null || { cat "$TMP/serve.err" >&2; die "hookflow exited"; }
        ((SECONDS < deadline)) || die "hookflow did not start within ${READY_TIMEOUT}s"
        sleep 0.05
    done
    hooks="$(grep -oE 'webhooks listening on http://127\.0\.0\.1:[0-9]+' "$TMP/serve.err")"
    HOOK="${hooks#webhooks listening on }/hooks/orders/eu"
    ADMIN="${admin#admin listening on }"
    KEY="$(awk '/^created .*credential `erp`/ { want = 1; next }
                want && $1 == "secret:" { print $2; exit }' "$TMP/serve.out")"
    [[ -n "$KEY" ]] || die "no secret for credential erp in hookflow's stdout"
}

stop_hookflow() {
    kill "$HF_PID" 2>/dev/null || true
    wait "$HF_PID" 2>/dev/null || true
    cp "$TMP/serve.err" "$RESULTS/outbound-$STAMP-$1.stderr.log"
    HF_PID=""
}

OUT="$RESULTS/outbound-$STAMP.txt"
{
    echo "hookflow outbound webhooks — $(nproc) cores, serve options: ${SERVE_ARGS:-(none)}"
} | tee "$OUT"

log "deliveries per second: $EVENTS held events, then resumed"
start_hookflow
"$OB_BIN" throughput "$ADMIN" "$TOKEN" "$HOOK" "$KEY" "$EVENTS" "$CONCURRENCY" | tee -a "$OUT"
echo "peak RSS (VmHWM): $(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$HF_PID/status") MiB" | tee -a "$OUT"
stop_hookflow throughput

log "event to first attempt: $RATE events/s for ${SECONDS_OF_LOAD}s"
start_hookflow
"$OB_BIN" latency "$ADMIN" "$TOKEN" "$HOOK" "$KEY" "$RATE" "$SECONDS_OF_LOAD" | tee -a "$OUT"
stop_hookflow latency

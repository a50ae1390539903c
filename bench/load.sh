#!/usr/bin/env bash
# Load-compare `hookflow serve` (flows/order-intake.json) with bench/baseline, a bare axum server
# doing the same work in plain Rust. Both run on 127.0.0.1, one after the other, under wrk.
#
#   DURATION=10 bench/load.sh        # seconds of load per server and round (default 10)
#
# Env: DURATION (s, default 10), ROUNDS (default 3), THREADS (default 2), CONNECTIONS (default 32),
#      READY_TIMEOUT (s, default 30), MODE (`sync`, default: order-intake answers 201; `accepted`:
#      the same flow in accepted mode from bench/flows-accepted answers 202 once the call is
#      stored), SERVE_ARGS (more `hookflow serve` options, e.g. `--store sled`), SUBSCRIBE (`1`:
#      one more server, `subscribed`, the same as `hookflow` with one `*` outbound subscription to
#      a local receiver from bench/outbound, run at the lowest CPU priority as the stand-in for a
#      remote system; the summary gives its throughput against `hookflow`'s), FLOWS (in sync
#      mode, the flows directory hookflow serves instead of flows/: the same request must
#      answer 201, e.g. a variant of order-intake).
#      Raw wrk outputs go to bench/results/.
#
# In sync mode the run measures three servers: hookflow as configured, the same with
# `--no-history` (what recording every call costs), and the baseline; the summary gives both
# ratios. With `--no-history` in SERVE_ARGS (or MODE=accepted) the second is skipped. All of them
# start first; then each round runs wrk against each server in turn, and the summary gives the
# median of the rounds, and each ratio as the median of the rounds' ratios (the two servers of a
# round ran seconds apart), so a machine whose speed drifts during the run (shared or throttled
# cores) weighs on every server alike rather than on whichever ran at a bad moment.
set -euo pipefail

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"
MODE="${MODE:-sync}"
SERVE_ARGS="${SERVE_ARGS:-}"
SUBSCRIBE="${SUBSCRIBE:-0}"
case "$MODE" in
    sync) HF_FLOWS_DIR="${FLOWS:-flows}" HF_STATUS=201 ;;
    accepted) HF_FLOWS_DIR="bench/flows-accepted" HF_STATUS=202 ;;
    *) echo "load.sh: MODE must be sync or accepted" >&2; exit 1 ;;
esac

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
RESULTS="$BENCH/results"
LUA="$BENCH/post.lua"
HF_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BL_TARGET="$ROOT/target/baseline"
HF_BIN="$HF_TARGET/release/hookflow"
BL_BIN="$BL_TARGET/release/hookflow-baseline"
OB_TARGET="$ROOT/target/outbound-bench"
OB_BIN="$OB_TARGET/release/hookflow-outbound-bench"
# The order-intake sample (large) order; must match bench/post.lua.
BODY='{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}'
EXPECTED='{"id":"ORD-1","review":true,"skus":["A1","B7"],"message":"Order ORD-1 for Ada is held for review"}'

die() { echo "load.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -gt 0 ]] || die "DURATION must be a positive integer (seconds)"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -gt 0 ]] || die "ROUNDS must be a positive integer"

# ---- tools -------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "wrk is missing and I am not root (no sudo either)"
        SUDO="sudo"
    fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
fi
command -v wrk >/dev/null 2>&1 || die "wrk is still missing"
command -v curl >/dev/null 2>&1 || die "curl is required"

# ---- builds ------------------------------------------------------------------------------------
log "building hookflow (release)"
(cd "$ROOT" && cargo build --release -p hookflow)
log "building hookflow-baseline (release)"
(cd "$BENCH/baseline" && CARGO_TARGET_DIR="$BL_TARGET" cargo build --release)
if [[ "$SUBSCRIBE" == 1 ]]; then
    log "building hookflow-outbound-bench (release)"
    (cd "$BENCH/outbound" && CARGO_TARGET_DIR="$OB_TARGET" cargo build --release)
fi
[[ -x "$HF_BIN" ]] || die "no hookflow binary at $HF_BIN"
[[ -x "$BL_BIN" ]] || die "no baseline binary at $BL_BIN"

mkdir -p "$RESULTS"
STAMP="$(date +%Y%m%d-%H%M%S)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hookflow-bench.XXXXXX")"
# The servers this script started and has not stopped yet.
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# poll PID CMD...: runs CMD until it succeeds; fails when PID dies or at the deadline.
poll() {
    local pid="$1" deadline=$((SECONDS + READY_TIMEOUT))
    shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# first_match FILE REGEX: prints the first match, fails when there is none yet.
first_match() {
    local found
    found="$(grep -oE "$2" "$1" 2>/dev/null | head -n1 || true)"
    [[ -n "$found" ]] && echo "$found"
}

# wait_for_line FILE REGEX PID -> prints the first match; fails when PID dies or at the deadline.
wait_for_line() { poll "$3" first_match "$1" "$2"; }

# wait_http URL PID: polls until the TCP listener answers anything over HTTP (or fails).
wait_http() { poll "$2" curl -s -o /dev/null --max-time 1 -X POST "$1"; }

# check_answer NAME URL KEY STATUS: one request; fails loudly unless STATUS (and, for 201, the
# flow's body).
check_answer() {
    local name="$1" url="$2" key="$3" want="$4" code body
    code="$(curl -sS -o "$TMP/$name.check" -D "$TMP/$name.headers" -w '%{http_code}' --max-time 5 \
        -X POST -H 'Content-Type: application/json' -H "X-API-Key: $key" --data "$BODY" "$url")" ||
        die "$name: the check request failed"
    body="$(cat "$TMP/$name.check")"
    if [[ "$code" != "$want" ]]; then
        cat "$TMP/$name.headers" >&2
        echo "$body" >&2
        die "$name: expected $want from $url, got $code"
    fi
    if [[ "$want" != "201" ]]; then
        log "$name answered $want: $body"
        return
    fi
    grep -qi '^x-order-id: ORD-1' "$TMP/$name.headers" || die "$name: no X-Order-Id: ORD-1 header"
    if [[ "$body" != "$EXPECTED" ]]; then
        echo "load.sh: warning: $name body differs from the flow's expected body: $body" >&2
    fi
    log "$name answered 201: $body"
}

# run_wrk NAME URL KEY OUT: one wrk run, raw output in OUT; fails on non-2xx responses.
run_wrk() {
    local name="$1" url="$2" key="$3" out="$4"
    log "wrk: $name for ${DURATION}s (${THREADS} threads, ${CONNECTIONS} connections)"
    API_KEY="$key" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
        -s "$LUA" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "$name: wrk failed"; }
    cat "$out" >&2
    if grep -q 'Non-2xx or 3xx responses' "$out"; then
        die "$name: wrk saw non-2xx responses (see $out)"
    fi
}

# stop_server NAME PID: SIGTERM, wait for it (with a deadline), then SIGKILL.
stop_server() {
    local name="$1" pid="$2" deadline
    kill "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "load.sh: warning: $name (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Parsing wrk output: requests/s, and a latency percentile converted to ms.
rps_of() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
pct_ms_of() {
    awk -v p="$2%" '$1 == p && !done {
        v = $2; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000
        printf "%.3f\n", v; done = 1 }' "$1"
}

# ---- servers ----------------------------------------------------------------------------------
# Every server starts first and stays up: the rounds then measure them in turn, so that a machine
# that speeds up or slows down during the run affects them alike.
NAMES=()
declare -A PID URL KEY

# admit NAME PID URL KEY STATUS: waits for the server, checks one answer, adds it to the rounds.
admit() {
    wait_http "$3" "$2" || die "$1 at $3 never answered"
    check_answer "$1" "$3" "$4" "$5"
    NAMES+=("$1"); PID[$1]="$2"; URL[$1]="$3"; KEY[$1]="$4"
}

# start_hookflow NAME [OPTIONS...]: a hookflow serve with these options, checked once.
start_hookflow() {
    local name="$1" pid addr key
    shift
    log "starting hookflow serve ($name: ${*:-no extra options})"
    rm -rf "$TMP/data-$name"
    mkdir -p "$TMP/data-$name"
    "$HF_BIN" serve --flows "$(cd "$ROOT" && realpath "$HF_FLOWS_DIR")" --data "$TMP/data-$name" "$@" \
        --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    PIDS+=("$pid")
    addr="$(wait_for_line "$TMP/$name.err" 'webhooks listening on http://127\.0\.0\.1:[0-9]+' "$pid")" || {
        cat "$TMP/$name.err" >&2
        die "$name did not report its listener within ${READY_TIMEOUT}s"
    }
    addr="${addr#webhooks listening on http://}"
    # The secret is printed (and flushed) to stdout before the listener is logged.
    key="$(awk '/^created .*credential `erp`/ { want = 1; next }
                want && $1 == "secret:" { print $2; exit }' "$TMP/$name.out")"
    [[ -n "$key" ]] || { cat "$TMP/$name.out" >&2; die "no secret for credential erp in $name's stdout"; }
    admit "$name" "$pid" "http://$addr/hooks/orders/eu" "$key" "$HF_STATUS"
}

# shellcheck disable=SC2086 # SERVE_ARGS is a list of options
start_hookflow hookflow $SERVE_ARGS
# The same server without history, for the cost of recording every call (sync mode only: an
# accepted call is always stored).
if [[ "$MODE" == sync && " $SERVE_ARGS " != *" --no-history "* ]]; then
    # shellcheck disable=SC2086
    start_hookflow nohistory $SERVE_ARGS --no-history
fi

log "starting hookflow-baseline"
BL_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BASELINE_API_KEY="$BL_KEY" "$BL_BIN" 127.0.0.1:0 >"$TMP/baseline.out" 2>"$TMP/baseline.err" &
BL_PID=$!
PIDS+=("$BL_PID")
BL_ADDR="$(wait_for_line "$TMP/baseline.out" 'listening on http://127\.0\.0\.1:[0-9]+' "$BL_PID")" || {
    cat "$TMP/baseline.err" >&2
    die "the baseline did not report its listener within ${READY_TIMEOUT}s"
}
admit baseline "$BL_PID" "http://${BL_ADDR#listening on http://}/hooks/orders/eu" "$BL_KEY" 201

if [[ "$SUBSCRIBE" == 1 ]]; then
    log "starting the outbound receiver (nice 19)"
    nice -n 19 "$OB_BIN" receive >"$TMP/receiver.out" 2>"$TMP/receiver.err" &
    RECEIVER_PID=$!
    PIDS+=("$RECEIVER_PID")
    RECEIVER="$(wait_for_line "$TMP/receiver.out" 'http://127\.0\.0\.1:[0-9]+/hook' "$RECEIVER_PID")" ||
        die "the receiver did not start"
    SUB_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    # shellcheck disable=SC2086
    start_hookflow subscribed $SERVE_ARGS --allow-private-outbound --admin-token "$SUB_TOKEN"
    SUB_ADMIN="$(wait_for_line "$TMP/subscribed.err" 'admin listening on http://127\.0\.0\.1:[0-9]+' \
        "${PID[subscribed]}")" || die "subscribed did not report its admin listener"
    curl -sSf -X POST "${SUB_ADMIN#admin listening on }/api/subscriptions" \
        -H "Authorization: Bearer $SUB_TOKEN" -H 'Content-Type: application/json' \
        -d "{\"name\": \"bench\", \"url\": \"$RECEIVER\", \"events\": [\"*\"]}" \
        >"$TMP/subscription.json" || die "cannot create the subscription"
    SUB_ID="$(grep -oE '"id":"sub_[0-9a-f]+"' "$TMP/subscription.json" | head -n1 | cut -d'"' -f4 || true)"
    [[ -n "$SUB_ID" ]] || die "no subscription id in $(cat "$TMP/subscription.json")"
fi

# drained: the subscribed server has no pending delivery left.
drained() {
    curl -sSf --max-time 5 -H "Authorization: Bearer $SUB_TOKEN" \
        "${SUB_ADMIN#admin listening on }/api/subscriptions/$SUB_ID/deliveries?status=pending&limit=1" |
        grep -q '"items":\[\]'
}

# ---- rounds ------------------------------------------------------------------------------------
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    for name in "${NAMES[@]}"; do
        run_wrk "$name" "${URL[$name]}" "${KEY[$name]}" "$RESULTS/$name-$STAMP-$round.txt"
        kill -0 "${PID[$name]}" 2>/dev/null || die "$name died during the run"
        if [[ "$name" == subscribed ]]; then
            # Its deliveries would go on during the next server's run: wait until they are out.
            started=$SECONDS
            READY_TIMEOUT=600 poll "${PID[subscribed]}" drained || die "the deliveries did not drain"
            log "subscribed: the deliveries drained $((SECONDS - started)) s after the run"
        fi
    done
done

declare -A HWM_KB
for name in "${NAMES[@]}"; do
    HWM_KB[$name]="$(awk '/^VmHWM:/ { print $2 }' "/proc/${PID[$name]}/status")"
done
HF_RSS_KB="$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[hookflow]}/status")"
for name in "${NAMES[@]}"; do
    stop_server "$name" "${PID[$name]}"
    [[ "$name" == baseline ]] || cp "$TMP/$name.err" "$RESULTS/$name-$STAMP.stderr.log"
done
PIDS=()

# ---- summary -----------------------------------------------------------------------------------
# One line per server and round: "name round rps p50 p99 hwm_mib".
ROWS=""
for name in "${NAMES[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
        out="$RESULTS/$name-$STAMP-$round.txt"
        rps="$(rps_of "$out")"; p50="$(pct_ms_of "$out" 50)"; p99="$(pct_ms_of "$out" 99)"
        [[ -n "$rps" && -n "$p50" && -n "$p99" ]] || die "could not parse the wrk output $out"
        ROWS+="$name $round $rps $p50 $p99 $(( ${HWM_KB[$name]} / 1024 ))"$'\n'
    done
done

SUMMARY="$RESULTS/summary-$STAMP.txt"
printf "%s" "$ROWS" | awk -v d="$DURATION" -v t="$THREADS" -v c="$CONNECTIONS" -v mode="$MODE" \
    -v args="$SERVE_ARGS" -v rss="$HF_RSS_KB" -v rounds="$ROUNDS" '
    # The median of the n values in v[1..n] (sorted in place).
    function median(v, n,    i, j, x) {
        for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
        return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    # The median over the rounds of a[x, round] / a[y, round].
    function paired(x, y, a,    r, q) {
        for (r = 1; r <= rounds; r++) q[r] = a[x, r] / a[y, r]
        return median(q, rounds)
    }
    !($1 in hwm) { name[++servers] = $1 }
    { r = $2; all[$1, r] = $3; a50[$1, r] = $4; a99[$1, r] = $5; hwm[$1] = $6 }
    END {
    for (i = 1; i <= servers; i++) {
        n = name[i]
        for (r = 1; r <= rounds; r++) { x[r] = all[n, r]; y[r] = a50[n, r]; z[r] = a99[n, r] }
        rps[n] = median(x, rounds); p50[n] = median(y, rounds); p99[n] = median(z, rounds)
    }
    printf "hookflow vs baseline — POST /hooks/orders/eu, wrk %ss, %s threads, %s connections\n", d, t, c
    printf "hookflow: MODE=%s, serve options: %s", mode, (args == "" ? "(none)" : args)
    printf "%s\n", ("nohistory" in rps) ? "; nohistory: the same with --no-history" : ""
    printf "%s round(s), the servers in turn in each; medians of the rounds\n", rounds
    printf "%-10s %14s %10s %10s %14s   %s\n", "server", "requests/s", "p50 ms", "p99 ms", "peak RSS MiB", "requests/s per round"
    for (i = 1; i <= servers; i++) {
        n = name[i]; each = ""
        for (r = 1; r <= rounds; r++) each = each sprintf(" %.0f", all[n, r])
        printf "%-10s %14.1f %10.3f %10.3f %14d  %s\n", n, rps[n], p50[n], p99[n], hwm[n], each
    }
    # Ratios as the median of the ratios of each round (its two servers ran seconds apart), then
    # as the ratio of the medians.
    hb = paired("hookflow", "baseline", all); hb99 = paired("hookflow", "baseline", a99)
    printf "throughput ratio hookflow/baseline: %.2fx (ratio of the medians %.2fx)\n", hb, rps["hookflow"] / rps["baseline"]
    printf "p99 ratio hookflow/baseline:        %.2fx (ratio of the medians %.2fx)\n", hb99, p99["hookflow"] / p99["baseline"]
    printf "hookflow peak RSS (VmHWM):          %d MiB (VmRSS at stop %.1f MiB)\n", hwm["hookflow"], rss / 1024
    if ("nohistory" in rps) {
        hn = paired("hookflow", "nohistory", all)
        printf "history on / history off:           %.2fx throughput, %.2fx p99 (ratios of the medians %.2fx, %.2fx)\n", hn, paired("hookflow", "nohistory", a99), rps["hookflow"] / rps["nohistory"], p99["hookflow"] / p99["nohistory"]
        printf "nohistory/baseline:                 %.2fx throughput, %.2fx p99 (ratios of the medians %.2fx, %.2fx)\n", paired("nohistory", "baseline", all), paired("nohistory", "baseline", a99), rps["nohistory"] / rps["baseline"], p99["nohistory"] / p99["baseline"]
        if (hn < 0.8) print "WARNING: history on keeps under 0.8x of the history-off throughput"
    }
    if ("subscribed" in rps) {
        printf "with a * subscription / without:   %.2fx throughput, %.2fx p99 (ratios of the medians %.2fx, %.2fx)\n", paired("subscribed", "hookflow", all), paired("subscribed", "hookflow", a99), rps["subscribed"] / rps["hookflow"], p99["subscribed"] / p99["hookflow"]
    }
    if (hb < 0.7) print "WARNING: hookflow throughput is under 0.7x the baseline"
    if (hb99 > 2) print "WARNING: hookflow p99 is over 2x the baseline"
}' | tee "$SUMMARY"

#!/usr/bin/env bash
# What signature auth costs: the sync order-intake flow with `api_key` auth (flows/order-intake.json)
# against the same flow with `hmac` auth, preset `standard_webhooks`, served by one `hookflow
# serve` on 127.0.0.1; wrk runs each in turn per round, and the summary gives both throughputs,
# the server's CPU time per request during each run (from /proc, user + system), and their
# ratios per round. Every signed call carries the same signature (one message signed
# once, with a tolerance of a day and no replay cache): each call's verification costs what any
# call's does.
#
# Env: DURATION (s per run, default 10), ROUNDS (default 4: each goes first twice), THREADS (2), CONNECTIONS (32),
#      READY_TIMEOUT (s, default 30). Raw wrk outputs go to bench/results/.
set -euo pipefail

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-4}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
READY_TIMEOUT="${READY_TIMEOUT:-30}"

NAME=hmac.sh
BODY='{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}'
# shellcheck source=bench/serve-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve-lib.sh"

mkdir -p "$TMP/flows"
cp "$ROOT/flows/order-intake.json" "$TMP/flows/"
python3 - "$ROOT/flows/order-intake.json" "$TMP/flows/order-intake-signed.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["id"] = "order-intake-signed"
hook = doc["nodes"][0]
hook["suffix"] = "/signed-orders/{region}"
hook["auth"] = {"type": "hmac", "preset": "standard_webhooks", "credential": "erp-signed",
                "tolerance_s": 86400}
json.dump(doc, open(sys.argv[2], "w"))
PY
serve --flows "$TMP/flows"
API_KEY="$(secret_of erp)"
SIGNING="$(secret_of erp-signed)"
[[ -n "$API_KEY" && -n "$SIGNING" ]] || { cat "$TMP/serve.out" >&2; die "no secrets on stdout"; }
export API_KEY WEBHOOK_ID="msg_bench" WEBHOOK_TIMESTAMP="$(date +%s)"
WEBHOOK_SIGNATURE="$(python3 - "$SIGNING" "$WEBHOOK_ID" "$WEBHOOK_TIMESTAMP" "$BODY" <<'PY'
import base64, hashlib, hmac, sys
secret, msg_id, ts, body = sys.argv[1:]
key = base64.b64decode(secret.removeprefix("whsec_"))
mac = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
print("v1," + base64.b64encode(mac).decode())
PY
)"
export WEBHOOK_SIGNATURE

# check NAME URL LUA: one call must answer 201.
check() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-API-Key: $API_KEY" -H "webhook-id: $WEBHOOK_ID" -H "webhook-timestamp: $WEBHOOK_TIMESTAMP" \
        -H "webhook-signature: $WEBHOOK_SIGNATURE" --data "$BODY" "$2")"
    [[ "$code" == 201 ]] || die "$1 answered $code, not 201"
}
check api_key "$HOOKS/hooks/orders/eu"
check hmac "$HOOKS/hooks/signed-orders/eu"

TICK="$(getconf CLK_TCK)"
# cpu_ticks: the server's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }

# run NAME URL LUA: one wrk run; prints "requests/s µs-of-server-CPU-per-request".
run() {
    local out="$RESULTS/hmac-$1-$STAMP-$round.txt" before after
    before="$(cpu_ticks)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency -s "$BENCH/$3" "$2" \
        >"$out" 2>&1 || { cat "$out" >&2; die "$1: wrk failed"; }
    after="$(cpu_ticks)"
    grep -q 'Non-2xx or 3xx responses' "$out" && die "$1: wrk saw non-2xx answers (see $out)"
    awk -v ticks="$((after - before))" -v hz="$TICK" '
        /requests in/ { n = $1 } /^Requests\/sec:/ { rps = $2 }
        END { printf "%s %.1f\n", rps, ticks * 1e6 / hz / n }' "$out"
}

SUMMARY="$RESULTS/hmac-summary-$STAMP.txt"
echo "order-intake, sync: hmac (standard_webhooks) vs api_key auth, wrk ${DURATION}s, $THREADS threads, $CONNECTIONS connections; $(nproc) cores" >"$SUMMARY"
for ((round = 1; round <= ROUNDS; round++)); do
    # Which goes first alternates: a run just after another pays for what that one left behind
    # (the history's writes, say).
    if ((round % 2)); then
        read -r keyed keyed_cpu < <(run api_key "$HOOKS/hooks/orders/eu" post.lua)
        read -r signed signed_cpu < <(run hmac "$HOOKS/hooks/signed-orders/eu" signed.lua)
    else
        read -r signed signed_cpu < <(run hmac "$HOOKS/hooks/signed-orders/eu" signed.lua)
        read -r keyed keyed_cpu < <(run api_key "$HOOKS/hooks/orders/eu" post.lua)
    fi
    printf "round %d: hmac %s req/s, api_key %s req/s, ratio %.3f; server CPU per request: hmac %s µs, api_key %s µs, ratio %.3f\n" \
        "$round" "$signed" "$keyed" "$(echo "$signed / $keyed" | bc -l)" "$signed_cpu" "$keyed_cpu" \
        "$(echo "$signed_cpu / $keyed_cpu" | bc -l)" | tee -a "$SUMMARY" >&2
done
log "summary in $SUMMARY"
cat "$SUMMARY"

#!/usr/bin/env python3
"""Fan-out latency: CALLS calls, one at a time, to a flow that emits an event (bench/flows-store/
fanout.json); for each, the time from the call's answer to the end of the flow the event started
(fanout-child.json), read from the admin API (the child's `completed_at`). Prints p50, p99, max.

    bench/fanout.py HOOKS_URL ADMIN_URL TOKEN [CALLS]
"""
import datetime
import json
import sys
import time
import urllib.request

hooks, admin, token = sys.argv[1], sys.argv[2], sys.argv[3]
calls = int(sys.argv[4]) if len(sys.argv) > 4 else 500


def api(path):
    request = urllib.request.Request(admin + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


answered = []
for n in range(calls):
    request = urllib.request.Request(hooks + "/hooks/fanout", data=json.dumps({"n": n}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 201, r.status
        r.read()
        answered.append((r.headers["X-Hookflow-Execution-Id"], time.time() * 1000))

latencies = []
deadline = time.time() + 60
for parent, at in answered:
    while True:
        items = api("/api/executions?parent=" + parent)["items"]
        if items and items[0]["status"] == "succeeded":
            break
        if time.time() > deadline:
            sys.exit("fanout.py: the child of %s did not finish within 60 s" % parent)
        time.sleep(0.01)
    assert len(items) == 1, items
    done = datetime.datetime.fromisoformat(items[0]["completed_at"].replace("Z", "+00:00"))
    latencies.append(done.timestamp() * 1000 - at)

latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print("fan-out: %d calls, call answered -> child finished: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
      % (len(latencies), pick(0.50), pick(0.99), latencies[-1]))

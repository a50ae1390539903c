"""The web UI in headless Chromium, against a running `hookflow serve`.

Usage: flows.py ADMIN_URL ADMIN_TOKEN CHROMIUM SCREENSHOT_DIR RECEIVER_URL

Signs in (a wrong token first, which must say so), finds order-intake in the flows list with its
route, opens its graph and checks the nodes and edges drawn (branch outputs on their edges),
selects the trigger with the keyboard and checks its configuration; lists the executions of the
`ui-check` flow (one succeeded, one failed, made before), filters the failed one and opens it on
its graph: the failing node marked, the nodes before it succeeded, the edges taken highlighted,
the error shown; sends a call from the test console and sees its answer and its run, and saves it
as a case; breaks a field in the editor and sees its diagnostic on its node, fixes and saves it
and sees the route answer with the change; creates an outbound subscription, tests it against a
loopback receiver, opens its delivery and pauses it; and fails on any console error. Saves a screenshot of each page under SCREENSHOT_DIR. Exits non-zero with the reason.
"""

import re
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright


def main(admin: str, token: str, chromium: str, shots: Path, receiver: str) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(admin + "/")
            page.fill("#token", "not-the-token")
            page.keyboard.press("Enter")
            expect(page.locator("#sign-in-error")).to_contain_text("not the admin token")
            page.screenshot(path=shots / "sign-in.png")
            page.fill("#token", token)
            page.keyboard.press("Enter")
            row = page.locator('tr[data-flow="order-intake"]')
            expect(row).to_contain_text("POST")
            expect(row).to_contain_text("/hooks/orders/{region}")
            expect(row).to_contain_text("active")
            page.screenshot(path=shots / "flows.png")

            row.locator("a").click()
            nodes = page.locator("svg g.node")
            expect(nodes).to_have_count(5)
            expect(page.locator("svg polyline.edge")).to_have_count(4)
            labels = page.locator("svg text.label").all_text_contents()
            assert sorted(labels) == ["large", "small"], labels
            for node in ["incoming", "order", "size", "review", "accept"]:
                expect(page.locator(f'svg g.node[data-node="{node}"]')).to_be_visible()
            trigger = page.locator('svg g.node[data-node="incoming"]')
            trigger.focus()
            page.keyboard.press("Enter")
            config = page.locator("#node-config")
            expect(config).to_contain_text('"type": "webhook"')
            expect(config).to_contain_text('"credential": "erp"')
            page.screenshot(path=shots / "flow.png")

            page.click('nav a[href="#/executions"]')
            expect(page.locator('tr[data-execution]').first).to_be_visible()
            page.select_option("#filter-flow", "ui-check")
            rows = page.locator("tr[data-execution]")
            expect(rows).to_have_count(2)
            page.select_option("#filter-status", "failed")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-status", "failed")
            page.screenshot(path=shots / "executions.png")
            rows.first.locator("a").click()
            expect(page.locator("#execution-error")).to_contain_text("status_override")
            failed = page.locator('svg g.node[data-node="answer"]')
            expect(failed).to_have_class("node respond ran-failed")
            expect(page.locator('svg g.node[data-node="hook"]')).to_have_class("node trigger ran-succeeded")
            expect(page.locator("svg polyline.edge.taken")).to_have_count(1)
            failed.click()
            expect(page.locator("aside")).to_contain_text("failed in")
            expect(page.locator("aside")).to_contain_text("status_override")
            page.screenshot(path=shots / "execution.png")

            # The test console: the ui-check flow called through its route with a query that sets
            # the status, the answer and the run on the graph, then saved as a case.
            page.goto(admin + "/#/flows/ui-check")
            page.click("#open-console")
            expect(page.locator("#call-path")).to_have_value("/ui-check")
            page.fill("#call-query", "status=202")
            page.click("#send-call")
            expect(page.locator("#answer-status")).to_have_text("202")
            expect(page.locator('#call-result svg g.node[data-node="answer"]')).to_have_class("node respond ran-succeeded")
            page.click("#save-case")
            expect(page.locator("#case-saved")).to_contain_text("ui-check.cases.json")
            page.screenshot(path=shots / "console.png")
            # Offline: order-intake without its key (auth is not checked), nothing recorded.
            page.goto(admin + "/#/console/order-intake")
            expect(page.locator("#call-path")).to_have_value("/orders/region")
            page.check("#call-offline")
            page.click("#send-call")
            expect(page.locator("#answer-status")).to_have_text("201")
            expect(page.locator("#offline-note")).to_be_visible()
            expect(page.locator('#call-result svg g.node[data-node="review"]')).to_have_class("node respond ran-succeeded")
            expect(page.locator('#call-result svg g.node[data-node="accept"]')).to_have_class("node respond not-run")

            # Editing: a field broken in the flow file marks its node and names it; fixed and
            # saved, the route answers with the change.
            page.goto(admin + "/#/flows/ui-check")
            source = page.locator("#flow-json")
            text = source.input_value()
            assert '"status": 200' in text, text
            source.fill(text.replace('"status": 200', '"status": 99'))
            expect(page.locator("#diagnostics")).to_contain_text("E017")
            expect(page.locator('svg g.node[data-node="answer"]')).to_have_class("node respond invalid")
            expect(page.locator('svg g.node[data-node="hook"]')).to_have_class("node trigger")
            page.screenshot(path=shots / "edit-invalid.png")
            # Nodes and edges: a node added from its type's example is unreachable until an edge
            # leads to it; the edge removed, it is again; a node removed takes its edges along.
            source.fill(text.replace('"status": 200', '"status": 203'))
            expect(page.locator("#diagnostics")).to_contain_text("No problems")
            page.fill("#node-id", "extra")
            page.select_option("#node-type", "map")
            page.click("#add-node")
            expect(page.locator("#diagnostics")).to_contain_text("W001")
            # The draft compiles (a warning is no error): the graph draws it, new node included.
            expect(page.locator('svg g.node[data-node="extra"]')).to_be_visible()
            page.fill("#edge-from", "hook")
            page.fill("#edge-to", "extra")
            page.click("#add-edge")
            expect(page.locator('#edges tr[data-edge="hook>extra"]')).to_have_count(1)
            expect(page.locator("#diagnostics")).not_to_contain_text("W001")
            page.locator('#edges tr[data-edge="hook>extra"] button').click()
            expect(page.locator('#edges tr[data-edge="hook>extra"]')).to_have_count(0)
            expect(page.locator("#diagnostics")).to_contain_text("W001")
            page.locator('svg g.node[data-node="answer"]').click()
            page.click("#remove-node")
            expect(page.locator('#edges tr[data-edge="hook>answer"]')).to_have_count(0)
            assert '"answer"' not in source.input_value()
            source.fill(text.replace('"status": 200', '"status": 203'))
            expect(page.locator("#diagnostics")).to_contain_text("No problems")
            expect(page.locator('svg g.node[data-node="answer"]')).not_to_have_class(re.compile("invalid"))
            page.click("#save-flow")
            expect(page.locator("#flow-saved")).to_contain_text("Saved")
            page.goto(admin + "/#/console/ui-check")
            page.click("#send-call")
            expect(page.locator("#answer-status")).to_have_text("203")

            # The first call (200 then, without a query), replayed on the new version: 203 now.
            page.goto(admin + "/#/executions?flow=ui-check&status=succeeded")
            expect(page.locator("tr[data-execution]")).to_have_count(3)
            page.locator("tr[data-execution] a").last.click()
            page.click("#replay")
            expect(page.locator("#replay-diff")).to_contain_text("status 200 → 203")
            page.screenshot(path=shots / "replay.png")

            # Time to first paint of a flow's page, and a graph of 50 nodes.
            fresh = browser.new_page(viewport={"width": 1280, "height": 800})
            fresh.context.add_cookies(page.context.cookies())
            fresh.goto(admin + "/#/flows/order-intake")
            expect(fresh.locator("svg g.node")).to_have_count(5)
            paint = fresh.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
            started = fresh.evaluate("performance.now()")
            fresh.evaluate("location.hash = '#/flows/big'")
            expect(fresh.locator("svg g.node")).to_have_count(50)
            drawn = fresh.evaluate("performance.now()") - started
            fresh.screenshot(path=shots / "big.png")
            print(f"first contentful paint of the flow page: {paint:.0f} ms; "
                  f"the 50-node flow's page drawn in {drawn:.0f} ms")
            fresh.close()

            # Outbound: a subscription created (its secret shown once), tested against a loopback
            # receiver, its delivery and attempt shown, then paused.
            page.click('nav a[href="#/subscriptions"]')
            page.fill("#sub-name", "ui-receiver")
            page.fill("#sub-url", "not a url")
            page.click("#create-subscription")
            expect(page.locator("#create-error")).to_contain_text("/url")
            page.fill("#sub-url", receiver)
            page.click("#create-subscription")
            expect(page.locator("#new-secret")).to_contain_text("whsec_")
            row = page.locator("tr[data-subscription]")
            expect(row).to_have_count(1)
            row.locator("button.test").click()
            expect(page.locator("#test-result")).to_contain_text("succeeded")
            page.screenshot(path=shots / "subscriptions.png")
            page.locator("#test-result a").click()
            expect(page.locator("#attempts tbody tr")).to_have_count(1)
            expect(page.locator("#attempts tbody tr").first).to_contain_text("200")
            page.screenshot(path=shots / "delivery.png")
            page.click('nav a[href="#/subscriptions"]')
            page.locator("tr[data-subscription] button.toggle").click()
            expect(page.locator("tr[data-subscription]")).to_contain_text("paused")

            # Signed out, the API is closed to the page again.
            page.click("#sign-out")
            expect(page.locator("#token")).to_be_visible()
            # What the browser logs for the answers expected here: the 401s of signing in, the 422
            # of the deliberately broken draft.
            errors[:] = [e for e in errors if "status of 401" not in e and "status of 422" not in e]
            # (and the 422 of the subscription with a URL that is not one)
            assert not errors, f"console errors: {errors}"
        except Exception:
            page.screenshot(path=shots / "failure.png")
            raise
        finally:
            browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5])

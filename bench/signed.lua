-- wrk script: POST the order-intake sample large order (as bench/post.lua), signed the Standard
-- Webhooks way; the headers come from $WEBHOOK_ID, $WEBHOOK_TIMESTAMP and $WEBHOOK_SIGNATURE.
wrk.method = "POST"
wrk.body = '{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = os.getenv("WEBHOOK_ID") or ""
wrk.headers["webhook-timestamp"] = os.getenv("WEBHOOK_TIMESTAMP") or ""
wrk.headers["webhook-signature"] = os.getenv("WEBHOOK_SIGNATURE") or ""

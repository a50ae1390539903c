-- wrk script: POST the order-intake sample large order with the API key from $API_KEY.
wrk.method = "POST"
wrk.body = '{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("API_KEY") or ""

//! A route's own protection, over real sockets to a real `hookflow serve`: IP allowlists (with
//! and without trusted proxies), CORS preflights answered before auth, request contracts
//! (`expected.schema`, `422` with every problem's pointer), rate limits (`429` with
//! `Retry-After`) and `max_concurrency` (`503` with `Retry-After`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Served;

fn hook(id: &str, webhook: Value, answer: Value) -> (String, String) {
    let mut webhook = webhook;
    webhook["id"] = json!("hook");
    webhook["type"] = json!("webhook");
    let mut answer = answer;
    answer["id"] = json!("answer");
    answer["type"] = json!("respond");
    let doc = json!({ "id": id, "name": id, "nodes": [webhook, answer],
                      "edges": [{ "from": "hook", "to": "answer" }] });
    (format!("{id}.json"), doc.to_string())
}

fn flows() -> Vec<(String, String)> {
    let none = json!({ "type": "none" });
    vec![
        hook(
            "local",
            json!({ "suffix": "/local", "auth": none, "allow_ips": ["127.0.0.0/8", "::1"] }),
            json!({ "status": 200 }),
        ),
        hook(
            "private",
            json!({ "suffix": "/private", "auth": none, "allow_ips": ["10.0.0.0/8"] }),
            json!({ "status": 200 }),
        ),
        hook(
            "proxied",
            json!({ "suffix": "/proxied", "auth": none, "allow_ips": ["198.51.100.0/24"],
                    "trusted_proxies": ["127.0.0.1/32", "10.0.0.0/8"] }),
            json!({ "status": 200 }),
        ),
        hook(
            "browser",
            json!({ "suffix": "/browser", "methods": ["POST", "PUT"],
                    "auth": { "type": "bearer", "credential": "app" },
                    "cors": { "origins": ["https://app.example.com", "http://localhost:3000"],
                              "headers": ["Authorization", "Content-Type"], "max_age_s": 600,
                              "credentials": true } }),
            json!({ "status": 200 }),
        ),
        hook(
            "contract",
            json!({ "suffix": "/contract", "auth": none,
                    "expected": { "schema": { "type": "object", "required": ["id", "total"],
                        "properties": { "id": { "type": "string" },
                                        "total": { "type": "number", "minimum": 0 } } } } }),
            json!({ "status": 201 }),
        ),
        hook(
            "limited",
            json!({ "suffix": "/limited", "auth": none,
                    "rate_limit": { "per_second": 10, "burst": 10 } }),
            json!({ "status": 200 }),
        ),
    ]
}

fn refs(flows: &[(String, String)]) -> Vec<(&str, String)> {
    flows.iter().map(|(n, t)| (n.as_str(), t.clone())).collect()
}

async fn post(s: &Served, path: &str, headers: &[(&str, &str)], body: Value) -> reqwest::Response {
    let mut r = s.client.post(s.hook(path)).json(&body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.expect("an answer")
}

#[tokio::test]
async fn allowlists_cors_contracts_and_rate_limits_refuse_what_they_should() {
    let s = Served::with_flows(&refs(&flows()), &[]);

    // IP allowlists: the caller here is 127.0.0.1.
    assert_eq!(post(&s, "/local", &[], json!({})).await.status(), StatusCode::OK);
    let r = post(&s, "/private", &[], json!({})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Behind a trusted proxy, the first untrusted hop is the caller.
    let xff = |v: &'static str| [("x-forwarded-for", v)];
    assert_eq!(
        post(&s, "/proxied", &xff("198.51.100.7"), json!({})).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&s, "/proxied", &xff("198.51.100.7, 203.0.113.5, 10.1.1.1"), json!({})).await.status(),
        StatusCode::FORBIDDEN,
        "the spoofable leftmost entry does not count"
    );
    assert_eq!(
        post(&s, "/proxied", &[("forwarded", "for=198.51.100.9")], json!({})).await.status(),
        StatusCode::OK
    );
    assert_eq!(post(&s, "/proxied", &[], json!({})).await.status(), StatusCode::FORBIDDEN);

    // CORS: a preflight is answered before auth, with the reflected origin and the real methods.
    let preflight = |origin: &'static str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.hook("/browser"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let r = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["vary"], "Origin");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PUT") && !methods.contains("GET"),
        "{methods}"
    );
    let r = preflight("https://evil.example.com").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none(), "{:?}", r.headers());
    // The call itself still needs its token, and carries the CORS headers for its origin.
    let r = post(&s, "/browser", &[("origin", "https://app.example.com")], json!({})).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example.com");
    let r = post(&s, "/local", &[("origin", "https://app.example.com")], json!({})).await;
    assert!(r.headers().get("access-control-allow-origin").is_none(), "a route without cors");

    // The request contract: every problem with its pointer, before any node runs.
    let r = post(&s, "/contract", &[], json!({ "id": 7, "total": -1 })).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let doc: Value = r.json().await.unwrap();
    let pointers: Vec<&str> =
        doc["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/id", "/total"], "{doc}");
    let r = post(&s, "/contract", &[], json!({ "id": "A-1" })).await;
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["errors"][0]["pointer"], "", "{doc}");
    assert!(doc["errors"][0]["message"].as_str().unwrap().contains("total"), "{doc}");
    assert_eq!(
        post(&s, "/contract", &[], json!({ "id": "A-1", "total": 3 })).await.status(),
        StatusCode::CREATED
    );

    // 10 a second with a burst of 10: the 11th at once is refused, with when to come back.
    for n in 0..10 {
        assert_eq!(post(&s, "/limited", &[], json!({})).await.status(), StatusCode::OK, "call {n}");
    }
    let r = post(&s, "/limited", &[], json!({})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        post(&s, "/limited", &[], json!({})).await.status(),
        StatusCode::OK,
        "a token came back"
    );
}

#[tokio::test]
async fn max_concurrency_refuses_one_run_too_many_and_an_expression_tells_callers_apart() {
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, slow).into_future());
    let one = json!({ "id": "one", "name": "one", "nodes": [
        { "id": "hook", "type": "webhook", "suffix": "/one", "auth": { "type": "none" }, "max_concurrency": 1 },
        { "id": "call", "type": "http_request", "method": "GET", "url": upstream },
        { "id": "answer", "type": "respond", "status": 200 } ],
      "edges": [ { "from": "hook", "to": "call" }, { "from": "call", "to": "answer" } ] });
    let tenants = hook(
        "tenants",
        json!({ "suffix": "/tenants", "auth": { "type": "none" },
                "rate_limit": { "per_second": 1, "burst": 1, "key": "$.request.headers['x-tenant']" } }),
        json!({ "status": 200 }),
    );
    let flows = [("one.json", one.to_string()), (tenants.0.as_str(), tenants.1.clone())];
    let s = Served::with_flows(&flows, &["--allow-private-outbound"]);

    let first = tokio::spawn(s.client.post(s.hook("/one")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = s.client.post(s.hook("/one")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(
        s.client.post(s.hook("/one")).send().await.unwrap().status(),
        StatusCode::OK,
        "the place is free again"
    );

    let (a, b) = ([("x-tenant", "a")], [("x-tenant", "b")]);
    assert_eq!(post(&s, "/tenants", &a, json!({})).await.status(), StatusCode::OK);
    let r = post(&s, "/tenants", &a, json!({})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let other = post(&s, "/tenants", &b, json!({})).await;
    assert_eq!(other.status(), StatusCode::OK, "another tenant has its own count");
    // Refused calls are recorded as rejected, with the answer they got.
    let recorded =
        crate::harness::eventually("the 429 recorded", Duration::from_secs(5), || async {
            let (_, page) = s
                .api(reqwest::Method::GET, "/api/executions?status=rejected&flow=tenants", None)
                .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            items.iter().any(|e| e["response_status"] == 429).then_some(items)
        })
        .await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
}

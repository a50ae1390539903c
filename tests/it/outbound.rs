//! Flows that call out (`http_request`) over real sockets: an upstream on loopback answers, is
//! slow enough to pass the route's deadline (`504`, and the run goes on to its end), or fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Path;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, ServeProcess};

/// An upstream server on `127.0.0.1:0`; `slow` counts the calls to `/slow` as they arrive,
/// `after` the calls to `/after`.
struct Upstream {
    base: String,
    slow: Arc<AtomicUsize>,
    after: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let slow = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let (slow_counter, counter) = (slow.clone(), after.clone());
    let app = axum::Router::new()
        .route(
            "/orders/{id}",
            post(|Path(id): Path<String>, Json(body): Json<Value>| async move {
                Json(json!({ "id": id, "received": body, "erp_ref": "ERP-77" }))
            }),
        )
        .route(
            "/slow",
            get(move || {
                slow_counter.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    Json(json!({ "slow": true }))
                }
            }),
        )
        .route(
            "/after",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { "ok" }
            }),
        )
        .route("/down", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "maintenance") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind upstream");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(axum::serve(listener, app).into_future());
    Upstream { base, slow, after }
}

/// Polls `counter` until it is non-zero, for at most 5 s.
async fn until_called(counter: &AtomicUsize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while counter.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn flows_of(up: &Upstream) -> Vec<(String, String)> {
    let base = &up.base;
    vec![
        (
            "forward.json".into(),
            format!(
                r#"{{ "id": "forward", "name": "Forward", "nodes": [
                  {{ "id": "hook", "type": "webhook", "suffix": "/forward/{{id}}", "auth": {{ "type": "none" }} }},
                  {{ "id": "erp", "type": "http_request", "method": "POST",
                     "url": "{base}/orders/{{{{request.params.id}}}}",
                     "body": {{ "total": "$.request.body.total" }} }},
                  {{ "id": "ok", "type": "respond", "status": 201,
                     "body": {{ "erp_status": "$.nodes.erp.status", "erp": "$.nodes.erp.body" }} }} ],
                "edges": [ {{ "from": "hook", "to": "erp" }}, {{ "from": "erp", "to": "ok" }} ] }}"#
            ),
        ),
        (
            "slow.json".into(),
            format!(
                r#"{{ "id": "slow", "name": "Slow", "nodes": [
                  {{ "id": "hook", "type": "webhook", "suffix": "/slow", "auth": {{ "type": "none" }},
                     "response": {{ "timeout_ms": 150 }} }},
                  {{ "id": "call", "type": "http_request", "url": "{base}/slow" }},
                  {{ "id": "then", "type": "http_request", "url": "{base}/after" }},
                  {{ "id": "ok", "type": "respond", "status": 200 }} ],
                "edges": [ {{ "from": "hook", "to": "call" }}, {{ "from": "call", "to": "then" }},
                           {{ "from": "then", "to": "ok" }} ] }}"#
            ),
        ),
        (
            "down.json".into(),
            format!(
                r#"{{ "id": "down", "name": "Down", "nodes": [
                  {{ "id": "hook", "type": "webhook", "suffix": "/down", "auth": {{ "type": "none" }} }},
                  {{ "id": "call", "type": "http_request", "url": "{base}/down", "retries": 1,
                     "retry_backoff_ms": 10 }},
                  {{ "id": "ok", "type": "respond", "status": 200 }} ],
                "edges": [ {{ "from": "hook", "to": "call" }}, {{ "from": "call", "to": "ok" }} ] }}"#
            ),
        ),
    ]
}

async fn serve(up: &Upstream) -> Harness {
    let flows = flows_of(up);
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Harness::with_flows(&refs).await
}

#[tokio::test]
async fn a_flow_calls_out_and_answers_with_the_result() {
    let up = upstream().await;
    let h = serve(&up).await;
    let r = h
        .client
        .post(h.url("/hooks/forward/ORD-9"))
        .json(&json!({ "total": 12.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "erp_status": 200,
                "erp": { "id": "ORD-9", "received": { "total": 12.5 }, "erp_ref": "ERP-77" } })
    );
}

#[tokio::test]
async fn past_the_deadline_the_caller_gets_504_and_the_run_goes_on() {
    let up = upstream().await;
    let h = serve(&up).await;
    let started = Instant::now();
    let r = h.client.post(h.url("/hooks/slow")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "answered at the deadline, not after the call"
    );
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 504);
    assert_eq!(body["execution_id"], id.as_str());
    // The run continues: its next node reaches the upstream after the slow call.
    until_called(&up.after, "the run did not go on after the 504").await;
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish() {
    let up = upstream().await;
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let slow = flows_of(&up).into_iter().find(|(name, _)| name == "slow.json").unwrap().1;
    // The same flow with a deadline long enough for the slow call.
    let slow = slow.replace(r#""timeout_ms": 150"#, r#""timeout_ms": 5000"#);
    std::fs::write(flows.path().join("slow.json"), slow).unwrap();
    let mut serve = ServeProcess::start(flows.path(), data.path(), &["--allow-private-network"]);
    let addr = serve.addr();
    let request = tokio::spawn(async move {
        reqwest::Client::new().post(format!("http://{addr}/hooks/slow")).send().await
    });
    until_called(&up.slow, "the flow never called the upstream").await;
    let status = tokio::task::spawn_blocking(move || serve.terminate(Duration::from_secs(10)))
        .await
        .unwrap();
    let r = request.await.unwrap().expect("the request in flight is answered");
    assert_eq!(r.status(), StatusCode::OK, "the in-flight run finished before the stop");
    assert!(status.success(), "hookflow serve exits cleanly on SIGTERM: {status}");
}

#[tokio::test]
async fn an_upstream_error_fails_the_flow_with_500() {
    let up = upstream().await;
    let h = serve(&up).await;
    let r = h.client.post(h.url("/hooks/down")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["title"], "Flow failed");
    assert!(!body.to_string().contains("maintenance"), "no internals in a 5xx body");
}

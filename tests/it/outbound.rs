//! Flows that call out (`http_request`) over real sockets: an upstream on loopback answers, is
//! slow enough to pass the route's deadline (`504`, and the run goes on to its end), or fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Path;
use axum::routing::{get, post};
use hookflow_store::ExecutionQuery;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, ServeProcess, eventually};

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
    eventually(what, Duration::from_secs(5), || async {
        (counter.load(Ordering::SeqCst) != 0).then_some(())
    })
    .await;
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

/// One flow of the given webhook settings that calls the slow upstream, then answers with the
/// execution id.
fn slow_flow(up: &Upstream, id: &str, webhook: &str) -> (String, String) {
    let base = &up.base;
    (
        format!("{id}.json"),
        format!(
            r#"{{ "id": "{id}", "name": "{id}", "nodes": [
              {{ "id": "hook", "type": "webhook", "suffix": "/{id}", "auth": {{ "type": "none" }}, {webhook} }},
              {{ "id": "call", "type": "http_request", "url": "{base}/slow" }},
              {{ "id": "ok", "type": "respond", "status": 200,
                 "body": {{ "execution": "$.execution.id", "slow": "$.nodes.call.body.slow" }} }} ],
            "edges": [ {{ "from": "hook", "to": "call" }}, {{ "from": "call", "to": "ok" }} ] }}"#
        ),
    )
}

async fn serve_flows(flows: &[(String, String)], queue: (usize, usize)) -> Harness {
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Harness::with_flows_and_queue(&refs, queue).await
}

#[tokio::test]
async fn concurrent_repeats_of_a_key_run_once_and_get_the_same_answer() {
    let up = upstream().await;
    let flow = slow_flow(
        &up,
        "once",
        r#""idempotency": { "key": "$.request.headers['idempotency-key']", "ttl_seconds": 60 }"#,
    );
    let h = serve_flows(&[flow], (4, 64)).await;
    let send = |key: &'static str| {
        let (client, url) = (h.client.clone(), h.url("/hooks/once"));
        async move { client.post(url).header("idempotency-key", key).send().await.unwrap() }
    };
    let (a, b, c) = tokio::join!(send("k1"), send("k1"), send("k1"));
    let mut replayed = 0;
    let mut bodies = Vec::new();
    for r in [a, b, c] {
        assert_eq!(r.status(), StatusCode::OK);
        replayed += usize::from(r.headers().get("idempotent-replayed").is_some());
        bodies.push(r.json::<Value>().await.unwrap());
    }
    assert_eq!(replayed, 2, "two of the three are replays");
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(up.slow.load(Ordering::SeqCst), 1, "the flow ran once");
    // A repeat after the first finished comes from the store.
    let r = send("k1").await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.json::<Value>().await.unwrap(), bodies[0]);
    // Another key runs again.
    let r = send("k2").await;
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(up.slow.load(Ordering::SeqCst), 2);
    h.history.flush().await;
    let page = h
        .history
        .store()
        .list_executions(&ExecutionQuery {
            flow: Some("once".into()),
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 2, "exactly one execution per key");
}

#[tokio::test]
async fn on_timeout_accepted_answers_202_and_the_run_finishes_later() {
    let up = upstream().await;
    let flow =
        slow_flow(&up, "late", r#""response": { "timeout_ms": 100, "on_timeout": "accepted" }"#);
    let h = serve_flows(&[flow], (4, 64)).await;
    let r = h.client.post(h.url("/hooks/late")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    let url = r.json::<Value>().await.unwrap()["status_url"].as_str().unwrap().to_owned();
    let doc = eventually("the run finishes", Duration::from_secs(5), || async {
        let doc: Value = h.client.get(&url).send().await.unwrap().json().await.unwrap();
        if doc["status"] == "succeeded" {
            return Some(doc);
        }
        assert_eq!(doc["status"], "running", "{doc}");
        None
    })
    .await;
    assert_eq!(doc["response"]["body"], json!({ "execution": id, "slow": true }));
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let up = upstream().await;
    let flow = slow_flow(&up, "busy", r#""response": { "mode": "accepted" }"#);
    let h = serve_flows(&[flow], (1, 1)).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    // One call runs (the worker), one waits (the queue); the next ones are refused.
    for _ in 0..4 {
        let r = h.client.post(h.url("/hooks/busy")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        }
    }
    assert_eq!(&statuses[..2], &[202, 202], "{statuses:?}");
    assert!(statuses[2..].contains(&503), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("5"));
}

#[tokio::test]
async fn accepted_calls_survive_a_crash_on_redb() {
    accepted_calls_survive_a_crash("redb").await;
}

#[tokio::test]
async fn accepted_calls_survive_a_crash_on_sled() {
    accepted_calls_survive_a_crash("sled").await;
}

/// Sends accepted calls, kills the server (SIGKILL) mid-stream, restarts it on the same data
/// directory and checks that every call that got a 202 completes.
async fn accepted_calls_survive_a_crash(store: &str) {
    const SENT: usize = 40;
    let up = upstream().await;
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (name, text) = slow_flow(&up, "durable", r#""response": { "mode": "accepted" }"#);
    std::fs::write(flows.path().join(name), text).unwrap();
    let args = ["--allow-private-network", "--workers", "2", "--store", store];
    let mut serve = ServeProcess::start(flows.path(), data.path(), &args);
    let addr = serve.addr();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/hooks/durable");
    // Calls go out in parallel; the process is killed once half of them were answered 202, while
    // most of those are still queued or running (two workers, 600 ms per run).
    let acked = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..SENT)
        .map(|_| {
            let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
            tokio::spawn(async move {
                let r = client.post(url).send().await.ok()?;
                let id = r.headers().get("x-hookflow-execution-id")?.to_str().ok()?.to_owned();
                (r.status() == StatusCode::ACCEPTED).then(|| {
                    acked.fetch_add(1, Ordering::SeqCst);
                    id
                })
            })
        })
        .collect();
    eventually("half of the calls are accepted", Duration::from_secs(10), || async {
        (acked.load(Ordering::SeqCst) >= SENT / 2).then_some(())
    })
    .await;
    serve.kill();
    let mut acknowledged = Vec::new();
    for call in calls {
        if let Some(id) = call.await.unwrap() {
            acknowledged.push(id);
        }
    }
    assert!(!acknowledged.is_empty());

    let mut serve = ServeProcess::start(flows.path(), data.path(), &args);
    let addr = serve.addr();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut recovered = 0;
    for id in &acknowledged {
        let status_url = format!("http://{addr}/hooks/_executions/{id}");
        let what = format!("{id} finishes after the restart");
        let left = deadline.saturating_duration_since(Instant::now());
        eventually(&what, left, || async {
            let doc: Value = client.get(&status_url).send().await.unwrap().json().await.unwrap();
            if doc["status"] == "succeeded" {
                assert_eq!(doc["response"]["body"]["execution"], id.as_str());
                return Some(());
            }
            assert!(doc["status"] == "queued" || doc["status"] == "running", "{id}: {doc}");
            None
        })
        .await;
        recovered += 1;
    }
    eprintln!(
        "crash test ({store}): {SENT} sent, {} acknowledged (202), {recovered} recovered and completed",
        acknowledged.len()
    );
    assert_eq!(recovered, acknowledged.len());
    serve.kill();
}

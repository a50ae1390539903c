//! Executions over real sockets: the `accepted` mode and its status-check URL, the deadline
//! fallback to `202`, and the history every call leaves (redacted, rejected ones too).

use std::cell::RefCell;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, eventually, flow};

const KEY: &str = r#""auth": { "type": "api_key", "credential": "k" }"#;

fn flows() -> Vec<(String, String)> {
    vec![
        (
            "queued.json".into(),
            flow(
                "queued",
                true,
                &format!(r#""suffix": "/queued", {KEY}, "response": {{ "mode": "accepted" }}"#),
                r#""status": 201, "body": { "got": "$.request.body.n", "by": "$.execution.credential" }"#,
            ),
        ),
        (
            "queued-fails.json".into(),
            flow(
                "queued-fails",
                true,
                &format!(
                    r#""suffix": "/queued-fails", {KEY}, "response": {{ "mode": "accepted" }}"#
                ),
                r#""status": 200, "status_override": "$.request.body.status""#,
            ),
        ),
        (
            "sync.json".into(),
            flow(
                "sync",
                true,
                &format!(r#""suffix": "/sync", {KEY}"#),
                r#""status": 200, "body": { "ok": true }"#,
            ),
        ),
    ]
}

async fn serve() -> Harness {
    let flows = flows();
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Harness::with_flows(&refs).await
}

/// Polls the status URL until the execution has ended (5 s at most); answers every status seen.
async fn poll(h: &Harness, url: &str) -> (Vec<String>, Value) {
    let seen = RefCell::new(Vec::new());
    let doc = eventually("the execution ends", Duration::from_secs(5), || async {
        let r = h.client.get(url).header("x-api-key", h.secret("k")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let doc: Value = r.json().await.unwrap();
        let status = doc["status"].as_str().unwrap().to_owned();
        let mut seen = seen.borrow_mut();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        (status == "succeeded" || status == "failed").then_some(doc)
    })
    .await;
    (seen.into_inner(), doc)
}

#[tokio::test]
async fn accepted_answers_202_and_the_status_url_shows_the_result() {
    let h = serve().await;
    let r = h
        .client
        .post(h.url("/hooks/queued"))
        .header("x-api-key", h.secret("k"))
        .json(&json!({ "n": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["execution_id"], id.as_str());
    assert_eq!(body["status_url"], location.as_str());
    assert_eq!(location, h.url(&format!("/hooks/_executions/{id}")));
    let (seen, doc) = poll(&h, &location).await;
    assert!(["queued", "running", "succeeded"].contains(&seen[0].as_str()), "{seen:?}");
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["response"]["status"], 201);
    assert_eq!(doc["response"]["body"], json!({ "got": 7, "by": "k" }));
    assert!(doc["completed_at"].is_string() && doc["duration_ms"].is_number(), "{doc}");
}

#[tokio::test]
async fn a_failing_accepted_flow_shows_failed_with_the_node() {
    let h = serve().await;
    let r = h
        .client
        .post(h.url("/hooks/queued-fails"))
        .header("x-api-key", h.secret("k"))
        .json(&json!({ "status": "not-a-status" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    let (_, doc) = poll(&h, &url).await;
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["error"]["node"], "answer");
    assert!(doc["error"]["message"].as_str().unwrap().contains("not an HTTP status code"));
    assert_eq!(doc["response"]["status"], 500);
}

#[tokio::test]
async fn the_status_url_needs_the_routes_credential() {
    let h = serve().await;
    let r = h
        .client
        .post(h.url("/hooks/queued"))
        .header("x-api-key", h.secret("k"))
        .send()
        .await
        .unwrap();
    let url = r.headers()["location"].to_str().unwrap().to_owned();
    let r = h.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = h.client.get(&url).header("x-api-key", "wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let unknown = h.url(&format!("/hooks/_executions/{}", uuid::Uuid::now_v7()));
    let r = h.client.get(&unknown).header("x-api-key", h.secret("k")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h.client.get(h.url("/hooks/_executions/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h.client.post(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_call_is_recorded_with_secrets_redacted() {
    let h = serve().await;
    let secret = h.secret("k").to_owned();
    let r = h
        .client
        .post(h.url("/hooks/sync?x=1"))
        .header("x-api-key", &secret)
        .json(&json!({ "n": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ok_id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    let r = h.client.post(h.url("/hooks/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let missing_id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    let r = h.client.post(h.url("/hooks/sync")).header("x-api-key", "wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let denied_id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    h.history.flush().await;
    let store = h.history.store();

    let ok = store.execution(&ok_id).unwrap().expect("the call is recorded");
    assert_eq!(ok.status.as_str(), "succeeded");
    assert_eq!(ok.flow_id.as_deref(), Some("sync"));
    assert_eq!(ok.credential.as_deref(), Some("k"));
    assert_eq!(ok.request.query, "x=1");
    assert_eq!(ok.request.body, br#"{"n":1}"#);
    assert_eq!(ok.response.as_ref().unwrap().status, 200);
    assert_eq!(ok.trace.as_array().unwrap().len(), 2, "{}", ok.trace);
    let text = serde_json::to_string(&ok).unwrap();
    assert!(!text.contains(&secret), "the API key is redacted: {text}");
    assert!(ok.request.headers.contains(&("x-api-key".into(), "[redacted]".into())));

    let missing = store.execution(&missing_id).unwrap().expect("a rejected call is recorded");
    assert_eq!((missing.status.as_str(), missing.flow_id.as_deref()), ("rejected", None));
    assert_eq!(missing.response.as_ref().unwrap().status, 404);
    let denied = store.execution(&denied_id).unwrap().expect("a refused call is recorded");
    assert_eq!((denied.status.as_str(), denied.flow_id.as_deref()), ("rejected", Some("sync")));
    assert!(denied.error.as_ref().unwrap().message.starts_with("401"), "{:?}", denied.error);
    assert!(
        !serde_json::to_string(&denied).unwrap().contains("wrong"),
        "a wrong key is redacted too"
    );
}

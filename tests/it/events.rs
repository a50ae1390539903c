//! The events hookflow raises, as a subscriber receives them over real sockets: executions that
//! succeed or fail, calls refused before their flow ran, and flows deployed, rejected, switched
//! off, on and removed by a reload or the admin API.

use std::time::Duration;

use hookflow_runtime::outbound::subscriptions::NewSubscription;
use hookflow_runtime::reload::{Change, Trigger};
use serde_json::{Value, json};

use crate::harness::{Harness, Receiver, eventually, flow};

const NONE: &str = r#""auth": { "type": "none" }"#;

fn flows() -> Vec<(String, String)> {
    vec![
        (
            "echo.json".into(),
            flow("echo", true, &format!(r#""suffix": "/echo", {NONE}"#), r#""status": 201"#),
        ),
        (
            "fails.json".into(),
            flow(
                "fails",
                true,
                &format!(r#""suffix": "/fails", {NONE}"#),
                r#""status": 200, "status_override": "$.request.body.status""#,
            ),
        ),
        (
            "guarded.json".into(),
            flow(
                "guarded",
                true,
                r#""suffix": "/guarded", "auth": { "type": "api_key", "credential": "k" }"#,
                r#""status": 200"#,
            ),
        ),
    ]
}

/// The bodies received until one with `event` arrives (5 s at most).
async fn until(receiver: &Receiver, event: &str) -> Vec<Value> {
    until_all(receiver, &[event]).await
}

/// The bodies received until each of `events` has arrived (5 s at most).
async fn until_all(receiver: &Receiver, events: &[&str]) -> Vec<Value> {
    eventually(&format!("the events {events:?}"), Duration::from_secs(5), || async {
        let bodies = receiver.bodies();
        events.iter().all(|e| bodies.iter().any(|b| b["event"] == *e)).then_some(bodies)
    })
    .await
}

fn one<'a>(bodies: &'a [Value], event: &str) -> &'a Value {
    let found: Vec<&Value> = bodies.iter().filter(|b| b["event"] == event).collect();
    assert_eq!(found.len(), 1, "{event}: {bodies:#?}");
    found[0]
}

#[tokio::test]
async fn a_subscriber_hears_of_executions_refusals_and_flow_changes() {
    let flows = flows();
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let h = Harness::with_flows(&refs).await;
    let receiver = Receiver::start().await;
    let new: NewSubscription =
        serde_json::from_value(json!({ "name": "all", "url": receiver.url })).unwrap();
    let subscription = h.engine.outbound.create(new).await.unwrap().subscription;

    let ok = h.client.post(h.url("/hooks/echo")).json(&json!({})).send().await.unwrap();
    assert_eq!(ok.status(), 201);
    let id = ok.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    let bodies = until(&receiver, "execution.succeeded").await;
    let succeeded = one(&bodies, "execution.succeeded");
    assert_eq!(succeeded["webhook_id"], subscription.id.as_str());
    let data = &succeeded["data"];
    assert_eq!(
        (data["flow_id"].as_str(), data["execution_id"].as_str()),
        (Some("echo"), Some(&*id))
    );
    assert_eq!(
        (data["status"].as_str(), data["response_status"].as_u64()),
        (Some("succeeded"), Some(201))
    );
    assert!(data["started_at"].is_string() && data["duration_ms"].is_number(), "{data}");
    assert!(data.get("request").is_none() && data.get("body").is_none(), "no request data: {data}");

    let failing = h.client.post(h.url("/hooks/fails")).json(&json!({ "status": "no" })).send();
    assert_eq!(failing.await.unwrap().status(), 500);
    let bodies = until(&receiver, "execution.failed").await;
    let failed = &one(&bodies, "execution.failed")["data"];
    assert_eq!(
        (failed["status"].as_str(), failed["response_status"].as_u64()),
        (Some("failed"), Some(500))
    );
    assert_eq!(failed["error"]["node"], "answer");

    let refused = h.client.post(h.url("/hooks/guarded")).header("x-api-key", "wrong").send();
    assert_eq!(refused.await.unwrap().status(), 401);
    let bodies = until(&receiver, "webhook.rejected").await;
    let rejected = &one(&bodies, "webhook.rejected")["data"];
    assert_eq!(
        (rejected["flow_id"].as_str(), rejected["status"].as_u64()),
        (Some("guarded"), Some(401))
    );
    assert_eq!(rejected["route"], "POST /guarded");
    assert!(!rejected.to_string().contains("wrong"), "no credential in the event: {rejected}");
    let unknown = h.client.post(h.url("/hooks/nowhere")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    eventually("a 404 is heard of too", Duration::from_secs(5), || async {
        let n = receiver.bodies().iter().filter(|b| b["event"] == "webhook.rejected").count();
        (n == 2).then_some(())
    })
    .await;

    // A reload: one flow changed, one broken, one removed.
    let dir = h.flows_dir();
    let changed = flow("echo", true, &format!(r#""suffix": "/echo", {NONE}"#), r#""status": 202"#);
    std::fs::write(dir.join("echo.json"), changed).unwrap();
    std::fs::write(dir.join("fails.json"), r#"{ "id": "fails", "name": "fails", "nodes": 3 }"#)
        .unwrap();
    std::fs::remove_file(dir.join("guarded.json")).unwrap();
    h.engine.reloader().reload(Trigger::Api).await.expect("the reload task answers");
    // Each event is its own delivery: they may arrive in any order.
    let bodies = until_all(&receiver, &["flow.deployed", "flow.rejected", "flow.removed"]).await;
    let deployed = &one(&bodies, "flow.deployed")["data"];
    assert_eq!(deployed["flow_id"], "echo");
    assert!(
        deployed["version"].is_string()
            && deployed["file"].as_str().unwrap().ends_with("echo.json")
    );
    let rejected = &one(&bodies, "flow.rejected")["data"];
    assert_eq!(rejected["flow_id"], "fails");
    assert!(rejected["diagnostics"][0].as_str().unwrap().contains("error["), "{rejected}");
    assert_eq!(one(&bodies, "flow.removed")["data"]["flow_id"], "guarded");

    // Switched off, then on again.
    let reloader = h.engine.reloader();
    reloader.change(Change::SetActive { id: "echo".into(), active: false }).await.unwrap();
    assert_eq!(
        one(&until(&receiver, "flow.deactivated").await, "flow.deactivated")["data"]["flow_id"],
        "echo"
    );
    reloader.change(Change::SetActive { id: "echo".into(), active: true }).await.unwrap();
    assert_eq!(
        one(&until(&receiver, "flow.activated").await, "flow.activated")["data"]["flow_id"],
        "echo"
    );
}

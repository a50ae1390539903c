//! Outbound webhooks through a real `hookflow serve` and its admin API, to receivers on loopback
//! started here: signatures the Standard Webhooks library and a plain HMAC check verify, the
//! attempt log, retries by a shortened schedule, `Retry-After`, `410`, pausing, secret rotation,
//! and every refusal named.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{Received, Receiver, Served, eventually, flow, problem};

/// Short retries, a `Retry-After` cap of 3 s, loopback receivers allowed.
const SERVE: [&str; 3] = ["--allow-private-outbound", "--delivery-schedule", "200ms,200ms,3s"];

fn serve(extra: &[&str]) -> Served {
    let echo =
        flow("echo", true, r#""suffix": "/echo", "auth": { "type": "none" }"#, r#""status": 201"#);
    Served::with_flows(&[("echo.json", echo)], extra)
}

/// Creates a subscription; answers its id and secret.
async fn subscribe(s: &Served, body: Value) -> (String, String) {
    let (status, doc) = s.api(Method::POST, "/api/subscriptions", Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    (doc["id"].as_str().unwrap().to_owned(), doc["secret"].as_str().unwrap().to_owned())
}

async fn call(s: &Served) {
    let r = s.client.post(s.hook("/echo")).json(&json!({ "n": 1 })).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// The requests `receiver` got once it has `n` (10 s at most).
async fn received(receiver: &Receiver, n: usize) -> Vec<Received> {
    eventually(&format!("{n} requests at the receiver"), Duration::from_secs(10), || async {
        let got = receiver.received();
        (got.len() >= n).then_some(got)
    })
    .await
}

/// Whether the Standard Webhooks library accepts `got` signed with `secret`.
fn verifies(secret: &str, got: &Received) -> bool {
    standardwebhooks::Webhook::new(secret).unwrap().verify(&got.body, &got.headers).is_ok()
}

/// The five-line recipe: hex HMAC-SHA256 of the raw body keyed with the whole secret string.
fn plain_hmac(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

async fn deliveries(s: &Served, id: &str, query: &str) -> Value {
    let (status, page) =
        s.api(Method::GET, &format!("/api/subscriptions/{id}/deliveries{query}"), None).await;
    assert_eq!(status, 200, "{page}");
    page
}

async fn delivery(s: &Served, id: &str) -> Value {
    let (status, doc) = s.api(Method::GET, &format!("/api/deliveries/{id}"), None).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

#[tokio::test]
async fn a_subscriber_gets_signed_events_and_the_api_logs_every_attempt() {
    let s = serve(&SERVE);
    let receiver = Receiver::start().await;
    let (status, types) = s.api(Method::GET, "/api/event-types", None).await;
    assert_eq!(status, 200);
    let succeeded =
        types["items"].as_array().unwrap().iter().find(|t| t["name"] == "execution.succeeded");
    assert!(succeeded.is_some_and(|t| t["sample"]["execution_id"].is_string()), "{types}");

    let (id, secret) = subscribe(
        &s,
        json!({
            "name": "crm", "url": receiver.url, "events": ["execution.succeeded"],
            "headers": { "X-Api-Key": "k3y-value" }, "description": "the CRM",
        }),
    )
    .await;
    assert!(id.starts_with("sub_") && secret.starts_with("whsec_"), "{id} {secret}");
    let (_, listed) = s.api(Method::GET, "/api/subscriptions", None).await;
    let (_, shown) = s.api(Method::GET, &format!("/api/subscriptions/{id}"), None).await;
    for text in [listed.to_string(), shown.to_string()] {
        assert!(!text.contains(&secret) && !text.contains("k3y-value"), "{text}");
    }
    assert_eq!(shown["headers"]["X-Api-Key"], "[redacted]");

    call(&s).await;
    let got = received(&receiver, 1).await;
    let event = &got[0];
    assert!(verifies(&secret, event), "the Standard Webhooks library verifies it");
    assert_eq!(event.header("x-hookflow-signature"), plain_hmac(&secret, &event.body));
    assert_eq!(event.header("x-api-key"), "k3y-value");
    assert_eq!(event.header("x-hookflow-event"), "execution.succeeded");
    assert_eq!(event.header("x-hookflow-webhook-id"), id);
    assert_eq!(event.header("content-type"), "application/json");
    assert!(event.header("user-agent").starts_with("hookflow/"));
    let body = event.json();
    assert_eq!(
        (body["event"].as_str(), body["webhook_id"].as_str()),
        (Some("execution.succeeded"), Some(&*id))
    );
    assert_eq!(body["data"]["flow_id"], "echo");
    assert_eq!(body["data"]["response_status"], 201);

    // The receiver has it; its outcome is logged once the attempt has been stored.
    let page = eventually("the delivery logged as succeeded", Duration::from_secs(5), || async {
        let page = deliveries(&s, &id, "").await;
        (page["items"][0]["status"] == "succeeded").then_some(page)
    })
    .await;
    let message = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(message, event.header("webhook-id"));
    let one = delivery(&s, &message).await;
    assert_eq!(one["payload"], body);
    let attempt = &one["attempts"][0];
    assert_eq!(attempt["status"], 200);
    assert!(attempt["duration_ms"].is_u64() && attempt["at"].is_string(), "{one}");

    // A retry sends it again now, with the same message id; a test sends a `test` event.
    let (status, retried) =
        s.api(Method::POST, &format!("/api/deliveries/{message}/retry"), None).await;
    assert_eq!((status.as_u16(), retried["attempts"].as_array().map(Vec::len)), (200, Some(2)));
    let (status, tested) =
        s.api(Method::POST, &format!("/api/subscriptions/{id}/test"), None).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        (tested["event_type"].as_str(), tested["status"].as_str()),
        (Some("test"), Some("succeeded"))
    );
    let got = received(&receiver, 3).await;
    assert_eq!(got[1].header("webhook-id"), message);
    assert_eq!(got[2].json()["event"], "test");

    // Newest first, paged, filtered.
    let first = deliveries(&s, &id, "?limit=1").await;
    assert_eq!(first["items"][0]["event_type"], "test");
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = deliveries(&s, &id, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["items"][0]["id"], message.as_str());
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(deliveries(&s, &id, "?status=failed").await["items"], json!([]));

    let (status, _) = s.api(Method::DELETE, &format!("/api/subscriptions/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = s.api(Method::GET, &format!("/api/subscriptions/{id}"), None).await;
    assert_eq!(status, 404, "{gone}");
    let (status, _) = s.api(Method::GET, &format!("/api/deliveries/{message}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn retries_follow_the_schedule_retry_after_is_honoured_and_410_disables() {
    let s = serve(&SERVE);
    let flaky = Receiver::answering(vec![(500, vec![]), (503, vec![])]).await;
    let busy = Receiver::answering(vec![(429, vec![("retry-after", "1")])]).await;
    let gone = Receiver::answering(vec![(410, vec![])]).await;
    let watcher = Receiver::start().await;
    let on_success =
        |url: &str| json!({ "name": "r", "url": url, "events": ["execution.succeeded"] });
    let (flaky_id, _) = subscribe(&s, on_success(&flaky.url)).await;
    let (busy_id, _) = subscribe(&s, on_success(&busy.url)).await;
    let (gone_id, _) = subscribe(&s, on_success(&gone.url)).await;
    subscribe(&s, json!({ "name": "w", "url": watcher.url, "events": ["subscription.disabled"] }))
        .await;
    call(&s).await;

    let got = received(&flaky, 3).await;
    assert!(got.iter().all(|r| r.header("webhook-id") == got[0].header("webhook-id")));
    let message = eventually("the flaky delivery succeeds", Duration::from_secs(10), || async {
        let page = deliveries(&s, &flaky_id, "?status=succeeded").await;
        page["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let logged = delivery(&s, &message).await;
    let statuses: Vec<&Value> =
        logged["attempts"].as_array().unwrap().iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(200)]);
    for pair in got.windows(2) {
        let wait = pair[1].at - pair[0].at;
        assert!(wait >= Duration::from_millis(150), "about 200 ms apart: {wait:?}");
    }

    let got = received(&busy, 2).await;
    let wait = got[1].at - got[0].at;
    assert!(
        wait >= Duration::from_millis(950),
        "Retry-After: 1 waits a second, not 200 ms: {wait:?}"
    );

    let disabled =
        eventually("the 410 switches the subscription off", Duration::from_secs(10), || async {
            let (_, doc) = s.api(Method::GET, &format!("/api/subscriptions/{gone_id}"), None).await;
            (doc["active"] == false).then_some(doc)
        })
        .await;
    assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{disabled}");
    let page = deliveries(&s, &gone_id, "").await;
    assert_eq!(
        (page["items"][0]["status"].as_str(), page["items"][0]["last_status"].as_u64()),
        (Some("failed"), Some(410))
    );
    let said = received(&watcher, 1).await;
    assert_eq!(said[0].json()["data"]["subscription_id"], gone_id.as_str());
    assert_eq!(gone.received().len(), 1, "nothing more is sent after a 410");
    let (status, _) = s.api(Method::GET, &format!("/api/subscriptions/{busy_id}"), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_paused_subscription_gets_nothing_until_resumed_then_everything() {
    let s = serve(&SERVE);
    let receiver = Receiver::start().await;
    let (id, _) = subscribe(
        &s,
        json!({ "name": "p", "url": receiver.url, "events": ["*"], "active": false }),
    )
    .await;
    for _ in 0..3 {
        call(&s).await;
    }
    let held = eventually("three held deliveries", Duration::from_secs(10), || async {
        let page = deliveries(&s, &id, "?status=pending").await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 3).then_some(items)
    })
    .await;
    assert!(held.iter().all(|d| d["next_attempt_at"].is_null()), "held, not scheduled: {held:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty(), "nothing is sent while paused");

    let (status, resumed) = s
        .api(Method::PATCH, &format!("/api/subscriptions/{id}"), Some(r#"{"active": true}"#))
        .await;
    assert_eq!((status.as_u16(), &resumed["active"]), (200, &json!(true)));
    let got = received(&receiver, 3).await;
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each held event once");
    assert!(got.iter().all(|r| r.json()["event"] == "execution.succeeded"));
}

#[tokio::test]
async fn during_a_rotation_both_signatures_verify_and_after_its_grace_only_the_new_one() {
    let s = serve(&SERVE);
    let receiver = Receiver::start().await;
    let (id, old) = subscribe(
        &s,
        json!({ "name": "r", "url": receiver.url, "events": ["execution.succeeded"] }),
    )
    .await;
    let path = format!("/api/subscriptions/{id}/rotate-secret");
    let (status, rotated) = s.api(Method::POST, &path, Some(r#"{"grace_seconds": 2}"#)).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated["previous_valid_until"].is_string(), "{rotated}");

    call(&s).await;
    let during = &received(&receiver, 1).await[0];
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(verifies(&old, during) && verifies(&new, during), "both verify in the grace window");
    assert_eq!(during.header("x-hookflow-signature"), plain_hmac(&new, &during.body));

    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(started.elapsed())).await;
    call(&s).await;
    let after = &received(&receiver, 2).await[1];
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(verifies(&new, after) && !verifies(&old, after), "only the new one after it");

    let (_, again) = s.api(Method::POST, &path, None).await;
    assert_eq!(
        again["previous_valid_until"],
        Value::Null,
        "no grace: the old secret stops at once"
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused_naming_the_field() {
    let served = serve(&[]);
    let s = &served;
    let invalid = |body: Value| async move {
        let (status, doc) =
            s.api(Method::POST, "/api/subscriptions", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{doc}");
        (doc["pointer"].as_str().unwrap().to_owned(), doc["detail"].as_str().unwrap().to_owned())
    };
    let (at, detail) = invalid(json!({ "name": "x", "url": "http://127.0.0.1:9/hook" })).await;
    assert_eq!(at, "/url");
    assert!(detail.contains("private"), "without --allow-private-outbound: {detail}");
    for (body, pointer) in [
        (json!({ "name": "x", "url": "ftp://example.com/x" }), "/url"),
        (json!({ "name": "x", "url": "http://" }), "/url"),
        (
            json!({ "name": "x", "url": "https://example.com", "events": ["execution.failed", "nope"] }),
            "/events/1",
        ),
        (json!({ "name": "x", "url": "https://example.com", "secret": "mine" }), "/secret"),
        (
            json!({ "name": "x", "url": "https://example.com", "headers": { "bad name": "v" } }),
            "/headers/bad name",
        ),
        (
            json!({ "name": "x", "url": "https://example.com", "payload": { "d": "$.data[" } }),
            "/payload/d",
        ),
        (json!({ "url": "https://example.com" }), ""),
    ] {
        assert_eq!(invalid(body.clone()).await.0, pointer, "{body}");
    }
    let (status, doc) =
        s.api(Method::PATCH, "/api/subscriptions/sub_nope", Some(r#"{"active": false}"#)).await;
    assert_eq!(status, 404, "{doc}");
    assert!(doc["detail"].as_str().unwrap().contains("sub_nope"));
    for (method, path) in [
        (Method::GET, "/api/deliveries/msg_nope"),
        (Method::POST, "/api/deliveries/msg_nope/retry"),
        (Method::POST, "/api/subscriptions/sub_nope/test"),
        (Method::GET, "/api/subscriptions/sub_nope/deliveries"),
    ] {
        assert_eq!(s.api(method, path, None).await.0, 404, "{path}");
    }
    let (status, doc) =
        s.api(Method::GET, "/api/subscriptions/sub_x/deliveries?status=done", None).await;
    assert_eq!((status.as_u16(), doc["parameter"].as_str()), (400, Some("status")));
    let (status, _) = problem(s.client.get(format!("{}/api/subscriptions", s.admin))).await;
    assert_eq!(status, 401, "the token is needed");
}

/// A flows directory holding `POST /hooks/echo` (no auth, answers 201), and a data directory, to
/// serve again after a stop.
fn echo_dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    let echo =
        flow("echo", true, r#""suffix": "/echo", "auth": { "type": "none" }"#, r#""status": 201"#);
    let (flows, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(flows.path().join("echo.json"), echo).unwrap();
    (flows, data)
}

#[tokio::test]
async fn a_clean_stop_right_after_the_calls_keeps_every_event() {
    const CALLS: usize = 200;
    let (flows, data) = echo_dirs();
    let args = ["--allow-private-outbound"];
    let receiver = Receiver::start().await;
    let s = Served::start(flows.path(), data.path(), &args);
    let body = json!({ "name": "p", "url": receiver.url, "events": ["execution.succeeded"],
                       "active": false });
    let (id, _) = subscribe(&s, body).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let (client, url) = (s.client.clone(), s.hook("/echo"));
        calls.spawn(async move {
            let r = client.post(url).json(&json!({})).send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned()
        });
    }
    let executions: std::collections::BTreeSet<String> =
        calls.join_all().await.into_iter().collect();
    // SIGTERM at once: the events still on their way to the store are written before the exit.
    s.stop();

    let s = Served::start(flows.path(), data.path(), &args);
    let (status, _) = s
        .api(Method::PATCH, &format!("/api/subscriptions/{id}"), Some(r#"{"active": true}"#))
        .await;
    assert_eq!(status, 200);
    eventually("every event of the calls arrives", Duration::from_secs(30), || async {
        let seen: std::collections::BTreeSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| r.json()["data"]["execution_id"].as_str().map(str::to_owned))
            .collect();
        (seen == executions).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_clean_stop_mid_delivery_ends_at_once_and_the_cut_off_sends_go_after_the_restart() {
    const CALLS: usize = 5;
    let (flows, data) = echo_dirs();
    let args = ["--allow-private-outbound", "--delivery-workers", "1"];
    // Each answer takes 2 s: a stop waits for none of them.
    let receiver = Receiver::slow(Duration::from_secs(2)).await;
    let s = Served::start(flows.path(), data.path(), &args);
    let (id, _) = subscribe(
        &s,
        json!({ "name": "r", "url": receiver.url, "events": ["execution.succeeded"] }),
    )
    .await;
    for _ in 0..CALLS {
        let r = s.client.post(s.hook("/echo")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    eventually("a send is under way", Duration::from_secs(10), || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let log = s.stop_within(Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    let warnings: Vec<&String> =
        log.iter().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    assert!(warnings.is_empty(), "a clean stop logs no failure: {warnings:?}");

    let s = Served::start(flows.path(), data.path(), &args);
    eventually("every delivery succeeds after the restart", Duration::from_secs(30), || async {
        let page = deliveries(&s, &id, "?status=succeeded&limit=50").await;
        (page["items"].as_array().map_or(0, Vec::len) == CALLS).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_sigkill_mid_delivery_loses_no_queued_event() {
    const CALLS: usize = 150;
    let (flows, data) = echo_dirs();
    let args =
        ["--allow-private-outbound", "--delivery-workers", "2", "--delivery-schedule", "200ms"];
    // 20 ms an answer, two at a time: about 100 deliveries a second, so the kill lands mid-way.
    let receiver = Receiver::slow(Duration::from_millis(20)).await;
    let s = Served::start(flows.path(), data.path(), &args);
    let (id, _) = subscribe(
        &s,
        json!({ "name": "r", "url": receiver.url, "events": ["execution.succeeded"] }),
    )
    .await;
    let mut executions = std::collections::BTreeSet::new();
    for _ in 0..CALLS {
        let r = s.client.post(s.hook("/echo")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        executions.insert(r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned());
    }
    eventually("every event is queued", Duration::from_secs(10), || async {
        let page = deliveries(&s, &id, "?limit=500").await;
        (page["items"].as_array().map_or(0, Vec::len) == CALLS).then_some(())
    })
    .await;
    // Queued deliveries are durable within a tick (100 ms) of being listed: wait for that, and
    // no longer, before the kill.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = received(&receiver, 10).await.len();
    s.kill();
    assert!(before < CALLS, "killed mid-delivery: {before} of {CALLS} had arrived");

    let s = Served::start(flows.path(), data.path(), &args);
    let got = eventually(
        "every queued event arrives after the restart",
        Duration::from_secs(30),
        || async {
            let got = receiver.received();
            let seen: std::collections::BTreeSet<String> = got
                .iter()
                .filter_map(|r| r.json()["data"]["execution_id"].as_str().map(str::to_owned))
                .collect();
            (seen == executions).then_some(got)
        },
    )
    .await;
    // At least once: an attempt cut off by the kill may arrive twice, with the same message id.
    let mut messages: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), CALLS, "one message per event");
    eventually("every delivery is logged as succeeded", Duration::from_secs(10), || async {
        let page = deliveries(&s, &id, "?status=succeeded&limit=500").await;
        (page["items"].as_array().map_or(0, Vec::len) == CALLS).then_some(())
    })
    .await;
    s.stop();
}

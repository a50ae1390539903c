//! Flows that store records, raise events and start other flows, through a real `hookflow
//! serve`: one call to the ticket-intake example stores a ticket, a subscriber receives the
//! signed `ticket.created`, the ticket-followup example runs once as the call's child and raises
//! `ticket.escalated`; records are listed, read and deleted through the admin API; a chain of
//! flows that start each other stops at the depth limit; and a process killed with SIGKILL in
//! the middle of a burst of calls loses no acknowledged record, event or run.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Receiver, Served, eventually};
use crate::root;

/// Loopback receivers allowed, short retries.
const SERVE: [&str; 3] = ["--allow-private-outbound", "--delivery-schedule", "200ms,200ms,1s"];

/// The example flow `id`, with its webhook's auth switched off (the call needs no secret).
fn example(id: &str) -> (String, String) {
    let text = std::fs::read_to_string(root().join(format!("flows/{id}.json"))).expect("example");
    let mut doc: Value = serde_json::from_str(&text).expect("JSON");
    for node in doc["nodes"].as_array_mut().expect("nodes") {
        if node["type"] == "webhook" {
            node["auth"] = json!({ "type": "none" });
        }
    }
    (format!("{id}.json"), doc.to_string())
}

fn tickets() -> Vec<(String, String)> {
    vec![example("ticket-intake"), example("ticket-followup")]
}

fn refs(flows: &[(String, String)]) -> Vec<(&str, String)> {
    flows.iter().map(|(n, t)| (n.as_str(), t.clone())).collect()
}

async fn post_ticket(s: &Served, body: Value) -> (StatusCode, Value) {
    let r = s.client.post(s.hook("/tickets")).json(&body).send().await.expect("an answer");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The children of execution `id` once there are `n` of them that finished (10 s at most).
async fn children(s: &Served, id: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} finished children of {id}"), Duration::from_secs(10), || async {
        let (status, page) =
            s.api(Method::GET, &format!("/api/executions?parent={id}"), None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let done = items.iter().filter(|e| e["status"] != "queued" && e["status"] != "running");
        (done.count() >= n).then_some(items)
    })
    .await
}

#[tokio::test]
async fn one_call_stores_a_ticket_notifies_a_subscriber_and_starts_the_follow_up_once() {
    let s = Served::with_flows(&refs(&tickets()), &SERVE);
    let receiver = Receiver::start().await;

    // Both flow-raised types are in the catalogue, with the flows that raise them.
    let (_, types) = s.api(Method::GET, "/api/event-types", None).await;
    let created = types["items"].as_array().unwrap().iter().find(|t| t["name"] == "ticket.created");
    assert_eq!(created.map(|t| t["flows"].clone()), Some(json!(["ticket-intake"])), "{types}");
    let body = json!({ "name": "crm", "url": receiver.url,
                       "events": ["ticket.created", "ticket.escalated"] });
    let (status, sub) = s.api(Method::POST, "/api/subscriptions", Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let secret = sub["secret"].as_str().unwrap().to_owned();
    let unknown = json!({ "name": "x", "url": receiver.url, "events": ["ticket.deleted"] });
    let (status, doc) = s.api(Method::POST, "/api/subscriptions", Some(&unknown.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(doc["detail"].as_str().unwrap().contains("ticket.created"), "{doc}");

    let ticket =
        json!({ "subject": "Printer jammed", "email": "ada@example.com", "priority": "high" });
    let (status, answer) = post_ticket(&s, ticket).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().expect("the ticket's id").to_owned();

    // The record is there, and keeps the execution that wrote it.
    let (status, record) =
        s.api(Method::GET, &format!("/api/collections/tickets/records/{id}"), None).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["value"]["subject"], "Printer jammed");
    assert_eq!(
        (record["version"].as_u64(), record["execution_id"].as_str()),
        (Some(1), Some(&*id))
    );

    // The subscriber gets both events, signed; the follow-up ran once, as the call's child.
    let got = eventually("two deliveries", Duration::from_secs(10), || async {
        let got = receiver.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let webhook = standardwebhooks::Webhook::new(&secret).unwrap();
    let mut kinds: Vec<String> = got
        .iter()
        .map(|r| {
            assert!(webhook.verify(&r.body, &r.headers).is_ok(), "signed");
            assert_eq!(r.json()["data"]["ticket_id"], id.as_str());
            r.json()["event"].as_str().unwrap().to_owned()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["ticket.created", "ticket.escalated"]);
    let kids = children(&s, &id, 1).await;
    assert_eq!(kids.len(), 1, "{kids:?}");
    let child = &kids[0];
    assert_eq!(
        (child["flow_id"].as_str(), child["status"].as_str()),
        (Some("ticket-followup"), Some("succeeded"))
    );
    assert_eq!(child["parent_id"], id.as_str());
    let (_, detail) = s
        .api(Method::GET, &format!("/api/executions/{}", child["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(detail["cause"]["event_type"], "ticket.created", "{detail}");
    assert_eq!(detail["cause"]["depth"], 1);
    assert_eq!(detail["cause"]["event"]["data"]["subject"], "Printer jammed");
    let (_, oncall) =
        s.api(Method::GET, &format!("/api/collections/oncall/records/{id}"), None).await;
    assert_eq!(oncall["value"]["raised_by"], id.as_str(), "{oncall}");

    // Still once, a moment later; and no more deliveries.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(children(&s, &id, 1).await.len(), 1);
    assert_eq!(receiver.received().len(), 2);

    // A ticket the schema refuses is neither stored nor raised.
    let (status, refused) = post_ticket(&s, json!({ "email": "bob@example.com" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["node"], "save");
    let (_, collections) = s.api(Method::GET, "/api/collections", None).await;
    assert_eq!(
        collections["items"],
        json!([{ "name": "oncall", "count": 1 }, { "name": "tickets", "count": 1 }])
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn records_page_by_key_and_by_creation_and_every_refusal_is_named() {
    let s = Served::with_flows(&refs(&tickets()), &SERVE);
    let mut ids = Vec::new();
    for n in 0..7 {
        let ticket = json!({ "subject": format!("ticket {n}"), "email": "a@example.com", "priority": "low" });
        let (status, answer) = post_ticket(&s, ticket).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    for order in ["key", "created"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let path =
                format!("/api/collections/tickets/records?order={order}&limit=3&cursor={cursor}");
            let (status, page) = s.api(Method::GET, &path, None).await;
            assert_eq!(status, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|r| r["key"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        // Execution ids are UUIDv7s: key order is creation order here.
        assert_eq!(seen, ids, "{order}");
    }
    let first = &ids[0];
    let path = format!("/api/collections/tickets/records/{first}");
    let (status, _) = s.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, doc) = s.api(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(doc["detail"], format!("Collection `tickets` has no record `{first}`."));
    let (status, _) = s.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, collections) = s.api(Method::GET, "/api/collections", None).await;
    assert_eq!(collections["items"][1], json!({ "name": "tickets", "count": 6 }));

    let (status, doc) = s.api(Method::GET, "/api/collections/nothing/records", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{doc}");
    let (status, doc) = s.api(Method::GET, "/api/collections/Bad!/records", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    assert!(doc["detail"].as_str().unwrap().contains("not a collection name"), "{doc}");
    let (status, doc) =
        s.api(Method::GET, "/api/collections/tickets/records?order=newest", None).await;
    assert_eq!(
        (status, doc["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("order")),
        "{doc}"
    );
    let (status, doc) =
        s.api(Method::GET, "/api/collections/tickets/records?limit=5000", None).await;
    assert_eq!(
        (status, doc["parameter"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit")),
        "{doc}"
    );
}

/// A flow that answers a call and raises `loop.step`, and one that each `loop.step` starts and
/// that raises it again: a cycle, warned about at deploy and cut at the depth limit.
fn cycle() -> Vec<(String, String)> {
    let start = json!({ "id": "start", "name": "start", "nodes": [
        { "id": "hook", "type": "webhook", "suffix": "/loop", "auth": { "type": "none" } },
        { "id": "raise", "type": "emit", "event": "loop.step", "data": { "n": 0 } },
        { "id": "ok", "type": "respond", "status": 202 } ],
      "edges": [ { "from": "hook", "to": "raise" }, { "from": "raise", "to": "ok" } ] });
    let again = json!({ "id": "again", "name": "again", "nodes": [
        { "id": "step", "type": "event", "events": ["loop.*"] },
        { "id": "raise", "type": "emit", "event": "loop.step", "data": { "depth": "$.event.source.depth" } } ],
      "edges": [ { "from": "step", "to": "raise" } ] });
    vec![("start.json".into(), start.to_string()), ("again.json".into(), again.to_string())]
}

#[tokio::test]
async fn a_cycle_of_flows_stops_at_the_depth_limit_with_a_failed_execution_that_says_why() {
    let mut s = Served::with_flows(&refs(&cycle()), &SERVE);
    s.process().wait_for_stdout("W003");
    // A reload logs it too.
    s.process().hang_up();
    s.process().wait_for_line("W003");
    let r = s.client.post(s.hook("/loop")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let first = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    // Follow the chain: each run of `again` is the child of the one before.
    let mut parent = first;
    let mut depth = 0;
    let last = loop {
        let kids = children(&s, &parent, 1).await;
        assert_eq!(kids.len(), 1, "{kids:?}");
        depth += 1;
        if kids[0]["status"] == "failed" {
            break kids[0].clone();
        }
        assert_eq!(kids[0]["status"], "succeeded", "{kids:?}");
        parent = kids[0]["id"].as_str().unwrap().to_owned();
        assert!(depth <= 9, "the chain did not stop");
    };
    assert_eq!(depth, 9, "8 runs, then the 9th is refused");
    let (_, detail) = s
        .api(Method::GET, &format!("/api/executions/{}", last["id"].as_str().unwrap()), None)
        .await;
    let message = detail["error"]["message"].as_str().unwrap();
    assert!(message.contains("deeper than 8"), "{detail}");
}

#[tokio::test]
async fn a_sigkill_during_a_burst_loses_no_acknowledged_record_event_or_run() {
    let (flows, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (name, text) in tickets() {
        std::fs::write(flows.path().join(name), text).unwrap();
    }
    let receiver = Receiver::start().await;
    let s = Served::start(flows.path(), data.path(), &SERVE);
    let body = json!({ "name": "crm", "url": receiver.url, "events": ["ticket.created"] });
    let (status, sub) = s.api(Method::POST, "/api/subscriptions", Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");

    // 200 calls, 8 at a time; the process is killed once 60 are answered, calls in flight.
    let answered = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let mut calls = tokio::task::JoinSet::new();
    let lanes = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    for n in 0..200 {
        let ticket =
            json!({ "subject": format!("t{n}"), "email": "a@example.com", "priority": "high" });
        let (client, url) = (s.client.clone(), s.hook("/tickets"));
        let (answered, lanes) = (answered.clone(), lanes.clone());
        calls.spawn(async move {
            let _lane = lanes.acquire_owned().await.unwrap();
            let r = client.post(url).json(&ticket).send().await.ok()?;
            let status = r.status();
            let id = r.json::<Value>().await.ok()?["id"].as_str()?.to_owned();
            assert_eq!(status, StatusCode::CREATED);
            answered.add_permits(1);
            Some(id)
        });
    }
    let _ = answered.acquire_many(60).await.unwrap();
    s.kill();
    let ids: Vec<String> = calls.join_all().await.into_iter().flatten().collect();
    assert!((60..200).contains(&ids.len()), "{} answered before the kill", ids.len());

    let s = Served::start(flows.path(), data.path(), &SERVE);
    for id in &ids {
        let (status, record) =
            s.api(Method::GET, &format!("/api/collections/tickets/records/{id}"), None).await;
        assert_eq!(status, 200, "{id}: {record}");
        let kids = children(&s, id, 1).await;
        assert_eq!(kids.len(), 1, "{id}: {kids:?}");
        assert_eq!(kids[0]["status"], "succeeded", "{id}: {kids:?}");
    }
    let delivered =
        eventually("every acknowledged ticket delivered", Duration::from_secs(20), || async {
            let got: std::collections::HashSet<String> = receiver
                .received()
                .iter()
                .filter_map(|r| r.json()["data"]["ticket_id"].as_str().map(str::to_owned))
                .collect();
            ids.iter().all(|id| got.contains(id)).then_some(got)
        })
        .await;
    assert!(delivered.len() >= ids.len());
}

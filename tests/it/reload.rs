//! Hot reload and the flows API over real sockets, against the real binary: a flow rewritten many
//! times under load, a call in flight that ends on the version it started with, SIGHUP and the
//! file watcher, activation that survives a restart, and writes through the admin API with every
//! error they can answer.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hookflow_core::compiler::is_flow_id;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Served, eventually, flow, problem};

const NONE: &str = r#""auth": { "type": "none" }"#;

/// A flow `id` at `POST /hooks{suffix}` answering `{"v": v}`.
pub fn versioned(id: &str, suffix: &str, v: u32) -> String {
    flow(
        id,
        true,
        &format!(r#""suffix": "{suffix}", {NONE}"#),
        &format!(r#""status": 200, "body": {{ "v": {v} }}"#),
    )
}

/// How long a change may take to show.
const WITHIN: Duration = Duration::from_secs(10);

pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a flow file");
}

/// The status of `POST` on webhook `path`.
pub async fn status(s: &Served, path: &str) -> StatusCode {
    s.client.post(s.hook(path)).send().await.expect("an answer").status()
}

/// The report's entry for flow `id`.
fn entry<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["flows"]
        .as_array()
        .and_then(|flows| flows.iter().find(|f| f["id"] == id))
        .unwrap_or_else(|| panic!("no flow {id} in {report:#}"))
}

/// What one load client saw: the `v` of every answer in order, or what went wrong.
type Seen = Result<Vec<u64>, String>;

#[tokio::test]
async fn a_flow_rewritten_under_load_answers_every_request_with_the_old_or_the_new_version() {
    const CLIENTS: usize = 4;
    const MAX_REQUESTS: usize = 2_000;
    const MAX_TIME: Duration = Duration::from_secs(60);
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "target.json", &versioned("target", "/target", 0));
    write(flows.path(), "other.json", &versioned("other", "/other", 0));
    let s = Served::start(flows.path(), data.path(), &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (url, stop, answered) = (s.hook("/target"), stop.clone(), answered.clone());
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed)
                && seen.len() < MAX_REQUESTS
                && started.elapsed() < MAX_TIME
            {
                let r = client.post(&url).send().await.map_err(|e| format!("no answer: {e}"))?;
                let status = r.status();
                let body: Value = r.json().await.map_err(|e| format!("{status}: {e}"))?;
                if status != StatusCode::OK {
                    return Err(format!("{status}: {body}"));
                }
                seen.push(body["v"].as_u64().ok_or_else(|| format!("no version in {body}"))?);
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>(seen)
        }));
    }

    // Valid, broken, conflicting with `other`, valid again; each reload waited for, and each
    // change overlapping requests in flight.
    let mut serving = 0;
    let mut valid = vec![0];
    for step in 1..=16u32 {
        let (text, kind) = match step % 4 {
            1 | 0 => (versioned("target", "/target", step), "valid"),
            2 => (versioned("target", "/target", step)[..40].to_owned(), "broken"),
            _ => (versioned("target", "/other", step), "conflicting"),
        };
        write(flows.path(), "target.json", &text);
        let (code, report) = s.api(Method::POST, "/api/reload", None).await;
        assert_eq!(code, StatusCode::OK, "{report}");
        let target = entry(&report, "target");
        if kind == "valid" {
            serving = step;
            valid.push(step);
            assert!(
                ["changed", "unchanged"].contains(&target["status"].as_str().unwrap()),
                "{report:#}"
            );
        } else {
            assert_eq!(target["status"], "rejected", "{kind}: {report:#}");
            assert_eq!(target["serving_version"], target["previous_version"], "{report:#}");
            let codes: Vec<&str> = target["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["code"].as_str().unwrap())
                .collect();
            let expected = if kind == "broken" { "E001" } else { "E015" };
            assert!(codes.contains(&expected), "{kind}: {report:#}");
            if kind == "conflicting" {
                let message = target["diagnostics"][0]["message"].as_str().unwrap();
                assert!(message.contains("flow `other`"), "{message}");
            }
        }
        let body: Value =
            s.client.post(s.hook("/target")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["v"], serving, "after step {step} ({kind})");
        let mark = answered.load(Ordering::Relaxed);
        eventually("requests go on", WITHIN, || async {
            (answered.load(Ordering::Relaxed) >= mark + 4 * CLIENTS).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    for client in clients {
        let seen: Seen = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .expect("every client stops")
            .expect("a client task");
        let seen = seen.unwrap_or_else(|e| panic!("a request failed or hung: {e}"));
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "a client saw an older version after a newer one: {seen:?}"
        );
        for v in &seen {
            assert!(
                valid.iter().any(|x| u64::from(*x) == *v),
                "{v} is not a valid version ({valid:?})"
            );
        }
        total += seen.len();
    }
    assert!(total >= 16 * 4 * CLIENTS, "{total} requests");
    let body: Value = s.client.post(s.hook("/target")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["v"], *valid.last().unwrap());
    assert_eq!(status(&s, "/other").await, StatusCode::OK);
}

/// An upstream on loopback whose `GET /hold` answers once released: it says when a call arrives,
/// and holds it until `release` is sent (10 s at most).
async fn holding_upstream()
-> (String, tokio::sync::mpsc::Receiver<()>, tokio::sync::watch::Sender<bool>) {
    let (arrived, arrivals) = tokio::sync::mpsc::channel(8);
    let (release, released) = tokio::sync::watch::channel(false);
    let hold = axum::routing::get(move || {
        let (arrived, mut released) = (arrived.clone(), released.clone());
        async move {
            let _ = arrived.send(()).await;
            let _ = tokio::time::timeout(Duration::from_secs(10), released.wait_for(|r| *r)).await;
            "released"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, axum::Router::new().route("/hold", hold)).into_future());
    (base, arrivals, release)
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_the_version_it_started_with() {
    let (upstream, mut arrivals, release) = holding_upstream().await;
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Version 1 calls the upstream, which holds the call, then answers `{"v": 1}`.
    let held = format!(
        r#"{{ "id": "slow", "name": "slow", "nodes": [
          {{ "id": "hook", "type": "webhook", "suffix": "/slow", {NONE} }},
          {{ "id": "call", "type": "http_request", "url": "{upstream}/hold" }},
          {{ "id": "answer", "type": "respond", "status": 200, "body": {{ "v": 1 }} }} ],
          "edges": [ {{ "from": "hook", "to": "call" }}, {{ "from": "call", "to": "answer" }} ] }}"#
    );
    write(flows.path(), "slow.json", &held);
    let s = Served::start(flows.path(), data.path(), &["--no-watch", "--allow-private-network"]);

    let first = tokio::spawn(s.client.post(s.hook("/slow")).send());
    tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
        .await
        .expect("the first call reaches the upstream")
        .unwrap();
    // While it is held, version 2 replaces version 1, and serves the next call.
    let (code, report) =
        s.api(Method::PUT, "/api/flows/slow", Some(&versioned("slow", "/slow", 2))).await;
    assert_eq!(
        (code, entry(&report, "slow")["status"].as_str()),
        (StatusCode::OK, Some("changed"))
    );
    let body: Value = s.client.post(s.hook("/slow")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["v"], 2);
    // Released, the first call ends on version 1.
    release.send(true).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the first call answers")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({ "v": 1 }));
}

#[tokio::test]
async fn sighup_reloads_the_flows() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    let mut s = Served::start(flows.path(), data.path(), &["--no-watch"]);
    let (_, first) = s.api(Method::GET, "/api/reload/last", None).await;
    assert_eq!(
        (first["reload"].as_u64(), first["triggers"].clone()),
        (Some(1), json!(["startup"]))
    );

    write(flows.path(), "b.json", &versioned("b", "/b", 1));
    assert_eq!(status(&s, "/b").await, StatusCode::NOT_FOUND, "not watched: nothing reloads yet");
    s.process().hang_up();
    eventually("a reload after SIGHUP", WITHIN, || async {
        let (_, doc) = s.api(Method::GET, "/api/reload/last", None).await;
        (doc["reload"].as_u64() >= Some(2)).then_some(())
    })
    .await;
    let (_, last) = s.api(Method::GET, "/api/reload/last", None).await;
    assert_eq!(last["triggers"], json!(["signal"]), "{last:#}");
    assert_eq!(entry(&last, "b")["status"], "added");
    assert_eq!(entry(&last, "a")["status"], "unchanged");
    assert_eq!(last["outcome"], "applied");
    assert_eq!(status(&s, "/b").await, StatusCode::OK);
    s.process().wait_for_line("received SIGHUP");
}

#[tokio::test]
async fn the_watcher_reloads_a_changed_flow_file() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    // The watch starts before the listeners do.
    let s = Served::start(flows.path(), data.path(), &[]);
    write(flows.path(), "b.json", &versioned("b", "/b", 1));
    eventually("the new flow serves", WITHIN, || async {
        (status(&s, "/b").await == StatusCode::OK).then_some(())
    })
    .await;
    write(flows.path(), "a.json", &versioned("a", "/a", 2));
    eventually("the changed flow serves", WITHIN, || async {
        let r = s.client.post(s.hook("/a")).send().await.unwrap();
        (r.json::<Value>().await.unwrap()["v"] == 2).then_some(())
    })
    .await;
    let (_, last) = s.api(Method::GET, "/api/reload/last", None).await;
    assert!(last["triggers"].as_array().unwrap().contains(&json!("watch")), "{last:#}");
}

#[tokio::test]
async fn activation_is_kept_in_the_data_directory_and_survives_a_restart() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "on.json", &versioned("on", "/on", 1));
    let off = flow("off", false, &format!(r#""suffix": "/off", {NONE}"#), r#""status": 200"#);
    write(flows.path(), "off.json", &off);
    let files_before = (
        std::fs::read(flows.path().join("on.json")).unwrap(),
        std::fs::read(flows.path().join("off.json")).unwrap(),
    );
    let s = Served::start(flows.path(), data.path(), &[]);
    let (code, list) = s.api(Method::GET, "/api/flows", None).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let states: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("off", "inactive"), ("on", "active")]);
    let on = &list["items"][1];
    assert_eq!(on["routes"], json!([{ "method": "POST", "suffix": "/on", "url": s.hook("/on") }]));
    assert_eq!(
        (on["activation"].clone(), on["active_in_file"].clone()),
        (Value::Null, json!(true))
    );

    let (code, doc) = s.api(Method::POST, "/api/flows/on/deactivate", None).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    assert_eq!(
        (doc["flow"]["state"].as_str(), doc["flow"]["activation"].as_bool()),
        (Some("inactive"), Some(false))
    );
    assert_eq!(doc["reload"]["triggers"], json!(["deactivate"]));
    assert_eq!(entry(&doc["reload"], "on")["active"], false);
    assert_eq!(status(&s, "/on").await, StatusCode::NOT_FOUND);
    let (code, doc) = s.api(Method::POST, "/api/flows/off/activate", None).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    assert_eq!(doc["flow"]["state"], "active");
    assert_eq!(status(&s, "/off").await, StatusCode::OK);
    // Deactivating twice is the same as once.
    assert_eq!(s.api(Method::POST, "/api/flows/on/deactivate", None).await.0, StatusCode::OK);
    s.stop();

    let stored: Value =
        serde_json::from_slice(&std::fs::read(data.path().join("flow-activation.json")).unwrap())
            .unwrap();
    assert_eq!(stored, json!({ "active": { "off": true, "on": false } }));
    let s = Served::start(flows.path(), data.path(), &[]);
    assert_eq!(status(&s, "/on").await, StatusCode::NOT_FOUND);
    assert_eq!(status(&s, "/off").await, StatusCode::OK);
    let (_, doc) = s.api(Method::POST, "/api/flows/on/activate", None).await;
    assert_eq!(doc["flow"]["state"], "active");
    assert_eq!(status(&s, "/on").await, StatusCode::OK);
    let files_after = (
        std::fs::read(flows.path().join("on.json")).unwrap(),
        std::fs::read(flows.path().join("off.json")).unwrap(),
    );
    assert!(files_before == files_after, "the flow files are never edited");
}

#[tokio::test]
async fn flows_are_put_shown_validated_and_deleted_and_a_refused_put_writes_nothing() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    write(flows.path(), "b.json", &versioned("b", "/b", 1));
    let s = Served::start(flows.path(), data.path(), &["--no-watch"]);
    let path = |name: &str| flows.path().join(name);

    // A new flow: 201, written as sent, served at once.
    let c = versioned("c", "/c", 1);
    let (code, report) = s.api(Method::PUT, "/api/flows/c", Some(&c)).await;
    assert_eq!(code, StatusCode::CREATED, "{report}");
    assert_eq!(report["triggers"], json!(["put"]));
    assert_eq!(entry(&report, "c")["status"], "added");
    assert_eq!(std::fs::read_to_string(path("c.json")).unwrap(), c);
    assert_eq!(status(&s, "/c").await, StatusCode::OK);
    // An update of an existing flow: 200.
    let (code, report) = s.api(Method::PUT, "/api/flows/c", Some(&versioned("c", "/c", 2))).await;
    assert_eq!((code, entry(&report, "c")["status"].as_str()), (StatusCode::OK, Some("changed")));

    let (code, shown) = s.api(Method::GET, "/api/flows/c", None).await;
    assert_eq!(code, StatusCode::OK, "{shown}");
    assert_eq!(shown["document"], serde_json::from_str::<Value>(&versioned("c", "/c", 2)).unwrap());
    assert_eq!(shown["file"], path("c.json").display().to_string());
    assert_eq!(shown["state"], "active");

    // Refused: nothing is written, the serving version goes on.
    let b_text = std::fs::read_to_string(path("b.json")).unwrap();
    for (id, body, expected, needle) in [
        ("b", versioned("b", "/a", 2), StatusCode::CONFLICT, "flow `a`"),
        ("d", versioned("d", "/a", 1), StatusCode::CONFLICT, "flow `a`"),
        ("b", versioned("b", "/b x", 2), StatusCode::UNPROCESSABLE_ENTITY, "nothing was written"),
        ("b", versioned("x", "/b", 2), StatusCode::UNPROCESSABLE_ENTITY, "`x`"),
        ("b", "{\"id\": \"b\",\n \"name\": ".into(), StatusCode::BAD_REQUEST, "line 2 column 9"),
        ("b", "[1, 2]".into(), StatusCode::UNPROCESSABLE_ENTITY, "no string `id`"),
        (
            "bad%20id",
            versioned("bad id", "/b", 2),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a valid flow id",
        ),
    ] {
        let (code, problem) = s.api(Method::PUT, &format!("/api/flows/{id}"), Some(&body)).await;
        assert_eq!(code, expected, "{id}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(needle), "{needle} in {problem}");
        if code == StatusCode::CONFLICT {
            let diagnostic = &problem["diagnostics"][0];
            assert_eq!(diagnostic["code"], "E015", "{problem}");
            assert!(
                diagnostic["related"][0]["location"]["file"].as_str().unwrap().ends_with("a.json")
            );
        }
    }
    assert_eq!(std::fs::read_to_string(path("b.json")).unwrap(), b_text);
    assert!(!path("d.json").exists());
    let names: Vec<String> = std::fs::read_dir(flows.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    assert_eq!(status(&s, "/b").await, StatusCode::OK);

    // `<id>.json` holding another flow is not overwritten.
    write(flows.path(), "e.json", &versioned("f", "/f", 1));
    let (code, problem) = s.api(Method::PUT, "/api/flows/e", Some(&versioned("e", "/e", 1))).await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("holds flow `f`"), "{problem}");

    // A flow may be called `validate`, though `POST /api/flows/validate` validates.
    let (code, _) =
        s.api(Method::PUT, "/api/flows/validate", Some(&versioned("validate", "/v", 1))).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, shown) = s.api(Method::GET, "/api/flows/validate", None).await;
    assert_eq!((code, shown["id"].as_str()), (StatusCode::OK, Some("validate")));
    assert_eq!(s.api(Method::DELETE, "/api/flows/validate", None).await.0, StatusCode::OK);

    // Delete: the file goes, and the flow's activation entry; the route answers 404.
    assert_eq!(s.api(Method::POST, "/api/flows/c/deactivate", None).await.0, StatusCode::OK);
    let activation = || std::fs::read_to_string(data.path().join("flow-activation.json")).unwrap();
    assert!(activation().contains("\"c\": false"), "{}", activation());
    let (code, report) = s.api(Method::DELETE, "/api/flows/c", None).await;
    assert_eq!(code, StatusCode::OK, "{report}");
    assert_eq!(entry(&report, "c")["status"], "removed");
    assert!(!path("c.json").exists());
    assert!(!activation().contains("\"c\""), "{}", activation());
    assert_eq!(status(&s, "/c").await, StatusCode::NOT_FOUND);
    // Put back, it is active as its file says: the entry went with it.
    let (code, _) = s.api(Method::PUT, "/api/flows/c", Some(&versioned("c", "/c", 3))).await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(status(&s, "/c").await, StatusCode::OK);
    assert_eq!(s.api(Method::DELETE, "/api/flows/c", None).await.0, StatusCode::OK);

    // A flow whose file became invalid keeps serving and shows why.
    write(flows.path(), "a.json", "{ \"id\": \"a\" }");
    let (_, report) = s.api(Method::POST, "/api/reload", None).await;
    assert_eq!(report["outcome"], "failed", "nothing else changed: {report:#}");
    let (_, a) = s.api(Method::GET, "/api/flows/a", None).await;
    assert_eq!(a["state"], "active");
    assert_eq!(a["rejected"]["diagnostics"][0]["code"], "E004", "{a:#}");
    assert_eq!(status(&s, "/a").await, StatusCode::OK);
}

#[tokio::test]
async fn every_flows_api_error_is_a_problem() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    let s = Served::start(flows.path(), data.path(), &["--no-watch"]);
    for (method, path) in [
        (Method::GET, "/api/flows"),
        (Method::GET, "/api/flows/a"),
        (Method::PUT, "/api/flows/a"),
        (Method::DELETE, "/api/flows/a"),
        (Method::POST, "/api/flows/validate"),
        (Method::POST, "/api/flows/a/activate"),
        (Method::POST, "/api/flows/a/deactivate"),
        (Method::POST, "/api/reload"),
        (Method::GET, "/api/reload/last"),
    ] {
        let r =
            s.client.request(method.clone(), format!("{}{path}", s.admin)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = s.client.get(format!("{}/api/flows", s.admin)).bearer_auth("not the token");
    assert_eq!(problem(r).await.0, StatusCode::UNAUTHORIZED);
    for (method, path) in [
        (Method::GET, "/api/flows/nope"),
        (Method::DELETE, "/api/flows/nope"),
        (Method::POST, "/api/flows/nope/activate"),
        (Method::POST, "/api/flows/nope/deactivate"),
    ] {
        let (code, problem) = s.api(method.clone(), path, None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        assert_eq!(problem["detail"], "There is no flow `nope`.");
    }
    for (method, path) in [
        (Method::POST, "/api/flows"),
        (Method::DELETE, "/api/flows"),
        (Method::POST, "/api/flows/a"),
        (Method::GET, "/api/flows/a/activate"),
        (Method::PUT, "/api/flows/a/deactivate"),
        (Method::GET, "/api/reload"),
        (Method::POST, "/api/reload/last"),
    ] {
        let (code, problem) = s.api(method.clone(), path, None).await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {problem}");
    }
    let (code, doc) = s.api(Method::GET, "/api/flows/%FF", None).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{doc}");
    assert_eq!(doc["detail"], "Invalid URL: Invalid UTF-8 in `id`.");
    let bodies = [(Method::PUT, "/api/flows/a"), (Method::POST, "/api/flows/validate")];
    for (method, path) in bodies.clone() {
        let r = s.client.request(method, format!("{}{path}", s.admin));
        let (code, doc) = problem(r.bearer_auth(ADMIN_TOKEN).body(vec![0xff, 0xfe])).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {doc}");
        assert!(doc["detail"].as_str().unwrap().starts_with("The body is not UTF-8 text"));
    }
    // Over the body limit; a client of its own, since the server closes the connection.
    let huge = "x".repeat(2 * 1024 * 1024 + 1);
    for (method, path) in bodies {
        let r = reqwest::Client::new().request(method, format!("{}{path}", s.admin));
        let (code, doc) = problem(r.bearer_auth(ADMIN_TOKEN).body(huge.clone())).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {doc}");
    }
    assert_eq!(status(&s, "/a").await, StatusCode::OK, "nothing changed");
}

#[tokio::test]
async fn a_new_flow_cannot_be_put_beside_a_flows_path_that_is_one_file() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    let s = Served::start(&flows.path().join("a.json"), data.path(), &["--no-watch"]);
    let (code, problem) = s.api(Method::PUT, "/api/flows/b", Some(&versioned("b", "/b", 1))).await;
    assert_eq!(code, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("is one file, so a new flow cannot be added beside it"), "{detail}");
    assert!(!flows.path().join("b.json").exists());
    // The flow it serves can be replaced.
    let (code, report) = s.api(Method::PUT, "/api/flows/a", Some(&versioned("a", "/a", 2))).await;
    assert_eq!((code, entry(&report, "a")["status"].as_str()), (StatusCode::OK, Some("changed")));
}

#[tokio::test]
async fn validate_answers_the_same_diagnostics_as_the_cli() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let s = Served::start(flows.path(), data.path(), &["--no-watch"]);
    let good = versioned("good", "/good", 1);
    let (code, doc) = s.api(Method::POST, "/api/flows/validate", Some(&good)).await;
    assert_eq!(code, StatusCode::OK, "{doc}");
    assert_eq!((doc["errors"].as_u64(), doc["diagnostics"].clone()), (Some(0), json!([])));
    assert!(!flows.path().join("good.json").exists(), "validate saves nothing");

    // Every invalid fixture, as a draft and as the file `hookflow validate` reads: the one a PUT
    // would write (`<id>.json`, or `draft.json` without a valid id).
    let mut fixtures: Vec<_> = std::fs::read_dir(crate::root().join("tests/fixtures/invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 5, "{fixtures:?}");
    for fixture in fixtures {
        let draft = std::fs::read_to_string(&fixture).unwrap();
        let (code, problem) = s.api(Method::POST, "/api/flows/validate", Some(&draft)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{}: {problem}", fixture.display());
        let id = serde_json::from_str::<Value>(&draft)
            .ok()
            .and_then(|doc| doc["id"].as_str().map(str::to_owned))
            .filter(|id| is_flow_id(id))
            .unwrap_or_else(|| "draft".to_owned());
        let file = flows.path().join(format!("{id}.json"));
        std::fs::write(&file, &draft).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .args(["validate", "--format", "json"])
            .arg(&file)
            .output()
            .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", fixture.display());
        let cli: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(!cli["diagnostics"].as_array().unwrap().is_empty(), "{cli:#}");
        assert_eq!(problem["diagnostics"], cli["diagnostics"], "{}", fixture.display());
        assert_eq!(
            (problem["errors"].clone(), problem["warnings"].clone()),
            (cli["errors"].clone(), cli["warnings"].clone()),
            "{}",
            fixture.display()
        );
    }
}

#[tokio::test]
async fn a_flow_added_through_the_api_gets_its_missing_credential() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut s = Served::start(flows.path(), data.path(), &["--no-watch"]);
    let keyed = flow(
        "keyed",
        true,
        r#""suffix": "/keyed", "auth": { "type": "api_key", "credential": "partner" }"#,
        r#""status": 200"#,
    );
    let (code, report) = s.api(Method::PUT, "/api/flows/keyed", Some(&keyed)).await;
    assert_eq!(code, StatusCode::CREATED, "{report}");
    assert_eq!(report["credentials_created"], json!(["partner"]));
    let created = s.process().wait_for_stdout("created api_key credential `partner` for POST");
    assert!(created.contains(&s.hook("/keyed")), "{created}");
    let secret =
        s.process().wait_for_stdout("secret:").split_whitespace().last().unwrap().to_owned();
    assert!(!report.to_string().contains(&secret), "the report never shows a secret");
    assert_eq!(status(&s, "/keyed").await, StatusCode::UNAUTHORIZED);
    let r = s.client.post(s.hook("/keyed")).header("x-api-key", &secret).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

//! Operating a running `hookflow serve`, over real sockets against the real binary: the open
//! probes and metrics (and the token everything else under `/api` still needs), readiness, request
//! metrics by flow, route and status, the credentials API as the webhook routes see it, and the
//! node-types API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookflow_core::{Severity, Source, compile};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{ADMIN_TOKEN, Served, eventually, flow, problem};

const NONE: &str = r#""auth": { "type": "none" }"#;

/// The test flows: `echo` (200), `created` (201), and `guarded`, which needs the API key of
/// credential `partner`.
fn flows() -> Vec<(&'static str, String)> {
    vec![
        (
            "echo.json",
            flow("echo", true, &format!(r#""suffix": "/echo", {NONE}"#), r#""status": 200"#),
        ),
        (
            "created.json",
            flow("created", true, &format!(r#""suffix": "/created", {NONE}"#), r#""status": 201"#),
        ),
        (
            "guarded.json",
            flow(
                "guarded",
                true,
                r#""suffix": "/guarded", "auth": { "type": "api_key", "credential": "partner" }"#,
                r#""status": 200"#,
            ),
        ),
    ]
}

/// The secret `serve` printed when it created a credential the flows name.
fn printed_secret(s: &mut Served) -> String {
    let line = s.process().wait_for_stdout("secret:");
    line.rsplit(' ').next().expect("a secret").to_owned()
}

/// `method path` on the webhook listener with an optional API key; the status.
async fn call(s: &Served, method: Method, path: &str, key: Option<&str>) -> StatusCode {
    let mut request = s.client.request(method, s.hook(path));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.json(&json!({})).send().await.unwrap().status()
}

/// Every sample of a Prometheus text exposition, by `name{labels}` as written.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn probes_metrics_and_the_document_are_open_and_the_api_is_not() {
    let s = Served::with_flows(&flows(), &[]);
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        let (status, _, text) = s.open(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        let (status, doc) = problem(s.client.post(format!("{}{path}", s.admin))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "POST {path}: {doc}");
    }
    for path in ["/api/credentials", "/api/node-types", "/api/node-types/map", "/api/executions"] {
        let r = s.client.get(format!("{}{path}", s.admin)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    for (method, path) in [
        (Method::POST, "/api/credentials"),
        (Method::POST, "/api/credentials/partner/rotate"),
        (Method::DELETE, "/api/credentials/partner"),
    ] {
        let (status, doc) =
            problem(s.client.request(method.clone(), format!("{}{path}", s.admin))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {doc}");
    }
}

/// `GET /readyz` of the server at `admin`: the status and the JSON answer.
async fn readyz(admin: &str) -> (StatusCode, Value) {
    let r = reqwest::get(format!("{admin}/readyz")).await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn ready_once_the_flows_are_loaded_whatever_they_hold() {
    let s = Served::with_flows(&flows(), &[]);
    let (status, content_type, text) = s.open("/readyz").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc, json!({ "status": "ready", "flows": 3 }));
    drop(s);

    // No flow at all, or only a rejected one: loaded all the same.
    let empty = Served::with_flows(&[], &[]);
    assert_eq!(
        readyz(&empty.admin).await,
        (StatusCode::OK, json!({ "status": "ready", "flows": 0 }))
    );
    drop(empty);
    let rejected = Served::with_flows(&[("broken.json", "{ \"id\": \"broken\" }".to_owned())], &[]);
    assert_eq!(
        readyz(&rejected.admin).await,
        (StatusCode::OK, json!({ "status": "ready", "flows": 0 }))
    );
    drop(rejected);

    // A flows directory that cannot be read: nothing is loaded, so not ready, but alive.
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    let s = Served::start(&flows, data.path(), &[]);
    let (status, doc) = problem(s.client.get(format!("{}/readyz", s.admin))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
    let reason = format!(
        "the flows have not been loaded yet; the last reload failed: The flows path {} does not exist",
        flows.display()
    );
    assert_eq!(doc["reasons"], json!([reason]));
    assert_eq!(doc["detail"], format!("Not ready: {reason}."));
    let healthz = s.client.get(format!("{}/healthz", s.admin)).send().await.unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    // Once the directory is there and reloaded, it is.
    std::fs::create_dir(&flows).unwrap();
    let echo = flow("echo", true, &format!(r#""suffix": "/echo", {NONE}"#), r#""status": 200"#);
    std::fs::write(flows.join("echo.json"), echo).unwrap();
    let (status, report) = s.api(Method::POST, "/api/reload", None).await;
    assert_eq!((status, report["outcome"].as_str()), (StatusCode::OK, Some("applied")));
    assert_eq!(readyz(&s.admin).await, (StatusCode::OK, json!({ "status": "ready", "flows": 1 })));
    // A reload that fails later leaves the flows that serve, and readiness, in place.
    std::fs::remove_file(flows.join("echo.json")).unwrap();
    std::fs::remove_dir(&flows).unwrap();
    let (_, report) = s.api(Method::POST, "/api/reload", None).await;
    assert_eq!(report["outcome"], "failed", "{report}");
    assert_eq!(readyz(&s.admin).await, (StatusCode::OK, json!({ "status": "ready", "flows": 1 })));
}

#[tokio::test]
async fn metrics_count_calls_by_flow_route_and_status() {
    let s = Served::with_flows(&flows(), &[]);
    for _ in 0..3 {
        assert_eq!(call(&s, Method::POST, "/echo", None).await, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(call(&s, Method::POST, "/created", None).await, StatusCode::CREATED);
        assert_eq!(call(&s, Method::POST, "/nowhere", None).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(call(&s, Method::POST, "/guarded", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s, Method::GET, "/echo", None).await, StatusCode::METHOD_NOT_ALLOWED);
    let status_url = "/_executions/01900000-0000-7000-8000-000000000000";
    assert_eq!(call(&s, Method::GET, status_url, None).await, StatusCode::NOT_FOUND);

    let (status, content_type, text) = s.open("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let samples = samples(&text);
    let requests = |labels: &str| samples.get(&format!("hookflow_requests_total{{{labels}}}"));
    assert_eq!(requests(r#"flow="echo",route="POST /echo",status="200""#), Some(&3.0), "{text}");
    assert_eq!(requests(r#"flow="created",route="POST /created",status="201""#), Some(&2.0));
    assert_eq!(requests(r#"flow="guarded",route="POST /guarded",status="401""#), Some(&1.0));
    assert_eq!(requests(r#"flow="",route="",status="404""#), Some(&2.0), "{text}");
    assert_eq!(requests(r#"flow="",route="",status="405""#), Some(&1.0));
    let checks = r#"flow="",route="GET /_executions/{id}",status="404""#;
    assert_eq!(requests(checks), Some(&1.0));
    let total: f64 = samples
        .iter()
        .filter(|(series, _)| series.starts_with("hookflow_requests_total{"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 10.0, "every call counted once: {text}");

    let duration = "hookflow_execution_duration_seconds";
    assert!(text.contains(&format!("# TYPE {duration} histogram")), "{text}");
    for (flow, n) in [("echo", 3.0), ("created", 2.0), ("guarded", 1.0)] {
        assert_eq!(
            samples.get(&format!(r#"{duration}_count{{flow="{flow}"}}"#)),
            Some(&n),
            "{flow}"
        );
        let inf = format!(r#"{duration}_bucket{{flow="{flow}",le="+Inf"}}"#);
        assert_eq!(samples.get(&inf), Some(&n), "{flow}: {text}");
    }
    assert!(!samples.contains_key(&format!(r#"{duration}_count{{flow=""}}"#)), "{text}");
    for name in ["hookflow_requests_total", duration, "hookflow_reloads_total"] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }

    // Reloads by outcome: the start-up load, then one through the API.
    let reloads = r#"hookflow_reloads_total{outcome="applied"}"#;
    assert_eq!(samples.get(reloads), Some(&1.0), "{text}");
    let (status, report) = s.api(Method::POST, "/api/reload", None).await;
    assert_eq!((status, report["outcome"].as_str()), (StatusCode::OK, Some("applied")));
    let (_, _, text) = s.open("/metrics").await;
    assert_eq!(self::samples(&text).get(reloads), Some(&2.0), "{text}");
}

#[tokio::test]
async fn metrics_count_executions_by_flow_and_status_however_they_start() {
    let queued = flow(
        "queued",
        true,
        &format!(r#""suffix": "/queued", {NONE}, "response": {{ "mode": "accepted" }}"#),
        r#""status": 201"#,
    );
    let fails = flow(
        "fails",
        true,
        &format!(r#""suffix": "/fails", {NONE}"#),
        r#""status": 200, "status_override": "$.request.body.status""#,
    );
    let mut flows = flows();
    flows.extend([("queued.json", queued), ("fails.json", fails)]);
    let s = Served::with_flows(&flows, &[]);
    for _ in 0..2 {
        assert_eq!(call(&s, Method::POST, "/echo", None).await, StatusCode::OK);
    }
    assert_eq!(call(&s, Method::POST, "/queued", None).await, StatusCode::ACCEPTED);
    let failing = s.client.post(s.hook("/fails")).json(&json!({ "status": "no" })).send().await;
    assert_eq!(failing.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
    // Refused before any node ran: no execution.
    assert_eq!(call(&s, Method::POST, "/guarded", None).await, StatusCode::UNAUTHORIZED);

    let executions = |flow: &str, status: &str| {
        format!(r#"hookflow_executions_total{{flow="{flow}",status="{status}"}}"#)
    };
    // The accepted call runs after its 202: wait for it to be counted.
    let text = eventually("the accepted run is counted", Duration::from_secs(5), || async {
        let (_, _, text) = s.open("/metrics").await;
        text.contains(&executions("queued", "succeeded")).then_some(text)
    })
    .await;
    assert!(text.contains("# HELP hookflow_executions_total "), "{text}");
    let samples = samples(&text);
    assert_eq!(samples.get(&executions("echo", "succeeded")), Some(&2.0));
    assert_eq!(samples.get(&executions("queued", "succeeded")), Some(&1.0));
    assert_eq!(samples.get(&executions("fails", "failed")), Some(&1.0));
    assert_eq!(samples.get(&executions("fails", "succeeded")), None);
    assert_eq!(samples.get(&executions("guarded", "succeeded")), None, "a refused call");
    assert_eq!(samples.get(&executions("guarded", "failed")), None, "a refused call");
}

#[tokio::test]
async fn credentials_are_managed_over_the_api_and_apply_at_once() {
    let mut s = Served::with_flows(&flows(), &[]);
    let started_with = printed_secret(&mut s);
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&started_with)).await, StatusCode::OK);

    let (status, doc) = s.api(Method::GET, "/api/credentials", None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc}");
    assert_eq!((&items[0]["name"], &items[0]["type"]), (&json!("partner"), &json!("api_key")));
    assert_eq!(items[0]["active_secrets"], 1);
    assert!(items[0]["created_at"].as_str().unwrap().ends_with('Z'), "{doc}");
    assert!(!doc.to_string().contains(&started_with), "a listing never shows a secret");

    // A deleted key is refused at once.
    let (status, doc) = s.api(Method::DELETE, "/api/credentials/partner", None).await;
    assert_eq!((status, doc), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        call(&s, Method::POST, "/guarded", Some(&started_with)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, doc) = s.api(Method::DELETE, "/api/credentials/partner", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(doc["detail"], "There is no credential `partner`.");

    // A created key works at once; its secret is shown in the 201 only.
    let new = json!({ "name": "partner", "type": "api_key" });
    let (status, created) = s.api(Method::POST, "/api/credentials", Some(&new.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let first = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 43, "{created}");
    assert_eq!(created, json!({ "name": "partner", "type": "api_key", "secret": first }));
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&first)).await, StatusCode::OK);
    assert_eq!(
        call(&s, Method::POST, "/guarded", Some(&started_with)).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, doc) = s.api(Method::POST, "/api/credentials", Some(&new.to_string())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(doc["detail"], "a credential named `partner` already exists.");
    let (_, listed) = s.api(Method::GET, "/api/credentials", None).await;
    assert!(!listed.to_string().contains(&first), "{listed}");

    // A rotation with a grace window: both work, then only the new one.
    let rotated_at = Instant::now();
    let grace = json!({ "grace_seconds": 2 });
    let (status, rotated) =
        s.api(Method::POST, "/api/credentials/partner/rotate", Some(&grace.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(rotated["previous_valid_until"].as_str().unwrap().ends_with('Z'), "{rotated}");
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&first)).await, StatusCode::OK);
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&second)).await, StatusCode::OK);
    let (_, listed) = s.api(Method::GET, "/api/credentials", None).await;
    assert_eq!(listed["items"][0]["active_secrets"], 2, "{listed}");
    eventually("the old key is refused", Duration::from_secs(15), || async {
        (call(&s, Method::POST, "/guarded", Some(&first)).await != StatusCode::OK).then_some(())
    })
    .await;
    assert!(rotated_at.elapsed() >= Duration::from_secs(2), "refused within the grace window");
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&second)).await, StatusCode::OK);

    // A rotation without a body ends the old key at once.
    let (status, rotated) = s.api(Method::POST, "/api/credentials/partner/rotate", None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["previous_valid_until"], Value::Null);
    let third = rotated["secret"].as_str().unwrap();
    assert_eq!(call(&s, Method::POST, "/guarded", Some(&second)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s, Method::POST, "/guarded", Some(third)).await, StatusCode::OK);
    let (status, _) = s.api(Method::POST, "/api/credentials/ghost/rotate", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A basic credential with its username.
    let basic = json!({ "name": "erp-basic", "type": "basic", "username": "erp-bot" });
    let (status, doc) = s.api(Method::POST, "/api/credentials", Some(&basic.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["username"], "erp-bot");
    let (_, listed) = s.api(Method::GET, "/api/credentials", None).await;
    assert_eq!(listed["items"][0]["username"], "erp-bot", "{listed}");
}

#[tokio::test]
async fn bad_credential_requests_say_what_is_wrong() {
    let s = Served::with_flows(&flows(), &[]);
    for (body, pointer, says) in [
        (json!({ "name": "a b", "type": "api_key" }), "/name", "invalid credential name `a b`"),
        (json!({ "name": "ci", "type": "oauth" }), "/type", "unknown credential kind `oauth`"),
        (
            json!({ "name": "ci", "type": "basic" }),
            "/username",
            "a basic credential needs a username",
        ),
        (
            json!({ "name": "ci", "type": "bearer", "username": "u" }),
            "/username",
            "a bearer credential has no username",
        ),
        (json!({ "type": "bearer" }), "", "missing field `name`"),
        (
            json!({ "name": "ci", "type": "bearer", "secret": "x" }),
            "/secret",
            "only hmac credentials take a given secret",
        ),
        (
            json!({ "name": "ci", "type": "bearer", "password": "x" }),
            "/password",
            "unknown field `password`",
        ),
        (json!({ "name": 7, "type": "bearer" }), "/name", "invalid type: integer `7`"),
        (json!(["ci"]), "", "expected a JSON object"),
    ] {
        let (status, doc) = s.api(Method::POST, "/api/credentials", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {doc}");
        assert_eq!(doc["pointer"], pointer, "{body}: {doc}");
        assert!(doc["detail"].as_str().unwrap().contains(says), "{body}: {doc}");
    }
    let r = s
        .client
        .post(format!("{}/api/credentials", s.admin))
        .bearer_auth(ADMIN_TOKEN)
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["detail"].as_str().unwrap().contains("line 1 column 9"), "{doc}");
    let grace = json!({ "grace_seconds": -1 });
    let (status, doc) =
        s.api(Method::POST, "/api/credentials/partner/rotate", Some(&grace.to_string())).await;
    assert_eq!(
        (status, &doc["pointer"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("/grace_seconds"))
    );
    let r = s
        .client
        .post(format!("{}/api/credentials/partner/rotate", s.admin))
        .bearer_auth(ADMIN_TOKEN);
    let (status, doc) = problem(r.body("{\"grace_seconds\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    for (method, path) in [
        (Method::PUT, "/api/credentials"),
        (Method::GET, "/api/credentials/partner"),
        (Method::POST, "/api/credentials/partner"),
        (Method::GET, "/api/credentials/partner/rotate"),
    ] {
        let (status, _) = s.api(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let (status, doc) = s.api(Method::DELETE, "/api/credentials/%FF", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    assert_eq!(doc["detail"], "Invalid URL: Invalid UTF-8 in `name`.");
    // Over the admin API's body limit; a client of its own, since the connection is closed.
    let over = vec![b' '; 2 * 1024 * 1024 + 1];
    for path in ["/api/credentials", "/api/credentials/partner/rotate"] {
        let r = reqwest::Client::new().post(format!("{}{path}", s.admin)).bearer_auth(ADMIN_TOKEN);
        let (status, doc) = problem(r.body(over.clone())).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {doc}");
        let detail = "The request body is larger than the admin API's limit of 2097152 bytes.";
        assert_eq!(doc["detail"], detail);
    }
    let (_, listed) = s.api(Method::GET, "/api/credentials", None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "nothing was created: {listed}");
    let rotations = listed["items"][0]["active_secrets"].clone();
    assert_eq!(rotations, 1, "nothing was rotated: {listed}");
}

/// A flow around `node`: the node itself when it is the trigger (with a `respond` after it, or
/// a `map` after an `event` trigger, which has no caller to answer), else a trigger and an edge
/// to it.
fn flow_around(node: &Value, role: &str) -> Value {
    let id = node["id"].clone();
    let (nodes, edges) = if role == "trigger" {
        let answer = if node["type"] == "event" {
            json!({ "id": "answer", "type": "map", "fields": { "seen": { "value": true } } })
        } else {
            json!({ "id": "answer", "type": "respond" })
        };
        (json!([node, answer]), json!([{ "from": id, "to": "answer" }]))
    } else {
        let hook =
            json!({ "id": "hook", "type": "webhook", "suffix": "/x", "auth": { "type": "none" } });
        (json!([hook, node]), json!([{ "from": "hook", "to": id }]))
    };
    json!({ "id": "example", "name": "Example", "nodes": nodes, "edges": edges })
}

#[tokio::test]
async fn node_types_come_with_a_schema_their_example_meets() {
    let s = Served::with_flows(&flows(), &[]);
    let (status, doc) = s.api(Method::GET, "/api/node-types", None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    let items = doc["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let registry: Vec<&str> = hookflow_core::nodes::NODE_TYPES.iter().map(|t| t.name).collect();
    assert_eq!(names, registry);
    let flow_schema = jsonschema::draft202012::new(&hookflow_core::schema::flow_schema()).unwrap();
    for t in items {
        let name = t["name"].as_str().unwrap();
        assert!(!t["doc"].as_str().unwrap().is_empty(), "{name}");
        let schema = jsonschema::draft202012::new(&t["schema"])
            .unwrap_or_else(|e| panic!("{name}: not a 2020-12 schema: {e}"));
        let errors: Vec<String> =
            schema.iter_errors(&t["example"]).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        let broken = json!({ "id": "n", "type": name, "no_such_field": 1 });
        assert!(!schema.is_valid(&broken), "{name} refuses unknown fields");

        let flow = flow_around(&t["example"], t["role"].as_str().unwrap());
        assert!(flow_schema.is_valid(&flow), "{name}: {flow}");
        let compiled = compile(&Source { file: format!("{name}.json"), text: flow.to_string() });
        let errors: Vec<_> =
            compiled.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect();
        assert!(errors.is_empty() && compiled.plan.is_some(), "{name}: {errors:#?}");

        let (status, one) = s.api(Method::GET, &format!("/api/node-types/{name}"), None).await;
        assert_eq!((status, &one), (StatusCode::OK, t));
    }
    let (status, doc) = s.api(Method::GET, "/api/node-types/mapp", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(doc["detail"], "There is no node type `mapp`; `GET /api/node-types` lists them.");
    let (status, doc) = s.api(Method::GET, "/api/node-types/%FF", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
    assert_eq!(doc["detail"], "Invalid URL: Invalid UTF-8 in `type`.");
    for (method, path) in
        [(Method::POST, "/api/node-types"), (Method::DELETE, "/api/node-types/map")]
    {
        let (status, _) = s.api(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    let r = s.client.get(format!("{}/api/node-types/map", s.admin)).bearer_auth("not the token");
    assert_eq!(problem(r).await.0, StatusCode::UNAUTHORIZED);
}

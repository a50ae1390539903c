//! `hookflow serve` over real sockets: one test per row of the status table, every example flow's
//! first case over HTTP, and the real binary answering one request.

use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{BASIC_USER, Harness, ServeProcess, flow};
use crate::root;
use hookflow_core::cases::CasesFile;

const NONE: &str = r#""auth": { "type": "none" }"#;

/// Flows for the status rows: the status comes from the configuration or the `status` query.
fn status_flows() -> Vec<(String, String)> {
    let mut flows = Vec::new();
    for status in [200, 201, 202, 204] {
        flows.push((
            format!("s{status}.json"),
            flow(
                &format!("s{status}"),
                true,
                &format!(r#""suffix": "/s/{status}", "methods": ["POST", "GET"], {NONE}"#),
                &format!(
                    r#""status": {status}, "status_override": "$.request.query.status",
                       "headers": {{ "X-Flow": "s{status}" }},
                       "body": {{ "status": {status}, "got": "$.request.body" }}"#
                ),
            ),
        ));
    }
    // Flows that read the request's headers: by a path, by a template, with the whole request.
    for (id, respond) in [
        ("hdr-path", r#""status": 200, "body": { "source": "$.request.headers['x-source']" }"#),
        (
            "hdr-template",
            r#""status": 200, "body": { "source": "{{request.headers.[x-source]}}" }"#,
        ),
        ("hdr-whole", r#""status": 200, "body": { "source": "$.request" }"#),
    ] {
        flows.push((
            format!("{id}.json"),
            flow(id, true, &format!(r#""suffix": "/{id}", {NONE}"#), respond),
        ));
    }
    flows.push((
        "inactive.json".into(),
        flow("inactive", false, &format!(r#""suffix": "/inactive", {NONE}"#), r#""status": 200"#),
    ));
    flows.push((
        "small.json".into(),
        flow(
            "small",
            true,
            &format!(r#""suffix": "/small", "max_body_bytes": 16, {NONE}"#),
            r#""status": 200"#,
        ),
    ));
    for (id, auth) in [
        ("key-header", r#"{ "type": "api_key", "credential": "k-header" }"#),
        ("key-query", r#"{ "type": "api_key", "in": "query", "credential": "k-query" }"#),
        ("bearer", r#"{ "type": "bearer", "credential": "tok" }"#),
        ("basic", r#"{ "type": "basic", "credential": "pw" }"#),
    ] {
        flows.push((
            format!("{id}.json"),
            flow(
                id,
                true,
                &format!(r#""suffix": "/auth/{id}", "auth": {auth}"#),
                r#""status": 200, "body": { "ok": true }"#,
            ),
        ));
    }
    flows
}

async fn harness() -> Harness {
    let flows = status_flows();
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Harness::with_flows(&refs).await
}

fn execution_id(r: &reqwest::Response) -> String {
    let id = r
        .headers()
        .get("x-hookflow-execution-id")
        .and_then(|v| v.to_str().ok())
        .expect("every response has X-Hookflow-Execution-Id")
        .to_owned();
    let parsed = uuid::Uuid::parse_str(&id).expect("a uuid");
    assert_eq!(parsed.get_version_num(), 7, "{id}");
    id
}

/// Asserts a problem+json response with `status` that names its execution id; returns the doc.
async fn problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    let id = execution_id(&r);
    assert_eq!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let doc: Value = r.json().await.expect("a JSON problem");
    assert_eq!(doc["status"], status, "{doc}");
    assert_eq!(doc["execution_id"], id.as_str(), "{doc}");
    doc
}

#[tokio::test]
async fn configured_statuses_200_201_202() {
    let h = harness().await;
    for status in [200u16, 201, 202] {
        let r = h
            .client
            .post(h.url(&format!("/hooks/s/{status}")))
            .json(&json!({"a": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        execution_id(&r);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["x-flow"], format!("s{status}").as_str());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"status": status, "got": {"a": 1}}));
    }
}

#[tokio::test]
async fn a_flow_that_reads_the_headers_gets_them() {
    let h = harness().await;
    for id in ["hdr-path", "hdr-template", "hdr-whole"] {
        let r = h.client.post(h.url(&format!("/hooks/{id}"))).header("X-Source", "erp");
        let body: Value = r.send().await.unwrap().json().await.unwrap();
        let source = match id {
            "hdr-whole" => &body["source"]["headers"]["x-source"],
            _ => &body["source"],
        };
        assert_eq!(source, "erp", "{id}: {body}");
    }
}

#[tokio::test]
async fn status_204_has_no_body() {
    let h = harness().await;
    let r = h.client.post(h.url("/hooks/s/204")).json(&json!({"a": 1})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    execution_id(&r);
    assert!(r.headers().get("content-type").is_none());
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn status_override_from_the_request_wins() {
    let h = harness().await;
    let r = h.client.post(h.url("/hooks/s/200?status=201")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": 200, "got": null}));
}

#[tokio::test]
async fn head_is_served_by_get_without_a_body() {
    let h = harness().await;
    let r = h.client.head(h.url("/hooks/s/200")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    execution_id(&r);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn failing_flow_is_500_problem_with_execution_id() {
    let h = harness().await;
    let r = h.client.post(h.url("/hooks/s/200?status=soon")).send().await.unwrap();
    let doc = problem(r, 500).await;
    assert_eq!(doc["title"], "Flow failed");
    assert!(!doc.to_string().contains("soon"), "no internals: {doc}");
}

#[tokio::test]
async fn malformed_json_is_400_naming_line_and_column() {
    let h = harness().await;
    let r = h
        .client
        .post(h.url("/hooks/s/200"))
        .header("content-type", "application/json")
        .body("{\n  \"a\": 1,\n  oops\n}")
        .send()
        .await
        .unwrap();
    let doc = problem(r, 400).await;
    assert!(doc["detail"].as_str().unwrap().contains("line 3, column 3"), "{doc}");
}

#[tokio::test]
async fn unknown_suffix_is_404() {
    let h = harness().await;
    for path in ["/hooks/nope", "/hooks", "/hooks/s/200/extra"] {
        let r = h.client.post(h.url(path)).send().await.unwrap();
        problem(r, 404).await;
    }
}

#[tokio::test]
async fn inactive_flow_is_404() {
    let h = harness().await;
    let r = h.client.post(h.url("/hooks/inactive")).send().await.unwrap();
    problem(r, 404).await;
}

#[tokio::test]
async fn other_method_is_405_with_allow_and_options_is_204() {
    let h = harness().await;
    let r = h.client.delete(h.url("/hooks/s/200")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS, POST");
    problem(r, 405).await;
    let r = h.client.request(Method::OPTIONS, h.url("/hooks/s/200")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS, POST");
    execution_id(&r);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = harness().await;
    let r = h.client.post(h.url("/hooks/small")).body("x".repeat(17)).send().await.unwrap();
    problem(r, 413).await;
    // Without a Content-Length (chunked), the limit holds while reading.
    let head = chunked_post(&h, "/hooks/small", &["0123456789", "0123456789"]).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    let r = h.client.post(h.url("/hooks/small")).body("x".repeat(16)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Sends a chunked POST over a raw socket and returns the response's status line and headers.
async fn chunked_post(h: &Harness, path: &str, chunks: &[&str]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = h.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in chunks {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = socket.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn api_key_in_header_401_then_200() {
    let h = harness().await;
    let url = h.url("/hooks/auth/key-header");
    let r = h.client.post(&url).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").is_none());
    problem(r, 401).await;
    let r = h.client.post(&url).header("X-API-Key", "wrong").send().await.unwrap();
    problem(r, 401).await;
    let r = h.client.post(&url).header("x-api-key", h.secret("k-header")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_key_in_query_401_then_200() {
    let h = harness().await;
    let url = h.url("/hooks/auth/key-query");
    let r = h.client.post(&url).query(&[("api_key", "wrong")]).send().await.unwrap();
    problem(r, 401).await;
    let r = h.client.post(&url).header("X-API-Key", h.secret("k-query")).send().await.unwrap();
    problem(r, 401).await;
    let r = h.client.post(&url).query(&[("api_key", h.secret("k-query"))]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn bearer_401_with_challenge_then_200() {
    let h = harness().await;
    let url = h.url("/hooks/auth/bearer");
    let r = h.client.post(&url).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401).await;
    let r = h.client.post(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401).await;
    let r = h.client.post(&url).bearer_auth(h.secret("tok")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn basic_401_with_challenge_then_200() {
    let h = harness().await;
    let url = h.url("/hooks/auth/basic");
    let r = h.client.post(&url).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"hookflow\"");
    problem(r, 401).await;
    let r = h.client.post(&url).basic_auth("someone", Some(h.secret("pw"))).send().await.unwrap();
    problem(r, 401).await;
    let r = h.client.post(&url).header("authorization", "Basic !!!").send().await.unwrap();
    problem(r, 401).await;
    let r = h.client.post(&url).basic_auth(BASIC_USER, Some(h.secret("pw"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// `value` with every occurrence of `from` in its strings replaced by `to`.
fn replace_in(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| replace_in(v, from, to)).collect())
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), replace_in(v, from, to))).collect())
        }
        other => other.clone(),
    }
}

#[tokio::test]
async fn every_example_flow_answers_its_first_case_over_http() {
    let h = Harness::with_flows_from(&root().join("flows")).await;
    let (sources, _) = hookflow_core::read_sources(&[root().join("flows")]);
    let set = hookflow_core::compile_all(&sources);
    assert!(set.plans.len() >= 3);
    for plan in &set.plans {
        let text = std::fs::read_to_string(root().join(format!("flows/{}.cases.json", plan.id)))
            .expect("cases file");
        let file: CasesFile = serde_json::from_str(&text).expect("cases parse");
        let case = file.cases.into_iter().next().expect("a first case");
        // Event-triggered examples run in `flow_events`, started by the calls that raise them.
        let Some(trigger) = plan.webhook() else { continue };
        let method = case.request.method.unwrap_or_else(|| trigger.methods[0].as_str().to_owned());
        let path = case.request.path.unwrap_or_else(|| {
            hookflow_core::offline::sample_path(&trigger.suffix, &trigger.expected.params)
        });
        let mut request = h.client.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            h.url(&format!("/hooks{path}")),
        );
        let mut query = trigger.expected.query.clone();
        query.extend(case.request.query);
        for (k, v) in &query {
            for v in v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]) {
                request =
                    request.query(&[(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))]);
            }
        }
        let mut headers = trigger.expected.headers.clone();
        headers.extend(case.request.headers);
        for (k, v) in &headers {
            request = request.header(k, v.as_str().unwrap_or_default());
        }
        let name = trigger.auth.credential().map(|c| (c, h.secret(c)));
        request = match (&trigger.auth, name) {
            (hookflow_core::nodes::webhook::Auth::ApiKey { name, .. }, Some((_, s))) => {
                request.header(name.as_deref().unwrap_or("X-API-Key"), s)
            }
            (hookflow_core::nodes::webhook::Auth::Bearer { .. }, Some((_, s))) => {
                request.bearer_auth(s)
            }
            (hookflow_core::nodes::webhook::Auth::Basic { .. }, Some((_, s))) => {
                request.basic_auth(BASIC_USER, Some(s))
            }
            _ => request,
        };
        if let Some(body) = case.request.body.or_else(|| trigger.expected.body.clone()) {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let what = format!("{} / {}", plan.id, case.name);
        assert_eq!(r.status().as_u16(), case.expect.status, "{what}");
        let id = execution_id(&r);
        let placeholder = case.execution_id.unwrap_or_else(|| "test-execution".into());
        for (k, v) in &case.expect.headers {
            let want = replace_in(v, &placeholder, &id);
            assert_eq!(
                r.headers().get(k.as_str()).and_then(|v| v.to_str().ok()),
                want.as_str(),
                "header {k} of {what}"
            );
        }
        let bytes = r.bytes().await.unwrap();
        if let Some(body) = &case.expect.body {
            let actual: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            assert_eq!(actual, replace_in(body, &placeholder, &id), "{what}");
        }
    }
}

#[tokio::test]
async fn the_binary_serves_a_request_and_stops_on_kill() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        flows.path().join("hello.json"),
        flow(
            "hello",
            true,
            &format!(r#""suffix": "/hello/{{name}}", {NONE}"#),
            r#""status": 201, "body": { "hello": "$.request.params.name" }"#,
        ),
    )
    .unwrap();
    let mut serve = ServeProcess::start(flows.path(), data.path(), &[]);
    let route = serve.wait_for_line("route POST http://127.0.0.1:");
    assert!(route.contains("/hooks/hello/{name}"), "{route}");
    let addr = serve.addr();
    let r =
        reqwest::Client::new().post(format!("http://{addr}/hooks/hello/ada")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    execution_id(&r);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"hello": "ada"}));
    serve.kill();
}

#[test]
fn credentials_commands_create_list_rotate_delete() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .arg("credentials")
            .args(args)
            .args(["--data", dir])
            .output()
            .expect("run hookflow credentials");
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = run(&["create", "erp", "--type", "basic", "--username", "bot", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let issued: Value = serde_json::from_str(&out).unwrap();
    let secret = issued["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        (issued["kind"].as_str(), issued["username"].as_str()),
        (Some("basic"), Some("bot"))
    );
    assert_eq!(secret.len(), 43);
    let (code, out) = run(&["list", "--json"]);
    assert_eq!(code, Some(0));
    assert!(!out.contains(&secret), "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()[0]["name"], "erp");
    let (code, out) = run(&["rotate", "erp", "--grace", "60", "--json"]);
    assert_eq!(code, Some(0));
    assert_ne!(
        serde_json::from_str::<Value>(&out).unwrap()["secret"].as_str(),
        Some(secret.as_str())
    );
    let (_, out) = run(&["list", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()[0]["active_secrets"], 2);
    assert_eq!(run(&["create", "erp", "--type", "bearer"]).0, Some(2));
    assert_eq!(run(&["delete", "erp"]).0, Some(0));
    assert_eq!(run(&["delete", "erp"]).0, Some(2));
    assert_eq!(run(&["list"]).1, "no credentials\n");
}

/// A credentials command on the data directory of a running server says why it cannot open the
/// store, and points at the admin API that manages credentials meanwhile.
#[test]
fn credentials_commands_name_the_running_server_and_the_api() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut serve = ServeProcess::start(flows.path(), data.path(), &[]);
    serve.addr();
    let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["credentials", "list", "--data"])
        .arg(data.path())
        .output()
        .expect("run hookflow credentials");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("another process has it open"), "{stderr}");
    assert!(stderr.contains("is `hookflow serve` running on this data directory?"), "{stderr}");
    assert!(stderr.contains("POST /api/credentials"), "{stderr}");
    serve.kill();
}

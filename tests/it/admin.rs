//! The admin API and `hookflow executions` over real sockets, against the real binary: the admin
//! token (given, or generated and printed once), listing with filters and pages, one execution in
//! full, replay with its diff, and every error as problem+json.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use hookflow_store::clock::now_ms;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{ServeProcess, eventually, flow, problem};

const TOKEN: &str = "test-admin-token";
const NONE: &str = r#""auth": { "type": "none" }"#;

/// A `hookflow serve` process with two flows, killed when dropped (a failing test included).
struct Server {
    process: Option<ServeProcess>,
    hooks: String,
    admin: String,
    client: reqwest::Client,
    _flows: TempDir,
    _data: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }
}

impl Server {
    fn start() -> Server {
        let flows = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let write =
            |name: &str, text: String| std::fs::write(flows.path().join(name), text).unwrap();
        write(
            "echo.json",
            flow(
                "echo",
                true,
                &format!(r#""suffix": "/echo", {NONE}"#),
                r#""status": 200, "body": { "got": "$.request.body", "id": "$.execution.id" }"#,
            ),
        );
        write(
            "created.json",
            flow("created", true, &format!(r#""suffix": "/created", {NONE}"#), r#""status": 201"#),
        );
        let mut process = ServeProcess::start(flows.path(), data.path(), &["--admin-token", TOKEN]);
        let hooks = format!("http://{}", process.addr());
        let admin = format!("http://{}", process.admin_addr());
        Server {
            process: Some(process),
            hooks,
            admin,
            client: reqwest::Client::new(),
            _flows: flows,
            _data: data,
        }
    }

    async fn call(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}/hooks{path}", self.hooks)).json(&body).send().await.unwrap()
    }

    /// `GET` (or `POST` for a replay) on the admin API with the token; the status and the JSON.
    async fn api(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        let doc: Value = r.json().await.unwrap();
        if !status.is_success() {
            assert_eq!(content_type, "application/problem+json", "{doc}");
            assert_eq!(doc["status"], status.as_u16(), "{doc}");
        }
        (status, doc)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.api(reqwest::Method::GET, path).await
    }

    /// Lists until `n` executions match `query` (history is written in batches), 10 s at most.
    async fn wait_for(&self, query: &str, n: usize) -> Vec<Value> {
        let what = format!("{n} executions listed for `{query}`");
        eventually(&what, Duration::from_secs(10), || async {
            let (status, doc) = self.get(&format!("/api/executions?limit=500&{query}")).await;
            assert_eq!(status, StatusCode::OK, "{doc}");
            let items = doc["items"].as_array().unwrap().clone();
            (items.len() >= n).then(|| {
                assert_eq!(items.len(), n, "{query}: {items:#?}");
                items
            })
        })
        .await
    }

    /// Runs `hookflow executions ARGS` against this server: exit code, stdout, stderr.
    fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .arg("executions")
            .args(args)
            .args(["--admin-url", &self.admin])
            .env("HOOKFLOW_ADMIN_TOKEN", TOKEN)
            .env_remove("HOOKFLOW_ADMIN_URL")
            .output()
            .expect("run hookflow executions");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (o.status.code(), text(o.stdout), text(o.stderr))
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_admin_api_needs_the_token_but_healthz_does_not() {
    let s = Server::start();
    let health = s.client.get(format!("{}/healthz", s.admin)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    for (path, authorization) in [
        ("/api/executions", None),
        ("/api/executions", Some("Bearer wrong-token")),
        ("/api/executions", Some(&*format!("Basic {TOKEN}"))),
        ("/api/executions", Some(TOKEN)),
        ("/api/no-such-endpoint", None),
    ] {
        let mut request = s.client.get(format!("{}{path}", s.admin));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} {authorization:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["status"], 401);
    }
    let (status, doc) = s.get("/api/no-such-endpoint").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{doc}");
    let (status, _) = s.api(reqwest::Method::DELETE, "/api/executions").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, doc) = s.get("/api/executions").await;
    assert_eq!((status, doc), (StatusCode::OK, json!({ "items": [], "next_cursor": null })));
}

#[tokio::test]
async fn executions_are_listed_by_flow_status_and_time_in_pages() {
    let s = Server::start();
    for n in 0..5 {
        assert_eq!(s.call("/echo", json!({ "n": n })).await.status(), StatusCode::OK);
    }
    // Every call so far was received before `mark`, every call from here on at or after it.
    let mark = now_ms() + 1;
    eventually("the clock moves", Duration::from_secs(1), || async {
        (now_ms() > mark).then_some(())
    })
    .await;
    for _ in 0..2 {
        assert_eq!(s.call("/created", json!({})).await.status(), StatusCode::CREATED);
    }
    assert_eq!(s.call("/nowhere", json!({})).await.status(), StatusCode::NOT_FOUND);
    let all = s.wait_for("", 8).await;

    // Newest first; a summary says what happened without the request or trace.
    let newest = &all[0];
    assert_eq!((newest["status"].as_str(), newest["flow_id"].as_str()), (Some("rejected"), None));
    assert_eq!(newest["response_status"], 404);
    let created = &all[1];
    assert_eq!(created["flow_id"], "created");
    assert_eq!(created["status"], "succeeded");
    assert_eq!(created["route"], "POST /created");
    assert_eq!(created["response_status"], 201);
    assert!(created["flow_version"].is_string() && created["duration_ms"].is_i64(), "{created}");
    assert!(created["completed_at"].as_str().unwrap().ends_with('Z'), "{created}");
    assert!(created.get("request").is_none() && created.get("trace").is_none());

    assert_eq!(ids(&s.wait_for("flow=created", 2).await), ids(&all[1..3]));
    assert_eq!(ids(&s.wait_for("status=rejected", 1).await), ids(&all[..1]));
    assert_eq!(ids(&s.wait_for("flow=echo&status=succeeded", 5).await), ids(&all[3..]));
    assert_eq!(s.wait_for("flow=echo&status=failed", 0).await, Vec::<Value>::new());
    // `since` is inclusive, `until` exclusive; milliseconds or RFC 3339.
    assert_eq!(ids(&s.wait_for(&format!("since={mark}"), 3).await), ids(&all[..3]));
    assert_eq!(ids(&s.wait_for(&format!("until={mark}"), 5).await), ids(&all[3..]));
    let first_created = all[2]["received_at"].as_str().unwrap();
    assert!(first_created.ends_with('Z'), "{first_created}");
    assert_eq!(ids(&s.wait_for(&format!("since={first_created}"), 3).await), ids(&all[..3]));
    assert_eq!(ids(&s.wait_for(&format!("until={first_created}"), 5).await), ids(&all[3..]));
    let range = format!("since={mark}&until={}&status=succeeded", mark + 3_600_000);
    assert_eq!(ids(&s.wait_for(&range, 2).await), ids(&all[1..3]));

    // Pages of 3: every execution once, in order, the last page without a cursor.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1.. {
        assert!(page <= 4, "too many pages");
        let path = match &cursor {
            Some(c) => format!("/api/executions?limit=3&cursor={c}"),
            None => "/api/executions?limit=3".to_owned(),
        };
        let (status, doc) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        let items = doc["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        paged.extend(ids(items));
        match doc["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len(), "duplicates");
}

#[tokio::test]
async fn bad_query_parameters_are_named_and_unknown_executions_are_404() {
    let s = Server::start();
    for (query, parameter) in [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("since=yesterday", "since"),
        ("until=2025-01-31T12:00:00", "until"),
        ("since=2000&until=1000", "until"),
        ("cursor=not-an-id", "cursor"),
        ("flow=a&flow=b", "flow"),
        ("staus=failed", "staus"),
    ] {
        let (status, doc) = s.get(&format!("/api/executions?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {doc}");
        assert_eq!(doc["parameter"], parameter, "{query}: {doc}");
        assert!(doc["detail"].as_str().unwrap().contains(&format!("`{parameter}`")), "{doc}");
    }
    for id in ["01900000-0000-7000-8000-000000000000", "not-an-id"] {
        let (status, doc) = s.get(&format!("/api/executions/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{doc}");
        let (status, _) =
            s.api(reqwest::Method::POST, &format!("/api/executions/{id}/replay")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.api(reqwest::Method::POST, &format!("/api/executions/{id}/case")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A capture's optional body is checked like every admin body.
    let capture = format!("{}/api/executions/01900000-0000-7000-8000-000000000000/case", s.admin);
    for (body, expected, says) in [
        ("{\"name\": ", StatusCode::BAD_REQUEST, "The request body is not valid JSON"),
        (
            "{\"name\": \" \"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "`/name`: expected a non-empty string",
        ),
        ("{\"nmae\": \"x\"}", StatusCode::UNPROCESSABLE_ENTITY, "unknown field `nmae`"),
    ] {
        let r =
            s.client.post(&capture).bearer_auth(TOKEN).header("content-type", "application/json");
        let (status, doc) = problem(r.body(body)).await;
        assert_eq!(status, expected, "{body}: {doc}");
        assert!(doc["detail"].as_str().unwrap().contains(says), "{body}: {doc}");
    }
    let (status, doc) = s.get("/api/executions/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{doc}");
}

#[tokio::test]
async fn an_execution_is_shown_whole_and_replayed_with_a_diff() {
    let s = Server::start();
    let r = s.call("/echo?x=1", json!({ "n": 1, "list": [1, 2] })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    s.wait_for("flow=echo", 1).await;

    let (status, doc) = s.get(&format!("/api/executions/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(doc["request"]["method"], "POST");
    assert_eq!(doc["request"]["path"], "/hooks/echo");
    assert_eq!(doc["request"]["query"], "x=1");
    assert_eq!(doc["request"]["headers"]["content-type"], "application/json");
    assert_eq!(doc["request"]["body"], json!({ "n": 1, "list": [1, 2] }));
    assert_eq!(doc["response"]["status"], 200);
    assert_eq!(doc["response"]["body"], json!({ "got": { "n": 1, "list": [1, 2] }, "id": id }));
    assert_eq!(doc["error"], Value::Null);
    let trace: Vec<&str> =
        doc["trace"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(trace, ["hook", "answer"]);

    // The same version of the flow answers the same (its own execution id aside).
    let (status, replay) =
        s.api(reqwest::Method::POST, &format!("/api/executions/{id}/replay")).await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    assert_eq!(replay["diff"], json!({ "status": null, "headers": [], "body": [] }));
    assert_eq!(replay["original"]["id"], id.as_str());
    let new_id = replay["execution"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert!(uuid::Uuid::try_parse(&new_id).is_ok_and(|u| u.get_version_num() == 7), "{new_id}");
    assert_eq!(replay["execution"]["status"], "succeeded");
    assert_eq!(replay["execution"]["replay_of"], id.as_str());
    assert_eq!(replay["execution"]["flow_version"], doc["flow_version"]);

    // The replay is an execution of its own, stored before the answer.
    let (status, shown) = s.get(&format!("/api/executions/{new_id}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["replay_of"], id.as_str());
    assert_eq!(shown["request"]["headers"]["x-hookflow-replay-of"], id.as_str());
    assert_eq!(shown["response"]["body"]["id"], new_id.as_str());
    assert_eq!(shown["response"]["body"]["got"], doc["request"]["body"]);
    assert_eq!(ids(&s.wait_for("flow=echo", 2).await), [new_id.clone(), id.clone()]);
}

#[tokio::test]
async fn what_cannot_be_replayed_is_a_409_with_the_reason() {
    let s = Server::start();
    assert_eq!(s.call("/nowhere", json!({})).await.status(), StatusCode::NOT_FOUND);
    // Bodies are recorded up to 64 KiB; a longer one cannot run again from the record.
    let big = json!({ "text": "x".repeat(70 * 1024) });
    assert_eq!(s.call("/echo", big).await.status(), StatusCode::OK);
    let rejected = &s.wait_for("status=rejected", 1).await[0];
    let truncated = &s.wait_for("flow=echo", 1).await[0];
    for (record, reason) in [(rejected, "rejected"), (truncated, "cut at the recording limit")] {
        let id = record["id"].as_str().unwrap();
        let (status, doc) =
            s.api(reqwest::Method::POST, &format!("/api/executions/{id}/replay")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{doc}");
        assert!(doc["detail"].as_str().unwrap().contains(reason), "{doc}");
    }
    let (_, shown) = s.get(&format!("/api/executions/{}", truncated["id"].as_str().unwrap())).await;
    assert_eq!(shown["request"]["body_truncated"], true);
    assert!(shown["request"]["body"].is_string(), "a cut JSON body is shown as text");
}

#[tokio::test]
async fn the_cli_lists_shows_and_replays() {
    let s = Server::start();
    let r = s.call("/created", json!({ "n": 1 })).await;
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    assert_eq!(s.call("/echo", json!({ "n": 2 })).await.status(), StatusCode::OK);
    s.wait_for("", 2).await;

    let (code, out, err) = s.cli(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATUS"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[2].contains(&id) && lines[2].contains("created") && lines[2].contains("201"),
        "{out}"
    );

    let (code, out, err) =
        s.cli(&["list", "--flow", "created", "--limit", "1", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ids(doc["items"].as_array().unwrap()), [id.as_str()]);

    let (code, out, err) = s.cli(&["show", &id]);
    assert_eq!(code, Some(0), "{err}");
    for expected in [
        &*format!("execution {id}"),
        "succeeded",
        "POST /hooks/created",
        "\"n\": 1",
        "trace",
        "answer (respond)",
    ] {
        assert!(out.contains(expected), "{expected} in {out}");
    }

    let (code, out, err) = s.cli(&["replay", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("replayed {id} as ")) && out.contains("same response"), "{out}");
    let (code, out, err) = s.cli(&["replay", &id, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["original"]["id"], id.as_str());

    // The server says no: 1, with its problem detail.
    let (code, _, err) = s.cli(&["show", "01900000-0000-7000-8000-000000000000"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("404") && err.contains("no execution"), "{err}");
    let (code, _, err) = s.cli(&["list", "--since", "yesterday"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("`since`"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["executions", "list", "--admin-url", &s.admin, "--admin-token", "wrong"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    // Could not run: 2 (bad arguments, nothing listening, no token).
    assert_eq!(s.cli(&["list", "--limit", "lots"]).0, Some(2));
    assert_eq!(s.cli(&["list", "--status", "done"]).0, Some(2));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["executions", "list", "--admin-url", &nowhere, "--admin-token", TOKEN])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["executions", "list", "--admin-url", &s.admin])
        .env_remove("HOOKFLOW_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[tokio::test]
async fn a_generated_token_is_printed_once_and_only_its_digest_is_kept() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let list = |admin: String, token: String| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://{admin}/api/executions"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.status()
        }
    };

    let mut first = ServeProcess::start(flows.path(), data.path(), &[]);
    let line = first.wait_for_stdout("admin token (shown once");
    let token = line.rsplit(": ").next().unwrap().trim().to_owned();
    assert_eq!(token.len(), 43, "32 bytes in base64url: {line}");
    first.addr();
    let admin = first.admin_addr();
    assert_eq!(list(admin.clone(), token.clone()).await, StatusCode::OK);
    assert_eq!(list(admin, "other".into()).await, StatusCode::UNAUTHORIZED);
    first.terminate(Duration::from_secs(10));
    assert!(first.rest_of_stdout().iter().all(|l| !l.contains(&token)));

    let file = data.path().join("admin-token.sha256");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(!stored.contains(&token));
    assert_eq!(stored.trim().len(), 64);
    assert!(stored.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{stored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The second start on the same data directory keeps the token and prints nothing.
    let mut second = ServeProcess::start(flows.path(), data.path(), &[]);
    second.addr();
    let admin = second.admin_addr();
    assert_eq!(list(admin, token.clone()).await, StatusCode::OK);
    second.terminate(Duration::from_secs(10));
    let printed = second.rest_of_stdout();
    assert!(printed.iter().all(|l| !l.contains("admin token")), "{printed:?}");

    // A token given on the command line wins over the stored one.
    let mut third = ServeProcess::start(flows.path(), data.path(), &["--admin-token", TOKEN]);
    third.addr();
    let admin = third.admin_addr();
    assert_eq!(list(admin.clone(), TOKEN.into()).await, StatusCode::OK);
    assert_eq!(list(admin, token).await, StatusCode::UNAUTHORIZED);
    third.kill();
}

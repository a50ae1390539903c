//! Operating a running `hookflow serve`, over real sockets against the real binary: the open
//! probes and metrics (and the token everything under `/api` still needs), readiness, and request
//! metrics by flow, route and status.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{ServeProcess, flow};

const TOKEN: &str = "ops-admin-token";
const NONE: &str = r#""auth": { "type": "none" }"#;

/// A `hookflow serve` process, killed when dropped (a failing test included).
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

impl Server {
    fn start(flows: &[(&str, String)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        for (name, text) in flows {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut process = ServeProcess::start(dir.path(), data.path(), &["--admin-token", TOKEN]);
        let hooks = format!("http://{}", process.addr());
        let admin = format!("http://{}", process.admin_addr());
        Server {
            process: Some(process),
            hooks,
            admin,
            client: reqwest::Client::new(),
            _flows: dir,
            _data: data,
        }
    }

    /// `method path` on the webhook listener with an optional API key; the status.
    async fn call(&self, method: Method, path: &str, key: Option<&str>) -> StatusCode {
        let mut request = self.client.request(method, format!("{}/hooks{path}", self.hooks));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.json(&json!({})).send().await.unwrap().status()
    }

    /// `GET path` on the admin listener without a token: the status, content type and text.
    async fn open(&self, path: &str) -> (StatusCode, String, String) {
        let r = self.client.get(format!("{}{path}", self.admin)).send().await.unwrap();
        let status = r.status();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        (status, content_type, r.text().await.unwrap())
    }
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
async fn probes_and_metrics_are_open_and_the_api_is_not() {
    let s = Server::start(&flows());
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _, text) = s.open(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
    }
    for path in ["/api/credentials", "/api/node-types", "/api/node-types/map", "/api/executions"] {
        let r = s.client.get(format!("{}{path}", s.admin)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let r = s.client.post(format!("{}/api/credentials", s.admin)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn readiness_needs_a_deployed_flow() {
    let s = Server::start(&flows());
    let (status, content_type, text) = s.open("/readyz").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/json"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc, json!({ "status": "ready", "flows": 3 }));
    drop(s);

    let empty = Server::start(&[]);
    let (status, content_type, text) = empty.open("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(content_type, "application/problem+json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["status"], 503);
    assert_eq!(doc["reasons"], json!(["no flow is deployed"]));
    assert_eq!(doc["detail"], "Not ready: no flow is deployed.");
    // Alive all the same.
    assert_eq!(empty.open("/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_calls_by_flow_route_and_status() {
    let s = Server::start(&flows());
    for _ in 0..3 {
        assert_eq!(s.call(Method::POST, "/echo", None).await, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(s.call(Method::POST, "/created", None).await, StatusCode::CREATED);
        assert_eq!(s.call(Method::POST, "/nowhere", None).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(s.call(Method::POST, "/guarded", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.call(Method::GET, "/echo", None).await, StatusCode::METHOD_NOT_ALLOWED);
    let status_url = "/_executions/01900000-0000-7000-8000-000000000000";
    assert_eq!(s.call(Method::GET, status_url, None).await, StatusCode::NOT_FOUND);

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
    for name in ["hookflow_requests_total", duration] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
}

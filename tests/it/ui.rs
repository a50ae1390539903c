//! The web UI in a real headless Chromium (Debian's `chromium`, driven by Python Playwright from
//! PyPI with the system browser: nothing downloaded), against a real `hookflow serve` on the
//! example flows and one more: `tests/ui/flows.py` signs in, lists the flows, draws order-intake
//! and shows a node's configuration, lists the executions and opens a failed one on its graph. Screenshots go to `target/ui-screenshots/`. Without the browser or
//! Playwright the test fails and says how to install them. The page's headers are checked here.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{ADMIN_TOKEN, Receiver, Served, copy_flows, flow};
use crate::root;

/// The Python that has Playwright: `HOOKFLOW_UI_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("HOOKFLOW_UI_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The system Chromium: `HOOKFLOW_CHROMIUM`, else the first of Debian's names found.
fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("HOOKFLOW_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let s = Served::with_flows(&[], &[]);
    let r = s.client.get(format!("{}/", s.admin)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script>") && !page.contains("style="), "no inline script or style");
    let js = s.client.get(format!("{}/ui/app.js", s.admin)).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let missing = s.client.get(format!("{}/ui/nope.js", s.admin)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    s.stop();
}

// Multi-threaded: the loopback receiver answers while the browser test runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_signs_in_lists_the_flows_draws_one_and_shows_a_failed_execution_on_it() {
    let Some(chromium) = chromium() else {
        panic!(
            "no Chromium: install Debian's package (`apt-get install chromium`) or set \
             HOOKFLOW_CHROMIUM to the browser"
        );
    };
    let probe = Command::new(python()).args(["-c", "import playwright"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        panic!(
            "no Python Playwright for `{}`: `python3 -m pip install playwright` (no browser \
             download is needed), or set HOOKFLOW_UI_PYTHON to a Python that has it",
            python()
        );
    }
    let (flows, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_flows(&root().join("flows"), flows.path());
    // A flow without auth whose answer fails when `?status=` is not a status code.
    let hook = r#""suffix": "/ui-check", "auth": { "type": "none" }"#;
    let answer = r#""status": 200, "status_override": "$.request.query.status""#;
    std::fs::write(flows.path().join("ui-check.json"), flow("ui-check", true, hook, answer))
        .unwrap();
    std::fs::copy(root().join("tests/fixtures/fifty-nodes.json"), flows.path().join("big.json"))
        .unwrap();
    let s = Served::start(flows.path(), data.path(), &["--allow-private-outbound"]);
    let receiver = Receiver::start().await;
    for (query, status) in [("", 200), ("?status=soon", 500)] {
        let r = s.client.post(s.hook(&format!("/ui-check{query}"))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
    let shots = root().join("target/ui-screenshots");
    let mut command = Command::new(python());
    command.arg(root().join("tests/ui/flows.py")).args([&s.admin, ADMIN_TOKEN]);
    command.arg(&chromium).arg(&shots).arg(&receiver.url);
    let o = tokio::task::spawn_blocking(move || command.output().expect("run tests/ui/flows.py"))
        .await
        .expect("the browser test's thread");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        o.status.success(),
        "the browser test failed (screenshots in {}):\n{}\n{}",
        shots.display(),
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(shots.join("flow.png").exists());
    // The figures the script measured, for whoever runs it.
    println!("{}", text(&o.stdout));
    s.stop();
}

#[tokio::test]
async fn a_console_call_takes_the_route_a_caller_takes() {
    let guarded = r#""suffix": "/guarded", "auth": { "type": "api_key", "credential": "k" }"#;
    let s = Served::with_flows(&[("g.json", flow("g", true, guarded, r#""status": 201"#))], &[]);
    let call = |body: &'static str| s.api(reqwest::Method::POST, "/api/calls", Some(body));
    let (status, answer) = call(r#"{ "path": "/guarded", "body": { "a": 1 } }"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 401, "the route's auth is checked: {answer}");
    assert!(answer["execution_id"].is_string(), "{answer}");
    let (_, answer) = call(r#"{ "method": "GET", "path": "/guarded" }"#).await;
    assert_eq!(answer["status"], 405, "{answer}");
    let (_, answer) = call(r#"{ "path": "/nowhere" }"#).await;
    assert_eq!(answer["status"], 404, "{answer}");
    // Offline, as `hookflow run`: no auth check, nothing recorded, the trace in the answer.
    let (status, answer) =
        call(r#"{ "path": "/guarded", "offline": true, "flow": "g", "body": { "a": 1 } }"#).await;
    assert_eq!((status.as_u16(), &answer["status"]), (200, &serde_json::json!(201)), "{answer}");
    assert_eq!(answer["execution_id"], serde_json::Value::Null);
    assert_eq!(answer["trace"][0]["node"], "hook", "{answer}");
    let (status, _) = call(r#"{ "path": "/guarded", "offline": true, "flow": "nope" }"#).await;
    assert_eq!(status, 404);
    let (status, answer) = call(r#"{ "path": "/elsewhere", "offline": true, "flow": "g" }"#).await;
    assert_eq!(status, 422, "the path is the flow's: {answer}");
    for (body, pointer) in [
        (r#"{ "path": "/guarded", "offline": true }"#, "/flow"),
        (r#"{ "method": "GE T", "path": "/guarded" }"#, "/method"),
        (r#"{ "path": "guarded" }"#, "/path"),
        (r#"{ "path": "/guarded", "headers": { "x y": "1" } }"#, "/headers/x y"),
        (r#"{ "path": "/guarded", "headers": { "x-n": 1 } }"#, "/headers/x-n"),
        (r#"{ "path": "/guarded", "nope": 1 }"#, ""),
    ] {
        let (status, doc) = call(body).await;
        assert_eq!(status, 422, "{body}: {doc}");
        if !pointer.is_empty() {
            assert_eq!(doc["pointer"], pointer, "{body}: {doc}");
        }
    }
    s.stop();
}

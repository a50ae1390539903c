//! The real `hookflow test` and `hookflow cases` on the example flows and on temp copies of
//! them: the report, the diff of a broken expectation, JUnit XML, `--filter`, `--update`, and a
//! call captured from a real `hookflow serve`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use crate::harness::{ServeProcess, eventually, flow};
use crate::root;

fn hookflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hookflow")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A temp copy of `flows/` (and the fixture a case reads its body from), in the same layout.
pub fn copy_of_examples() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("flows")).expect("mkdir flows");
    std::fs::create_dir_all(dir.path().join("tests/fixtures")).expect("mkdir fixtures");
    crate::harness::copy_flows(&root().join("flows"), &dir.path().join("flows"));
    let fixture = "tests/fixtures/small-order.json";
    std::fs::copy(root().join(fixture), dir.path().join(fixture)).expect("copy fixture");
    dir
}

/// Replaces `from` (which must occur) by `to` in `file`.
pub fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

/// The count in the last line `N passed, M failed`.
fn summary(out: &str) -> (usize, usize) {
    let last = out.lines().last().unwrap_or_default();
    let (passed, failed) = last.split_once(" passed, ").unwrap_or_else(|| panic!("{out}"));
    let failed = failed.strip_suffix(" failed").unwrap_or_else(|| panic!("{out}"));
    (passed.parse().expect("a count"), failed.parse().expect("a count"))
}

#[test]
fn the_examples_pass() {
    let o = hookflow(&root(), &["test", "flows"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let (passed, failed) = summary(&out);
    assert!(passed >= 8 && failed == 0, "{out}");
    assert!(out.contains("  pass  a large order is held for review"), "{out}");
    let o = hookflow(&root(), &["test"]);
    assert_eq!(o.status.code(), Some(0), "the default path is flows/");
}

#[test]
fn a_broken_expectation_fails_with_the_pointer_and_junit_has_the_shape() {
    let dir = copy_of_examples();
    let cases = dir.path().join("flows/order-intake.cases.json");
    edit(&cases, r#""skus": ["A1", "B7"]"#, r#""skus": ["A1", "B8"]"#);
    let junit = dir.path().join("report.xml");
    let o = hookflow(dir.path(), &["test", "flows", "--junit", junit.to_str().expect("utf-8")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("  FAIL  a large order is held for review"), "{out}");
    assert!(out.contains(r#"body /skus/1: expected "B8", actual "B7""#), "{out}");
    let (passed, failed) = summary(&out);
    assert_eq!(failed, 1, "{out}");

    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "), "{xml}");
    assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
    let count = |needle: &str| xml.matches(needle).count();
    assert_eq!(count("<testsuite "), 6, "{xml}");
    assert_eq!(count("<testsuite "), count("</testsuite>"), "{xml}");
    assert_eq!(count("<testcase "), passed + failed, "{xml}");
    assert_eq!(count("<failure message="), 1, "{xml}");
    assert_eq!(count("</failure>"), 1, "{xml}");
    assert!(xml.contains(&format!("tests=\"{}\" failures=\"1\"", passed + failed)), "{xml}");
    assert!(xml.contains("<testsuite name=\"order-intake\""), "{xml}");
    assert!(xml.contains("body /skus/1: expected &quot;B8&quot;, actual &quot;B7&quot;"), "{xml}");
    // Every case is a self-closing element, or one that holds a failure and closes.
    for line in xml.lines().filter(|l| l.trim_start().starts_with("<testcase ")) {
        assert!(line.ends_with("/>") || line.ends_with('>'), "{line}");
        assert!(line.contains(" name=\"") && line.contains(" classname=\""), "{line}");
    }
    assert_eq!(count("</testcase>"), 1, "{xml}");

    let o = hookflow(dir.path(), &["test", "flows", "--filter", "small order"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(summary(&out), (2, 0), "{out}");
    assert!(!out.contains("large order"), "{out}");
    let o = hookflow(dir.path(), &["test", "flows", "--filter", "no such case"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    let o = hookflow(dir.path(), &["test", "flows", "--update"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("updated 1 case(s) in flows/order-intake.cases.json"), "{out}");
    let o = hookflow(dir.path(), &["test", "flows"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = std::fs::read_to_string(&cases).expect("read");
    assert!(text.contains("\"B7\"") && !text.contains("\"B8\""), "{text}");
    assert!(text.contains("\"$schema\": \"../schemas/cases.schema.json\""), "{text}");
}

#[test]
fn a_flow_without_cases_runs_its_sample_and_bad_paths_exit_2() {
    let dir = copy_of_examples();
    std::fs::remove_file(dir.path().join("flows/event-intake.cases.json")).expect("rm");
    let o = hookflow(dir.path(), &["test", "flows/event-intake.json"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("flow event-intake (no cases file: ran its `expected` sample)"), "{out}");
    assert!(out.contains("  pass  expected sample"), "{out}");
    assert_eq!(summary(&out), (1, 0), "{out}");
    let o = hookflow(dir.path(), &["test", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
    edit(&dir.path().join("flows/order-intake.cases.json"), "\"expect\"", "\"expekt\"");
    let o = hookflow(dir.path(), &["test", "flows"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("order-intake.cases.json: at #/cases/0"), "{err}");
}

#[tokio::test]
async fn a_captured_call_becomes_a_case_that_fails_when_the_flow_changes() {
    const TOKEN: &str = "capture-test-token";
    let dir = tempfile::tempdir().expect("temp dir");
    let flows = dir.path().join("flows");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&flows).expect("mkdir flows");
    std::fs::create_dir_all(&data).expect("mkdir data");
    let flow_file = flows.join("echo.json");
    let text = flow(
        "echo",
        true,
        r#""suffix": "/echo/{kind}", "auth": { "type": "none" }"#,
        r#""status": 201, "headers": { "X-Kind": "{{request.params.kind}}" },
           "body": { "got": "$.request.body", "id": "$.execution.id",
                     "at": "$.request.received_at", "x": "$.request.query.x" }"#,
    );
    std::fs::write(&flow_file, text).expect("write the flow");
    let mut server = ServeProcess::start(&flows, &data, &["--admin-token", TOKEN]);
    let hooks = server.addr();
    let admin = format!("http://{}", server.admin_addr());
    let reply = reqwest::Client::new()
        .post(format!("http://{hooks}/hooks/echo/eu?x=1"))
        .json(&serde_json::json!({ "sku": "A1", "qty": 2 }))
        .send()
        .await
        .expect("call the webhook");
    assert_eq!(reply.status().as_u16(), 201);
    let answer: serde_json::Value = reply.json().await.expect("JSON");
    let id = answer["id"].as_str().expect("an execution id").to_owned();

    // History is written in batches: capture until the execution is there, 10 s at most.
    let capture = ["cases", "capture", &id, "--name", "a real call", "--admin-url", &admin];
    eventually("the execution is captured", Duration::from_secs(10), || async {
        let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .args(capture)
            .env("HOOKFLOW_ADMIN_TOKEN", TOKEN)
            .current_dir(dir.path())
            .output()
            .expect("run hookflow");
        if o.status.success() {
            assert!(stdout(&o).contains("added case `a real call` to flows/echo.cases.json"));
            return Some(());
        }
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{err}");
        None
    })
    .await;
    // The admin API does the same: POST /api/executions/{id}/case.
    let client = reqwest::Client::new();
    let url = format!("{admin}/api/executions/{id}/case");
    let r = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "name": "the same call, from the API" }))
        .send()
        .await
        .expect("capture through the admin API");
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(created["case"]["name"], "the same call, from the API");
    assert!(created["file"].as_str().unwrap().ends_with("echo.cases.json"), "{created}");
    let r = client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "name": "a real call" }))
        .send()
        .await
        .expect("a second capture");
    assert_eq!(r.status().as_u16(), 409, "a case name is used once");
    let r = client.post(&url).send().await.expect("without the token");
    assert_eq!(r.status().as_u16(), 401);
    server.kill();

    let cases = std::fs::read_to_string(flows.join("echo.cases.json")).expect("the cases file");
    assert!(cases.contains(&format!("\"execution_id\": \"{id}\"")), "{cases}");
    let o = hookflow(dir.path(), &["test", "flows"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{cases}");
    assert!(out.contains("  pass  a real call"), "{out}");
    assert!(out.contains("  pass  the same call, from the API"), "{out}");
    assert_eq!(summary(&out), (2, 0), "{out}");

    edit(&flow_file, r#""got": "$.request.body""#, r#""got": "$.request.query""#);
    let o = hookflow(dir.path(), &["test", "flows"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("  FAIL  a real call"), "{out}");
    assert_eq!(summary(&out), (0, 2), "{out}");
    assert!(out.contains("body /got/sku: expected \"A1\", actual (absent)"), "{out}");
}

#[test]
fn ids_time_credential_and_a_body_file_are_injected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("mkdir flows");
    let probe = flow(
        "probe",
        true,
        r#""suffix": "/probe", "auth": { "type": "bearer", "credential": "ci" }"#,
        r#""status": 200, "body": { "cred": "$.execution.credential", "at": "$.request.received_at",
                                    "body": "$.request.body", "id": "$.execution.id" }"#,
    );
    std::fs::write(flows.join("probe.json"), probe).expect("write the flow");
    std::fs::write(flows.join("probe.form"), "a=1&b=2").expect("write the body");
    let cases = r#"{ "flow": "probe", "cases": [
      { "name": "the route's credential, a form body from a file, an injected time",
        "request": { "headers": { "Content-Type": "application/x-www-form-urlencoded" },
                     "body_file": "probe.form" },
        "execution_id": "e-1", "received_at": "2026-11-20T09:30:00Z",
        "expect": { "status": 200, "body": { "cred": "ci", "at": "2026-11-20T09:30:00.000Z",
                                             "body": { "a": "1", "b": "2" }, "id": "e-1" } } },
      { "name": "a named credential",
        "request": { "credential": "other" },
        "expect": { "status": 200, "body_subset": { "cred": "other", "id": "test-execution" } } },
      { "name": "auth skipped",
        "request": { "auth": "skip" },
        "expect": { "status": 200, "body_paths": [ { "path": "$.cred", "eq": null } ] } }
    ] }"#;
    std::fs::write(flows.join("probe.cases.json"), cases).expect("write the cases");
    let o = hookflow(dir.path(), &["test"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(summary(&out), (3, 0), "{out}");
}

#[test]
fn cases_init_writes_a_passing_starter_file() {
    let dir = copy_of_examples();
    std::fs::remove_file(dir.path().join("flows/event-intake.cases.json")).expect("rm");
    let o = hookflow(dir.path(), &["cases", "init", "flows/event-intake.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("wrote flows/event-intake.cases.json (1 case, HTTP 202)"));
    let file = hookflow_core::cases::read(&dir.path().join("flows/event-intake.cases.json"))
        .expect("a valid cases file");
    assert_eq!(file.flow, "event-intake");
    assert_eq!(file.cases[0].expect.status, 202);
    assert_eq!(file.cases[0].expect.responded_by.as_deref(), Some("ack"));
    let o = hookflow(dir.path(), &["test", "flows/event-intake.json"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("  pass  the expected sample"), "{out}");
    let o = hookflow(dir.path(), &["cases", "init", "flows/event-intake.json"]);
    assert_eq!(o.status.code(), Some(2), "an existing file is kept");
}

#[test]
fn offline_cases_meet_the_same_body_limit_and_auth_as_the_server() {
    let o = hookflow(&root(), &["test", "tests/fixtures/limits"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("2 passed, 0 failed"), "{}", stdout(&o));
    let o = hookflow(&root(), &["test", "flows", "--filter", "without the bearer token"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 passed, 0 failed"), "{}", stdout(&o));
}

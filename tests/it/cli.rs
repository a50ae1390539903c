//! The real `hookflow` binary: `validate` and `run`, their output and exit codes.

use std::process::{Command, Output};

use serde_json::Value;

use crate::root;

const SMALL: &str = "tests/fixtures/small-order.json";

fn hookflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run hookflow")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validate_examples_exits_0() {
    let o = hookflow(&["validate", "flows"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("checked 6 files: 6 flows valid"), "{}", stdout(&o));
    let o = hookflow(&["validate"]);
    assert_eq!(o.status.code(), Some(0), "default path is flows/");
}

#[test]
fn validate_reports_every_mistake_with_location_and_exits_1() {
    let o = hookflow(&["validate", "tests/fixtures/invalid/many-mistakes.json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    for needle in [
        "error[E003 unknown-field]: unknown field `colour`",
        "error[E014 invalid-suffix]",
        "many-mistakes.json:4:50 (#/nodes/0/suffix, node `hook`)",
        "error[E005 unknown-node-type]",
        "did you mean `map`?",
        "error[E012 invalid-jsonpath]",
        "error[E013 invalid-template]",
        "error[E006 duplicate-node-id]",
        "error[E008 unknown-branch-output]",
        "error[E007 unknown-edge-endpoint]",
        "error[E009 cycle]: the edges form a cycle through `x` → `y`",
        "10 errors",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let o =
        hookflow(&["validate", "--format", "json", "tests/fixtures/invalid/many-mistakes.json"]);
    assert_eq!(o.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(report["errors"], 10);
    let first = &report["diagnostics"][0];
    assert_eq!(first["code"], "E003");
    assert_eq!(first["location"]["pointer"], "/colour");
    assert_eq!(first["location"]["line"], 2);
}

#[test]
fn validate_a_missing_path_exits_2() {
    let o = hookflow(&["validate", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn run_order_intake_on_its_sample() {
    let o = hookflow(&["run", "flows/order-intake.json"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("HTTP 201 Created\n"), "{out}");
    assert!(out.contains("x-order-id: ORD-1"), "{out}");
    assert!(out.contains("\"message\": \"Order ORD-1 for Ada is held for review\""), "{out}");
    assert!(out.contains("size         branch    succeeded"), "{out}");
}

#[test]
fn run_with_body_and_query_override() {
    let o = hookflow(&[
        "run",
        "flows/order-intake.json",
        "--body",
        SMALL,
        "--query",
        "status=202",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(report["response"]["status"], 202);
    assert_eq!(report["response"]["body"]["review"], false);
    assert_eq!(report["responded_by"], "accept");
    let trace = report["trace"].as_array().expect("trace");
    assert_eq!(trace.len(), 4);
    assert_eq!(trace[1]["node"], "order");
    assert_eq!(trace[1]["input"]["method"], "POST", "the node after the trigger sees the request");
    assert_eq!(trace[2]["branch"], "small");
}

#[test]
fn run_reports_bad_input_and_failures() {
    let o = hookflow(&["run", "flows/order-intake.json", "--method", "GET"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not serve GET"));
    let o = hookflow(&["run", "flows/order-intake.json", "--path", "/nope"]);
    assert_eq!(o.status.code(), Some(2));
    let o = hookflow(&["run", "flows/order-intake.json", "--header", "no-colon"]);
    assert_eq!(o.status.code(), Some(2));
    let o = hookflow(&["run", "tests/fixtures/invalid/graph.json"]);
    assert_eq!(o.status.code(), Some(1));
    let o =
        hookflow(&["run", "flows/order-intake.json", "--body", SMALL, "--query", "status=soon"]);
    assert_eq!(o.status.code(), Some(1), "a failed run exits 1");
    assert!(stdout(&o).starts_with("HTTP 500"));
}

#[test]
fn run_serves_inactive_flows_the_first_written_method_and_the_nearest_respond() {
    let o = hookflow(&["run", "tests/fixtures/inactive-echo.json", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(report["response"]["body"], "near hi");
    assert_eq!(report["responded_by"], "near");
    assert_eq!(report["trace"][0]["input"], Value::Null, "the trigger has no input");
    assert_eq!(report["trace"][0]["output"]["method"], "PUT", "the first method written");
    assert_eq!(report["trace"][1]["node"], "far");
    let skipped: Vec<&Value> = report["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .filter(|s| s["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["node"], "late");
    let o = hookflow(&[
        "run",
        "tests/fixtures/inactive-echo.json",
        "--method",
        "HEAD",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "HEAD is served by a GET webhook");
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(report["trace"][0]["output"]["method"], "HEAD");
}

#[test]
fn outbound_calls_to_private_addresses_are_refused_unless_allowed() {
    let o = hookflow(&["run", "tests/fixtures/calls-loopback.json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("127.0.0.1 is a loopback address"), "{}", stdout(&o));
    let o = hookflow(&["run", "tests/fixtures/calls-loopback.json", "--allow-private-network"]);
    assert_eq!(o.status.code(), Some(1), "port 9 answers nothing");
    assert!(!stdout(&o).contains("loopback address"), "{}", stdout(&o));
    assert!(stdout(&o).contains("no answer after 1 attempt"), "{}", stdout(&o));
}

#[test]
fn run_shows_a_nodes_output_and_explains_the_answer() {
    let o = hookflow(&[
        "run",
        "flows/order-intake.json",
        "--body",
        SMALL,
        "--query",
        "status=202",
        "--node",
        "order",
        "--explain",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report: Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    assert_eq!(report["node"]["id"], "order");
    assert_eq!(report["node"]["output"]["order_id"], "ORD-2");
    assert_eq!(report["node"]["output"]["channel"], "erp");
    let explain = report["explain"].as_array().expect("explain");
    let find = |pointer: &str| explain.iter().find(|e| e["pointer"] == pointer).cloned();
    let status = find("/nodes/4/status_override").expect("the override is explained");
    assert_eq!(
        (status["kind"].as_str(), status["value"].as_str()),
        (Some("jsonpath"), Some("202"))
    );
    assert_eq!(find("/nodes/4/body/id").expect("body id")["value"], "ORD-2");
    assert_eq!(find("/nodes/4/body/review").expect("literal")["kind"], "literal");
    let o = hookflow(&["run", "flows/order-intake.json", "--node", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("has no node `nope`"));
    let o = hookflow(&["run", "flows/order-intake.json", "--explain"]);
    assert!(stdout(&o).contains("#/nodes/3/headers/X-Order-Id"), "{}", stdout(&o));
}

#[test]
fn serve_refuses_a_bad_delivery_option_naming_it() {
    for (args, says) in [
        (["--delivery-schedule", "30s,0s"], "step 2: `0s` is zero"),
        (["--delivery-schedule", "30s,soon"], "step 2: `soon` is not a duration"),
        (["--delivery-timeout", "10"], "`10` is not a duration"),
        (["--delivery-workers", "0"], "--delivery-workers"),
    ] {
        let o = hookflow(&[&["serve"][..], &args[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

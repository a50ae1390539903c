//! JavaScript in flows, through a real `hookflow serve` and the CLI: `js` expressions and a
//! `code` node compute, log to the trace and throw with their line; a loop and an allocation stop
//! at their limits; no network, module or timer is there; nothing carries over between calls; a
//! `js` status override answers; a `code` node's `.js` file is watched like the flow; and a
//! syntax error is reported at its line and column in the flow file or in the `.js` file.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Served, eventually};

/// The body of the `code` node: what it does depends on `request.body.mode`.
const CODE: &str = r#"switch (request.body.mode) {
  case "throw": {
    const x = 1;
    throw new Error("bad input " + x);
  }
  case "loop": for (;;) { try { while (true) {} } catch (e) {} }
  case "alloc": { const a = []; for (;;) a.push("x".repeat(1024) + a.length); }
  case "globals": return [typeof fetch, typeof require, typeof setTimeout, typeof process, typeof eval];
  case "import": return import("node:fs");
  case "leak": {
    const before = globalThis.seen ?? null;
    globalThis.seen = request.body.mark;
    try { Object.prototype.polluted = 1; } catch (e) { console.log("refused:", e.message); }
    return before;
  }
  default:
    console.log("items", nodes.calc.n);
    return { n: nodes.calc.n, vat: nodes.calc.vat, mode: request.body.mode ?? null };
}"#;

fn flow() -> String {
    json!({
        "id": "js", "name": "JavaScript",
        "nodes": [
            { "id": "in", "type": "webhook", "suffix": "/js", "methods": ["POST"], "auth": { "type": "none" } },
            { "id": "calc", "type": "map", "fields": {
                "n": { "js": "request.body.items?.length ?? 0" },
                "vat": { "js": "Math.round((request.body.total ?? 0) * 1.2 * 100) / 100" } } },
            { "id": "code", "type": "code", "source": CODE, "timeout_ms": 150, "memory_mib": 8 },
            { "id": "answer", "type": "respond", "status": 200,
              "status_override": { "js": "request.body.mode === 'created' ? 201 : undefined" },
              "body": { "out": { "from": "$.nodes.code", "default": null },
                        "polluted": { "js": "({}).polluted ?? 'no'" } } }
        ],
        "edges": [ { "from": "in", "to": "calc" }, { "from": "calc", "to": "code" }, { "from": "code", "to": "answer" } ]
    })
    .to_string()
}

/// The flow whose `code` node reads `code/lines.js`.
const LINES: &str = r#"{ "id": "lines", "name": "Lines", "nodes": [
  { "id": "in", "type": "webhook", "suffix": "/lines", "methods": ["POST"], "auth": { "type": "none" } },
  { "id": "code", "type": "code", "file": "code/lines.js" },
  { "id": "answer", "type": "respond", "body": { "v": "$.nodes.code" } } ],
  "edges": [ { "from": "in", "to": "code" }, { "from": "code", "to": "answer" } ] }"#;

async fn call(s: &Served, path: &str, body: Value) -> (StatusCode, Value, String) {
    let r = s.client.post(s.hook(path)).json(&body).send().await.expect("an answer");
    let id = r.headers()["x-hookflow-execution-id"].to_str().unwrap().to_owned();
    (r.status(), r.json().await.expect("a JSON body"), id)
}

async fn execution(s: &Served, id: &str) -> Value {
    eventually("the execution is recorded", Duration::from_secs(5), || async {
        let (status, doc) = s.api(Method::GET, &format!("/api/executions/{id}"), None).await;
        (status == StatusCode::OK).then_some(doc)
    })
    .await
}

fn start(dir: &Path, data: &Path) -> Served {
    std::fs::write(dir.join("js.json"), flow()).unwrap();
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(dir.join("code/lines.js"), "return 'one';").unwrap();
    std::fs::write(dir.join("lines.json"), LINES).unwrap();
    Served::start(dir, data, &[])
}

#[tokio::test]
async fn js_computes_logs_throws_and_stops_at_its_limits() {
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = start(dir.path(), data.path());

    let (status, body, id) =
        call(&s, "/js", json!({ "items": [1, 2, 3], "total": 99.99, "mode": "created" })).await;
    assert_eq!(status, StatusCode::CREATED, "the js status override answers: {body}");
    assert_eq!(
        body,
        json!({ "out": { "n": 3, "vat": 119.99, "mode": "created" }, "polluted": "no" })
    );
    let (status, _, _) = call(&s, "/js", json!({})).await;
    assert_eq!(status, StatusCode::OK, "an override that yields nothing keeps the status");
    let doc = execution(&s, &id).await;
    let code = doc["trace"].as_array().unwrap().iter().find(|t| t["node"] == "code").unwrap();
    assert_eq!(code["logs"], json!(["items 3"]), "{code}");

    let (status, body, id) = call(&s, "/js", json!({ "mode": "throw" })).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["title"], "Flow failed", "the error response, no internals: {body}");
    let doc = execution(&s, &id).await;
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["error"]["node"], "code");
    assert_eq!(doc["error"]["message"], "Error: bad input 1 (line 4)", "{doc}");

    let started = Instant::now();
    let (status, _, id) = call(&s, "/js", json!({ "mode": "loop" })).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(took < Duration::from_secs(3), "the loop stopped at its limit, took {took:?}");
    let doc = execution(&s, &id).await;
    assert_eq!(doc["error"]["message"], "stopped at its time limit of 150 ms");

    let (status, _, id) = call(&s, "/js", json!({ "mode": "alloc" })).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let doc = execution(&s, &id).await;
    assert_eq!(doc["error"]["message"], "stopped at its memory limit of 8 MiB");

    let (status, body, _) = call(&s, "/js", json!({ "mode": "globals" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["out"],
        json!(["undefined", "undefined", "undefined", "undefined", "undefined"])
    );
    let (status, _, id) = call(&s, "/js", json!({ "mode": "import" })).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let doc = execution(&s, &id).await;
    assert!(doc["error"]["message"].as_str().unwrap().contains("node:fs"), "{doc}");

    // Two calls in a row, on whichever worker threads: the second sees nothing of the first.
    for mark in ["first", "second", "third"] {
        let (status, body, id) = call(&s, "/js", json!({ "mode": "leak", "mark": mark })).await;
        assert_eq!((status, &body["out"]), (StatusCode::OK, &Value::Null), "{mark}: {body}");
        assert_eq!(body["polluted"], "no");
        let doc = execution(&s, &id).await;
        let code = doc["trace"].as_array().unwrap().iter().find(|t| t["node"] == "code").unwrap();
        assert!(code["logs"][0].as_str().unwrap().starts_with("refused:"), "{code}");
    }
    s.stop();
}

#[tokio::test]
async fn a_code_file_is_watched_like_the_flow() {
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = start(dir.path(), data.path());
    let (_, body, _) = call(&s, "/lines", json!({})).await;
    assert_eq!(body, json!({ "v": "one" }));
    let (_, before) = s.api(Method::GET, "/api/flows/lines", None).await;
    std::fs::write(dir.path().join("code/lines.js"), "return ['two', 2];").unwrap();
    eventually("the new code is served", Duration::from_secs(10), || async {
        let (_, body, _) = call(&s, "/lines", json!({})).await;
        (body == json!({ "v": ["two", 2] })).then_some(())
    })
    .await;
    let (_, after) = s.api(Method::GET, "/api/flows/lines", None).await;
    assert_ne!(before["version"], after["version"], "the file is part of the version");
    // A syntax error in the file keeps the last good version serving.
    std::fs::write(dir.path().join("code/lines.js"), "return [;").unwrap();
    eventually("the broken file is rejected", Duration::from_secs(10), || async {
        let (_, doc) = s.api(Method::GET, "/api/flows/lines", None).await;
        doc.to_string().contains("E024").then_some(())
    })
    .await;
    let (_, body, _) = call(&s, "/lines", json!({})).await;
    assert_eq!(body, json!({ "v": ["two", 2] }));
    s.stop();
}

#[test]
fn validate_names_the_line_and_column_of_a_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    std::fs::write(dir.path().join("code/lines.js"), "const a = 1;\nconst b = a +* 2;\nreturn b;")
        .unwrap();
    std::fs::write(dir.path().join("lines.json"), LINES).unwrap();
    let inline = LINES
        .replace(r#""file": "code/lines.js""#, r#""source": "const a = 1;\n  return a +* 2;""#)
        .replace(r#""id": "lines""#, r#""id": "inline""#)
        .replace("/lines", "/inline");
    std::fs::write(dir.path().join("inline.json"), inline).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["validate"])
        .arg(dir.path())
        .output()
        .expect("run hookflow");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let file = dir.path().join("code/lines.js");
    assert!(out.contains(&format!("--> {}:2:14", file.display())), "{out}");
    assert!(out.contains("error[E024 invalid-javascript]"), "{out}");
    // Inline: line 3 of the flow file, at the `*` inside the JSON string.
    assert!(out.contains("inline.json:3:"), "{out}");
    let column: usize = out
        .split("inline.json:3:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|c| c.parse().ok())
        .expect("a column");
    let line3 = std::fs::read_to_string(dir.path().join("inline.json")).unwrap();
    let line3 = line3.lines().nth(2).unwrap();
    assert_eq!(line3.chars().nth(column - 1), Some('*'), "{out}\n{line3}");
}

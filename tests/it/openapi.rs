//! `docs/openapi.json`, the OpenAPI 3.1 description of the admin listener: it parses as OpenAPI
//! 3.1, holds together (every reference resolves, every path parameter is declared, operation ids
//! are unique, every operation names its answers), and `GET /api/openapi.json` serves it without
//! a token. That it describes exactly the endpoints the admin router mounts is checked beside the
//! router, in hookflow-server.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::harness::{ServeProcess, flow};
use crate::root;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn text() -> String {
    std::fs::read_to_string(root().join("docs/openapi.json")).expect("docs/openapi.json")
}

/// Every `$ref` under `value`, with the pointer of the object that holds it.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push((at.clone(), target));
            }
            for (key, child) in map {
                refs(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `value`, or the value its `$ref` points at.
fn resolved<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).unwrap_or(&Value::Null),
        None => value,
    }
}

#[test]
fn the_document_is_openapi_3_1() {
    let text = text();
    let spec =
        oas3::from_json(&text).unwrap_or_else(|e| panic!("not an OpenAPI 3.1 document: {e}"));
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1));
    assert!(spec.info.title.starts_with("hookflow"), "{}", spec.info.title);
    for (path, item) in spec.paths.iter().flatten() {
        for (method, operation) in item.methods() {
            // Every reference resolves to an object of the right kind.
            let responses = operation.responses(&spec);
            let written = operation.responses.as_ref().map_or(0, |r| r.len());
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            assert_eq!(responses.len(), written, "{method} {path}: a response does not resolve");
            let parameters = operation.parameters(&spec).expect("parameters resolve");
            assert_eq!(parameters.len(), operation.parameters.len(), "{method} {path}");
            operation.request_body(&spec).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
    }

    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 50, "only {} references", found.len());
    for (at, target) in &found {
        let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{at}: external {target}"));
        assert!(doc.pointer(pointer).is_some(), "{at}: {target} does not resolve");
    }

    let schemes: HashSet<&String> =
        doc["components"]["securitySchemes"].as_object().unwrap().keys().collect();
    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let in_path: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: `{method}` is not a method");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}"));
            assert!(operation_ids.insert(id), "operationId {id} twice");
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| resolved(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, in_path, "{method} {path}: path parameters");
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains(scheme), "{method} {path}: {scheme}");
                }
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                let response = resolved(&doc, response);
                assert!(response["description"].is_string(), "{method} {path} {status}");
                let valid = status.len() == 3 && status.parse::<u16>().is_ok_and(|s| s >= 100);
                assert!(valid, "{method} {path}: status `{status}`");
            }
        }
    }
}

#[tokio::test]
async fn the_admin_listener_serves_it_without_a_token() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let none = r#""suffix": "/x", "auth": { "type": "none" }"#;
    std::fs::write(flows.path().join("x.json"), flow("x", true, none, r#""status": 200"#)).unwrap();
    let mut process = ServeProcess::start(flows.path(), data.path(), &["--admin-token", "t"]);
    process.addr();
    let admin = process.admin_addr();
    let r = reqwest::get(format!("http://{admin}/api/openapi.json")).await.unwrap();
    process.kill();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), text());
}

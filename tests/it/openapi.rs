//! `docs/openapi.json`, the OpenAPI 3.1 description of the admin listener: it parses as OpenAPI
//! 3.1, holds together (every reference resolves, every path parameter is declared, operation ids
//! are unique, every operation names its answers), its examples meet their schemas, a running
//! server's answers (flows, reloads, credentials, subscriptions and deliveries, node types,
//! executions, problems) have statuses,
//! content types and bodies that the document describes, and `GET /api/openapi.json` serves it
//! without a token. That it describes exactly the endpoints the admin router mounts is checked
//! beside the router, in hookflow-server.

use std::collections::{BTreeSet, HashSet};

use hookflow_core::pointer::escape;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{ADMIN_TOKEN, Receiver, ServeProcess, Served, flow};
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
    let (status, content_type) = (r.status(), r.headers()["content-type"].clone());
    let body = r.text().await.unwrap();
    process.kill();
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, text());
}

/// The document as JSON.
fn document() -> Value {
    serde_json::from_str(&text()).expect("docs/openapi.json is JSON")
}

/// A validator of the schema at `pointer` in `doc`: the document is the schema's root, so its
/// `$ref`s to `#/components/schemas/...` resolve (the document's other members are not schema
/// keywords, and are ignored).
fn validator(doc: &Value, pointer: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    // `{` and `}` (of path templates) are not allowed in a URI's fragment.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = Value::String(format!("#{fragment}"));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("#{pointer} is not a 2020-12 schema: {e}"))
}

/// Every error of `value` against the schema at `pointer`, one line each.
fn violations(doc: &Value, pointer: &str, value: &Value) -> Vec<String> {
    let validator = validator(doc, pointer);
    validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// The pointer of the response object `value` (at `at`), following its `$ref`.
fn response_at(doc: &Value, at: String) -> String {
    match doc.pointer(&at).and_then(|r| r["$ref"].as_str()) {
        Some(target) => target.trim_start_matches('#').to_owned(),
        None => at,
    }
}

#[test]
fn every_example_meets_its_schema() {
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("/paths/{}/{method}", escape(path));
            let mut bodies: Vec<String> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|status| response_at(&doc, format!("{at}/responses/{status}")))
                .collect();
            bodies.push(format!("{at}/requestBody"));
            for body in bodies {
                let Some(content) = doc.pointer(&format!("{body}/content")) else { continue };
                for (media, described) in content.as_object().unwrap() {
                    let Some(example) = described.get("example") else { continue };
                    let schema = format!("{body}/content/{}/schema", escape(media));
                    let errors = violations(&doc, &schema, example);
                    assert!(errors.is_empty(), "{method} {path}, {schema}: {errors:#?}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 7, "only {checked} examples");

    // The schemas do refuse: a field of the wrong type, one that is missing, one too many.
    let report = "/components/schemas/ReloadReport";
    let mut wrong = serde_json::json!({
        "reload": 1, "triggers": ["startup"], "started_at": "2026-11-23T14:02:11.408Z",
        "duration_ms": 3, "outcome": "applied", "error": null,
        "summary": { "added": 0, "changed": 0, "removed": 0, "rejected": 0, "unchanged": 0 },
        "flows": [], "credentials_created": []
    });
    assert_eq!(violations(&doc, report, &wrong), Vec::<String>::new());
    wrong["outcome"] = "done".into();
    wrong["extra"] = 1.into();
    wrong.as_object_mut().unwrap().remove("flows");
    assert_eq!(violations(&doc, report, &wrong).len(), 3, "{wrong}");
    let list = "/components/schemas/FlowList";
    let flow = serde_json::json!({ "items": [{ "id": "a", "document": null }] });
    assert!(!violations(&doc, list, &flow).is_empty(), "a listed flow has no document");
}

/// A running server, and the document its answers are checked against.
struct Checked {
    served: Served,
    doc: Value,
}

impl Checked {
    /// `method` on `url` (a path of the admin listener) with the token and an optional body,
    /// described in the document at `path` (its template): the answer's status must be one the
    /// operation documents, its content type one that status documents, and its body must meet
    /// that schema. Answers the status and the body (`null` for none).
    async fn call(
        &self,
        method: Method,
        path: &str,
        url: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let s = &self.served;
        let mut request =
            s.client.request(method.clone(), format!("{}{url}", s.admin)).bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        let operation = format!("/paths/{}/{}", escape(path), method.as_str().to_lowercase());
        assert!(self.doc.pointer(&operation).is_some(), "{method} {path} is not described");
        let response = response_at(&self.doc, format!("{operation}/responses/{}", status.as_u16()));
        let what = format!("{method} {url}: {status}");
        assert!(self.doc.pointer(&response).is_some(), "{what} is not described: {text}");
        if text.is_empty() {
            assert!(self.doc.pointer(&format!("{response}/content")).is_none(), "{what}: no body");
            return (status, Value::Null);
        }
        let media = content_type.as_deref().unwrap_or("").split(';').next().unwrap().trim();
        let schema = format!("{response}/content/{}/schema", escape(media));
        assert!(self.doc.pointer(&schema).is_some(), "{what}: {media} is not described");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        let errors = violations(&self.doc, &schema, &body);
        assert!(errors.is_empty(), "{what} does not meet {schema}: {errors:#?}\n{body:#}");
        (status, body)
    }
}

#[tokio::test]
async fn real_answers_meet_the_documented_schemas() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let keyed = r#""suffix": "/a", "auth": { "type": "api_key", "credential": "partner" }"#;
    let write = |name: &str, text: &str| std::fs::write(flows.path().join(name), text).unwrap();
    write("a.json", &flow("a", true, keyed, r#""status": 201"#));
    // A warning: `unused` cannot be reached.
    let warned = r#"{ "id": "warned", "name": "Warned", "nodes": [
        { "id": "hook", "type": "webhook", "suffix": "/warned", "auth": { "type": "none" } },
        { "id": "answer", "type": "respond" }, { "id": "unused", "type": "respond" } ],
      "edges": [ { "from": "hook", "to": "answer" } ] }"#;
    write("warned.json", warned);
    write("broken.json", r#"{ "id": "broken" }"#);
    write("nameless.json", "[1]");
    let c = Checked {
        served: Served::start(
            flows.path(),
            data.path(),
            &["--no-watch", "--allow-private-outbound"],
        ),
        doc: document(),
    };
    let (get, put, post, delete) = (Method::GET, Method::PUT, Method::POST, Method::DELETE);

    // Reloads: the start-up one created a credential, and rejected two files.
    let (status, last) = c.call(get.clone(), "/api/reload/last", "/api/reload/last", None).await;
    assert_eq!((status, last["outcome"].as_str()), (StatusCode::OK, Some("partial")), "{last:#}");
    assert_eq!(last["credentials_created"], serde_json::json!(["partner"]));
    assert!(last["flows"].as_array().unwrap().iter().any(|f| f["id"].is_null()), "{last:#}");
    assert_eq!(c.call(post.clone(), "/api/reload", "/api/reload", None).await.0, StatusCode::OK);

    // Flows: listed (serving, inactive, rejected), shown, validated, written, switched, removed.
    let (_, list) = c.call(get.clone(), "/api/flows", "/api/flows", None).await;
    let states: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|f| f["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "rejected", "active"], "{list:#}");
    let one = "/api/flows/{id}";
    for id in ["a", "broken", "nope"] {
        c.call(get.clone(), one, &format!("/api/flows/{id}"), None).await;
    }
    let layout = "/api/flows/{id}/layout";
    let (status, drawn) = c.call(get.clone(), layout, "/api/flows/a/layout", None).await;
    assert_eq!(status, StatusCode::OK, "{drawn}");
    assert_eq!(drawn["nodes"][0]["layer"], 0, "the trigger comes first: {drawn}");
    for id in ["broken", "nope"] {
        let (status, _) =
            c.call(get.clone(), layout, &format!("/api/flows/{id}/layout"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: no served version to draw");
    }
    let validate = "/api/flows/validate";
    let (status, valid) = c.call(post.clone(), validate, validate, Some(warned)).await;
    assert_eq!((status, valid["warnings"].as_u64()), (StatusCode::OK, Some(1)), "{valid}");
    let invalid = r#"{ "id": "draft", "nodes": [ { "id": "x", "type": "nope" } ] }"#;
    assert_eq!(c.call(post.clone(), validate, validate, Some(invalid)).await.0.as_u16(), 422);
    let none = r#""suffix": "/c", "auth": { "type": "none" }"#;
    let new = flow("c", true, none, r#""status": 200"#);
    let changed = new.replace("200", "202");
    let conflicting = new.replace("/c", "/warned");
    for (body, expected) in [
        (new.as_str(), 201),
        (changed.as_str(), 200),
        (conflicting.as_str(), 409),
        (invalid, 422),
        (r#"{ "id": "d" }"#, 422),
        ("{", 400),
    ] {
        let (status, doc) = c.call(put.clone(), one, "/api/flows/c", Some(body)).await;
        assert_eq!(status.as_u16(), expected, "{body}: {doc}");
    }
    for (verb, state) in [("deactivate", "inactive"), ("activate", "active")] {
        let path = format!("/api/flows/{{id}}/{verb}");
        let (_, switched) =
            c.call(post.clone(), &path, &format!("/api/flows/c/{verb}"), None).await;
        assert_eq!(switched["flow"]["state"], state, "{switched}");
        c.call(post.clone(), &path, &format!("/api/flows/nope/{verb}"), None).await;
    }
    assert_eq!(c.call(delete.clone(), one, "/api/flows/c", None).await.0, StatusCode::OK);
    assert_eq!(c.call(delete.clone(), one, "/api/flows/c", None).await.0, StatusCode::NOT_FOUND);

    // Credentials: listed, created, refused, rotated with and without grace, deleted.
    let (_, listed) = c.call(get.clone(), "/api/credentials", "/api/credentials", None).await;
    assert_eq!(listed["items"][0]["name"], "partner");
    for (body, expected) in [
        (r#"{"name": "ci", "type": "bearer"}"#, 201),
        (r#"{"name": "shop", "type": "basic", "username": "shop-bot"}"#, 201),
        (r#"{"name": "ci", "type": "bearer"}"#, 409),
        (r#"{"name": "c i", "type": "bearer"}"#, 422),
        (r#"{"name": "#, 400),
    ] {
        let (status, doc) =
            c.call(post.clone(), "/api/credentials", "/api/credentials", Some(body)).await;
        assert_eq!(status.as_u16(), expected, "{body}: {doc}");
    }
    c.call(get.clone(), "/api/credentials", "/api/credentials", None).await;
    let rotate = "/api/credentials/{name}/rotate";
    for (url, body, expected) in [
        ("/api/credentials/ci/rotate", Some(r#"{"grace_seconds": 60}"#), 200),
        ("/api/credentials/shop/rotate", None, 200),
        ("/api/credentials/nope/rotate", None, 404),
        ("/api/credentials/ci/rotate", Some(r#"{"grace_seconds": -1}"#), 422),
    ] {
        let (status, doc) = c.call(post.clone(), rotate, url, body).await;
        assert_eq!(status.as_u16(), expected, "{url}: {doc}");
    }
    let named = "/api/credentials/{name}";
    assert_eq!(c.call(delete.clone(), named, "/api/credentials/ci", None).await.0.as_u16(), 204);
    assert_eq!(c.call(delete.clone(), named, "/api/credentials/ci", None).await.0.as_u16(), 404);

    // Outbound subscriptions, their deliveries and the event catalogue.
    let receiver = Receiver::start().await;
    let subs = "/api/subscriptions";
    let created =
        format!(r#"{{"name": "crm", "url": "{}", "headers": {{"X-Key": "k"}}}}"#, receiver.url);
    for (body, expected) in [
        (created.as_str(), 201),
        (r#"{"name": "x", "url": "ftp://example.com"}"#, 422),
        (r#"{"name": "x""#, 400),
    ] {
        let (status, doc) = c.call(post.clone(), subs, subs, Some(body)).await;
        assert_eq!(status.as_u16(), expected, "{body}: {doc}");
    }
    let (_, listed) = c.call(get.clone(), subs, subs, None).await;
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let one = "/api/subscriptions/{id}";
    let at = format!("/api/subscriptions/{id}");
    for url in [at.as_str(), "/api/subscriptions/sub_nope"] {
        c.call(get.clone(), one, url, None).await;
    }
    for (url, body, expected) in [
        (at.as_str(), r#"{"description": "the CRM"}"#, 200),
        (at.as_str(), r#"{"events": ["nope"]}"#, 422),
        ("/api/subscriptions/sub_nope", r#"{"active": true}"#, 404),
    ] {
        let (status, doc) = c.call(Method::PATCH, one, url, Some(body)).await;
        assert_eq!(status.as_u16(), expected, "{url} {body}: {doc}");
    }
    let test = "/api/subscriptions/{id}/test";
    let (_, tested) = c.call(post.clone(), test, &format!("{at}/test"), None).await;
    let message = tested["id"].as_str().unwrap().to_owned();
    c.call(post.clone(), test, "/api/subscriptions/sub_nope/test", None).await;
    let rotate = "/api/subscriptions/{id}/rotate-secret";
    for (body, expected) in [
        (Some(r#"{"grace_seconds": 60}"#), 200),
        (None, 200),
        (Some(r#"{"grace_seconds": -1}"#), 422),
    ] {
        let (status, doc) =
            c.call(post.clone(), rotate, &format!("{at}/rotate-secret"), body).await;
        assert_eq!(status.as_u16(), expected, "{body:?}: {doc}");
    }
    let deliveries = "/api/subscriptions/{id}/deliveries";
    for (query, expected) in [("", 200), ("?status=succeeded&limit=1", 200), ("?status=done", 400)]
    {
        let (status, doc) =
            c.call(get.clone(), deliveries, &format!("{at}/deliveries{query}"), None).await;
        assert_eq!(status.as_u16(), expected, "{query}: {doc}");
    }
    c.call(get.clone(), deliveries, "/api/subscriptions/sub_nope/deliveries", None).await;
    for url in [format!("/api/deliveries/{message}"), "/api/deliveries/msg_nope".into()] {
        c.call(get.clone(), "/api/deliveries/{id}", &url, None).await;
        c.call(post.clone(), "/api/deliveries/{id}/retry", &format!("{url}/retry"), None).await;
    }
    c.call(get.clone(), "/api/event-types", "/api/event-types", None).await;
    for expected in [204, 404] {
        assert_eq!(c.call(delete.clone(), one, &at, None).await.0.as_u16(), expected);
    }

    // Node types, executions, readiness, and the token.
    c.call(get.clone(), "/api/node-types", "/api/node-types", None).await;
    for name in ["map", "%FF", "nope"] {
        c.call(get.clone(), "/api/node-types/{type}", &format!("/api/node-types/{name}"), None)
            .await;
    }
    c.call(get.clone(), "/api/executions", "/api/executions", None).await;
    c.call(get.clone(), "/api/executions", "/api/executions?limit=0", None).await;
    let (status, _) = c.call(get.clone(), "/readyz", "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let r = c.served.client.get(format!("{}/api/flows", c.served.admin)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let pointer = "/components/responses/Unauthorized/content/application~1problem+json/schema";
    let errors = violations(&c.doc, pointer, &r.json().await.unwrap());
    assert!(errors.is_empty(), "{errors:#?}");
}

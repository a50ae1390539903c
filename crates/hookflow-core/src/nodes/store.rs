//! The `store` node: saves a record into a named collection of hookflow's store (insert or
//! upsert, optionally checked against a JSON Schema), or reads one by key.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{Expr, Scope};
use crate::json_schema::{self, Schema};
use crate::services::{RecordError, RecordWrite, WriteMode};

pub static TYPE: NodeType = NodeType {
    name: "store",
    role: Role::Step,
    doc: "Saves a record into a named collection of hookflow's store, or reads one. `collection` \
          is a name of 1 to 64 characters `a-z`, `0-9`, `_` and `-`. `record` is a value \
          expression (the record saved); `key` a value expression yielding a string or number \
          (default: a new UUIDv7). `mode` is `insert` (the default: an existing key fails the \
          node) or `upsert` (replaces it, one version up). With `schema`, a JSON Schema, a record \
          that does not meet it fails the node with the JSON pointer of the first problem. The \
          write is durable before the node's output, `{\"id\", \"collection\", \"created\", \
          \"version\"}`, is produced. With `\"operation\": \"get\"` the node reads the record \
          `key` instead: its output is the record, or `null` when there is none.",
    example: r#"{ "id": "save", "type": "store", "collection": "tickets",
  "key": "$.request.body.id", "record": { "subject": "$.request.body.subject" },
  "mode": "upsert", "schema": { "type": "object", "required": ["subject"] } }"#,
    schema: |g| g.root_schema_for::<StoreConfig>(),
    compile,
};

/// The fields of a `store` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `put` (the default) saves `record`; `get` reads the record `key`.
    #[serde(default)]
    pub operation: Operation,
    /// The collection: 1 to 64 characters `a-z`, `0-9`, `_`, `-`.
    pub collection: String,
    /// A value expression: the record saved (`put` only).
    #[serde(default)]
    pub record: Option<Value>,
    /// A value expression yielding the key (default for `put`: a new UUIDv7).
    #[serde(default)]
    pub key: Option<Value>,
    /// `insert` (default: an existing key fails the node) or `upsert`.
    #[serde(default)]
    pub mode: Mode,
    /// A JSON Schema the record must meet (`put` only).
    #[serde(default)]
    pub schema: Option<Value>,
}

/// What a `store` node does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    #[default]
    Put,
    Get,
}

/// How a `put` treats an existing key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Insert,
    Upsert,
}

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Whether `name` is a valid collection name: 1 to 64 characters `a-z`, `0-9`, `_`, `-`.
pub fn valid_collection(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[derive(Debug)]
enum StoreNode {
    Put {
        collection: String,
        record: Expr,
        key: Option<Expr>,
        mode: WriteMode,
        schema: Option<Schema>,
    },
    Get {
        collection: String,
        key: Expr,
    },
}

impl Node for StoreNode {
    fn run(&self, scope: Scope<'_>, cx: RunCx<'_>) -> Result<Outcome, NodeError> {
        let records = cx.services.records.clone();
        match self {
            StoreNode::Get { collection, key } => {
                let (collection, key) = (collection.clone(), evaluated_key(key, scope)?);
                Ok(Outcome::Pending(Box::pin(async move {
                    let found = records.get(collection.clone(), key.clone()).await;
                    let what = format!("reading record `{key}` of `{collection}`");
                    found.map(Option::unwrap_or_default).map_err(|e| failed(&what, &e))
                })))
            }
            StoreNode::Put { collection, record, key, mode, schema } => {
                let value = record.eval(scope)?.unwrap_or(Value::Null);
                if let Some(problem) =
                    schema.as_ref().and_then(|s| json_schema::first_problem(s, &value))
                {
                    let at = match problem.pointer.as_str() {
                        "" => "the record".to_owned(),
                        pointer => format!("#{pointer}"),
                    };
                    return Err(NodeError {
                        message: format!(
                            "the record does not meet the schema at {at}: {}",
                            problem.message
                        ),
                    });
                }
                let key = match key {
                    Some(key) => evaluated_key(key, scope)?,
                    None => uuid::Uuid::now_v7().to_string(),
                };
                let write = RecordWrite {
                    collection: collection.clone(),
                    key: key.clone(),
                    value,
                    mode: *mode,
                    execution_id: cx.execution.id.clone(),
                };
                let collection = collection.clone();
                Ok(Outcome::Pending(Box::pin(async move {
                    let what = format!("saving record `{key}` into `{collection}`");
                    let saved = records.write(write).await.map_err(|e| failed(&what, &e))?;
                    Ok(
                        json!({ "id": key, "collection": collection, "created": saved.created, "version": saved.version }),
                    )
                })))
            }
        }
    }
}

fn failed(what: &str, error: &RecordError) -> NodeError {
    let message = match error {
        RecordError::Exists { .. } => {
            format!("{what}: {error}; use \"mode\": \"upsert\" to replace it")
        }
        RecordError::Failed(_) => format!("{what}: {error}"),
    };
    NodeError { message }
}

/// The key `key` yields: a non-empty string (a number is written as text) of at most
/// [`MAX_KEY_BYTES`], and neither `.` nor `..` (a URL cannot name those: the records API could
/// not reach them).
fn evaluated_key(key: &Expr, scope: Scope<'_>) -> Result<String, NodeError> {
    let key = match key.eval(scope)? {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        other => {
            let got = other.map_or("nothing".to_owned(), |v| v.to_string());
            return Err(NodeError {
                message: format!("`key` yielded {got}, not a string or a number"),
            });
        }
    };
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(NodeError {
            message: format!("`key` is {} bytes long; a key has 1 to {MAX_KEY_BYTES}", key.len()),
        });
    }
    if key == "." || key == ".." {
        return Err(NodeError {
            message: format!("`key` yielded `{key}`, which no URL can name; use another key"),
        });
    }
    Ok(key)
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: StoreConfig = cx.config(config)?;
    let mut ok = true;
    if !valid_collection(&config.collection) {
        cx.report(
            Code::InvalidValue,
            "/collection",
            format!("`{}` is not a collection name", config.collection),
        )
        .set_help("1 to 64 characters a-z, 0-9, `_` and `-`, e.g. `tickets`");
        ok = false;
    }
    let key = match &config.key {
        Some(key) => Expr::compile(cx, key, "/key").map(Some),
        None => Some(None),
    };
    let collection = config.collection;
    match config.operation {
        Operation::Get => {
            for (field, set) in [
                ("record", config.record.is_some()),
                ("schema", config.schema.is_some()),
                ("mode", config.mode != Mode::Insert),
            ] {
                if set {
                    cx.report(
                        Code::InvalidValue,
                        &format!("/{field}"),
                        format!("`{field}` has no use with \"operation\": \"get\""),
                    );
                    ok = false;
                }
            }
            let Some(Some(key)) = key else {
                if key.is_some() {
                    cx.report(
                        Code::MissingField,
                        "",
                        "`key` is required with \"operation\": \"get\"",
                    );
                }
                return None;
            };
            ok.then(|| Box::new(StoreNode::Get { collection, key }) as Box<dyn Node>)
        }
        Operation::Put => {
            let Some(record) = &config.record else {
                cx.report(Code::MissingField, "", "`record` is required: the value saved");
                return None;
            };
            let record = Expr::compile(cx, record, "/record");
            let schema = match &config.schema {
                None => Some(None),
                Some(schema) => json_schema::compile(cx, schema, "/schema").map(Some),
            };
            let mode = match config.mode {
                Mode::Insert => WriteMode::Insert,
                Mode::Upsert => WriteMode::Upsert,
            };
            let (Some(record), Some(key), Some(schema), true) = (record, key, schema, ok) else {
                return None;
            };
            Some(Box::new(StoreNode::Put { collection, record, key, mode, schema }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use handlebars::Context;

    use super::*;
    use crate::context::ExecutionMeta;
    use crate::diagnostic::Diagnostic;
    use crate::services::{Offline, Services};
    use crate::template::Templates;

    fn compiled(config: Value) -> Result<(Box<dyn Node>, Templates), Vec<Diagnostic>> {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let mut reads = Default::default();
        let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
        cx.enter_node("save", "/nodes/1".into());
        match compile(&mut cx, config) {
            Some(node) if diagnostics.is_empty() => Ok((node, templates)),
            _ => Err(diagnostics),
        }
    }

    fn run(
        node: &dyn Node,
        templates: &Templates,
        offline: &Arc<Offline>,
        body: Value,
    ) -> Result<Value, NodeError> {
        let services = Services::offline(offline);
        let ctx = Context::from(json!({ "request": { "body": body } }));
        let execution = ExecutionMeta {
            id: "e1".into(),
            flow_id: "f".into(),
            flow_version: "v".into(),
            credential: None,
            depth: 0,
        };
        let logs = crate::nodes::Logs::default();
        let cx = RunCx { execution: &execution, services: &services, logs: &logs };
        match node.run(Scope { ctx: &ctx, templates }, cx)? {
            Outcome::Pending(io) => poll_once(io),
            _ => panic!("a store node answers Pending"),
        }
    }

    fn poll_once<T>(mut f: crate::services::BoxFuture<T>) -> T {
        use std::task::{Context as TaskContext, Poll, Waker};
        match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("offline answers at once"),
        }
    }

    #[test]
    fn inserts_then_refuses_the_same_key_and_upserts_a_new_version() {
        let offline = Arc::new(Offline::default());
        let config = json!({ "collection": "tickets", "key": "$.request.body.id", "record": "$.request.body" });
        let (insert, templates) = compiled(config.clone()).unwrap();
        let body = json!({ "id": "T-1", "subject": "printer" });
        let out = run(&*insert, &templates, &offline, body.clone()).unwrap();
        assert_eq!(
            out,
            json!({ "id": "T-1", "collection": "tickets", "created": true, "version": 1 })
        );
        let again = run(&*insert, &templates, &offline, body.clone()).unwrap_err();
        assert_eq!(
            again.message,
            "saving record `T-1` into `tickets`: a record with this key exists (version 1); use \"mode\": \"upsert\" to replace it"
        );
        let mut upsert = config;
        upsert["mode"] = json!("upsert");
        let (upsert, templates) = compiled(upsert).unwrap();
        let out = run(&*upsert, &templates, &offline, body).unwrap();
        assert_eq!(out["created"], false);
        assert_eq!(out["version"], 2);
        let (get, templates) =
            compiled(json!({ "operation": "get", "collection": "tickets", "key": "T-1" })).unwrap();
        let found = run(&*get, &templates, &offline, Value::Null).unwrap();
        assert_eq!(found["subject"], "printer");
        let (missing, templates) =
            compiled(json!({ "operation": "get", "collection": "tickets", "key": "T-9" })).unwrap();
        assert_eq!(run(&*missing, &templates, &offline, Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn a_record_that_fails_the_schema_fails_the_node_naming_the_pointer() {
        let offline = Arc::new(Offline::default());
        let (node, templates) = compiled(json!({
            "collection": "tickets", "record": "$.request.body",
            "schema": { "type": "object", "properties": { "items": { "type": "array", "items": { "type": "integer" } } } }
        }))
        .unwrap();
        let err = run(&*node, &templates, &offline, json!({ "items": [1, "two"] })).unwrap_err();
        assert_eq!(
            err.message,
            "the record does not meet the schema at #/items/1: \"two\" is not of type \"integer\""
        );
        assert!(offline.stored().is_empty(), "nothing written");
        let ok = run(&*node, &templates, &offline, json!({ "items": [1, 2] })).unwrap();
        assert_eq!(ok["created"], true);
        assert_eq!(ok["id"].as_str().map(str::len), Some(36), "a UUID by default: {ok}");
    }

    #[test]
    fn keys_must_be_short_strings_or_numbers() {
        let offline = Arc::new(Offline::default());
        let (node, templates) = compiled(
            json!({ "collection": "t", "key": "$.request.body.k", "record": "$.request.body" }),
        )
        .unwrap();
        assert_eq!(run(&*node, &templates, &offline, json!({ "k": 7 })).unwrap()["id"], "7");
        let err = run(&*node, &templates, &offline, json!({ "k": [1] })).unwrap_err();
        assert_eq!(err.message, "`key` yielded [1], not a string or a number");
        let err = run(&*node, &templates, &offline, json!({ "k": "x".repeat(513) })).unwrap_err();
        assert_eq!(err.message, "`key` is 513 bytes long; a key has 1 to 512");
        let err = run(&*node, &templates, &offline, json!({ "k": ".." })).unwrap_err();
        assert_eq!(err.message, "`key` yielded `..`, which no URL can name; use another key");
        assert!(run(&*node, &templates, &offline, json!({ "k": "..." })).is_ok());
    }

    #[test]
    fn bad_configurations_are_diagnostics_with_pointers() {
        let messages = |config: Value| -> Vec<(String, String)> {
            compiled(config)
                .err()
                .unwrap()
                .into_iter()
                .map(|d| (d.location.pointer, d.message))
                .collect()
        };
        assert_eq!(
            messages(json!({ "collection": "Tickets!", "record": "$.request.body" })),
            [("/nodes/1/collection".to_owned(), "`Tickets!` is not a collection name".to_owned())]
        );
        assert_eq!(
            messages(json!({ "collection": "t", "record": 1, "schema": { "type": "nope" } }))[0].0,
            "/nodes/1/schema/type"
        );
        assert_eq!(
            messages(json!({ "collection": "t" })),
            [("/nodes/1".to_owned(), "`record` is required: the value saved".to_owned())]
        );
        assert_eq!(
            messages(json!({ "operation": "get", "collection": "t", "record": 1 })),
            [
                (
                    "/nodes/1/record".to_owned(),
                    "`record` has no use with \"operation\": \"get\"".to_owned()
                ),
                ("/nodes/1".to_owned(), "`key` is required with \"operation\": \"get\"".to_owned())
            ]
        );
        assert!(
            valid_collection(&"a".repeat(64))
                && !valid_collection(&"a".repeat(65))
                && !valid_collection("")
        );
    }
}

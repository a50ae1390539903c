//! The execution context every node sees: the trigger request, the execution, and the output of
//! every node that ran before, by node id.

use std::time::SystemTime;

use handlebars::Context;
use serde_json::{Map, Value, json};

use crate::compile_cx::Reads;
use crate::intake::{IntakeError, parse_body, parse_query};
use crate::member::member_mut;
use crate::plan::Plan;

/// A webhook request as the flow sees it (already authenticated and parsed by the intake).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path as received, e.g. `/hooks/orders/eu`.
    pub path: String,
    /// Route parameters by name (`{region}` → `"eu"`).
    pub params: Map<String, Value>,
    /// Query parameters; a repeated key is an array of its values.
    pub query: Map<String, Value>,
    /// Headers with lower-case names.
    pub headers: Map<String, Value>,
    /// The parsed body: JSON, an object for a form, a string for text, `null` when empty.
    pub body: Value,
    pub received_at: SystemTime,
}

/// What a request is built from besides its query and body, wherever it comes from: a live
/// call, a recorded one, or a sample.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// The path as received, e.g. `/hooks/orders/eu`.
    pub path: String,
    /// The route parameters the path matched, by name.
    pub params: Vec<(String, String)>,
    /// Headers with lower-case names, repeated ones joined (see [`crate::intake::join_headers`]).
    pub headers: Map<String, Value>,
    pub received_at: SystemTime,
}

impl Request {
    /// The request with `query` and `body` as the flow sees them.
    pub fn new(head: RequestHead, query: Map<String, Value>, body: Value) -> Request {
        Request {
            method: head.method,
            path: head.path,
            params: head.params.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            query,
            headers: head.headers,
            body,
            received_at: head.received_at,
        }
    }

    /// The request of a call as it arrived: the query string parsed (a repeated key becomes an
    /// array) and the body parsed by its content type, by the same intake rules everywhere.
    pub fn parse(
        head: RequestHead,
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Request, IntakeError> {
        let body = parse_body(content_type, body)?;
        Ok(Request::new(head, parse_query(query), body))
    }
}

/// Who is executing: the ids that land in `execution` in the context.
#[derive(Debug, Clone)]
pub struct ExecutionMeta {
    pub id: String,
    pub flow_id: String,
    pub flow_version: String,
    /// The name of the credential that authenticated the call (never its secret).
    pub credential: Option<String>,
    /// How many events led to this execution: 0 for a call, 1 for a flow started by an event
    /// that a called flow emitted, and so on.
    pub depth: u32,
}

impl ExecutionMeta {
    /// Execution `id` of `plan`'s flow, whose call `credential` authenticated.
    pub fn new(id: String, plan: &Plan, credential: Option<String>) -> ExecutionMeta {
        ExecutionMeta {
            id,
            flow_id: plan.id.clone(),
            flow_version: plan.version.clone(),
            credential,
            depth: 0,
        }
    }
}

/// Builds the context document `{request, execution, nodes}`; the request is moved, not copied.
/// What no path or template of the flow may read (`reads`) is left out: `request.received_at` and
/// `execution` are built for each request otherwise (the headers are left out by the caller).
/// `nodes`: how many node outputs `nodes` makes room for (the flow's node count).
pub fn build(request: Request, meta: &ExecutionMeta, reads: Reads, nodes: usize) -> Context {
    let mut request_doc = Map::with_capacity(7);
    request_doc.insert("method".into(), Value::String(request.method));
    request_doc.insert("path".into(), Value::String(request.path));
    request_doc.insert("params".into(), Value::Object(request.params));
    request_doc.insert("query".into(), Value::Object(request.query));
    request_doc.insert("headers".into(), Value::Object(request.headers));
    request_doc.insert("body".into(), request.body);
    if reads.received_at {
        let received_at = humantime::format_rfc3339_millis(request.received_at).to_string();
        request_doc.insert("received_at".into(), Value::String(received_at));
    }
    // Built by hand: `json!` would serialize (copy) every interpolated value, the body included.
    let mut doc = Map::with_capacity(3);
    doc.insert("request".into(), Value::Object(request_doc));
    document(doc, meta, reads, nodes)
}

/// Builds the context document `{event, execution, nodes}` of a flow an event started; the event
/// (`id`, `type`, `timestamp`, `data`, `source`) is moved, not copied.
pub fn build_event(event: Value, meta: &ExecutionMeta, reads: Reads, nodes: usize) -> Context {
    let mut doc = Map::with_capacity(3);
    doc.insert("event".into(), event);
    document(doc, meta, reads, nodes)
}

/// `doc` with the execution (when the flow may read it) and room for `nodes` node outputs.
fn document(
    mut doc: Map<String, Value>,
    meta: &ExecutionMeta,
    reads: Reads,
    nodes: usize,
) -> Context {
    if reads.execution {
        let mut execution = Map::with_capacity(4);
        execution.insert("id".into(), Value::String(meta.id.clone()));
        execution.insert("flow_id".into(), Value::String(meta.flow_id.clone()));
        execution.insert("flow_version".into(), Value::String(meta.flow_version.clone()));
        let credential = meta.credential.clone().map_or(Value::Null, Value::String);
        execution.insert("credential".into(), credential);
        doc.insert("execution".into(), Value::Object(execution));
    }
    doc.insert("nodes".into(), Value::Object(Map::with_capacity(nodes)));
    Context::from(Value::Object(doc))
}

/// Records the output of node `id`.
pub fn set_output(ctx: &mut Context, id: &str, output: Value) {
    if let Value::Object(doc) = ctx.data_mut()
        && let Some(Value::Object(nodes)) = member_mut(doc, "nodes")
    {
        nodes.insert(id.to_owned(), output);
    }
}

/// Adds the failure the error response may render (`error.node`, `error.message`).
pub fn set_error(ctx: &mut Context, node: &str, message: &str) {
    if let Value::Object(doc) = ctx.data_mut() {
        doc.insert("error".into(), json!({ "node": node, "message": message }));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn builds_the_documented_shape() {
        let request = Request {
            method: "POST".into(),
            path: "/hooks/x".into(),
            params: Map::new(),
            query: Map::new(),
            headers: Map::new(),
            body: json!({"a": 1}),
            received_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        };
        let meta = ExecutionMeta {
            id: "e1".into(),
            flow_id: "f".into(),
            flow_version: "v".into(),
            credential: Some("erp".into()),
            depth: 0,
        };
        let all = Reads { headers: true, received_at: true, execution: true };
        let mut ctx = build(request.clone(), &meta, all, 0);
        set_output(&mut ctx, "n", json!(2));
        assert_eq!(
            ctx.data(),
            &json!({
                "request": {"method": "POST", "path": "/hooks/x", "params": {}, "query": {},
                            "headers": {}, "body": {"a": 1}, "received_at": "2023-11-14T22:13:20.123Z"},
                "execution": {"id": "e1", "flow_id": "f", "flow_version": "v", "credential": "erp"},
                "nodes": {"n": 2}
            })
        );
        // What no path or template reads is left out.
        let ctx = build(request, &meta, Reads::default(), 0);
        assert_eq!(
            ctx.data(),
            &json!({
                "request": {"method": "POST", "path": "/hooks/x", "params": {}, "query": {},
                            "headers": {}, "body": {"a": 1}},
                "nodes": {}
            })
        );
    }
}

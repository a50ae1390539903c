//! The status-check URL, `GET /hooks/_executions/{id}`: where a caller polls an execution. It
//! asks for the same credential as the route that received the call, and shows the status, the
//! times, the flow's response and the failure (node and message), nothing more.

use axum::http::Method;
use axum::http::request::Parts;
use bytes::Bytes;
use hookflow_runtime::Engine;
use hookflow_runtime::auth::{self, AuthInput};
use hookflow_runtime::record::{self, Sent};
use hookflow_runtime::store_errors;
use hookflow_store::{ExecutionRecord, RecordedResponse, clock};
use serde_json::{Value, json};

use crate::error::HookError;
use crate::hooks::Answer;

/// Answers a status check of execution `id`.
pub async fn serve(state: &Engine, parts: &Parts, id: &str) -> Result<Sent, Answer> {
    if parts.method == Method::OPTIONS {
        return Err(Answer::Options { allow: "GET, HEAD, OPTIONS".into() });
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Err(HookError::MethodNotAllowed { allow: "GET, HEAD, OPTIONS".into() }.into());
    }
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(HookError::NotFound.into());
    }
    let store = state.store().clone();
    let key = id.to_owned();
    let record = tokio::task::spawn_blocking(move || store.execution(&key))
        .await
        .map_err(|_| HookError::Internal)?
        .map_err(|e| {
            store_errors::failed("read_execution", &e, &format!("cannot read execution {id}"));
            HookError::Internal
        })?;
    // A call refused before any flow ran has nothing to poll.
    let Some(record) = record else { return Err(HookError::NotFound.into()) };
    let Some(plan) = record.flow_id.as_deref().and_then(|f| state.plan(f)) else {
        return Err(HookError::NotFound.into());
    };
    // A flow that no webhook starts has no caller to answer.
    let Some(hook) = plan.webhook() else { return Err(HookError::NotFound.into()) };
    let credentials = state.credentials.load();
    // A status check has no body: a route with a signature checks one of the empty body.
    let input = AuthInput {
        headers: &parts.headers,
        query: parts.uri.query(),
        body: b"",
        now_ms: clock::now_ms(),
    };
    auth::check(&hook.auth, input, &credentials).map_err(HookError::from)?;
    let body = document(&record);
    Ok(Sent {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(body.to_string()),
    })
}

/// What a caller sees of an execution.
fn document(record: &ExecutionRecord) -> Value {
    let time = |ms: Option<i64>| {
        ms.map(|ms| humantime::format_rfc3339_millis(clock::time(ms)).to_string())
    };
    let duration_ms = record.finished_at_ms.map(|f| f - record.received_at_ms);
    json!({
        "execution_id": record.id,
        "flow_id": record.flow_id,
        "status": record.status,
        "received_at": time(Some(record.received_at_ms)),
        "completed_at": time(record.finished_at_ms),
        "duration_ms": duration_ms,
        "response": record.response.as_ref().map(response),
        "error": record.error,
    })
}

/// A recorded response with its body as JSON when it is JSON, else as text.
pub fn response(r: &RecordedResponse) -> Value {
    let body = record::body_value(&r.headers, &r.body, r.body_truncated);
    let headers: serde_json::Map<String, Value> =
        r.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    json!({ "status": r.status, "headers": headers, "body": body, "body_truncated": r.body_truncated })
}

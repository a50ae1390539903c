//! A recorded request back into the request a flow sees: for queued calls run after a restart,
//! and for replays. It goes through the same intake rules as a live call.

use std::time::SystemTime;

use hookflow_core::intake::{IntakeError, parse_body, parse_query};
use hookflow_core::routes::{HOOKS_BASE, match_suffix};
use hookflow_core::{Plan, Request};
use hookflow_store::RecordedRequest;
use serde_json::{Map, Value};

/// Why a recorded request cannot run again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("the recorded path `{path}` does not match the flow's suffix `{suffix}` any more")]
    Path { path: String, suffix: String },
    #[error("the recorded body was cut at the recording limit; it cannot run again")]
    Truncated,
    #[error("{0}")]
    Body(#[from] IntakeError),
}

/// The request `plan` sees for `recorded`. Redacted headers stay redacted.
pub fn rebuild(
    recorded: &RecordedRequest,
    plan: &Plan,
    received_at: SystemTime,
) -> Result<Request, RebuildError> {
    if recorded.body_truncated {
        return Err(RebuildError::Truncated);
    }
    let suffix = &plan.trigger().suffix;
    let path = recorded.path.strip_prefix(HOOKS_BASE).unwrap_or(&recorded.path);
    let params = match_suffix(suffix, path).ok_or_else(|| RebuildError::Path {
        path: recorded.path.clone(),
        suffix: suffix.clone(),
    })?;
    let headers = joined_headers(&recorded.headers);
    let content_type = headers.get("content-type").and_then(Value::as_str);
    let body = parse_body(content_type, &recorded.body)?;
    Ok(Request {
        method: recorded.method.clone(),
        path: recorded.path.clone(),
        params: params.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        query: parse_query(&recorded.query),
        headers,
        body,
        received_at,
    })
}

/// Recorded headers as the flow sees them: one entry per name, repeated ones joined with `", "`.
pub fn joined_headers(headers: &[(String, String)]) -> Map<String, Value> {
    let mut map: Map<String, Value> = Map::new();
    for (name, value) in headers {
        match map.get_mut(name) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => {
                map.insert(name.clone(), Value::String(value.clone()));
            }
        }
    }
    map
}

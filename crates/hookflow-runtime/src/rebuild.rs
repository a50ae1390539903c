//! A recorded request back into the request a flow sees: for queued calls run after a restart,
//! and for replays. It goes through the same intake rules as a live call. [`prepare`] is the
//! whole step for a record: on the event that started it, or on its request rebuilt.

use std::time::SystemTime;

use hookflow_core::intake::{IntakeError, join_headers};
use hookflow_core::routes::{HOOKS_BASE, match_suffix};
use hookflow_core::{ExecutionMeta, Plan, Prepared, Request, RequestHead};
use hookflow_store::{Cause, RecordedRequest};
use serde_json::Value;

/// Why a recorded request cannot run again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("the recorded path `{path}` does not match the flow's suffix `{suffix}` any more")]
    Path { path: String, suffix: String },
    #[error("flow `{flow}` is not started by a webhook any more")]
    NotWebhook { flow: String },
    #[error("the recorded body was cut at the recording limit; it cannot run again")]
    Truncated,
    #[error("{0}")]
    Body(#[from] IntakeError),
}

/// Execution `meta` of `plan` prepared again from a record: on the event that started it
/// (`cause`, at the chain depth it had), else on `recorded` rebuilt as received at `received_at`.
pub fn prepare(
    plan: &Plan,
    cause: Option<&Cause>,
    recorded: &RecordedRequest,
    received_at: SystemTime,
    mut meta: ExecutionMeta,
) -> Result<Prepared, RebuildError> {
    match cause {
        Some(cause) => {
            meta.depth = cause.depth;
            Ok(Prepared::event(plan, cause.event.clone(), meta))
        }
        None => Ok(Prepared::new(plan, rebuild(recorded, plan, received_at)?, meta)),
    }
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
    let Some(hook) = plan.webhook() else {
        return Err(RebuildError::NotWebhook { flow: plan.id.clone() });
    };
    let suffix = &hook.suffix;
    let path = recorded.path.strip_prefix(HOOKS_BASE).unwrap_or(&recorded.path);
    let params = match_suffix(suffix, path).ok_or_else(|| RebuildError::Path {
        path: recorded.path.clone(),
        suffix: suffix.clone(),
    })?;
    let pairs = recorded.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let headers = join_headers(pairs, recorded.headers.len());
    let content_type = headers.get("content-type").and_then(Value::as_str).map(str::to_owned);
    let head = RequestHead {
        method: recorded.method.clone(),
        path: recorded.path.clone(),
        params,
        headers,
        received_at,
    };
    Ok(Request::parse(head, &recorded.query, content_type.as_deref(), &recorded.body)?)
}

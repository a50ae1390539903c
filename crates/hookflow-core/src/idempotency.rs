//! The idempotency key of a call: the route's `idempotency.key` expression evaluated against the
//! request, before any node runs.

use serde_json::Value;

use crate::context::{self, ExecutionMeta, Request};
use crate::expr::{EvalError, Scope};
use crate::plan::Plan;

/// The call's key, or `None` when the route has no idempotency or the key yields nothing or
/// `null`. A string is the key as it is; any other value is its JSON text.
pub fn key(
    plan: &Plan,
    request: &Request,
    meta: &ExecutionMeta,
) -> Result<Option<String>, EvalError> {
    let Some(idempotency) = &plan.trigger().idempotency else { return Ok(None) };
    let ctx = context::build(request.clone(), meta, plan.reads(), 0);
    let scope = Scope { ctx: &ctx, templates: &plan.templates };
    Ok(match idempotency.key.eval(scope)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

//! The idempotency key of a call: the route's `idempotency.key` expression evaluated against the
//! execution's context before any node runs (the context the execution then runs on).

use serde_json::Value;

use crate::execute::Prepared;
use crate::expr::EvalError;
use crate::plan::Plan;

/// The call's key, or `None` when the route has no idempotency or the key yields nothing or
/// `null`. A string is the key as it is; any other value is its JSON text.
pub fn key(plan: &Plan, prepared: &Prepared) -> Result<Option<String>, EvalError> {
    let Some(idempotency) = plan.webhook().and_then(|hook| hook.idempotency.as_ref()) else {
        return Ok(None);
    };
    Ok(match idempotency.key.eval(prepared.scope(plan))? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

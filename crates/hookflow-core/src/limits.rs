//! A route's limits on its callers (`rate_limit` on the `webhook` node), compiled once: how many
//! calls a second each caller may make, with what burst, and what tells callers apart (their
//! address, their credential, or a value expression over the call). The runtime keeps the
//! counts; this is only what the flow asks for.

use std::num::NonZeroU32;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::execute::Prepared;
use crate::expr::{EvalError, Expr};
use crate::plan::Plan;

/// The `rate_limit` field of a `webhook` node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Calls a second each caller may make, on average.
    pub per_second: u32,
    /// Calls a caller may make at once after a quiet spell (default: `per_second`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// What tells callers apart: `"ip"` (the default: the caller's address, see
    /// `trusted_proxies`), `"credential"` (the credential that authenticated the call), or a
    /// value expression over the call (`$.request.headers['x-tenant']`).
    #[serde(default = "default_key")]
    pub key: Value,
}

fn default_key() -> Value {
    Value::String("ip".into())
}

/// What tells a route's callers apart.
#[derive(Debug)]
pub enum LimitKey {
    Ip,
    Credential,
    /// A value expression over the call's context; a call for which it yields nothing or `null`
    /// shares one count with every other such call.
    Expr(Expr),
}

/// A compiled `rate_limit`.
#[derive(Debug)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    pub key: LimitKey,
}

impl RateLimit {
    /// `config` (at `rel` in the webhook node), checked; `None` after reporting what is wrong.
    pub fn compile(
        cx: &mut CompileCx<'_>,
        config: &RateLimitConfig,
        rel: &str,
    ) -> Option<RateLimit> {
        let per_second = NonZeroU32::new(config.per_second);
        if per_second.is_none() {
            cx.report(
                Code::InvalidValue,
                &format!("{rel}/per_second"),
                "`per_second` must be above 0",
            );
        }
        let burst = match config.burst {
            None => per_second,
            Some(burst) => {
                let burst = NonZeroU32::new(burst);
                if burst.is_none() {
                    cx.report(
                        Code::InvalidValue,
                        &format!("{rel}/burst"),
                        "`burst` must be above 0",
                    );
                }
                burst
            }
        };
        let key = match config.key.as_str() {
            Some("ip") => Some(LimitKey::Ip),
            Some("credential") => Some(LimitKey::Credential),
            _ => Expr::compile(cx, &config.key, &format!("{rel}/key")).map(LimitKey::Expr),
        };
        Some(RateLimit { per_second: per_second?, burst: burst?, key: key? })
    }

    /// The caller's key when the route's key is a value expression: `None` for the other kinds,
    /// or when it yields nothing or `null` (`""` then: one shared count). A string is itself;
    /// another value its JSON text.
    pub fn expression_key(
        &self,
        plan: &Plan,
        prepared: &Prepared,
    ) -> Result<Option<String>, EvalError> {
        let LimitKey::Expr(expr) = &self.key else { return Ok(None) };
        Ok(Some(match expr.eval(prepared.scope(plan))? {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
        }))
    }
}

//! The `webhook` node: the flow's trigger. It mounts a URL suffix with its methods, auth, body
//! limit, response mode and expected data; the server reads these settings, the run step does
//! nothing (the request is in the context as `request`).

mod hmac;

use std::num::NonZeroU32;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::cors::{Cors, CorsConfig};
use crate::diagnostic::Code;
use crate::expr::{Expr, Scope};
use crate::json_schema::{self, Schema};
use crate::limits::{RateLimit, RateLimitConfig};
use crate::networks::Networks;
use crate::response::{ResponseConfig, ResponseSpec};
use crate::trigger::Trigger;

pub use hmac::{
    BODY, DEFAULT_TOLERANCE_S, HmacAlgorithm, HmacAuth, HmacPreset, SignatureEncoding, TIMESTAMP,
};

pub static TYPE: NodeType = NodeType {
    name: "webhook",
    role: Role::Trigger,
    doc: "The trigger. Mounts `suffix` under the public base URL (`/hooks`) for `methods` \
          (default POST), checks `auth` (explicit `none`, `api_key`, `bearer`, `basic`, or `hmac`, \
          a signature of the raw body by a provider preset or a generic scheme; each naming a \
          stored credential), refuses bodies over `max_body_bytes` (default 1 MiB) and \
          answers according to `response`. `expected` holds sample headers, query and body: the \
          request `hookflow run` sends when given none, and documentation of the data the flow \
          reads. The request is in the context as `request`; the node's own output is `null`.",
    example: r#"{ "id": "incoming", "type": "webhook", "suffix": "/orders/{region}", "methods": ["POST"],
  "auth": { "type": "api_key", "in": "header", "name": "X-API-Key", "credential": "erp" },
  "expected": { "body": { "id": "ORD-1" } } }"#,
    schema: |g| g.root_schema_for::<WebhookConfig>(),
    compile,
};

/// The fields of a `webhook` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// URL suffix under the public base, e.g. `/orders/{id}`; `{name}` is a route parameter and a
    /// final `{*name}` takes the rest of the path. No spaces.
    pub suffix: String,
    /// Methods served (default `["POST"]`).
    #[serde(default = "default_methods")]
    pub methods: Vec<Method>,
    /// Who may call: `{"type": "none"}` must be said explicitly.
    pub auth: Auth,
    /// Largest accepted body in bytes (default 1 MiB); larger bodies get `413`.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// How and when the request is answered.
    #[serde(default)]
    pub response: ResponseSettings,
    /// Sample request data: the default for `hookflow run`, and documentation.
    #[serde(default)]
    pub expected: Expected,
    /// Opt-in deduplication: a repeat of a key within the TTL gets the first response.
    #[serde(default)]
    pub idempotency: Option<IdempotencyConfig>,
    /// The addresses that may call: CIDRs or single addresses, IPv4 and IPv6; any other caller
    /// gets `403` before auth runs.
    #[serde(default)]
    pub allow_ips: Option<Vec<String>>,
    /// The proxies whose `Forwarded` / `X-Forwarded-For` headers are believed, as CIDRs: behind
    /// them, the first hop that is not one of them is the caller.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Calls from browsers of other origins: preflights answered before auth, the origin
    /// reflected.
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// Calls a second each caller may make; more get `429` with `Retry-After`.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Runs of the route at once, at most; one more gets `503` with `Retry-After`.
    #[serde(default)]
    pub max_concurrency: Option<NonZeroU32>,
}

/// The fields of `idempotency`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// A value expression giving the key, e.g. `$.request.headers['idempotency-key']` or
    /// `$.request.body.id`; a call whose key yields nothing or `null` is not deduplicated.
    pub key: Value,
    /// How long the first response is kept for repeats (default 86400 s).
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u64,
}

fn default_ttl_seconds() -> u64 {
    86_400
}

/// The compiled `idempotency` of a route.
#[derive(Debug)]
pub struct Idempotency {
    pub key: Expr,
    pub ttl: Duration,
}

fn default_methods() -> Vec<Method> {
    vec![Method::Post]
}

fn default_max_body() -> u64 {
    1024 * 1024
}

/// An HTTP method a webhook can serve.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Head]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

/// How a webhook authenticates its callers. Secrets are never in the flow: `credential` names a
/// credential that hookflow generated and stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No authentication (must be explicit).
    None,
    /// An API key in a header (default `X-API-Key`) or a query parameter (default `api_key`).
    ApiKey {
        #[serde(rename = "in", default)]
        location: KeyLocation,
        #[serde(default)]
        name: Option<String>,
        credential: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer { credential: String },
    /// HTTP Basic with the credential's username and password.
    Basic { credential: String },
    /// An HMAC signature of the raw body (GitHub, Stripe, Slack, Shopify, Standard Webhooks, or
    /// a generic scheme), keyed with an `hmac` credential's secret.
    Hmac(HmacAuth),
}

impl Auth {
    /// The credential this auth names, if any.
    pub fn credential(&self) -> Option<&str> {
        match self {
            Auth::None => None,
            Auth::ApiKey { credential, .. }
            | Auth::Bearer { credential }
            | Auth::Basic { credential } => Some(credential),
            Auth::Hmac(hmac) => Some(&hmac.credential),
        }
    }
}

/// Where an API key travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    #[default]
    Header,
    Query,
}

/// When and how the request is answered.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseSettings {
    /// `respond_node` (default): the first `respond` node reached answers. `accepted`: `202` at
    /// once, the flow runs in the background.
    #[serde(default)]
    pub mode: ResponseMode,
    /// How long the caller waits for a response (default 30000 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// What the caller gets when `timeout_ms` passes first: `error` (default) answers `504`,
    /// `accepted` answers `202` with the status URL. Either way the run goes on.
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// The answer when the flow ends without reaching a `respond` node (default `200` with the
    /// execution id).
    #[serde(default)]
    pub default: Option<ResponseConfig>,
    /// The answer when the flow fails (default `500` problem+json with the execution id); it can
    /// read `error.node` and `error.message`.
    #[serde(default)]
    pub error: Option<ResponseConfig>,
}

impl Default for ResponseSettings {
    fn default() -> Self {
        ResponseSettings {
            mode: ResponseMode::default(),
            timeout_ms: default_timeout_ms(),
            on_timeout: OnTimeout::default(),
            default: None,
            error: None,
        }
    }
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// See [`ResponseSettings::on_timeout`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    #[default]
    Error,
    Accepted,
}

/// See [`ResponseSettings::mode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    RespondNode,
    Accepted,
}

/// Sample request data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub headers: Map<String, Value>,
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub query: Map<String, Value>,
    /// Sample route parameters (`{region}` → `"eu"`).
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub body: Option<Value>,
    /// The request contract: a JSON Schema (2020-12) the body must meet, checked before any
    /// node runs; a body that breaks it gets `422` with every problem's pointer.
    #[serde(default)]
    pub schema: Option<Value>,
}

/// The compiled settings of a flow's trigger.
#[derive(Debug)]
pub struct Webhook {
    /// The suffix, as written (matchit syntax).
    pub suffix: String,
    pub methods: Vec<Method>,
    /// The route as records and metrics name it: every method, then the suffix, e.g.
    /// `POST,PUT /orders/{id}`.
    pub route: String,
    pub auth: Auth,
    pub max_body_bytes: u64,
    pub mode: ResponseMode,
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    pub default_response: Option<ResponseSpec>,
    pub error_response: Option<ResponseSpec>,
    pub expected: Expected,
    pub idempotency: Option<Idempotency>,
    /// `None`: every address may call.
    pub allow_ips: Option<Networks>,
    pub trusted_proxies: Networks,
    pub cors: Option<Cors>,
    /// `expected.schema`, compiled.
    pub contract: Option<Schema>,
    pub rate_limit: Option<RateLimit>,
    pub max_concurrency: Option<NonZeroU32>,
}

#[derive(Debug)]
struct WebhookNode(Webhook);

impl Node for WebhookNode {
    fn trigger(&self) -> Option<Trigger<'_>> {
        Some(Trigger::Webhook(&self.0))
    }

    fn run(&self, _: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        Ok(Outcome::Value(Value::Null))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    if !hmac::precheck(cx, &config) {
        return None;
    }
    let config: WebhookConfig = cx.config(config)?;
    let mut ok = hmac::check(cx, &config.auth);
    if let Err((message, help)) = check_suffix(&config.suffix) {
        cx.report(Code::InvalidSuffix, "/suffix", message).set_help(help);
        ok = false;
    }
    if config.methods.is_empty() {
        cx.report(Code::InvalidValue, "/methods", "`methods` is empty")
            .set_help("list at least one method, e.g. [\"POST\"]");
        ok = false;
    }
    let mut methods: Vec<Method> = Vec::with_capacity(config.methods.len());
    for m in &config.methods {
        if !methods.contains(m) {
            methods.push(*m);
        }
    }
    if let Auth::ApiKey { name: Some(name), .. } = &config.auth
        && (name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()))
    {
        cx.report(
            Code::InvalidValue,
            "/auth/name",
            format!("`{name}` is not a usable header or query name"),
        );
        ok = false;
    }
    if config.response.timeout_ms == 0 {
        cx.report(Code::InvalidValue, "/response/timeout_ms", "`timeout_ms` must be above 0");
        ok = false;
    }
    let default_response =
        optional_response(cx, config.response.default.as_ref(), "/response/default", &mut ok);
    let idempotency = match &config.idempotency {
        Some(i) => {
            if i.ttl_seconds == 0 {
                cx.report(
                    Code::InvalidValue,
                    "/idempotency/ttl_seconds",
                    "`ttl_seconds` must be above 0",
                );
                ok = false;
            }
            let key = Expr::compile(cx, &i.key, "/idempotency/key");
            ok &= key.is_some();
            key.map(|key| Idempotency { key, ttl: Duration::from_secs(i.ttl_seconds) })
        }
        None => None,
    };
    let error_response =
        optional_response(cx, config.response.error.as_ref(), "/response/error", &mut ok);
    if config.allow_ips.as_ref().is_some_and(Vec::is_empty) {
        cx.report(Code::InvalidValue, "/allow_ips", "`allow_ips` is empty: no caller could call");
        ok = false;
    }
    let allow_ips =
        optional(config.allow_ips.as_ref(), &mut ok, |items| networks(cx, items, "/allow_ips"));
    let trusted_proxies = networks(cx, &config.trusted_proxies, "/trusted_proxies");
    ok &= trusted_proxies.is_some();
    let cors = optional(config.cors.as_ref(), &mut ok, |c| {
        Cors::compile(c)
            .map_err(|(pointer, message)| {
                cx.report(Code::InvalidValue, &format!("/cors{pointer}"), message);
            })
            .ok()
    });
    let contract = optional(config.expected.schema.as_ref(), &mut ok, |s| {
        json_schema::compile(cx, s, "/expected/schema")
    });
    let rate_limit =
        optional(config.rate_limit.as_ref(), &mut ok, |r| RateLimit::compile(cx, r, "/rate_limit"));
    ok.then(|| {
        let names: Vec<&str> = methods.iter().copied().map(Method::as_str).collect();
        let route = format!("{} {}", names.join(","), config.suffix);
        Box::new(WebhookNode(Webhook {
            suffix: config.suffix,
            methods,
            route,
            auth: config.auth,
            max_body_bytes: config.max_body_bytes,
            mode: config.response.mode,
            on_timeout: config.response.on_timeout,
            timeout: Duration::from_millis(config.response.timeout_ms),
            default_response,
            error_response,
            expected: config.expected,
            idempotency,
            allow_ips,
            trusted_proxies: trusted_proxies.unwrap_or_default(),
            cors,
            contract,
            rate_limit,
            max_concurrency: config.max_concurrency,
        })) as Box<dyn Node>
    })
}

fn optional_response(
    cx: &mut CompileCx<'_>,
    config: Option<&ResponseConfig>,
    rel: &str,
    ok: &mut bool,
) -> Option<ResponseSpec> {
    optional(config, ok, |config| ResponseSpec::compile(cx, config, rel))
}

/// An optional field compiled by `compile` (which reports what is wrong): `None` when the field
/// is absent; a field that does not compile clears `ok`.
fn optional<C, T>(
    config: Option<&C>,
    ok: &mut bool,
    compile: impl FnOnce(&C) -> Option<T>,
) -> Option<T> {
    let compiled = compile(config?);
    *ok &= compiled.is_some();
    compiled
}

/// A list of networks at `rel`; `None` after reporting the entry that is not one.
fn networks(cx: &mut CompileCx<'_>, items: &[String], rel: &str) -> Option<Networks> {
    Networks::parse(items)
        .map_err(|(i, message)| {
            cx.report(Code::InvalidValue, &format!("{rel}/{i}"), message);
        })
        .ok()
}

/// Checks a URL suffix; on error answers a message and a hint.
pub fn check_suffix(suffix: &str) -> Result<(), (String, String)> {
    let fail = |m: String, h: &str| Err((m, h.to_owned()));
    if suffix.contains(char::is_whitespace) {
        return fail(
            format!("suffix `{suffix}` contains a space"),
            "URLs cannot contain spaces: use `-` or `_` instead, e.g. `/new-order`",
        );
    }
    let Some(rest) = suffix.strip_prefix('/') else {
        return fail(format!("suffix `{suffix}` must start with `/`"), "write it as `/orders`");
    };
    if rest.starts_with('_') {
        return fail(
            format!("suffix `{suffix}` starts with `_`, which hookflow keeps for itself"),
            "`/hooks/_executions/{id}` is the status-check URL; start the suffix with a letter or digit",
        );
    }
    if rest.is_empty() {
        return fail("suffix `/` names no path".into(), "give the webhook a name, e.g. `/orders`");
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            return fail(
                format!("suffix `{suffix}` has an empty segment"),
                "remove the doubled or trailing `/`",
            );
        }
        if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, wildcard) = match inner.strip_prefix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if wildcard && i + 1 != segments.len() {
                return fail(
                    format!("wildcard `{segment}` must be the last segment"),
                    "move it to the end, e.g. `/files/{*path}`",
                );
            }
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return fail(
                    format!("parameter `{segment}` needs a name of letters, digits and `_`"),
                    "e.g. `/orders/{id}`",
                );
            }
        } else if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c))
        {
            return fail(
                format!(
                    "segment `{segment}` of suffix `{suffix}` has a character that is not allowed in a URL path"
                ),
                "use letters, digits, `-`, `_`, `.` and `~`; `{name}` for a parameter",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert!(check_suffix("/orders").is_ok());
        assert!(check_suffix("/orders/{id}/lines").is_ok());
        assert!(check_suffix("/files/{*path}").is_ok());
        let (m, h) = check_suffix("/new order").unwrap_err();
        assert!(m.contains("space") && h.contains("`-` or `_`"));
        assert!(check_suffix("orders").is_err());
        assert!(check_suffix("/").is_err());
        assert!(check_suffix("/a//b").is_err());
        assert!(check_suffix("/{*rest}/x").is_err());
        assert!(check_suffix("/{}").is_err());
        assert!(check_suffix("/a?b").is_err());
        assert!(check_suffix("/_executions/{id}").unwrap_err().0.contains("keeps for itself"));
    }

    #[test]
    fn auth_parses_each_kind() {
        let a: Auth =
            serde_json::from_str(r#"{"type":"api_key","in":"query","credential":"k"}"#).unwrap();
        assert_eq!(
            a,
            Auth::ApiKey { location: KeyLocation::Query, name: None, credential: "k".into() }
        );
        let a: Auth = serde_json::from_str(r#"{"type":"none"}"#).unwrap();
        assert_eq!(a.credential(), None);
        assert!(
            serde_json::from_str::<Auth>(r#"{"type":"bearer","credential":"k","x":1}"#).is_err()
        );
    }
}

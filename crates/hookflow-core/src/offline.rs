//! Runs a flow on a sample request without a server: what `hookflow run` and flow test cases
//! use. The request goes through the same intake rules as over HTTP (route matching, body
//! parsing by content type, lower-cased headers); auth is not checked. A flow an event starts
//! runs on a sample event instead.

use std::time::SystemTime;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::{ExecutionMeta, Request, RequestHead};
use crate::execute::{Execution, Prepared, execute};
use crate::intake::{IntakeError, parse_body};
use crate::nodes::webhook::Method;
use crate::plan::Plan;
use crate::routes::{HOOKS_BASE, match_suffix};
use crate::services::Services;

/// A request to run a flow on. Empty parts fall back to the trigger's `expected` samples.
#[derive(Debug, Clone, Default)]
pub struct SampleRequest {
    pub method: Option<String>,
    /// The path after `/hooks`, e.g. `/orders/eu`.
    pub path: Option<String>,
    pub query: Map<String, Value>,
    pub headers: Map<String, Value>,
    pub body: Option<SampleBody>,
    /// When the request arrived (default: now).
    pub received_at: Option<SystemTime>,
    /// The credential name the flow sees as `execution.credential`.
    pub credential: SampleCredential,
    /// The event, for a flow an `event` trigger starts (default: the trigger's first event
    /// type, with `null` data).
    pub event: Option<SampleEvent>,
}

/// A sample event for a flow an `event` trigger starts: given to `hookflow run`, or a test
/// case's `event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleEvent {
    /// The event type (default: the trigger's first pattern that is a type).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The event's data (default `null`).
    #[serde(default)]
    pub data: Value,
}

/// Which credential an offline run pretends authenticated the call (auth itself is not checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SampleCredential {
    /// The one the route's auth names (none for a route without auth).
    #[default]
    Route,
    /// None: `execution.credential` is `null`.
    Skip,
    /// No credential is presented: a route with auth refuses the call.
    Anonymous,
    /// This one.
    Named(String),
}

/// A sample body: raw bytes (parsed by the `content-type` header, JSON when there is none), or a
/// JSON value.
#[derive(Debug, Clone)]
pub enum SampleBody {
    Raw(Vec<u8>),
    Json(Value),
}

/// Why a sample could not be run.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("flow `{flow}` is not started by a webhook, so it takes no sample request")]
    NotWebhook { flow: String },
    #[error(
        "flow `{flow}` is started by a webhook, not by events: it takes a request, not an event"
    )]
    NotEvent { flow: String },
    #[error(
        "flow `{flow}` is not started by events of type `{kind}`; name one its trigger matches"
    )]
    EventType { flow: String, kind: String },
    #[error("flow `{flow}` does not serve {method} (it serves {allowed})")]
    Method { flow: String, method: String, allowed: String },
    #[error("path `{path}` does not match the suffix `{suffix}`")]
    Path { path: String, suffix: String },
    #[error("{0}")]
    Body(#[from] IntakeError),
    /// The call would be refused before any node runs, as the server refuses it.
    #[error("the call is refused: {0}")]
    Refused(Refusal),
}

/// Why a sample call is refused before any node runs (the server answers these itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It presents no credential to a route with auth.
    #[error("it presents no credential and the route needs one")]
    Unauthorized,
    /// Its body is larger than the route's `max_body_bytes`.
    #[error("its body is larger than the route's limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
}

/// Runs `plan` on `sample` (even when the flow is inactive).
pub async fn run(
    plan: &Plan,
    sample: SampleRequest,
    execution_id: String,
    services: &Services,
) -> Result<Execution, OfflineError> {
    if let Some(trigger) = plan.trigger().event() {
        let at = sample.received_at.unwrap_or_else(SystemTime::now);
        let event = sample
            .event
            .unwrap_or_else(|| SampleEvent { kind: None, data: trigger.expected.clone() });
        let first = trigger.events.iter().find(|p| !p.ends_with('*'));
        let Some(kind) = event.kind.or_else(|| first.cloned()) else {
            return Err(OfflineError::EventType { flow: plan.id.clone(), kind: String::new() });
        };
        if !trigger.matches(&kind) {
            return Err(OfflineError::EventType { flow: plan.id.clone(), kind });
        }
        let at = humantime::format_rfc3339_millis(at).to_string();
        let event = serde_json::json!({
            "id": "evt_test", "type": kind, "timestamp": at, "data": event.data,
            "source": { "flow_id": null, "execution_id": null },
        });
        let meta = ExecutionMeta::new(execution_id, plan, None);
        return Ok(execute(plan, Prepared::event(plan, event, meta), services).await);
    }
    if sample.event.is_some() {
        return Err(OfflineError::NotEvent { flow: plan.id.clone() });
    }
    let Some(trigger) = plan.webhook() else {
        return Err(OfflineError::NotWebhook { flow: plan.id.clone() });
    };
    let method = sample
        .method
        .unwrap_or_else(|| trigger.methods[0].as_str().to_owned())
        .to_ascii_uppercase();
    let served = |m: Method| {
        trigger.methods.contains(&m)
            || (m == Method::Head && trigger.methods.contains(&Method::Get))
    };
    if !Method::parse(&method).is_some_and(served) {
        let allowed = trigger.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        return Err(OfflineError::Method { flow: plan.id.clone(), method, allowed });
    }
    let path =
        sample.path.unwrap_or_else(|| sample_path(&trigger.suffix, &trigger.expected.params));
    // Matched on its own, so that an inactive flow can still be run.
    let Some(params) = match_suffix(&trigger.suffix, &path) else {
        return Err(OfflineError::Path { path, suffix: trigger.suffix.clone() });
    };
    let mut headers: Map<String, Value> = Map::new();
    for (k, v) in trigger.expected.headers.iter().chain(sample.headers.iter()) {
        headers.insert(k.to_ascii_lowercase(), v.clone());
    }
    let mut query = trigger.expected.query.clone();
    query.extend(sample.query);
    if sample.credential == SampleCredential::Anonymous && trigger.auth.credential().is_some() {
        return Err(OfflineError::Refused(Refusal::Unauthorized));
    }
    let sample_body = sample.body.or_else(|| trigger.expected.body.clone().map(SampleBody::Json));
    let size = match &sample_body {
        None => 0,
        Some(SampleBody::Raw(bytes)) => bytes.len(),
        Some(SampleBody::Json(v)) => serde_json::to_vec(v).map_or(0, |b| b.len()),
    };
    if u64::try_from(size).unwrap_or(u64::MAX) > trigger.max_body_bytes {
        return Err(OfflineError::Refused(Refusal::PayloadTooLarge {
            limit: trigger.max_body_bytes,
        }));
    }
    let body = match sample_body {
        None => Value::Null,
        Some(SampleBody::Json(v)) => {
            headers
                .entry("content-type")
                .or_insert_with(|| Value::String("application/json".into()));
            v
        }
        Some(SampleBody::Raw(bytes)) => {
            let ct = headers
                .entry("content-type")
                .or_insert_with(|| Value::String("application/json".into()));
            parse_body(ct.as_str(), &bytes)?
        }
    };
    let head = RequestHead {
        method,
        path: format!("{HOOKS_BASE}{path}"),
        params,
        headers,
        received_at: sample.received_at.unwrap_or_else(SystemTime::now),
    };
    let credential = match sample.credential {
        SampleCredential::Route => trigger.auth.credential().map(str::to_owned),
        SampleCredential::Skip | SampleCredential::Anonymous => None,
        SampleCredential::Named(name) => Some(name),
    };
    let meta = ExecutionMeta::new(execution_id, plan, credential);
    let prepared = Prepared::new(plan, Request::new(head, query, body), meta);
    Ok(execute(plan, prepared, services).await)
}

/// The suffix with its parameters filled from `params` (or with the parameter's own name).
pub fn sample_path(suffix: &str, params: &Map<String, Value>) -> String {
    suffix
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let name = name.trim_start_matches('*');
                match params.get(name) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => name.to_owned(),
                }
            }
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

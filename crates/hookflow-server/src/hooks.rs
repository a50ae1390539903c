//! The webhook handler: route lookup, auth, body intake, then the flow (run for the caller up to
//! the route's deadline, or queued in `accepted` mode) and the response exactly as it produced
//! it. Every call is handed to the history; refused ones within their budget.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Instant, SystemTime};

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use futures_util::FutureExt as _;
use hookflow_core::context::{ExecutionMeta, Request as FlowRequest};
use hookflow_core::intake::{parse_body, parse_query};
use hookflow_core::nodes::webhook::{OnTimeout, ResponseMode};
use hookflow_core::response::{Response, is_bodiless};
use hookflow_core::routes::{HOOKS_BASE, Lookup};
use hookflow_core::{Body, execute};
use hookflow_runtime::auth::{self, AuthInput};
use hookflow_runtime::queue::Job;
use hookflow_runtime::record::{self, Call, Sent, Served};
use hookflow_store::ExecutionStatus;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::{Map, Value, json};

use crate::error::HookError;
use crate::metrics::{RouteMetrics, store_error};
use crate::state::AppState;
use crate::{EXECUTION_ID_HEADER, idempotency, status};

/// Where the status-check URLs live under `/hooks` (suffixes may not start with `_`).
pub const STATUS_PREFIX: &str = "/_executions/";

/// Serves every request under `/hooks`.
pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> AxumResponse {
    let received = Instant::now();
    let execution_id = uuid::Uuid::now_v7().to_string();
    let head = request.method() == Method::HEAD;
    let mut route = None;
    // A panic anywhere in handling (none is expected) still answers 500 with the execution id.
    let served =
        AssertUnwindSafe(serve(&state, request, &execution_id, &mut route)).catch_unwind().await;
    let served = served.unwrap_or_else(|_| {
        tracing::error!(execution = %execution_id, "handling the request panicked");
        Err(HookError::Internal.into())
    });
    let response = match served {
        Ok(out) => to_http(out, head, Vec::new(), &execution_id),
        Err(Answer::Options { allow }) => {
            let mut r = AxumResponse::new(AxumBody::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&allow) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            set_execution_id(r.headers_mut(), &execution_id);
            r
        }
        Err(Answer::Error(error)) => {
            let out = sent(error.to_response(&execution_id));
            to_http(out, head, error.extra_headers(), &execution_id)
        }
    };
    let route = route.unwrap_or_else(|| state.deployed.load().metrics.unrouted.clone());
    route.observe(response.status(), received.elapsed());
    response
}

/// What the ingress answers without the flow.
pub enum Answer {
    Options { allow: String },
    Error(HookError),
}

impl From<HookError> for Answer {
    fn from(e: HookError) -> Self {
        Answer::Error(e)
    }
}

/// Serves one call; `route` gets the metrics of the route it reached.
async fn serve(
    state: &AppState,
    request: Request,
    execution_id: &str,
    route: &mut Option<Arc<RouteMetrics>>,
) -> Result<Sent, Answer> {
    let received_at = SystemTime::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let suffix = match path.strip_prefix(HOOKS_BASE) {
        Some("") | None => "/",
        Some(s) => s,
    };
    if let Some(id) = suffix.strip_prefix(STATUS_PREFIX) {
        *route = Some(state.deployed.load().metrics.status_checks.clone());
        return status::serve(state, &parts, id).await;
    }
    let refuse = |served: Option<Served>, body: Bytes, error: HookError| {
        reject(state, &parts, body, served, error, execution_id, received_at)
    };
    let deployed = state.deployed.load();
    let (plan, params) = match deployed.routes.lookup(parts.method.as_str(), suffix) {
        Lookup::Found { plan, params } => {
            *route = Some(deployed.metrics.route(plan));
            (plan.clone(), params)
        }
        Lookup::NotFound => return Err(refuse(None, Bytes::new(), HookError::NotFound)),
        Lookup::MethodNotAllowed { allow } => {
            let allow = allow.join(", ");
            if parts.method == Method::OPTIONS {
                return Err(Answer::Options { allow });
            }
            return Err(refuse(None, Bytes::new(), HookError::MethodNotAllowed { allow }));
        }
    };
    drop(deployed);
    let trigger = plan.trigger();
    let mut served = Served { plan: plan.clone(), credential: None };

    let credentials = state.credentials.load();
    let input = AuthInput { headers: &parts.headers, query: parts.uri.query() };
    let authenticated = auth::check(&trigger.auth, input, &credentials).map_err(HookError::from);
    drop(credentials);
    served.credential = match authenticated {
        Ok(name) => name,
        Err(e) => return Err(refuse(Some(served), Bytes::new(), e)),
    };

    let limit = trigger.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(Some(served), Bytes::new(), HookError::PayloadTooLarge { limit }));
    }
    let bytes =
        match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                let error = if e.downcast_ref::<LengthLimitError>().is_some() {
                    HookError::PayloadTooLarge { limit }
                } else {
                    tracing::debug!(error = %e, "could not read a request body");
                    HookError::BodyRead
                };
                return Err(refuse(Some(served), Bytes::new(), error));
            }
        };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let body = match parse_body(content_type, &bytes) {
        Ok(body) => body,
        Err(e) => return Err(refuse(Some(served), bytes, HookError::MalformedBody(e))),
    };

    let request = FlowRequest {
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        params: params.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        // Built only for a flow that may read them (its paths and templates, known when it
        // compiled); the call keeps them all for its record either way.
        headers: if plan.reads().headers { headers_json(&parts.headers) } else { Map::new() },
        body,
        received_at,
    };
    let call = Call {
        id: execution_id.to_owned(),
        received_at,
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: bytes,
    };
    let key = idempotency_key(&served, &request, execution_id);
    let mode = trigger.mode;
    let respond = async move {
        match mode {
            ResponseMode::Accepted => accept(state, call, served).await,
            ResponseMode::RespondNode => run(state, call, served, request).await,
        }
    };
    match (key, &trigger.idempotency) {
        (Some(key), Some(i)) => {
            let limits = (i.ttl, trigger.timeout);
            idempotency::serve(state, &plan.id, key, limits, execution_id, respond).await
        }
        _ => respond.await,
    }
}

/// The call's idempotency key, when its route has one and the key yields a value.
fn idempotency_key(served: &Served, request: &FlowRequest, execution_id: &str) -> Option<String> {
    let plan = &served.plan;
    plan.trigger().idempotency.as_ref()?;
    let meta = ExecutionMeta {
        id: execution_id.to_owned(),
        flow_id: plan.id.clone(),
        flow_version: plan.version.clone(),
        credential: served.credential.clone(),
    };
    hookflow_core::idempotency::key(plan, request, &meta).unwrap_or_else(|e| {
        tracing::warn!(flow = %plan.id, error = %e.message, "the idempotency key could not be evaluated; the call is not deduplicated");
        None
    })
}

/// Runs the flow for the caller, up to the route's deadline.
async fn run(
    state: &AppState,
    call: Call,
    served: Served,
    request: FlowRequest,
) -> Result<Sent, Answer> {
    let plan = served.plan.clone();
    let trigger = plan.trigger();
    let meta = ExecutionMeta {
        id: call.id.clone(),
        flow_id: plan.id.clone(),
        flow_version: plan.version.clone(),
        credential: served.credential.clone(),
    };
    let (timeout, on_timeout) = (trigger.timeout, trigger.on_timeout);
    // With `on_timeout: accepted`, the caller may poll a run that has not ended yet.
    let running = (on_timeout == OnTimeout::Accepted)
        .then(|| record::pending(&call, &served, ExecutionStatus::Running));
    // Otherwise nothing of this call is stored before it ends.
    let new = running.is_none();
    let id = call.id.clone();
    let (history, services) = (state.history.clone(), state.services.clone());
    let started_at = SystemTime::now();
    // The run starts on this task: a flow without I/O ends on its first poll, with no hand-off
    // to another task or thread. When the deadline answers first, the unfinished run moves to a
    // task of its own, goes on to its end and is recorded then.
    let mut run = Box::pin(async move {
        let mut execution = execute(&plan, request, meta, &services).await;
        let finished_at = SystemTime::now();
        if let Some(failure) = &execution.failure {
            tracing::info!(flow = %plan.id, execution = %call.id, node = %failure.node, error = %failure.message, "flow failed");
        }
        let response = std::mem::replace(&mut execution.response, Response::json(200, Value::Null));
        let out = sent(response);
        let times = (started_at, finished_at);
        history.finished((&call, &served), &execution, &out, times, new).await;
        out
    });
    let deadline = tokio::time::Instant::now() + timeout;
    // A flow without I/O is done on its first poll, and then needs no timer.
    if let Poll::Ready(out) = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await {
        return Ok(out);
    }
    match tokio::time::timeout_at(deadline, &mut run).await {
        Ok(out) => Ok(out),
        Err(_) => {
            tracing::warn!(execution = %id, timeout_ms = timeout.as_millis(), "no response before the deadline; the run goes on");
            // The status URL must find the run as soon as the caller has it.
            let answer = match running {
                Some(record) => match state.history.persist(record).await {
                    Ok(()) => Ok(accepted(state, &id)),
                    Err(e) => {
                        store_error("write_accepted");
                        tracing::error!(execution = %id, error = %e, "cannot persist a running call");
                        Err(HookError::Timeout.into())
                    }
                },
                None => Err(HookError::Timeout.into()),
            };
            tokio::spawn(run);
            answer
        }
    }
}

/// `accepted` mode: the call is persisted as `queued`, answered `202` and run by a worker.
async fn accept(state: &AppState, call: Call, served: Served) -> Result<Sent, Answer> {
    let Some(slot) = state.queue.try_reserve() else {
        tracing::warn!(execution = %call.id, "the queue is full; the call is refused");
        return Err(HookError::QueueFull.into());
    };
    let record = record::pending(&call, &served, ExecutionStatus::Queued);
    if let Err(e) = state.history.persist(record.clone()).await {
        store_error("write_accepted");
        tracing::error!(execution = %call.id, error = %e, "cannot persist an accepted call");
        return Err(HookError::Unavailable.into());
    }
    slot.send(Job { record, plan: served.plan });
    Ok(accepted(state, &call.id))
}

/// `202` with the execution id and the status-check URL (also in `Location`).
fn accepted(state: &AppState, execution_id: &str) -> Sent {
    let status_url = format!("{}{HOOKS_BASE}{STATUS_PREFIX}{execution_id}", state.public_base);
    let body = json!({ "execution_id": execution_id, "status_url": status_url });
    Sent {
        status: 202,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), status_url),
        ],
        body: Bytes::from(body.to_string()),
    }
}

/// Records a refused call (within the rejected budget) and answers its error.
fn reject(
    state: &AppState,
    parts: &Parts,
    body: Bytes,
    served: Option<Served>,
    error: HookError,
    execution_id: &str,
    received_at: SystemTime,
) -> Answer {
    if state.history.enabled() {
        let call = Call {
            id: execution_id.to_owned(),
            received_at,
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body,
        };
        let answer = error.to_response(execution_id);
        state.history.rejected(call, served, answer, error.summary());
    }
    Answer::Error(error)
}

/// A response turned into what goes out: its body serialized once.
pub fn sent(response: Response) -> Sent {
    let body = match &response.body {
        Body::Empty => Bytes::new(),
        other => Bytes::from(other.to_bytes()),
    };
    Sent { status: response.status, headers: response.headers, body }
}

/// Headers with lower-case names; repeated headers joined with `", "`.
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    let mut map = Map::with_capacity(headers.keys_len());
    for name in headers.keys() {
        let mut values =
            headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
        let mut joined = values.next().map(Cow::into_owned).unwrap_or_default();
        for more in values {
            joined.push_str(", ");
            joined.push_str(&more);
        }
        map.insert(name.as_str().to_owned(), Value::String(joined));
    }
    map
}

fn set_execution_id(headers: &mut HeaderMap, execution_id: &str) {
    if let Ok(v) = HeaderValue::from_str(execution_id) {
        headers.insert(HeaderName::from_static(EXECUTION_ID_HEADER), v);
    }
}

/// The flow's (or the ingress's) response as HTTP: status, headers and body as produced; no body
/// for bodiless statuses and `HEAD`.
pub fn to_http(
    out: Sent,
    head: bool,
    extra: Vec<(HeaderName, HeaderValue)>,
    execution_id: &str,
) -> AxumResponse {
    let status = StatusCode::from_u16(out.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bodiless = is_bodiless(status.as_u16());
    let bytes = if bodiless { Bytes::new() } else { out.body };
    let length = bytes.len();
    let mut r = AxumResponse::new(if head { AxumBody::empty() } else { AxumBody::from(bytes) });
    *r.status_mut() = status;
    let headers = r.headers_mut();
    for (k, v) in &out.headers {
        let (Ok(name), Ok(value)) =
            (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str()))
        else {
            tracing::warn!(header = %k, "dropped a response header that is not valid HTTP");
            continue;
        };
        if bodiless && (name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH) {
            continue;
        }
        headers.append(name, value);
    }
    for (name, value) in extra {
        headers.insert(name, value);
    }
    if head && !bodiless {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    set_execution_id(headers, execution_id);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_are_joined() {
        let mut h = HeaderMap::new();
        h.append("X-A", HeaderValue::from_static("1"));
        h.append("X-A", HeaderValue::from_static("2"));
        h.append("Content-Type", HeaderValue::from_static("text/plain"));
        let json = headers_json(&h);
        assert_eq!(json["x-a"], "1, 2");
        assert_eq!(json["content-type"], "text/plain");
    }
}

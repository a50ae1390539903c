//! The webhook handler: route lookup, auth, body intake, then the call handed to the engine
//! (which runs it for the caller up to the route's deadline, or queues it in `accepted` mode)
//! and the response exactly as it produced it. Refused calls are handed to the history within
//! their budget.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use futures_util::FutureExt as _;
use hookflow_core::intake::join_headers;
use hookflow_core::response::is_bodiless;
use hookflow_core::routes::{HOOKS_BASE, Lookup};
use hookflow_core::{Request as FlowRequest, RequestHead};
use hookflow_runtime::Engine;
use hookflow_runtime::auth::{self, AuthInput};
use hookflow_runtime::metrics::RouteMetrics;
use hookflow_runtime::record::{Call, Sent, Served};
use hookflow_runtime::run::STATUS_PREFIX;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::Map;

use crate::error::HookError;
use crate::{EXECUTION_ID_HEADER, status};

/// Serves every request under `/hooks`.
pub async fn handle(State(state): State<Arc<Engine>>, request: Request) -> AxumResponse {
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
            let out = Sent::from(error.to_response(&execution_id));
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
    state: &Arc<Engine>,
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
    let Some(trigger) = plan.webhook() else {
        return Err(refuse(None, Bytes::new(), HookError::NotFound));
    };
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
    let head = RequestHead {
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        params,
        // Built only for a flow that may read them (its paths and templates, known when it
        // compiled); the call keeps them all for its record either way.
        headers: if plan.reads().headers {
            let pairs = parts.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
            join_headers(pairs, parts.headers.keys_len())
        } else {
            Map::new()
        },
        received_at,
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let query = parts.uri.query().unwrap_or("");
    let request = match FlowRequest::parse(head, query, content_type, &bytes) {
        Ok(request) => request,
        Err(e) => return Err(refuse(Some(served), bytes, HookError::MalformedBody(e))),
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
    state.call(call, served, request).await.map_err(|e| Answer::Error(e.into()))
}

/// Records a refused call (within the rejected budget) and answers its error.
fn reject(
    state: &Engine,
    parts: &Parts,
    body: Bytes,
    served: Option<Served>,
    error: HookError,
    execution_id: &str,
    received_at: SystemTime,
) -> Answer {
    if state.records_rejections() {
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
        state.rejected(call, served, answer, error.summary());
    }
    Answer::Error(error)
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

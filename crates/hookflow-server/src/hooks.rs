//! The webhook handler: route lookup, auth, body intake (a route that checks a signature of the
//! body checks it here, once the body is read within its limit), then the call handed to the engine
//! (which runs it for the caller up to the route's deadline, or queues it in `accepted` mode)
//! and the response exactly as it produced it. Refused calls are handed to the history within
//! their budget.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body as AxumBody;
use axum::extract::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response as AxumResponse;
use bytes::Bytes;
use futures_util::FutureExt as _;
use hookflow_core::cors::Header;
use hookflow_core::intake::join_headers;
use hookflow_core::json_schema;
use hookflow_core::limits::LimitKey;
use hookflow_core::networks::{self, Networks};
use hookflow_core::response::is_bodiless;
use hookflow_core::routes::{HOOKS_BASE, Lookup};
use hookflow_core::{Request as FlowRequest, RequestHead};
use hookflow_runtime::Engine;
use hookflow_runtime::auth::{self, AuthInput};
use hookflow_runtime::limits::{self, Busy, Caller};
use hookflow_runtime::metrics::RouteMetrics;
use hookflow_runtime::record::{Call, Sent, Served};
use hookflow_runtime::run::STATUS_PREFIX;
use hookflow_store::clock::now_ms;
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
    let mut cors = Vec::new();
    // A panic anywhere in handling (none is expected) still answers 500 with the execution id.
    let served = AssertUnwindSafe(serve(&state, request, &execution_id, &mut route, &mut cors))
        .catch_unwind()
        .await;
    let served = served.unwrap_or_else(|_| {
        tracing::error!(execution = %execution_id, "handling the request panicked");
        Err(HookError::Internal.into())
    });
    let mut response = match served {
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
    // An allowed origin's CORS headers go on every answer, refusals included.
    for (name, value) in cors {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
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
    cors: &mut Vec<Header>,
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
                // A preflight is answered before auth, for the route the browser means to call.
                if let Some(answer) = preflight(&deployed, &parts.headers, suffix, &allow) {
                    *cors = answer;
                }
                return Err(Answer::Options { allow });
            }
            return Err(refuse(None, Bytes::new(), HookError::MethodNotAllowed { allow }));
        }
    };
    let limits = deployed.limits.get(&plan.id).cloned();
    drop(deployed);
    let Some(trigger) = plan.webhook() else {
        return Err(refuse(None, Bytes::new(), HookError::NotFound));
    };
    let mut served = Served { plan: plan.clone(), credential: None };
    if let (Some(policy), Some(origin)) = (&trigger.cors, header_str(&parts.headers, "origin")) {
        *cors = policy.headers(origin).unwrap_or_default();
    }
    // Found only for a route that asks who the caller is.
    let counts_ips = trigger.rate_limit.as_ref().is_some_and(|r| matches!(r.key, LimitKey::Ip));
    let caller = (trigger.allow_ips.is_some() || counts_ips)
        .then(|| caller_ip(&parts, &trigger.trusted_proxies))
        .flatten();
    if let Some(allowed) = &trigger.allow_ips
        && !caller.is_some_and(|ip| allowed.contains(ip))
    {
        return Err(refuse(Some(served), Bytes::new(), HookError::Forbidden));
    }
    if let Some(limits) = limits.as_ref().filter(|_| counts_ips) {
        let ip = caller.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        if let Err(wait) = limits.admit(&Caller::Ip(ip)) {
            return Err(refuse(Some(served), Bytes::new(), over_rate(wait)));
        }
    }

    let authenticate = |body: &[u8]| {
        let credentials = state.credentials.load();
        let input =
            AuthInput { headers: &parts.headers, query: parts.uri.query(), body, now_ms: now_ms() };
        auth::check(&trigger.auth, input, &credentials).map_err(HookError::from)
    };
    // A signature of the body is checked once the body is read (within the limit); the other
    // kinds before it is read.
    let signs_body = auth::reads_body(&trigger.auth);
    if !signs_body {
        served.credential = match authenticate(b"") {
            Ok(name) => name,
            Err(e) => return Err(refuse(Some(served), Bytes::new(), e)),
        };
    }

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
                } else if crate::listener::is_body_timeout(&*e) {
                    HookError::BodyTimeout
                } else {
                    tracing::debug!(error = %e, "could not read a request body");
                    HookError::BodyRead
                };
                return Err(refuse(Some(served), Bytes::new(), error));
            }
        };
    if signs_body {
        served.credential = match authenticate(&bytes) {
            Ok(name) => name,
            Err(e) => return Err(refuse(Some(served), bytes, e)),
        };
    }
    if let (Some(limits), Some(rate)) = (&limits, &trigger.rate_limit)
        && matches!(rate.key, LimitKey::Credential)
    {
        let name = served.credential.clone().unwrap_or_default();
        if let Err(wait) = limits.admit(&Caller::Name(name)) {
            return Err(refuse(Some(served), bytes, over_rate(wait)));
        }
    }
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
    if let Some(contract) = &trigger.contract {
        let (found, more) = json_schema::problems(contract, &request.body, CONTRACT_PROBLEMS);
        if !found.is_empty() {
            let errors = found.into_iter().map(|p| (p.pointer, p.message)).collect();
            return Err(refuse(Some(served), bytes, HookError::Contract { errors, more }));
        }
    }
    let prepared = Engine::prepare(execution_id, &served, request);
    if let (Some(limits), Some(rate)) = (&limits, &trigger.rate_limit) {
        let key = rate.expression_key(&plan, &prepared).unwrap_or_else(|e| {
            tracing::warn!(flow = %plan.id, error = %e.message, "the rate limit's key could not be evaluated; the call counts under the empty key");
            Some(String::new())
        });
        if let Some(key) = key
            && let Err(wait) = limits.admit(&Caller::Name(key))
        {
            return Err(refuse(Some(served), bytes, over_rate(wait)));
        }
    }
    let _running = match limits.as_ref().map(|l| l.enter()) {
        Some(Err(Busy)) => return Err(refuse(Some(served), bytes, HookError::Busy)),
        Some(Ok(place)) => place,
        None => None,
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
    state.call(call, served, prepared).await.map_err(|e| Answer::Error(e.into()))
}

/// Problems of a body against its route's contract that an answer lists, at most.
const CONTRACT_PROBLEMS: usize = 20;

/// Header `name` of the call, when it is text.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The CORS answer to a preflight (`Origin` and `Access-Control-Request-Method`) for the route
/// of `suffix` that serves the requested method, when its policy allows the origin.
fn preflight(
    deployed: &hookflow_runtime::Deployed,
    headers: &HeaderMap,
    suffix: &str,
    allow: &str,
) -> Option<Vec<Header>> {
    let origin = header_str(headers, "origin")?;
    let method = header_str(headers, "access-control-request-method")?;
    let Lookup::Found { plan, .. } = deployed.routes.lookup(method.trim(), suffix) else {
        return None;
    };
    plan.webhook()?.cors.as_ref()?.preflight(origin, allow)
}

/// The caller's address: the peer's, or behind `trusted` proxies the one their headers name.
/// `None` when the listener did not give the peer.
fn caller_ip(parts: &Parts, trusted: &Networks) -> Option<std::net::IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>()?.0.ip();
    let forwarded = header_str(&parts.headers, "forwarded");
    let forwarded_for = header_str(&parts.headers, "x-forwarded-for");
    Some(networks::caller(peer, forwarded, forwarded_for, trusted))
}

/// The answer to a caller over its route's rate, which may call again after `wait`.
fn over_rate(wait: std::time::Duration) -> HookError {
    HookError::RateLimited { retry_after: limits::retry_after(wait) }
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

//! The webhook handler: route lookup, auth, body intake, execution under the route's deadline,
//! and the response exactly as the flow produced it.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response as AxumResponse;
use futures_util::FutureExt as _;
use hookflow_core::context::{ExecutionMeta, Request as FlowRequest};
use hookflow_core::intake::{parse_body, parse_query};
use hookflow_core::response::{Response, is_bodiless};
use hookflow_core::routes::{HOOKS_BASE, Lookup};
use hookflow_core::{Body, execute};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::{Map, Value};

use crate::error::HookError;
use crate::state::AppState;
use crate::{EXECUTION_ID_HEADER, auth};

/// Serves every request under `/hooks`.
pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> AxumResponse {
    let execution_id = uuid::Uuid::now_v7().to_string();
    let head = request.method() == Method::HEAD;
    // A panic anywhere in handling (none is expected) still answers 500 with the execution id.
    let served = AssertUnwindSafe(serve(&state, request, &execution_id)).catch_unwind().await;
    let served = served.unwrap_or_else(|_| {
        tracing::error!(execution = %execution_id, "handling the request panicked");
        Err(HookError::Internal.into())
    });
    match served {
        Ok(response) => to_http(&response, head, Vec::new(), &execution_id),
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
            to_http(&error.to_response(&execution_id), head, error.extra_headers(), &execution_id)
        }
    }
}

/// What the ingress answers without the flow.
enum Answer {
    Options { allow: String },
    Error(HookError),
}

impl From<HookError> for Answer {
    fn from(e: HookError) -> Self {
        Answer::Error(e)
    }
}

async fn serve(state: &AppState, request: Request, execution_id: &str) -> Result<Response, Answer> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let suffix = match path.strip_prefix(HOOKS_BASE) {
        Some("") | None => "/",
        Some(s) => s,
    };
    let deployed = state.deployed.load();
    let (plan, params) = match deployed.routes.lookup(parts.method.as_str(), suffix) {
        Lookup::Found { plan, params } => (plan.clone(), params),
        Lookup::NotFound => return Err(HookError::NotFound.into()),
        Lookup::MethodNotAllowed { allow } => {
            let allow = allow.join(", ");
            return Err(if parts.method == Method::OPTIONS {
                Answer::Options { allow }
            } else {
                HookError::MethodNotAllowed { allow }.into()
            });
        }
    };
    drop(deployed);
    let trigger = plan.trigger();

    let credentials = state.credentials.load();
    let authenticated =
        auth::check(&trigger.auth, &parts.headers, parts.uri.query(), &credentials)?;
    drop(credentials);

    let limit = trigger.max_body_bytes;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(HookError::PayloadTooLarge { limit }.into());
    }
    let bytes =
        match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(HookError::PayloadTooLarge { limit }.into());
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not read a request body");
                return Err(HookError::BodyRead.into());
            }
        };
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let body = parse_body(content_type, &bytes).map_err(HookError::MalformedBody)?;

    let request = FlowRequest {
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        params: params.into_iter().map(|(k, v)| (k, Value::String(percent_decode(&v)))).collect(),
        query: parse_query(parts.uri.query().unwrap_or("")),
        headers: headers_json(&parts.headers),
        body,
        received_at: SystemTime::now(),
    };
    let meta = ExecutionMeta {
        id: execution_id.to_owned(),
        flow_id: plan.id.clone(),
        flow_version: plan.version.clone(),
        credential: authenticated,
    };
    let timeout = trigger.timeout;
    let flow = plan.id.clone();
    tracing::debug!(flow = %flow, execution = %execution_id, credential = ?meta.credential, "running");
    // The run starts on this task: a flow without I/O ends on its first poll, with no hand-off
    // to another task or thread. When the deadline answers first, the unfinished run moves to a
    // task of its own and goes on to its end.
    let services = state.services.clone();
    let mut run = Box::pin(async move { execute(&plan, request, meta, &services).await });
    match tokio::time::timeout(timeout, &mut run).await {
        Ok(execution) => {
            if let Some(failure) = &execution.failure {
                tracing::info!(flow = %flow, execution = %execution_id, node = %failure.node, error = %failure.message, "flow failed");
            }
            Ok(execution.response)
        }
        Err(_) => {
            tracing::warn!(flow = %flow, execution = %execution_id, timeout_ms = timeout.as_millis(), "no response before the deadline; the run goes on");
            tokio::spawn(run);
            Err(HookError::Timeout.into())
        }
    }
}

/// Headers with lower-case names; repeated headers joined with `", "`.
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    let mut map = Map::new();
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

/// `%XX` sequences decoded; a result that is not UTF-8 keeps the input as it was.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_or_else(|_| s.to_owned(), Cow::into_owned)
}

fn set_execution_id(headers: &mut HeaderMap, execution_id: &str) {
    if let Ok(v) = HeaderValue::from_str(execution_id) {
        headers.insert(HeaderName::from_static(EXECUTION_ID_HEADER), v);
    }
}

/// The flow's (or the ingress's) response as HTTP: status, headers and body as produced; no body
/// for bodiless statuses and `HEAD`.
fn to_http(
    response: &Response,
    head: bool,
    extra: Vec<(HeaderName, HeaderValue)>,
    execution_id: &str,
) -> AxumResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bodiless = is_bodiless(status.as_u16());
    let bytes = if bodiless || matches!(response.body, Body::Empty) {
        Vec::new()
    } else {
        response.body.to_bytes()
    };
    let length = bytes.len();
    let mut r = AxumResponse::new(if head { AxumBody::empty() } else { AxumBody::from(bytes) });
    *r.status_mut() = status;
    let headers = r.headers_mut();
    for (k, v) in &response.headers {
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
    fn percent_decoding() {
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%FF"), "%FF");
        assert_eq!(percent_decode("plain"), "plain");
    }

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

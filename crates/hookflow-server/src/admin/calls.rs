//! The test console's call: `POST /api/calls` sends a request to a webhook route through the
//! same handler as a real caller's (route lookup, auth, limits, intake, the run, its record), in
//! this process, from the loopback address, and answers what the route answered with the
//! execution's id. The tester gives the route's credentials like any caller would. With
//! `"offline": true` it runs the named flow as `hookflow run` does instead: auth not checked,
//! nothing stored, emitted or recorded, and the trace and the would-be writes in the answer.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::routing::post;
use hookflow_core::routes::HOOKS_BASE;
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt as _;

use super::extract::Body;
use super::{Admin, body};
use crate::error::AdminError;

/// The most bytes of an answer's body the console shows.
const MAX_ANSWER: usize = 1 << 20;

pub fn routes() -> Router<Arc<Admin>> {
    Router::new().route("/api/calls", post(call))
}

/// The body of `POST /api/calls`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    #[serde(default = "post_method")]
    method: String,
    /// The route's path after `/hooks`, e.g. `/orders/eu`.
    path: String,
    /// The raw query string, without `?`.
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: Map<String, Value>,
    /// A JSON body (sent as `application/json` unless a `content-type` header says otherwise),
    /// or a string sent as it is; absent for none.
    #[serde(default)]
    body: Option<Value>,
    /// Run the flow offline, as `hookflow run` does.
    #[serde(default)]
    offline: bool,
    /// The flow to run offline.
    #[serde(default)]
    flow: Option<String>,
}

fn post_method() -> String {
    "POST".into()
}

/// `POST /api/calls`: `{status, headers, body, execution_id}` of the route's answer.
async fn call(
    State(admin): State<Arc<Admin>>,
    Body(bytes): Body,
) -> Result<Json<Value>, AdminError> {
    let call: Call = body::parse(&bytes)?;
    let invalid = |pointer: &str, reason: String| AdminError::InvalidField {
        pointer: pointer.into(),
        reason,
    };
    let method = Method::from_bytes(call.method.as_bytes())
        .map_err(|_| invalid("/method", format!("`{}` is not an HTTP method", call.method)))?;
    if !call.path.starts_with('/') {
        return Err(invalid("/path", "the path after /hooks starts with `/`".into()));
    }
    let mut uri = format!("{HOOKS_BASE}{}", call.path);
    if !call.query.is_empty() {
        uri = format!("{uri}?{}", call.query.trim_start_matches('?'));
    }
    if call.offline {
        return offline(&admin, call).await;
    }
    let mut request = Request::builder().method(method).uri(&uri);
    let mut typed = false;
    for (name, value) in &call.headers {
        let pointer = format!("/headers/{}", hookflow_core::pointer::escape(name));
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&pointer, "not a header name".into()))?;
        let text = value
            .as_str()
            .ok_or_else(|| invalid(&pointer, "a header's value is a string".into()))?;
        let value = HeaderValue::from_str(text)
            .map_err(|_| invalid(&pointer, "not a header value".into()))?;
        typed |= name == axum::http::header::CONTENT_TYPE;
        request = request.header(name, value);
    }
    let body = match call.body {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text.into_bytes(),
        Some(json) => {
            if !typed {
                request = request.header(axum::http::header::CONTENT_TYPE, "application/json");
            }
            json.to_string().into_bytes()
        }
    };
    let mut request =
        request.body(AxumBody::from(body)).map_err(|e| invalid("/path", e.to_string()))?;
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    request.extensions_mut().insert(ConnectInfo(loopback));
    let answer =
        crate::app(admin.app.clone()).oneshot(request).await.map_err(|_| AdminError::Internal)?;
    let (parts, body) = answer.into_parts();
    let bytes = body.collect().await.map_err(|_| AdminError::Internal)?.to_bytes();
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let execution_id = parts
        .headers
        .get(crate::EXECUTION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let shown = &bytes[..bytes.len().min(MAX_ANSWER)];
    let body = serde_json::from_slice::<Value>(shown)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(shown).into_owned()));
    Ok(Json(json!({
        "status": parts.status.as_u16(),
        "headers": headers,
        "body": if bytes.is_empty() { Value::Null } else { body },
        "body_truncated": bytes.len() > MAX_ANSWER,
        "execution_id": execution_id,
    })))
}

/// The call run offline on its flow's deployed plan (see the module).
async fn offline(admin: &Admin, call: Call) -> Result<Json<Value>, AdminError> {
    use hookflow_core::offline::{self, OfflineError, SampleBody, SampleRequest};
    use hookflow_core::services::{Offline, Services};
    use hookflow_core::trace::TraceDetail;

    let Some(flow) = call.flow else {
        let reason = "an offline call names its flow".to_owned();
        return Err(AdminError::InvalidField { pointer: "/flow".into(), reason });
    };
    let plan = admin.app.plan(&flow).ok_or(AdminError::NoSuchFlow(flow))?;
    let mut headers = Map::new();
    for (name, value) in call.headers {
        headers.insert(name.to_ascii_lowercase(), value);
    }
    let body = match call.body {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(SampleBody::Raw(text.into_bytes())),
        Some(json) => Some(SampleBody::Json(json)),
    };
    let sample = SampleRequest {
        method: Some(call.method),
        path: Some(call.path),
        query: hookflow_core::intake::parse_query(call.query.trim_start_matches('?')),
        headers,
        body,
        ..SampleRequest::default()
    };
    let effects = Arc::new(Offline::default());
    let services = Services { http: admin.app.http(), ..Services::offline(&effects) };
    let id = uuid::Uuid::now_v7().to_string();
    let execution = match offline::run(&plan, sample, id.clone(), &services).await {
        Ok(execution) => execution,
        Err(OfflineError::Refused(refusal)) => {
            let mut answer = offline_answer(&crate::refused(refusal, &plan, &id));
            answer["trace"] = Value::Null;
            return Ok(Json(answer));
        }
        Err(e) => return Err(AdminError::Unprocessable(e.to_string())),
    };
    let stored: Vec<Value> = effects
        .stored()
        .into_iter()
        .map(|w| json!({ "collection": w.collection, "key": w.key, "record": w.value }))
        .collect();
    let emitted: Vec<Value> =
        effects.emitted().into_iter().map(|e| json!({ "type": e.kind, "data": e.data })).collect();
    let mut answer = offline_answer(&execution.response);
    answer["flow_version"] = json!(plan.version);
    answer["execution_status"] = json!(execution.status);
    answer["error"] = json!(execution.failure);
    answer["trace"] = execution.trace_json(&plan, 4096, TraceDetail::Full);
    answer["stored"] = json!(stored);
    answer["emitted"] = json!(emitted);
    Ok(Json(answer))
}

/// What every offline answer has: the response, whole, and no execution (none was recorded).
fn offline_answer(response: &hookflow_core::Response) -> Value {
    json!({
        "status": response.status,
        "headers": response.headers,
        "body": response.body.to_value(),
        "body_truncated": false,
        "execution_id": null,
        "offline": true,
    })
}

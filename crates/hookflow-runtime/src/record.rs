//! Turns a call and its execution into an [`ExecutionRecord`]: secrets redacted, bodies and trace
//! values cut to the recording limits. A call that ran to its end on the request path is
//! encoded there, straight to JSON ([`finished`]); the history writer only stores the bytes.

mod finished;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use hookflow_core::execute::{Execution, Status};
use hookflow_core::nodes::webhook::Auth;
use hookflow_core::trace::TraceDetail;
use hookflow_core::{Body, Plan, Response};
use hookflow_store::{
    ExecutionRecord, ExecutionStatus, RecordedError, RecordedRequest, RecordedResponse,
};
use http::{HeaderName, HeaderValue};

use crate::auth;

/// What the recording keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request and response bodies are cut at this size (a queued call keeps its whole body).
    pub body_bytes: usize,
    /// A trace value (a node's input or output) larger than this is replaced by a note.
    pub trace_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { body_bytes: 64 * 1024, trace_value_bytes: 4 * 1024 }
    }
}

/// A webhook call as it arrived.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: String,
    pub received_at: SystemTime,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

/// The flow a call reached, and who called.
#[derive(Debug, Clone)]
pub struct Served {
    pub plan: Arc<Plan>,
    pub credential: Option<String>,
}

/// Headers that carry credentials or signatures, whatever the route.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    auth::DEFAULT_KEY_HEADER,
    "x-hub-signature",
    "x-hub-signature-256",
    "stripe-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "webhook-signature",
    "x-signature",
];

const REDACTED: &str = "[redacted]";

pub use finished::finished;

/// A response as it went out: status, headers and the body's bytes.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl From<Response> for Sent {
    /// The response with its body serialized, once.
    fn from(response: Response) -> Sent {
        let body = match &response.body {
            Body::Empty => bytes::Bytes::new(),
            other => bytes::Bytes::from(other.to_bytes()),
        };
        Sent { status: response.status, headers: response.headers, body }
    }
}

/// Milliseconds since the Unix epoch, as records keep times.
pub use hookflow_store::clock::millis;

/// The request part of a record: credential headers, signature headers and an API key in the
/// query replaced by `[redacted]`; the body cut at `body_limit` bytes.
pub fn request(call: &Call, auth: Option<&Auth>, body_limit: usize) -> RecordedRequest {
    let secrets = Secrets::of(auth);
    let headers = call
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), secrets.value(name, value).into_owned()))
        .collect();
    let (body, body_truncated) = cut(&call.body, body_limit);
    RecordedRequest {
        method: call.method.clone(),
        path: call.path.clone(),
        query: secrets.query(call).into_owned(),
        headers,
        body: body.to_vec(),
        body_truncated,
    }
}

/// Where a route's caller puts secrets, besides the headers every route treats as secret.
struct Secrets<'a> {
    /// The API key header, in any case (header names as received are lower case).
    header: Option<&'a str>,
    query: Option<&'a str>,
}

impl<'a> Secrets<'a> {
    fn of(auth: Option<&'a Auth>) -> Self {
        let auth::Redacted { header, query } = auth.map(auth::redacted).unwrap_or_default();
        Secrets { header, query }
    }

    fn header(&self, name: &str) -> bool {
        SECRET_HEADERS.contains(&name) || self.header.is_some_and(|h| h.eq_ignore_ascii_case(name))
    }

    /// A header's value as recorded.
    fn value<'v>(&self, name: &HeaderName, value: &'v HeaderValue) -> Cow<'v, str> {
        if self.header(name.as_str()) {
            Cow::Borrowed(REDACTED)
        } else {
            String::from_utf8_lossy(value.as_bytes())
        }
    }

    /// The call's query string as recorded.
    fn query<'c>(&self, call: &'c Call) -> Cow<'c, str> {
        match (self.query, call.query.as_deref()) {
            (Some(param), Some(q)) => Cow::Owned(redact_query(q, param)),
            (_, q) => Cow::Borrowed(q.unwrap_or_default()),
        }
    }
}

fn redact_query(query: &str, secret: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        out.append_pair(&k, if k == secret { REDACTED } else { &v });
    }
    out.finish()
}

/// A response as recorded, its body cut at `body_limit` bytes.
pub fn response(response: &Response, body_limit: usize) -> RecordedResponse {
    let bytes = match &response.body {
        Body::Empty => Vec::new(),
        body => body.to_bytes(),
    };
    sent(response.status, &response.headers, &bytes, body_limit)
}

/// A response already turned into bytes, as recorded.
pub fn sent(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    body_limit: usize,
) -> RecordedResponse {
    let (body, body_truncated) = cut(body, body_limit);
    RecordedResponse { status, headers: headers.to_vec(), body: body.to_vec(), body_truncated }
}

/// A recorded body as the admin API and the status URL show it, and as a replay compares it: JSON
/// when its `content-type` says so (and it was recorded whole), else text; `null` when empty.
pub fn body_value(headers: &[(String, String)], body: &[u8], truncated: bool) -> serde_json::Value {
    use serde_json::Value;
    let json = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, value)| value.contains("json"));
    let text = || Value::String(String::from_utf8_lossy(body).into_owned());
    if body.is_empty() {
        Value::Null
    } else if json && !truncated {
        serde_json::from_slice(body).unwrap_or_else(|_| text())
    } else {
        text()
    }
}

/// `bytes` cut at `limit`, and whether they were.
fn cut(bytes: &[u8], limit: usize) -> (&[u8], bool) {
    if bytes.len() > limit { (&bytes[..limit], true) } else { (bytes, false) }
}

/// Fills in how a run ended: status, times, response, error and trace. The request body is cut
/// to the recording limit (a queued record kept all of it until now).
pub fn complete(
    record: &mut ExecutionRecord,
    plan: &Plan,
    execution: &Execution,
    response: RecordedResponse,
    (started_at, finished_at): (SystemTime, SystemTime),
    limits: Limits,
) {
    record.flow_version = Some(plan.version.clone());
    record.status = match execution.status {
        Status::Succeeded => ExecutionStatus::Succeeded,
        Status::Failed => ExecutionStatus::Failed,
    };
    record.started_at_ms = Some(millis(started_at));
    record.finished_at_ms = Some(millis(finished_at));
    if record.request.body.len() > limits.body_bytes {
        record.request.body.truncate(limits.body_bytes);
        record.request.body_truncated = true;
    }
    record.response = Some(response);
    record.error = execution
        .failure
        .as_ref()
        .map(|f| RecordedError { node: Some(f.node.clone()), message: f.message.clone() });
    // Outputs only: the request is recorded (redacted) on its own, and an input is the output
    // of the node the step came `from`.
    record.trace = execution.trace_json(plan, limits.trace_value_bytes, TraceDetail::Outputs);
}

/// The record of a call accepted for later (`queued`) or under way (`running`): the whole body
/// is kept, so that the run can start (again) from the record alone.
pub fn pending(call: &Call, served: &Served, status: ExecutionStatus) -> ExecutionRecord {
    started(call, served, status, usize::MAX)
}

/// A record of `call` on its flow with its request (body cut at `body_limit`) and nothing else.
fn started(
    call: &Call,
    served: &Served,
    status: ExecutionStatus,
    body_limit: usize,
) -> ExecutionRecord {
    let plan = &served.plan;
    let request = request(call, auth(Some(plan)), body_limit);
    head(call.id.clone(), Some(plan), served.credential.clone(), status, call.received_at, request)
}

/// The start of every record: execution `id` of `plan`'s flow (none for a call that reached no
/// flow) with its recorded request, `status`, and nothing of a run yet.
pub fn head(
    id: String,
    plan: Option<&Plan>,
    credential: Option<String>,
    status: ExecutionStatus,
    received_at: SystemTime,
    request: RecordedRequest,
) -> ExecutionRecord {
    ExecutionRecord {
        id,
        flow_id: plan.map(|p| p.id.clone()),
        flow_version: plan.map(|p| p.version.clone()),
        route: plan.map(|p| p.trigger().label().to_owned()),
        credential,
        status,
        received_at_ms: millis(received_at),
        started_at_ms: None,
        finished_at_ms: None,
        request,
        response: None,
        error: None,
        trace: serde_json::Value::Null,
        cause: None,
    }
}

/// The auth of `plan`'s route, whose secrets a record redacts.
fn auth(plan: Option<&Plan>) -> Option<&Auth> {
    plan.and_then(Plan::webhook).map(|hook| &hook.auth)
}

/// The record of a call refused before any node ran.
pub fn rejected(
    call: &Call,
    served: Option<&Served>,
    answer: &Response,
    message: &str,
    limits: Limits,
) -> ExecutionRecord {
    let plan = served.map(|s| &*s.plan);
    let credential = served.and_then(|s| s.credential.clone());
    let request = request(call, auth(plan), limits.body_bytes);
    let status = ExecutionStatus::Rejected;
    ExecutionRecord {
        finished_at_ms: Some(millis(SystemTime::now())),
        response: Some(response(answer, limits.body_bytes)),
        error: Some(RecordedError { node: None, message: message.to_owned() }),
        ..head(call.id.clone(), plan, credential, status, call.received_at, request)
    }
}

#[cfg(test)]
mod tests {
    use hookflow_core::nodes::webhook::KeyLocation;
    use http::{HeaderMap, HeaderValue};
    use std::time::UNIX_EPOCH;

    use super::*;

    fn call() -> Call {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        headers.insert("x-erp-key", HeaderValue::from_static("k3y"));
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha256=abc"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Call {
            id: "e1".into(),
            received_at: UNIX_EPOCH,
            method: "POST".into(),
            path: "/hooks/x".into(),
            query: Some("api_key=q1&x=1".into()),
            headers,
            body: bytes::Bytes::from_static(b"0123456789"),
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let auth = Auth::ApiKey {
            location: KeyLocation::Header,
            name: Some("X-ERP-Key".into()),
            credential: "erp".into(),
        };
        let r = request(&call(), Some(&auth), 4);
        let text = serde_json::to_string(&r).unwrap();
        for secret in ["s3cret", "k3y", "sha256=abc"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(r.headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!((r.body.as_slice(), r.body_truncated), (b"0123".as_slice(), true));
        let auth =
            Auth::ApiKey { location: KeyLocation::Query, name: None, credential: "erp".into() };
        assert_eq!(request(&call(), Some(&auth), 100).query, "api_key=%5Bredacted%5D&x=1");
    }
}

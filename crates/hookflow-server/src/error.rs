//! The one place where an error becomes an HTTP status: a refused or failed webhook request
//! ([`HookError`], naming the execution id) and an admin API error ([`AdminError`]). Every error
//! is an RFC 9457 `application/problem+json` document, and 5xx bodies never carry internals
//! (those go to the log).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use hookflow_core::Diagnostic;
use hookflow_core::intake::IntakeError;
use hookflow_core::nodes::webhook::Auth;
use hookflow_core::offline::Refusal;
use hookflow_core::response::{Body, Response};
use hookflow_runtime::CallError;
use hookflow_runtime::auth::{self, AuthError, Reason};
use serde_json::json;

/// Seconds a caller refused by a full queue is asked to wait.
const QUEUE_RETRY_AFTER: &str = "5";

/// Why the ingress answered a webhook request itself instead of with the flow's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// No active flow serves this path.
    NotFound,
    /// The path is served, but not with this method; `allow` lists the methods that are.
    MethodNotAllowed { allow: String },
    /// Credentials are missing or wrong; `challenge` is the `WWW-Authenticate` value, if any.
    /// A signature's `reason` is told (which check failed, never the expected value); the others'
    /// are not.
    Unauthorized { challenge: Option<&'static str>, reason: Reason },
    /// The body is longer than the route's limit.
    PayloadTooLarge { limit: u64 },
    /// The body could not be parsed (malformed JSON names its line and column).
    MalformedBody(IntakeError),
    /// The body could not be read from the connection.
    BodyRead,
    /// The body did not all come within the listener's body timeout.
    BodyTimeout,
    /// The flow did not answer within the route's deadline (it goes on running).
    Timeout,
    /// The `accepted` queue is full; the caller may retry later.
    QueueFull,
    /// The call could not be stored, so nothing is promised.
    Unavailable,
    /// A call with the same idempotency key is still running past this call's deadline.
    IdempotencyPending,
    /// The caller's address is not in the route's `allow_ips`.
    Forbidden,
    /// The caller is over the route's `rate_limit`; it may call again after `retry_after` s.
    RateLimited { retry_after: u64 },
    /// `max_concurrency` runs of the route are in flight.
    Busy,
    /// The body breaks the route's `expected.schema`: each problem's pointer and message, and
    /// whether there were more than these.
    Contract { errors: Vec<(String, String)>, more: bool },
    /// Something in hookflow failed; the details are in the log.
    Internal,
}

impl HookError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            HookError::NotFound => StatusCode::NOT_FOUND,
            HookError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HookError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            HookError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HookError::MalformedBody(_) | HookError::BodyRead => StatusCode::BAD_REQUEST,
            HookError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            HookError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            HookError::QueueFull | HookError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            HookError::IdempotencyPending => StatusCode::CONFLICT,
            HookError::Forbidden => StatusCode::FORBIDDEN,
            HookError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            HookError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            HookError::Contract { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            HookError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title_and_detail(&self) -> (&'static str, String) {
        match self {
            HookError::NotFound => ("Not Found", "No active flow serves this URL.".into()),
            HookError::MethodNotAllowed { allow } => {
                ("Method Not Allowed", format!("This URL accepts {allow}."))
            }
            HookError::Unauthorized { reason, .. } => ("Unauthorized", unauthorized(*reason).into()),
            HookError::PayloadTooLarge { limit } => (
                "Payload Too Large",
                format!("The request body is larger than this webhook's limit of {limit} bytes."),
            ),
            HookError::MalformedBody(e) => ("Bad Request", e.to_string()),
            HookError::BodyRead => ("Bad Request", "The request body could not be read.".into()),
            HookError::BodyTimeout => {
                ("Request Timeout", "The request body was not received in time.".into())
            }
            HookError::Timeout => (
                "Gateway Timeout",
                "The flow did not answer in time; it goes on running. Look up the execution for its result."
                    .into(),
            ),
            HookError::QueueFull => (
                "Service Unavailable",
                "Too many calls are waiting to run. Retry after the number of seconds in Retry-After."
                    .into(),
            ),
            HookError::Unavailable => (
                "Service Unavailable",
                "The call could not be recorded, so it was not accepted. Retry later.".into(),
            ),
            HookError::IdempotencyPending => (
                "Conflict",
                "A call with the same idempotency key is still running. Retry later to get its response."
                    .into(),
            ),
            HookError::Forbidden => {
                ("Forbidden", "This webhook does not take calls from your address.".into())
            }
            HookError::RateLimited { retry_after } => (
                "Too Many Requests",
                format!("You are calling this webhook faster than it allows. Retry after {retry_after} s."),
            ),
            HookError::Busy => (
                "Service Unavailable",
                "This webhook is running as many calls as it may at once. Retry after the number of seconds in Retry-After."
                    .into(),
            ),
            HookError::Contract { errors, .. } => (
                "Unprocessable Content",
                format!(
                    "The request body does not meet this webhook's contract ({} problem{}, in `errors`).",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                ),
            ),
            HookError::Internal => (
                "Internal Server Error",
                "hookflow failed while handling this request. Look up the execution for details."
                    .into(),
            ),
        }
    }

    /// The error the server answers a call with that an offline run finds refused.
    pub fn of_refusal(refusal: Refusal, auth: &Auth) -> HookError {
        match refusal {
            Refusal::Unauthorized => HookError::Unauthorized {
                challenge: auth::challenge(auth),
                reason: Reason::Missing,
            },
            Refusal::PayloadTooLarge { limit } => HookError::PayloadTooLarge { limit },
        }
    }

    /// The whole answer, as the server sends it: the problem document and the headers that go
    /// with the status.
    pub fn to_answer(&self, execution_id: &str) -> Response {
        let mut response = self.to_response(execution_id);
        for (name, value) in self.extra_headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            response.headers.push((name.as_str().to_owned(), value));
        }
        response
    }

    /// One line for the history: the title and the detail.
    pub fn summary(&self) -> String {
        let (title, detail) = self.title_and_detail();
        format!("{} {title}: {detail}", self.status().as_u16())
    }

    /// The problem+json response, naming `execution_id`.
    pub fn to_response(&self, execution_id: &str) -> Response {
        let (title, detail) = self.title_and_detail();
        let mut response =
            Response::problem(self.status().as_u16(), title, &detail, Some(execution_id));
        if let (HookError::Contract { errors, more }, Body::Json(doc)) = (self, &mut response.body)
        {
            let errors: Vec<_> =
                errors.iter().map(|(p, m)| json!({ "pointer": p, "message": m })).collect();
            doc["errors"] = json!(errors);
            doc["more"] = json!(more);
        }
        response
    }

    /// Headers that go with the status: `Allow` for 405, `WWW-Authenticate` for 401.
    pub fn extra_headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        match self {
            HookError::MethodNotAllowed { allow } => {
                HeaderValue::from_str(allow).map(|v| vec![(header::ALLOW, v)]).unwrap_or_default()
            }
            HookError::Unauthorized { challenge: Some(c), .. } => {
                vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static(c))]
            }
            HookError::QueueFull => {
                vec![(header::RETRY_AFTER, HeaderValue::from_static(QUEUE_RETRY_AFTER))]
            }
            HookError::RateLimited { retry_after } => {
                vec![(header::RETRY_AFTER, HeaderValue::from(*retry_after))]
            }
            HookError::Busy => vec![(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            _ => Vec::new(),
        }
    }
}

impl From<CallError> for HookError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout => HookError::Timeout,
            CallError::QueueFull => HookError::QueueFull,
            CallError::Unavailable => HookError::Unavailable,
            CallError::IdempotencyPending => HookError::IdempotencyPending,
            CallError::Internal => HookError::Internal,
        }
    }
}

impl From<AuthError> for HookError {
    /// A call refused by its route's auth: `401`, with the route's challenge and why.
    fn from(refused: AuthError) -> Self {
        HookError::Unauthorized { challenge: refused.challenge, reason: refused.reason }
    }
}

/// The detail of a `401`: which check of a signature failed; for a presented secret, nothing of
/// why (a wrong key and an unknown one read the same).
fn unauthorized(reason: Reason) -> &'static str {
    match reason {
        Reason::Missing | Reason::Unknown | Reason::Mismatch => {
            "The credentials for this webhook are missing or not valid."
        }
        Reason::SignatureMissing => {
            "The request lacks a header that this webhook's signature check reads."
        }
        Reason::SignatureMalformed => {
            "A signature header of the request is malformed: check its prefix, encoding and timestamp."
        }
        Reason::TimestampOutsideTolerance => {
            "The signature's timestamp is outside this webhook's tolerance; sign the request anew."
        }
        Reason::SignatureMismatch => "The request's signature does not match its body.",
        Reason::Replayed => "This signature was already used: a replayed request is refused.",
    }
}

/// Why the admin API refused or failed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// No `Authorization: Bearer` header, or not the admin token.
    Unauthorized,
    /// Signing in with a token that is not the admin token.
    WrongToken,
    /// A write signed in by the session cookie, without the header that only hookflow's own
    /// pages send.
    CrossSite,
    /// A query parameter is unknown, repeated or not valid.
    BadParameter { name: String, reason: String },
    /// No execution has this id.
    NoSuchExecution(String),
    /// No credential has this name.
    NoSuchCredential(String),
    /// No node type has this name.
    NoSuchNodeType(String),
    /// No outbound subscription has this id.
    NoSuchSubscription(String),
    /// No outbound delivery has this id.
    NoSuchDelivery(String),
    /// No collection of this name holds records.
    NoSuchCollection(String),
    /// The collection holds no record with this key.
    NoSuchRecord { collection: String, key: String },
    /// The request body is not JSON; the reason names the line and column.
    MalformedBody(String),
    /// A field of the request body is missing, unknown or not valid; `pointer` is its JSON
    /// pointer (empty for the body as a whole).
    InvalidField { pointer: String, reason: String },
    /// The instance cannot serve webhooks; each reason says what is missing.
    NotReady(Vec<String>),
    /// No admin endpoint at this path.
    NotFound,
    /// The path exists, not with this method.
    MethodNotAllowed,
    /// The resource is not in a state that allows the operation; the message says why.
    Conflict(String),
    /// No flow has this id.
    NoSuchFlow(String),
    /// The request body cannot be read, or is not UTF-8 text; the message says why.
    BadBody(String),
    /// A segment of the URL cannot be read as the parameter it stands for; the message says why.
    BadPath(String),
    /// The request body is over the admin API's limit, in bytes.
    BodyTooLarge(usize),
    /// The request body did not all come within the listener's body timeout.
    BodyTimeout,
    /// The request is well-formed but asks for something that cannot be; the message says why.
    Unprocessable(String),
    /// A flow has errors; nothing was written.
    InvalidFlow { detail: String, diagnostics: Vec<Diagnostic> },
    /// A flow would take another flow's route or id; nothing was written.
    FlowConflict { detail: String, diagnostics: Vec<Diagnostic> },
    /// Something in hookflow failed; the details are in the log.
    Internal,
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized | AdminError::WrongToken => StatusCode::UNAUTHORIZED,
            AdminError::CrossSite => StatusCode::FORBIDDEN,
            AdminError::BadParameter { .. } | AdminError::MalformedBody(_) => {
                StatusCode::BAD_REQUEST
            }
            AdminError::NoSuchExecution(_)
            | AdminError::NoSuchCredential(_)
            | AdminError::NoSuchNodeType(_)
            | AdminError::NoSuchSubscription(_)
            | AdminError::NoSuchDelivery(_)
            | AdminError::NoSuchCollection(_)
            | AdminError::NoSuchRecord { .. }
            | AdminError::NoSuchFlow(_)
            | AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::Conflict(_) | AdminError::FlowConflict { .. } => StatusCode::CONFLICT,
            AdminError::BadBody(_) | AdminError::BadPath(_) => StatusCode::BAD_REQUEST,
            AdminError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AdminError::Unprocessable(_) | AdminError::InvalidFlow { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            AdminError::Unauthorized => "The admin API needs the header `Authorization: Bearer \
                                           <admin token>`, or a session from `POST /api/session`."
                .into(),
            AdminError::WrongToken => "That is not the admin token: no session was opened.".into(),
            AdminError::CrossSite => format!(
                "A change made with the session cookie needs the header `{}: 1`; a request \
                 from another site cannot send it.",
                crate::admin::CSRF_HEADER
            ),
            AdminError::BadParameter { name, reason } => {
                format!("Query parameter `{name}`: {reason}.")
            }
            AdminError::NoSuchExecution(id) => format!("There is no execution `{id}`."),
            AdminError::NoSuchCredential(name) => format!("There is no credential `{name}`."),
            AdminError::NoSuchNodeType(name) => {
                format!("There is no node type `{name}`; `GET /api/node-types` lists them.")
            }
            AdminError::NoSuchSubscription(id) => {
                format!("There is no subscription `{id}`; `GET /api/subscriptions` lists them.")
            }
            AdminError::NoSuchDelivery(id) => format!("There is no delivery `{id}`."),
            AdminError::NoSuchCollection(name) => {
                format!(
                    "No record is stored in collection `{name}`; `GET /api/collections` lists them."
                )
            }
            AdminError::NoSuchRecord { collection, key } => {
                format!("Collection `{collection}` has no record `{key}`.")
            }
            AdminError::MalformedBody(reason) => {
                format!("The request body is not valid JSON: {reason}.")
            }
            AdminError::InvalidField { pointer, reason } if pointer.is_empty() => {
                format!("Request body: {reason}.")
            }
            AdminError::InvalidField { pointer, reason } => {
                format!("Request body at `{pointer}`: {reason}.")
            }
            AdminError::NotReady(reasons) => format!("Not ready: {}.", reasons.join("; ")),
            AdminError::NotFound => "There is no admin endpoint at this path.".into(),
            AdminError::MethodNotAllowed => "This endpoint does not accept this method.".into(),
            AdminError::Conflict(reason)
            | AdminError::BadBody(reason)
            | AdminError::BadPath(reason)
            | AdminError::Unprocessable(reason) => format!("{reason}."),
            AdminError::NoSuchFlow(id) => format!("There is no flow `{id}`."),
            AdminError::BodyTooLarge(limit) => {
                format!("The request body is larger than the admin API's limit of {limit} bytes.")
            }
            AdminError::BodyTimeout => "The request body was not received in time.".into(),
            AdminError::InvalidFlow { detail, .. } | AdminError::FlowConflict { detail, .. } => {
                format!("{detail}.")
            }
            AdminError::Internal => {
                "hookflow failed while handling this request; the details are in its log.".into()
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> axum::response::Response {
        let status = self.status();
        let mut doc = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.detail(),
        });
        match &self {
            AdminError::BadParameter { name, .. } => doc["parameter"] = json!(name),
            AdminError::InvalidField { pointer, .. } => doc["pointer"] = json!(pointer),
            AdminError::NotReady(reasons) => doc["reasons"] = json!(reasons),
            _ => {}
        }
        if let AdminError::InvalidFlow { diagnostics, .. }
        | AdminError::FlowConflict { diagnostics, .. } = &self
        {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            doc["errors"] = json!(errors);
            doc["warnings"] = json!(diagnostics.len() - errors);
            doc["diagnostics"] = json!(diagnostics);
        }
        let mut response = (status, doc.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self == AdminError::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use hookflow_core::Body;

    use super::*;

    #[test]
    fn server_errors_say_nothing_internal() {
        for error in [HookError::Internal, HookError::Timeout] {
            let response = error.to_response("exec-1");
            assert!(response.status >= 500);
            let Body::Json(doc) = &response.body else { panic!("{response:?}") };
            assert_eq!(doc["execution_id"], "exec-1");
            assert_eq!(response.header("content-type"), Some("application/problem+json"));
        }
    }

    #[test]
    fn statuses_and_headers() {
        let e = HookError::MethodNotAllowed { allow: "OPTIONS, POST".into() };
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(e.extra_headers()[0].1, "OPTIONS, POST");
        let e = HookError::Unauthorized { challenge: Some("Bearer"), reason: Reason::Missing };
        assert_eq!(
            e.extra_headers()[0],
            (header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        );
        let signed = HookError::Unauthorized { challenge: None, reason: Reason::SignatureMismatch };
        assert!(signed.extra_headers().is_empty());
        let e =
            HookError::MalformedBody(IntakeError::Json { line: 2, column: 3, message: "x".into() });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let Body::Json(doc) = e.to_response("e").body else { panic!() };
        assert!(doc["detail"].as_str().unwrap_or("").contains("line 2, column 3"));
    }

    #[test]
    fn an_auth_refusal_is_a_401_with_the_routes_challenge() {
        let refused = AuthError { challenge: Some("Bearer"), reason: auth::Reason::Mismatch };
        assert_eq!(
            HookError::from(refused),
            HookError::Unauthorized { challenge: Some("Bearer"), reason: auth::Reason::Mismatch }
        );
        let basic = Auth::Basic { credential: "c".into() };
        let offline = HookError::of_refusal(Refusal::Unauthorized, &basic);
        assert_eq!(
            offline,
            HookError::Unauthorized {
                challenge: Some("Basic realm=\"hookflow\""),
                reason: Reason::Missing
            }
        );
        assert_eq!(offline.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_signature_refusal_says_which_check_failed() {
        let detail = |reason| {
            let Body::Json(doc) =
                HookError::Unauthorized { challenge: None, reason }.to_response("e").body
            else {
                panic!()
            };
            doc["detail"].as_str().unwrap_or_default().to_owned()
        };
        assert!(detail(Reason::SignatureMissing).contains("lacks a header"));
        assert!(detail(Reason::SignatureMalformed).contains("malformed"));
        assert!(detail(Reason::TimestampOutsideTolerance).contains("tolerance"));
        assert!(detail(Reason::SignatureMismatch).contains("does not match"));
        assert!(detail(Reason::Replayed).contains("replayed"));
        assert_eq!(detail(Reason::Unknown), detail(Reason::Mismatch));
    }

    #[test]
    fn problems_name_their_status_and_parameter() {
        let r = AdminError::BadParameter { name: "limit".into(), reason: "not a number".into() }
            .into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        let r = AdminError::Unauthorized.into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(AdminError::Conflict("x".into()).status(), StatusCode::CONFLICT);
    }

    #[test]
    fn body_and_readiness_problems_say_where() {
        let field = AdminError::InvalidField { pointer: "/name".into(), reason: "bad".into() };
        assert_eq!(field.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(field.detail(), "Request body at `/name`: bad.");
        let whole = AdminError::InvalidField { pointer: String::new(), reason: "bad".into() };
        assert_eq!(whole.detail(), "Request body: bad.");
        assert_eq!(AdminError::MalformedBody("x".into()).status(), StatusCode::BAD_REQUEST);
        let not_ready = AdminError::NotReady(vec!["a".into(), "b".into()]);
        assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(not_ready.detail(), "Not ready: a; b.");
    }
}

//! The one place where a refused or failed webhook request becomes an HTTP status: every error is
//! an RFC 9457 `application/problem+json` document naming the execution id, and 5xx bodies never
//! carry internals (those go to the log).

use axum::http::{HeaderValue, StatusCode, header};
use hookflow_core::intake::IntakeError;
use hookflow_core::response::Response;

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
    Unauthorized { challenge: Option<&'static str> },
    /// The body is longer than the route's limit.
    PayloadTooLarge { limit: u64 },
    /// The body could not be parsed (malformed JSON names its line and column).
    MalformedBody(IntakeError),
    /// The body could not be read from the connection.
    BodyRead,
    /// The flow did not answer within the route's deadline (it goes on running).
    Timeout,
    /// The `accepted` queue is full; the caller may retry later.
    QueueFull,
    /// The call could not be stored, so nothing is promised.
    Unavailable,
    /// A call with the same idempotency key is still running past this call's deadline.
    IdempotencyPending,
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
            HookError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            HookError::QueueFull | HookError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            HookError::IdempotencyPending => StatusCode::CONFLICT,
            HookError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title_and_detail(&self) -> (&'static str, String) {
        match self {
            HookError::NotFound => ("Not Found", "No active flow serves this URL.".into()),
            HookError::MethodNotAllowed { allow } => {
                ("Method Not Allowed", format!("This URL accepts {allow}."))
            }
            HookError::Unauthorized { .. } => (
                "Unauthorized",
                "The credentials for this webhook are missing or not valid.".into(),
            ),
            HookError::PayloadTooLarge { limit } => (
                "Payload Too Large",
                format!("The request body is larger than this webhook's limit of {limit} bytes."),
            ),
            HookError::MalformedBody(e) => ("Bad Request", e.to_string()),
            HookError::BodyRead => ("Bad Request", "The request body could not be read.".into()),
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
            HookError::Internal => (
                "Internal Server Error",
                "hookflow failed while handling this request. Look up the execution for details."
                    .into(),
            ),
        }
    }

    /// One line for the history: the title and the detail.
    pub fn summary(&self) -> String {
        let (title, detail) = self.title_and_detail();
        format!("{} {title}: {detail}", self.status().as_u16())
    }

    /// The problem+json response, naming `execution_id`.
    pub fn to_response(&self, execution_id: &str) -> Response {
        let (title, detail) = self.title_and_detail();
        Response::problem(self.status().as_u16(), title, &detail, Some(execution_id))
    }

    /// Headers that go with the status: `Allow` for 405, `WWW-Authenticate` for 401.
    pub fn extra_headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        match self {
            HookError::MethodNotAllowed { allow } => {
                HeaderValue::from_str(allow).map(|v| vec![(header::ALLOW, v)]).unwrap_or_default()
            }
            HookError::Unauthorized { challenge: Some(c) } => {
                vec![(header::WWW_AUTHENTICATE, HeaderValue::from_static(c))]
            }
            HookError::QueueFull => {
                vec![(header::RETRY_AFTER, HeaderValue::from_static(QUEUE_RETRY_AFTER))]
            }
            _ => Vec::new(),
        }
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
        let e = HookError::Unauthorized { challenge: Some("Bearer") };
        assert_eq!(
            e.extra_headers()[0],
            (header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
        );
        assert!(HookError::Unauthorized { challenge: None }.extra_headers().is_empty());
        let e =
            HookError::MalformedBody(IntakeError::Json { line: 2, column: 3, message: "x".into() });
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let Body::Json(doc) = e.to_response("e").body else { panic!() };
        assert!(doc["detail"].as_str().unwrap_or("").contains("line 2, column 3"));
    }
}

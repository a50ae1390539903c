//! The I/O that nodes need, as small traits the runtime implements: core itself opens no socket.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, for trait methods that do I/O.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An outbound HTTP call, fully rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Time allowed for each attempt.
    pub timeout: Duration,
    /// Further attempts after a connection error, a timeout, a `429` or a `5xx`.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one (a `Retry-After` header wins).
    pub backoff: Duration,
}

/// The answer to an [`HttpCall`] (of the last attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many attempts were made.
    pub attempts: u32,
}

/// Why an [`HttpCall`] got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL is not a valid `http`/`https` URL.
    InvalidUrl(String),
    /// The destination is refused by policy (private, loopback or link-local addresses).
    Refused(String),
    /// No answer: connection error or timeout, after every attempt.
    Failed { attempts: u32, message: String },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            HttpError::Refused(m) => write!(f, "refused: {m}"),
            HttpError::Failed { attempts, message } => {
                write!(f, "no answer after {attempts} attempt(s): {message}")
            }
        }
    }
}

/// Sends outbound HTTP calls (the `http_request` node).
pub trait HttpClient: Send + Sync {
    fn send(&self, call: HttpCall) -> BoxFuture<Result<HttpReply, HttpError>>;
}

/// Everything a running flow may call out to.
#[derive(Clone)]
pub struct Services {
    pub http: Arc<dyn HttpClient>,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// An HTTP client that refuses every call: for offline runs of flows that make no outbound call
/// (a flow that tried would fail, which a test then shows).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNetwork;

impl HttpClient for NoNetwork {
    fn send(&self, call: HttpCall) -> BoxFuture<Result<HttpReply, HttpError>> {
        Box::pin(async move { Err(HttpError::Refused(format!("no network here: {}", call.url))) })
    }
}

//! The I/O that nodes need, as small traits the runtime implements: core itself opens no socket
//! and keeps no state. [`Offline`] is the in-memory implementation offline runs and cases use.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

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

/// How a `store` node writes a record whose key may exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new key only: an existing key fails the node.
    Insert,
    /// A new key, or a new version of an existing one.
    Upsert,
}

/// A record to save into a collection (the `store` node).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub collection: String,
    pub key: String,
    pub value: Value,
    pub mode: WriteMode,
    /// The execution that writes it, kept with the record.
    pub execution_id: String,
}

impl RecordWrite {
    /// The write as a test case states it: `{"collection", "key", "record"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "collection": self.collection, "key": self.key, "record": self.value })
    }
}

/// A record saved: durable when the answer is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSaved {
    /// `false` when an upsert replaced an existing record.
    pub created: bool,
    /// 1 for a new record, one more at each replacement.
    pub version: u64,
}

/// Why a record was not saved or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// An insert met a record with the same key (at this version); nothing was written.
    Exists { version: u64 },
    /// The store could not do it.
    Failed(String),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Exists { version } => {
                write!(f, "a record with this key exists (version {version})")
            }
            RecordError::Failed(m) => f.write_str(m),
        }
    }
}

/// Saves and reads records (the `store` node).
pub trait Records: Send + Sync {
    /// Saves `write`; the answer comes once the write is durable.
    fn write(&self, write: RecordWrite) -> BoxFuture<Result<RecordSaved, RecordError>>;

    /// The value of the record `key` of `collection`, `None` when there is none.
    fn get(&self, collection: String, key: String)
    -> BoxFuture<Result<Option<Value>, RecordError>>;
}

/// An event a flow raises (the `emit` node).
#[derive(Debug, Clone, PartialEq)]
pub struct EmittedEvent {
    /// The event type, e.g. `order.accepted`.
    pub kind: String,
    pub data: Value,
    /// The execution that raises it.
    pub execution_id: String,
    pub flow_id: String,
    /// How many events led to that execution (0 for a webhook call): the event's chain depth
    /// is one more.
    pub depth: u32,
}

impl EmittedEvent {
    /// The event as a test case states it: `{"event", "data"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "event": self.kind, "data": self.data })
    }
}

/// Raises events for subscribers and event-triggered flows (the `emit` node).
pub trait Events: Send + Sync {
    /// Raises `event`; answers its id once it is durably written, and so will be delivered and
    /// start the flows it triggers, even after a crash.
    fn emit(&self, event: EmittedEvent) -> BoxFuture<Result<String, String>>;
}

/// Everything a running flow may call out to.
#[derive(Clone)]
pub struct Services {
    pub http: Arc<dyn HttpClient>,
    pub records: Arc<dyn Records>,
    pub events: Arc<dyn Events>,
}

impl Services {
    /// The services of an offline run: no network, and records and events kept in `offline`.
    pub fn offline(offline: &Arc<Offline>) -> Services {
        Services { http: Arc::new(NoNetwork), records: offline.clone(), events: offline.clone() }
    }
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

/// Records and events in memory, for offline runs: what a run stored and emitted, in order, for
/// a test case to check.
#[derive(Debug, Default)]
pub struct Offline {
    state: Mutex<OfflineState>,
}

#[derive(Debug, Default)]
struct OfflineState {
    records: std::collections::BTreeMap<(String, String), (Value, u64)>,
    stored: Vec<RecordWrite>,
    emitted: Vec<EmittedEvent>,
}

impl Offline {
    fn state(&self) -> std::sync::MutexGuard<'_, OfflineState> {
        // Never left half-updated: a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every record written so far, in order.
    pub fn stored(&self) -> Vec<RecordWrite> {
        self.state().stored.clone()
    }

    /// Every event raised so far, in order.
    pub fn emitted(&self) -> Vec<EmittedEvent> {
        self.state().emitted.clone()
    }
}

impl Records for Offline {
    fn write(&self, write: RecordWrite) -> BoxFuture<Result<RecordSaved, RecordError>> {
        let mut state = self.state();
        let id = (write.collection.clone(), write.key.clone());
        let answer = match (state.records.get(&id), write.mode) {
            (Some(&(_, version)), WriteMode::Insert) => Err(RecordError::Exists { version }),
            (existing, _) => {
                let version = existing.map_or(1, |(_, v)| v + 1);
                state.records.insert(id, (write.value.clone(), version));
                state.stored.push(write);
                Ok(RecordSaved { created: version == 1, version })
            }
        };
        Box::pin(async move { answer })
    }

    fn get(
        &self,
        collection: String,
        key: String,
    ) -> BoxFuture<Result<Option<Value>, RecordError>> {
        let value = self.state().records.get(&(collection, key)).map(|(v, _)| v.clone());
        Box::pin(async move { Ok(value) })
    }
}

impl Events for Offline {
    fn emit(&self, event: EmittedEvent) -> BoxFuture<Result<String, String>> {
        let mut state = self.state();
        let id = format!("evt_offline_{}", state.emitted.len() + 1);
        state.emitted.push(event);
        Box::pin(async move { Ok(id) })
    }
}

//! The executions domain: every call to a webhook, as a record that can be looked up, listed,
//! polled and replayed; what caused an execution that an event started ([`Cause`]); and the
//! idempotency records that remember a route's first answer to a key.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    /// Durably accepted, waiting for a worker (`accepted` response mode).
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Refused before any node ran (400, 401, 403, 404, 405, 413, 422).
    Rejected,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Queued,
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Rejected => "rejected",
        }
    }

    /// Whether the execution has not reached an end yet.
    pub fn is_unfinished(self) -> bool {
        matches!(self, ExecutionStatus::Queued | ExecutionStatus::Running)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`ExecutionStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown execution status `{0}`: expected queued, running, succeeded, failed or rejected")]
pub struct UnknownExecutionStatus(pub String);

impl FromStr for ExecutionStatus {
    type Err = UnknownExecutionStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownExecutionStatus(s.to_owned()))
    }
}

/// One call to a webhook and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// A UUIDv7: ids sort by the time they were made.
    pub id: String,
    /// The flow that served the call; `None` when no flow did (unknown suffix).
    pub flow_id: Option<String>,
    /// The content hash of the flow's version that ran.
    pub flow_version: Option<String>,
    /// The route, e.g. `POST /orders/{region}`.
    pub route: Option<String>,
    /// The name of the credential that authenticated the call (never its secret).
    pub credential: Option<String>,
    pub status: ExecutionStatus,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub request: RecordedRequest,
    pub response: Option<RecordedResponse>,
    pub error: Option<RecordedError>,
    /// The per-node trace (a JSON array), `null` when no node ran.
    pub trace: serde_json::Value,
    /// The event that started it, when another execution raised one; `None` for a call from
    /// outside (and in every record stored before causes were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// What started an execution that an event raised by another execution ran: the event, and the
/// execution that raised it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The event's id (`evt_` and a UUIDv7 in hex).
    pub event_id: String,
    pub event_type: String,
    /// The execution that raised the event: [`ExecutionQuery::parent`] lists its children.
    pub parent_execution_id: String,
    /// How many events deep the chain is: 1 for the child of an execution started from outside.
    pub depth: u32,
    /// The envelope the child ran on.
    pub event: serde_json::Value,
}

/// A request as recorded: secrets redacted, the body kept up to a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path as received, e.g. `/hooks/orders/eu`.
    pub path: String,
    /// The raw query string (secrets redacted), without `?`.
    pub query: String,
    /// Header names in lower case; credentials and signatures replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The body bytes (base64 in JSON), cut at the recording limit.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    /// Whether `body` was cut.
    pub body_truncated: bool,
}

/// A response as recorded, its body kept up to a size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    pub body_truncated: bool,
}

/// Why an execution failed or was rejected: the node (when one failed) and a message for the
/// integrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    pub node: Option<String>,
    pub message: String,
}

/// An execution record already encoded as the JSON a store keeps, with the fields its indexes
/// need beside it: what a caller that serializes records itself hands to
/// [`Store::put_encoded_executions`](crate::Store::put_encoded_executions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedExecution {
    pub id: String,
    pub flow_id: Option<String>,
    pub status: ExecutionStatus,
    pub received_at_ms: i64,
    /// The execution that caused it: its [`Cause::parent_execution_id`], if it has a cause.
    pub parent: Option<String>,
    /// The record as JSON: it decodes to an [`ExecutionRecord`] with the fields above.
    pub json: Vec<u8>,
    /// No record with this id was stored before: the store need not look for one (and its index
    /// entries) to replace. Set it only for an id made for this record.
    pub new: bool,
}

impl EncodedExecution {
    /// `record`, encoded; `new` as in [`EncodedExecution::new`].
    pub fn of(record: &ExecutionRecord, new: bool) -> Result<Self, serde_json::Error> {
        Ok(EncodedExecution {
            id: record.id.clone(),
            flow_id: record.flow_id.clone(),
            status: record.status,
            received_at_ms: record.received_at_ms,
            parent: record.cause.as_ref().map(|cause| cause.parent_execution_id.clone()),
            json: serde_json::to_vec(record)?,
            new,
        })
    }
}

/// Which executions to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    pub flow: Option<String>,
    /// Only the executions caused by this one (whose [`Cause::parent_execution_id`] it is).
    pub parent: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// Received at or after, in ms since the epoch.
    pub since_ms: Option<i64>,
    /// Received before, in ms since the epoch.
    pub until_ms: Option<i64>,
    /// At most this many (the store may cap it).
    pub limit: usize,
    /// Continue after this id (the `next_cursor` of the previous page).
    pub cursor: Option<String>,
}

impl ExecutionQuery {
    /// The page size when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The largest page a store returns, whatever `limit` asks.
    pub const MAX_LIMIT: usize = 500;

    /// The page size this query gets: `limit`, 0 meaning [`Self::DEFAULT_LIMIT`], capped at
    /// [`Self::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            limit => limit.min(Self::MAX_LIMIT),
        }
    }

    /// Whether an execution with this status and receive time passes the status and time
    /// filters (not the flow or parent filter).
    pub fn matches(&self, status: ExecutionStatus, received_at_ms: i64) -> bool {
        self.status.is_none_or(|wanted| wanted == status)
            && self.since_ms.is_none_or(|since| received_at_ms >= since)
            && self.until_ms.is_none_or(|until| received_at_ms < until)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionRecord>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A route's first answer to an idempotency key, kept until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The flow whose route the key belongs to.
    pub flow_id: String,
    pub key: String,
    /// The execution that answered first.
    pub execution_id: String,
    pub response: RecordedResponse,
    pub expires_at_ms: i64,
}

/// Bytes as standard base64 in a JSON string: how records keep bodies.
pub mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as a base64 string.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Appends `bytes` to `json` as a base64 JSON string, quotes included: what [`serialize`]
    /// writes, for an encoder that writes JSON itself (base64 needs no escaping).
    pub fn write_json(bytes: &[u8], json: &mut Vec<u8>) {
        // Padded base64: 4 characters per 3 bytes or part of them (a slice is at most
        // `isize::MAX` bytes long, so this cannot overflow).
        let encoded = bytes.len().div_ceil(3) * 4;
        let start = json.len() + 1;
        json.resize(start + encoded + 1, b'"');
        let written = STANDARD.encode_slice(bytes, &mut json[start..start + encoded]);
        debug_assert_eq!(written.ok(), Some(encoded));
    }

    /// Reads a base64 string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

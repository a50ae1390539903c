//! The events outbox: events raised by flows, stored durably before anything acts on them, and
//! deleted once they have been handed on.

/// An event waiting to be handed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// `evt_` and a UUIDv7 in hex: events sort by it in the order they were raised.
    pub id: String,
    pub event_type: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// The whole envelope, already encoded (JSON), kept as given.
    pub json: Vec<u8>,
}

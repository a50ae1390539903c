//! The outbound domain: subscriptions (who wants which events, where, signed with which secret)
//! and deliveries (one event for one subscription: the payload, where it stands, and every
//! attempt at sending it).

use std::{borrow::Cow, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::kv::{Record, Table};

/// A receiver of outbound events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `sub_` and a UUIDv7 in hex: unique, and in creation order.
    pub id: String,
    pub name: String,
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// The event types it receives, or `["*"]` for all.
    pub events: Vec<String>,
    /// `false` pauses it: its deliveries are held, not attempted, until it is active again.
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Headers sent with every delivery (say, the API key a receiver expects). Their values are
    /// secrets: never listed back in clear.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The payload as a value expression (as written), when it is not the default envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The signing secrets, the current one first; after a rotation with a grace window the
    /// previous one stays with an `expires_at_ms`. Kept in clear: they are needed to sign.
    pub secrets: Vec<SigningSecret>,
    /// Why hookflow switched it off itself (a receiver that answered `410 Gone`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Subscription {
    /// Whether it receives events of type `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }

    /// The secrets that sign at `now_ms`: the current one and those still in their grace window.
    pub fn signing_secrets(&self, now_ms: i64) -> impl Iterator<Item = &SigningSecret> {
        self.secrets.iter().filter(move |s| s.expires_at_ms.is_none_or(|at| now_ms < at))
    }
}

impl Record for Subscription {
    const TABLE: Table = Table::Subscriptions;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.id.as_bytes())
    }
}

/// A subscription's signing secret: `whsec_` and the base64 of 32 random bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub secret: String,
    pub created_at_ms: i64,
    /// When it stops signing (exclusive); `None` while it is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (at [`Delivery::next_attempt_at_ms`]), or held while its
    /// subscription is paused (no next attempt).
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Every attempt failed, or the subscription is gone.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] =
        [DeliveryStatus::Pending, DeliveryStatus::Succeeded, DeliveryStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Whether the delivery has reached an end (succeeded or failed).
    pub fn is_finished(self) -> bool {
        self != DeliveryStatus::Pending
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`DeliveryStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status `{0}`: expected pending, succeeded or failed")]
pub struct UnknownDeliveryStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownDeliveryStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownDeliveryStatus(s.to_owned()))
    }
}

/// One event for one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `msg_` and a UUIDv7 in hex: the `webhook-id` of every attempt (receivers dedupe on it).
    pub id: String,
    pub subscription_id: String,
    pub event_type: String,
    /// The body every attempt sends (JSON), fixed when the event was queued.
    #[serde(with = "crate::executions::base64_bytes")]
    pub payload: Vec<u8>,
    pub status: DeliveryStatus,
    /// When the event was queued.
    pub created_at_ms: i64,
    /// When the next attempt is due: set while pending, `None` while held or once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at_ms: Option<i64>,
    /// Every attempt so far, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// When its next attempt is scheduled, while it is pending (`None` while held, or once it
    /// ended).
    pub fn due_at(&self) -> Option<i64> {
        self.next_attempt_at_ms.filter(|_| self.status == DeliveryStatus::Pending)
    }
}

impl Record for Delivery {
    const TABLE: Table = Table::Deliveries;

    fn key(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.id.as_bytes())
    }
}

/// One attempt at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: i64,
    /// The receiver's status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed without an answer (refused address, connection error, timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    /// The first 4 KiB of the answer's body.
    #[serde(with = "crate::executions::base64_bytes", default)]
    pub response_body: Vec<u8>,
    #[serde(default)]
    pub response_body_truncated: bool,
}

/// Which deliveries to list: newest first, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this subscription's.
    pub subscription_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    /// Continue strictly after (older than) this id; empty for the first page.
    pub cursor: Option<String>,
    /// 0 means [`DeliveryQuery::DEFAULT_LIMIT`]; more than [`DeliveryQuery::MAX_LIMIT`] is capped.
    pub limit: usize,
}

impl DeliveryQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 500;

    /// The page size this query gets: `limit`, 0 meaning [`Self::DEFAULT_LIMIT`], capped at
    /// [`Self::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            limit => limit.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Set when more matching deliveries remain.
    pub next_cursor: Option<String>,
}

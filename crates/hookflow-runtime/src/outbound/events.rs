//! The events hookflow raises for its subscribers: the catalogue of their types (each with a
//! description and a sample `data`), and [`Event`], one occurrence of one. An event's type is a
//! name, not a closed list, so that the events a flow raises itself join the catalogue's.

use std::time::SystemTime;

use hookflow_core::Plan;
use hookflow_core::execute::{Execution, Status};
use hookflow_store::clock::{millis, now_ms};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// An execution ended with its flow's answer.
pub const EXECUTION_SUCCEEDED: &str = "execution.succeeded";
/// An execution failed: a node failed, or its default response could not be rendered.
pub const EXECUTION_FAILED: &str = "execution.failed";
/// A webhook call was refused before its flow ran.
pub const WEBHOOK_REJECTED: &str = "webhook.rejected";
/// A flow was deployed: new, or a new version.
pub const FLOW_DEPLOYED: &str = "flow.deployed";
/// A flow file was rejected; the version that served before goes on serving.
pub const FLOW_REJECTED: &str = "flow.rejected";
pub const FLOW_ACTIVATED: &str = "flow.activated";
pub const FLOW_DEACTIVATED: &str = "flow.deactivated";
pub const FLOW_REMOVED: &str = "flow.removed";
/// hookflow switched a subscription off (its receiver answered `410 Gone`).
pub const SUBSCRIPTION_DISABLED: &str = "subscription.disabled";
/// Sent on demand, to try a subscription.
pub const TEST: &str = "test";

/// The subscription field that stands for every event type.
pub const ALL: &str = "*";

/// One type of the catalogue.
#[derive(Debug)]
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
    /// A `data` as the event carries it.
    pub sample: fn() -> Value,
}

/// Every event type hookflow raises itself, in the order the docs list them.
pub static CATALOGUE: &[EventType] = &[
    EventType {
        name: EXECUTION_SUCCEEDED,
        description: "An execution ended with its flow's answer.",
        sample: || execution_sample("succeeded", 201, Value::Null),
    },
    EventType {
        name: EXECUTION_FAILED,
        description: "An execution failed: a node failed, or its response could not be rendered.",
        sample: || {
            let error = json!({ "node": "lookup", "message": "the call timed out after 5s" });
            execution_sample("failed", 500, error)
        },
    },
    EventType {
        name: WEBHOOK_REJECTED,
        description: "A webhook call was refused before its flow ran (401, 403, 404, 413, 422, 429).",
        sample: || {
            json!({ "flow_id": "order-intake", "route": "POST /orders/{region}", "method": "POST",
                    "path": "/hooks/orders/eu", "status": 401,
                    "reason": "401 Unauthorized: The credentials for this webhook are missing or not valid." })
        },
    },
    EventType {
        name: FLOW_DEPLOYED,
        description: "A flow was deployed: a new flow, or a new version of one.",
        sample: || flow_sample(),
    },
    EventType {
        name: FLOW_REJECTED,
        description: "A flow file was rejected; the version serving before goes on serving.",
        sample: || {
            let mut data = flow_sample();
            data["diagnostics"] =
                json!(["error[invalid-jsonpath]: ... --> flows/order-intake.json:9:17"]);
            data
        },
    },
    EventType {
        name: FLOW_ACTIVATED,
        description: "A flow was switched on.",
        sample: || flow_sample(),
    },
    EventType {
        name: FLOW_DEACTIVATED,
        description: "A flow was switched off: its routes answer 404.",
        sample: || flow_sample(),
    },
    EventType {
        name: FLOW_REMOVED,
        description: "A flow's file was removed: it serves no more.",
        sample: || flow_sample(),
    },
    EventType {
        name: SUBSCRIPTION_DISABLED,
        description: "hookflow switched a subscription off: its receiver answered 410 Gone.",
        sample: || {
            json!({ "subscription_id": "sub_0193a5c0000070008000000000000000", "name": "crm",
                    "reason": "the receiver answered 410 Gone" })
        },
    },
    EventType {
        name: TEST,
        description: "Sent on demand to try a subscription.",
        sample: || json!({ "message": "a test event from hookflow" }),
    },
];

fn execution_sample(status: &str, response: u16, error: Value) -> Value {
    json!({
        "flow_id": "order-intake", "flow_version": "3f2a9c0d1e4b5a67",
        "execution_id": "0193a5c0-0000-7000-8000-000000000000", "status": status,
        "response_status": response, "error": error,
        "started_at": "2026-12-07T10:00:00.000Z", "finished_at": "2026-12-07T10:00:00.004Z",
        "duration_ms": 4,
    })
}

fn flow_sample() -> Value {
    json!({ "flow_id": "order-intake", "version": "3f2a9c0d1e4b5a67", "file": "flows/order-intake.json" })
}

/// The catalogue's type called `name`.
pub fn lookup(name: &str) -> Option<&'static EventType> {
    CATALOGUE.iter().find(|t| t.name == name)
}

/// Which flow, execution and node an event comes from, when it comes from one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    pub flow_id: Option<String>,
    pub execution_id: Option<String>,
    pub node_id: Option<String>,
}

impl EventContext {
    fn to_json(&self) -> Value {
        json!({ "flow_id": self.flow_id, "execution_id": self.execution_id, "node_id": self.node_id })
    }
}

/// One event, as it is handed to the subscriptions that want its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its type: a catalogue name, or one a flow raises.
    pub kind: String,
    /// When it happened, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub data: Value,
    pub context: EventContext,
}

impl Event {
    /// An event of type `kind` with `data`, now.
    pub fn new(kind: &str, data: Value, context: EventContext) -> Event {
        Event { kind: kind.to_owned(), timestamp_ms: now_ms(), data, context }
    }

    /// `execution.succeeded` or `execution.failed` for `execution` of `plan`, which answered
    /// `response_status` and ran from `started_at` to `finished_at`. Never the request or its
    /// body.
    pub fn execution(
        plan: &Plan,
        execution: &Execution,
        response_status: u16,
        started_at: SystemTime,
        finished_at: SystemTime,
    ) -> Event {
        let (kind, status) = match execution.status {
            Status::Succeeded => (EXECUTION_SUCCEEDED, "succeeded"),
            Status::Failed => (EXECUTION_FAILED, "failed"),
        };
        let error = execution
            .failure
            .as_ref()
            .map_or(Value::Null, |f| json!({ "node": f.node, "message": f.message }));
        let (started_ms, finished_ms) = (millis(started_at), millis(finished_at));
        let data = json!({
            "flow_id": plan.id, "flow_version": plan.version,
            "execution_id": execution.meta.id, "status": status,
            "response_status": response_status, "error": error,
            "started_at": rfc3339(started_ms), "finished_at": rfc3339(finished_ms),
            "duration_ms": (finished_ms - started_ms).max(0),
        });
        let context = EventContext {
            flow_id: Some(plan.id.clone()),
            execution_id: Some(execution.meta.id.clone()),
            node_id: execution.failure.as_ref().map(|f| f.node.clone()),
        };
        Event { kind: kind.to_owned(), timestamp_ms: finished_ms, data, context }
    }

    /// An event about flow `flow_id` at `version` from `file`, with `extra` fields in its data.
    pub fn flow(
        kind: &str,
        flow_id: &str,
        version: Option<&str>,
        file: &str,
        extra: Map<String, Value>,
    ) -> Event {
        let mut data = Map::new();
        data.insert("flow_id".into(), json!(flow_id));
        data.insert("version".into(), json!(version));
        data.insert("file".into(), json!(file));
        data.extend(extra);
        let context = EventContext { flow_id: Some(flow_id.to_owned()), ..EventContext::default() };
        Event::new(kind, Value::Object(data), context)
    }

    /// The document a subscription's payload expression is evaluated against:
    /// `{event, timestamp, webhook_id, message_id, data, context}`.
    pub fn document(&self, subscription_id: &str, message_id: &str) -> Value {
        json!({
            "event": self.kind,
            "timestamp": rfc3339(self.timestamp_ms),
            "webhook_id": subscription_id,
            "message_id": message_id,
            "data": self.data,
            "context": self.context.to_json(),
        })
    }

    /// The default payload, `{event, timestamp, webhook_id, data}`, as JSON: written straight
    /// from the event (no copy of its data).
    pub fn envelope(&self, subscription_id: &str) -> serde_json::Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Envelope<'a> {
            event: &'a str,
            timestamp: String,
            webhook_id: &'a str,
            data: &'a Value,
        }
        let envelope = Envelope {
            event: &self.kind,
            timestamp: rfc3339(self.timestamp_ms),
            webhook_id: subscription_id,
            data: &self.data,
        };
        serde_json::to_vec(&envelope)
    }
}

/// `ms` as RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(hookflow_store::clock::time(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_each_type_once_and_every_sample_is_an_object() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        for t in CATALOGUE {
            assert!((t.sample)().is_object(), "{}", t.name);
            assert!(!t.description.is_empty(), "{}", t.name);
        }
        assert!(lookup(EXECUTION_FAILED).is_some() && lookup("order.accepted").is_none());
    }

    #[test]
    fn the_envelope_and_the_payload_document() {
        let event = Event {
            kind: TEST.into(),
            timestamp_ms: 1_700_000_000_123,
            data: json!({ "n": 1 }),
            context: EventContext { flow_id: Some("f".into()), ..EventContext::default() },
        };
        assert_eq!(
            String::from_utf8(event.envelope("sub_1").unwrap()).unwrap(),
            r#"{"event":"test","timestamp":"2023-11-14T22:13:20.123Z","webhook_id":"sub_1","data":{"n":1}}"#
        );
        let doc = event.document("sub_1", "msg_1");
        assert_eq!(doc["message_id"], "msg_1");
        assert_eq!(
            doc["context"],
            json!({ "flow_id": "f", "execution_id": null, "node_id": null })
        );
    }
}

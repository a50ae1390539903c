//! The `event` node: a trigger that starts the flow on events other flows emit, instead of an
//! HTTP call. The event is in the context as `event` (`event.type`, `event.data`,
//! `event.source.execution_id`).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::emit::valid_event_name;
use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::Scope;
use crate::pointer::escape;
use crate::trigger::Trigger;

pub static TYPE: NodeType = NodeType {
    name: "event",
    role: Role::Trigger,
    doc: "A trigger that starts the flow on events instead of HTTP calls. `events` lists event \
          types (`ticket.created`), prefixes ending in `.*` (`order.*` matches `order.accepted` \
          and `order.line.added`) or `*` for every event a flow emits. Each matching event starts \
          one execution, queued durably and run by the same worker pool as `accepted` calls. The \
          event is in the context as `event`: `event.id`, `event.type`, `event.timestamp`, \
          `event.data` and `event.source` (`flow_id`, `execution_id`). A flow with this trigger \
          has no caller to answer: a `respond` node in it is an error. The node's own output is \
          `null`.",
    example: r#"{ "id": "created", "type": "event", "events": ["ticket.created", "ticket.*"] }"#,
    schema: |g| g.root_schema_for::<EventConfig>(),
    compile,
};

/// The fields of an `event` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// Event types, prefixes ending in `.*`, or `*`.
    pub events: Vec<String>,
    /// A sample event, for offline runs, test cases and the docs: its `data`.
    #[serde(default)]
    pub expected: ExpectedEvent,
}

/// The `expected` field of an `event` trigger.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEvent {
    /// A sample `data` of the events that start the flow.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// A compiled `event` trigger.
#[derive(Debug)]
pub struct EventTrigger {
    /// The patterns as written.
    pub events: Vec<String>,
    /// How records and metrics name the trigger, e.g. `EVENT ticket.created, ticket.*`.
    pub label: String,
    /// The sample event's `data` (`null` when none is given).
    pub expected: serde_json::Value,
}

impl EventTrigger {
    /// Whether an event of type `kind` starts the flow.
    pub fn matches(&self, kind: &str) -> bool {
        self.events.iter().any(|pattern| pattern_matches(pattern, kind))
    }
}

/// Whether `pattern` (a type, a `prefix.*` or `*`) matches event type `kind`.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => kind.len() > prefix.len() && kind.starts_with(prefix),
        None => pattern == kind,
    }
}

#[derive(Debug)]
struct EventNode(EventTrigger);

impl Node for EventNode {
    fn trigger(&self) -> Option<Trigger<'_>> {
        Some(Trigger::Event(&self.0))
    }

    fn run(&self, _: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        Ok(Outcome::Value(Value::Null))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: EventConfig = cx.config(config)?;
    let mut ok = true;
    if config.events.is_empty() {
        cx.report(Code::InvalidValue, "/events", "`events` is empty: the flow would never start")
            .set_help("list the event types that start it, e.g. [\"ticket.created\"]");
        ok = false;
    }
    for (i, pattern) in config.events.iter().enumerate() {
        let name = pattern.strip_suffix(".*").unwrap_or(pattern);
        if pattern != "*" && !valid_event_name(name) {
            let at = format!("/events/{}", escape(&i.to_string()));
            cx.report(
                Code::InvalidValue,
                &at,
                format!("`{pattern}` is not an event type or pattern"),
            )
            .set_help("an event type (`ticket.created`), a prefix and `.*` (`ticket.*`), or `*`");
            ok = false;
        }
    }
    let label = format!("EVENT {}", config.events.join(", "));
    ok.then(|| {
        Box::new(EventNode(EventTrigger {
            events: config.events,
            label,
            expected: config.expected.data,
        })) as Box<dyn Node>
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_types_prefixes_and_everything() {
        assert!(pattern_matches("ticket.created", "ticket.created"));
        assert!(!pattern_matches("ticket.created", "ticket.created.x"));
        assert!(pattern_matches("order.*", "order.accepted"));
        assert!(pattern_matches("order.*", "order.line.added"));
        assert!(!pattern_matches("order.*", "order"));
        assert!(!pattern_matches("order.*", "orders.accepted"));
        assert!(pattern_matches("*", "anything.at_all"));
    }

    #[test]
    fn bad_patterns_are_diagnostics_naming_the_entry() {
        let mut templates = crate::template::Templates::default();
        let mut diagnostics = Vec::new();
        let mut reads = Default::default();
        let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
        let config = serde_json::json!({ "events": ["ok.one", "order.**", "Bad"] });
        assert!(compile(&mut cx, config).is_none());
        let found: Vec<_> =
            diagnostics.iter().map(|d| (d.location.pointer.as_str(), d.message.as_str())).collect();
        assert_eq!(
            found,
            [
                ("/events/1", "`order.**` is not an event type or pattern"),
                ("/events/2", "`Bad` is not an event type or pattern")
            ]
        );
    }
}

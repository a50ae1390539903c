//! The `emit` node: raises a business event (say `order.accepted`) for the outbound
//! subscriptions that want it and the flows an `event` trigger starts on it.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{Expr, Scope};
use crate::services::EmittedEvent;

pub static TYPE: NodeType = NodeType {
    name: "emit",
    role: Role::Step,
    doc: "Raises an event: `event` is its type, dot-separated names of `a-z`, `0-9` and `_` \
          (e.g. `order.accepted`); `data` is a value expression, the event's data. The event goes \
          to the outbound subscriptions that want its type and starts every flow whose `event` \
          trigger matches it. It is written durably before the node's output, `{\"id\", \
          \"event\"}`, is produced: a crash after the node ran loses none.",
    example: r#"{ "id": "raise", "type": "emit", "event": "order.accepted",
  "data": { "id": "$.request.body.id", "total": "$.request.body.total" } }"#,
    schema: |g| g.root_schema_for::<EmitConfig>(),
    compile,
};

/// The fields of an `emit` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitConfig {
    /// The event type, e.g. `order.accepted`.
    pub event: String,
    /// A value expression: the event's data (default `null`).
    #[serde(default)]
    pub data: Option<Value>,
}

/// Whether `name` is a valid event type a flow may raise: `[a-z0-9_]+(\.[a-z0-9_]+)*`.
pub fn valid_event_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// A compiled `emit` node.
#[derive(Debug)]
pub struct Emit {
    /// The event type it raises.
    pub event: String,
    data: Option<Expr>,
}

impl Node for Emit {
    fn emits(&self) -> Option<&str> {
        Some(&self.event)
    }

    fn run(&self, scope: Scope<'_>, cx: RunCx<'_>) -> Result<Outcome, NodeError> {
        let data = match &self.data {
            Some(data) => data.eval(scope)?.unwrap_or(Value::Null),
            None => Value::Null,
        };
        let event = EmittedEvent {
            kind: self.event.clone(),
            data,
            execution_id: cx.execution.id.clone(),
            flow_id: cx.execution.flow_id.clone(),
            depth: cx.execution.depth,
        };
        let events = cx.services.events.clone();
        Ok(Outcome::Pending(Box::pin(async move {
            let kind = event.kind.clone();
            let id = events.emit(event).await.map_err(|e| NodeError {
                message: format!("the event `{kind}` could not be written: {e}"),
            })?;
            Ok(json!({ "id": id, "event": kind }))
        })))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: EmitConfig = cx.config(config)?;
    let mut ok = true;
    if !valid_event_name(&config.event) {
        cx.report(Code::InvalidValue, "/event", format!("`{}` is not an event name", config.event))
            .set_help("dot-separated names of a-z, 0-9 and `_`, e.g. `order.accepted`");
        ok = false;
    }
    let data = match &config.data {
        Some(data) => Some(Expr::compile(cx, data, "/data")?),
        None => None,
    };
    ok.then(|| Box::new(Emit { event: config.event, data }) as Box<dyn Node>)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use handlebars::Context;

    use super::*;
    use crate::context::ExecutionMeta;
    use crate::diagnostic::Diagnostic;
    use crate::services::{Offline, Services};
    use crate::template::Templates;

    #[test]
    fn event_names_are_dotted_lower_case_words() {
        for good in ["order.accepted", "ticket_created", "a.b.c", "v2.x"] {
            assert!(valid_event_name(good), "{good}");
        }
        for bad in ["", "Order.accepted", "order..x", ".x", "x.", "order.*", "a-b", "é"] {
            assert!(!valid_event_name(bad), "{bad}");
        }
    }

    #[test]
    fn raises_the_event_with_its_data_and_the_execution_that_raised_it() {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let mut reads = Default::default();
        let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
        let config = json!({ "event": "order.accepted", "data": { "id": "$.request.body.id" } });
        let node = compile(&mut cx, config).unwrap();
        let offline = Arc::new(Offline::default());
        let services = Services::offline(&offline);
        let ctx = Context::from(json!({ "request": { "body": { "id": "ORD-1" } } }));
        let execution = ExecutionMeta {
            id: "e1".into(),
            flow_id: "f".into(),
            flow_version: "v".into(),
            credential: None,
            depth: 2,
        };
        let logs = crate::nodes::Logs::default();
        let cx = RunCx { execution: &execution, services: &services, logs: &logs };
        let Ok(Outcome::Pending(mut io)) = node.run(Scope { ctx: &ctx, templates: &templates }, cx)
        else {
            panic!("an emit node answers Pending");
        };
        let waker = std::task::Waker::noop();
        let std::task::Poll::Ready(out) =
            io.as_mut().poll(&mut std::task::Context::from_waker(waker))
        else {
            panic!("offline answers at once");
        };
        assert_eq!(out.unwrap(), json!({ "id": "evt_offline_1", "event": "order.accepted" }));
        let emitted = offline.emitted();
        assert_eq!(emitted.len(), 1);
        assert_eq!(emitted[0].data, json!({ "id": "ORD-1" }));
        assert_eq!((emitted[0].execution_id.as_str(), emitted[0].depth), ("e1", 2));
    }

    #[test]
    fn a_bad_event_name_is_a_diagnostic() {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let mut reads = Default::default();
        let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
        assert!(compile(&mut cx, json!({ "event": "Order Accepted" })).is_none());
        assert_eq!(diagnostics[0].message, "`Order Accepted` is not an event name");
    }
}

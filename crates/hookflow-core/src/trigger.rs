//! What starts a flow: the trigger kinds. The plan, the engine and the server ask a flow's
//! trigger through [`Trigger`], never through a node type; a new kind is one more variant here
//! and one node file.

use crate::nodes::event::EventTrigger;
use crate::nodes::webhook::Webhook;
use crate::response::ResponseSpec;

/// A flow's trigger, borrowed from its trigger node.
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    /// A `webhook` node: an HTTP route under `/hooks`.
    Webhook(&'a Webhook),
    /// An `event` node: events other flows emit.
    Event(&'a EventTrigger),
}

impl<'a> Trigger<'a> {
    /// How records and metrics name what started the flow, e.g. `POST /orders/{region}`.
    pub fn label(self) -> &'a str {
        match self {
            Trigger::Webhook(hook) => &hook.route,
            Trigger::Event(event) => &event.label,
        }
    }

    /// The webhook's settings, when the flow starts from one.
    pub fn webhook(self) -> Option<&'a Webhook> {
        match self {
            Trigger::Webhook(hook) => Some(hook),
            Trigger::Event(_) => None,
        }
    }

    /// The event trigger's settings, when the flow starts on events.
    pub fn event(self) -> Option<&'a EventTrigger> {
        match self {
            Trigger::Event(event) => Some(event),
            Trigger::Webhook(_) => None,
        }
    }

    /// The response of a flow that ends without a `respond` node, when the trigger sets one.
    pub fn default_response(self) -> Option<&'a ResponseSpec> {
        match self {
            Trigger::Webhook(hook) => hook.default_response.as_ref(),
            Trigger::Event(_) => None,
        }
    }

    /// The response of a flow that failed, when the trigger sets one.
    pub fn error_response(self) -> Option<&'a ResponseSpec> {
        match self {
            Trigger::Webhook(hook) => hook.error_response.as_ref(),
            Trigger::Event(_) => None,
        }
    }
}

//! The compiled, immutable form of one flow: nodes in topological order with their outgoing
//! edges, the trigger's settings and the flow's template registry.

use crate::compile_cx::Reads;
use crate::nodes::webhook::Webhook;
use crate::nodes::{Node, Role};
use crate::template::Templates;
use crate::trigger::Trigger;

/// A compiled flow. Built once by [`crate::compiler::compile`], shared by every request.
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    /// Content hash of the flow file (first 16 hex digits of its SHA-256).
    pub version: String,
    /// The file the flow came from.
    pub file: String,
    pub(crate) nodes: Vec<PlanNode>,
    /// Node indexes in topological order.
    pub(crate) order: Vec<usize>,
    /// Per node: its outgoing edges as (output index for a branching node, target node).
    pub(crate) next: Vec<Vec<(Option<usize>, usize)>>,
    pub(crate) trigger: usize,
    pub(crate) templates: Templates,
    /// What its paths and templates may read of the context.
    pub(crate) reads: Reads,
}

/// One node of a plan.
#[derive(Debug)]
pub struct PlanNode {
    pub id: String,
    pub type_name: &'static str,
    pub role: Role,
    /// JSON pointer of the node in its file.
    pub pointer: String,
    pub(crate) node: Box<dyn Node>,
}

impl PlanNode {
    /// The event type the node raises, for an `emit` node.
    pub fn emits(&self) -> Option<&str> {
        self.node.emits()
    }
}

impl Plan {
    /// What the flow's paths and templates may read of the context (see [`Reads`]): when none
    /// may read `request.headers`, the caller need not put the headers in the context.
    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// What starts the flow. The compiler makes a plan only around a node whose role is
    /// `Trigger`, and every such node type answers [`crate::nodes::Node::trigger`].
    pub fn trigger(&self) -> Trigger<'_> {
        self.nodes[self.trigger].node.trigger().expect("the trigger node is a trigger")
    }

    /// The webhook's settings (suffix, methods, auth, limits, response mode, samples), when the
    /// flow starts from one.
    pub fn webhook(&self) -> Option<&Webhook> {
        self.trigger().webhook()
    }

    /// The JSON pointer of the trigger node.
    pub fn trigger_pointer(&self) -> &str {
        &self.nodes[self.trigger].pointer
    }

    pub fn nodes(&self) -> &[PlanNode] {
        &self.nodes
    }

    /// The event types the flow's `emit` nodes raise, in node order (repeats kept).
    pub fn emits(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().filter_map(PlanNode::emits)
    }

    /// Whether any node of the flow calls out over the network.
    pub fn calls_out(&self) -> bool {
        self.nodes.iter().any(|n| n.node.calls_out())
    }

    /// The node called `id`.
    pub fn node(&self, id: &str) -> Option<&PlanNode> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Source, compile};

    fn reads_headers(file: &str, text: &str) -> bool {
        let source = Source { file: file.into(), text: text.into() };
        compile(&source).plan.expect("the flow compiles").reads().headers
    }

    #[test]
    fn a_plan_knows_whether_its_flow_may_read_the_headers() {
        let order = include_str!("../../../flows/order-intake.json");
        assert!(!reads_headers("order-intake.json", order), "body, params and node outputs only");
        let record = include_str!("../../../flows/app-record.json");
        assert!(reads_headers("app-record.json", record), "`$.request.headers['x-source']`");
        let idempotent = order.replace(
            r#""methods": ["POST"],"#,
            r#""methods": ["POST"], "idempotency": { "key": "{{request.headers.[idempotency-key]}}", "ttl_seconds": 60 },"#,
        );
        assert!(reads_headers("order-intake.json", &idempotent), "the idempotency key reads one");
    }

    #[test]
    fn a_plan_knows_whether_its_flow_may_read_the_time_received_and_the_execution() {
        let reads = |text: &str| {
            let source = Source { file: "flow.json".into(), text: text.into() };
            let reads = compile(&source).plan.expect("the flow compiles").reads();
            (reads.received_at, reads.execution)
        };
        let order = include_str!("../../../flows/order-intake.json");
        assert_eq!(reads(order), (false, false), "body, params and node outputs only");
        let record = include_str!("../../../flows/app-record.json");
        assert_eq!(reads(record), (false, true), "`{{execution.id}}`");
        let events = include_str!("../../../flows/event-intake.json");
        assert_eq!(reads(events), (true, true), "a template with a helper may read anything");
        let received = order.replace(r#""$.request.body.id""#, r#""$.request.received_at""#);
        assert_eq!(reads(&received), (true, false));
        let whole = order.replace(r#""$.request.body.id""#, r#""$""#);
        assert_eq!(reads(&whole), (true, true), "the whole document");
    }
}

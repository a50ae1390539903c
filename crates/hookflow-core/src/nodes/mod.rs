//! The node types. Each lives in one file (config, docs, example, compile step, run step, tests);
//! [`NODE_TYPES`] lists them. Adding a type is one file plus one line here.

use std::cell::RefCell;
use std::fmt;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::compile_cx::CompileCx;
use crate::context::ExecutionMeta;
use crate::expr::Scope;
use crate::response::Response;
use crate::services::{BoxFuture, Services};
use crate::trigger::Trigger;

pub mod branch;
pub mod code;
pub mod emit;
pub mod event;
pub mod http_request;
pub mod map;
pub mod respond;
pub mod store;
pub mod template;
pub mod webhook;

/// Every node type, in the order the docs list them.
pub static NODE_TYPES: &[&NodeType] = &[
    &webhook::TYPE,
    &event::TYPE,
    &map::TYPE,
    &template::TYPE,
    &branch::TYPE,
    &code::TYPE,
    &http_request::TYPE,
    &store::TYPE,
    &emit::TYPE,
    &respond::TYPE,
];

/// A node type: its name in flow files, its docs and how to compile it.
pub struct NodeType {
    pub name: &'static str,
    /// The part nodes of this type play.
    pub role: Role,
    /// One paragraph for the docs and the node-type API.
    pub doc: &'static str,
    /// An example node (JSON), tested to compile.
    pub example: &'static str,
    /// The JSON Schema of the type's own fields.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// Compiles the type's fields (everything but `id` and `type`); reports problems to `cx`.
    pub compile: fn(&mut CompileCx<'_>, Value) -> Option<Box<dyn Node>>,
}

impl fmt::Debug for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeType").field("name", &self.name).finish()
    }
}

/// The node type called `name`.
pub fn lookup(name: &str) -> Option<&'static NodeType> {
    NODE_TYPES.iter().copied().find(|t| t.name == name)
}

/// What part a node plays in running a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Starts the flow (exactly one per flow).
    Trigger,
    /// Does its work and passes on.
    Step,
    /// Answers the request; only the first one reached runs.
    Respond,
}

impl Role {
    /// The role's name in the node-type API: `trigger`, `step` or `respond`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Trigger => "trigger",
            Role::Step => "step",
            Role::Respond => "respond",
        }
    }
}

/// A compiled node, ready to run many times.
pub trait Node: Send + Sync + fmt::Debug {
    /// The named outputs of a branching node; empty for a node whose edges all fire.
    fn outputs(&self) -> &[String] {
        &[]
    }

    /// What kind of trigger the node is, for the trigger node.
    fn trigger(&self) -> Option<Trigger<'_>> {
        None
    }

    /// The event type the node raises, for an `emit` node.
    fn emits(&self) -> Option<&str> {
        None
    }

    /// Whether running the node calls out over the network (through [`Services::http`]).
    fn calls_out(&self) -> bool {
        false
    }

    /// Every value expression of the node with the value it produces against the context, with
    /// pointers under `base` (the node's pointer); empty for a node that does not explain itself.
    fn explain(&self, _scope: Scope<'_>, _base: &str) -> Vec<crate::expr::Explained> {
        Vec::new()
    }

    /// Runs the node against the context. A node that does I/O renders what it needs from the
    /// context here and answers [`Outcome::Pending`] with the I/O still to do.
    fn run(&self, scope: Scope<'_>, cx: RunCx<'_>) -> Result<Outcome, NodeError>;
}

/// What a node runs with besides the context: the execution it is part of (so that what it
/// writes can name its execution) and the I/O it may do.
#[derive(Debug, Clone, Copy)]
pub struct RunCx<'a> {
    pub execution: &'a ExecutionMeta,
    pub services: &'a Services,
    /// Where the node writes the lines it logs (a `code` node's `console`).
    pub logs: &'a Logs,
}

/// The lines a node logged while it ran: its trace shows them.
#[derive(Debug, Default)]
pub struct Logs(RefCell<Vec<String>>);

impl Logs {
    pub fn extend(&self, lines: Vec<String>) {
        self.0.borrow_mut().extend(lines);
    }

    pub fn into_lines(self) -> Vec<String> {
        self.0.into_inner()
    }
}

/// What running a node produced.
pub enum Outcome {
    /// An output value (stored as `nodes.<id>`); every outgoing edge fires.
    Value(Value),
    /// An output value, and only the edges leaving output number `output` fire.
    Branch { output: usize, value: Value },
    /// The response to the request.
    Respond(Response),
    /// I/O under way; its value is the output, and every outgoing edge fires.
    Pending(BoxFuture<Result<Value, NodeError>>),
}

/// A node's run-time failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeError {
    pub message: String,
}

impl From<crate::expr::EvalError> for NodeError {
    fn from(e: crate::expr::EvalError) -> Self {
        let message = if e.pointer.is_empty() {
            e.message
        } else {
            format!("{} (at #{})", e.message, e.pointer)
        };
        NodeError { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::template::Templates;

    #[test]
    fn names_are_unique_and_examples_compile() {
        let mut names: Vec<_> = NODE_TYPES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NODE_TYPES.len());
        for t in NODE_TYPES {
            let mut example: serde_json::Map<String, Value> =
                serde_json::from_str(t.example).expect("example is a JSON object");
            assert_eq!(example.remove("type"), Some(Value::String(t.name.into())), "{}", t.name);
            assert!(example.remove("id").is_some(), "{} example has an id", t.name);
            let mut templates = Templates::default();
            let mut diagnostics: Vec<Diagnostic> = Vec::new();
            let mut reads = Default::default();
            let mut cx =
                CompileCx::new("example.json", &mut templates, &mut reads, &mut diagnostics);
            let node = (t.compile)(&mut cx, Value::Object(example));
            assert!(node.is_some() && diagnostics.is_empty(), "{}: {diagnostics:?}", t.name);
        }
    }
}

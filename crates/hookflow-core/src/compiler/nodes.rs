//! The nodes pass: each node's envelope (`id`, `type`), its id (valid, and not used twice), its
//! type in the registry, and that type's compile step on the rest of the node.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{FlowCx, did_you_mean};
use crate::diagnostic::{Code, Diagnostic, Related};
use crate::nodes::{self, Node, NodeType, Role};
use crate::plan::PlanNode;

/// A node of a known type, as parsed.
pub(super) struct ParsedNode {
    pub id: String,
    pub type_name: &'static str,
    pub role: Role,
    /// JSON pointer of the node in its file.
    pub pointer: String,
    /// The compiled node, unless it had errors.
    pub node: Option<Box<dyn Node>>,
}

/// The nodes of a known type, in file order, which are the nodes edges can name.
#[derive(Default)]
pub(super) struct ParsedNodes {
    pub list: Vec<ParsedNode>,
    /// Each node's index in `list`, by id.
    pub by_id: HashMap<String, usize>,
}

impl ParsedNodes {
    fn push(&mut self, node: ParsedNode) {
        self.by_id.insert(node.id.clone(), self.list.len());
        self.list.push(node);
    }

    /// The plan's nodes, when every node compiled.
    pub fn into_plan_nodes(self) -> Option<Vec<PlanNode>> {
        let plan_node = |n: ParsedNode| {
            let ParsedNode { id, type_name, role, pointer, node } = n;
            Some(PlanNode { id, type_name, role, pointer, node: node? })
        };
        self.list.into_iter().map(plan_node).collect()
    }
}

/// The nodes pass.
pub(super) fn compile_nodes(nodes: Vec<Value>, cx: &mut FlowCx) -> ParsedNodes {
    let mut parsed = ParsedNodes::default();
    for (i, node) in nodes.into_iter().enumerate() {
        if let Some(node) = compile_node(format!("/nodes/{i}"), node, &parsed, cx) {
            parsed.push(node);
        }
    }
    parsed
}

/// Node `value` at `pointer`, unless it has no id, reuses the id of a node before it, or has no
/// known type.
fn compile_node(
    pointer: String,
    value: Value,
    parsed: &ParsedNodes,
    cx: &mut FlowCx,
) -> Option<ParsedNode> {
    let Value::Object(mut config) = value else {
        cx.report(Diagnostic::new(Code::InvalidValue, cx.at(&pointer), "a node is a JSON object"));
        return None;
    };
    let id = take_string(&mut config, "id", &pointer, cx);
    let type_name = take_string(&mut config, "type", &pointer, cx);
    let id = id?;
    check_node_id(&id, &pointer, cx);
    if !first_use(&id, &pointer, parsed, cx) {
        return None;
    }
    let node_type = node_type(&type_name?, &id, &pointer, cx)?;
    let node = (node_type.compile)(&mut cx.node_cx(&id, &pointer), Value::Object(config));
    Some(ParsedNode { id, type_name: node_type.name, role: node_type.role, pointer, node })
}

/// Takes the envelope field `key` (`id` or `type`) out of a node's config.
fn take_string(
    config: &mut Map<String, Value>,
    key: &str,
    pointer: &str,
    cx: &mut FlowCx,
) -> Option<String> {
    match config.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            let message = format!("node `{key}` must be a string");
            cx.report(Diagnostic::new(
                Code::InvalidValue,
                cx.at(&format!("{pointer}/{key}")),
                message,
            ));
            None
        }
        None => {
            let message = format!("node is missing `{key}`");
            cx.report(Diagnostic::new(Code::MissingField, cx.at(pointer), message));
            None
        }
    }
}

/// Reports a node id that paths and templates could not read.
fn check_node_id(id: &str, pointer: &str, cx: &mut FlowCx) {
    if !is_node_id(id) {
        cx.report(
            Diagnostic::new(Code::InvalidValue, cx.at(&format!("{pointer}/id")), format!("node id `{id}` is not valid"))
                .with_node(Some(id))
                .with_help("node ids are read in paths and templates (`nodes.<id>`): use letters, digits and `_`, not starting with a digit"),
        );
    }
}

/// Whether no node parsed before took `id`; reports the node that did.
fn first_use(id: &str, pointer: &str, parsed: &ParsedNodes, cx: &mut FlowCx) -> bool {
    let Some(&first) = parsed.by_id.get(id) else { return true };
    let first_pointer = format!("{}/id", parsed.list[first].pointer);
    cx.report(
        Diagnostic::new(
            Code::DuplicateNodeId,
            cx.at(&format!("{pointer}/id")),
            format!("node id `{id}` is used twice"),
        )
        .with_node(Some(id))
        .with_related(Related {
            message: "first used here".into(),
            location: cx.at(&first_pointer),
        })
        .with_help("node ids must be unique in a flow"),
    );
    false
}

/// The registry's type `name`, or a report naming the closest one.
fn node_type(name: &str, id: &str, pointer: &str, cx: &mut FlowCx) -> Option<&'static NodeType> {
    let found = nodes::lookup(name);
    if found.is_none() {
        let names = nodes::NODE_TYPES.iter().map(|t| t.name);
        let help = did_you_mean(name, names.clone())
            .unwrap_or_else(|| format!("known types: {}", names.collect::<Vec<_>>().join(", ")));
        cx.report(
            Diagnostic::new(
                Code::UnknownNodeType,
                cx.at(&format!("{pointer}/type")),
                format!("unknown node type `{name}`"),
            )
            .with_node(Some(id))
            .with_help(help),
        );
    }
    found
}

fn is_node_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

//! The graph passes: the edges (read as [`EdgeDoc`]s, with their endpoints and branch outputs)
//! make a petgraph graph of the parsed nodes, which must have one trigger, no cycle, every node
//! reachable from the trigger and an edge from every branch output; and the order nodes run in.

use std::collections::VecDeque;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef};
use serde_json::Value;

use super::document::EdgeDoc;
use super::nodes::{ParsedNode, ParsedNodes};
use super::{FlowCx, did_you_mean};
use crate::diagnostic::{Code, Diagnostic, Related};
use crate::nodes::Role;
use crate::trigger::Trigger;

/// The flow as a graph of its parsed nodes.
pub(super) struct FlowGraph {
    /// One node per parsed node (weight: its index), one edge per edge between two of them
    /// (weight: the edge's index in `edges`).
    graph: DiGraph<usize, usize>,
    /// Per node: its outgoing edges as (output index for a branching node, target node).
    pub next: Vec<Vec<(Option<usize>, usize)>>,
    /// Per node: whether each of its outputs has an edge.
    used_outputs: Vec<Vec<bool>>,
}

/// The edges pass: each edge read, its endpoints found and, from a branching node, its output;
/// the graph of the nodes and the edges.
pub(super) fn connect(edges: Vec<Value>, nodes: &ParsedNodes, cx: &mut FlowCx) -> FlowGraph {
    let mut flow = FlowGraph::new(nodes);
    for (i, edge) in edges.into_iter().enumerate() {
        flow.add_edge(i, edge, nodes, cx);
    }
    flow
}

impl FlowGraph {
    /// The nodes, without edges.
    fn new(nodes: &ParsedNodes) -> Self {
        let mut graph = DiGraph::new();
        for i in 0..nodes.list.len() {
            graph.add_node(i);
        }
        let outputs = |n: &ParsedNode| n.node.as_ref().map_or(0, |node| node.outputs().len());
        FlowGraph {
            graph,
            next: vec![Vec::new(); nodes.list.len()],
            used_outputs: nodes.list.iter().map(|n| vec![false; outputs(n)]).collect(),
        }
    }

    /// Adds edge `i` when it is valid.
    fn add_edge(&mut self, i: usize, edge: Value, nodes: &ParsedNodes, cx: &mut FlowCx) {
        let pointer = format!("/edges/{i}");
        let Some(edge) = read_edge(edge, &pointer, cx) else { return };
        let from = endpoint("from", &edge.from, &pointer, nodes, cx);
        let to = endpoint("to", &edge.to, &pointer, nodes, cx);
        let (Some(from), Some(to)) = (from, to) else { return };
        let Some(from_node) = &nodes.list[from].node else {
            // The node has errors of its own: keep the edge for the graph checks, skip its output.
            self.graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), i);
            return;
        };
        let Some(output) = output(&edge, from_node.outputs(), &pointer, cx) else { return };
        if let Some(o) = output {
            self.used_outputs[from][o] = true;
        }
        self.graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), i);
        self.next[from].push((output, to));
    }

    /// A topological order in which a node runs as soon as everything before it has, in the
    /// order nodes become ready (Kahn's algorithm with a queue; edges and ties in file order).
    /// So the `respond` node fewest steps from the trigger is reached first. The graph has no
    /// cycle.
    pub fn breadth_first_order(&self) -> Vec<usize> {
        let next = &self.next;
        let mut indegree = vec![0usize; next.len()];
        for &(_, target) in next.iter().flatten() {
            indegree[target] += 1;
        }
        let mut ready: VecDeque<usize> = (0..next.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(next.len());
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &(_, target) in &next[i] {
                indegree[target] -= 1;
                if indegree[target] == 0 {
                    ready.push_back(target);
                }
            }
        }
        order
    }
}

/// Edge `value` at `pointer` as an [`EdgeDoc`], or the first problem with its fields reported.
fn read_edge(value: Value, pointer: &str, cx: &mut FlowCx) -> Option<EdgeDoc> {
    let edge = cx.node_cx("", pointer).config(value);
    if edge.is_none()
        && let Some(d) = cx.diagnostics.last_mut()
    {
        // Reported as for a node: an edge's diagnostic names none.
        d.node = None;
    }
    edge
}

/// The index of the node an edge's `end` (`from` or `to`) names, or a report.
fn endpoint(
    end: &str,
    name: &str,
    pointer: &str,
    nodes: &ParsedNodes,
    cx: &mut FlowCx,
) -> Option<usize> {
    let found = nodes.by_id.get(name).copied();
    if found.is_none() {
        let help = did_you_mean(name, nodes.by_id.keys().map(String::as_str))
            .unwrap_or_else(|| "an edge connects two node ids of this flow".into());
        cx.report(
            Diagnostic::new(
                Code::UnknownEdgeEndpoint,
                cx.at(&format!("{pointer}/{end}")),
                format!("edge `{end}` names node `{name}`, which does not exist"),
            )
            .with_help(help),
        );
    }
    found
}

/// The output `edge` leaves its node from: `Some(None)` for a node without named outputs,
/// `Some(Some(index))` for a branching node, `None` when the edge does not fit its node
/// (reported).
fn output(
    edge: &EdgeDoc,
    outputs: &[String],
    pointer: &str,
    cx: &mut FlowCx,
) -> Option<Option<usize>> {
    let from = &edge.from;
    let problem = match (&edge.output, outputs.is_empty()) {
        (None, true) => return Some(None),
        (Some(o), true) => Diagnostic::new(
            Code::UnexpectedEdgeOutput,
            cx.at(&format!("{pointer}/output")),
            format!("node `{from}` has no named outputs, but this edge names output `{o}`"),
        )
        .with_help("remove `output`: every edge of a non-branching node fires"),
        (None, false) => Diagnostic::new(
            Code::MissingEdgeOutput,
            cx.at(pointer),
            format!("edge leaves branching node `{from}` without naming an `output`"),
        )
        .with_help(format!("add \"output\": one of {}", quote_list(outputs))),
        (Some(o), false) => {
            if let Some(p) = outputs.iter().position(|x| x == o) {
                return Some(Some(p));
            }
            let help = did_you_mean(o, outputs.iter().map(String::as_str))
                .unwrap_or_else(|| format!("outputs of `{from}`: {}", quote_list(outputs)));
            Diagnostic::new(
                Code::UnknownBranchOutput,
                cx.at(&format!("{pointer}/output")),
                format!("node `{from}` has no output `{o}`"),
            )
            .with_help(help)
        }
    };
    cx.report(problem.with_node(Some(from)));
    None
}

/// The trigger pass: exactly one trigger, which answers the first one. With no `nodes` written,
/// their absence is reported already.
pub(super) fn one_trigger(
    nodes: &ParsedNodes,
    nodes_written: bool,
    cx: &mut FlowCx,
) -> Option<usize> {
    let mut triggers = (0..nodes.list.len()).filter(|&i| nodes.list[i].role == Role::Trigger);
    let first = triggers.next();
    if first.is_none() && nodes_written {
        cx.report(
            Diagnostic::new(Code::NoTrigger, cx.at("/nodes"), "the flow has no trigger")
                .with_help("add a node of type `webhook`: it mounts the URL that starts the flow"),
        );
    }
    if let Some(first) = first {
        let first = &nodes.list[first];
        for extra in triggers.map(|i| &nodes.list[i]) {
            cx.report(
                Diagnostic::new(
                    Code::MultipleTriggers,
                    cx.at(&extra.pointer),
                    format!("a second trigger: `{}` already starts this flow", first.id),
                )
                .with_node(Some(&extra.id))
                .with_related(Related {
                    message: "the first trigger".into(),
                    location: cx.at(&first.pointer),
                })
                .with_help("a flow has exactly one webhook; split it into two flows"),
            );
        }
    }
    first
}

/// The caller pass: a flow that an event starts has no caller, so no `respond` node.
pub(super) fn no_caller(nodes: &ParsedNodes, trigger: usize, cx: &mut FlowCx) {
    let start = &nodes.list[trigger];
    let Some(Trigger::Event(_)) = start.node.as_ref().and_then(|n| n.trigger()) else { return };
    for node in nodes.list.iter().filter(|n| n.role == Role::Respond) {
        cx.report(
            Diagnostic::new(
                Code::RespondWithoutCaller,
                cx.at(&node.pointer),
                format!(
                    "`{}` answers a caller, but the event trigger `{}` has none",
                    node.id, start.id
                ),
            )
            .with_node(Some(&node.id))
            .with_related(Related {
                message: "the event trigger".into(),
                location: cx.at(&start.pointer),
            })
            .with_help(
                "remove the node; to tell another system, use an `emit` or `http_request` node",
            ),
        );
    }
}

/// The cycles pass: every strongly connected component with more than one node, or a self-loop.
pub(super) fn cycles(flow: &FlowGraph, nodes: &ParsedNodes, cx: &mut FlowCx) {
    let graph = &flow.graph;
    for scc in tarjan_scc(graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let mut members: Vec<usize> = scc.iter().map(|ix| graph[*ix]).collect();
        members.sort_unstable();
        let names: Vec<String> =
            members.iter().map(|&m| format!("`{}`", nodes.list[m].id)).collect();
        let edge = graph
            .edges(scc[0])
            .find(|e| scc.contains(&e.target()))
            .map(|e| *e.weight())
            .unwrap_or_default();
        cx.report(
            Diagnostic::new(
                Code::Cycle,
                cx.at(&format!("/edges/{edge}")),
                format!("the edges form a cycle through {}", names.join(" → ")),
            )
            .with_node(Some(&nodes.list[members[0]].id))
            .with_help("a flow is a directed acyclic graph: remove one of these edges"),
        );
    }
}

/// The reachability pass: every node can be reached from the trigger.
pub(super) fn reachability(flow: &FlowGraph, nodes: &ParsedNodes, trigger: usize, cx: &mut FlowCx) {
    let mut reached = vec![false; nodes.list.len()];
    let mut bfs = Bfs::new(&flow.graph, NodeIndex::new(trigger));
    while let Some(ix) = bfs.next(&flow.graph) {
        reached[flow.graph[ix]] = true;
    }
    let trigger = &nodes.list[trigger].id;
    for node in nodes.list.iter().zip(reached).filter(|(_, r)| !r).map(|(n, _)| n) {
        cx.report(
            Diagnostic::new(
                Code::UnreachableNode,
                cx.at(&node.pointer),
                format!("node `{}` cannot be reached from the trigger `{trigger}`", node.id),
            )
            .with_node(Some(&node.id))
            .with_help("connect it with an edge, or remove it"),
        );
    }
}

/// The branch outputs pass: every output of a branching node has an edge.
pub(super) fn branch_outputs(flow: &FlowGraph, nodes: &ParsedNodes, cx: &mut FlowCx) {
    for (parsed, used) in nodes.list.iter().zip(&flow.used_outputs) {
        let ParsedNode { id, pointer, node: Some(node), .. } = parsed else { continue };
        for (output, _) in node.outputs().iter().zip(used).filter(|(_, used)| !**used) {
            cx.report(
                Diagnostic::new(
                    Code::OutputGoesNowhere,
                    cx.at(pointer),
                    format!(
                        "output `{output}` of `{id}` has no edge: when taken, the flow ends there"
                    ),
                )
                .with_node(Some(id))
                .with_help(
                    "add an edge from this output, or rely on the webhook's default response",
                ),
            );
        }
    }
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
}

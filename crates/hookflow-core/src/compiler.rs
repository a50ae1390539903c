//! Flow file → plan: parse, check every field and every node, build the graph with petgraph and
//! check it (endpoints, branch outputs, one trigger, cycles, reachability), and order it. All
//! problems are reported at once; a plan comes out only when there is no error.

use std::collections::{HashMap, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::compile_cx::{CompileCx, Reads};
use crate::diagnostic::{Code, Diagnostic, Location, Related};
use crate::nodes::{self, Node, Role};
use crate::plan::{Plan, PlanNode};
use crate::template::Templates;

/// A flow file's name and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub text: String,
}

/// The result of compiling one flow.
#[derive(Debug)]
pub struct Compiled {
    /// Present when there was no error.
    pub plan: Option<Plan>,
    /// The flow's id, when it could be read (even if the flow has errors).
    pub flow_id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

const FLOW_FIELDS: &[&str] = &["$schema", "id", "name", "description", "active", "nodes", "edges"];

/// An edge as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeDoc {
    from: String,
    to: String,
    #[serde(default)]
    output: Option<String>,
}

/// A node as parsed: id, type name, role, JSON pointer, and the compiled node unless it had errors.
type Parsed = (String, &'static str, Role, String, Option<Box<dyn Node>>);

/// Compiles one flow file.
pub fn compile(source: &Source) -> Compiled {
    let mut diagnostics = Vec::new();
    let (plan, flow_id) = compile_into(source, &mut diagnostics);
    for d in &mut diagnostics {
        d.location.resolve(&source.text);
        for r in &mut d.related {
            if r.location.file == source.file {
                r.location.resolve(&source.text);
            }
        }
    }
    diagnostics.sort_by_key(|d| (d.severity, d.location.line, d.location.column));
    let plan = if diagnostics.iter().any(Diagnostic::is_error) { None } else { plan };
    Compiled { plan, flow_id, diagnostics }
}

fn compile_into(
    source: &Source,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<Plan>, Option<String>) {
    let file = source.file.as_str();
    let at = |pointer: &str| Location::new(file, pointer);
    let doc: Value = match serde_json::from_str(&source.text) {
        Ok(doc) => doc,
        Err(e) => {
            let mut location = at("");
            location.line = Some(e.line());
            location.column = Some(e.column());
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            diagnostics.push(Diagnostic::new(
                Code::JsonSyntax,
                location,
                format!("invalid JSON: {message}"),
            ));
            return (None, None);
        }
    };
    let Value::Object(doc) = doc else {
        diagnostics.push(Diagnostic::new(Code::InvalidValue, at(""), "a flow is a JSON object"));
        return (None, None);
    };
    for key in doc.keys() {
        if !FLOW_FIELDS.contains(&key.as_str()) {
            let mut d = Diagnostic::new(
                Code::UnknownField,
                at(&format!("/{key}")),
                format!("unknown field `{key}`"),
            );
            d.help = Some(
                did_you_mean(key, FLOW_FIELDS.iter().copied())
                    .unwrap_or_else(|| format!("a flow has {}", FLOW_FIELDS[1..].join(", "))),
            );
            diagnostics.push(d);
        }
    }
    let mut field =
        |name: &str, required: bool, kind: &str, check: fn(&Value) -> bool| -> Option<Value> {
            match doc.get(name) {
                Some(v) if check(v) => Some(v.clone()),
                Some(_) => {
                    diagnostics.push(Diagnostic::new(
                        Code::InvalidValue,
                        at(&format!("/{name}")),
                        format!("`{name}` must be {kind}"),
                    ));
                    None
                }
                None if required => {
                    diagnostics.push(Diagnostic::new(
                        Code::MissingField,
                        at(""),
                        format!("missing field `{name}`"),
                    ));
                    None
                }
                None => None,
            }
        };
    let id =
        field("id", true, "a string", Value::is_string).and_then(|v| v.as_str().map(str::to_owned));
    let name = field("name", true, "a string", Value::is_string);
    let description = field("description", false, "a string", Value::is_string);
    let active = field("active", false, "true or false", Value::is_boolean);
    let nodes_doc = field("nodes", true, "an array of nodes", Value::is_array);
    let edges_doc = field("edges", false, "an array of edges", Value::is_array);
    if let Some(id) = &id
        && !is_flow_id(id)
    {
        diagnostics.push(
            Diagnostic::new(Code::InvalidValue, at("/id"), format!("flow id `{id}` is not valid"))
                .with_help("use letters, digits, `-` and `_` (at most 64), starting with a letter or digit"),
        );
    }

    let mut templates = Templates::default();
    let mut reads = Reads::default();
    let mut compiled: Vec<Parsed> = Vec::new();
    let mut positions: HashMap<String, usize> = HashMap::new();
    let nodes_doc = nodes_doc
        .and_then(|v| if let Value::Array(a) = v { Some(a) } else { None })
        .unwrap_or_default();
    for (i, node) in nodes_doc.into_iter().enumerate() {
        let pointer = format!("/nodes/{i}");
        let Value::Object(mut config) = node else {
            diagnostics.push(Diagnostic::new(
                Code::InvalidValue,
                at(&pointer),
                "a node is a JSON object",
            ));
            continue;
        };
        let node_id = take_string(&mut config, "id", &pointer, file, diagnostics);
        let type_name = take_string(&mut config, "type", &pointer, file, diagnostics);
        let Some(node_id) = node_id else { continue };
        if !is_node_id(&node_id) {
            diagnostics.push(
                Diagnostic::new(Code::InvalidValue, at(&format!("{pointer}/id")), format!("node id `{node_id}` is not valid"))
                    .with_node(Some(&node_id))
                    .with_help("node ids are read in paths and templates (`nodes.<id>`): use letters, digits and `_`, not starting with a digit"),
            );
        }
        if let Some(&first) = positions.get(&node_id) {
            diagnostics.push(
                Diagnostic::new(
                    Code::DuplicateNodeId,
                    at(&format!("{pointer}/id")),
                    format!("node id `{node_id}` is used twice"),
                )
                .with_node(Some(&node_id))
                .with_related(Related {
                    message: "first used here".into(),
                    location: at(&format!("{}/id", compiled[first].3)),
                })
                .with_help("node ids must be unique in a flow"),
            );
            continue;
        }
        let Some(type_name) = type_name else { continue };
        let Some(node_type) = nodes::lookup(&type_name) else {
            let names = nodes::NODE_TYPES.iter().map(|t| t.name);
            let help = did_you_mean(&type_name, names.clone()).unwrap_or_else(|| {
                format!("known types: {}", names.collect::<Vec<_>>().join(", "))
            });
            diagnostics.push(
                Diagnostic::new(
                    Code::UnknownNodeType,
                    at(&format!("{pointer}/type")),
                    format!("unknown node type `{type_name}`"),
                )
                .with_node(Some(&node_id))
                .with_help(help),
            );
            continue;
        };
        let node = {
            let mut cx = CompileCx::new(file, &mut templates, &mut reads, diagnostics);
            cx.enter_node(&node_id, pointer.clone());
            (node_type.compile)(&mut cx, Value::Object(config))
        };
        positions.insert(node_id.clone(), compiled.len());
        compiled.push((node_id, node_type.name, node_type.role, pointer, node));
    }

    // The graph: one petgraph node per compiled node, one edge per valid edge.
    let mut graph: DiGraph<usize, usize> = DiGraph::new();
    let indexes: Vec<NodeIndex> = (0..compiled.len()).map(|i| graph.add_node(i)).collect();
    let mut next: Vec<Vec<(Option<usize>, usize)>> = vec![Vec::new(); compiled.len()];
    let mut used_outputs: Vec<Vec<bool>> = compiled
        .iter()
        .map(|c| vec![false; c.4.as_ref().map_or(0, |n| n.outputs().len())])
        .collect();
    let edges_doc = edges_doc
        .and_then(|v| if let Value::Array(a) = v { Some(a) } else { None })
        .unwrap_or_default();
    for (i, edge) in edges_doc.into_iter().enumerate() {
        let pointer = format!("/edges/{i}");
        let edge: EdgeDoc = {
            let mut cx = CompileCx::new(file, &mut templates, &mut reads, diagnostics);
            cx.enter_node("", pointer.clone());
            match cx.config(edge) {
                Some(e) => e,
                None => {
                    if let Some(d) = diagnostics.last_mut() {
                        d.node = None;
                    }
                    continue;
                }
            }
        };
        let mut endpoint = |end: &str, name: &str| match positions.get(name) {
            Some(&p) => Some(p),
            None => {
                let help = did_you_mean(name, positions.keys().map(String::as_str))
                    .unwrap_or_else(|| "an edge connects two node ids of this flow".into());
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnknownEdgeEndpoint,
                        at(&format!("{pointer}/{end}")),
                        format!("edge `{end}` names node `{name}`, which does not exist"),
                    )
                    .with_help(help),
                );
                None
            }
        };
        let (from, to) = (endpoint("from", &edge.from), endpoint("to", &edge.to));
        let (Some(from), Some(to)) = (from, to) else { continue };
        let Some(from_node) = compiled[from].4.as_ref() else {
            // The node has errors of its own: keep the edge for the graph checks, skip its output.
            graph.add_edge(indexes[from], indexes[to], i);
            continue;
        };
        let outputs = from_node.outputs();
        let output = match (&edge.output, outputs.is_empty()) {
            (None, true) => None,
            (Some(o), true) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnexpectedEdgeOutput,
                        at(&format!("{pointer}/output")),
                        format!(
                            "node `{}` has no named outputs, but this edge names output `{o}`",
                            edge.from
                        ),
                    )
                    .with_node(Some(&edge.from))
                    .with_help("remove `output`: every edge of a non-branching node fires"),
                );
                continue;
            }
            (None, false) => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::MissingEdgeOutput,
                        at(&pointer),
                        format!(
                            "edge leaves branching node `{}` without naming an `output`",
                            edge.from
                        ),
                    )
                    .with_node(Some(&edge.from))
                    .with_help(format!("add \"output\": one of {}", quote_list(outputs))),
                );
                continue;
            }
            (Some(o), false) => match outputs.iter().position(|x| x == o) {
                Some(p) => Some(p),
                None => {
                    let help =
                        did_you_mean(o, outputs.iter().map(String::as_str)).unwrap_or_else(|| {
                            format!("outputs of `{}`: {}", edge.from, quote_list(outputs))
                        });
                    diagnostics.push(
                        Diagnostic::new(
                            Code::UnknownBranchOutput,
                            at(&format!("{pointer}/output")),
                            format!("node `{}` has no output `{o}`", edge.from),
                        )
                        .with_node(Some(&edge.from))
                        .with_help(help),
                    );
                    continue;
                }
            },
        };
        if let Some(o) = output {
            used_outputs[from][o] = true;
        }
        graph.add_edge(indexes[from], indexes[to], i);
        next[from].push((output, to));
    }

    // Exactly one trigger.
    let triggers: Vec<usize> =
        (0..compiled.len()).filter(|&i| compiled[i].2 == Role::Trigger).collect();
    if triggers.is_empty() && doc.contains_key("nodes") {
        diagnostics.push(
            Diagnostic::new(Code::NoTrigger, at("/nodes"), "the flow has no trigger")
                .with_help("add a node of type `webhook`: it mounts the URL that starts the flow"),
        );
    }
    for &extra in triggers.iter().skip(1) {
        let first = &compiled[triggers[0]];
        diagnostics.push(
            Diagnostic::new(
                Code::MultipleTriggers,
                at(&compiled[extra].3),
                format!("a second trigger: `{}` already starts this flow", first.0),
            )
            .with_node(Some(&compiled[extra].0))
            .with_related(Related { message: "the first trigger".into(), location: at(&first.3) })
            .with_help("a flow has exactly one webhook; split it into two flows"),
        );
    }

    // Cycles: every strongly connected component with more than one node, or a self-loop.
    let mut cyclic = false;
    for scc in tarjan_scc(&graph) {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        cyclic = true;
        let mut members: Vec<usize> = scc.iter().map(|ix| graph[*ix]).collect();
        members.sort_unstable();
        let names: Vec<String> = members.iter().map(|&m| format!("`{}`", compiled[m].0)).collect();
        let edge = graph
            .edges(scc[0])
            .find(|e| scc.contains(&e.target()))
            .map(|e| *e.weight())
            .unwrap_or_default();
        diagnostics.push(
            Diagnostic::new(
                Code::Cycle,
                at(&format!("/edges/{edge}")),
                format!("the edges form a cycle through {}", names.join(" → ")),
            )
            .with_node(Some(&compiled[members[0]].0))
            .with_help("a flow is a directed acyclic graph: remove one of these edges"),
        );
    }

    // Reachability from the trigger, and branch outputs that go nowhere.
    if let Some(&trigger) = triggers.first() {
        let mut reached = vec![false; compiled.len()];
        let mut bfs = Bfs::new(&graph, indexes[trigger]);
        while let Some(ix) = bfs.next(&graph) {
            reached[graph[ix]] = true;
        }
        for (i, c) in compiled.iter().enumerate() {
            if !reached[i] {
                diagnostics.push(
                    Diagnostic::new(
                        Code::UnreachableNode,
                        at(&c.3),
                        format!(
                            "node `{}` cannot be reached from the trigger `{}`",
                            c.0, compiled[trigger].0
                        ),
                    )
                    .with_node(Some(&c.0))
                    .with_help("connect it with an edge, or remove it"),
                );
            }
        }
    }
    for (i, c) in compiled.iter().enumerate() {
        let Some(node) = &c.4 else { continue };
        for (o, used) in used_outputs[i].iter().enumerate() {
            if !used {
                diagnostics.push(
                    Diagnostic::new(
                        Code::OutputGoesNowhere,
                        at(&c.3),
                        format!(
                            "output `{}` of `{}` has no edge: when taken, the flow ends there",
                            node.outputs()[o],
                            c.0
                        ),
                    )
                    .with_node(Some(&c.0))
                    .with_help(
                        "add an edge from this output, or rely on the webhook's default response",
                    ),
                );
            }
        }
    }

    let errors = diagnostics.iter().any(Diagnostic::is_error);
    if errors || cyclic || triggers.len() != 1 {
        return (None, id);
    }
    let order = breadth_first_order(&next);
    let mut plan_nodes = Vec::with_capacity(compiled.len());
    for (node_id, type_name, role, pointer, node) in compiled {
        let Some(node) = node else { return (None, id) };
        plan_nodes.push(PlanNode { id: node_id, type_name, role, pointer, node });
    }
    let (Some(flow_id), Some(Value::String(name))) = (id.clone(), name) else { return (None, id) };
    let plan = Plan {
        id: flow_id,
        name,
        description: description.and_then(|d| d.as_str().map(str::to_owned)),
        active: active.and_then(|a| a.as_bool()).unwrap_or(true),
        version: version(&source.text),
        file: source.file.clone(),
        nodes: plan_nodes,
        order,
        next,
        trigger: triggers[0],
        templates,
        reads,
    };
    (Some(plan), id)
}

fn take_string(
    config: &mut Map<String, Value>,
    key: &str,
    pointer: &str,
    file: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    match config.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            diagnostics.push(Diagnostic::new(
                Code::InvalidValue,
                Location::new(file, format!("{pointer}/{key}")),
                format!("node `{key}` must be a string"),
            ));
            None
        }
        None => {
            diagnostics.push(Diagnostic::new(
                Code::MissingField,
                Location::new(file, pointer),
                format!("node is missing `{key}`"),
            ));
            None
        }
    }
}

/// A topological order in which a node runs as soon as everything before it has, in the order
/// nodes become ready (Kahn's algorithm with a queue; edges and ties in file order). So the
/// `respond` node fewest steps from the trigger is reached first. The graph has no cycle.
fn breadth_first_order(next: &[Vec<(Option<usize>, usize)>]) -> Vec<usize> {
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

/// The first 16 hex digits of the SHA-256 of a flow's text.
pub fn version(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` is a valid flow id: letters, digits, `-` and `_`, at most 64, starting with a
/// letter or digit.
pub fn is_flow_id(id: &str) -> bool {
    id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_node_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quote_list(items: &[String]) -> String {
    items.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
}

/// "did you mean `x`?" for the closest candidate, when one is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

//! Flow file → plan, in named passes that each add to one list of diagnostics: parse (JSON
//! syntax), shape (the top-level fields, as [`FlowDoc`] defines them), the flow id, nodes
//! (envelope, id, registry lookup and the type's compile step), edges (the petgraph graph), one
//! trigger, cycles, reachability, branch outputs, and the plan with its order. All problems are
//! reported at once; a plan comes out only when there is no error.

mod document;
mod graph;
mod nodes;

use sha2::{Digest, Sha256};

use crate::compile_cx::{CompileCx, Reads};
use crate::diagnostic::{Diagnostic, Location};
use crate::plan::Plan;
use crate::template::Templates;
use graph::FlowGraph;
use nodes::ParsedNodes;

pub use document::{EdgeDoc, FlowDoc};

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

/// Compiles one flow file.
pub fn compile(source: &Source) -> Compiled {
    let mut cx = FlowCx::new(&source.file);
    let (plan, flow_id) = compile_into(source, &mut cx);
    let mut diagnostics = cx.diagnostics;
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

/// Runs the passes in order; answers the plan and the flow id.
fn compile_into(source: &Source, cx: &mut FlowCx) -> (Option<Plan>, Option<String>) {
    let Some(fields) = document::parse(&source.text, cx) else { return (None, None) };
    // Written, even of the wrong type: then a flow without a trigger is reported as such.
    let nodes_written = fields.contains_key("nodes");
    let mut doc = document::shape(fields, cx);
    document::flow_id(doc.id.as_deref(), cx);
    let nodes = nodes::compile_nodes(doc.nodes.take().unwrap_or_default(), cx);
    let graph = graph::connect(std::mem::take(&mut doc.edges), &nodes, cx);
    let trigger = graph::one_trigger(&nodes, nodes_written, cx);
    graph::cycles(&graph, &nodes, cx);
    if let Some(trigger) = trigger {
        graph::reachability(&graph, &nodes, trigger, cx);
        graph::no_caller(&nodes, trigger, cx);
    }
    graph::branch_outputs(&graph, &nodes, cx);
    let flow_id = doc.id.clone();
    (plan(source, doc, nodes, graph, trigger, cx), flow_id)
}

/// The plan pass: when no pass found an error, the plan, its nodes run in breadth-first order.
fn plan(
    source: &Source,
    doc: FlowDoc,
    nodes: ParsedNodes,
    graph: FlowGraph,
    trigger: Option<usize>,
    cx: &mut FlowCx,
) -> Option<Plan> {
    if cx.diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    let order = graph.breadth_first_order();
    Some(Plan {
        id: doc.id?,
        name: doc.name?,
        description: doc.description,
        active: doc.active,
        version: version(&source.text, &cx.includes),
        file: source.file.clone(),
        nodes: nodes.into_plan_nodes()?,
        order,
        next: graph.next,
        trigger: trigger?,
        templates: std::mem::take(&mut cx.templates),
        reads: cx.reads,
    })
}

/// What the passes over one flow share: its file, the diagnostics they add to, and the
/// templates and reads that the node types' compile steps gather.
struct FlowCx<'a> {
    file: &'a str,
    diagnostics: Vec<Diagnostic>,
    templates: Templates,
    reads: Reads,
    /// The text of the files the nodes read (JavaScript files), in the order they were read.
    includes: Vec<String>,
}

impl<'a> FlowCx<'a> {
    fn new(file: &'a str) -> Self {
        FlowCx {
            file,
            diagnostics: Vec::new(),
            templates: Templates::default(),
            reads: Reads::default(),
            includes: Vec::new(),
        }
    }

    /// The place `pointer` names in the flow's file.
    fn at(&self, pointer: &str) -> Location {
        Location::new(self.file, pointer)
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The context a node type's compile step works in, pointed at node `id` found at `pointer`.
    fn node_cx(&mut self, id: &str, pointer: &str) -> CompileCx<'_> {
        let mut cx =
            CompileCx::new(self.file, &mut self.templates, &mut self.reads, &mut self.diagnostics)
                .with_includes(&mut self.includes);
        cx.enter_node(id, pointer.to_owned());
        cx
    }
}

/// The first 16 hex digits of the SHA-256 of a flow's text and of the files its nodes read
/// (`includes`, each after its length, so that moving text from one to the next changes it).
pub fn version(text: &str, includes: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    for include in includes {
        hasher.update((include.len() as u64).to_le_bytes());
        hasher.update(include.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` is a valid flow id: letters, digits, `-` and `_`, at most 64, starting with a
/// letter or digit.
pub fn is_flow_id(id: &str) -> bool {
    id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// "did you mean `x`?" for the closest candidate, when one is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

//! Chains of events across flows: which deployed flows start which (flow A emits an event that
//! flow B's `event` trigger matches), and the cycles among them, warned about at deploy. A cycle
//! the compiler cannot see (an event type built at run time) is cut off by the run-time depth
//! limit, [`MAX_DEPTH`].

use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;

use crate::diagnostic::{Code, Diagnostic, Location, Related};
use crate::plan::Plan;

/// The longest chain of events that starts flows: an event that `MAX_DEPTH` events led to starts
/// nothing, and each flow it would have started is recorded as a failed execution saying why.
pub const MAX_DEPTH: u32 = 8;

/// Whether `plan` is started by events of type `kind`.
pub fn starts_on(plan: &Plan, kind: &str) -> bool {
    plan.trigger().event().is_some_and(|trigger| trigger.matches(kind))
}

/// A warning for each cycle of flows that start each other through the events they emit.
pub fn cycles(plans: &[Arc<Plan>]) -> Vec<Diagnostic> {
    let mut graph = DiGraph::<usize, ()>::new();
    let ix: Vec<_> = (0..plans.len()).map(|i| graph.add_node(i)).collect();
    for (a, from) in plans.iter().enumerate() {
        for (b, to) in plans.iter().enumerate() {
            if from.emits().any(|kind| starts_on(to, kind)) {
                graph.add_edge(ix[a], ix[b], ());
            }
        }
    }
    let mut warnings = Vec::new();
    for scc in tarjan_scc(&graph) {
        if scc.len() < 2 && !graph.contains_edge(scc[0], scc[0]) {
            continue;
        }
        let mut members: Vec<&Plan> = scc.iter().map(|&n| &*plans[graph[n]]).collect();
        members.sort_by(|x, y| x.id.cmp(&y.id));
        let names: Vec<String> = members.iter().map(|p| format!("`{}`", p.id)).collect();
        let first = members[0];
        let (pointer, node) = emitting_node(first, &members);
        let mut warning = Diagnostic::new(
            Code::EventCycle,
            Location::new(&first.file, pointer),
            format!("flows start each other in a cycle through the events they emit: {} → {}", names.join(" → "), names[0]),
        )
        .with_node(Some(node))
        .with_help(format!("a chain deeper than {MAX_DEPTH} events stops with a failed execution; break the cycle unless it ends by itself"));
        for other in &members[1..] {
            let (pointer, _) = emitting_node(other, &members);
            warning = warning.with_related(Related {
                message: format!("flow `{}` emits here", other.id),
                location: Location::new(&other.file, pointer),
            });
        }
        warnings.push(warning);
    }
    warnings
}

/// The pointer and id of `plan`'s first `emit` node whose event starts one of `members`.
fn emitting_node<'a>(plan: &'a Plan, members: &[&Plan]) -> (&'a str, &'a str) {
    plan.nodes()
        .iter()
        .find(|n| n.emits().is_some_and(|kind| members.iter().any(|m| starts_on(m, kind))))
        .map_or((plan.trigger_pointer(), ""), |n| (n.pointer.as_str(), n.id.as_str()))
}

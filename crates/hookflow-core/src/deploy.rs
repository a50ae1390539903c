//! Flow files compiled against the flows being served: what a (re)load deploys, and per flow file
//! what happened to it. Each file compiles on its own; then duplicate ids and route conflicts are
//! settled so that a flow that keeps its version never loses to one that changed. A flow whose
//! new file has errors, repeats another flow's id or takes a route another flow holds is
//! rejected, and the version that served before (if any) goes on serving.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compiler::{Source, compile};
use crate::diagnostic::{Code, Diagnostic, Location, Related};
use crate::plan::Plan;
use crate::routes::RouteTable;

/// What a deploy did with one flow file (or with a flow whose file is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A flow id that did not serve before now serves.
    Added,
    /// The flow serves a new version (its file's content or its file changed).
    Changed,
    /// The flow's file is gone (or names another id now): the flow no longer serves.
    Removed,
    /// The file does not deploy (errors, a duplicate id, a route conflict); the flow's previous
    /// version, if any, goes on serving.
    Rejected,
    /// The flow serves the version it served before.
    Unchanged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Added => "added",
            Status::Changed => "changed",
            Status::Removed => "removed",
            Status::Rejected => "rejected",
            Status::Unchanged => "unchanged",
        }
    }
}

/// One flow file's fate in a deploy.
#[derive(Debug)]
pub struct FlowChange {
    /// The flow's id: from the file, or (when the file cannot be read as a flow) of the flow
    /// that served from this file; `None` when neither is known.
    pub id: Option<String>,
    pub file: String,
    pub status: Status,
    /// The version of the file as read; `None` for a removed flow or an unreadable file.
    pub version: Option<String>,
    /// The plan that served this flow before the deploy.
    pub before: Option<Arc<Plan>>,
    /// The plan that serves this flow after it (`before` again for a rejected file).
    pub after: Option<Arc<Plan>>,
    /// This file's diagnostics (warnings of a deployed flow included).
    pub diagnostics: Vec<Diagnostic>,
}

/// What serves after a deploy, and how it came about.
#[derive(Debug)]
pub struct Deployment {
    /// The mounted plans: those that kept their version first, then the new ones in file order.
    pub plans: Vec<Arc<Plan>>,
    pub routes: RouteTable,
    /// One entry per file read, in order, then one per removed flow.
    pub changes: Vec<FlowChange>,
    /// Every diagnostic: each file's own in file order, then the route conflicts.
    pub diagnostics: Vec<Diagnostic>,
}

/// One file as it goes through the deploy.
struct Entry<'a> {
    file: &'a str,
    /// `None` for a file that could not be read.
    text: Option<&'a str>,
    plan: Option<Arc<Plan>>,
    change: FlowChange,
    /// A route conflict, reported after every file's own diagnostics.
    conflict: Option<Diagnostic>,
}

/// Compiles `sources` (and takes note of the files that could not be read, as `unreadable`
/// diagnostics) against `serving`, the plans that serve now; `active` says whether a plan's
/// routes answer. With nothing serving, this is how a set of files is checked and first deployed.
pub fn deploy(
    serving: &[Arc<Plan>],
    sources: &[Source],
    unreadable: &[Diagnostic],
    active: &dyn Fn(&Plan) -> bool,
) -> Deployment {
    let served = |id: &str| serving.iter().find(|p| p.id == id);
    let served_from = |file: &str| serving.iter().find(|p| p.file == file);
    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(unreadable.len() + sources.len());
    for d in unreadable {
        let file = d.location.file.as_str();
        let id = served_from(file).map(|p| p.id.clone());
        entries.push(Entry {
            file,
            text: None,
            plan: None,
            change: change(id, file, None, vec![d.clone()]),
            conflict: None,
        });
    }
    for source in sources {
        let compiled = compile(source);
        let id = compiled.flow_id.or_else(|| served_from(&source.file).map(|p| p.id.clone()));
        let version = Some(match &compiled.plan {
            Some(plan) => plan.version.clone(),
            None => crate::compiler::version(&source.text, &[]),
        });
        entries.push(Entry {
            file: &source.file,
            text: Some(&source.text),
            plan: compiled.plan.map(Arc::new),
            change: change(id, &source.file, version, compiled.diagnostics),
            conflict: None,
        });
    }

    // One file per id: the one the flow serves from, else the first.
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(id) = &entry.change.id else { continue };
        let serves_here = served(id).is_some_and(|p| p.file == entry.file);
        if serves_here || !owner.contains_key(id) {
            owner.insert(id.clone(), i);
        }
    }
    for i in 0..entries.len() {
        let Some(id) = entries[i].change.id.clone() else { continue };
        let first = owner[&id];
        if first == i {
            continue;
        }
        let (winner, entry) = (entries[first].file.to_owned(), &mut entries[i]);
        let related = if first < i {
            "first defined here"
        } else {
            "defined here, by the file it serves from"
        };
        entry.change.diagnostics.push(
            Diagnostic::new(
                Code::DuplicateFlowId,
                Location::new(entry.file, "/id"),
                format!("flow id `{id}` is already used by {winner}"),
            )
            .with_related(Related {
                message: related.into(),
                location: Location::new(&winner, "/id"),
            })
            .with_help("flow ids are unique across the flows directory"),
        );
        entry.change.status = Status::Rejected;
        entry.plan = None;
    }

    // What each owning file does, and which plans keep serving whatever the others do.
    let mut stable: Vec<Arc<Plan>> = Vec::new();
    let mut candidates: Vec<usize> = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(id) = &entry.change.id else { continue };
        if owner[id] != i {
            continue;
        }
        let before = served(id).cloned();
        entry.change.before.clone_from(&before);
        match (entry.plan.take(), before) {
            (Some(plan), Some(before))
                if plan.version == before.version && plan.file == before.file =>
            {
                entry.change.status = Status::Unchanged;
                entry.change.after = Some(before.clone());
                stable.push(before);
            }
            (Some(plan), before) => {
                entry.change.status =
                    if before.is_some() { Status::Changed } else { Status::Added };
                entry.plan = Some(plan);
                candidates.push(i);
            }
            (None, before) => {
                entry.change.status = Status::Rejected;
                entry.change.after.clone_from(&before);
                stable.extend(before);
            }
        }
    }

    // Mount the plans that keep their version first (they mounted together before), then the
    // new ones; a new plan that conflicts is rejected and its previous version mounts instead,
    // which may in turn push out another new plan: repeat until every new plan mounts.
    let (routes, plans) = loop {
        let all: Vec<Arc<Plan>> = stable
            .iter()
            .cloned()
            .chain(candidates.iter().filter_map(|&i| entries[i].plan.clone()))
            .collect();
        let (routes, mounted, conflicts) = RouteTable::build(all, active);
        let lost: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                let plan = entries[i].plan.as_ref();
                !mounted.iter().any(|m| plan.is_some_and(|p| Arc::ptr_eq(m, p)))
            })
            .collect();
        if lost.is_empty() {
            break (routes, mounted);
        }
        for i in lost {
            let entry = &mut entries[i];
            entry.conflict = conflicts.iter().find(|d| d.location.file == entry.file).cloned();
            entry.change.status = Status::Rejected;
            entry.plan = None;
            entry.change.after.clone_from(&entry.change.before);
            stable.extend(entry.change.before.clone());
            candidates.retain(|&c| c != i);
        }
    };
    for &i in &candidates {
        let entry = &mut entries[i];
        entry.change.after = entry.plan.take();
    }

    let texts: HashMap<&str, &str> =
        entries.iter().filter_map(|e| Some((e.file, e.text?))).collect();
    let resolve = |d: &mut Diagnostic| {
        if let Some(text) = texts.get(d.location.file.as_str()) {
            d.location.resolve(text);
        }
        for r in &mut d.related {
            if let Some(text) = texts.get(r.location.file.as_str()) {
                r.location.resolve(text);
            }
        }
    };
    let mut diagnostics = Vec::new();
    let mut conflicts = Vec::new();
    let mut changes = Vec::with_capacity(entries.len());
    for mut entry in entries {
        entry.change.diagnostics.iter_mut().for_each(resolve);
        diagnostics.extend(entry.change.diagnostics.iter().cloned());
        if let Some(mut conflict) = entry.conflict {
            resolve(&mut conflict);
            conflicts.push(conflict.clone());
            entry.change.diagnostics.push(conflict);
        }
        changes.push(entry.change);
    }
    diagnostics.extend(conflicts);
    for mut warning in crate::chains::cycles(&plans) {
        resolve(&mut warning);
        diagnostics.push(warning);
    }
    for plan in serving {
        if !changes.iter().any(|c| c.id.as_deref() == Some(plan.id.as_str())) {
            let mut removed = change(Some(plan.id.clone()), &plan.file, None, Vec::new());
            removed.status = Status::Removed;
            removed.before = Some(plan.clone());
            changes.push(removed);
        }
    }
    Deployment { plans, routes, changes, diagnostics }
}

/// A change not classified yet (rejected until shown otherwise).
fn change(
    id: Option<String>,
    file: &str,
    version: Option<String>,
    diagnostics: Vec<Diagnostic>,
) -> FlowChange {
    FlowChange {
        id,
        file: file.to_owned(),
        status: Status::Rejected,
        version,
        before: None,
        after: None,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Lookup;

    /// A flow file serving `POST /hooks{suffix}` that answers `{"v": marker}`.
    fn flow(file: &str, id: &str, suffix: &str, marker: &str) -> Source {
        let text = format!(
            r#"{{ "id": "{id}", "name": "{id}",
  "nodes": [
    {{ "id": "hook", "type": "webhook", "suffix": "{suffix}", "auth": {{ "type": "none" }} }},
    {{ "id": "answer", "type": "respond", "body": {{ "v": "{marker}" }} }}
  ],
  "edges": [ {{ "from": "hook", "to": "answer" }} ] }}"#
        );
        Source { file: file.into(), text }
    }

    fn file(name: &str, text: &str) -> Source {
        Source { file: name.into(), text: text.into() }
    }

    fn all_active(_: &Plan) -> bool {
        true
    }

    fn run(serving: &[Arc<Plan>], sources: &[Source]) -> Deployment {
        deploy(serving, sources, &[], &all_active)
    }

    /// `(id, status)` of every change.
    fn statuses(d: &Deployment) -> Vec<(String, Status)> {
        d.changes.iter().map(|c| (c.id.clone().unwrap_or_default(), c.status)).collect()
    }

    fn change<'a>(d: &'a Deployment, id: &str) -> &'a FlowChange {
        d.changes.iter().find(|c| c.id.as_deref() == Some(id)).expect("a change for the flow")
    }

    /// The id of the flow that answers `POST /hooks{suffix}`.
    fn served_by(d: &Deployment, suffix: &str) -> Option<String> {
        match d.routes.lookup("POST", suffix) {
            Lookup::Found { plan, .. } => Some(plan.id.clone()),
            _ => None,
        }
    }

    fn ids(pairs: &[(&str, Status)]) -> Vec<(String, Status)> {
        pairs.iter().map(|(id, s)| ((*id).to_owned(), *s)).collect()
    }

    #[test]
    fn first_added_then_unchanged_keeps_the_same_plans() {
        let sources = [flow("a.json", "a", "/a", "1"), flow("b.json", "b", "/b", "1")];
        let first = run(&[], &sources);
        assert_eq!(statuses(&first), ids(&[("a", Status::Added), ("b", Status::Added)]));
        let again = run(&first.plans, &sources);
        assert_eq!(statuses(&again), ids(&[("a", Status::Unchanged), ("b", Status::Unchanged)]));
        for (before, after) in first.plans.iter().zip(&again.plans) {
            assert!(Arc::ptr_eq(before, after));
        }
    }

    #[test]
    fn changed_removed_and_moved_flows() {
        let first = run(&[], &[flow("a.json", "a", "/a", "1"), flow("b.json", "b", "/b", "1")]);
        let next =
            run(&first.plans, &[flow("a.json", "a", "/a", "2"), flow("c.json", "b", "/b", "1")]);
        assert_eq!(statuses(&next), ids(&[("a", Status::Changed), ("b", Status::Changed)]));
        let a = change(&next, "a");
        assert_ne!(a.before.as_ref().unwrap().version, a.after.as_ref().unwrap().version);
        assert_eq!(change(&next, "b").after.as_ref().unwrap().file, "c.json");
        let last = run(&next.plans, &[flow("a.json", "a", "/a", "2")]);
        assert_eq!(statuses(&last), ids(&[("a", Status::Unchanged), ("b", Status::Removed)]));
        assert_eq!(change(&last, "b").file, "c.json");
        assert_eq!(served_by(&last, "/b"), None);
    }

    #[test]
    fn a_broken_file_keeps_the_version_that_served() {
        let first = run(&[], &[flow("a.json", "a", "/a", "1"), flow("b.json", "b", "/b", "1")]);
        let bad_b = Source { file: "b.json".into(), text: "{ \"id\": \"b\", \"nodes\": [".into() };
        let bad_a = file("a.json", r#"{ "id": "a", "name": "a", "nodes": [] }"#);
        let next = run(&first.plans, &[bad_a, bad_b]);
        assert_eq!(statuses(&next), ids(&[("a", Status::Rejected), ("b", Status::Rejected)]));
        for id in ["a", "b"] {
            let c = change(&next, id);
            assert!(Arc::ptr_eq(c.before.as_ref().unwrap(), c.after.as_ref().unwrap()));
            assert!(c.diagnostics.iter().any(Diagnostic::is_error), "{id}: {:?}", c.diagnostics);
            assert_eq!(served_by(&next, &format!("/{id}")).as_deref(), Some(id));
        }
        // The malformed file is known by the file the flow served from.
        assert_eq!(change(&next, "b").diagnostics[0].code, Code::JsonSyntax);
        // An unreadable file is kept the same way.
        let unreadable =
            Diagnostic::new(Code::UnreadableFile, Location::new("a.json", ""), "cannot read");
        let next =
            deploy(&first.plans, &[flow("b.json", "b", "/b", "1")], &[unreadable], &all_active);
        assert_eq!(statuses(&next), ids(&[("a", Status::Rejected), ("b", Status::Unchanged)]));
        assert_eq!(served_by(&next, "/a").as_deref(), Some("a"));
    }

    #[test]
    fn the_flow_that_changed_loses_a_route_conflict_and_keeps_its_previous_version() {
        let first = run(&[], &[flow("a.json", "a", "/a", "1"), flow("b.json", "b", "/b", "1")]);
        let next =
            run(&first.plans, &[flow("a.json", "a", "/b", "2"), flow("b.json", "b", "/b", "1")]);
        assert_eq!(statuses(&next), ids(&[("a", Status::Rejected), ("b", Status::Unchanged)]));
        let conflict = &change(&next, "a").diagnostics[0];
        assert_eq!(conflict.code, Code::RouteConflict);
        assert!(conflict.message.contains("flow `b`"), "{}", conflict.message);
        assert_eq!(conflict.location.file, "a.json");
        assert_eq!(conflict.related[0].location.file, "b.json");
        assert_eq!(
            (served_by(&next, "/a"), served_by(&next, "/b")),
            (Some("a".into()), Some("b".into()))
        );
        assert_eq!(next.diagnostics, vec![conflict.clone()]);

        // A new flow loses to a serving one even when its file comes first.
        let next = run(
            &first.plans,
            &[
                flow("0.json", "new", "/a", "1"),
                flow("a.json", "a", "/a", "1"),
                flow("b.json", "b", "/b", "1"),
            ],
        );
        assert_eq!(change(&next, "new").status, Status::Rejected);
        assert!(change(&next, "new").after.is_none());
        assert_eq!(served_by(&next, "/a").as_deref(), Some("a"));
    }

    #[test]
    fn a_rejected_flow_pushes_back_a_new_version_that_takes_its_route() {
        let first = run(&[], &[flow("a.json", "a", "/a", "1"), flow("b.json", "b", "/b", "1")]);
        // b's new file is broken, so b keeps `/b`; a's new version wants `/b`: a keeps `/a`.
        let next = run(&first.plans, &[flow("a.json", "a", "/b", "2"), file("b.json", "{")]);
        assert_eq!(statuses(&next), ids(&[("a", Status::Rejected), ("b", Status::Rejected)]));
        assert_eq!(
            (served_by(&next, "/a"), served_by(&next, "/b")),
            (Some("a".into()), Some("b".into()))
        );
        // Two flows that swap their routes both change.
        let next =
            run(&first.plans, &[flow("a.json", "a", "/b", "2"), flow("b.json", "b", "/a", "2")]);
        assert_eq!(statuses(&next), ids(&[("a", Status::Changed), ("b", Status::Changed)]));
        assert_eq!(
            (served_by(&next, "/a"), served_by(&next, "/b")),
            (Some("b".into()), Some("a".into()))
        );
    }

    #[test]
    fn a_duplicate_id_loses_to_the_file_the_flow_serves_from() {
        let first = run(&[], &[flow("b.json", "x", "/x", "1")]);
        let next =
            run(&first.plans, &[flow("a.json", "x", "/y", "2"), flow("b.json", "x", "/x", "1")]);
        let files: Vec<(&str, Status)> =
            next.changes.iter().map(|c| (c.file.as_str(), c.status)).collect();
        assert_eq!(files, [("a.json", Status::Rejected), ("b.json", Status::Unchanged)]);
        let duplicate = &next.changes[0].diagnostics[0];
        assert_eq!(duplicate.code, Code::DuplicateFlowId);
        assert_eq!(duplicate.related[0].message, "defined here, by the file it serves from");
        // Without a serving version, the first file wins (as `hookflow validate` reports).
        let fresh = run(&[], &[flow("a.json", "x", "/y", "2"), flow("b.json", "x", "/x", "1")]);
        assert_eq!(fresh.changes[1].diagnostics[0].related[0].message, "first defined here");
        assert_eq!(served_by(&fresh, "/y").as_deref(), Some("x"));
    }

    #[test]
    fn activity_comes_from_the_caller() {
        let sources = [flow("a.json", "a", "/a", "1")];
        let off = deploy(&[], &sources, &[], &|_| false);
        assert_eq!(served_by(&off, "/a"), None);
        assert!(off.routes.entries().all(|m| !m.active));
    }
}

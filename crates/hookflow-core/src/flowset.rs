//! A set of flows compiled together: each file on its own, then the checks across files
//! (duplicate flow ids, route conflicts) and the route table, as a first deploy makes them; and
//! reading flow files from disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::compiler::Source;
use crate::deploy::deploy;
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::plan::Plan;
use crate::routes::RouteTable;

/// Compiled flows, ready to serve.
#[derive(Debug)]
pub struct FlowSet {
    /// Flows that compiled and mounted, in file order.
    pub plans: Vec<Arc<Plan>>,
    pub routes: RouteTable,
    /// Every diagnostic of every file, errors first within a file.
    pub diagnostics: Vec<Diagnostic>,
}

impl FlowSet {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn plan(&self, id: &str) -> Option<&Arc<Plan>> {
        self.plans.iter().find(|p| p.id == id)
    }
}

/// Compiles every source; a flow with errors is left out, the others are mounted in file order
/// (a flow whose route conflicts with an earlier one is left out too).
pub fn compile_all(sources: &[Source]) -> FlowSet {
    let deployment = deploy(&[], sources, &[], &|plan| plan.active);
    FlowSet {
        plans: deployment.plans,
        routes: deployment.routes,
        diagnostics: deployment.diagnostics,
    }
}

/// Whether `path` names a flow file: `*.json`, but not a `*.cases.json` test file.
pub fn is_flow_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".json") && !name.ends_with(".cases.json")
}

/// Reads flow files: each path is a file, or a directory whose flow files are read (sorted by
/// name, not recursing). Unreadable paths become diagnostics.
pub fn read_sources(paths: &[PathBuf]) -> (Vec<Source>, Vec<Diagnostic>) {
    let mut sources = Vec::new();
    let mut diagnostics = Vec::new();
    let mut unreadable = |path: &Path, e: std::io::Error| {
        diagnostics.push(Diagnostic::new(
            Code::UnreadableFile,
            Location::new(path.display().to_string(), ""),
            format!("cannot read: {e}"),
        ));
    };
    for path in paths {
        if path.is_dir() {
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => {
                    unreadable(path, e);
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_flow_file(p))
                .collect();
            files.sort();
            for file in files {
                match std::fs::read_to_string(&file) {
                    Ok(text) => sources.push(Source { file: file.display().to_string(), text }),
                    Err(e) => unreadable(&file, e),
                }
            }
        } else {
            match std::fs::read_to_string(path) {
                Ok(text) => sources.push(Source { file: path.display().to_string(), text }),
                Err(e) => unreadable(path, e),
            }
        }
    }
    (sources, diagnostics)
}

//! `hookflow validate [PATH...]`: compile flow files and directories, print every diagnostic.

use std::path::PathBuf;

use hookflow_core::diagnostic::render_all;
use hookflow_core::{Code, compile_all, read_sources};
use serde_json::json;

use std::fmt::Write as _;

use super::{Format, exit, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow files or directories of flow files (default: `flows`).
    paths: Vec<PathBuf>,
    /// `human` (default) or `json`.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn main(args: Args) -> u8 {
    let paths = if args.paths.is_empty() { vec![PathBuf::from("flows")] } else { args.paths };
    for path in &paths {
        if !path.exists() {
            eprintln!("hookflow validate: {} does not exist", path.display());
            return exit::COULD_NOT_RUN;
        }
    }
    let (sources, mut diagnostics) = read_sources(&paths);
    let set = compile_all(&sources);
    diagnostics.extend(set.diagnostics.iter().cloned());
    let unreadable = diagnostics.iter().any(|d| d.code == Code::UnreadableFile);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut out = String::new();
    match args.format {
        Format::Json => {
            let report = json!({
                "files": sources.len(),
                "flows": set.plans.iter().map(|p| json!({"id": p.id, "file": p.file, "version": p.version})).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": diagnostics.len() - errors,
                "diagnostics": diagnostics,
            });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serializes")
            );
        }
        Format::Human => {
            if !diagnostics.is_empty() {
                let _ = write!(out, "{}", render_all(&diagnostics));
            }
            let _ = writeln!(
                out,
                "checked {} file{}: {} flow{} valid",
                sources.len(),
                if sources.len() == 1 { "" } else { "s" },
                set.plans.len(),
                if set.plans.len() == 1 { "" } else { "s" },
            );
        }
    }
    print(&out);
    if unreadable {
        exit::COULD_NOT_RUN
    } else if errors > 0 {
        exit::FLOW_ERRORS
    } else {
        exit::OK
    }
}

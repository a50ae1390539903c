//! Watches the flows directory (or the one flow file) and calls back once a burst of changes to
//! flow files, or to the JavaScript files their `code` nodes read (`*.js` at any depth below the
//! directory), has settled: an editor's save, a `git checkout` or a copy of many files makes one
//! call, not one per event. Files that are not flows (`*.cases.json`, temporary files) are
//! ignored, and so are events that changed nothing: a file read (by this process's own reload, or
//! by another `hookflow serve` on the same flows) is reported by some platforms, and the flow
//! files' names, sizes and modification times are compared before a change is reported. The
//! watch runs on threads of its own (`notify` and its debouncer) until the [`FlowsWatcher`] is
//! dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookflow_core::flowset::is_flow_file;
use notify_debouncer_mini::notify::{self, RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

/// How long the flow files must stay quiet before a change is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// A running watch; dropping it stops the watch.
pub struct FlowsWatcher {
    _debouncer: Debouncer<RecommendedWatcher>,
}

impl std::fmt::Debug for FlowsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowsWatcher")
    }
}

/// Watches `flows` (a directory, or one file) and calls `on_change` after each settled burst of
/// changes to its flow files (not recursing) or to `.js` files below it. Blocks briefly (it registers the watch): call it
/// from `spawn_blocking` on an async thread.
pub fn watch(
    flows: &Path,
    on_change: impl Fn() + Send + 'static,
) -> Result<FlowsWatcher, notify::Error> {
    // A file is watched through its directory: editors replace a file rather than write to it.
    let (dir, only): (PathBuf, Option<std::ffi::OsString>) = if flows.is_dir() {
        (flows.to_path_buf(), None)
    } else {
        let parent = flows.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        (parent.to_path_buf(), flows.file_name().map(ToOwned::to_owned))
    };
    // The paths events name are compared with the directory's own, made absolute once.
    let dir = dir.canonicalize().unwrap_or(dir);
    let seen = std::sync::Mutex::new(fingerprint(&dir, only.as_deref()));
    let watched = dir.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|e| concerns(&watched, only.as_deref(), &e.path)) {
                let now = fingerprint(&watched, only.as_deref());
                let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *seen != now {
                    *seen = now;
                    on_change();
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "the flows watcher reported an error"),
    })?;
    debouncer.watcher().watch(&dir, RecursiveMode::Recursive)?;
    Ok(FlowsWatcher { _debouncer: debouncer })
}

/// How deep below the watched directory `.js` files are looked for.
const MAX_DEPTH: usize = 8;

/// The path, size and modification time of each file of `dir` that [`concerns`] the watch,
/// sorted: what a change changes. Reading metadata opens no file, so it is not itself an event.
fn fingerprint(
    dir: &Path,
    only: Option<&std::ffi::OsStr>,
) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), 0)];
    while let Some((at, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if meta.is_dir() {
                if depth < MAX_DEPTH && !hidden {
                    pending.push((path, depth + 1));
                }
            } else if concerns(dir, only, &path) {
                files.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    files.sort();
    files
}

/// Whether a change of `path` matters: it is the watched file (`only`) or a flow file of `dir`,
/// or a JavaScript file below `dir`.
fn concerns(dir: &Path, only: Option<&std::ffi::OsStr>, path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "js") {
        return true;
    }
    if path.parent() != Some(dir) {
        return false;
    }
    match only {
        Some(name) => path.file_name() == Some(name),
        None => is_flow_file(path),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn only_flow_files_and_scripts_matter() {
        let dir = Path::new("flows");
        assert!(concerns(dir, None, Path::new("flows/orders.json")));
        assert!(!concerns(dir, None, Path::new("flows/orders.cases.json")));
        assert!(!concerns(dir, None, Path::new("flows/.orders.json.7.tmp")));
        assert!(!concerns(dir, None, Path::new("flows/old/orders.json")));
        assert!(concerns(dir, None, Path::new("flows/code/normalize.js")));
        let only = Some(std::ffi::OsStr::new("orders.json"));
        assert!(concerns(dir, only, Path::new("flows/orders.json")));
        assert!(!concerns(dir, only, Path::new("flows/events.json")));
    }

    #[test]
    fn a_change_of_a_script_below_the_flows_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("code");
        std::fs::create_dir(&code).unwrap();
        std::fs::write(code.join("lines.js"), "return 1;").unwrap();
        let (tx, rx) = mpsc::channel();
        let _watcher = watch(dir.path(), move || {
            let _ = tx.send(());
        })
        .unwrap();
        std::fs::write(code.join("lines.js"), "return 2 + 2;").unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("a change of code/lines.js");
    }

    #[test]
    fn a_change_of_a_flow_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        let _watcher = watch(dir.path(), move || {
            let _ = tx.send(());
        })
        .unwrap();
        std::fs::write(dir.path().join("orders.json"), "{}").unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("a change of orders.json");
    }

    #[test]
    fn reading_the_flows_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.json");
        std::fs::write(&file, "{}").unwrap();
        let (tx, rx) = mpsc::channel();
        let _watcher = watch(dir.path(), move || {
            let _ = tx.send(());
        })
        .unwrap();
        for _ in 0..5 {
            std::fs::read(&file).unwrap();
        }
        let quiet = rx.recv_timeout(DEBOUNCE * 5);
        assert!(quiet.is_err(), "reads are not reported");
        std::fs::write(&file, r#"{"id": "orders"}"#).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("a write is");
    }
}

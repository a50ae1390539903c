//! Watches the flows directory (or the one flow file) and calls back once a burst of changes to
//! flow files has settled: an editor's save, a `git checkout` or a copy of many files makes one
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

/// Watches `flows` (a directory, not recursing, or one file) and calls `on_change` after each
/// settled burst of changes to its flow files. Blocks briefly (it registers the watch): call it
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
    let seen = std::sync::Mutex::new(fingerprint(&dir, only.as_deref()));
    let watched = dir.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|e| concerns(only.as_deref(), &e.path)) {
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
    debouncer.watcher().watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(FlowsWatcher { _debouncer: debouncer })
}

/// The name, size and modification time of each flow file of `dir` (or of `only`), sorted: what
/// a change changes. Reading metadata opens no file, so it is not itself an event.
fn fingerprint(
    dir: &Path,
    only: Option<&std::ffi::OsStr>,
) -> Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| concerns(only, &e.path()))
        .map(|e| {
            let meta = e.metadata().ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            (e.file_name(), len, meta.and_then(|m| m.modified().ok()))
        })
        .collect();
    files.sort();
    files
}

/// Whether a change of `path` matters: it is the watched file (`only`), or a flow file.
fn concerns(only: Option<&std::ffi::OsStr>, path: &Path) -> bool {
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
    fn only_flow_files_matter() {
        assert!(concerns(None, Path::new("flows/orders.json")));
        assert!(!concerns(None, Path::new("flows/orders.cases.json")));
        assert!(!concerns(None, Path::new("flows/.orders.json.7.tmp")));
        let only = Some(std::ffi::OsStr::new("orders.json"));
        assert!(concerns(only, Path::new("flows/orders.json")));
        assert!(!concerns(only, Path::new("flows/events.json")));
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

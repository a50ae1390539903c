//! Flow activation set through the admin API: which flows are switched on or off whatever their
//! file says. Kept in the data directory, in `flow-activation.json` (written atomically), so that
//! it survives a restart without touching the flow files.
//!
//! How it combines with a flow file's `active`: a flow with an entry here is active exactly when
//! the entry says so; a flow without one is active as its file says (`active`, default `true`).
//! Activating or deactivating writes an entry; removing a flow through the admin API drops it.
//!
//! `load` and `save` block: call them from `spawn_blocking` on an async thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hookflow_core::Plan;
use serde::{Deserialize, Serialize};

use crate::atomic_file;

/// The file's name in the data directory.
pub const FILE: &str = "flow-activation.json";

/// Flow id → active, for the flows switched through the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    active: BTreeMap<String, bool>,
}

/// The activation file exists but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct ActivationError {
    pub path: PathBuf,
    pub reason: String,
}

impl Activation {
    /// The activation kept in the data directory `data`; none when the file does not exist.
    pub fn load(data: &Path) -> Result<Activation, ActivationError> {
        let path = data.join(FILE);
        let error = |reason: String| ActivationError { path: path.clone(), reason };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                error(format!(
                    "not a flow activation file ({e}); expected {{\"active\": {{\"<flow id>\": true or false}}}}"
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Activation::default()),
            Err(e) => Err(error(format!("cannot read: {e}"))),
        }
    }

    /// Writes the activation to the data directory `data`, atomically, readable by its owner
    /// only.
    pub fn save(&self, data: &Path) -> Result<(), ActivationError> {
        let path = data.join(FILE);
        let text = serde_json::to_string_pretty(self).expect("an activation serializes") + "\n";
        atomic_file::write_private(&path, text.as_bytes())
            .map_err(|e| ActivationError { path, reason: format!("cannot write: {e}") })
    }

    /// What the admin API set for flow `id`, if anything.
    pub fn get(&self, id: &str) -> Option<bool> {
        self.active.get(id).copied()
    }

    /// Switches flow `id` on or off.
    pub fn set(&mut self, id: &str, active: bool) {
        self.active.insert(id.to_owned(), active);
    }

    /// Forgets flow `id`: its file decides again.
    pub fn remove(&mut self, id: &str) {
        self.active.remove(id);
    }

    /// Whether `plan` is active: the entry for its id, else its file's `active`.
    pub fn is_active(&self, plan: &Plan) -> bool {
        self.get(&plan.id).unwrap_or(plan.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_save_and_load_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Activation::load(dir.path()).unwrap(), Activation::default());
        let mut activation = Activation::default();
        activation.set("orders", false);
        activation.set("events", true);
        activation.save(dir.path()).unwrap();
        let loaded = Activation::load(dir.path()).unwrap();
        assert_eq!(loaded, activation);
        assert_eq!((loaded.get("orders"), loaded.get("other")), (Some(false), None));
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert!(text.contains("\"orders\": false"), "{text}");
    }

    #[test]
    fn a_broken_file_is_named_with_what_is_expected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "{\"active\": {\"orders\": \"no\"}}").unwrap();
        let e = Activation::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains(FILE) && e.contains("expected {\"active\""), "{e}");
    }
}

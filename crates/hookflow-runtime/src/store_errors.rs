//! The count of failed store calls, by operation (`hookflow_store_errors_total`), kept through
//! the `metrics` facade: wherever a store call fails, the admin listener's `/metrics` shows it,
//! and the log says what failed. [`blocking`] is how async code calls the (blocking) store.

use std::fmt::Display;
use std::sync::Arc;

use hookflow_store::{Store, StoreError};

/// The metric's name.
pub const STORE_ERRORS: &str = "hookflow_store_errors_total";

/// Counts a failed store call under `operation` (see docs/metrics.md for the values). Called
/// only after a store call failed, so it may reach the registry.
pub fn store_error(operation: &'static str) {
    metrics::counter!(STORE_ERRORS, "operation" => operation).increment(1);
}

/// A failed store call: counted under `operation` and logged as an error, `what` with `error`.
pub fn failed(operation: &'static str, error: &dyn Display, what: &str) {
    store_error(operation);
    tracing::error!(operation, error = %error, "{what}");
}

/// A failed store call that will be tried again: counted like [`failed`], logged as a warning.
pub fn retrying(operation: &'static str, error: &dyn Display, what: &str) {
    store_error(operation);
    tracing::warn!(operation, error = %error, "{what}");
}

/// Runs `op` on `store` on the blocking pool: store calls block, async threads must not. A
/// call that panicked is a backend error of `part`.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    part: &'static str,
    op: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || op(&*store)).await.map_err(|e| StoreError::Backend {
        store: part.into(),
        operation: "blocking".into(),
        cause: e.to_string(),
    })?
}

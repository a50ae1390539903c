//! The count of failed store calls, by operation (`hookflow_store_errors_total`), kept through
//! the `metrics` facade: wherever a store call fails, the admin listener's `/metrics` shows it.

/// The metric's name.
pub const STORE_ERRORS: &str = "hookflow_store_errors_total";

/// Counts a failed store call under `operation` (see docs/metrics.md for the values). Called
/// only after a store call failed, so it may reach the registry.
pub fn store_error(operation: &'static str) {
    metrics::counter!(STORE_ERRORS, "operation" => operation).increment(1);
}

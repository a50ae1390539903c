//! The integration test binary: the real CLI, the example flows, the schema and golden
//! diagnostics, one module each.

mod cli;
mod examples;
mod golden;
mod invalid_flows;
mod schema;

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

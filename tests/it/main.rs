//! The integration test binary: the real CLI, the example flows, the schema, golden
//! diagnostics, the server and its admin listener over real sockets, and the architecture's
//! checked invariants, one module each.

mod admin;
mod architecture;
mod cli;
mod events;
mod examples;
mod executions;
mod flow_events;
mod flows_cli;
mod golden;
mod hardening;
mod harness;
mod hmac;
mod invalid_flows;
mod javascript;
mod openapi;
mod ops;
mod outbound;
mod outbound_docs;
mod protection;
mod records_cli;
mod reload;
mod schema;
mod serve;
mod session;
mod subscriptions;
mod subscriptions_cli;
mod test_cmd;
mod ui;

use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

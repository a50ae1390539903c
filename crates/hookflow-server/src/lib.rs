//! hookflow-server: the HTTP layer (webhook ingress and admin API), the only crate that turns errors into HTTP statuses.
//!
//! [`app`] is the webhook ingress: one catch-all route under [`HOOKS_BASE`] whose handler looks
//! the request up in the route table of the [`Deployed`] flows (held in an `ArcSwap`, never turned
//! into axum routes), checks the route's auth (`hookflow_runtime::auth`) against an in-memory
//! snapshot of the credentials,
//! reads and parses the body, runs the flow and sends its response. [`admin_app`] is the admin
//! listener: `GET /healthz`, and the admin API behind the admin token (see `admin.rs`).

mod admin;
pub mod error;
mod hooks;
mod idempotency;
pub mod metrics;
pub mod reload;
mod state;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use hookflow_core::routes::HOOKS_BASE;

pub use crate::error::HookError;
pub use crate::reload::Reloader;
pub use crate::state::{AppState, Deployed, Engine};

/// The name of the header that carries the execution id on every webhook response.
pub const EXECUTION_ID_HEADER: &str = "x-hookflow-execution-id";

/// The webhook ingress router: `/hooks` and `/hooks/{*path}`, both served by one handler.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route(HOOKS_BASE, any(hooks::handle))
        .route(&format!("{HOOKS_BASE}/"), any(hooks::handle))
        .route(&format!("{HOOKS_BASE}/{{*path}}"), any(hooks::handle))
        .with_state(state)
}

/// The admin router: `GET /healthz` for anyone, and the admin API (`/api/...`) for callers with
/// the token whose SHA-256 digest is `token_digest`; its flow changes go to `reloader`.
pub fn admin_app(state: Arc<AppState>, token_digest: [u8; 32], reloader: Reloader) -> Router {
    admin::router(state, token_digest, reloader)
}

/// The server's answer to a call that an offline run finds refused (`401`, `413`): the same
/// status, problem document and headers as over HTTP.
pub fn refused(
    refusal: hookflow_core::offline::Refusal,
    auth: &hookflow_core::nodes::webhook::Auth,
    execution_id: &str,
) -> hookflow_core::Response {
    HookError::of_refusal(refusal, auth).to_answer(execution_id)
}

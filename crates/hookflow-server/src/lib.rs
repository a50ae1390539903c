//! hookflow-server: the HTTP layer (webhook ingress and admin API), the only crate that turns errors into HTTP statuses.
//!
//! [`app`] is the webhook ingress: one catch-all route under [`HOOKS_BASE`] whose handler looks
//! the request up in the route table of the engine's deployed flows (held in an `ArcSwap`, never
//! turned into axum routes), checks the route's auth (`hookflow_runtime::auth`) against the engine's credential
//! snapshot,
//! reads and parses the body, hands the call to the [`Engine`] and sends the response it gives.
//! [`admin_app`] is the admin listener: `GET /healthz`, and the admin API behind the admin token
//! (see `admin.rs`). No engine logic lives here.

mod admin;
pub mod error;
mod hooks;
pub mod listener;
pub mod metrics;
mod status;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use hookflow_core::routes::HOOKS_BASE;
use hookflow_runtime::Engine;

pub use crate::error::HookError;

/// The name of the header that carries the execution id on every webhook response.
pub const EXECUTION_ID_HEADER: &str = "x-hookflow-execution-id";

/// The webhook ingress router: `/hooks` and `/hooks/{*path}`, both served by one handler.
pub fn app(state: Arc<Engine>) -> Router {
    Router::new()
        .route(HOOKS_BASE, any(hooks::handle))
        .route(&format!("{HOOKS_BASE}/"), any(hooks::handle))
        .route(&format!("{HOOKS_BASE}/{{*path}}"), any(hooks::handle))
        .with_state(state)
}

/// The admin router: `GET /healthz` for anyone, and the admin API (`/api/...`) for callers with
/// the token whose SHA-256 digest is `token_digest`; its flow changes go to the engine's reload
/// task.
pub fn admin_app(engine: Arc<Engine>, token_digest: [u8; 32]) -> Router {
    admin::router(engine, token_digest)
}

/// The server's answer to a call of `plan`'s route that an offline run finds refused (`401`,
/// `413`): the same status, problem document and headers as over HTTP.
pub fn refused(
    refusal: hookflow_core::offline::Refusal,
    plan: &hookflow_core::Plan,
    execution_id: &str,
) -> hookflow_core::Response {
    let none = hookflow_core::nodes::webhook::Auth::None;
    let auth = plan.webhook().map_or(&none, |hook| &hook.auth);
    HookError::of_refusal(refusal, auth).to_answer(execution_id)
}

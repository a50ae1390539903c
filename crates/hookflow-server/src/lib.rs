//! hookflow-server: the HTTP layer (webhook ingress and admin API), the only crate that turns errors into HTTP statuses.
//!
//! [`app`] is the webhook ingress: one catch-all route under [`HOOKS_BASE`] whose handler looks
//! the request up in the route table of the [`Deployed`] flows (held in an `ArcSwap`, never turned
//! into axum routes), checks the route's auth against an in-memory snapshot of the credentials,
//! reads and parses the body, runs the flow and sends its response. [`admin_app`] is the admin
//! listener (for now only `GET /healthz`).

mod auth;
pub mod error;
mod hooks;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use hookflow_core::routes::HOOKS_BASE;

pub use crate::error::HookError;
pub use crate::state::{AppState, Deployed};

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

/// The admin router. For now it serves only `GET /healthz` → `200`.
pub fn admin_app() -> Router {
    Router::new().route("/healthz", get(|| async { "ok\n" }))
}

//! The admin listener: `GET /healthz`, `GET /readyz`, `GET /metrics` and
//! `GET /api/openapi.json` for anyone, and under `/api` the admin API, for callers with the admin
//! token (`Authorization: Bearer <token>`, compared with the token's SHA-256 digest in constant
//! time) or a browser session opened with it (`session.rs`). JSON in and out; every error is
//! problem+json, mapped in [`crate::error`].
//!
//! Executions: `GET /api/executions` (filtered, paginated summaries), `GET /api/executions/{id}`
//! (the whole record: request, response, error, trace) and `POST /api/executions/{id}/replay`
//! (the recorded request run again on the current version of its flow, with a diff of the
//! responses). Credentials, node types and flows have modules of their own. Store calls run on
//! the blocking pool.
//!
//! Flows (`flows.rs`): list, show, validate, put, delete, activate and deactivate them, and
//! reload the flow files. Outbound webhooks (`subscriptions.rs`): subscriptions, their
//! deliveries and the event catalogue. Records (`records.rs`): the collections `store` nodes
//! write, listed, read and deleted.

mod body;
mod calls;
mod credentials;
mod extract;
mod flows;
mod health;
mod node_types;
mod openapi;
mod query;
mod records;
mod session;
mod subscriptions;

pub use session::CSRF_HEADER;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hookflow_core::intake::join_headers;
use hookflow_runtime::Engine;
use hookflow_runtime::credentials::digest;
use hookflow_runtime::record;
use hookflow_runtime::reload::Reloader;
use hookflow_runtime::replay::{self, ReplayError};
use hookflow_runtime::store_errors;
use hookflow_store::{ExecutionRecord, RecordedRequest, StoreError, clock};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use self::extract::{BODY_LIMIT, Body, Path};

use crate::error::AdminError;
use crate::status;

/// What the admin handlers share.
struct Admin {
    app: Arc<Engine>,
    /// SHA-256 of the admin token.
    token_digest: [u8; 32],
    /// The reload task, which makes every change to the flows.
    reloader: Reloader,
    /// The browser sessions signed in with the token.
    sessions: session::Sessions,
}

/// The admin router: the probes, `/metrics` and the OpenAPI document open, everything else
/// behind the token.
pub fn router(app: Arc<Engine>, token_digest: [u8; 32]) -> Router {
    let reloader = app.reloader().clone();
    let open = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(crate::metrics::serve))
        .route("/api/openapi.json", get(openapi::serve))
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .with_state(Arc::new(health::Readiness::new(app.clone(), reloader.clone())));
    let admin = Arc::new(Admin { app, token_digest, reloader, sessions: Default::default() });
    let session = session::routes()
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .with_state(admin.clone());
    let api = Router::new()
        .merge(credentials::routes())
        .merge(node_types::routes())
        .route("/api/executions", get(list))
        .route("/api/executions/{id}", get(show))
        .route("/api/executions/{id}/replay", post(replay))
        .route("/api/executions/{id}/case", post(capture))
        .merge(flows::routes())
        .merge(subscriptions::routes())
        .merge(records::routes())
        .merge(calls::routes())
        .fallback(|| async { AdminError::NotFound })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(admin.clone(), require_token))
        .with_state(admin);
    open.merge(crate::ui::routes()).merge(session).merge(api)
}

/// Lets a request through only with the admin token, or with an open session's cookie (and, for
/// a change, the header that proves the request came from hookflow's own pages).
async fn require_token(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(token) if bool::from(digest(token).ct_eq(&admin.token_digest)) => {
            next.run(request).await
        }
        Some(_) => AdminError::Unauthorized.into_response(),
        None => match session::cookie(request.headers()) {
            Some(id) if admin.sessions.is_open(id) => {
                let marked = request.headers().contains_key(CSRF_HEADER);
                if request.method().is_safe() || marked {
                    next.run(request).await
                } else {
                    AdminError::CrossSite.into_response()
                }
            }
            _ => AdminError::Unauthorized.into_response(),
        },
    }
}

/// `GET /api/executions`: newest first, `{ items, next_cursor }`.
async fn list(
    State(admin): State<Arc<Admin>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let query = query::parse(raw.as_deref())?;
    let store = admin.app.store().clone();
    let page = blocking("list_executions", move || store.list_executions(&query)).await?;
    let items: Vec<Value> = page.items.iter().map(summary).collect();
    Ok(Json(json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// `GET /api/executions/{id}`: the whole record.
async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let record = find(&admin, id).await?;
    Ok(Json(detail(&record)))
}

/// The body of `POST /api/executions/{id}/case` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capture {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/executions/{id}/case` (body: optional `{"name": ...}`): the execution becomes a
/// case, appended to its flow's cases file beside the flow file; answers `201` with the case and
/// the file.
async fn capture(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<(axum::http::StatusCode, Json<Value>), AdminError> {
    let capture: Capture = if bytes.is_empty() { Capture::default() } else { body::parse(&bytes)? };
    let name = match capture.name {
        None => format!("captured {id}"),
        Some(name) if !name.trim().is_empty() => name,
        Some(_) => {
            return Err(AdminError::InvalidField {
                pointer: "/name".into(),
                reason: "expected a non-empty string".into(),
            });
        }
    };
    let record = find(&admin, id).await?;
    let flow = record.flow_id.clone().unwrap_or_default();
    let plan = admin.app.plan(&flow).ok_or_else(|| {
        AdminError::Conflict(format!("flow `{flow}` of this execution is not deployed"))
    })?;
    let case = hookflow_core::cases::case_from_execution(&detail(&record), name)
        .map_err(AdminError::Conflict)?;
    let path = hookflow_core::cases::cases_path(std::path::Path::new(&plan.file), &plan.id);
    let written = case.clone();
    let file = path.clone();
    tokio::task::spawn_blocking(move || {
        hookflow_runtime::cases_file::append_case(&file, &plan.id, written)
    })
    .await
    .map_err(|_| AdminError::Internal)?
    .map_err(AdminError::Conflict)?;
    let case = serde_json::to_value(&case).map_err(|_| AdminError::Internal)?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "case": case, "file": path.display().to_string() })),
    ))
}

/// `POST /api/executions/{id}/replay`: `{ execution, original, diff }`.
async fn replay(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let original = find(&admin, id).await?;
    let replayed = replay::replay(&admin.app, &original).await?;
    let diff = replay::diff(&original, &replayed);
    Ok(Json(json!({
        "execution": summary(&replayed),
        "original": summary(&original),
        "diff": diff,
    })))
}

/// The execution `id`, or `404`.
async fn find(admin: &Admin, id: String) -> Result<ExecutionRecord, AdminError> {
    if uuid::Uuid::try_parse(&id).is_err() {
        return Err(AdminError::NoSuchExecution(id));
    }
    let store = admin.app.store().clone();
    let key = id.clone();
    blocking("read_execution", move || store.execution(&key))
        .await?
        .ok_or(AdminError::NoSuchExecution(id))
}

/// Runs the store call `operation` on the blocking pool; a failure is counted, logged and
/// answered `500`.
async fn blocking<T: Send + 'static>(
    operation: &'static str,
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AdminError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            store_errors::failed(operation, &e, "a store call failed");
            Err(AdminError::Internal)
        }
        Err(e) => {
            tracing::error!(error = %e, operation, "a store call's task failed");
            Err(AdminError::Internal)
        }
    }
}

/// An execution in a listing.
fn summary(r: &ExecutionRecord) -> Value {
    json!({
        "id": r.id,
        "flow_id": r.flow_id,
        "flow_version": r.flow_version,
        "route": r.route,
        "status": r.status,
        "credential": r.credential,
        "received_at": time(r.received_at_ms),
        "completed_at": r.finished_at_ms.map(time),
        "duration_ms": r.finished_at_ms.map(|f| f - r.received_at_ms),
        "response_status": r.response.as_ref().map(|resp| resp.status),
        "replay_of": replay::replay_of(r),
        "parent_id": r.cause.as_ref().map(|c| &c.parent_execution_id),
    })
}

/// An execution in full: its summary, the start time, the request, response, error and trace.
fn detail(r: &ExecutionRecord) -> Value {
    let mut doc = summary(r);
    doc["started_at"] = json!(r.started_at_ms.map(time));
    doc["request"] = request(&r.request);
    doc["response"] = r.response.as_ref().map_or(Value::Null, status::response);
    doc["error"] = json!(r.error);
    doc["trace"] = r.trace.clone();
    doc["cause"] = r.cause.as_ref().map_or(Value::Null, |c| {
        json!({ "event_id": c.event_id, "event_type": c.event_type,
                "parent_id": c.parent_execution_id, "depth": c.depth, "event": c.event })
    });
    doc
}

/// A recorded request (already redacted) with its body as JSON when it is JSON, else as text.
fn request(r: &RecordedRequest) -> Value {
    let pairs = r.headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let headers = join_headers(pairs, r.headers.len());
    let body = record::body_value(&r.headers, &r.body, r.body_truncated);
    json!({
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "headers": headers,
        "body": body,
        "body_truncated": r.body_truncated,
    })
}

/// RFC 3339 with milliseconds, UTC.
fn time(ms: i64) -> String {
    humantime::format_rfc3339_millis(clock::time(ms)).to_string()
}

impl From<ReplayError> for AdminError {
    fn from(e: ReplayError) -> Self {
        if e.is_conflict() {
            AdminError::Conflict(e.to_string())
        } else {
            store_errors::failed("write_replay", &e, "a replay failed");
            AdminError::Internal
        }
    }
}

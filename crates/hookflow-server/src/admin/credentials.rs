//! The credentials API: `GET /api/credentials` (never a secret), `POST /api/credentials` (the
//! new secret in the `201`, once), `POST /api/credentials/{name}/rotate` (a new secret; the old
//! ones stop working at once or after `grace_seconds`) and `DELETE /api/credentials/{name}`.
//!
//! Each runs the operation `hookflow credentials` runs, on the blocking pool, and a change then
//! refreshes the credential snapshot the webhook routes read, so the next call sees it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use hookflow_runtime::credentials::{self, CredentialError, CredentialKind, Issued};
use hookflow_runtime::store_errors;
use hookflow_store::clock::now_ms;
use hookflow_store::{Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Body, Path};
use super::{Admin, body, time};
use crate::error::AdminError;

/// The credentials routes.
pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/credentials", get(list).post(create))
        .route("/api/credentials/{name}", delete(remove))
        .route("/api/credentials/{name}/rotate", post(rotate))
}

/// The body of `POST /api/credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    username: Option<String>,
    /// An `hmac` credential's secret, imported (a provider's); generated when absent.
    #[serde(default)]
    secret: Option<String>,
}

/// The body of `POST /api/credentials/{name}/rotate` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    #[serde(default)]
    grace_seconds: Option<u64>,
    /// An `hmac` credential's new secret, imported; generated when absent.
    #[serde(default)]
    secret: Option<String>,
}

/// `GET /api/credentials`: `{ items }`, sorted by name, without secrets.
async fn list(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, AdminError> {
    let now = now_ms();
    let all = blocking(&admin, None, move |store| credentials::list(store, now)).await?;
    let items: Vec<Value> = all
        .into_iter()
        .map(|c| {
            let mut item = json!({
                "name": c.name,
                "type": c.kind,
                "created_at": time(c.created_at_ms),
                "active_secrets": c.active_secrets,
            });
            if let Some(username) = c.username {
                item["username"] = json!(username);
            }
            item
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/credentials`: `201` with the secret.
async fn create(
    State(admin): State<Arc<Admin>>,
    Body(bytes): Body,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let new: NewCredential = body::parse(&bytes)?;
    let kind: CredentialKind =
        new.kind.parse().map_err(|e: hookflow_store::UnknownCredentialKind| {
            AdminError::InvalidField { pointer: "/type".into(), reason: e.to_string() }
        })?;
    let now = now_ms();
    let change = Some("write_credentials");
    let imported = new.secret.is_some();
    let issued = blocking(&admin, change, move |store| {
        credentials::create_with_secret(store, &new.name, kind, new.username, new.secret, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(issued_json(&issued, imported))))
}

/// `POST /api/credentials/{name}/rotate`: the new secret, and until when the old ones work.
async fn rotate(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    Body(bytes): Body,
) -> Result<Json<Value>, AdminError> {
    let rotation: Rotation =
        if bytes.is_empty() { Rotation::default() } else { body::parse(&bytes)? };
    let grace = rotation.grace_seconds.filter(|&s| s > 0).map(Duration::from_secs);
    let now = now_ms();
    let imported = rotation.secret.is_some();
    let issued = blocking(&admin, Some("write_credentials"), move |store| {
        credentials::rotate_with_secret(store, &name, grace, rotation.secret, now)
    })
    .await?;
    let mut doc = issued_json(&issued, imported);
    let until = grace.map(|g| now.saturating_add(i64::try_from(g.as_millis()).unwrap_or(i64::MAX)));
    doc["previous_valid_until"] = json!(until.map(time));
    Ok(Json(doc))
}

/// `DELETE /api/credentials/{name}`: `204`.
async fn remove(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    let key = name.clone();
    let deleted =
        blocking(&admin, Some("write_credentials"), move |store| credentials::delete(store, &key))
            .await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(AdminError::NoSuchCredential(name)) }
}

/// A newly issued secret, as the API shows it once; an `imported` one (the caller's) is not
/// sent back.
fn issued_json(issued: &Issued, imported: bool) -> Value {
    let mut doc = json!({ "name": issued.name, "type": issued.kind });
    if !imported {
        doc["secret"] = json!(issued.secret);
    }
    if let Some(username) = &issued.username {
        doc["username"] = json!(username);
    }
    doc
}

/// Serializes a change with the snapshot refresh that follows it, so that the snapshot of an
/// earlier change never replaces that of a later one.
static CHANGES: Mutex<()> = Mutex::new(());

/// What went wrong on the blocking pool.
enum Failure {
    Credential(CredentialError),
    /// The change was made, but the snapshot could not be read again.
    Refresh(StoreError),
}

/// Runs `op` on the blocking pool. A `change` (named by its store operation) then refreshes the
/// webhook routes' credential snapshot.
async fn blocking<T: Send + 'static>(
    admin: &Admin,
    change: Option<&'static str>,
    op: impl FnOnce(&dyn Store) -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, AdminError> {
    let app = admin.app.clone();
    let task = tokio::task::spawn_blocking(move || {
        let store = app.store();
        if change.is_none() {
            return op(&**store).map_err(Failure::Credential);
        }
        let _changing = CHANGES.lock().unwrap_or_else(PoisonError::into_inner);
        let out = op(&**store).map_err(Failure::Credential)?;
        app.reload_credentials().map_err(Failure::Refresh)?;
        Ok(out)
    });
    let operation = change.unwrap_or("read_credentials");
    match task.await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(Failure::Credential(e))) => Err(admin_error(e, operation)),
        Ok(Err(Failure::Refresh(e))) => {
            let what =
                "a credential changed, but the snapshot the routes read could not be refreshed";
            store_errors::failed("read_credentials", &e, what);
            Err(AdminError::Internal)
        }
        Err(e) => {
            tracing::error!(error = %e, "a credential operation's task failed");
            Err(AdminError::Internal)
        }
    }
}

/// The API's answer to a refused or failed credential operation.
fn admin_error(e: CredentialError, operation: &'static str) -> AdminError {
    let field = |pointer: &str, e: CredentialError| AdminError::InvalidField {
        pointer: pointer.into(),
        reason: e.to_string(),
    };
    match e {
        CredentialError::NotFound(name) => AdminError::NoSuchCredential(name),
        CredentialError::AlreadyExists(_) => AdminError::Conflict(e.to_string()),
        CredentialError::InvalidName { .. } => field("/name", e),
        CredentialError::UsernameRequired
        | CredentialError::UsernameNotAllowed(_)
        | CredentialError::InvalidUsername { .. } => field("/username", e),
        CredentialError::SecretNotAllowed(_) | CredentialError::EmptySecret => field("/secret", e),
        e => {
            let what = "a credential operation failed";
            if matches!(e, CredentialError::Store(_)) {
                store_errors::failed(operation, &e, what);
            } else {
                tracing::error!(error = %e, "{what}");
            }
            AdminError::Internal
        }
    }
}

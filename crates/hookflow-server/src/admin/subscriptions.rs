//! The outbound webhooks API: subscriptions (`/api/subscriptions`: create with the signing secret
//! in the `201`, once; list, show, change, pause and resume through `active`, delete; send a
//! `test` event; rotate the secret with a grace window), their deliveries (paged, newest first,
//! by status), one delivery with every attempt, a retry, and the event catalogue
//! (`/api/event-types`). Each handler calls the engine's [`Outbound`]; what it refuses becomes a
//! problem+json answer naming the field.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hookflow_core::intake::join_headers;
use hookflow_runtime::outbound::Outbound;
use hookflow_runtime::outbound::events::CATALOGUE;
use hookflow_runtime::outbound::subscriptions::{
    NewSubscription, SubscriptionError, SubscriptionPatch, WithSecret, view,
};
use hookflow_runtime::store_errors;
use hookflow_store::{Attempt, Delivery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Body, Path};
use super::{Admin, blocking, body, query, time};
use crate::error::AdminError;

/// The outbound webhooks routes.
pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/subscriptions", get(list).post(create))
        .route("/api/subscriptions/{id}", get(show).patch(update).delete(remove))
        .route("/api/subscriptions/{id}/test", post(test))
        .route("/api/subscriptions/{id}/rotate-secret", post(rotate))
        .route("/api/subscriptions/{id}/deliveries", get(deliveries))
        .route("/api/deliveries/{id}", get(delivery))
        .route("/api/deliveries/{id}/retry", post(retry))
        .route("/api/event-types", get(event_types))
}

/// The body of `POST /api/subscriptions/{id}/rotate-secret` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the current secret keeps signing beside the new one; none or 0: not at all.
    #[serde(default)]
    grace_seconds: u64,
}

fn outbound(admin: &Admin) -> &Outbound {
    &admin.app.outbound
}

/// `GET /api/subscriptions`: `{ items }`, oldest first, without secrets or header values.
async fn list(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, AdminError> {
    let store = admin.app.store().clone();
    let all = blocking("read_subscriptions", move || store.subscriptions()).await?;
    Ok(Json(json!({ "items": all.iter().map(view).collect::<Vec<_>>() })))
}

/// `POST /api/subscriptions`: `201` with the subscription and its signing secret, shown once.
async fn create(
    State(admin): State<Arc<Admin>>,
    Body(bytes): Body,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    let new: NewSubscription = body::parse(&bytes)?;
    let created = outbound(&admin).create(new).await?;
    Ok((StatusCode::CREATED, Json(with_secret(&created))))
}

/// `GET /api/subscriptions/{id}`.
async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    Ok(Json(view(&outbound(&admin).get(&id).await?)))
}

/// `PATCH /api/subscriptions/{id}`: what the body gives replaces what the subscription had.
async fn update(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Json<Value>, AdminError> {
    let patch: SubscriptionPatch = body::parse(&bytes)?;
    Ok(Json(view(&outbound(&admin).update(&id, patch).await?)))
}

/// `DELETE /api/subscriptions/{id}`: `204`; its deliveries go with it.
async fn remove(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    if outbound(&admin).delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError::NoSuchSubscription(id))
    }
}

/// `POST /api/subscriptions/{id}/test`: a `test` event sent now; the delivery with its attempt.
async fn test(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    Ok(Json(detail(&outbound(&admin).test(&id).await?)))
}

/// `POST /api/subscriptions/{id}/rotate-secret`: the new secret, shown once, and until when the
/// one it replaces keeps signing beside it.
async fn rotate(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Json<Value>, AdminError> {
    let rotation: Rotation =
        if bytes.is_empty() { Rotation::default() } else { body::parse(&bytes)? };
    let grace = Duration::from_secs(rotation.grace_seconds);
    let rotated = outbound(&admin).rotate(&id, grace).await?;
    let previous = rotated.subscription.secrets.get(1).and_then(|s| s.expires_at_ms);
    let mut doc = with_secret(&rotated);
    doc["previous_valid_until"] = json!(previous.map(time));
    Ok(Json(doc))
}

/// `GET /api/subscriptions/{id}/deliveries`: newest first, `{ items, next_cursor }`.
async fn deliveries(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let query = query::deliveries(raw.as_deref(), &id)?;
    outbound(&admin).get(&id).await?;
    let store = admin.app.store().clone();
    let page = blocking("list_deliveries", move || store.list_deliveries(&query)).await?;
    let items: Vec<Value> = page.items.iter().map(summary).collect();
    Ok(Json(json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// `GET /api/deliveries/{id}`: the message and every attempt.
async fn delivery(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let store = admin.app.store().clone();
    let key = id.clone();
    let found = blocking("read_delivery", move || store.delivery(&key)).await?;
    Ok(Json(detail(&found.ok_or(AdminError::NoSuchDelivery(id))?)))
}

/// `POST /api/deliveries/{id}/retry`: sent again now, whatever its status; the delivery with
/// the new attempt.
async fn retry(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    Ok(Json(detail(&outbound(&admin).retry(&id).await?)))
}

/// `GET /api/event-types`: `{ items }`: hookflow's own, each with a sample `data`, then those
/// the deployed flows emit, each with the flows that emit it.
async fn event_types(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let own = CATALOGUE
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "sample": (t.sample)() }));
    let flows = outbound(&admin).flow_event_types();
    let emitted = flows.iter().map(|t| {
        let description = format!("Emitted by the flow(s) {}.", t.flows.join(", "));
        json!({ "name": t.name, "description": description, "sample": null, "flows": t.flows })
    });
    Json(json!({ "items": own.chain(emitted).collect::<Vec<_>>() }))
}

/// A subscription with the secret it was just given.
fn with_secret(created: &WithSecret) -> Value {
    let mut doc = view(&created.subscription);
    doc["secret"] = json!(created.secret);
    doc
}

/// A delivery in a listing: its last attempt's outcome, the number of attempts.
fn summary(d: &Delivery) -> Value {
    let last = d.attempts.last();
    json!({
        "id": d.id,
        "subscription_id": d.subscription_id,
        "event_type": d.event_type,
        "status": d.status.as_str(),
        "created_at": time(d.created_at_ms),
        "next_attempt_at": d.next_attempt_at_ms.map(time),
        "attempts": d.attempts.len(),
        "last_status": last.and_then(|a| a.status),
        "last_error": last.and_then(|a| a.error.as_deref()),
    })
}

/// A delivery in full: its summary, the payload sent, and every attempt.
fn detail(d: &Delivery) -> Value {
    let mut doc = summary(d);
    doc["payload"] = serde_json::from_slice(&d.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&d.payload).into_owned()));
    doc["attempts"] = d.attempts.iter().map(attempt).collect();
    doc
}

fn attempt(a: &Attempt) -> Value {
    let pairs = a.response_headers.iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    json!({
        "at": time(a.at_ms),
        "status": a.status,
        "error": a.error,
        "duration_ms": a.duration_ms,
        "response_headers": join_headers(pairs, a.response_headers.len()),
        "response_body": String::from_utf8_lossy(&a.response_body),
        "response_body_truncated": a.response_body_truncated,
    })
}

impl From<SubscriptionError> for AdminError {
    fn from(e: SubscriptionError) -> Self {
        match e {
            SubscriptionError::Invalid { field, message } => {
                AdminError::InvalidField { pointer: field, reason: message }
            }
            SubscriptionError::NoSuchSubscription(id) => AdminError::NoSuchSubscription(id),
            SubscriptionError::NoSuchDelivery(id) => AdminError::NoSuchDelivery(id),
            SubscriptionError::Store(e) => {
                store_errors::failed("outbound", &e, "a subscription operation failed");
                AdminError::Internal
            }
        }
    }
}

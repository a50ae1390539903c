//! The collections that `store` nodes write: `GET /api/collections` (names and counts),
//! `GET /api/collections/{collection}/records` (a page, by key or by creation order), and
//! `GET|DELETE /api/collections/{collection}/records/{key}`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use hookflow_core::nodes::store::valid_collection;
use hookflow_store::StoredRecord;
use serde_json::{Value, json};

use super::extract::Path;
use super::{Admin, blocking, query, time};
use crate::error::AdminError;

pub(super) fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/api/collections", get(collections))
        .route("/api/collections/{collection}/records", get(list))
        .route("/api/collections/{collection}/records/{key}", get(show).delete(delete))
}

/// `GET /api/collections`: `{ items }`, each `{name, count}`, by name.
async fn collections(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, AdminError> {
    let store = admin.app.store().clone();
    let all = blocking("list_collections", move || store.collections()).await?;
    let items: Vec<Value> =
        all.iter().map(|c| json!({ "name": c.name, "count": c.count })).collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/collections/{collection}/records?order=key|created&limit=&cursor=`:
/// `{ items, next_cursor }`.
async fn list(
    State(admin): State<Arc<Admin>>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AdminError> {
    checked(&collection)?;
    let query = query::records(raw.as_deref(), &collection)?;
    let first = query.cursor.is_empty();
    let store = admin.app.store().clone();
    let page = blocking("list_records", move || store.list_records(&query)).await?;
    if first && page.items.is_empty() {
        return Err(AdminError::NoSuchCollection(collection));
    }
    let items: Vec<Value> = page.items.iter().map(document).collect();
    Ok(Json(json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// `GET /api/collections/{collection}/records/{key}`: the record.
async fn show(
    State(admin): State<Arc<Admin>>,
    Path((collection, key)): Path<(String, String)>,
) -> Result<Json<Value>, AdminError> {
    checked(&collection)?;
    let store = admin.app.store().clone();
    let (c, k) = (collection.clone(), key.clone());
    let found = blocking("read_record", move || store.record(&c, &k)).await?;
    let record = found.ok_or(AdminError::NoSuchRecord { collection, key })?;
    Ok(Json(document(&record)))
}

/// `DELETE /api/collections/{collection}/records/{key}`: `204`.
async fn delete(
    State(admin): State<Arc<Admin>>,
    Path((collection, key)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    checked(&collection)?;
    let store = admin.app.store().clone();
    let (c, k) = (collection.clone(), key.clone());
    if blocking("delete_record", move || store.delete_record(&c, &k)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError::NoSuchRecord { collection, key })
    }
}

/// A collection name in a path is one a `store` node could write.
fn checked(collection: &str) -> Result<(), AdminError> {
    if valid_collection(collection) {
        Ok(())
    } else {
        Err(AdminError::BadPath(format!(
            "`{collection}` is not a collection name: 1 to 64 of a-z, 0-9, `_` and `-`"
        )))
    }
}

/// A record as the API shows it.
pub(crate) fn document(r: &StoredRecord) -> Value {
    json!({
        "collection": r.collection,
        "key": r.key,
        "value": r.value,
        "version": r.version,
        "created_id": r.created_id,
        "created_at": time(r.created_at_ms),
        "updated_at": time(r.updated_at_ms),
        "execution_id": r.execution_id,
    })
}

//! `GET /api/node-types` and `GET /api/node-types/{type}`: the node types a flow can use, each
//! with its role, its doc, the JSON Schema of a node of that type and an example node. All of it
//! comes from the node registry, which the flow schema is generated from too.

use axum::routing::get;
use axum::{Json, Router};
use hookflow_core::nodes::{self, NODE_TYPES, NodeType};
use hookflow_core::schema::node_schema;
use serde_json::{Value, json};

use super::extract::Path;
use crate::error::AdminError;

/// The node-type routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/api/node-types", get(list)).route("/api/node-types/{type}", get(show))
}

/// `GET /api/node-types`: `{ items }`, in the order the docs list them.
async fn list() -> Result<Json<Value>, AdminError> {
    let items = NODE_TYPES.iter().map(|t| describe(t)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/node-types/{type}`: one type, or `404`.
async fn show(Path(name): Path<String>) -> Result<Json<Value>, AdminError> {
    let t = nodes::lookup(&name).ok_or(AdminError::NoSuchNodeType(name))?;
    Ok(Json(describe(t)?))
}

fn describe(t: &NodeType) -> Result<Value, AdminError> {
    let example: Value = serde_json::from_str(t.example).map_err(|e| {
        tracing::error!(node_type = t.name, error = %e, "a node type's example is not JSON");
        AdminError::Internal
    })?;
    Ok(json!({
        "name": t.name,
        "role": t.role.as_str(),
        "doc": t.doc,
        "schema": node_schema(t),
        "example": example,
    }))
}

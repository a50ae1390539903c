//! The flows API: `GET /api/flows`, `GET|PUT|DELETE /api/flows/{id}`, `POST /api/flows/validate`,
//! `GET /api/flows/{id}/layout`, `POST /api/flows/{id}/activate` and `/deactivate`, and the reloads: `POST /api/reload` and
//! `GET /api/reload/last`. Reads come from the deployed snapshot and the last reload report;
//! writes go to the reload task, which makes them one at a time through the same path as a file
//! change, and answer its report.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use hookflow_core::compiler::is_flow_id;
use hookflow_core::deploy::Status;
use hookflow_core::flowset::is_flow_file;
use hookflow_core::routes::public_url;
use hookflow_core::{Plan, Source, compile_all};
use hookflow_runtime::Deployed;
use hookflow_runtime::reload::{Change, ChangeError, FlowReport, Report, Trigger, flow_id_of};
use serde_json::{Value, json};

use super::Admin;
use super::extract::{Body, Path};
use crate::error::AdminError;

/// The id a flow cannot be reached by under `/api/flows/{id}`, since the path is taken by
/// `POST /api/flows/validate`; its other methods are routed to the flow by hand.
const VALIDATE: &str = "validate";

/// The flows API's routes.
pub fn routes() -> Router<Arc<Admin>> {
    let id = || Path(VALIDATE.to_owned());
    Router::new()
        .route("/api/flows", get(list))
        .route(
            "/api/flows/validate",
            post(validate)
                .get(move |admin| show(admin, id()))
                .put(move |admin, body| put(admin, id(), body))
                .delete(move |admin| delete(admin, id())),
        )
        .route("/api/flows/{id}", get(show).put(put).delete(delete))
        .route("/api/flows/{id}/layout", get(layout))
        .route("/api/flows/{id}/activate", post(activate))
        .route("/api/flows/{id}/deactivate", post(deactivate))
        .route("/api/reload", post(reload))
        .route("/api/reload/last", get(last))
}

/// `GET /api/flows`: every flow by id.
async fn list(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let deployed = admin.app.deployed.load();
    let last = admin.reloader.last();
    let mut flows: Vec<Value> = deployed
        .plans
        .iter()
        .map(|plan| summary(&admin, &deployed, last.as_deref(), plan))
        .collect();
    flows.extend(never_served(&deployed, last.as_deref()).map(|f| rejected_only(&deployed, f)));
    flows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Json(json!({ "items": flows }))
}

/// `GET /api/flows/{id}`: the flow's summary and the JSON document it serves from.
async fn show(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let deployed = admin.app.deployed.load();
    let mut doc = flow(&admin, &deployed, &id)?;
    doc["document"] = deployed
        .documents
        .get(&id)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    Ok(Json(doc))
}

/// `GET /api/flows/{id}/layout`: the served flow drawn left to right, its node boxes and edge
/// polylines in pixels (see [`Plan::layout`]).
async fn layout(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<hookflow_core::layout::Layout>, AdminError> {
    let deployed = admin.app.deployed.load();
    let plan = deployed.plans.iter().find(|p| p.id == id).ok_or(AdminError::NoSuchFlow(id))?;
    Ok(Json(plan.layout()))
}

/// `POST /api/flows/validate`: the draft in the body checked as `hookflow validate` checks its
/// file, the file it would be saved to; nothing is saved. `200` without errors, with the draft's
/// layout (as `GET /api/flows/{id}/layout` draws a served flow), else `422`.
async fn validate(State(admin): State<Arc<Admin>>, body: Body) -> Result<Json<Value>, AdminError> {
    let text = text(body)?;
    let id = flow_id_of(&text).filter(|id| is_flow_id(id));
    let file = match &id {
        Some(id) => file_for(&admin, id),
        None => in_flows_dir(admin.reloader.flows(), "draft.json"),
    };
    let source = Source { file: file.clone(), text };
    let set = tokio::task::spawn_blocking(move || compile_all(&[source])).await.map_err(|e| {
        tracing::error!(error = %e, "compiling a draft flow failed");
        AdminError::Internal
    })?;
    let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        return Err(AdminError::InvalidFlow {
            detail: format!("The flow has {}", plural(errors, "error")),
            diagnostics: set.diagnostics,
        });
    }
    let plan = set.plans.first();
    Ok(Json(json!({
        "id": id,
        "file": file,
        "version": plan.map(|p| p.version.clone()),
        "errors": 0,
        "warnings": set.diagnostics.len(),
        "diagnostics": set.diagnostics,
        "layout": plan.map(|p| p.layout()),
    })))
}

/// `PUT /api/flows/{id}`: the body becomes flow `id`'s file (its current one, or
/// `<flows>/<id>.json`), written atomically only when the flow deploys; answers the reload
/// report, `201` for a new flow.
async fn put(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), AdminError> {
    if !is_flow_id(&id) {
        return Err(AdminError::Unprocessable(format!(
            "`{id}` is not a valid flow id: use letters, digits, `-` and `_` (at most 64), starting with a letter or digit"
        )));
    }
    let text = text(body)?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| AdminError::MalformedBody(e.to_string()))?;
    match doc.get("id") {
        Some(Value::String(inner)) if *inner == id => {}
        Some(Value::String(inner)) => {
            return Err(AdminError::Unprocessable(format!(
                "The body's `id` is `{inner}`, but the URL names flow `{id}`; they must be the same"
            )));
        }
        _ => {
            return Err(AdminError::Unprocessable(format!(
                "The body has no string `id`; it must be `{id}`, as in the URL"
            )));
        }
    }
    let report = admin.reloader.change(Change::Put { id: id.clone(), text }).await?;
    let added =
        report.flows.iter().any(|f| f.id.as_deref() == Some(&*id) && f.status == Status::Added);
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(report.to_json())))
}

/// `DELETE /api/flows/{id}`: removes the flow's file (and its activation entry); answers the
/// reload report.
async fn delete(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let report = admin.reloader.change(Change::Delete { id }).await?;
    Ok(Json(report.to_json()))
}

/// `POST /api/flows/{id}/activate`.
async fn activate(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    switch(&admin, id, true).await
}

/// `POST /api/flows/{id}/deactivate`.
async fn deactivate(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AdminError> {
    switch(&admin, id, false).await
}

/// Switches flow `id` on or off; answers `{flow, reload}`.
async fn switch(admin: &Admin, id: String, active: bool) -> Result<Json<Value>, AdminError> {
    let report = admin.reloader.change(Change::SetActive { id: id.clone(), active }).await?;
    let flow = flow(admin, &admin.app.deployed.load(), &id)?;
    Ok(Json(json!({ "flow": flow, "reload": report.to_json() })))
}

/// `POST /api/reload`: reloads the flow files and answers the report.
async fn reload(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, AdminError> {
    let report = admin.reloader.reload(Trigger::Api).await.ok_or_else(|| {
        tracing::error!("the reload task has stopped");
        AdminError::Internal
    })?;
    Ok(Json(report.to_json()))
}

/// `GET /api/reload/last`: the last reload's report.
async fn last(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, AdminError> {
    let report = admin
        .reloader
        .last()
        .ok_or_else(|| AdminError::Conflict("No reload has run yet".into()))?;
    Ok(Json(report.to_json()))
}

/// Flow `id` as `GET /api/flows` lists it: one that serves, or one known only from a file the
/// last reload rejected; else `404`.
fn flow(admin: &Admin, deployed: &Deployed, id: &str) -> Result<Value, AdminError> {
    let last = admin.reloader.last();
    if let Some(plan) = deployed.plans.iter().find(|p| p.id == id) {
        return Ok(summary(admin, deployed, last.as_deref(), plan));
    }
    never_served(deployed, last.as_deref())
        .find(|f| f.id.as_deref() == Some(id))
        .map(|f| rejected_only(deployed, f))
        .ok_or_else(|| AdminError::NoSuchFlow(id.to_owned()))
}

/// A served flow: its state, version, file, activation, routes and, when its file was rejected
/// by the last reload, why.
fn summary(admin: &Admin, deployed: &Deployed, last: Option<&Report>, plan: &Plan) -> Value {
    let active = deployed.activation.is_active(plan);
    let routes: Vec<Value> = plan
        .webhook()
        .into_iter()
        .flat_map(|hook| hook.methods.iter().map(move |m| (m, &hook.suffix)))
        .map(|(m, suffix)| {
            json!({
                "method": m.as_str(),
                "suffix": suffix,
                "url": public_url(&admin.app.public_base, suffix),
            })
        })
        .collect();
    let rejected = last
        .and_then(|r| r.with_status(Status::Rejected).find(|f| f.id.as_deref() == Some(&*plan.id)))
        .map(rejection);
    json!({
        "id": plan.id,
        "name": plan.name,
        "description": plan.description,
        "state": if active { "active" } else { "inactive" },
        "version": plan.version,
        "file": plan.file,
        "active_in_file": plan.active,
        "activation": deployed.activation.get(&plan.id),
        "routes": routes,
        "rejected": rejected,
    })
}

/// A flow known only from a file the last reload rejected: nothing of it serves.
fn rejected_only(deployed: &Deployed, flow: &FlowReport) -> Value {
    json!({
        "id": flow.id,
        "name": null,
        "description": null,
        "state": "rejected",
        "version": null,
        "file": flow.file,
        "active_in_file": null,
        "activation": flow.id.as_deref().and_then(|id| deployed.activation.get(id)),
        "routes": [],
        "rejected": rejection(flow),
    })
}

/// Why the last reload rejected a flow file.
fn rejection(flow: &FlowReport) -> Value {
    json!({ "file": flow.file, "version": flow.version, "diagnostics": flow.diagnostics })
}

/// The flows the last reload rejected that have an id and no serving version.
fn never_served<'a>(
    deployed: &'a Deployed,
    last: Option<&'a Report>,
) -> impl Iterator<Item = &'a FlowReport> {
    last.into_iter().flat_map(|r| r.with_status(Status::Rejected)).filter(|f| {
        f.serving.is_none()
            && f.id.as_ref().is_some_and(|id| deployed.plans.iter().all(|p| p.id != *id))
    })
}

/// The file a PUT of flow `id` writes: the flow's file, else `<flows>/<id>.json`.
fn file_for(admin: &Admin, id: &str) -> String {
    let deployed = admin.app.deployed.load();
    let last = admin.reloader.last();
    deployed
        .plans
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.file.clone())
        .or_else(|| {
            never_served(&deployed, last.as_deref())
                .find(|f| f.id.as_deref() == Some(id))
                .map(|f| f.file.clone())
        })
        .unwrap_or_else(|| in_flows_dir(admin.reloader.flows(), &format!("{id}.json")))
}

/// `name` in the flows directory (beside the flow file, when the flows path is one file).
fn in_flows_dir(flows: &FsPath, name: &str) -> String {
    let dir = if is_flow_file(flows) { flows.parent().unwrap_or(FsPath::new("")) } else { flows };
    dir.join(name).display().to_string()
}

/// The request body as text.
fn text(Body(bytes): Body) -> Result<String, AdminError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|e| AdminError::BadBody(format!("The body is not UTF-8 text: {e}")))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

impl From<ChangeError> for AdminError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NoSuchFlow(id) => AdminError::NoSuchFlow(id),
            ChangeError::Rejected { id, diagnostics, conflict: true } => {
                let first = diagnostics.iter().find(|d| d.is_error()).map(|d| d.message.clone());
                AdminError::FlowConflict {
                    detail: format!(
                        "Flow `{id}` conflicts with another flow, so nothing was written: {}",
                        first.unwrap_or_default()
                    ),
                    diagnostics,
                }
            }
            ChangeError::Rejected { id, diagnostics, conflict: false } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                AdminError::InvalidFlow {
                    detail: format!(
                        "Flow `{id}` has {}, so nothing was written",
                        plural(errors, "error")
                    ),
                    diagnostics,
                }
            }
            ChangeError::Conflict(reason) | ChangeError::Unreadable(reason) => {
                AdminError::Conflict(reason)
            }
            ChangeError::Internal => AdminError::Internal,
        }
    }
}

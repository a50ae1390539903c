//! `hookflow run FLOW`: execute one flow offline on a sample request and print the response and
//! the node trace.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use hookflow_core::Plan;
use hookflow_core::diagnostic::render_all;
use hookflow_core::execute::{Execution, Status};
use hookflow_core::expr::Explained;
use hookflow_core::intake::pairs;
use hookflow_core::nodes::Role;
use hookflow_core::offline::{self, SampleBody, SampleEvent, SampleRequest};
use hookflow_core::services::{EmittedEvent, Offline, RecordWrite, Services};
use hookflow_core::trace::TraceDetail;
use hookflow_core::{Body, Source, compile};
use serde_json::{Map, Value, json};

use std::fmt::Write as _;

use super::{Format, exit, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flow file.
    flow: PathBuf,
    /// Request body from a file, or `-` for standard input (default: the flow's `expected.body`).
    /// For a flow an `event` trigger starts: the event's `data`, as JSON (default: the trigger's
    /// `expected.data`).
    #[arg(long)]
    body: Option<String>,
    /// For a flow an `event` trigger starts: the event type (default: the trigger's first).
    #[arg(long, value_name = "TYPE")]
    event: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "K:V")]
    headers: Vec<String>,
    /// A query parameter, `key=value` (repeatable; a repeated key becomes an array).
    #[arg(long = "query", value_name = "K=V")]
    query: Vec<String>,
    /// The request method (default: the webhook's first method).
    #[arg(long)]
    method: Option<String>,
    /// The path after `/hooks` (default: the suffix, with `expected.params` filled in).
    #[arg(long)]
    path: Option<String>,
    /// `human` (default) or `json`.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Let the flow call private, loopback and link-local addresses (refused by default).
    #[arg(long)]
    allow_private_network: bool,
    /// Also print the output of node ID (the request, for the trigger).
    #[arg(long, value_name = "ID")]
    node: Option<String>,
    /// Also print, for every value expression of the answering `respond` node, the value it
    /// produced.
    #[arg(long)]
    explain: bool,
}

pub fn main(args: Args) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hookflow run: {message}");
            exit::COULD_NOT_RUN
        }
    }
}

fn run(args: Args) -> Result<u8, String> {
    let text = std::fs::read_to_string(&args.flow)
        .map_err(|e| format!("cannot read {}: {e}", args.flow.display()))?;
    let compiled = compile(&Source { file: args.flow.display().to_string(), text });
    let Some(plan) = compiled.plan else {
        match args.format {
            Format::Human => print(&render_all(&compiled.diagnostics)),
            Format::Json => print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json!({ "diagnostics": compiled.diagnostics }))
                    .expect("diagnostics serialize")
            )),
        }
        return Ok(exit::FLOW_ERRORS);
    };
    let mut headers = Map::new();
    for h in &args.headers {
        let (k, v) =
            h.split_once(':').ok_or_else(|| format!("--header `{h}` is not `Name: value`"))?;
        headers.insert(k.trim().to_ascii_lowercase(), Value::String(v.trim().to_owned()));
    }
    let query = args
        .query
        .iter()
        .map(|q| q.split_once('=').ok_or_else(|| format!("--query `{q}` is not `key=value`")))
        .collect::<Result<Vec<_>, _>>()?;
    let body = match args.body.as_deref() {
        None => None,
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Some(SampleBody::Raw(bytes))
        }
        Some(file) => Some(SampleBody::Raw(
            std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?,
        )),
    };
    // For an event flow, `--body` (read above, as bytes) is the event's data.
    let event = match (plan.trigger().event(), &body) {
        (Some(trigger), body) => {
            let data = match body {
                Some(SampleBody::Raw(bytes)) => serde_json::from_slice(bytes)
                    .map_err(|e| format!("the event's data is not JSON: {e}"))?,
                _ => trigger.expected.clone(),
            };
            Some(SampleEvent { kind: args.event.clone(), data })
        }
        (None, _) if args.event.is_some() => {
            return Err(format!(
                "--event is for flows an `event` trigger starts, not `{}`",
                plan.id
            ));
        }
        (None, _) => None,
    };
    let sample = SampleRequest {
        method: args.method,
        path: args.path,
        query: pairs(query.into_iter()),
        headers,
        body,
        event,
        ..SampleRequest::default()
    };
    let http = super::offline_http(&plan, args.allow_private_network).map_err(|e| e.to_string())?;
    let effects = Arc::new(Offline::default());
    let services = Services { http, ..Services::offline(&effects) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let execution = runtime
        .block_on(offline::run(&plan, sample, uuid::Uuid::now_v7().to_string(), &services))
        .map_err(|e| e.to_string())?;
    if let Some(id) = &args.node
        && plan.node(id).is_none()
    {
        return Err(format!("flow `{}` has no node `{id}`", plan.id));
    }
    let node_output = args.node.as_deref().map(|id| node_output(&plan, &execution, id));
    let explained = args.explain.then(|| explain_json(&execution.explain(&plan)));
    let trace = execution.trace_json(&plan, 4096, TraceDetail::Full);
    let response = &execution.response;
    let mut out = String::new();
    match args.format {
        Format::Json => {
            let report = json!({
                "execution_id": execution.meta.id,
                "flow": plan.id,
                "version": plan.version,
                "status": execution.status,
                "response": { "status": response.status, "headers": response.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(), "body": response.body.to_value() },
                "responded_by": execution.responded_by,
                "failure": execution.failure,
                "duration_us": execution.duration_us,
                "trace": trace,
                "stored": effects.stored().iter().map(RecordWrite::to_json).collect::<Vec<_>>(),
                "emitted": effects.emitted().iter().map(EmittedEvent::to_json).collect::<Vec<_>>(),
            });
            let mut report = report;
            if let (Some(id), Some(output)) = (&args.node, &node_output) {
                report["node"] = json!({ "id": id, "output": output });
            }
            if let Some(explained) = &explained {
                report["explain"] = explained.clone();
            }
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serializes")
            );
        }
        Format::Human => {
            let reason = http::StatusCode::from_u16(response.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            let _ = writeln!(out, "HTTP {} {reason}", response.status);
            for (k, v) in &response.headers {
                let _ = writeln!(out, "{k}: {v}");
            }
            match &response.body {
                Body::Empty => {}
                Body::Json(v) => {
                    let _ = writeln!(
                        out,
                        "\n{}",
                        serde_json::to_string_pretty(v).expect("JSON serializes")
                    );
                }
                Body::Text(t) => {
                    let _ = writeln!(out, "\n{t}");
                }
            }
            let _ = writeln!(
                out,
                "\ntrace of execution {} ({} µs, {}):",
                execution.meta.id,
                execution.duration_us,
                json!(execution.status).as_str().unwrap_or_default()
            );
            for step in trace.as_array().into_iter().flatten() {
                let mut line = format!(
                    "  {:<12} {:<9} {:<10} {:>6} µs",
                    step["node"].as_str().unwrap_or(""),
                    step["type"].as_str().unwrap_or(""),
                    step["status"].as_str().unwrap_or(""),
                    step["duration_us"].as_u64().unwrap_or(0)
                );
                if let Some(b) = step["branch"].as_str() {
                    line.push_str(&format!("  → {b}"));
                }
                if let Some(e) = step["error"].as_str() {
                    line.push_str(&format!("  error: {e}"));
                }
                let _ = writeln!(out, "{line}");
                for logged in step["logs"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "      log: {}", logged.as_str().unwrap_or_default());
                }
            }
            if let Some(f) = &execution.failure {
                let _ = writeln!(out, "\nfailed at node `{}`: {}", f.node, f.message);
            }
            // Offline, nothing is kept: what the run would have stored and raised.
            for w in effects.stored() {
                let _ = writeln!(
                    out,
                    "\nwould store in `{}` record `{}`: {}",
                    w.collection, w.key, w.value
                );
            }
            for e in effects.emitted() {
                let _ = writeln!(out, "\nwould emit `{}`: {}", e.kind, e.data);
            }
            if let (Some(id), Some(output)) = (&args.node, &node_output) {
                let text = match output {
                    Some(v) => serde_json::to_string_pretty(v).expect("JSON serializes"),
                    None => "(did not run)".to_owned(),
                };
                let _ = writeln!(out, "\nnode `{id}`:\n{text}");
            }
            if let Some(Value::Array(items)) = &explained {
                let _ = writeln!(out, "\nexplain (each expression of the nodes that ran):");
                for item in items {
                    let shown = match (item.get("value"), item.get("error")) {
                        (_, Some(Value::String(e))) => format!("error: {e}"),
                        (Some(v), _) => v.to_string(),
                        (None, _) => "(nothing)".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "  #{:<40} {:<9} {shown}",
                        item["pointer"].as_str().unwrap_or(""),
                        item["kind"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    print(&out);
    Ok(if execution.status == Status::Succeeded { exit::OK } else { exit::FLOW_ERRORS })
}

/// The output of node `id` (the request for the trigger), `None` when it did not run.
fn node_output(plan: &Plan, execution: &Execution, id: &str) -> Option<Value> {
    let node = plan.node(id)?;
    if node.role == Role::Trigger {
        return execution.context.get("request").cloned();
    }
    execution.context.get("nodes").and_then(|n| n.get(id)).cloned()
}

/// Explained expressions as JSON: pointer, kind, and the value (absent for nothing) or error.
fn explain_json(explained: &[Explained]) -> Value {
    Value::Array(
        explained
            .iter()
            .map(|e| {
                let mut item = json!({ "pointer": e.pointer, "kind": e.kind });
                match &e.value {
                    Ok(Some(v)) => item["value"] = v.clone(),
                    Ok(None) => {}
                    Err(message) => item["error"] = json!(message),
                }
                item
            })
            .collect(),
    )
}

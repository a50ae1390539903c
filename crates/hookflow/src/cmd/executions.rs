//! `hookflow executions list|show|replay`: the execution history of a running `hookflow serve`,
//! through its admin API (`--admin-url`, `--admin-token`). Exit 0 = done, 1 = the server said no
//! (its problem detail is printed), 2 = could not run (no connection, bad arguments).

use std::fmt::Write as _;

use hookflow_store::ExecutionStatus;
use serde_json::Value;

use super::admin_client::{AdminOptions, Failure, answer, segment, send, text};
use super::{Format, table};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    admin: AdminOptions,
    /// `human` (default) or `json` (the admin API's answer as it is).
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List executions, newest first.
    List {
        /// Only this flow's executions.
        #[arg(long)]
        flow: Option<String>,
        /// Only executions with this status: queued, running, succeeded, failed or rejected.
        #[arg(long)]
        status: Option<ExecutionStatus>,
        /// Received at or after this time (RFC 3339, or milliseconds since the Unix epoch).
        #[arg(long)]
        since: Option<String>,
        /// Received before this time (RFC 3339, or milliseconds since the Unix epoch).
        #[arg(long)]
        until: Option<String>,
        /// At most this many (1 to 500; default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after this execution (the `next_cursor` of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one execution: request, response, error and node trace.
    Show { id: String },
    /// Run an execution's request again on the current version of its flow and show how the
    /// response differs.
    Replay { id: String },
}

pub fn main(args: Args) -> u8 {
    answer("executions", |runtime| runtime.block_on(run(&args)))
}

async fn run(args: &Args) -> Result<String, Failure> {
    let (client, base, token) = args.admin.connect()?;
    let request = match &args.command {
        Command::List { flow, status, since, until, limit, cursor } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            let mut add = |name, value: Option<String>| {
                if let Some(value) = value {
                    query.push((name, value));
                }
            };
            add("flow", flow.clone());
            add("status", status.map(|s| s.to_string()));
            add("since", since.clone());
            add("until", until.clone());
            add("limit", limit.map(|n| n.to_string()));
            add("cursor", cursor.clone());
            client.get(format!("{base}/api/executions")).query(&query)
        }
        Command::Show { id } => client.get(format!("{base}/api/executions/{}", segment(id))),
        Command::Replay { id } => {
            client.post(format!("{base}/api/executions/{}/replay", segment(id)))
        }
    };
    let doc = send(request.bearer_auth(token), base).await?;
    if args.format == Format::Json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        return Ok(format!("{text}\n"));
    }
    Ok(match &args.command {
        Command::List { .. } => list(&doc),
        Command::Show { .. } => show(&doc),
        Command::Replay { .. } => replay(&doc),
    })
}

/// `list` as a table, then how to get the next page.
fn list(doc: &Value) -> String {
    let items = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "no executions\n".into();
    }
    let header = ["ID", "FLOW", "STATUS", "HTTP", "RECEIVED", "DURATION"];
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|e| {
            [
                text(&e["id"]),
                text(&e["flow_id"]),
                text(&e["status"]),
                text(&e["response_status"]),
                text(&e["received_at"]),
                e["duration_ms"].as_i64().map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
            ]
        })
        .collect();
    let mut out = table(header, &rows);
    if let Some(cursor) = doc["next_cursor"].as_str() {
        let _ = writeln!(out, "more: --cursor {cursor}");
    }
    out
}

/// `show` as a readable record.
fn show(doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "execution {}", text(&doc["id"]));
    let field = |out: &mut String, name: &str, value: String| {
        let _ = writeln!(out, "  {:<11} {value}", format!("{name}:"));
    };
    field(&mut out, "status", text(&doc["status"]));
    field(
        &mut out,
        "flow",
        format!("{} (version {})", text(&doc["flow_id"]), text(&doc["flow_version"])),
    );
    field(&mut out, "route", text(&doc["route"]));
    field(&mut out, "credential", text(&doc["credential"]));
    field(&mut out, "received", text(&doc["received_at"]));
    field(&mut out, "started", text(&doc["started_at"]));
    let duration = doc["duration_ms"].as_i64().map(|ms| format!(" ({ms} ms)")).unwrap_or_default();
    field(&mut out, "completed", format!("{}{duration}", text(&doc["completed_at"])));
    if let Some(id) = doc["replay_of"].as_str() {
        field(&mut out, "replay of", id.to_owned());
    }
    if let Some(error) = doc["error"].as_object() {
        let node = error.get("node").and_then(Value::as_str);
        let message = error.get("message").map(text).unwrap_or_default();
        let at = node.map(|n| format!("node `{n}`: ")).unwrap_or_default();
        field(&mut out, "error", format!("{at}{message}"));
    }

    let request = &doc["request"];
    let query = request["query"].as_str().filter(|q| !q.is_empty());
    let _ = writeln!(
        out,
        "\nrequest\n  {} {}{}",
        text(&request["method"]),
        text(&request["path"]),
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    message(&mut out, request);

    let response = &doc["response"];
    if response.is_object() {
        let _ = writeln!(out, "\nresponse\n  {}", text(&response["status"]));
        message(&mut out, response);
    } else {
        let _ = writeln!(out, "\nresponse\n  (none)");
    }

    if let Some(steps) = doc["trace"].as_array().filter(|s| !s.is_empty()) {
        let _ = writeln!(out, "\ntrace");
        for (i, step) in steps.iter().enumerate() {
            let _ = write!(
                out,
                "  {}. {} ({}) {} in {} µs",
                i + 1,
                text(&step["node"]),
                text(&step["type"]),
                text(&step["status"]),
                text(&step["duration_us"])
            );
            if let Some(branch) = step.get("branch") {
                let _ = write!(out, ", branch {}", text(branch));
            }
            if let Some(error) = step.get("error") {
                let _ = write!(out, ": {}", text(error));
            }
            out.push('\n');
        }
    }
    out
}

/// The headers and body of a rendered request or response, indented.
fn message(out: &mut String, doc: &Value) {
    for (name, value) in doc["headers"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "  {name}: {}", text(value));
    }
    let body = &doc["body"];
    if !body.is_null() {
        let body = match body {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        };
        let cut =
            if doc["body_truncated"] == true { "\n  (cut at the recording limit)" } else { "" };
        let _ = writeln!(out, "\n  {}{cut}", body.replace('\n', "\n  "));
    }
}

/// `replay`: which execution ran, and every difference.
fn replay(doc: &Value) -> String {
    let (new, original, diff) = (&doc["execution"], &doc["original"], &doc["diff"]);
    let mut out = format!(
        "replayed {} as {} on flow {} (version {}): {}, HTTP {}\n",
        text(&original["id"]),
        text(&new["id"]),
        text(&new["flow_id"]),
        text(&new["flow_version"]),
        text(&new["status"]),
        text(&new["response_status"]),
    );
    let headers = diff["headers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let body = diff["body"].as_array().map(Vec::as_slice).unwrap_or_default();
    if diff["status"].is_null() && headers.is_empty() && body.is_empty() {
        out.push_str("same response\n");
        return out;
    }
    if let Some(status) = diff["status"].as_object() {
        let side = |key| status.get(key).map_or_else(|| "(none)".into(), text);
        let _ = writeln!(out, "status: {} -> {}", side("from"), side("to"));
    }
    let side = |change: &Value, key: &str| match change.get(key) {
        None | Some(Value::Null) => "(absent)".to_owned(),
        Some(value) => value.to_string(),
    };
    for change in headers {
        let _ = writeln!(
            out,
            "header {}: {} -> {}",
            text(&change["name"]),
            side(change, "from"),
            side(change, "to")
        );
    }
    for change in body {
        let pointer =
            change["pointer"].as_str().filter(|p| !p.is_empty()).unwrap_or("(whole body)");
        let value = |key: &str| change.get(key).map_or_else(|| "(absent)".into(), Value::to_string);
        let _ = writeln!(out, "body {pointer}: {} -> {}", value("from"), value("to"));
    }
    out
}

//! `hookflow flows list|activate ID|deactivate ID`: the flows of a running `hookflow serve`,
//! through its admin API (`--admin-url`, `--admin-token`). Exit 0 = done, 1 = the server said no
//! (its problem detail is printed), 2 = could not run (no connection, bad arguments).

use std::fmt::Write as _;

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
    /// List the flows: state, version, file, routes, and why a file was rejected.
    List,
    /// Serve a flow's routes again (its URL and credentials are unchanged).
    Activate { id: String },
    /// Answer `404` at a flow's routes, keeping its URL and credentials; survives a restart.
    Deactivate { id: String },
}

pub fn main(args: Args) -> u8 {
    answer("flows", |runtime| runtime.block_on(run(&args)))
}

async fn run(args: &Args) -> Result<String, Failure> {
    let (client, base, token) = args.admin.connect()?;
    let request = match &args.command {
        Command::List => client.get(format!("{base}/api/flows")),
        Command::Activate { id } => {
            client.post(format!("{base}/api/flows/{}/activate", segment(id)))
        }
        Command::Deactivate { id } => {
            client.post(format!("{base}/api/flows/{}/deactivate", segment(id)))
        }
    };
    let doc = send(request.bearer_auth(token), base).await?;
    if args.format == Format::Json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        return Ok(format!("{text}\n"));
    }
    Ok(match &args.command {
        Command::List => list(&doc),
        Command::Activate { .. } | Command::Deactivate { .. } => switched(&doc["flow"]),
    })
}

/// `list` as a table, one line per route, then why files were rejected.
fn list(doc: &Value) -> String {
    let flows = doc["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if flows.is_empty() {
        return "no flows\n".into();
    }
    let header = ["ID", "STATE", "VERSION", "ROUTE"];
    let mut rows: Vec<[String; 4]> = Vec::new();
    for flow in flows {
        let routes = flow["routes"].as_array().map(Vec::as_slice).unwrap_or_default();
        let routes: Vec<String> =
            routes.iter().map(|r| format!("{} {}", text(&r["method"]), text(&r["url"]))).collect();
        let first = routes.first().cloned().unwrap_or_else(|| "-".into());
        rows.push([text(&flow["id"]), text(&flow["state"]), text(&flow["version"]), first]);
        for more in routes.iter().skip(1) {
            rows.push([String::new(), String::new(), String::new(), more.clone()]);
        }
    }
    let mut out = table(header, &rows);
    for flow in flows {
        let rejected = &flow["rejected"];
        if rejected.is_null() {
            continue;
        }
        let diagnostics = rejected["diagnostics"].as_array().map(Vec::as_slice).unwrap_or_default();
        let errors = diagnostics.iter().filter(|d| d["severity"] == "error").count();
        let serving = match flow["version"].as_str() {
            Some(version) => format!("version {version} goes on serving"),
            None => "nothing of it serves".into(),
        };
        let _ = writeln!(
            out,
            "\n{}: {} was rejected ({errors} error{}); {serving}",
            text(&flow["id"]),
            text(&rejected["file"]),
            if errors == 1 { "" } else { "s" },
        );
        for d in diagnostics {
            let _ = writeln!(
                out,
                "  {}[{}]: {}",
                text(&d["severity"]),
                text(&d["code"]),
                text(&d["message"])
            );
        }
    }
    out
}

/// The flow after `activate` or `deactivate`.
fn switched(flow: &Value) -> String {
    let routes = flow["routes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let urls: Vec<String> =
        routes.iter().map(|r| format!("{} {}", text(&r["method"]), text(&r["url"]))).collect();
    match flow["state"].as_str() {
        Some("inactive") => format!(
            "flow `{}` is inactive: {} answer{} 404 (URL and credentials kept)\n",
            text(&flow["id"]),
            urls.join(", "),
            if urls.len() == 1 { "s" } else { "" }
        ),
        _ => format!(
            "flow `{}` is {}: {}\n",
            text(&flow["id"]),
            text(&flow["state"]),
            urls.join(", ")
        ),
    }
}

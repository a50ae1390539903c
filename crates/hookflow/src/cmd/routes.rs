//! `hookflow routes`: the route table with full public URLs, computed from the flow files (and
//! the activation kept in the data directory) the way `serve` deploys them, without a server.
//! Exit 0 = every flow compiles, 1 = some flows have errors (their routes are left out), 2 = could
//! not run.

use std::fmt::Write as _;
use std::path::PathBuf;

use hookflow_core::deploy::deploy;
use hookflow_core::read_sources;
use hookflow_core::routes::public_url;
use hookflow_runtime::activation::Activation;
use serde_json::json;

use super::serve::{DEFAULT_LISTEN, public_base};
use super::{Format, exit, print, table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The flows directory (or file).
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
    /// The base URL callers use to reach the webhook listener (default: `http://` + the
    /// listener's default address, as `serve` computes it).
    #[arg(long)]
    public_url: Option<String>,
    /// The data directory whose flow activation applies (as `serve` uses it; a missing one
    /// switches nothing).
    #[arg(long, default_value = "./hookflow-data")]
    data: PathBuf,
    /// `human` (default) or `json`.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub fn main(args: Args) -> u8 {
    if !args.flows.exists() {
        eprintln!("hookflow routes: {} does not exist", args.flows.display());
        return exit::COULD_NOT_RUN;
    }
    let activation = match Activation::load(&args.data) {
        Ok(activation) => activation,
        Err(e) => {
            eprintln!("hookflow routes: {e}");
            return exit::COULD_NOT_RUN;
        }
    };
    let listen = DEFAULT_LISTEN.parse().expect("the default listen address parses");
    let public = public_base(args.public_url.as_deref(), listen);
    let (sources, unreadable) = read_sources(std::slice::from_ref(&args.flows));
    let deployment = deploy(&[], &sources, &unreadable, &|plan| activation.is_active(plan));
    let errors = deployment.diagnostics.iter().filter(|d| d.is_error()).count();
    let mut routes: Vec<_> = deployment.routes.entries().collect();
    routes.sort_by(|a, b| (a.suffix, a.method.as_str()).cmp(&(b.suffix, b.method.as_str())));

    let mut out = String::new();
    match args.format {
        Format::Json => {
            let routes: Vec<_> = routes
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method.as_str(),
                        "suffix": r.suffix,
                        "url": public_url(&public, r.suffix),
                        "flow": r.plan.id,
                        "file": r.plan.file,
                        "active": r.active,
                    })
                })
                .collect();
            let report = json!({ "public_url": public, "routes": routes, "errors": errors });
            let text = serde_json::to_string_pretty(&report).expect("a route table serializes");
            let _ = writeln!(out, "{text}");
        }
        Format::Human => {
            let rows: Vec<[String; 4]> = routes
                .iter()
                .map(|r| {
                    [
                        r.method.as_str().to_owned(),
                        public_url(&public, r.suffix),
                        r.plan.id.clone(),
                        if r.active { "active" } else { "inactive" }.to_owned(),
                    ]
                })
                .collect();
            out.push_str(&table(["METHOD", "URL", "FLOW", "STATE"], &rows));
        }
    }
    print(&out);
    if errors > 0 {
        eprintln!(
            "hookflow routes: {errors} error{} in the flows; the routes of flows with errors are left out (see `hookflow validate {}`)",
            if errors == 1 { "" } else { "s" },
            args.flows.display()
        );
        return exit::FLOW_ERRORS;
    }
    exit::OK
}

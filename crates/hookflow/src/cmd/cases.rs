//! `hookflow cases init FLOW` (a starter cases file from the flow's `expected` sample) and
//! `hookflow cases capture EXECUTION_ID` (a recorded execution, fetched from a running server's
//! admin API, appended as a case). Exit 0 = written, 1 = the server refused, 2 = could not run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hookflow_core::cases::{self, Case, CaseRequest, Expect};
use hookflow_core::{Plan, Source, compile, compile_all, read_sources};
use hookflow_runtime::cases_file;

use super::admin_client::{AdminOptions, Failure, segment, send};
use super::{exit, print};

/// The time a starter case runs at, so that an expectation on it stays true.
const FIXED_TIME: &str = "2026-01-01T00:00:00Z";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write `<flow-id>.cases.json` beside FLOW with one case: the flow's `expected` sample, its
    /// current response as the expectation.
    Init {
        /// The flow file.
        flow: PathBuf,
        /// Overwrite an existing cases file.
        #[arg(long)]
        force: bool,
        /// Let a flow with `http_request` nodes call private, loopback and link-local addresses.
        #[arg(long)]
        allow_private_network: bool,
    },
    /// Turn a recorded execution into a case (its recorded response as the expectation) appended
    /// to its flow's cases file.
    Capture {
        /// The execution's id (see `hookflow executions list`).
        id: String,
        /// The case's name (default: `captured <id>`).
        #[arg(long)]
        name: Option<String>,
        /// The directory of the flow files.
        #[arg(long, default_value = "flows")]
        flows: PathBuf,
        #[command(flatten)]
        admin: AdminOptions,
    },
}

pub fn main(args: Args) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookflow cases: cannot start the async runtime: {e}");
            return exit::COULD_NOT_RUN;
        }
    };
    let result = match args.command {
        Command::Init { flow, force, allow_private_network } => {
            runtime.block_on(init(&flow, force, allow_private_network))
        }
        Command::Capture { id, name, flows, admin } => {
            runtime.block_on(capture(&id, name, &flows, &admin))
        }
    };
    match result {
        Ok(text) => {
            print(&text);
            exit::OK
        }
        Err(Failure::Refused(message)) => {
            eprintln!("hookflow cases: {message}");
            exit::FLOW_ERRORS
        }
        Err(Failure::CouldNotRun(message)) => {
            eprintln!("hookflow cases: {message}");
            exit::COULD_NOT_RUN
        }
    }
}

fn could_not(message: impl Into<String>) -> Failure {
    Failure::CouldNotRun(message.into())
}

async fn init(flow: &Path, force: bool, allow_private_network: bool) -> Result<String, Failure> {
    let text = std::fs::read_to_string(flow)
        .map_err(|e| could_not(format!("cannot read {}: {e}", flow.display())))?;
    let compiled = compile(&Source { file: flow.display().to_string(), text });
    let Some(plan) = compiled.plan else {
        return Err(could_not(format!("{} has errors (see `hookflow validate`)", flow.display())));
    };
    let path = cases::cases_path(flow, &plan.id);
    if path.exists() && !force {
        return Err(could_not(format!("{} exists (--force overwrites it)", path.display())));
    }
    let http =
        super::offline_http(&plan, allow_private_network).map_err(|e| could_not(e.to_string()))?;
    let mut case = Case {
        name: "the expected sample".into(),
        request: CaseRequest::default(),
        execution_id: Some(cases::DEFAULT_EXECUTION_ID.into()),
        received_at: Some(FIXED_TIME.into()),
        event: None,
        expect: Expect::with_status(0),
    };
    let actual =
        super::test::run_case(&plan, &case, Path::new("."), &http).await.map_err(could_not)?;
    cases::bless(&mut case.expect, &actual);
    let file = cases_file::new_file(&path, &plan.id, vec![case]);
    cases_file::write(&path, &file).map_err(could_not)?;
    Ok(format!("wrote {} (1 case, HTTP {})\n", path.display(), actual.status))
}

async fn capture(
    id: &str,
    name: Option<String>,
    flows: &Path,
    admin: &AdminOptions,
) -> Result<String, Failure> {
    let (client, base, token) = admin.connect()?;
    let request = client.get(format!("{base}/api/executions/{}", segment(id))).bearer_auth(token);
    let doc = send(request, base).await?;
    let flow_id = doc["flow_id"].as_str().ok_or_else(|| could_not("the record has no flow_id"))?;
    let plan = find_flow(flows, flow_id)?;
    let case = cases::case_from_execution(&doc, name.unwrap_or_else(|| format!("captured {id}")))
        .map_err(could_not)?;
    let path = cases::cases_path(Path::new(&plan.file), &plan.id);
    let name = case.name.clone();
    cases_file::append_case(&path, &plan.id, case)
        .map_err(|e| could_not(format!("{e} (choose another name with --name)")))?;
    Ok(format!("added case `{name}` to {}\n", path.display()))
}

/// The compiled flow `id` among the flow files of `dir`.
fn find_flow(dir: &Path, id: &str) -> Result<Arc<Plan>, Failure> {
    let (sources, _) = read_sources(&[dir.to_path_buf()]);
    compile_all(&sources)
        .plans
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| could_not(format!("no flow `{id}` that compiles in {}", dir.display())))
}

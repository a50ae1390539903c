//! `hookflow test [PATH...]`: runs every case of every flow found offline, prints pass/fail with
//! a diff per failure and `N passed, M failed`, writes JUnit XML, and blesses failing cases with
//! `--update`. Exit 0 = all passed, 1 = a case failed, 2 = could not run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hookflow_core::cases::{self, Actual, Case, CasesFile, Mismatch};
use hookflow_core::diagnostic::render_all;
use hookflow_core::services::{HttpClient, NoNetwork};
use hookflow_core::{Plan, compile_all, read_sources};
use hookflow_runtime::cases_file;
use serde_json::json;

use super::{exit, print};

/// The name of the case a flow's `expected` sample makes when it has no cases file.
pub const SAMPLE_CASE: &str = "expected sample";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flow files or directories of flows (default: `flows`).
    paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Rewrite the expectations of failing cases from the actual responses (they still count as
    /// failed in this run).
    #[arg(long)]
    update: bool,
    /// Let flows with `http_request` nodes call private, loopback and link-local addresses.
    #[arg(long)]
    allow_private_network: bool,
}

/// The result of one case.
struct Outcome {
    name: String,
    seconds: f64,
    /// Empty when the case passed.
    problems: Vec<String>,
}

/// The results of one flow's cases.
struct Suite {
    flow: String,
    outcomes: Vec<Outcome>,
}

pub fn main(args: Args) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hookflow test: {message}");
            exit::COULD_NOT_RUN
        }
    }
}

fn run(args: Args) -> Result<u8, String> {
    let paths =
        if args.paths.is_empty() { vec![PathBuf::from("flows")] } else { args.paths.clone() };
    let (sources, unreadable) = read_sources(&paths);
    if !unreadable.is_empty() {
        return Err(render_all(&unreadable).trim_end().to_owned());
    }
    if sources.is_empty() {
        return Err("no flow files found".into());
    }
    let set = compile_all(&sources);
    if set.has_errors() {
        return Err(format!("the flows have errors:\n{}", render_all(&set.diagnostics)));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let offline: Arc<dyn HttpClient> = Arc::new(NoNetwork);
    let mut network = None;
    let mut out = String::new();
    let mut suites = Vec::new();
    for plan in &set.plans {
        let http = if plan.calls_out() {
            match &network {
                Some(http) => http,
                None => network.insert(
                    super::http_client(args.allow_private_network).map_err(|e| e.to_string())?,
                ),
            }
        } else {
            &offline
        };
        let suite = runtime.block_on(run_flow(plan, &args, http, &mut out))?;
        if !suite.outcomes.is_empty() {
            suites.push(suite);
        }
    }
    let total: usize = suites.iter().map(|s| s.outcomes.len()).sum();
    let failed: usize =
        suites.iter().flat_map(|s| &s.outcomes).filter(|o| !o.problems.is_empty()).count();
    let _ = writeln!(out, "{} passed, {failed} failed", total - failed);
    print(&out);
    if let Some(file) = &args.junit {
        std::fs::write(file, junit(&suites))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    if total == 0 {
        return Err(match &args.filter {
            Some(f) => format!("no case matches --filter `{f}`"),
            None => "no cases to run".into(),
        });
    }
    Ok(if failed == 0 { exit::OK } else { exit::FLOW_ERRORS })
}

/// Runs the selected cases of `plan` (or its sample), appending the report to `out`.
async fn run_flow(
    plan: &Plan,
    args: &Args,
    http: &Arc<dyn HttpClient>,
    out: &mut String,
) -> Result<Suite, String> {
    let selected = |name: &str| args.filter.as_deref().is_none_or(|f| name.contains(f));
    let mut suite = Suite { flow: plan.id.clone(), outcomes: Vec::new() };
    let path = cases::cases_path(Path::new(&plan.file), &plan.id);
    if !path.exists() {
        if !selected(SAMPLE_CASE) {
            return Ok(suite);
        }
        let _ = writeln!(out, "flow {} (no cases file: ran its `expected` sample)", plan.id);
        let started = Instant::now();
        // Its expectations are not checked: see `sample_problems`.
        let sample: Case = cases::sample_case(SAMPLE_CASE, &placeholder());
        let problems = match run_case(plan, &sample, Path::new("."), http).await {
            Ok(actual) => sample_problems(&actual),
            Err(e) => vec![e],
        };
        report(out, SAMPLE_CASE, &problems);
        suite.outcomes.push(Outcome {
            name: SAMPLE_CASE.into(),
            seconds: started.elapsed().as_secs_f64(),
            problems,
        });
        return Ok(suite);
    }
    let mut file: CasesFile = cases::read(&path)?;
    if file.flow != plan.id {
        return Err(format!(
            "{}: `flow` is `{}`, but the file is beside flow `{}`",
            path.display(),
            file.flow,
            plan.id
        ));
    }
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut updated = 0;
    let mut header = false;
    for case in file.cases.iter_mut().filter(|c| selected(&c.name)) {
        if !header {
            let _ = writeln!(out, "flow {} ({})", plan.id, path.display());
            header = true;
        }
        let started = Instant::now();
        let problems = match run_case(plan, case, &base, http).await {
            Ok(actual) => {
                let mismatches = cases::check(&case.expect, &actual);
                if args.update && !mismatches.is_empty() {
                    cases::update(&mut case.expect, &actual);
                    updated += 1;
                }
                describe(&mismatches, &actual)
            }
            Err(e) => vec![e],
        };
        report(out, &case.name, &problems);
        suite.outcomes.push(Outcome {
            name: case.name.clone(),
            seconds: started.elapsed().as_secs_f64(),
            problems,
        });
    }
    if updated > 0 {
        cases_file::write(&path, &file)?;
        let _ = writeln!(out, "  updated {updated} case(s) in {}", path.display());
    }
    Ok(suite)
}

/// A sample case without expectations passes when the flow answered without failing (< 500).
/// Runs a case offline; a call the server would refuse (`401`, `413`) gets the server's answer.
pub async fn run_case(
    plan: &Plan,
    case: &Case,
    base: &Path,
    http: &Arc<dyn HttpClient>,
) -> Result<Actual, String> {
    Ok(match cases::run(plan, case, base, http).await? {
        Ok(actual) => actual,
        Err(refusal) => {
            let id = case.execution_id.as_deref().unwrap_or(cases::DEFAULT_EXECUTION_ID);
            Actual::refused(&hookflow_server::refused(refusal, plan, id))
        }
    })
}

fn sample_problems(actual: &Actual) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(failure) = &actual.failure {
        problems.push(format!("the flow failed at {failure}"));
    }
    if actual.status >= 500 {
        problems.push(format!("status: expected < 500, actual {}", actual.status));
    }
    problems
}

/// An expectation-free placeholder, filled in by `sample_case`.
fn placeholder() -> Actual {
    Actual {
        status: 0,
        headers: Vec::new(),
        body: json!(null),
        responded_by: None,
        nodes_ran: Vec::new(),
        failure: None,
        stored: Vec::new(),
        emitted: Vec::new(),
    }
}

/// The mismatches as report lines, and the failing node when the flow failed.
fn describe(mismatches: &[Mismatch], actual: &Actual) -> Vec<String> {
    let mut lines: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    if !lines.is_empty()
        && let Some(failure) = &actual.failure
    {
        lines.push(format!("(the flow failed at {failure})"));
    }
    lines
}

fn report(out: &mut String, name: &str, problems: &[String]) {
    if problems.is_empty() {
        let _ = writeln!(out, "  pass  {name}");
        return;
    }
    let _ = writeln!(out, "  FAIL  {name}");
    for p in problems {
        let _ = writeln!(out, "        {p}");
    }
}

/// The results as JUnit XML: `testsuites` > `testsuite` (one per flow) > `testcase` (> `failure`).
fn junit(suites: &[Suite]) -> String {
    let count = |s: &Suite| s.outcomes.iter().filter(|o| !o.problems.is_empty()).count();
    let tests: usize = suites.iter().map(|s| s.outcomes.len()).sum();
    let failures: usize = suites.iter().map(count).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ =
        writeln!(xml, "<testsuites name=\"hookflow\" tests=\"{tests}\" failures=\"{failures}\">");
    for suite in suites {
        let time: f64 = suite.outcomes.iter().map(|o| o.seconds).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{time:.6}\">",
            escape(&suite.flow),
            suite.outcomes.len(),
            count(suite)
        );
        for o in &suite.outcomes {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.6}\"",
                escape(&o.name),
                escape(&suite.flow),
                o.seconds
            );
            match o.problems.first() {
                None => {
                    let _ = writeln!(xml, "{open}/>");
                }
                Some(first) => {
                    let _ = writeln!(
                        xml,
                        "{open}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(first),
                        escape(&o.problems.join("\n")).replace("&#10;", "\n")
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

//! The example flows in `flows/`: each compiles with zero diagnostics, and each case of its
//! `<flow-id>.cases.json` runs offline and gets the expected response (the same matching as
//! `hookflow test`).

use std::path::Path;
use std::sync::Arc;

use hookflow_core::cases::{self, Actual, check};
use hookflow_core::services::{HttpClient, NoNetwork};
use hookflow_core::{compile_all, read_sources};

use crate::root;

#[test]
fn example_flows_compile_cleanly() {
    let (sources, unreadable) = read_sources(&[root().join("flows")]);
    assert!(unreadable.is_empty(), "{unreadable:?}");
    let set = compile_all(&sources);
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
    assert_eq!(set.plans.len(), sources.len());
}

#[tokio::test]
async fn example_cases_pass() {
    let (sources, _) = read_sources(&[root().join("flows")]);
    let set = compile_all(&sources);
    let http: Arc<dyn HttpClient> = Arc::new(NoNetwork);
    let mut ran = 0;
    for plan in &set.plans {
        assert!(!plan.calls_out(), "{} calls out: the examples run without a network", plan.id);
        let path = cases::cases_path(Path::new(&plan.file), &plan.id);
        let file = cases::read(&path).unwrap_or_else(|e| panic!("{} has no cases: {e}", plan.id));
        assert_eq!(file.flow, plan.id);
        assert_eq!(file.schema.as_deref(), Some("../schemas/cases.schema.json"));
        assert!(!file.cases.is_empty());
        let base = path.parent().expect("a directory");
        for case in &file.cases {
            let actual = match cases::run(plan, case, base, &http)
                .await
                .unwrap_or_else(|e| panic!("{} / {}: {e}", plan.id, case.name))
            {
                Ok(actual) => actual,
                Err(refusal) => {
                    let id = case.execution_id.as_deref().unwrap_or(cases::DEFAULT_EXECUTION_ID);
                    Actual::refused(&hookflow_server::refused(refusal, plan, id))
                }
            };
            let mismatches = check(&case.expect, &actual);
            assert!(
                mismatches.is_empty(),
                "{} / {}:\n{}\n{actual:?}",
                plan.id,
                case.name,
                mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} cases");
}

#[test]
fn the_benchmark_flows_compile_cleanly() {
    let (sources, unreadable) = read_sources(&[root().join("bench/flows-accepted")]);
    assert!(unreadable.is_empty() && !sources.is_empty(), "{unreadable:?}");
    let set = compile_all(&sources);
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
}

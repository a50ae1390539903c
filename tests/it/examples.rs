//! The example flows in `flows/`: each compiles with zero diagnostics, and each case of its
//! `<flow-id>.cases.json` runs offline and gets the expected response.

use std::sync::Arc;

use hookflow_core::offline::{self, SampleBody, SampleRequest};
use hookflow_core::{Body, compile_all, read_sources};
use serde_json::Value;

use hookflow_core::services::{BoxFuture, HttpCall, HttpClient, HttpError, HttpReply, Services};

use crate::cases::{Case, CasesFile};
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
    let mut ran = 0;
    for plan in &set.plans {
        let path = root().join(format!("flows/{}.cases.json", plan.id));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} has no cases file", plan.id));
        let file: CasesFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(file.flow, plan.id);
        assert!(!file.cases.is_empty());
        for case in file.cases {
            check_case(plan, case).await;
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} cases");
}

async fn check_case(plan: &Arc<hookflow_core::Plan>, case: Case) {
    let sample = SampleRequest {
        method: case.request.method,
        path: case.request.path,
        query: case.request.query,
        headers: case.request.headers,
        body: case.request.body.map(SampleBody::Json),
    };
    let id = case.execution_id.unwrap_or_else(|| "test-execution".into());
    let services = Services { http: Arc::new(NoNetwork) };
    let execution = offline::run(plan, sample, id, &services)
        .await
        .unwrap_or_else(|e| panic!("{} / {}: {e}", plan.id, case.name));
    let r = &execution.response;
    let what = format!("{} / {}: {:?} {:?}", plan.id, case.name, r, execution.failure);
    assert_eq!(r.status, case.expect.status, "{what}");
    for (k, v) in &case.expect.headers {
        assert_eq!(r.header(k), v.as_str(), "header {k} of {what}");
    }
    if let Some(body) = &case.expect.body {
        let actual = match &r.body {
            Body::Empty => Value::Null,
            Body::Json(v) => v.clone(),
            Body::Text(t) => Value::String(t.clone()),
        };
        assert_eq!(&actual, body, "{what}");
    }
    if let Some(by) = &case.expect.responded_by {
        assert_eq!(execution.responded_by.as_ref(), Some(by), "{what}");
    }
}

/// The example flows make no outbound call; one that tried would fail its case.
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn send(&self, call: HttpCall) -> BoxFuture<Result<HttpReply, HttpError>> {
        Box::pin(
            async move { Err(HttpError::Refused(format!("no network in cases: {}", call.url))) },
        )
    }
}

#[test]
fn the_benchmark_flows_compile_cleanly() {
    let (sources, unreadable) = read_sources(&[root().join("bench/flows-accepted")]);
    assert!(unreadable.is_empty() && !sources.is_empty(), "{unreadable:?}");
    let set = compile_all(&sources);
    assert!(set.diagnostics.is_empty(), "{:#?}", set.diagnostics);
}

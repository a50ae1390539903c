//! Prometheus metrics: the process-wide recorder behind the `metrics` facade (so that any crate
//! can emit through `metrics::counter!`), the handles every deployed route resolves once, and the
//! text `GET /metrics` serves.
//!
//! A webhook request never reaches the registry: the deploy resolves each flow's histogram, and a
//! route's counter for a status is resolved the first time the route answers with it, then kept
//! in a lock-free table. Counting a request is two atomic operations.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use hookflow_core::Plan;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};

/// Calls answered by the webhook listener, by `flow`, `route` and `status`.
pub const REQUESTS: &str = "hookflow_requests_total";
/// Seconds from receiving a call to its answer, by `flow`.
pub const DURATION: &str = "hookflow_execution_duration_seconds";
/// Flow reloads, by `outcome`.
pub const RELOADS: &str = "hookflow_reloads_total";
pub use hookflow_runtime::store_errors::{STORE_ERRORS, store_error};

/// The upper bounds of the duration histogram's buckets, in seconds: flows cost microseconds,
/// calls out and deadlines reach tens of seconds.
const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus content type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The installed recorder's handle, for rendering.
static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot build the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
    #[error("another metrics recorder is installed in this process")]
    AlreadyInstalled,
}

/// The recorder, with the duration histogram rendered as a Prometheus histogram (not a summary).
fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &BUCKETS)?
        .build_recorder())
}

/// The `HELP` text of every metric hookflow emits.
fn describe() {
    metrics::describe_counter!(REQUESTS, "Calls answered by the webhook listener.");
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Seconds from receiving a webhook call to its answer."
    );
    metrics::describe_counter!(RELOADS, "Flow reloads, by outcome.");
    metrics::describe_counter!(STORE_ERRORS, "Failed store calls, by operation.");
}

/// Installs the process-wide recorder and starts its upkeep on the current runtime. Call it
/// before the first deploy: handles resolved earlier count nothing.
pub fn install() -> Result<(), MetricsError> {
    let recorder = recorder()?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    describe();
    let upkeep = handle.clone();
    // Only this function sets it, and only after installing the global recorder, which succeeds once.
    let _ = HANDLE.set(handle);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(())
}

/// `GET /metrics`: every metric in the Prometheus text format (empty before [`install`]).
pub async fn serve() -> impl IntoResponse {
    let text = HANDLE.get().map(|handle| handle.render()).unwrap_or_default();
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

/// What one route counts: its answers by status, and how long they took.
#[derive(Debug)]
pub struct RouteMetrics {
    flow: String,
    route: String,
    duration: Option<Histogram>,
    /// Counters by status class (1xx to 9xx), then by the last two digits; each resolved the first
    /// time the route answers with that status.
    statuses: [OnceLock<Box<[OnceLock<Counter>; 100]>>; 9],
}

impl RouteMetrics {
    fn new(flow: &str, route: &str, timed: bool) -> RouteMetrics {
        RouteMetrics {
            flow: flow.to_owned(),
            route: route.to_owned(),
            duration: timed.then(|| metrics::histogram!(DURATION, "flow" => flow.to_owned())),
            statuses: Default::default(),
        }
    }

    /// Counts one answer with `status` that took `elapsed`.
    pub fn observe(&self, status: StatusCode, elapsed: Duration) {
        if let Some(duration) = &self.duration {
            duration.record(elapsed);
        }
        self.counter(status).increment(1);
    }

    fn counter(&self, status: StatusCode) -> &Counter {
        // A `StatusCode` is 100 to 999.
        let code = status.as_u16();
        let class = self.statuses[usize::from(code / 100 - 1)]
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        class[usize::from(code % 100)].get_or_init(|| {
            metrics::counter!(
                REQUESTS,
                "flow" => self.flow.clone(),
                "route" => self.route.clone(),
                "status" => code.to_string()
            )
        })
    }
}

/// The metrics of every deployed route, resolved when the flows are deployed.
#[derive(Debug)]
pub struct DeployedMetrics {
    /// Each flow's route, sorted by flow id.
    flows: Vec<(String, Arc<RouteMetrics>)>,
    /// Calls that no flow took: unknown URLs, other methods, preflights (`flow=""`, `route=""`).
    pub unrouted: Arc<RouteMetrics>,
    /// Status checks, `GET /hooks/_executions/{id}` (`flow=""`).
    pub status_checks: Arc<RouteMetrics>,
}

impl DeployedMetrics {
    /// Resolves the handles of every plan's route.
    pub fn resolve(plans: &[Arc<Plan>]) -> DeployedMetrics {
        let mut flows: Vec<(String, Arc<RouteMetrics>)> = plans
            .iter()
            .map(|plan| {
                let route = RouteMetrics::new(&plan.id, &plan.trigger().route, true);
                (plan.id.clone(), Arc::new(route))
            })
            .collect();
        flows.sort_by(|a, b| a.0.cmp(&b.0));
        DeployedMetrics {
            flows,
            unrouted: Arc::new(RouteMetrics::new("", "", false)),
            status_checks: Arc::new(RouteMetrics::new("", "GET /_executions/{id}", false)),
        }
    }

    /// The metrics of `plan`'s route (a binary search, no hashing and no lock).
    pub fn route(&self, plan: &Plan) -> Arc<RouteMetrics> {
        match self.flows.binary_search_by(|(id, _)| id.as_str().cmp(&plan.id)) {
            Ok(i) => self.flows[i].1.clone(),
            Err(_) => self.unrouted.clone(),
        }
    }
}

impl Default for DeployedMetrics {
    fn default() -> Self {
        DeployedMetrics::resolve(&[])
    }
}

#[cfg(test)]
mod tests {
    use hookflow_core::{Source, compile};

    use super::*;

    fn plan(id: &str, suffix: &str) -> Arc<Plan> {
        let text = format!(
            r#"{{ "id": "{id}", "name": "{id}", "nodes": [ {{ "id": "hook", "type": "webhook",
                "suffix": "{suffix}", "methods": ["POST", "PUT"], "auth": {{ "type": "none" }} }} ] }}"#
        );
        let compiled = compile(&Source { file: format!("{id}.json"), text });
        Arc::new(compiled.plan.expect("the flow compiles"))
    }

    /// The value of the sample `name{labels}` in `text`.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let prefix = format!("{name}{{{labels}}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok())
    }

    #[test]
    fn routes_count_by_status_and_time_their_answers() {
        let recorder = recorder().unwrap();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            let (orders, refunds) = (plan("orders", "/orders/{id}"), plan("refunds", "/refunds"));
            let deployed = DeployedMetrics::resolve(&[refunds.clone(), orders.clone()]);
            let elapsed = Duration::from_micros(300);
            for status in [201, 201, 422, 999] {
                let status = StatusCode::from_u16(status).unwrap();
                deployed.route(&orders).observe(status, elapsed);
            }
            deployed.route(&refunds).observe(StatusCode::OK, Duration::from_secs(3));
            deployed.unrouted.observe(StatusCode::NOT_FOUND, elapsed);
            deployed.status_checks.observe(StatusCode::OK, elapsed);
            // A plan that is not deployed counts as unrouted.
            deployed.route(&plan("gone", "/gone")).observe(StatusCode::NOT_FOUND, elapsed);

            // A redeploy resolves the same series again: counts go on.
            let redeployed = DeployedMetrics::resolve(std::slice::from_ref(&orders));
            redeployed.route(&orders).observe(StatusCode::CREATED, elapsed);
            metrics::counter!(RELOADS, "outcome" => "ok").increment(1);
            store_error("read_execution");
        });
        let text = handle.render();
        let orders = r#"flow="orders",route="POST,PUT /orders/{id}""#;
        assert_eq!(sample(&text, REQUESTS, &format!(r#"{orders},status="201""#)), Some(3.0));
        assert_eq!(sample(&text, REQUESTS, &format!(r#"{orders},status="422""#)), Some(1.0));
        assert_eq!(sample(&text, REQUESTS, &format!(r#"{orders},status="999""#)), Some(1.0));
        let refunds = r#"flow="refunds",route="POST,PUT /refunds",status="200""#;
        assert_eq!(sample(&text, REQUESTS, refunds), Some(1.0));
        let unrouted = r#"flow="",route="",status="404""#;
        assert_eq!(sample(&text, REQUESTS, unrouted), Some(2.0));
        let checks = r#"flow="",route="GET /_executions/{id}",status="200""#;
        assert_eq!(sample(&text, REQUESTS, checks), Some(1.0));

        let count = format!("{DURATION}_count");
        assert_eq!(sample(&text, &count, r#"flow="orders""#), Some(5.0));
        assert_eq!(sample(&text, &count, r#"flow="refunds""#), Some(1.0));
        let bucket = format!("{DURATION}_bucket");
        assert_eq!(sample(&text, &bucket, r#"flow="orders",le="0.0005""#), Some(5.0));
        assert_eq!(sample(&text, &bucket, r#"flow="refunds",le="2.5""#), Some(0.0));
        assert_eq!(sample(&text, &bucket, r#"flow="refunds",le="+Inf""#), Some(1.0));
        assert_eq!(sample(&text, &count, r#"flow="""#), None, "no execution, no duration");

        assert_eq!(sample(&text, RELOADS, r#"outcome="ok""#), Some(1.0));
        assert_eq!(sample(&text, STORE_ERRORS, r#"operation="read_execution""#), Some(1.0));
        for name in [REQUESTS, DURATION, RELOADS, STORE_ERRORS] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        assert!(text.contains(&format!("# TYPE {DURATION} histogram")), "{text}");
    }
}

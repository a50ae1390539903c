//! The metrics hookflow emits through the `metrics` facade (whichever recorder the process
//! installed; none: nothing is counted), and the handles every deployed flow resolves once.
//!
//! A webhook request never reaches the registry: the deploy resolves each flow's histogram and
//! execution counters, and a route's counter for a status is resolved the first time the route
//! answers with it, then kept in a lock-free table. Counting a request is two atomic operations.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookflow_core::Plan;
use hookflow_core::execute::Status;
use http::StatusCode;
use metrics::{Counter, Histogram};

/// Calls answered by the webhook listener, by `flow`, `route` and `status`.
pub const REQUESTS: &str = "hookflow_requests_total";
/// Seconds from receiving a call to its answer, by `flow`.
pub const DURATION: &str = "hookflow_execution_duration_seconds";
/// Executions that finished, by `flow` and `status` (`succeeded`, `failed`), however they
/// started: a call answered by its flow, an `accepted` call run later, a replay.
pub const EXECUTIONS: &str = "hookflow_executions_total";
/// Flow reloads, by `outcome`.
pub const RELOADS: &str = "hookflow_reloads_total";
/// Outbound deliveries that ended, by `event` and `outcome` (`succeeded`, `failed`).
pub const DELIVERIES: &str = "hookflow_deliveries_total";
/// Attempts at sending a delivery, by `outcome` (`success`, `retry`, `failed`, `error`).
pub const DELIVERY_ATTEMPTS: &str = "hookflow_delivery_attempts_total";
/// Deliveries waiting to be sent (held ones included), as the worker last counted them.
pub const DELIVERY_QUEUE_DEPTH: &str = "hookflow_delivery_queue_depth";
/// Seconds from queueing a delivery to the end of its successful attempt.
pub const DELIVERY_LATENCY: &str = "hookflow_delivery_latency_seconds";
/// Events dropped, by `event`, because too many waited for the store already.
pub const EVENTS_DROPPED: &str = "hookflow_events_dropped_total";
pub use crate::store_errors::STORE_ERRORS;

/// The `HELP` text of every metric hookflow emits.
pub fn describe() {
    metrics::describe_counter!(REQUESTS, "Calls answered by the webhook listener.");
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Seconds from receiving a webhook call to its answer."
    );
    metrics::describe_counter!(EXECUTIONS, "Executions that finished, by flow and status.");
    metrics::describe_counter!(RELOADS, "Flow reloads, by outcome.");
    metrics::describe_counter!(STORE_ERRORS, "Failed store calls, by operation.");
    metrics::describe_counter!(DELIVERIES, "Outbound deliveries that ended, by event and outcome.");
    metrics::describe_counter!(DELIVERY_ATTEMPTS, "Attempts at sending a delivery, by outcome.");
    metrics::describe_counter!(
        EVENTS_DROPPED,
        "Events dropped because too many waited for the store already, by event."
    );
    metrics::describe_gauge!(
        DELIVERY_QUEUE_DEPTH,
        "Outbound deliveries waiting to be sent, held ones included."
    );
    metrics::describe_histogram!(
        DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "Seconds from queueing an outbound delivery to its successful attempt."
    );
}

/// What one route counts: its answers by status, how long they took, and how its flow's
/// executions ended.
#[derive(Debug)]
pub struct RouteMetrics {
    flow: String,
    route: String,
    duration: Option<Histogram>,
    /// Counters by status class (1xx to 9xx), then by the last two digits; each resolved the first
    /// time the route answers with that status.
    statuses: [OnceLock<Box<[OnceLock<Counter>; 100]>>; 9],
    /// Executions succeeded and failed; each resolved the first time one ends so.
    executions: [OnceLock<Counter>; 2],
}

impl RouteMetrics {
    fn new(flow: &str, route: &str, timed: bool) -> RouteMetrics {
        RouteMetrics {
            flow: flow.to_owned(),
            route: route.to_owned(),
            duration: timed.then(|| metrics::histogram!(DURATION, "flow" => flow.to_owned())),
            statuses: Default::default(),
            executions: Default::default(),
        }
    }

    /// Counts an execution of the route's flow that ended with `status`.
    pub fn finished(&self, status: Status) {
        let (i, label) = match status {
            Status::Succeeded => (0, "succeeded"),
            Status::Failed => (1, "failed"),
        };
        let counter = self.executions[i].get_or_init(
            || metrics::counter!(EXECUTIONS, "flow" => self.flow.clone(), "status" => label),
        );
        counter.increment(1);
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
                let route = RouteMetrics::new(&plan.id, plan.trigger().label(), true);
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

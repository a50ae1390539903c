//! Prometheus metrics: the process-wide recorder behind the `metrics` facade (so that any crate
//! can emit through `metrics::counter!`; what hookflow emits, and the handles each deploy
//! resolves, are in `hookflow_runtime::metrics`), and the text `GET /metrics` serves.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use hookflow_runtime::metrics::{DELIVERY_LATENCY, DURATION, describe};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};

/// The upper bounds of the duration histogram's buckets, in seconds: flows cost microseconds,
/// calls out and deadlines reach tens of seconds.
const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// The upper bounds of the delivery latency histogram's buckets, in seconds: a first attempt
/// takes milliseconds, the last retry comes hours later.
const DELIVERY_BUCKETS: [f64; 14] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0, 300.0, 900.0, 3_600.0, 14_400.0, 28_800.0];

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

/// The recorder, with the duration and delivery latency histograms rendered as Prometheus
/// histograms (not summaries).
fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(DELIVERY_LATENCY.to_owned()), &DELIVERY_BUCKETS)?
        .build_recorder())
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hookflow_core::execute::Status;
    use hookflow_core::{Plan, Source, compile};
    use hookflow_runtime::metrics::{DeployedMetrics, EXECUTIONS, RELOADS, REQUESTS, STORE_ERRORS};
    use hookflow_runtime::store_errors::store_error;

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
            deployed.route(&orders).finished(Status::Succeeded);
            deployed.route(&orders).finished(Status::Failed);
            deployed.route(&orders).finished(Status::Failed);
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

        let executions = |status: &str| format!(r#"flow="orders",status="{status}""#);
        assert_eq!(sample(&text, EXECUTIONS, &executions("succeeded")), Some(1.0));
        assert_eq!(sample(&text, EXECUTIONS, &executions("failed")), Some(2.0));
        assert_eq!(sample(&text, EXECUTIONS, r#"flow="refunds",status="succeeded""#), None);
        assert_eq!(sample(&text, RELOADS, r#"outcome="ok""#), Some(1.0));
        assert_eq!(sample(&text, STORE_ERRORS, r#"operation="read_execution""#), Some(1.0));
        for name in [REQUESTS, DURATION, EXECUTIONS, RELOADS, STORE_ERRORS] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        assert!(text.contains(&format!("# TYPE {DURATION} histogram")), "{text}");
    }
}

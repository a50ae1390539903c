//! The `accepted` response mode: calls already persisted as `queued` wait here for a bounded pool
//! of workers. A full queue is the caller's `503`; on start-up, calls left queued or running by a
//! stop or a crash are queued again.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookflow_core::services::Services;
use hookflow_core::{ExecutionMeta, Plan, execute};
use hookflow_store::{ExecutionRecord, ExecutionStatus, RecordedError};
use tokio::sync::{Semaphore, mpsc};

use crate::history::History;
use crate::rebuild::rebuild;
use crate::record;

/// A persisted call and the flow that runs it.
#[derive(Debug)]
pub struct Job {
    pub record: ExecutionRecord,
    pub plan: Arc<Plan>,
}

/// The queue's sending side.
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::Sender<Job>,
}

/// A place in the queue, taken before the call is persisted so that a full queue refuses the
/// call before anything is promised.
pub type Slot<'a> = mpsc::Permit<'a, Job>;

impl Queue {
    /// Starts `workers` workers over a queue of `capacity` calls, on the current runtime.
    pub fn start(
        workers: usize,
        capacity: usize,
        history: Arc<History>,
        services: Services,
    ) -> Queue {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(dispatch(rx, Arc::new(Semaphore::new(workers.max(1))), history, services));
        Queue { tx }
    }

    /// A place in the queue, or `None` when it is full.
    pub fn try_reserve(&self) -> Option<Slot<'_>> {
        self.tx.try_reserve().ok()
    }

    /// Queues `job`, waiting for a place.
    pub async fn send(&self, job: Job) {
        if self.tx.send(job).await.is_err() {
            tracing::error!("the queue's workers have stopped");
        }
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<Job>,
    workers: Arc<Semaphore>,
    history: Arc<History>,
    services: Services,
) {
    while let Some(job) = rx.recv().await {
        let Ok(permit) = workers.clone().acquire_owned().await else { return };
        let (history, services) = (history.clone(), services.clone());
        tokio::spawn(async move {
            run(job, &history, &services).await;
            drop(permit);
        });
    }
}

/// Runs one queued call and records each step: `running`, then how it ended.
async fn run(job: Job, history: &History, services: &Services) {
    let Job { mut record, plan } = job;
    let started_at = SystemTime::now();
    record.status = ExecutionStatus::Running;
    record.started_at_ms = Some(record::millis(started_at));
    history.record(record.clone()).await;
    let received_at =
        UNIX_EPOCH + Duration::from_millis(record.received_at_ms.max(0).unsigned_abs());
    let request = match rebuild(&record.request, &plan, received_at) {
        Ok(request) => request,
        Err(e) => {
            fail(&mut record, e.to_string());
            history.record(record).await;
            return;
        }
    };
    let meta = ExecutionMeta {
        id: record.id.clone(),
        flow_id: plan.id.clone(),
        flow_version: plan.version.clone(),
        credential: record.credential.clone(),
    };
    let execution = execute(&plan, request, meta, services).await;
    let limits = history.limits();
    let response = record::response(&execution.response, limits.body_bytes);
    let times = (started_at, SystemTime::now());
    record::complete(&mut record, &plan, &execution, response, times, limits);
    history.record(record).await;
}

fn fail(record: &mut ExecutionRecord, message: String) {
    record.status = ExecutionStatus::Failed;
    record.finished_at_ms = Some(record::millis(SystemTime::now()));
    record.error = Some(RecordedError { node: None, message });
}

/// Queues again every call a previous process left `queued` or `running`, on the current version
/// of its flow; a call whose flow is gone is recorded as failed. Answers how many were queued.
pub async fn recover(
    queue: &Queue,
    history: &History,
    find_plan: impl Fn(&str) -> Option<Arc<Plan>>,
) -> Result<usize, hookflow_store::StoreError> {
    let store = history.store().clone();
    let unfinished = tokio::task::spawn_blocking(move || store.unfinished_executions())
        .await
        .map_err(|e| hookflow_store::StoreError::Backend {
            store: "queue".into(),
            operation: "recover".into(),
            cause: e.to_string(),
        })??;
    let mut queued = 0;
    for mut record in unfinished {
        match record.flow_id.as_deref().and_then(&find_plan) {
            Some(plan) => {
                queue.send(Job { record, plan }).await;
                queued += 1;
            }
            None => {
                let flow = record.flow_id.clone().unwrap_or_default();
                fail(&mut record, format!("flow `{flow}` is not deployed any more"));
                history.record(record).await;
            }
        }
    }
    Ok(queued)
}

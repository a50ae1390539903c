//! The `accepted` response mode: calls already persisted as `queued` wait here for a bounded pool
//! of workers, which run them through the engine's one run path. A full queue is the caller's
//! `503`; on start-up, calls left queued or running by a stop or a crash are queued again.

use std::sync::{Arc, Weak};

use hookflow_core::Plan;
use hookflow_store::{ExecutionRecord, StoreError};
use tokio::sync::{Semaphore, mpsc};

use crate::engine::Engine;

/// A persisted call and the flow that runs it.
#[derive(Debug)]
pub(crate) struct Job {
    pub record: ExecutionRecord,
    pub plan: Arc<Plan>,
}

/// The queue's sending side.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    tx: mpsc::Sender<Job>,
}

/// A place in the queue, taken before the call is persisted so that a full queue refuses the
/// call before anything is promised.
pub(crate) type Slot<'a> = mpsc::Permit<'a, Job>;

impl Queue {
    /// Starts `workers` workers over a queue of `capacity` calls for `engine`, on the current
    /// runtime.
    pub fn start(workers: usize, capacity: usize, engine: Weak<Engine>) -> Queue {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(dispatch(rx, Arc::new(Semaphore::new(workers.max(1))), engine));
        Queue { tx }
    }

    /// A place in the queue, or `None` when it is full.
    pub fn try_reserve(&self) -> Option<Slot<'_>> {
        self.tx.try_reserve().ok()
    }

    /// Queues `job`, waiting for a place.
    pub(crate) async fn send(&self, job: Job) {
        if self.tx.send(job).await.is_err() {
            tracing::error!("the queue's workers have stopped");
        }
    }
}

/// Hands each job to a worker as one comes free. The engine holds the queue, so the
/// dispatcher reaches it per job.
async fn dispatch(mut rx: mpsc::Receiver<Job>, workers: Arc<Semaphore>, engine: Weak<Engine>) {
    while let Some(job) = rx.recv().await {
        let Ok(permit) = workers.clone().acquire_owned().await else { return };
        let Some(engine) = engine.upgrade() else { return };
        tokio::spawn(async move {
            engine.run_queued(job).await;
            drop(permit);
        });
    }
}

/// Queues again every call a previous process left `queued` or `running`, on the current version
/// of its flow; a call whose flow is gone is recorded as failed. Answers how many were queued.
pub(crate) async fn recover(engine: &Engine) -> Result<usize, StoreError> {
    let store = engine.store().clone();
    let unfinished = tokio::task::spawn_blocking(move || store.unfinished_executions())
        .await
        .map_err(|e| StoreError::Backend {
            store: "queue".into(),
            operation: "recover".into(),
            cause: e.to_string(),
        })??;
    let mut queued = 0;
    for record in unfinished {
        match record.flow_id.as_deref().and_then(|id| engine.plan(id)) {
            Some(plan) => {
                engine.queue.send(Job { record, plan }).await;
                queued += 1;
            }
            None => {
                let flow = record.flow_id.clone().unwrap_or_default();
                engine.fail(record, format!("flow `{flow}` is not deployed any more")).await;
            }
        }
    }
    Ok(queued)
}

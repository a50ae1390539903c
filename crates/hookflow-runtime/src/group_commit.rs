//! Group commit: writes handed over by concurrent callers are stored together — all of those
//! waiting at a moment in one store call, so one commit — and each caller hears the outcome
//! (with its own result, for a store call that answers one per write). The history's durable
//! writes (`accepted` calls), the records of `store` nodes and the events of `emit` nodes go
//! through writers whose every write is durable; the deliveries (new ones and the attempts' outcomes) through a paced one (see [`Pace`]): its
//! writes are visible when they return and durable within a tick.

use std::sync::Arc;

use hookflow_store::{Durability, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::pace::{self, Pace, STEP};

/// How the writer's errors name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names {
    pub store: &'static str,
    pub operation: &'static str,
    /// The cause of the error a write gets once the writer has stopped.
    pub stopped: &'static str,
}

impl Names {
    fn error(self, cause: String) -> StoreError {
        StoreError::Backend { store: self.store.into(), operation: self.operation.into(), cause }
    }
}

/// When a writer's writes are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncPolicy {
    /// When the write returns.
    EveryWrite,
    /// Within a tick: the writes in between are deferred and one sync makes them durable; and
    /// at most one write per step.
    Paced,
}

/// A write, and where its caller waits for the outcome.
type Waiting<T, R> = (T, oneshot::Sender<Result<R, String>>);

/// How a writer stores a batch: one result per write, in order.
type WriteFn<T, R> = fn(&dyn Store, Vec<T>, Durability) -> Result<Vec<R>, StoreError>;

/// The handle of a group-commit writer task; the task ends when the handle is dropped.
pub(crate) struct GroupCommit<T, R = ()> {
    tx: mpsc::UnboundedSender<Waiting<T, R>>,
    names: Names,
}

/// The results of a store call that answers nothing per write: one `()` for each.
pub(crate) fn each<T>(items: &[T]) -> Vec<()> {
    vec![(); items.len()]
}

impl<T: Send + 'static, R: Clone + Send + 'static> GroupCommit<T, R> {
    /// Starts the writer on the current runtime: it stores up to `batch` waiting writes at a
    /// time with `write`, on the blocking pool, synced as `sync` says.
    pub fn start(
        store: Arc<dyn Store>,
        batch: usize,
        names: Names,
        sync: SyncPolicy,
        write: WriteFn<T, R>,
    ) -> GroupCommit<T, R> {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer { store, batch: batch.max(1), names, sync, write };
        tokio::spawn(writer.run(rx));
        GroupCommit { tx, names }
    }

    /// Stores `item` with the other writes waiting at that moment; visible when this returns
    /// `Ok`, and durable then or within a tick (as the writer's [`SyncPolicy`] says).
    pub async fn write(&self, item: T) -> Result<R, StoreError> {
        let (done, outcome) = oneshot::channel();
        let stopped = || self.names.error(self.names.stopped.to_owned());
        self.tx.send((item, done)).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?.map_err(|cause| self.names.error(cause))
    }
}

struct Writer<T, R> {
    store: Arc<dyn Store>,
    batch: usize,
    names: Names,
    sync: SyncPolicy,
    write: WriteFn<T, R>,
}

impl<T: Send + 'static, R: Clone + Send + 'static> Writer<T, R> {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Waiting<T, R>>) {
        let mut waiting = Vec::with_capacity(self.batch);
        let mut pace = Pace::default();
        loop {
            let received = match pace.sync_due() {
                Some(due) => tokio::select! {
                    received = rx.recv_many(&mut waiting, self.batch) => received,
                    () = tokio::time::sleep_until(due) => {
                        self.flush(&mut pace).await;
                        continue;
                    }
                },
                None => rx.recv_many(&mut waiting, self.batch).await,
            };
            if received == 0 {
                break;
            }
            let started = Instant::now();
            self.store(&mut waiting, &mut pace, started).await;
            if self.sync == SyncPolicy::Paced && received < self.batch {
                tokio::time::sleep_until(started + STEP).await;
            }
        }
        if pace.sync_due().is_some() {
            self.flush(&mut pace).await;
        }
    }

    /// Stores the waiting writes in one call and tells each caller the outcome.
    async fn store(&self, waiting: &mut Vec<Waiting<T, R>>, pace: &mut Pace, started: Instant) {
        let (items, waiters): (Vec<T>, Vec<_>) = waiting.drain(..).unzip();
        let count = items.len();
        let (store, write) = (self.store.clone(), self.write);
        let durability = match self.sync {
            SyncPolicy::EveryWrite => Durability::Now,
            SyncPolicy::Paced => pace.durability(started, false),
        };
        let outcome =
            match tokio::task::spawn_blocking(move || write(&*store, items, durability)).await {
                Ok(Ok(results)) if results.len() == count => Ok(results),
                Ok(Ok(results)) => {
                    Err(format!("{count} writes answered with {} results", results.len()))
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(self.names.error(e.to_string()).to_string()),
            };
        match outcome {
            Ok(results) => {
                pace.written(durability, started);
                for (waiter, result) in waiters.into_iter().zip(results) {
                    let _ = waiter.send(Ok(result));
                }
            }
            Err(cause) => {
                for waiter in waiters {
                    let _ = waiter.send(Err(cause.clone()));
                }
            }
        }
    }

    /// Makes the deferred writes durable; a failure is retried a tick later.
    async fn flush(&self, pace: &mut Pace) {
        let what = format!("{}: syncing failed; retrying in a tick", self.names.store);
        pace::sync(self.store.clone(), pace, self.names.operation, &what).await;
    }
}

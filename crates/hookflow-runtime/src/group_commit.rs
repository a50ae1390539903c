//! Group commit: writes handed over by concurrent callers are stored together — all of those
//! waiting at a moment in one store call, so one durable commit — and each caller hears the
//! outcome. The history's durable writes (`accepted` calls) and the delivery worker's attempt
//! outcomes go through one each.

use std::sync::Arc;

use hookflow_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

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

/// A write, and where its caller waits for the outcome.
type Waiting<T> = (T, oneshot::Sender<Result<(), String>>);

/// The handle of a group-commit writer task; the task ends when the handle is dropped.
pub(crate) struct GroupCommit<T> {
    tx: mpsc::UnboundedSender<Waiting<T>>,
    names: Names,
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the writer on the current runtime: it stores up to `batch` waiting writes at a
    /// time with `write`, on the blocking pool.
    pub fn start(
        store: Arc<dyn Store>,
        batch: usize,
        names: Names,
        write: fn(&dyn Store, &[T]) -> Result<(), StoreError>,
    ) -> GroupCommit<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, store, batch.max(1), names, write));
        GroupCommit { tx, names }
    }

    /// Stores `item` with the other writes waiting at that moment; durable when this returns
    /// `Ok` (as durable as `write` makes it).
    pub async fn write(&self, item: T) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        let stopped = || self.names.error(self.names.stopped.to_owned());
        self.tx.send((item, done)).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?.map_err(|cause| self.names.error(cause))
    }
}

async fn run<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<Waiting<T>>,
    store: Arc<dyn Store>,
    batch: usize,
    names: Names,
    write: fn(&dyn Store, &[T]) -> Result<(), StoreError>,
) {
    let mut waiting = Vec::with_capacity(batch);
    while rx.recv_many(&mut waiting, batch).await > 0 {
        let (items, waiters): (Vec<T>, Vec<_>) = waiting.drain(..).unzip();
        let store = store.clone();
        let outcome = match tokio::task::spawn_blocking(move || write(&*store, &items)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(names.error(e.to_string()).to_string()),
        };
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

//! Execution history, written off the request path: a request that ran its flow encodes its
//! record where its data is (see [`record::finished`]) and hands the bytes to a channel; one
//! writer task stores what waits there in batches. Only a call answered `202` (`accepted` mode) is persisted before it is answered; those
//! durable writes go through a second task that commits every write waiting at that moment in
//! one transaction (group commit), so that concurrent callers share one sync to disk.
//!
//! The channel is bounded: when the writer falls that far behind, requests wait for room (the
//! store sets the pace) rather than memory growing without end. Rejected calls share the channel
//! under a budget of their own: when that many are waiting, or the channel is full, further ones
//! are counted and dropped, so a flood of bad calls cannot hold up good ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hookflow_core::Response;
use hookflow_core::execute::Execution;
use hookflow_store::{EncodedExecution, ExecutionRecord, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::record::{self, Call, Limits, Sent, Served};
use crate::store_errors::store_error;

/// Records per store write at most.
const BATCH: usize = 1024;
/// How long the writer sleeps when nothing waits for it.
const TICK: Duration = Duration::from_millis(10);
/// Messages that may wait for the writer.
const CHANNEL: usize = 4096;
/// Attempts at writing one batch before its records are given up (and logged).
const WRITE_ATTEMPTS: u32 = 5;

/// How history behaves.
#[derive(Debug, Clone, Copy)]
pub struct HistoryConfig {
    /// Whether finished and rejected calls are recorded at all (calls answered `202` always are).
    pub enabled: bool,
    pub limits: Limits,
    /// Rejected calls that may wait for the writer at once; more are dropped and counted.
    pub rejected_budget: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { enabled: true, limits: Limits::default(), rejected_budget: 1024 }
    }
}

enum Message {
    Encoded(EncodedExecution),
    Rejected(Box<Rejected>),
    Record(Box<ExecutionRecord>),
    Flush(oneshot::Sender<()>),
}

struct Rejected {
    call: Call,
    served: Option<Served>,
    answer: Response,
    message: String,
}

/// A record to store durably, and who waits for the outcome.
type Durable = (ExecutionRecord, oneshot::Sender<Result<(), StoreError>>);

/// The history writer's handle, shared by every request.
pub struct History {
    tx: mpsc::Sender<Message>,
    durable: mpsc::UnboundedSender<Durable>,
    store: Arc<dyn Store>,
    config: HistoryConfig,
    rejected_waiting: Arc<AtomicUsize>,
    rejected_dropped: AtomicU64,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("config", &self.config).finish_non_exhaustive()
    }
}

impl History {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: HistoryConfig) -> Arc<History> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (durable, durable_rx) = mpsc::unbounded_channel();
        let rejected_waiting = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write(rx, store.clone(), config.limits, rejected_waiting.clone()));
        tokio::spawn(commit(durable_rx, store.clone()));
        Arc::new(History {
            tx,
            durable,
            store,
            config,
            rejected_waiting,
            rejected_dropped: AtomicU64::new(0),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// Whether finished and rejected calls are recorded.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Records a call that a flow ran to its end, with the response it produced: encoded now,
    /// written soon, in a batch. `new`: no record of this call was stored before.
    pub async fn finished(
        &self,
        (call, served): (&Call, &Served),
        execution: &Execution,
        response: &Sent,
        times: (SystemTime, SystemTime),
        new: bool,
    ) {
        if !self.config.enabled {
            return;
        }
        match record::finished(call, served, execution, response, times, self.config.limits, new) {
            Ok(encoded) => self.send(Message::Encoded(encoded)).await,
            Err(e) => {
                tracing::error!(execution = %call.id, error = %e, "cannot encode a record; it is lost");
            }
        }
    }

    /// Records a call refused before any node ran, within the rejected budget.
    pub fn rejected(&self, call: Call, served: Option<Served>, answer: Response, message: String) {
        if !self.config.enabled {
            return;
        }
        if self.rejected_waiting.fetch_add(1, Ordering::Relaxed) >= self.config.rejected_budget {
            self.rejected_waiting.fetch_sub(1, Ordering::Relaxed);
            self.rejected_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let message = Message::Rejected(Box::new(Rejected { call, served, answer, message }));
        if self.tx.try_send(message).is_err() {
            self.rejected_waiting.fetch_sub(1, Ordering::Relaxed);
            self.rejected_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records `record` as it is (a status change), written soon.
    pub async fn record(&self, record: ExecutionRecord) {
        self.send(Message::Record(Box::new(record))).await;
    }

    /// Writes `record` now, together with the other durable writes waiting at that moment;
    /// durable when this returns `Ok`.
    pub async fn persist(&self, record: ExecutionRecord) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        let stopped = || StoreError::Backend {
            store: "history".into(),
            operation: "persist".into(),
            cause: "the durable writer has stopped".into(),
        };
        self.durable.send((record, done)).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Waits until everything handed to the writer before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        self.send(Message::Flush(done)).await;
        let _ = wait.await;
    }

    /// How many rejected calls were not recorded because the budget was full.
    pub fn rejected_dropped(&self) -> u64 {
        self.rejected_dropped.load(Ordering::Relaxed)
    }

    async fn send(&self, message: Message) {
        if self.tx.send(message).await.is_err() {
            tracing::error!("the history writer has stopped; a record is lost");
        }
    }
}

/// The writer task: batches of messages become records, stored in one write each.
async fn write(
    mut rx: mpsc::Receiver<Message>,
    store: Arc<dyn Store>,
    limits: Limits,
    rejected_waiting: Arc<AtomicUsize>,
) {
    let mut messages = Vec::with_capacity(BATCH);
    loop {
        // Take what is waiting without waiting for it; when nothing is, sleep a tick. So the
        // writer never waits on the channel, and a request handing over a record never has to
        // wake it (a system call and a context switch per call under load).
        let mut closed = false;
        while messages.len() < BATCH {
            match rx.try_recv() {
                Ok(message) => messages.push(message),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if messages.is_empty() {
            if closed {
                return;
            }
            tokio::time::sleep(TICK).await;
            continue;
        }
        let mut flushes = Vec::new();
        let mut batch = Vec::with_capacity(messages.len());
        for message in messages.drain(..) {
            match message {
                Message::Flush(done) => flushes.push(done),
                Message::Rejected(r) => {
                    rejected_waiting.fetch_sub(1, Ordering::Relaxed);
                    batch.push(Message::Rejected(r));
                }
                other => batch.push(other),
            }
        }
        if !batch.is_empty() {
            let store = store.clone();
            let written = tokio::task::spawn_blocking(move || {
                let records: Vec<EncodedExecution> =
                    batch.into_iter().filter_map(|m| build(m, limits)).collect();
                store_batch(&*store, &records)
            })
            .await;
            if let Err(e) = written {
                tracing::error!(error = %e, "the history writer failed; a batch of records is lost");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The record a message stores; `None` for a flush, or a record that cannot be encoded (logged).
fn build(message: Message, limits: Limits) -> Option<EncodedExecution> {
    let (record, new) = match message {
        Message::Encoded(encoded) => return Some(encoded),
        Message::Rejected(r) => {
            (record::rejected(&r.call, r.served.as_ref(), &r.answer, &r.message, limits), true)
        }
        Message::Record(r) => (*r, false),
        Message::Flush(_) => return None,
    };
    EncodedExecution::of(&record, new)
        .inspect_err(|e| {
            tracing::error!(execution = %record.id, error = %e, "cannot encode a record; it is lost");
        })
        .ok()
}

/// The durable writer: every write waiting is committed in one transaction, then each waiter
/// hears the outcome.
async fn commit(mut rx: mpsc::UnboundedReceiver<Durable>, store: Arc<dyn Store>) {
    let mut waiting = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut waiting, BATCH).await > 0 {
        let (records, waiters): (Vec<_>, Vec<_>) = waiting.drain(..).unzip();
        let store = store.clone();
        let outcome = tokio::task::spawn_blocking(move || store.put_executions(&records))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Backend {
                    store: "history".into(),
                    operation: "persist".into(),
                    cause: e.to_string(),
                })
            });
        let outcome = outcome.map_err(|e| e.to_string());
        for waiter in waiters {
            let _ = waiter.send(outcome.clone().map_err(|cause| StoreError::Backend {
                store: "history".into(),
                operation: "persist".into(),
                cause,
            }));
        }
    }
}

/// Stores a batch, retrying a failing store a few times before giving the records up.
fn store_batch(store: &dyn Store, records: &[EncodedExecution]) {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.put_encoded_executions(records) {
            Ok(()) => return,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                store_error("write_history");
                tracing::warn!(error = %e, attempt, records = records.len(), "storing history failed; retrying");
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => {
                store_error("write_history");
                let first = records.first().map(|r| r.id.as_str()).unwrap_or_default();
                tracing::error!(error = %e, records = records.len(), first, "storing history failed; these records are lost");
            }
        }
    }
}

//! Execution history, written off the request path: a request that ran its flow encodes its
//! record where its data is (see [`record::finished`]) and hands the bytes to a channel; one
//! writer task stores what waits there every [`STEP`], and syncs it to disk at most once per
//! [`TICK`](crate::pace::TICK). Under load a tick's records share one sync: syncing every few records costs more
//! than the records themselves. The writes in between are [`Durability::Deferred`]: small, so
//! that the writer never holds a core for long (a request whose thread waits behind it waits
//! that long), and synced by the tick's write. When the writer has not synced for a tick (it was
//! idle), the first record is written durably at once. A [`History::flush`] waits for neither.
//!
//! Only a call answered `202` (`accepted` mode) is persisted before it is answered; those
//! durable writes go through a second task that commits every write waiting at that moment in
//! one transaction (group commit), so that concurrent callers share one sync to disk.
//!
//! What waits for the writer is bounded in bytes ([`HistoryConfig::waiting_bytes`]): when the writer falls that
//! far behind, requests wait for room (the store sets the pace) rather than memory growing without
//! end. Rejected calls are not held to it: they have a budget of their own, and when that many
//! are waiting further ones are counted and dropped, so a flood of bad calls cannot hold up good
//! ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hookflow_core::Response;
use hookflow_core::execute::Execution;
use hookflow_store::{Durability, EncodedExecution, ExecutionRecord, Store, StoreError};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::group_commit::{GroupCommit, Names, SyncPolicy, each};
use crate::pace::{self, Pace, STEP};
use crate::record::{self, Call, Limits, Sent, Served};
use crate::store_errors;

/// Records per write at most; a full batch is followed by the next without waiting.
const BATCH: usize = 8192;
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
    /// Encoded records that may wait for the writer, in bytes (counted in KiB, each record at
    /// least one); a request finds room before it hands its record over.
    pub waiting_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            limits: Limits::default(),
            rejected_budget: 1024,
            waiting_bytes: 64 * 1024 * 1024,
        }
    }
}

enum Message {
    /// A record, and the room (in KiB) it holds until it is stored.
    Encoded(EncodedExecution, u32),
    Rejected(Box<Rejected>),
    Flush(oneshot::Sender<()>),
}

struct Rejected {
    call: Call,
    served: Option<Served>,
    answer: Response,
    message: String,
}

/// The history writer's handle, shared by every request.
pub struct History {
    tx: mpsc::UnboundedSender<Message>,
    room: Arc<Semaphore>,
    wake: Arc<Notify>,
    durable: GroupCommit<ExecutionRecord>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            store: store.clone(),
            limits: config.limits,
            rejected_waiting: Arc::new(AtomicUsize::new(0)),
            room: Arc::new(Semaphore::new(room_kib(config.waiting_bytes))),
            wake: Arc::new(Notify::new()),
        };
        let (rejected_waiting, room, wake) =
            (writer.rejected_waiting.clone(), writer.room.clone(), writer.wake.clone());
        tokio::spawn(writer.run(rx));
        let names = Names {
            store: "history",
            operation: "persist",
            stopped: "the durable writer has stopped",
        };
        let durable = GroupCommit::start(
            store.clone(),
            BATCH,
            names,
            SyncPolicy::EveryWrite,
            |store, records, _| store.put_executions(&records).map(|()| each(&records)),
        );
        Arc::new(History {
            tx,
            room,
            wake,
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
            Ok(encoded) => self.send(encoded).await,
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
        if self.tx.send(message).is_err() {
            self.rejected_waiting.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("the history writer has stopped; a record is lost");
        }
    }

    /// Records `record` as it is (a status change), written soon.
    pub async fn record(&self, record: ExecutionRecord) {
        match EncodedExecution::of(&record, false) {
            Ok(encoded) => self.send(encoded).await,
            Err(e) => {
                tracing::error!(execution = %record.id, error = %e, "cannot encode a record; it is lost");
            }
        }
    }

    /// Writes `record` now, together with the other durable writes waiting at that moment;
    /// durable when this returns `Ok`.
    pub async fn persist(&self, record: ExecutionRecord) -> Result<(), StoreError> {
        self.durable.write(record).await
    }

    /// Waits until everything handed to the writer before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            self.wake.notify_one();
            let _ = wait.await;
        }
    }

    /// How many rejected calls were not recorded because the budget was full.
    pub fn rejected_dropped(&self) -> u64 {
        self.rejected_dropped.load(Ordering::Relaxed)
    }

    /// Hands `record` to the writer once there is room for it.
    async fn send(&self, record: EncodedExecution) {
        let kib = kib(record.json.len(), self.config.waiting_bytes);
        match self.room.acquire_many(kib).await {
            Ok(permit) => permit.forget(),
            Err(_) => unreachable!("the room semaphore is never closed"),
        }
        if self.tx.send(Message::Encoded(record, kib)).is_err() {
            self.room.add_permits(kib as usize);
            tracing::error!("the history writer has stopped; a record is lost");
        }
    }
}

/// The room for waiting records, in KiB (at least one).
fn room_kib(waiting_bytes: usize) -> usize {
    (waiting_bytes / 1024).clamp(1, Semaphore::MAX_PERMITS)
}

/// The room a record of `bytes` holds while it waits, in KiB: at least one, at most all of it.
fn kib(bytes: usize, waiting_bytes: usize) -> u32 {
    u32::try_from((bytes / 1024 + 1).min(room_kib(waiting_bytes))).unwrap_or(u32::MAX)
}

/// The writer task and what it shares with [`History`].
struct Writer {
    store: Arc<dyn Store>,
    limits: Limits,
    rejected_waiting: Arc<AtomicUsize>,
    room: Arc<Semaphore>,
    /// Woken by a flush, so that it does not wait for the rest of a tick.
    wake: Arc<Notify>,
}

impl Writer {
    /// Stores what waits, one write per step at most, until every sender is gone.
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Message>) {
        let mut messages = Vec::with_capacity(BATCH);
        let mut pace = Pace::default();
        loop {
            // Waits only when nothing is waiting: so under load a request handing over its
            // record never has to wake the writer (a system call and a context switch per call).
            let received = match pace.sync_due() {
                Some(due) => tokio::select! {
                    received = rx.recv_many(&mut messages, BATCH) => received,
                    () = tokio::time::sleep_until(due) => {
                        self.sync(&mut pace).await;
                        continue;
                    }
                },
                None => rx.recv_many(&mut messages, BATCH).await,
            };
            if received == 0 {
                break;
            }
            let started = Instant::now();
            self.store(&mut messages, &mut pace, started).await;
            if received < BATCH {
                tokio::select! {
                    () = tokio::time::sleep_until(started + STEP) => {}
                    () = self.wake.notified() => {}
                }
            }
        }
        if pace.sync_due().is_some() {
            self.sync(&mut pace).await;
        }
    }

    /// Makes the deferred writes durable.
    async fn sync(&self, pace: &mut Pace) {
        let what = "syncing history failed; retrying in a tick";
        pace::sync(self.store.clone(), pace, "write_history", what).await;
    }

    /// Stores the records among `messages` in one write, then answers their flushes.
    async fn store(&self, messages: &mut Vec<Message>, pace: &mut Pace, started: Instant) {
        let mut flushes = Vec::new();
        let mut batch = Vec::with_capacity(messages.len());
        let mut held = 0;
        for message in messages.drain(..) {
            match message {
                Message::Flush(done) => flushes.push(done),
                Message::Encoded(encoded, kib) => {
                    held += kib as usize;
                    batch.push(Message::Encoded(encoded, kib));
                }
                Message::Rejected(r) => {
                    self.rejected_waiting.fetch_sub(1, Ordering::Relaxed);
                    batch.push(Message::Rejected(r));
                }
            }
        }
        let durability = pace.durability(started, !flushes.is_empty());
        if !batch.is_empty() {
            let (store, limits) = (self.store.clone(), self.limits);
            let written = tokio::task::spawn_blocking(move || {
                let records: Vec<EncodedExecution> =
                    batch.into_iter().filter_map(|m| build(m, limits)).collect();
                store_batch(&*store, &records, durability)
            })
            .await;
            match written {
                Ok(true) => pace.written(durability, started),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the history writer failed; a batch of records is lost");
                }
            }
        } else if durability == Durability::Now && pace.sync_due().is_some() {
            self.sync(pace).await;
        }
        self.room.add_permits(held);
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The record a message stores; `None` for a flush, or a record that cannot be encoded (logged).
fn build(message: Message, limits: Limits) -> Option<EncodedExecution> {
    let record = match message {
        Message::Encoded(encoded, _) => return Some(encoded),
        Message::Rejected(r) => {
            record::rejected(&r.call, r.served.as_ref(), &r.answer, &r.message, limits)
        }
        Message::Flush(_) => return None,
    };
    EncodedExecution::of(&record, true)
        .inspect_err(|e| {
            tracing::error!(execution = %record.id, error = %e, "cannot encode a record; it is lost");
        })
        .ok()
}

/// Stores a batch, retrying a failing store a few times before giving the records up; whether
/// it was stored.
fn store_batch(store: &dyn Store, records: &[EncodedExecution], durability: Durability) -> bool {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.put_encoded_executions(records, durability) {
            Ok(()) => return true,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                let what = format!(
                    "storing history failed (attempt {attempt}, {} records); retrying",
                    records.len()
                );
                store_errors::retrying("write_history", &e, &what);
                std::thread::sleep(wait);
                wait *= 2;
            }
            Err(e) => {
                let first = records.first().map(|r| r.id.as_str()).unwrap_or_default();
                let what = format!(
                    "storing history failed; these {} records are lost (the first: {first})",
                    records.len()
                );
                store_errors::failed("write_history", &e, &what);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    use hookflow_store::{ExecutionStatus, MemoryStore, RecordedRequest};

    use super::*;

    fn record(id: &str, body_bytes: usize) -> ExecutionRecord {
        ExecutionRecord {
            id: id.to_owned(),
            flow_id: Some("f".into()),
            flow_version: None,
            route: None,
            credential: None,
            status: ExecutionStatus::Succeeded,
            received_at_ms: 1,
            started_at_ms: None,
            finished_at_ms: None,
            request: RecordedRequest {
                method: "POST".into(),
                path: "/hooks/f".into(),
                query: String::new(),
                headers: Vec::new(),
                body: vec![b'x'; body_bytes],
                body_truncated: false,
            },
            response: None,
            error: None,
            trace: serde_json::Value::Null,
            cause: None,
        }
    }

    fn call(id: &str) -> Call {
        Call {
            id: id.to_owned(),
            received_at: SystemTime::now(),
            method: "POST".into(),
            path: "/hooks/nowhere".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        }
    }

    /// Polls `future` once: whether it finished without waiting.
    fn ready_now(future: impl Future<Output = ()>) -> bool {
        let future = pin!(future);
        future.poll(&mut Context::from_waker(Waker::noop())).is_ready()
    }

    async fn stored(store: &MemoryStore, id: &str) -> bool {
        store.execution(id).unwrap().is_some()
    }

    #[test]
    fn a_record_takes_its_size_in_kib_of_room_and_never_more_than_all_of_it() {
        let mib = 1024 * 1024;
        assert_eq!(kib(0, mib), 1);
        assert_eq!(kib(1023, mib), 1);
        assert_eq!(kib(1024, mib), 2);
        assert_eq!(kib(10 * mib, mib), 1024);
        assert_eq!(room_kib(0), 1);
    }

    #[tokio::test]
    async fn records_are_written_without_a_flush() {
        let store = Arc::new(MemoryStore::new());
        let history = History::start(store.clone(), HistoryConfig::default());
        // The first finds the writer idle; the next ones come within its tick.
        let deadline = Instant::now() + Duration::from_secs(10);
        for id in ["a", "b", "c"] {
            history.record(record(id, 10)).await;
            while !stored(&store, id).await {
                assert!(Instant::now() < deadline, "{id} was not written");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    #[tokio::test]
    async fn a_request_waits_for_room_when_the_records_waiting_fill_the_budget() {
        let store = Arc::new(MemoryStore::new());
        let config = HistoryConfig { waiting_bytes: 4 * 1024, ..HistoryConfig::default() };
        let history = History::start(store.clone(), config);
        // On this single-threaded runtime the writer cannot run until the test yields, so the
        // records stay waiting: two of about 1.5 KiB each take 2 KiB of room each, all of it.
        assert!(ready_now(history.record(record("a", 1000))));
        assert!(ready_now(history.record(record("b", 1000))));
        assert!(!ready_now(history.record(record("c", 1000))), "no room left for a third");
        history.flush().await;
        assert!(stored(&store, "a").await && stored(&store, "b").await);
        assert!(!stored(&store, "c").await, "a record that found no room was not handed over");
        assert!(ready_now(history.record(record("c", 1000))), "the room is back");
        history.flush().await;
        assert!(stored(&store, "c").await);
    }

    #[tokio::test]
    async fn rejected_calls_beyond_their_budget_are_counted_and_dropped() {
        let store = Arc::new(MemoryStore::new());
        let config = HistoryConfig { rejected_budget: 3, ..HistoryConfig::default() };
        let history = History::start(store.clone(), config);
        let answer = Response::problem(404, "Not Found", "no route", None);
        for n in 0..10 {
            history.rejected(call(&format!("r{n}")), None, answer.clone(), "404".into());
        }
        history.flush().await;
        let kept = (0..10).filter(|n| store.execution(&format!("r{n}")).unwrap().is_some());
        assert_eq!(kept.count(), 3);
        assert_eq!(history.rejected_dropped(), 7);
        // Once written, they no longer count against the budget.
        history.rejected(call("later"), None, answer, "404".into());
        history.flush().await;
        assert!(stored(&store, "later").await);
    }

    #[tokio::test]
    async fn nothing_is_recorded_but_accepted_calls_when_history_is_off() {
        let store = Arc::new(MemoryStore::new());
        let config = HistoryConfig { enabled: false, ..HistoryConfig::default() };
        let history = History::start(store.clone(), config);
        history.rejected(call("r"), None, Response::problem(404, "Not Found", "", None), "".into());
        history.persist(record("p", 10)).await.unwrap();
        history.flush().await;
        assert!(!stored(&store, "r").await);
        assert!(stored(&store, "p").await, "a durable write is made whatever the setting");
    }
}

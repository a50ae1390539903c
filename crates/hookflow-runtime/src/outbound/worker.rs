//! The delivery worker: it sends the deliveries that are due, records every attempt, and
//! schedules the next one by the retry policy, until each delivery succeeds or fails.
//!
//! The store is the queue. One loop reads what is due, earliest first, and starts a send for
//! each delivery that is not already in flight, within two caps: `workers` sends in all, and
//! `per_subscription` for any one subscription, so that a slow or dead receiver holds only its
//! own places. It then sleeps until the next delivery is due, a [`Deliverer::wake`], or a send
//! finishing. A send's place (the caps count requests in flight) is freed when the receiver has
//! answered; the delivery stays claimed until its outcome (status, next attempt, the attempt
//! appended) is stored, so it is never sent twice at once, and a claimed delivery is read again
//! before it is sent, so one whose outcome landed after the loop's read is not sent again; a send
//! cut short by a crash is sent again after the restart (at least once). The outcomes of sends
//! that finish while a commit is under way are stored together in the next one, by the writer
//! task.
//!
//! A due delivery whose subscription is paused is held (no next attempt, nothing sent) until the
//! subscription resumes (whoever resumes it makes its held deliveries due again and calls
//! [`Deliverer::wake`]); one whose subscription is gone fails. A receiver that answers
//! `410 Gone` fails the delivery and switches its subscription off.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use hookflow_store::{Attempt, Delivery, DeliveryStatus, Store, StoreError, Subscription, clock};
use tokio::sync::Notify;

use super::StartError;
use super::background::Background;
use super::retry::{self, Decision, Outcome, RetryPolicy};
use super::sender::{self, Sender};
use crate::group_commit::{GroupCommit, Names, SyncPolicy, each};
use crate::http_client::NetworkPolicy;
use crate::metrics::{DELIVERIES, DELIVERY_ATTEMPTS, DELIVERY_LATENCY, DELIVERY_QUEUE_DEPTH};
use crate::store_errors;

/// Called with a subscription that hookflow has just switched off (its receiver answered `410`).
pub type OnDisabled = Box<dyn Fn(&Subscription) + Send + Sync>;

/// How deliveries are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    /// Sends in flight at most, in all.
    pub workers: usize,
    /// Sends in flight at most for one subscription.
    pub per_subscription: usize,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The waits between attempts (see [`RetryPolicy::schedule`]).
    pub schedule: Vec<Duration>,
    /// How far each wait strays, as a fraction (see [`RetryPolicy::jitter`]).
    pub jitter: f64,
    /// Which destinations deliveries may reach.
    pub network: NetworkPolicy,
    /// How many due deliveries one read of the store takes.
    pub batch: usize,
    /// The nice value of the threads that send (0 to 19; see [`DEFAULT_NICE`]).
    pub nice: i32,
}

/// Sends in flight at most, in all, unless configured.
pub const DEFAULT_WORKERS: u16 = 64;
/// The delivery threads' nice value, unless configured: when the CPU is busy, webhook calls are
/// answered first and deliveries catch up as the load drops.
pub const DEFAULT_NICE: u8 = 10;
/// Sends in flight at most for one subscription, unless configured.
pub const DEFAULT_PER_SUBSCRIPTION: u16 = 16;

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            workers: DEFAULT_WORKERS.into(),
            per_subscription: DEFAULT_PER_SUBSCRIPTION.into(),
            timeout: sender::DEFAULT_TIMEOUT,
            schedule: retry::DEFAULT_SCHEDULE.to_vec(),
            jitter: retry::DEFAULT_JITTER,
            network: NetworkPolicy::PublicOnly,
            batch: 256,
            nice: DEFAULT_NICE.into(),
        }
    }
}

/// A read of the store grows to at most this many batches when the deliveries due first cannot
/// be sent yet (their subscriptions are at their cap), to reach the ones after them.
const MAX_BATCHES_PER_READ: usize = 16;

/// The longest sleep while deliveries are due that the last pass did not read.
const RECHECK: Duration = Duration::from_secs(1);

/// The wait before trying again after a store call failed.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// How often the queue depth gauge is brought up to date, at most.
const DEPTH_EVERY: Duration = Duration::from_secs(10);

/// The delivery worker of one store (see the module's documentation).
pub struct Deliverer {
    store: Arc<dyn Store>,
    sender: Sender,
    policy: RetryPolicy,
    workers: usize,
    per_subscription: usize,
    batch: usize,
    on_disabled: OnDisabled,
    slots: Arc<Slots>,
    /// Stores new deliveries and the attempts' outcomes, those handed over together in one
    /// commit, durable within a tick.
    writes: GroupCommit<Vec<Delivery>>,
    /// Where the loop and the sends run, at a lower CPU priority.
    background: Background,
}

/// Outcomes one commit takes, at most.
const WRITE_BATCH: usize = 256;

/// The deliveries being sent, and the notifications around them.
#[derive(Default)]
struct Slots {
    in_flight: Mutex<InFlight>,
    /// Wakes the loop: deliveries were stored, a subscription resumed, a send finished, or the
    /// deliverer is gone.
    wake: Notify,
    /// Set with every wake but a send finishing: the store may hold due deliveries the loop has
    /// not read.
    news: AtomicBool,
    /// Wakes the [`Deliverer::send_now`] callers waiting for a delivery in flight.
    released: Notify,
}

#[derive(Default)]
struct InFlight {
    /// Every delivery being sent.
    ids: HashSet<String>,
    /// The sends the loop started (not those of `send_now`), in all and by subscription.
    started: usize,
    by_subscription: HashMap<String, usize>,
}

/// A delivery being sent: while it lives nothing else sends it. Dropped (a panic included), it
/// frees its place and wakes whoever waits for one.
struct Claim {
    slots: Arc<Slots>,
    id: String,
    /// The subscription whose place it takes, when the loop started it.
    place: Option<String>,
}

/// What [`Deliverer::dispatch`] did.
struct Dispatched {
    /// Places are left.
    capacity_left: bool,
    /// The deliveries it did not start that are not in flight either.
    rest: Vec<Delivery>,
    /// How many sends it started.
    started: usize,
}

/// What the loop does after a pass.
enum Wait {
    /// Pass again at once: the read was too short to see everything due.
    Again,
    /// Sleep until woken: nothing more can start before a send finishes or news arrives.
    UntilWoken,
    /// Sleep this long, or until woken.
    For(Duration),
}

/// What the loop keeps from one pass to the next.
struct Pass {
    /// How many due deliveries the next read takes.
    limit: usize,
    /// Due deliveries of the last read not started yet: a pass starts these first.
    queue: Vec<Delivery>,
    /// The last read may not have seen every due delivery (it found some, or every place was
    /// taken): once the queue is empty, a pass with places left reads again.
    more: bool,
    /// The last read was full and started nothing beyond its caps: the next pass reads further.
    grow: bool,
    /// When the first delivery the last read did not see is due, if it knows.
    next_due: Option<Instant>,
    depth_reported: Option<Instant>,
}

impl Deliverer {
    /// Starts the worker on the current runtime: it sends at once what is due in `store`
    /// (deliveries left by a previous process included), and calls `on_disabled` with each
    /// subscription it switches off.
    pub fn start(
        store: Arc<dyn Store>,
        config: DeliveryConfig,
        on_disabled: OnDisabled,
    ) -> Result<Arc<Deliverer>, StartError> {
        let names = Names {
            store: "delivery worker",
            operation: "write_delivery",
            stopped: "the delivery writer has stopped",
        };
        // On the caller's runtime: a store write never waits on a low-priority thread.
        let writes = GroupCommit::start(
            store.clone(),
            WRITE_BATCH,
            names,
            SyncPolicy::Paced,
            |store, batches, durability| {
                let results = each(&batches);
                let deliveries: Vec<Delivery> = batches.into_iter().flatten().collect();
                store.put_deliveries(&deliveries, durability).map(|()| results)
            },
        );
        let background = Background::start(config.nice).map_err(StartError::Runtime)?;
        let deliverer = Arc::new(Deliverer {
            store,
            sender: Sender::new(config.network, config.timeout)?,
            policy: RetryPolicy { schedule: config.schedule, jitter: config.jitter },
            workers: config.workers.max(1),
            per_subscription: config.per_subscription.max(1),
            batch: config.batch.max(1),
            on_disabled,
            slots: Arc::default(),
            writes,
            background,
        });
        let pass = Pass {
            limit: deliverer.batch,
            queue: Vec::new(),
            more: true,
            grow: false,
            next_due: None,
            depth_reported: None,
        };
        let run = run(Arc::downgrade(&deliverer), deliverer.slots.clone(), pass);
        deliverer.background.handle().spawn(run);
        Ok(deliverer)
    }

    /// Stores new deliveries (with the outcomes being stored at that moment) and wakes the
    /// loop; a failure is logged, and the deliveries are lost.
    pub(crate) async fn queue(&self, deliveries: Vec<Delivery>) {
        let count = deliveries.len();
        match self.writes.write(deliveries).await {
            Ok(()) => self.wake(),
            Err(e) => {
                let what = format!("cannot queue {count} deliveries; their events are lost");
                store_errors::failed("write_deliveries", &e, &what);
            }
        }
    }

    /// Stops sending: the loop and the sends in flight are dropped where they are. A send cut
    /// off has no outcome stored, so its delivery stays due and is sent after the next start
    /// (at least once). What a clean stop does before the store's last flush.
    pub fn stop(&self) {
        self.background.stop();
    }

    /// Tells the worker to look at the store again: deliveries were stored, or a subscription
    /// resumed (and its held deliveries were made due).
    pub fn wake(&self) {
        self.slots.news.store(true, Ordering::Release);
        self.slots.wake.notify_one();
    }

    /// Makes one attempt at `delivery` for `subscription` now, outside its schedule, and records
    /// it like any other: a failure is retried by the schedule (from its first step when the
    /// delivery had ended, see [`retry::attempt_number`]). Waits first when the worker is
    /// sending the same delivery. Answers the delivery as stored.
    pub async fn send_now(
        &self,
        subscription: &Subscription,
        delivery: Delivery,
    ) -> Result<Delivery, StoreError> {
        let mut claim = self.claim_when_free(&delivery.id).await;
        let id = delivery.id.clone();
        let stored = self.blocking("read_delivery", move |store| store.delivery(&id)).await?;
        self.attempt(subscription, stored.unwrap_or(delivery), &mut claim).await
    }

    /// One pass of the loop: start what is due and can start, and say how long to sleep. The
    /// store is read only when something may be due that the last read did not see: news (a
    /// [`Deliverer::wake`], or the time the next delivery is due), or a last read that did not
    /// see everything; a send finishing alone starts what the last read left waiting.
    async fn pass(self: &Arc<Self>, pass: &mut Pass) -> Wait {
        self.report_depth(&mut pass.depth_reported).await;
        let news = self.slots.news.swap(false, Ordering::AcqRel);
        let queued = self.dispatch(std::mem::take(&mut pass.queue));
        pass.queue = queued.rest;
        if !queued.capacity_left {
            pass.more = true;
            return Wait::UntilWoken;
        }
        let read = news || pass.grow || (pass.more && pass.queue.is_empty());
        if !read {
            return match pass.next_due {
                Some(at) => Wait::For(at.saturating_duration_since(Instant::now())),
                None => Wait::UntilWoken,
            };
        }
        let (now, limit) = (clock::now_ms(), pass.limit);
        let due = match self
            .blocking("read_deliveries", move |s| s.due_deliveries(now, limit))
            .await
        {
            Ok(due) => due,
            Err(err) => {
                store_errors::retrying("read_deliveries", &err, "cannot read the due deliveries");
                self.slots.news.store(true, Ordering::Release);
                return Wait::For(STORE_RETRY);
            }
        };
        let (seen, full) = (due.len(), due.len() >= limit);
        let Dispatched { capacity_left, mut rest, started } = self.dispatch(due);
        // The queue keeps one batch; a read that found anything is followed by another once the
        // queue has run dry, for what it left out and because a short read does not prove that
        // nothing more is due (the store leaves out deliveries that changed while it read, and
        // those may stand before others).
        rest.truncate(self.batch);
        pass.queue = rest;
        pass.more = seen > 0 || !capacity_left;
        pass.next_due = None;
        let grown = (limit + self.batch).min(self.batch * MAX_BATCHES_PER_READ);
        // A full read that started nothing (its deliveries are in flight or at their
        // subscriptions' caps) reads further, to reach the ones after them.
        pass.grow = capacity_left && full && started == 0 && grown > limit;
        pass.limit = if pass.grow { grown } else { self.batch };
        match (capacity_left, pass.grow) {
            (false, _) => Wait::UntilWoken,
            (true, true) => Wait::Again,
            (true, false) => {
                let wait = self.until_next(seen, now).await;
                if let Wait::For(d) = wait {
                    pass.next_due = Some(Instant::now() + d);
                }
                wait
            }
        }
    }

    /// Starts a send for each of `due` that is not in flight, within the caps.
    fn dispatch(self: &Arc<Self>, due: Vec<Delivery>) -> Dispatched {
        let mut in_flight = self.slots.lock();
        let mut rest = Vec::new();
        let mut started = 0;
        for delivery in due {
            if in_flight.ids.contains(&delivery.id) {
                continue;
            }
            let taken = in_flight.by_subscription.get(&delivery.subscription_id).copied();
            if in_flight.started >= self.workers || taken.unwrap_or(0) >= self.per_subscription {
                rest.push(delivery);
                continue;
            }
            let claim = in_flight.claim(&self.slots, &delivery.id, Some(&delivery.subscription_id));
            tokio::spawn(self.clone().deliver(claim, delivery));
            started += 1;
        }
        Dispatched { capacity_left: in_flight.started < self.workers, rest, started }
    }

    /// How long to sleep after a pass that saw `seen` due deliveries at `now` and started what
    /// it could: until the first delivery after those is due.
    async fn until_next(&self, seen: usize, now: i64) -> Wait {
        let next = self.blocking("read_deliveries", move |store| {
            if seen == 0 {
                return store.next_due_ms();
            }
            // The ones seen are due, and sent or waiting for a place: the one after them is next.
            let first = store.due_deliveries(i64::MAX, seen + 1)?;
            Ok(first.get(seen).and_then(|d| d.next_attempt_at_ms))
        });
        match next.await {
            Ok(Some(at)) if at > now => Wait::For(Duration::from_millis(at.abs_diff(now))),
            // Due already but not read: stored since the read (its wake is on the way), or
            // beyond what one read takes (waiting for sends to finish).
            Ok(Some(_)) => Wait::For(RECHECK),
            Ok(None) => Wait::UntilWoken,
            Err(err) => {
                store_errors::retrying("read_deliveries", &err, "cannot read the next due time");
                Wait::For(STORE_RETRY)
            }
        }
    }

    /// Sends `delivery` (or holds or fails it, by its subscription) and stores the outcome. It is
    /// read again first, under its claim: a read of due deliveries may be older than the outcome
    /// of a send that has since finished, and such a delivery is no longer due. A store call that
    /// fails keeps the place a while, so that the loop does not spin on it.
    async fn deliver(self: Arc<Self>, mut claim: Claim, delivery: Delivery) {
        let (id, subscription) = (delivery.id, delivery.subscription_id);
        let read = self.blocking("read_delivery", move |s| {
            let Some(delivery) = s.delivery(&id)? else { return Ok(None) };
            Ok(Some((delivery, s.subscription(&subscription)?)))
        });
        let now = clock::now_ms();
        let (operation, result) = match read.await {
            Ok(Some((delivery, _))) if delivery.due_at().is_none_or(|at| at > now) => {
                ("read_delivery", Ok(()))
            }
            Ok(Some((delivery, Some(subscription)))) if subscription.active => {
                let sent = self.attempt(&subscription, delivery, &mut claim).await;
                ("write_delivery", sent.map(drop))
            }
            Ok(Some((delivery, Some(_)))) => ("write_delivery", self.put(held(delivery)).await),
            Ok(Some((delivery, None))) => {
                let failed = orphaned(delivery);
                let stored = self.put(failed.clone()).await;
                ("write_delivery", stored.map(|()| count_ended(&failed, clock::now_ms())))
            }
            Ok(None) => ("read_delivery", Ok(())),
            Err(err) => ("read_delivery", Err(err)),
        };
        if let Err(err) = result {
            store_errors::retrying(operation, &err, "cannot settle a due delivery: it stays due");
            tokio::time::sleep(STORE_RETRY).await;
        }
        drop(claim);
    }

    /// Sends one attempt, decides what follows, and stores the delivery with it.
    async fn attempt(
        &self,
        subscription: &Subscription,
        mut delivery: Delivery,
        claim: &mut Claim,
    ) -> Result<Delivery, StoreError> {
        let number = retry::attempt_number(&delivery.attempts, self.policy.schedule.len());
        let attempt = self.sender.send(subscription, &delivery).await;
        // The receiver has answered: its place may take the next send while this outcome is
        // stored (the delivery itself stays claimed until it is).
        claim.free_place();
        let now = clock::now_ms();
        let decision =
            self.policy.decide(number, Outcome::of(&attempt, now), now, &mut rand::rng());
        log_attempt(&delivery, &attempt, number, decision);
        count_attempt(&attempt, decision);
        let ended_ms = attempt.at_ms.saturating_add_unsigned(attempt.duration_ms);
        delivery.attempts.push(attempt);
        apply(&mut delivery, decision);
        self.put(delivery.clone()).await?;
        if delivery.status.is_finished() {
            count_ended(&delivery, ended_ms);
        }
        if decision == Decision::Gone {
            self.disable(&subscription.id, now).await;
        }
        Ok(delivery)
    }

    /// Switches the subscription `id` off after its receiver answered `410` at `at_ms`, and
    /// tells `on_disabled`. One that is already off is left as it is.
    async fn disable(&self, id: &str, at_ms: i64) {
        let id = id.to_owned();
        let switched = self.blocking("write_subscription", move |store| {
            let Some(mut subscription) = store.subscription(&id)?.filter(|s| s.active) else {
                return Ok(None);
            };
            let at = humantime::format_rfc3339_seconds(clock::time(at_ms));
            subscription.active = false;
            subscription.disabled_reason = Some(format!("the receiver answered 410 Gone at {at}"));
            subscription.updated_at_ms = clock::now_ms();
            store.put_subscription(&subscription)?;
            Ok(Some(subscription))
        });
        match switched.await {
            Ok(Some(subscription)) => {
                tracing::warn!(subscription = %subscription.id, "the receiver answered 410 Gone: subscription switched off");
                (self.on_disabled)(&subscription);
            }
            Ok(None) => {}
            Err(err) => store_errors::failed(
                "write_subscription",
                &err,
                "cannot switch off a subscription whose receiver answered 410 Gone",
            ),
        }
    }

    /// Stores `delivery` together with the other writes of deliveries handed over at the same
    /// moment (one commit for all of them); visible when this returns, durable within a tick.
    async fn put(&self, delivery: Delivery) -> Result<(), StoreError> {
        // A delivery due again (a retry) is news for the loop's next read.
        let rescheduled = delivery.next_attempt_at_ms.is_some();
        self.writes.write(vec![delivery]).await?;
        if rescheduled {
            self.slots.news.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Brings the queue depth gauge up to date when it was last more than [`DEPTH_EVERY`] ago.
    async fn report_depth(&self, reported: &mut Option<Instant>) {
        if reported.is_some_and(|at| at.elapsed() < DEPTH_EVERY) {
            return;
        }
        *reported = Some(Instant::now());
        match self.blocking("count_deliveries", |store| store.pending_deliveries()).await {
            Ok(depth) => metrics::gauge!(DELIVERY_QUEUE_DEPTH).set(depth as f64),
            Err(err) => store_errors::failed(
                "count_deliveries",
                &err,
                "cannot count the pending deliveries",
            ),
        }
    }

    /// A place for a delivery that `send_now` sends, once no one else is sending it.
    async fn claim_when_free(&self, id: &str) -> Claim {
        loop {
            let released = self.slots.released.notified();
            let mut released = std::pin::pin!(released);
            released.as_mut().enable();
            {
                let mut in_flight = self.slots.lock();
                if !in_flight.ids.contains(id) {
                    return in_flight.claim(&self.slots, id, None);
                }
            }
            released.await;
        }
    }

    /// Runs `call` on the blocking pool (store calls block).
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &str,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(&*store)).await.map_err(|e| {
            StoreError::Backend {
                store: "delivery worker".into(),
                operation: operation.to_owned(),
                cause: e.to_string(),
            }
        })?
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        // The loop holds no reference while it sleeps: wake it to find the deliverer gone.
        self.slots.wake.notify_one();
    }
}

/// The worker's loop, for as long as its deliverer lives.
async fn run(deliverer: Weak<Deliverer>, slots: Arc<Slots>, mut pass: Pass) {
    loop {
        let wait = {
            let Some(deliverer) = deliverer.upgrade() else { return };
            deliverer.pass(&mut pass).await
        };
        match wait {
            Wait::Again => {}
            Wait::UntilWoken => slots.wake.notified().await,
            Wait::For(duration) => {
                tokio::select! {
                    () = slots.wake.notified() => {}
                    () = tokio::time::sleep(duration) => slots.news.store(true, Ordering::Release),
                }
            }
        }
    }
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl InFlight {
    /// Takes a place for delivery `id`, counted against subscription `place` when given.
    fn claim(&mut self, slots: &Arc<Slots>, id: &str, place: Option<&str>) -> Claim {
        self.ids.insert(id.to_owned());
        if let Some(subscription) = place {
            self.started += 1;
            *self.by_subscription.entry(subscription.to_owned()).or_default() += 1;
        }
        Claim { slots: slots.clone(), id: id.to_owned(), place: place.map(str::to_owned) }
    }

    fn release(&mut self, id: &str, place: Option<&str>) {
        self.ids.remove(id);
        if let Some(subscription) = place {
            self.release_place(subscription);
        }
    }

    /// Frees a place taken for subscription `subscription`.
    fn release_place(&mut self, subscription: &str) {
        self.started -= 1;
        if let Some(taken) = self.by_subscription.get_mut(subscription) {
            *taken -= 1;
            if *taken == 0 {
                self.by_subscription.remove(subscription);
            }
        }
    }
}

impl Claim {
    /// Frees the claim's place (it has one when the loop started the send), keeping the
    /// delivery claimed: the loop may start another send in its place.
    fn free_place(&mut self) {
        if let Some(subscription) = self.place.take() {
            self.slots.lock().release_place(&subscription);
            self.slots.wake.notify_one();
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.slots.lock().release(&self.id, self.place.as_deref());
        self.slots.released.notify_waiters();
        self.slots.wake.notify_one();
    }
}

/// Sets the delivery's status and next attempt by `decision`.
fn apply(delivery: &mut Delivery, decision: Decision) {
    let (status, next) = match decision {
        Decision::Succeeded => (DeliveryStatus::Succeeded, None),
        Decision::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
        Decision::Failed | Decision::Gone => (DeliveryStatus::Failed, None),
    };
    delivery.status = status;
    delivery.next_attempt_at_ms = next;
}

/// A delivery whose subscription is paused: pending with no next attempt until it resumes.
fn held(mut delivery: Delivery) -> Delivery {
    delivery.next_attempt_at_ms = None;
    delivery
}

/// A delivery whose subscription is gone: failed, with an attempt that says why (nothing sent).
fn orphaned(mut delivery: Delivery) -> Delivery {
    delivery.attempts.push(Attempt {
        at_ms: clock::now_ms(),
        status: None,
        error: Some(format!("subscription {} no longer exists", delivery.subscription_id)),
        duration_ms: 0,
        response_headers: Vec::new(),
        response_body: Vec::new(),
        response_body_truncated: false,
    });
    apply(&mut delivery, Decision::Failed);
    delivery
}

/// Logs an attempt: ids, status or error, never a secret or a header value.
fn log_attempt(delivery: &Delivery, attempt: &Attempt, number: u32, decision: Decision) {
    tracing::debug!(
        delivery = %delivery.id,
        subscription = %delivery.subscription_id,
        attempt = number,
        status = attempt.status,
        error = attempt.error.as_deref(),
        duration_ms = attempt.duration_ms,
        ?decision,
        "delivery attempt"
    );
}

/// Counts an attempt by what it came to: `success` (2xx), `error` (no answer), and for other
/// answers `retry` (another attempt follows) or `failed` (the delivery failed with it).
fn count_attempt(attempt: &Attempt, decision: Decision) {
    let outcome = match (attempt.status, decision) {
        (_, Decision::Succeeded) => "success",
        (None, _) => "error",
        (Some(_), Decision::RetryAt(_)) => "retry",
        (Some(_), Decision::Failed | Decision::Gone) => "failed",
    };
    metrics::counter!(DELIVERY_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// Counts a delivery that ended; one that succeeded is timed from its creation to `ended_ms`.
fn count_ended(delivery: &Delivery, ended_ms: i64) {
    let succeeded = delivery.status == DeliveryStatus::Succeeded;
    let outcome = if succeeded { "succeeded" } else { "failed" };
    let event = delivery.event_type.clone();
    metrics::counter!(DELIVERIES, "event" => event, "outcome" => outcome).increment(1);
    if succeeded {
        let latency_ms = ended_ms.saturating_sub(delivery.created_at_ms).max(0);
        metrics::histogram!(DELIVERY_LATENCY).record(latency_ms as f64 / 1000.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use hookflow_store::{Durability, MemoryStore};

    use super::*;
    use crate::outbound::sender::tests::{
        Receiver, Reply, delivery, header, reply, secret, subscription, verifies,
    };
    use crate::outbound::signing;

    /// Steps of 50 ms, no jitter, loopback allowed.
    fn config() -> DeliveryConfig {
        DeliveryConfig {
            schedule: vec![Duration::from_millis(50); 3],
            jitter: 0.0,
            network: NetworkPolicy::AllowPrivate,
            ..DeliveryConfig::default()
        }
    }

    /// A store holding `subscription` and `deliveries`.
    fn store_with(subscription: &Subscription, deliveries: &[Delivery]) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        store.put_subscription(subscription).unwrap();
        store.put_deliveries(deliveries, Durability::Now).unwrap();
        store
    }

    /// Starts a deliverer; the subscriptions it switches off are collected.
    fn start(
        store: &Arc<MemoryStore>,
        config: DeliveryConfig,
    ) -> (Arc<Deliverer>, Arc<Mutex<Vec<Subscription>>>) {
        let disabled = Arc::new(Mutex::new(Vec::new()));
        let seen = disabled.clone();
        let on_disabled: OnDisabled = Box::new(move |s| seen.lock().unwrap().push(s.clone()));
        let deliverer = Deliverer::start(store.clone(), config, on_disabled).unwrap();
        (deliverer, disabled)
    }

    /// Polls `check` until it gives a value, for at most ten seconds.
    async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(value) = check() {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The stored delivery `id` once it has ended.
    async fn ended(store: &MemoryStore, id: &str) -> Delivery {
        eventually(&format!("{id} to end"), || {
            store.delivery(id).unwrap().filter(|d| d.status != DeliveryStatus::Pending)
        })
        .await
    }

    fn statuses(delivery: &Delivery) -> Vec<Option<u16>> {
        delivery.attempts.iter().map(|a| a.status).collect()
    }

    #[tokio::test]
    async fn a_due_delivery_arrives_signed_by_every_current_secret() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let (current, previous) = (signing::generate_secret(), signing::generate_secret());
        let mut sub = subscription("sub_1", &receiver.url);
        sub.secrets =
            vec![secret(&current, None), secret(&previous, Some(clock::now_ms() + 60_000))];
        let store = store_with(&sub, &[delivery("msg_1", "sub_1")]);
        let _deliverer = start(&store, config());

        let done = ended(&store, "msg_1").await;
        assert_eq!(done.status, DeliveryStatus::Succeeded);
        assert_eq!((statuses(&done), done.next_attempt_at_ms), (vec![Some(200)], None));
        let received = &receiver.received()[0];
        assert_eq!(header(received, "webhook-id"), "msg_1");
        let signatures: Vec<&str> = header(received, "webhook-signature").split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert!(verifies(&current, signatures[0], received));
        assert!(verifies(&previous, signatures[1], received));
        assert_eq!(
            header(received, "x-hookflow-signature"),
            signing::hex(&current, &received.body)
        );
    }

    #[tokio::test]
    async fn a_receiver_that_fails_twice_gets_a_third_attempt_by_the_schedule() {
        let receiver = Receiver::start(vec![reply(500), reply(503), reply(200)]).await;
        let store =
            store_with(&subscription("sub_1", &receiver.url), &[delivery("msg_1", "sub_1")]);
        let _deliverer = start(&store, config());

        let done = ended(&store, "msg_1").await;
        assert_eq!(done.status, DeliveryStatus::Succeeded);
        assert_eq!(statuses(&done), vec![Some(500), Some(503), Some(200)]);
        assert_eq!(receiver.received().len(), 3);
        let times: Vec<i64> = done.attempts.iter().map(|a| a.at_ms).collect();
        assert!(times[1] - times[0] >= 50, "{times:?}");
        assert!(times[2] - times[1] >= 50, "{times:?}");
    }

    #[tokio::test]
    async fn the_last_scheduled_failure_fails_the_delivery() {
        let receiver = Receiver::start(vec![reply(500)]).await;
        let store =
            store_with(&subscription("sub_1", &receiver.url), &[delivery("msg_1", "sub_1")]);
        let _deliverer = start(&store, config());

        let done = ended(&store, "msg_1").await;
        assert_eq!(done.status, DeliveryStatus::Failed);
        assert_eq!(statuses(&done), vec![Some(500); 4], "the first attempt and three retries");
        assert_eq!(done.next_attempt_at_ms, None);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let receiver = Receiver::start(vec![
            Reply { headers: vec![("retry-after", "1".into())], ..reply(429) },
            reply(200),
        ])
        .await;
        let store =
            store_with(&subscription("sub_1", &receiver.url), &[delivery("msg_1", "sub_1")]);
        let config = DeliveryConfig {
            schedule: vec![Duration::from_millis(50), Duration::from_secs(2)],
            ..config()
        };
        let _deliverer = start(&store, config);

        let done = ended(&store, "msg_1").await;
        assert_eq!(statuses(&done), vec![Some(429), Some(200)]);
        let waited = done.attempts[1].at_ms - done.attempts[0].at_ms;
        assert!(waited >= 1000, "retried after {waited} ms");
    }

    #[tokio::test]
    async fn a_410_fails_the_delivery_and_switches_the_subscription_off() {
        let receiver = Receiver::start(vec![reply(410)]).await;
        let store =
            store_with(&subscription("sub_1", &receiver.url), &[delivery("msg_1", "sub_1")]);
        let (_deliverer, disabled) = start(&store, config());

        let done = ended(&store, "msg_1").await;
        assert_eq!((done.status, statuses(&done)), (DeliveryStatus::Failed, vec![Some(410)]));
        let told = eventually("on_disabled", || disabled.lock().unwrap().first().cloned()).await;
        let stored = store.subscription("sub_1").unwrap().unwrap();
        assert_eq!(told, stored);
        assert!(!stored.active);
        let reason = stored.disabled_reason.unwrap();
        assert!(reason.starts_with("the receiver answered 410 Gone at 20"), "{reason}");
        assert_eq!(disabled.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_paused_subscription_holds_its_due_deliveries_until_it_resumes() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let mut sub = subscription("sub_1", &receiver.url);
        sub.active = false;
        let store = store_with(&sub, &[delivery("msg_1", "sub_1")]);
        let (deliverer, _) = start(&store, config());

        let held = eventually("the delivery to be held", || {
            store.delivery("msg_1").unwrap().filter(|d| d.next_attempt_at_ms.is_none())
        })
        .await;
        assert_eq!((held.status, held.attempts.len()), (DeliveryStatus::Pending, 0));
        assert_eq!(store.held_deliveries("sub_1").unwrap().len(), 1);
        assert!(receiver.received().is_empty());

        sub.active = true;
        store.put_subscription(&sub).unwrap();
        store
            .put_deliveries(
                &[Delivery { next_attempt_at_ms: Some(clock::now_ms()), ..held }],
                Durability::Now,
            )
            .unwrap();
        deliverer.wake();
        assert_eq!(ended(&store, "msg_1").await.status, DeliveryStatus::Succeeded);
        assert_eq!(receiver.received().len(), 1);
    }

    #[tokio::test]
    async fn a_delivery_whose_subscription_is_gone_fails_saying_so() {
        let store = Arc::new(MemoryStore::new());
        store.put_deliveries(&[delivery("msg_1", "sub_gone")], Durability::Now).unwrap();
        let _deliverer = start(&store, config());

        let done = ended(&store, "msg_1").await;
        assert_eq!(done.status, DeliveryStatus::Failed);
        assert_eq!(done.attempts.len(), 1);
        assert_eq!(
            done.attempts[0].error.as_deref(),
            Some("subscription sub_gone no longer exists")
        );
    }

    #[tokio::test]
    async fn public_only_refuses_a_loopback_receiver_and_says_why() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let url = receiver.url.replace("127.0.0.1", "localhost");
        let store = store_with(&subscription("sub_1", &url), &[delivery("msg_1", "sub_1")]);
        let config = DeliveryConfig {
            network: NetworkPolicy::PublicOnly,
            schedule: vec![Duration::from_millis(50)],
            ..config()
        };
        let _deliverer = start(&store, config);

        let done = ended(&store, "msg_1").await;
        assert_eq!((done.status, statuses(&done)), (DeliveryStatus::Failed, vec![None, None]));
        let error = done.attempts[0].error.as_deref().unwrap();
        assert!(error.starts_with("localhost resolves to "), "{error}");
        assert!(error.contains(", a loopback address; allow private networks"), "{error}");
        assert!(receiver.received().is_empty());
    }

    #[tokio::test]
    async fn a_slow_receiver_does_not_delay_the_others() {
        let slow =
            Receiver::start(vec![Reply { delay: Duration::from_secs(5), ..reply(200) }]).await;
        let fast = Receiver::start(vec![reply(200)]).await;
        let store = store_with(
            &subscription("sub_slow", &slow.url),
            &[
                delivery("msg_1", "sub_slow"),
                delivery("msg_2", "sub_slow"),
                delivery("msg_3", "sub_slow"),
            ],
        );
        store.put_subscription(&subscription("sub_fast", &fast.url)).unwrap();
        let config = DeliveryConfig { workers: 2, per_subscription: 1, ..config() };
        let (deliverer, _) = start(&store, config);
        eventually("the slow receiver's first request", || {
            (!slow.received().is_empty()).then_some(())
        })
        .await;

        let started = Instant::now();
        store.put_deliveries(&[delivery("msg_fast", "sub_fast")], Durability::Now).unwrap();
        deliverer.wake();
        assert_eq!(ended(&store, "msg_fast").await.status, DeliveryStatus::Succeeded);
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert_eq!(slow.received().len(), 1, "one place for the slow subscription");
    }

    #[tokio::test]
    async fn a_backlog_longer_than_the_reads_is_sent_without_news() {
        // Reads of 4, two places per subscription, answers slow enough that a read sees the
        // sends in flight: the reads grow past the subscription's cap, and what one read leaves
        // waiting beyond its queue is read again once the queue has run dry.
        let receiver =
            Receiver::start(vec![Reply { delay: Duration::from_millis(20), ..reply(200) }]).await;
        let ids: Vec<String> = (0..30).map(|i| format!("msg_{i:02}")).collect();
        let backlog: Vec<Delivery> = ids.iter().map(|id| delivery(id, "sub_1")).collect();
        let store = store_with(&subscription("sub_1", &receiver.url), &backlog);
        let config = DeliveryConfig { workers: 4, per_subscription: 2, batch: 4, ..config() };
        let (_deliverer, _) = start(&store, config);
        for id in &ids {
            assert_eq!(ended(&store, id).await.status, DeliveryStatus::Succeeded, "{id}");
        }
        assert_eq!(receiver.received().len(), 30, "each once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_written_while_others_are_sent_are_all_sent() {
        // Reads race the sends' outcomes: a read that comes back short because deliveries
        // changed under it must not be taken for the end of the queue.
        let receiver = Receiver::start(vec![reply(200)]).await;
        let store = store_with(&subscription("sub_1", &receiver.url), &[]);
        let (deliverer, _) = start(&store, config());
        for chunk in 0..50 {
            let batch: Vec<Delivery> =
                (0..100).map(|i| delivery(&format!("msg_{chunk:03}_{i:03}"), "sub_1")).collect();
            store.put_deliveries(&batch, Durability::Now).unwrap();
            deliverer.wake();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pending = store.pending_deliveries().unwrap();
            if pending == 0 {
                break;
            }
            let received = receiver.received().len();
            assert!(Instant::now() < deadline, "{pending} still pending, {received} received");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test]
    async fn send_now_retries_a_failed_delivery_which_then_follows_the_schedule() {
        let receiver = Receiver::start(vec![reply(500), reply(200)]).await;
        let sub = subscription("sub_1", &receiver.url);
        let mut failed = delivery("msg_1", "sub_1");
        let old = Attempt { status: Some(502), ..orphaned(failed.clone()).attempts[0].clone() };
        failed.attempts = vec![old; 4];
        apply(&mut failed, Decision::Failed);
        let store = store_with(&sub, &[failed.clone()]);
        let (deliverer, _) = start(&store, config());

        let retried = deliverer.send_now(&sub, failed).await.unwrap();
        assert_eq!(retried.status, DeliveryStatus::Pending);
        assert_eq!(retried.attempts.last().unwrap().status, Some(500));
        let next = retried.next_attempt_at_ms.unwrap();
        assert!(next >= retried.attempts[4].at_ms + 50, "the schedule's first step");
        assert_eq!(store.delivery("msg_1").unwrap(), Some(retried));

        let done = ended(&store, "msg_1").await;
        assert_eq!(done.status, DeliveryStatus::Succeeded);
        assert_eq!(done.attempts.len(), 6);
    }

    #[tokio::test]
    async fn send_now_sends_a_new_delivery_at_once_and_stores_it() {
        let receiver = Receiver::start(vec![reply(204)]).await;
        let sub = subscription("sub_1", &receiver.url);
        let store = store_with(&sub, &[]);
        let config = DeliveryConfig { schedule: vec![Duration::from_secs(60)], ..config() };
        let (deliverer, _) = start(&store, config);

        let test = Delivery { next_attempt_at_ms: None, ..delivery("msg_test", "sub_1") };
        let sent = deliverer.send_now(&sub, test).await.unwrap();
        assert_eq!((sent.status, statuses(&sent)), (DeliveryStatus::Succeeded, vec![Some(204)]));
        assert_eq!(store.delivery("msg_test").unwrap(), Some(sent));
        assert_eq!(receiver.received().len(), 1);
    }
}

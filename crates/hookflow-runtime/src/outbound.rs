//! Outbound webhooks: events hookflow raises ([`events`]), handed to the subscriptions that want
//! them ([`subscriptions`] manages those), each becoming a delivery that is written to the store
//! before anything is attempted and then sent, signed, with retries, by the delivery worker.
//!
//! The request path pays only for what is wanted: [`Outbound::wants`] reads the subscription
//! snapshot without a lock, and an event nobody wants is never built. A wanted one goes through a
//! channel to the fan-out task, which renders each subscription's payload, writes the deliveries
//! of a batch of events in one write (durable within a tick) and wakes the worker.

mod background;
pub mod events;
mod fanout;
pub mod retry;
pub mod sender;
pub mod signing;
pub mod subscriptions;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use arc_swap::ArcSwap;
use hookflow_core::Plan;
use hookflow_core::expr::Standalone;
use hookflow_store::{Delivery, Store, StoreError, Subscription};
use tokio::sync::{Notify, Semaphore, mpsc};

use self::events::{Event, SUBSCRIPTION_DISABLED};
use self::worker::{Deliverer, DeliveryConfig};
use crate::http_client::BuildError;
use crate::metrics::EVENTS_DROPPED;

/// Events that may be on their way to the store at once (each a few KiB).
pub const WAITING_EVENTS: usize = 16_384;

/// Why outbound delivery could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Client(#[from] BuildError),
    #[error("cannot read the subscriptions: {0}")]
    Store(#[from] StoreError),
    #[error("cannot start the delivery threads: {0}")]
    Runtime(std::io::Error),
}

/// A subscription as the fan-out uses it: its record and its payload expression, compiled.
#[derive(Debug)]
pub(crate) struct Live {
    pub subscription: Subscription,
    pub payload: Option<Standalone>,
}

/// An event type that deployed flows emit (with `emit` nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEventType {
    pub name: String,
    /// The flows that emit it, sorted.
    pub flows: Vec<String>,
}

/// The outbound side of the engine.
pub struct Outbound {
    store: Arc<dyn Store>,
    /// Every subscription, as last read from the store: a paused one's deliveries are written
    /// held, and go out when it is switched on again.
    live: ArcSwap<Vec<Arc<Live>>>,
    /// The event types the deployed flows emit, as of the last deploy.
    flow_events: ArcSwap<Vec<FlowEventType>>,
    events: mpsc::UnboundedSender<Event>,
    /// How many events were published, and how many of those the fan-out has written (or given
    /// up on), for [`Outbound::flush`].
    published: AtomicU64,
    handled: AtomicU64,
    written: Notify,
    /// Places for events on their way to the store ([`WAITING_EVENTS`]): memory stays bounded
    /// when the store falls behind.
    room: Semaphore,
    deliverer: Arc<Deliverer>,
    config: DeliveryConfig,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Outbound {
    /// Reads the subscriptions from `store` and starts the fan-out and the delivery worker on
    /// the current runtime (which sends what a previous process left pending).
    pub async fn start(
        store: Arc<dyn Store>,
        config: DeliveryConfig,
    ) -> Result<Arc<Outbound>, StartError> {
        let (events, rx) = mpsc::unbounded_channel();
        // A receiver answered 410: its subscription is off; the worker tells this through `me`.
        let me: Arc<OnceLock<Weak<Outbound>>> = Arc::default();
        let on_disabled = {
            let me = me.clone();
            Box::new(move |subscription: &Subscription| {
                if let Some(outbound) = me.get().and_then(Weak::upgrade) {
                    outbound.disabled(subscription);
                }
            })
        };
        let deliverer = Deliverer::start(store.clone(), config.clone(), on_disabled)?;
        let outbound = Arc::new(Outbound {
            store,
            live: ArcSwap::from_pointee(Vec::new()),
            flow_events: ArcSwap::from_pointee(Vec::new()),
            events,
            published: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            written: Notify::new(),
            room: Semaphore::new(WAITING_EVENTS),
            deliverer,
            config,
        });
        let _ = me.set(Arc::downgrade(&outbound));
        outbound.refresh().await?;
        tokio::spawn(fanout::run(Arc::downgrade(&outbound), rx));
        Ok(outbound)
    }

    /// A subscription hookflow switched off: the snapshot holds its deliveries from now on, and
    /// an event says so.
    fn disabled(self: &Arc<Self>, subscription: &Subscription) {
        let outbound = self.clone();
        tokio::spawn(async move {
            if let Err(e) = outbound.refresh().await {
                tracing::error!(error = %e, "cannot read the subscriptions again after one was switched off");
            }
        });
        let data = serde_json::json!({
            "subscription_id": subscription.id,
            "name": subscription.name,
            "reason": subscription.disabled_reason,
        });
        self.publish(Event::new(SUBSCRIPTION_DISABLED, data, events::EventContext::default()));
    }

    /// Whether a subscription, active or paused, wants events of type `kind`: no lock, no
    /// allocation.
    pub fn wants(&self, kind: &str) -> bool {
        self.live.load().iter().any(|live| live.subscription.wants(kind))
    }

    /// Hands `event` to the subscriptions that want it; its deliveries are written before any
    /// is attempted. Never waits: when [`WAITING_EVENTS`] events are already on their way to
    /// the store, the event is dropped, counted in `hookflow_events_dropped_total` and logged.
    /// An execution's event goes through [`Outbound::publish_waiting`] instead.
    pub fn publish(&self, event: Event) {
        match self.room.try_acquire() {
            Ok(place) => {
                place.forget();
                self.send(event);
            }
            Err(_) => {
                metrics::counter!(EVENTS_DROPPED, "event" => event.kind.clone()).increment(1);
                tracing::warn!(event = %event.kind, "{WAITING_EVENTS} events wait for the store already; an event is dropped");
            }
        }
    }

    /// Hands `event` over like [`Outbound::publish`], waiting for a place when
    /// [`WAITING_EVENTS`] are on their way to the store: the store sets the pace, and nothing
    /// is dropped.
    pub async fn publish_waiting(&self, event: Event) {
        if let Ok(place) = self.room.acquire().await {
            place.forget();
        }
        self.send(event);
    }

    fn send(&self, event: Event) {
        self.published.fetch_add(1, Ordering::AcqRel);
        if self.events.send(event).is_err() {
            self.handled(1);
            tracing::error!("the outbound fan-out has stopped; an event is lost");
        }
    }

    /// What a clean stop does: waits for the events on their way to the store, then stops
    /// sending (a delivery cut off mid-send stays due, and is sent after the next start).
    pub async fn stop(&self) {
        self.flush().await;
        self.deliverer.stop();
    }

    /// Waits until every event published before the call is written (or given up on).
    pub async fn flush(&self) {
        let published = self.published.load(Ordering::Acquire);
        loop {
            let written = self.written.notified();
            if self.handled.load(Ordering::Acquire) >= published {
                return;
            }
            written.await;
        }
    }

    /// The fan-out is done with `count` more events: their places are free again.
    fn handled(&self, count: usize) {
        self.room.add_permits(count);
        self.handled.fetch_add(count as u64, Ordering::AcqRel);
        self.written.notify_waiters();
    }

    /// Reads the subscriptions again (after a change). Blocks on the store on the blocking pool.
    pub(crate) async fn refresh(&self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let all =
            tokio::task::spawn_blocking(move || store.subscriptions()).await.map_err(|e| {
                StoreError::Backend {
                    store: "outbound".into(),
                    operation: "subscriptions".into(),
                    cause: e.to_string(),
                }
            })??;
        let live = all
            .into_iter()
            .map(|subscription| {
                // A stored payload compiled when it was written; one that no longer does (none
                // should) falls back to the envelope, and says so.
                let payload = subscription.payload.as_ref().and_then(|p| {
                    Standalone::compile(p)
                        .map_err(|d| tracing::error!(subscription = %subscription.id, problems = d.len(), "a stored payload does not compile; the default envelope is sent"))
                        .ok()
                });
                Arc::new(Live { subscription, payload })
            })
            .collect();
        self.live.store(Arc::new(live));
        Ok(())
    }

    /// The deliveries of flow event `event_id` to the subscriptions that want it, with ids
    /// that are the same each time they are built (see [`crate::flow_events::delivery_id`]). Not
    /// written: the caller writes them durably, then [`Outbound::wake`]s the worker.
    pub(crate) fn deliveries(&self, event: &Event, event_id: &str) -> Vec<Delivery> {
        let live = self.live.load();
        live.iter()
            .filter(|l| l.subscription.wants(&event.kind))
            .map(|l| {
                let id = crate::flow_events::delivery_id(event_id, &l.subscription.id);
                fanout::delivery(l, event, id)
            })
            .collect()
    }

    /// The event types `plans` emit become known (subscriptions may name them, the catalogue
    /// lists them): called with every deploy.
    pub fn set_flow_events(&self, plans: &[Arc<Plan>]) {
        let mut types: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for plan in plans {
            for kind in plan.emits() {
                let flows = types.entry(kind).or_default();
                if !flows.contains(&plan.id) {
                    flows.push(plan.id.clone());
                }
            }
        }
        let types = types
            .into_iter()
            .map(|(name, mut flows)| {
                flows.sort();
                FlowEventType { name: name.to_owned(), flows }
            })
            .collect();
        self.flow_events.store(Arc::new(types));
    }

    /// The event types the deployed flows emit, by name.
    pub fn flow_event_types(&self) -> Arc<Vec<FlowEventType>> {
        self.flow_events.load_full()
    }

    /// Tells the delivery worker that deliveries were written.
    pub(crate) fn wake(&self) {
        self.deliverer.wake();
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn deliverer(&self) -> &Deliverer {
        &self.deliverer
    }

    pub(crate) fn config(&self) -> &DeliveryConfig {
        &self.config
    }
}

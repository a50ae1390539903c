//! The events flows raise (`emit` nodes): each is written durably to the store's outbox before
//! the node's output is produced, then the dispatcher turns it into what it causes — one
//! delivery per subscription that wants it, and one queued execution per deployed flow whose
//! `event` trigger matches it — written in one go, and only then removes it from the outbox.
//! What it writes has ids derived from the event's, so an event that a crash left in the outbox
//! is dispatched again without doubling anything: a delivery or an execution that exists already
//! is left as it is.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use hookflow_core::Plan;
use hookflow_core::chains::{MAX_DEPTH, starts_on};
use hookflow_core::services::{BoxFuture, EmittedEvent, Events};
use hookflow_store::clock::{self, now_ms};
use hookflow_store::{
    Cause, Delivery, Durability, ExecutionRecord, ExecutionStatus, PendingEvent, RecordedError,
    RecordedRequest, Store, StoreError,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::engine::Engine;
use crate::group_commit::{GroupCommit, Names, SyncPolicy, each};
use crate::outbound::events::{Event, EventContext, rfc3339};
use crate::queue::Job;
use crate::record;
use crate::store_errors::{self, blocking};

/// Events one commit (of the writer) or one pass (of the dispatcher) takes, at most.
const BATCH: usize = 256;

/// How long the dispatcher waits after the store failed it, before it tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The `emit` node's events, written to `store`'s outbox.
pub struct FlowEvents {
    writes: Arc<GroupCommit<PendingEvent>>,
    /// Wakes the dispatcher: events were written (or the engine is going away).
    wake: Arc<Notify>,
}

impl std::fmt::Debug for FlowEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowEvents").finish_non_exhaustive()
    }
}

impl FlowEvents {
    /// Starts the outbox writer on the current runtime. The dispatcher is started by
    /// [`dispatch`], with the engine, and woken through [`FlowEvents::waker`].
    pub fn start(store: Arc<dyn Store>) -> FlowEvents {
        let names = Names {
            store: "events",
            operation: "write_event",
            stopped: "the events writer has stopped",
        };
        let writes =
            GroupCommit::start(store, BATCH, names, SyncPolicy::EveryWrite, |s, events, _| {
                s.put_events(&events).map(|()| each(&events))
            });
        FlowEvents { writes: Arc::new(writes), wake: Arc::new(Notify::new()) }
    }

    /// What wakes the dispatcher.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

impl Drop for FlowEvents {
    fn drop(&mut self) {
        // The engine is going: the dispatcher wakes, finds it gone and ends.
        self.wake.notify_one();
    }
}

impl Events for FlowEvents {
    fn emit(&self, event: EmittedEvent) -> BoxFuture<Result<String, String>> {
        let (writes, wake) = (self.writes.clone(), self.wake.clone());
        Box::pin(async move {
            let pending =
                pending(&event).map_err(|e| format!("the event could not be encoded: {e}"))?;
            let id = pending.id.clone();
            match writes.write(pending).await {
                Ok(()) => {
                    wake.notify_one();
                    Ok(id)
                }
                Err(e) => {
                    store_errors::failed("write_event", &e, "an event could not be stored");
                    Err(format!("the event could not be stored: {e}"))
                }
            }
        })
    }
}

/// `event` as the outbox keeps it: its envelope, `{id, type, timestamp, data, source}`, where
/// `source` names the flow and execution that raised it and the chain's depth (one more than
/// the execution's).
fn pending(event: &EmittedEvent) -> serde_json::Result<PendingEvent> {
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let now = now_ms();
    let envelope = json!({
        "id": id,
        "type": event.kind,
        "timestamp": rfc3339(now),
        "data": event.data,
        "source": {
            "flow_id": event.flow_id,
            "execution_id": event.execution_id,
            "depth": event.depth + 1,
        },
    });
    Ok(PendingEvent {
        id,
        event_type: event.kind.clone(),
        created_at_ms: now,
        json: serde_json::to_vec(&envelope)?,
    })
}

/// Runs the dispatcher until the engine is gone: a pass at start (for what a previous process
/// left in the outbox) and one each time events are written.
pub(crate) async fn dispatch(engine: Weak<Engine>, wake: Arc<Notify>) {
    loop {
        let Some(strong) = engine.upgrade() else { return };
        let outcome = strong.dispatch_events().await;
        drop(strong);
        match outcome {
            Ok(n) if n >= BATCH => {}
            Ok(_) => wake.notified().await,
            Err(e) => {
                let what = "cannot dispatch the events flows raised; retrying in a second";
                store_errors::retrying("dispatch_events", &e, what);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// The id of the delivery of event `event_id` to `subscription_id`.
pub(crate) fn delivery_id(event_id: &str, subscription_id: &str) -> String {
    format!("msg_{}", derived(event_id, subscription_id).simple())
}

/// The id of the execution of `flow_id` that event `event_id` starts.
fn execution_id(event_id: &str, flow_id: &str) -> String {
    derived(event_id, flow_id).hyphenated().to_string()
}

/// A UUIDv7 with the time of event `event_id` (`evt_` and a UUIDv7's hex) and the rest derived
/// from both: the same for the same two, and in time order with the ids made when it was.
fn derived(event_id: &str, salt: &str) -> uuid::Uuid {
    use sha2::Digest as _;
    let base = event_id.trim_start_matches("evt_");
    let time = uuid::Uuid::try_parse(base).map_or([0; 6], |u| {
        let b = u.as_bytes();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    });
    let digest =
        sha2::Sha256::new().chain_update(base).chain_update([0]).chain_update(salt).finalize();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&time);
    bytes[6..].copy_from_slice(&digest[..10]);
    uuid::Builder::from_bytes(bytes)
        .with_version(uuid::Version::SortRand)
        .with_variant(uuid::Variant::RFC4122)
        .into_uuid()
}

/// What an event in the outbox causes, before it is written.
#[derive(Default)]
struct Caused {
    deliveries: Vec<Delivery>,
    /// The executions it starts, with the flows that run them.
    runs: Vec<(ExecutionRecord, Arc<Plan>)>,
    /// The events taken care of.
    done: Vec<String>,
}

impl Engine {
    /// One pass of the dispatcher over the outbox: answers how many events it took.
    async fn dispatch_events(&self) -> Result<usize, StoreError> {
        let pending = blocking(self.store(), "events", |s| s.pending_events(BATCH)).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let taken = pending.len();
        let Caused { deliveries, runs, done } = self.caused(pending);
        // What a dispatch before a crash wrote already is left as it is.
        let (runs, delivered) = blocking(self.store(), "events", move |s| {
            let mut new_deliveries = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                if s.delivery(&delivery.id)?.is_none() {
                    new_deliveries.push(delivery);
                }
            }
            let (mut records, mut plans) = (Vec::new(), Vec::new());
            for (record, plan) in runs {
                if s.execution(&record.id)?.is_none() {
                    records.push(record);
                    plans.push(plan);
                }
            }
            s.put_deliveries(&new_deliveries, Durability::Now)?;
            s.put_executions(&records)?;
            s.delete_events(&done)?;
            Ok((records.into_iter().zip(plans), !new_deliveries.is_empty()))
        })
        .await?;
        if delivered {
            self.outbound.wake();
        }
        for (record, plan) in runs.filter(|(record, _)| record.status == ExecutionStatus::Queued) {
            self.queue.send(Job { record, plan }).await;
        }
        Ok(taken)
    }

    /// What each of `pending` causes, on the flows deployed now.
    fn caused(&self, pending: Vec<PendingEvent>) -> Caused {
        let deployed = self.deployed.load();
        let mut caused = Caused::default();
        for event in pending {
            caused.done.push(event.id.clone());
            let envelope: Value = match serde_json::from_slice(&event.json) {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::error!(event = %event.id, error = %e, "an event in the outbox is not JSON; it is dropped");
                    continue;
                }
            };
            let source = &envelope["source"];
            let depth =
                source["depth"].as_u64().map_or(1, |d| u32::try_from(d).unwrap_or(u32::MAX));
            let parent = source["execution_id"].as_str().unwrap_or_default().to_owned();
            let outbound = Event {
                kind: event.event_type.clone(),
                timestamp_ms: event.created_at_ms,
                data: envelope["data"].clone(),
                context: EventContext {
                    flow_id: source["flow_id"].as_str().map(str::to_owned),
                    execution_id: Some(parent.clone()),
                    node_id: None,
                },
            };
            if self.outbound.wants(&event.event_type) {
                caused.deliveries.extend(self.outbound.deliveries(&outbound, &event.id));
            }
            let starts = deployed
                .plans
                .iter()
                .filter(|p| starts_on(p, &event.event_type) && deployed.activation.is_active(p));
            for plan in starts {
                let cause = Cause {
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                    parent_execution_id: parent.clone(),
                    depth,
                    event: envelope.clone(),
                };
                caused.runs.push((child(plan, &event, cause), plan.clone()));
            }
        }
        caused
    }
}

/// The execution of `plan` that `cause` starts: queued, or failed when the chain of events is
/// deeper than [`MAX_DEPTH`].
fn child(plan: &Plan, event: &PendingEvent, cause: Cause) -> ExecutionRecord {
    let request = RecordedRequest {
        method: "EVENT".into(),
        path: event.event_type.clone(),
        query: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        body_truncated: false,
    };
    let id = execution_id(&event.id, &plan.id);
    let at = clock::time(event.created_at_ms);
    let mut record = record::head(id, Some(plan), None, ExecutionStatus::Queued, at, request);
    if cause.depth > MAX_DEPTH {
        record.status = ExecutionStatus::Failed;
        record.finished_at_ms = Some(record::millis(SystemTime::now()));
        record.error = Some(RecordedError {
            node: None,
            message: format!(
                "not run: the chain of events that started it is deeper than {MAX_DEPTH} (a cycle of flows?)"
            ),
        });
    }
    record.cause = Some(cause);
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_distinct_and_keep_the_event_s_time() {
        let event = format!("evt_{}", uuid::Uuid::now_v7().simple());
        assert_eq!(delivery_id(&event, "sub_a"), delivery_id(&event, "sub_a"));
        assert_ne!(delivery_id(&event, "sub_a"), delivery_id(&event, "sub_b"));
        assert_ne!(execution_id(&event, "a"), execution_id(&event, "b"));
        let id = uuid::Uuid::try_parse(&execution_id(&event, "a")).expect("a UUID");
        assert_eq!(id.get_version(), Some(uuid::Version::SortRand));
        assert_eq!(id.as_bytes()[..6], uuid::Uuid::try_parse(&event[4..]).unwrap().as_bytes()[..6]);
    }
}

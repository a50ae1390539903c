//! History retention, enforced in the background: per flow, finished executions beyond a count or
//! older than an age are removed; rejected calls beyond their own count; expired idempotency keys;
//! and, per subscription, finished deliveries (with their attempt log) beyond a count or older
//! than the same age. Unfinished executions and pending deliveries are never removed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hookflow_store::{Store, StoreError};

use crate::record::millis;

/// What history keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Finished executions older than this are removed.
    pub max_age: Duration,
    /// Finished executions of one flow beyond this many (newest kept) are removed.
    pub per_flow: usize,
    /// Rejected calls beyond this many (newest kept) are removed.
    pub rejected: usize,
    /// Finished deliveries of one subscription beyond this many (newest kept) are removed.
    pub per_subscription: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(30 * 24 * 3600),
            per_flow: 10_000,
            rejected: 10_000,
            per_subscription: 10_000,
        }
    }
}

/// One pass over the store; answers how many records were removed.
pub fn enforce(store: &dyn Store, policy: Retention, now: SystemTime) -> Result<usize, StoreError> {
    let older_than = millis(now.checked_sub(policy.max_age).unwrap_or(SystemTime::UNIX_EPOCH));
    let mut removed = 0;
    for flow in store.flows_with_executions()? {
        removed += store.prune_executions(&flow, policy.per_flow, older_than)?;
    }
    removed += store.prune_rejected(policy.rejected)?;
    removed += store.prune_idempotency(millis(now))?;
    removed += store.prune_deliveries(policy.per_subscription, older_than)?;
    Ok(removed)
}

/// Enforces `policy` every `every`, on the current runtime, until the process ends.
pub fn start(store: Arc<dyn Store>, policy: Retention, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let store = store.clone();
            match tokio::task::spawn_blocking(move || enforce(&*store, policy, SystemTime::now()))
                .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => tracing::info!(removed, "history retention removed old records"),
                Ok(Err(e)) => {
                    crate::store_errors::failed("prune_history", &e, "history retention failed");
                }
                Err(e) => tracing::error!(error = %e, "history retention task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use hookflow_store::{Delivery, DeliveryStatus, Durability, MemoryStore};

    use super::*;

    fn delivery(id: &str, status: DeliveryStatus, created_at_ms: i64) -> Delivery {
        Delivery {
            id: id.into(),
            subscription_id: "sub_1".into(),
            event_type: "test".into(),
            payload: b"{}".to_vec(),
            status,
            created_at_ms,
            next_attempt_at_ms: (status == DeliveryStatus::Pending).then_some(created_at_ms),
            attempts: Vec::new(),
        }
    }

    #[test]
    fn old_finished_deliveries_go_and_pending_ones_stay() {
        let store = MemoryStore::new();
        let old = 1_000;
        store
            .put_deliveries(
                &[
                    delivery("msg_01", DeliveryStatus::Succeeded, old),
                    delivery("msg_02", DeliveryStatus::Failed, old),
                    delivery("msg_03", DeliveryStatus::Pending, old),
                ],
                Durability::Now,
            )
            .unwrap();
        let now = hookflow_store::clock::time(old) + Duration::from_secs(31 * 24 * 3600);
        assert_eq!(enforce(&store, Retention::default(), now).unwrap(), 2);
        assert!(store.delivery("msg_01").unwrap().is_none());
        assert!(store.delivery("msg_03").unwrap().is_some(), "a pending delivery is kept");
    }
}

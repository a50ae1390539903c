//! When deferred writes reach the disk: a writer that writes often makes most of its writes
//! [`Durability::Deferred`] and syncs once per [`TICK`], so that a tick's writes share one sync
//! to disk (syncing every few records costs more than the records themselves). The history
//! writer and the outbound fan-out pace their writes this way.

use std::sync::Arc;
use std::time::Duration;

use hookflow_store::{Durability, Store};
use tokio::time::Instant;

use crate::store_errors;

/// A paced writer syncs to disk at most once per tick (a flush excepted), and at most a tick
/// after a deferred write.
pub const TICK: Duration = Duration::from_millis(100);
/// A paced writer writes at most once per step (a full batch excepted), so that the writes of a
/// step share one transaction and a caller handing one over rarely has to wake the writer.
pub(crate) const STEP: Duration = Duration::from_millis(2);

/// When the writer's writes reach the disk: durably once per tick, deferred in between.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// When the last sync started (everything written before it is durable); `None` before the
    /// first.
    synced: Option<Instant>,
    /// Whether a deferred write waits for a sync.
    unsynced: bool,
}

impl Pace {
    /// How a write starting at `now` is made: durably when a flush waits for it or a tick has
    /// passed since the last sync; deferred otherwise.
    pub(crate) fn durability(&self, now: Instant, flush: bool) -> Durability {
        match self.synced {
            Some(synced) if !flush && now < synced + TICK => Durability::Deferred,
            _ => Durability::Now,
        }
    }

    /// A write that started at `at` went through.
    pub(crate) fn written(&mut self, durability: Durability, at: Instant) {
        match durability {
            Durability::Now => self.synced(at),
            _ => self.unsynced = true,
        }
    }

    /// Everything written before `at` is durable.
    pub(crate) fn synced(&mut self, at: Instant) {
        (self.synced, self.unsynced) = (Some(at), false);
    }

    /// A sync that started at `at` failed: the next is tried a tick later.
    pub(crate) fn sync_failed(&mut self, at: Instant) {
        self.synced = Some(at);
    }

    /// When the deferred writes must be synced, if any wait.
    pub(crate) fn sync_due(&self) -> Option<Instant> {
        self.unsynced.then(|| self.synced.map_or_else(Instant::now, |synced| synced + TICK))
    }
}

/// Makes `store`'s deferred writes durable and tells `pace`; a failure is logged (as
/// `operation`, saying `what`) and tried again a tick later. A sync cancelled because the
/// runtime is shutting down is no failure: a clean stop flushes the store last.
pub(crate) async fn sync(
    store: Arc<dyn Store>,
    pace: &mut Pace,
    operation: &'static str,
    what: &str,
) {
    let at = Instant::now();
    match tokio::task::spawn_blocking(move || store.flush()).await {
        Ok(Ok(())) => pace.synced(at),
        // The runtime is shutting down; a clean stop flushes the store itself.
        Err(e) if e.is_cancelled() => {}
        outcome => {
            let error = outcome.map_or_else(|e| e.to_string(), |e| e.unwrap_err().to_string());
            store_errors::retrying(operation, &error, what);
            pace.sync_failed(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_synced_once_per_tick_unless_a_flush_waits() {
        let start = Instant::now();
        let later = |ms| start + Duration::from_millis(ms);
        let mut pace = Pace::default();
        assert_eq!(pace.durability(start, false), Durability::Now, "the first write");
        pace.written(Durability::Now, start);
        assert_eq!(pace.sync_due(), None, "nothing waits for a sync");
        assert_eq!(pace.durability(later(2), false), Durability::Deferred, "within the tick");
        pace.written(Durability::Deferred, later(2));
        assert_eq!(pace.sync_due(), Some(start + TICK), "synced a tick after the last sync");
        assert_eq!(pace.durability(later(4), true), Durability::Now, "a flush waits");
        let tick = u64::try_from(TICK.as_millis()).unwrap();
        assert_eq!(pace.durability(later(tick), false), Durability::Now, "a tick has passed");
        pace.synced(later(tick));
        assert_eq!(pace.sync_due(), None);
        pace.written(Durability::Deferred, later(tick + 2));
        pace.sync_failed(later(2 * tick));
        assert_eq!(pace.sync_due(), Some(later(3 * tick)), "a failed sync is tried a tick later");
    }
}

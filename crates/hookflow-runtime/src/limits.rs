//! What a route's limits count: calls a second per caller (`rate_limit`, a keyed GCRA bucket
//! from `governor`, `429` with `Retry-After` when a caller is over it) and runs in flight
//! (`max_concurrency`, `503` with `Retry-After` when full). One [`RouteLimits`] per deployed
//! version of a flow, kept across deploys that leave the version alone; lock-free on the request
//! path. The buckets of callers that went quiet are dropped as calls come, so memory follows the
//! callers of the last moments, not every caller ever seen.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hookflow_core::limits::RateLimit;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Checks between two sweeps of the quiet callers' buckets.
const SWEEP_EVERY: u32 = 4096;

/// What tells one caller from another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    Ip(IpAddr),
    /// A credential's name, or what the route's key expression yielded.
    Name(String),
}

/// The counts of one route.
pub struct RouteLimits {
    rate: Option<DefaultKeyedRateLimiter<Caller>>,
    checks: AtomicU32,
    running: Option<Arc<Semaphore>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RouteLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteLimits").finish_non_exhaustive()
    }
}

/// `max_concurrency` runs of the route are in flight: `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl RouteLimits {
    /// The counts for a route with `rate` and `max_concurrency`; `None` when it has neither.
    pub fn new(
        rate: Option<&RateLimit>,
        max_concurrency: Option<NonZeroU32>,
    ) -> Option<RouteLimits> {
        if rate.is_none() && max_concurrency.is_none() {
            return None;
        }
        Some(RouteLimits {
            rate: rate
                .map(|r| RateLimiter::keyed(Quota::per_second(r.per_second).allow_burst(r.burst))),
            checks: AtomicU32::new(0),
            running: max_concurrency.map(|n| Arc::new(Semaphore::new(n.get() as usize))),
            clock: DefaultClock::default(),
        })
    }

    /// Counts a call of `caller` against the rate: `Err` with how long until it would pass.
    pub fn admit(&self, caller: &Caller) -> Result<(), Duration> {
        let Some(rate) = &self.rate else { return Ok(()) };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            rate.retain_recent();
        }
        rate.check_key(caller).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// A place among the route's runs in flight, held until the run ends; `Err(Busy)` when none
    /// is free. `Ok(None)` for a route without `max_concurrency`.
    pub fn enter(&self) -> Result<Option<OwnedSemaphorePermit>, Busy> {
        match &self.running {
            None => Ok(None),
            Some(places) => places.clone().try_acquire_owned().map(Some).map_err(|_| Busy),
        }
    }
}

/// `Retry-After` for a wait: whole seconds, at least 1.
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_nanos().div_ceil(1_000_000_000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use hookflow_core::limits::LimitKey;

    use super::*;

    fn limits(per_second: u32, burst: u32, concurrency: Option<u32>) -> RouteLimits {
        let rate = RateLimit {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            key: LimitKey::Ip,
        };
        RouteLimits::new(Some(&rate), concurrency.and_then(NonZeroU32::new)).unwrap()
    }

    #[test]
    fn the_call_past_the_burst_waits_and_callers_are_counted_apart() {
        let l = limits(10, 10, None);
        let a = Caller::Ip("192.0.2.1".parse().unwrap());
        for _ in 0..10 {
            assert_eq!(l.admit(&a), Ok(()));
        }
        let Err(wait) = l.admit(&a) else { panic!("the 11th passed") };
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(l.admit(&Caller::Name("other".into())), Ok(()));
        assert_eq!(retry_after(wait), 1);
        assert_eq!(retry_after(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after(Duration::from_secs(3)), 3);
    }

    #[test]
    fn runs_in_flight_are_capped_and_a_place_frees_when_its_run_ends() {
        let l = limits(1000, 1000, Some(2));
        let first = l.enter().unwrap();
        let _second = l.enter().unwrap();
        assert_eq!(l.enter().unwrap_err(), Busy);
        drop(first);
        assert!(l.enter().is_ok());
        assert!(RouteLimits::new(None, None).is_none());
    }
}

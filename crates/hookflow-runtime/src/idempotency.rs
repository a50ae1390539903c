//! Idempotent routes: the first call with a key runs and its response is kept (in the store,
//! for the route's TTL); a repeat gets that response, marked `Idempotent-Replayed: true`, and no
//! second execution. A repeat that arrives while the first is still running waits for it (up to
//! the route's deadline) rather than running twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hookflow_store::IdempotencyRecord;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::record::{self, Sent, millis};
use crate::run::CallError;
use crate::store_errors;

/// The header that marks a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

type Key = (String, String);

/// Keys whose first call is running, with a channel that gets its response.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashMap<Key, watch::Receiver<Option<Sent>>>>);

enum Claim<'a> {
    First(Guard<'a>),
    Wait(watch::Receiver<Option<Sent>>),
}

/// Held by the first call of a key; dropping it lets the key go (waiters see no response if it
/// was not given).
struct Guard<'a> {
    inflight: &'a InFlight,
    key: Key,
    tx: watch::Sender<Option<Sent>>,
}

impl Guard<'_> {
    fn finish(&self, sent: &Sent) {
        self.tx.send_replace(Some(sent.clone()));
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.inflight.0.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

impl InFlight {
    fn claim(&self, flow: &str, key: &str) -> Claim<'_> {
        let key = (flow.to_owned(), key.to_owned());
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = map.get(&key) {
            return Claim::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Claim::First(Guard { inflight: self, key, tx })
    }
}

/// Serves a call of an idempotent route with key `key`; `run` runs the flow when this is the
/// first call with the key.
pub(crate) async fn serve(
    engine: &Engine,
    flow: &str,
    key: String,
    (ttl, wait): (Duration, Duration),
    execution_id: &str,
    run: impl Future<Output = Result<Sent, CallError>>,
) -> Result<Sent, CallError> {
    let guard = match engine.inflight.claim(flow, &key) {
        Claim::Wait(mut rx) => {
            return match tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await {
                Ok(Ok(first)) => Ok(replayed(first.clone().unwrap_or_else(empty))),
                _ => Err(CallError::IdempotencyPending),
            };
        }
        Claim::First(guard) => guard,
    };
    let store = engine.store().clone();
    let (f, k) = (flow.to_owned(), key.clone());
    let stored = tokio::task::spawn_blocking(move || store.idempotency(&f, &k))
        .await
        .map_err(|_| CallError::Internal)?
        .map_err(|e| {
            store_errors::failed("read_idempotency", &e, "cannot read an idempotency key");
            CallError::Unavailable
        })?;
    let now = SystemTime::now();
    if let Some(first) = stored.filter(|r| r.expires_at_ms > millis(now)) {
        let sent = Sent {
            status: first.response.status,
            headers: first.response.headers,
            body: Bytes::from(first.response.body),
        };
        guard.finish(&sent);
        return Ok(replayed(sent));
    }
    let result = run.await;
    // A 5xx is not kept: the caller may retry it.
    if let Ok(sent) = &result
        && sent.status < 500
    {
        let record = IdempotencyRecord {
            flow_id: flow.to_owned(),
            key,
            execution_id: execution_id.to_owned(),
            response: record::sent(sent.status, &sent.headers, &sent.body, usize::MAX),
            expires_at_ms: millis(now + ttl),
        };
        let store = engine.store().clone();
        match tokio::task::spawn_blocking(move || store.put_idempotency(&record)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                store_errors::failed("write_idempotency", &e, "cannot store an idempotency key")
            }
            Err(e) => tracing::error!(error = %e, "storing an idempotency key failed"),
        }
        guard.finish(sent);
    }
    result
}

fn replayed(mut sent: Sent) -> Sent {
    sent.headers.push((REPLAYED_HEADER.into(), "true".into()));
    sent
}

fn empty() -> Sent {
    Sent { status: 500, headers: Vec::new(), body: Bytes::new() }
}

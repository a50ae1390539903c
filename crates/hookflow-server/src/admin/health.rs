//! `GET /readyz`: whether this instance can serve webhooks. It is ready once the flow files have
//! been loaded (whatever they hold: no flow at all, or some rejected) and while the store answers
//! a read within [`STORE_DEADLINE`]; otherwise it answers `503` problem+json listing what is not
//! ready. Open to anyone, like `/healthz` (which only says that the process is up).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use hookflow_runtime::Engine;
use hookflow_runtime::reload::Reloader;
use hookflow_runtime::store_errors;
use hookflow_store::StoreError;
use serde_json::{Value, json};

use crate::error::AdminError;

/// How long the store may take to answer the readiness read.
const STORE_DEADLINE: Duration = Duration::from_secs(2);

/// What `/readyz` checks.
pub struct Readiness {
    app: Arc<Engine>,
    reloader: Reloader,
    store: StoreCheck,
}

impl Readiness {
    pub fn new(app: Arc<Engine>, reloader: Reloader) -> Readiness {
        Readiness { app, reloader, store: StoreCheck::default() }
    }
}

/// `GET /readyz`: `200` with the number of deployed flows, or `503` with the reasons.
pub async fn ready(State(readiness): State<Arc<Readiness>>) -> Result<Json<Value>, AdminError> {
    let flows = readiness.app.deployed.load().plans.len();
    let mut reasons = Vec::new();
    if !readiness.reloader.loaded() {
        let failed = readiness.reloader.last().and_then(|report| report.error.clone());
        reasons.push(match failed {
            Some(error) => {
                format!("the flows have not been loaded yet; the last reload failed: {error}")
            }
            None => "the flows have not been loaded yet".to_owned(),
        });
    }
    let store = readiness.app.store().clone();
    let read = move || store.credential("").map(drop);
    if let Err(reason) = readiness.store.run(read, STORE_DEADLINE).await {
        reasons.push(reason);
    }
    if reasons.is_empty() {
        Ok(Json(json!({ "status": "ready", "flows": flows })))
    } else {
        Err(AdminError::NotReady(reasons))
    }
}

/// One store read at a time: a store that hangs ties up one blocking thread, not one per check.
#[derive(Default)]
struct StoreCheck {
    running: Arc<AtomicBool>,
}

/// Clears the running flag when the read ends, however it ends.
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl StoreCheck {
    /// Runs `read` on the blocking pool; the reason the store is not ready when it fails, does not
    /// answer within `deadline`, or has not answered the previous check yet.
    async fn run(
        &self,
        read: impl FnOnce() -> Result<(), StoreError> + Send + 'static,
        deadline: Duration,
    ) -> Result<(), String> {
        if self.running.swap(true, Ordering::AcqRel) {
            return Err("the store has not answered the previous readiness check yet".into());
        }
        let done = Done(self.running.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _done = done;
            read()
        });
        let failed = "the store failed a read; the details are in the log";
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => {
                store_errors::failed("probe", &e, "the store failed the readiness read");
                Err(failed.into())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the readiness read's task failed");
                Err(failed.into())
            }
            Err(_) => Err(format!(
                "the store did not answer a read within {}",
                humantime::format_duration(deadline)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    const DEADLINE: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn a_store_that_fails_or_hangs_is_not_ready() {
        let check = StoreCheck::default();
        assert_eq!(check.run(|| Ok(()), DEADLINE).await, Ok(()));

        let broken = || {
            Err(StoreError::Backend {
                store: "test store".into(),
                operation: "read".into(),
                cause: "disk on fire".into(),
            })
        };
        let reason = check.run(broken, DEADLINE).await.unwrap_err();
        assert_eq!(reason, "the store failed a read; the details are in the log");

        let (release, wait) = mpsc::channel::<()>();
        let (ended, has_ended) = tokio::sync::oneshot::channel();
        let hung = move || {
            let _ = wait.recv();
            let _ = ended.send(());
            Ok(())
        };
        let reason = check.run(hung, DEADLINE).await.unwrap_err();
        assert_eq!(reason, "the store did not answer a read within 50ms");
        let reason = check.run(|| Ok(()), DEADLINE).await.unwrap_err();
        assert_eq!(reason, "the store has not answered the previous readiness check yet");

        drop(release);
        has_ended.await.unwrap();
        // The flag is cleared as the read's closure returns; the next check may run at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while check.running.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "the flag stayed set");
            tokio::task::yield_now().await;
        }
        assert_eq!(check.run(|| Ok(()), DEADLINE).await, Ok(()));
    }
}

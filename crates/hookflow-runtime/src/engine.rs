//! The engine: everything that runs flows, started once (by `hookflow serve`, and by every test
//! that needs a server) and shared by the listeners. It holds the store, the deployed flows and
//! the credential snapshot (each behind an `ArcSwap`, so that a request loads them without a
//! lock and a deploy swaps them whole), history, the `accepted` mode's worker pool, the
//! idempotency keys in flight, outbound delivery and the reload task, the one writer of the
//! deployed flows. Runs go through [`crate::run`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hookflow_core::Plan;
use hookflow_core::services::{HttpClient, Services};
use hookflow_store::{Credential, Store, StoreError};

use crate::activation::{Activation, ActivationError};
use crate::collections::StoreRecords;
use crate::deployed::Deployed;
use crate::flow_events::{self, FlowEvents};
use crate::history::{History, HistoryConfig};
use crate::idempotency::InFlight;
use crate::outbound::worker::DeliveryConfig;
use crate::outbound::{self, Outbound};
use crate::queue::{self, Queue};
use crate::reload::{self, ReloadConfig, Reloader, Report, Trigger};

/// What an engine is started with.
pub struct EngineConfig {
    /// The flows directory (or file).
    pub flows: PathBuf,
    /// The data directory (the activation is kept there).
    pub data: PathBuf,
    pub store: Arc<dyn Store>,
    /// How running flows call out over HTTP (`http_request` nodes). Their records and events
    /// go to `store`.
    pub http: Arc<dyn HttpClient>,
    pub history: HistoryConfig,
    /// Workers running `accepted` calls at once.
    pub workers: usize,
    /// `accepted` calls that may wait for a worker.
    pub queue_capacity: usize,
    /// The base URL callers use (status URLs and announced routes are built from it).
    pub public_base: String,
    /// Shows a new credential's secret to the operator, once.
    pub announce: Box<dyn Fn(&str) + Send + Sync>,
    /// How outbound webhooks are delivered.
    pub outbound: DeliveryConfig,
}

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read the credentials: {0}")]
    Credentials(StoreError),
    #[error("cannot read which flows were switched on or off: {0}")]
    Activation(#[from] ActivationError),
    #[error("cannot read the unfinished executions: {0}")]
    Recover(StoreError),
    #[error("cannot start outbound delivery: {0}")]
    Outbound(#[from] outbound::StartError),
    #[error("a start-up task failed: {0}")]
    Task(String),
    #[error("the reload task stopped")]
    ReloadStopped,
}

/// The running engine.
pub struct Engine {
    store: Arc<dyn Store>,
    /// The flows being served; a deploy stores a new value, requests in flight keep theirs.
    pub deployed: ArcSwap<Deployed>,
    /// Every credential by name, as last loaded from the store. The request path reads only this.
    pub credentials: ArcSwap<HashMap<String, Credential>>,
    pub(crate) services: Services,
    /// Where executions are recorded.
    pub history: Arc<History>,
    pub(crate) queue: Queue,
    /// Idempotency keys whose first call is running.
    pub(crate) inflight: InFlight,
    /// The base URL callers use, without a trailing `/`.
    pub public_base: String,
    /// Subscriptions, the events they receive and their delivery.
    pub outbound: Arc<Outbound>,
    reloader: Reloader,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("public_base", &self.public_base).finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts the engine on the current runtime: reads the credentials and the activation,
    /// starts history, the worker pool and the reload task, deploys the flows (the start-up
    /// reload, which also creates the credentials new routes name) and queues again the calls a
    /// previous process left unfinished. Answers the engine and the start-up reload's report.
    pub async fn start(config: EngineConfig) -> Result<(Arc<Engine>, Arc<Report>), StartError> {
        let EngineConfig { flows, data, store, http, history, workers, queue_capacity, .. } =
            config;
        let (credentials, activation) = {
            let (store, data) = (store.clone(), data.clone());
            tokio::task::spawn_blocking(move || {
                let credentials = snapshot(&*store).map_err(StartError::Credentials)?;
                Ok::<_, StartError>((credentials, Activation::load(&data)?))
            })
            .await
            .map_err(|e| StartError::Task(e.to_string()))??
        };
        let history = History::start(store.clone(), history);
        let events = FlowEvents::start(store.clone());
        let wake = events.waker();
        let services = Services {
            http,
            records: Arc::new(StoreRecords::start(store.clone())),
            events: Arc::new(events),
        };
        let outbound = Outbound::start(store.clone(), config.outbound).await?;
        let reload = ReloadConfig { flows, data, activation, announce: config.announce };
        let engine = Arc::new_cyclic(|engine| Engine {
            store,
            deployed: ArcSwap::from_pointee(Deployed::default()),
            credentials: ArcSwap::from_pointee(credentials),
            services,
            history,
            queue: Queue::start(workers, queue_capacity, engine.clone()),
            inflight: InFlight::default(),
            public_base: config.public_base,
            outbound,
            reloader: reload::start(engine.clone(), reload),
        });
        let report =
            engine.reloader.reload(Trigger::Startup).await.ok_or(StartError::ReloadStopped)?;
        let recovered = queue::recover(&engine).await.map_err(StartError::Recover)?;
        if recovered > 0 {
            tracing::info!(recovered, "queued again the calls a previous run left unfinished");
        }
        // After the start-up deploy: the events a previous process left start today's flows.
        tokio::spawn(flow_events::dispatch(Arc::downgrade(&engine), wake));
        Ok((engine, report))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The reload task's handle: every change to the deployed flows goes through it.
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// How the engine's flows call out over HTTP (for a run of a flow outside the engine, such
    /// as an offline test call, that should call out as the served flow does).
    pub fn http(&self) -> Arc<dyn hookflow_core::services::HttpClient> {
        self.services.http.clone()
    }

    /// The deployed plan of flow `id`.
    pub fn plan(&self, id: &str) -> Option<Arc<Plan>> {
        self.deployed.load().plan(id).cloned()
    }

    /// Replaces the credential snapshot with what the store holds now. Blocks on the store.
    pub fn reload_credentials(&self) -> Result<(), StoreError> {
        self.credentials.store(Arc::new(snapshot(&*self.store)?));
        Ok(())
    }

    /// Serves `deployed` from now on; requests in flight finish on the flows they started with.
    pub(crate) fn deploy(&self, mut deployed: Deployed) {
        deployed.keep_counts(&self.deployed.load());
        self.outbound.set_flow_events(&deployed.plans);
        self.deployed.store(Arc::new(deployed));
    }

    /// Waits until every record handed to history and every event published is stored, stops
    /// sending deliveries, then flushes the store: what a clean stop does once the listeners
    /// have drained.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.history.flush().await;
        self.outbound.stop().await;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.flush()).await.map_err(|e| {
            StoreError::Backend {
                store: "engine".into(),
                operation: "flush".into(),
                cause: e.to_string(),
            }
        })?
    }
}

/// Every credential in `store`, by name.
fn snapshot(store: &dyn Store) -> Result<HashMap<String, Credential>, StoreError> {
    Ok(store.credentials()?.into_iter().map(|c| (c.name.clone(), c)).collect())
}

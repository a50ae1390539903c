//! What the handlers read on every request: the deployed flows and the credential snapshot, each
//! behind an `ArcSwap` so that a request loads them without a lock and a deploy swaps them whole,
//! and the services flows call out to.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hookflow_core::services::Services;
use hookflow_core::{FlowSet, Plan, RouteTable};
use hookflow_runtime::activation::Activation;
use hookflow_runtime::history::History;
use hookflow_runtime::queue::Queue;

use crate::idempotency::InFlight;
use crate::metrics::DeployedMetrics;
use hookflow_store::{Credential, Store, StoreError};

/// The flows being served: their plans and the route table built from them.
#[derive(Debug, Default)]
pub struct Deployed {
    /// The plans that are mounted in `routes`.
    pub plans: Vec<Arc<Plan>>,
    /// `(method, suffix)` → plan.
    pub routes: RouteTable,
    /// The metric handles of every route, resolved once per deploy.
    pub metrics: DeployedMetrics,
    /// The text each served flow was deployed from, by flow id.
    pub documents: HashMap<String, Arc<str>>,
    /// The flows switched on or off through the admin API (it decided `routes`' activity).
    pub activation: Activation,
}

impl Deployed {
    /// Serves `plans` through `routes`, with their metric handles resolved (no documents, no
    /// activation entries).
    pub fn new(plans: Vec<Arc<Plan>>, routes: RouteTable) -> Self {
        let metrics = DeployedMetrics::resolve(&plans);
        Deployed { plans, routes, metrics, ..Deployed::default() }
    }
}

impl From<FlowSet> for Deployed {
    fn from(set: FlowSet) -> Self {
        Deployed::new(set.plans, set.routes)
    }
}

/// The state shared by every request.
#[derive(Debug)]
pub struct AppState {
    /// The flows being served; a deploy stores a new value, requests in flight keep theirs.
    pub deployed: ArcSwap<Deployed>,
    /// Every credential by name, as last loaded from the store. The request path reads only this.
    pub credentials: ArcSwap<HashMap<String, Credential>>,
    /// What running flows call out to (outbound HTTP).
    pub services: Services,
    /// Where calls are recorded.
    pub history: Arc<History>,
    /// The `accepted` mode's workers.
    pub queue: Queue,
    /// The base URL callers use (status URLs are built from it).
    pub public_base: String,
    /// Idempotency keys whose first call is running.
    pub inflight: InFlight,
}

/// What the state runs with besides the flows and credentials.
#[derive(Debug, Clone)]
pub struct Engine {
    pub services: Services,
    pub history: Arc<History>,
    pub queue: Queue,
    pub public_base: String,
}

impl AppState {
    /// State serving `deployed`, with no credentials (every authenticated route answers `401`
    /// until [`AppState::reload_credentials`] runs).
    pub fn new(deployed: Deployed, engine: Engine) -> Self {
        AppState {
            deployed: ArcSwap::from_pointee(deployed),
            credentials: ArcSwap::from_pointee(HashMap::new()),
            services: engine.services,
            history: engine.history,
            queue: engine.queue,
            public_base: engine.public_base,
            inflight: InFlight::default(),
        }
    }

    /// State serving `deployed` with the credentials currently in `store`. Blocks on the store.
    pub fn load(deployed: Deployed, engine: Engine, store: &dyn Store) -> Result<Self, StoreError> {
        let state = AppState::new(deployed, engine);
        state.reload_credentials(store)?;
        Ok(state)
    }

    /// Replaces the credential snapshot with what `store` holds now. Blocks on the store.
    pub fn reload_credentials(&self, store: &dyn Store) -> Result<(), StoreError> {
        let all = store.credentials()?.into_iter().map(|c| (c.name.clone(), c)).collect();
        self.credentials.store(Arc::new(all));
        Ok(())
    }

    /// The deployed plan of flow `id`.
    pub fn plan(&self, id: &str) -> Option<Arc<Plan>> {
        self.deployed.load().plans.iter().find(|p| p.id == id).cloned()
    }

    /// Serves `deployed` from now on; requests in flight finish on the flows they started with.
    pub fn deploy(&self, deployed: Deployed) {
        self.deployed.store(Arc::new(deployed));
    }
}

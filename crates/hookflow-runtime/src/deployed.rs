//! The flows being served, as one snapshot: their plans, the route table built from them, the
//! text each came from, the activation that decided which routes answer, and the metric handles
//! each route counts with. The reload task builds a new one whole and swaps it in; a request
//! loads one and finishes on it.

use std::collections::HashMap;
use std::sync::Arc;

use hookflow_core::{Plan, RouteTable};

use crate::activation::Activation;
use crate::limits::RouteLimits;
use crate::metrics::DeployedMetrics;

/// The flows being served: their plans and the route table built from them.
#[derive(Debug, Default)]
pub struct Deployed {
    /// The plans that are deployed (those a webhook starts are mounted in `routes`).
    pub plans: Vec<Arc<Plan>>,
    /// `(method, suffix)` → plan.
    pub routes: RouteTable,
    /// The metric handles of every route, resolved once per deploy.
    pub metrics: DeployedMetrics,
    /// The text each served flow was deployed from, by flow id.
    pub documents: HashMap<String, Arc<str>>,
    /// The flows switched on or off through the admin API (it decided `routes`' activity).
    pub activation: Activation,
    /// The counts of the routes that have `rate_limit` or `max_concurrency`, by flow id.
    pub limits: HashMap<String, Arc<RouteLimits>>,
}

impl Deployed {
    /// Serves `plans` through `routes`, with their metric handles resolved (no documents, no
    /// activation entries).
    pub fn new(plans: Vec<Arc<Plan>>, routes: RouteTable) -> Self {
        let metrics = DeployedMetrics::resolve(&plans);
        let limits = plans
            .iter()
            .filter_map(|plan| {
                let hook = plan.webhook()?;
                let limits = RouteLimits::new(hook.rate_limit.as_ref(), hook.max_concurrency)?;
                Some((plan.id.clone(), Arc::new(limits)))
            })
            .collect();
        Deployed { plans, routes, metrics, limits, ..Deployed::default() }
    }

    /// Takes over `before`'s counts for the flows whose version did not change: a deploy of
    /// other flows does not hand their callers a new burst.
    pub fn keep_counts(&mut self, before: &Deployed) {
        for plan in &self.plans {
            let unchanged = before.plan(&plan.id).is_some_and(|p| p.version == plan.version);
            if unchanged && let Some(kept) = before.limits.get(&plan.id) {
                self.limits.insert(plan.id.clone(), kept.clone());
            }
        }
    }

    /// The deployed plan of flow `id`.
    pub fn plan(&self, id: &str) -> Option<&Arc<Plan>> {
        self.plans.iter().find(|p| p.id == id)
    }
}

//! The credentials that served routes name and the store lacks are created when the routes are
//! deployed (at start-up, and when a reload adds a route), so that a new flow's URL is usable at
//! once: each new secret is handed back once, with the URLs it protects, to be shown to the
//! operator. A credential of another kind than a route wants is left alone and logged.
//!
//! Blocks on the store: call it from `spawn_blocking` on an async thread.

use std::collections::BTreeMap;

use hookflow_core::RouteTable;
use hookflow_core::routes::public_url;
use hookflow_store::Store;

use crate::auth::kind_of;
use crate::credentials::{self, CredentialError, CredentialKind, Issued};

/// A credential created for the routes that name it.
#[derive(Debug)]
pub struct Provisioned {
    /// The new credential and its secret (returned only here).
    pub issued: Issued,
    /// `METHOD URL` of every route that needs it.
    pub urls: Vec<String>,
}

impl Provisioned {
    /// What the operator is shown, once: the credential, the URLs, the secret and how to rotate
    /// it.
    pub fn announcement(&self) -> String {
        let Issued { name, kind, username, secret } = &self.issued;
        let mut out = format!("created {kind} credential `{name}` for {}\n", self.urls.join(", "));
        if let Some(user) = username {
            out.push_str(&format!("  username: {user}\n"));
        }
        out.push_str(&format!(
            "  secret:   {secret}\n  (shown once; rotate with `hookflow credentials rotate {name}`)\n"
        ));
        out
    }
}

/// Creates every credential a route of `routes` names and `store` lacks (a basic one with its
/// own name as username), and logs each without its secret. `public_base` makes the URLs.
pub fn missing_credentials(
    store: &dyn Store,
    routes: &RouteTable,
    public_base: &str,
    now_ms: i64,
) -> Result<Vec<Provisioned>, CredentialError> {
    let mut wanted: BTreeMap<&str, (CredentialKind, Vec<String>)> = BTreeMap::new();
    for route in routes.entries() {
        let Some(auth) = route.plan.webhook().map(|hook| &hook.auth) else { continue };
        let (Some(kind), Some(name)) = (kind_of(auth), auth.credential()) else { continue };
        let url = format!("{} {}", route.method.as_str(), public_url(public_base, route.suffix));
        wanted.entry(name).or_insert_with(|| (kind, Vec::new())).1.push(url);
    }
    let mut created = Vec::new();
    for (name, (kind, urls)) in wanted {
        if let Some(existing) = store.credential(name)? {
            if existing.kind != kind {
                tracing::warn!(
                    credential = name,
                    "credential is a {} credential but a route wants {kind}; those calls will be refused",
                    existing.kind
                );
            }
            continue;
        }
        let username = (kind == CredentialKind::Basic).then(|| name.to_owned());
        let issued = credentials::create(store, name, kind, username, now_ms)?;
        tracing::info!(credential = name, kind = %kind, "created a missing credential; its secret was printed once to standard output");
        created.push(Provisioned { issued, urls });
    }
    Ok(created)
}

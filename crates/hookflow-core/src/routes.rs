//! The route table: every flow's suffix and methods in one matchit router, built once per deploy
//! and looked up per request. Conflicts between flows are found while building, never at
//! request time.

use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, Location, Related};
use crate::nodes::webhook::Method;
use crate::plan::Plan;

/// Where webhook suffixes are mounted on the public URL.
pub const HOOKS_BASE: &str = "/hooks";

/// The flows served under one suffix, by method, each with whether it is active.
#[derive(Debug)]
struct Route {
    suffix: String,
    methods: Vec<(Method, Arc<Plan>, bool)>,
}

/// One mounted (suffix, method) and the flow behind it.
#[derive(Debug, Clone, Copy)]
pub struct Mounted<'a> {
    pub suffix: &'a str,
    pub method: Method,
    pub plan: &'a Arc<Plan>,
    /// Whether the route answers; an inactive flow's routes are mounted but not found.
    pub active: bool,
}

/// The full public URL of `suffix` for callers who reach the webhook listener at `public_base`
/// (without a trailing `/`).
pub fn public_url(public_base: &str, suffix: &str) -> String {
    format!("{public_base}{HOOKS_BASE}{suffix}")
}

/// Every mounted suffix.
#[derive(Debug, Default)]
pub struct RouteTable {
    router: matchit::Router<usize>,
    routes: Vec<Route>,
}

/// What a request's method and suffix path found.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found {
        plan: &'a Arc<Plan>,
        params: Vec<(String, String)>,
    },
    /// The suffix is served, but not for this method: `allow` lists the methods that are.
    MethodNotAllowed {
        allow: Vec<&'static str>,
    },
    NotFound,
}

impl RouteTable {
    /// Mounts the plans in order, each active or not as `active` says. A plan whose route
    /// conflicts with an earlier one is left out and gets a diagnostic naming both flows; the
    /// answer lists the plans that were mounted.
    pub fn build(
        plans: Vec<Arc<Plan>>,
        active: &dyn Fn(&Plan) -> bool,
    ) -> (RouteTable, Vec<Arc<Plan>>, Vec<Diagnostic>) {
        let mut table = RouteTable::default();
        let mut mounted = Vec::with_capacity(plans.len());
        let mut diagnostics = Vec::new();
        for plan in plans {
            match table.mount(&plan, active(&plan)) {
                Ok(()) => mounted.push(plan),
                Err(d) => diagnostics.push(*d),
            }
        }
        (table, mounted, diagnostics)
    }

    fn mount(&mut self, plan: &Arc<Plan>, active: bool) -> Result<(), Box<Diagnostic>> {
        // A flow that no webhook starts has no route.
        let Some(trigger) = plan.webhook() else { return Ok(()) };
        let suffix = trigger.suffix.as_str();
        let conflict = |other: &Plan, what: String| {
            let at = Location::new(&plan.file, format!("{}/suffix", plan.trigger_pointer()));
            Box::new(
                Diagnostic::new(Code::RouteConflict, at, what)
                    .with_node(Some(&plan.nodes[plan.trigger].id))
                    .with_related(Related {
                        message: format!(
                            "flow `{}` mounts `{}` here",
                            other.id,
                            other.webhook().map_or("", |hook| hook.suffix.as_str())
                        ),
                        location: Location::new(
                            &other.file,
                            format!("{}/suffix", other.trigger_pointer()),
                        ),
                    })
                    .with_help("change the suffix, or the methods, of one of the two flows"),
            )
        };
        let methods = trigger.methods.iter().map(|m| (*m, plan.clone(), active));
        if let Some(route) = self.routes.iter_mut().find(|r| r.suffix == suffix) {
            if let Some((method, other, _)) =
                route.methods.iter().find(|(m, _, _)| trigger.methods.contains(m))
            {
                return Err(conflict(
                    other,
                    format!(
                        "{} {HOOKS_BASE}{suffix} is already served by flow `{}`",
                        method.as_str(),
                        other.id
                    ),
                ));
            }
            route.methods.extend(methods);
            return Ok(());
        }
        match self.router.insert(suffix, self.routes.len()) {
            Ok(()) => {
                self.routes.push(Route { suffix: suffix.to_owned(), methods: methods.collect() });
                Ok(())
            }
            Err(matchit::InsertError::Conflict { with }) => {
                let route = self
                    .routes
                    .iter()
                    .find(|r| r.suffix == with)
                    .expect("a conflict is with a mounted route");
                let other = &route.methods[0].1;
                Err(conflict(
                    other,
                    format!(
                        "{HOOKS_BASE}{suffix} overlaps `{HOOKS_BASE}{with}` of flow `{}`",
                        other.id
                    ),
                ))
            }
            Err(e) => {
                let at = Location::new(&plan.file, format!("{}/suffix", plan.trigger_pointer()));
                Err(Box::new(Diagnostic::new(
                    Code::InvalidSuffix,
                    at,
                    format!("suffix `{suffix}` cannot be mounted: {e}"),
                )))
            }
        }
    }

    /// Finds the flow for `method` at `path` (the part after `/hooks`). Inactive flows are not
    /// found; `HEAD` is served by a `GET` flow when no flow serves `HEAD` itself.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup<'_> {
        let Ok(found) = self.router.at(path) else { return Lookup::NotFound };
        let route = &self.routes[*found.value];
        let active = || route.methods.iter().filter(|(_, _, active)| *active);
        if active().next().is_none() {
            return Lookup::NotFound;
        }
        let wanted = Method::parse(method);
        let hit = active().find(|(m, _, _)| Some(*m) == wanted).or_else(|| {
            (wanted == Some(Method::Head))
                .then(|| active().find(|(m, _, _)| *m == Method::Get))
                .flatten()
        });
        match hit {
            Some((_, plan, _)) => Lookup::Found { plan, params: decoded(&found.params) },
            None => {
                let mut allow: Vec<&'static str> = active().map(|(m, _, _)| m.as_str()).collect();
                if allow.contains(&"GET") && !allow.contains(&"HEAD") {
                    allow.push("HEAD");
                }
                allow.push("OPTIONS");
                allow.sort_unstable();
                allow.dedup();
                Lookup::MethodNotAllowed { allow }
            }
        }
    }

    /// Every mounted (suffix, method) with its flow, in mount order.
    pub fn entries(&self) -> impl Iterator<Item = Mounted<'_>> {
        self.routes.iter().flat_map(|r| {
            r.methods.iter().map(move |(method, plan, active)| Mounted {
                suffix: r.suffix.as_str(),
                method: *method,
                plan,
                active: *active,
            })
        })
    }
}

/// The route parameters of `path` (the part after `/hooks`) under `suffix`, percent-decoded;
/// `None` when the path does not match.
pub fn match_suffix(suffix: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut router = matchit::Router::new();
    router.insert(suffix, ()).ok()?;
    router.at(path).ok().map(|found| decoded(&found.params))
}

/// Parameters with `%XX` decoded; a value whose decoding is not UTF-8 stays as received.
fn decoded(params: &matchit::Params<'_, '_>) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| {
            let value = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_or_else(|_| v.to_owned(), |d| d.into_owned());
            (k.to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::match_suffix;

    #[test]
    fn parameters_are_matched_and_decoded() {
        let params = match_suffix("/orders/{id}/{*rest}", "/orders/caf%C3%A9/a/b%2Fc").unwrap();
        assert_eq!(params, vec![("id".into(), "café".into()), ("rest".into(), "a/b/c".into())]);
        assert_eq!(match_suffix("/orders/{id}", "/orders/%FF").unwrap()[0].1, "%FF");
        assert_eq!(match_suffix("/orders/{id}", "/other"), None);
    }
}

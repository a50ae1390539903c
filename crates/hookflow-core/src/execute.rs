//! Runs a plan on a request: nodes in topological order along the taken edges; the first
//! `respond` node reached answers and later ones are skipped; a flow that ends without answering
//! gives the route's default response; a failing node gives the route's error response (default
//! `500` problem+json with the execution id and no internals).

use std::time::{Duration, Instant};

use handlebars::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::{self, ExecutionMeta, Request};
use crate::expr::Scope;
use crate::nodes::{Logs, Outcome, Role, RunCx};
use crate::plan::Plan;
use crate::response::{Response, ResponseSpec};
use crate::services::Services;

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Failed,
}

/// Which node failed, and why (the message is for the integrator, not the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub node: String,
    pub message: String,
}

/// What happened to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// A `respond` node reached after another one had answered.
    Skipped,
}

/// One node's entry in the trace.
#[derive(Debug, Clone)]
pub struct Step {
    pub node: usize,
    /// The node whose edge activated this one.
    pub from: Option<usize>,
    pub status: StepStatus,
    pub duration_us: u64,
    /// The output taken, for a branching node.
    pub output: Option<String>,
    pub error: Option<String>,
    /// What the node logged (a `code` node's `console` lines).
    pub logs: Vec<String>,
}

/// A finished execution.
#[derive(Debug)]
pub struct Execution {
    pub meta: ExecutionMeta,
    pub status: Status,
    pub response: Response,
    /// The `respond` node that answered; `None` for a default or error response.
    pub responded_by: Option<String>,
    pub failure: Option<Failure>,
    pub trace: Vec<Step>,
    /// The final context (`request`, `execution`, `nodes`): node outputs live here.
    pub context: Value,
    pub duration_us: u64,
}

/// An execution ready to run: its metadata and its context, built once from the request (what
/// is evaluated before the first node, such as an idempotency key, reads the same context).
#[derive(Debug)]
pub struct Prepared {
    pub meta: ExecutionMeta,
    ctx: Context,
}

impl Prepared {
    /// Execution `meta` of `plan` on `request`.
    pub fn new(plan: &Plan, request: Request, meta: ExecutionMeta) -> Prepared {
        let ctx = context::build(request, &meta, plan.reads(), plan.nodes.len());
        Prepared { meta, ctx }
    }

    /// Execution `meta` of `plan`, which an event starts: `event` is the context's `event`.
    pub fn event(plan: &Plan, event: Value, meta: ExecutionMeta) -> Prepared {
        let ctx = context::build_event(event, &meta, plan.reads(), plan.nodes.len());
        Prepared { meta, ctx }
    }

    /// The context as it is before any node runs, for expressions of `plan`.
    pub fn scope<'a>(&'a self, plan: &'a Plan) -> Scope<'a> {
        Scope { ctx: &self.ctx, templates: &plan.templates }
    }
}

/// Runs `plan` as `prepared`. Nodes without I/O run without yielding; a node's I/O (through
/// `services`) is awaited.
pub async fn execute(plan: &Plan, prepared: Prepared, services: &Services) -> Execution {
    let started = Instant::now();
    let Prepared { meta, mut ctx } = prepared;
    // When the node about to run started: the previous one's end (one clock read per node).
    let mut mark = Instant::now();
    let n = plan.nodes.len();
    let mut reached_from: Vec<Option<usize>> = vec![None; n];
    reached_from[plan.trigger] = Some(plan.trigger);
    let mut trace = Vec::with_capacity(n);
    let mut response: Option<(Response, String)> = None;
    let mut failure: Option<Failure> = None;

    for &i in &plan.order {
        let Some(from) = reached_from[i] else { continue };
        let node = &plan.nodes[i];
        let from = (from != i).then_some(from);
        if node.role == Role::Respond && response.is_some() {
            trace.push(Step {
                node: i,
                from,
                status: StepStatus::Skipped,
                duration_us: 0,
                output: None,
                error: None,
                logs: Vec::new(),
            });
            continue;
        }
        let logs = Logs::default();
        let ran = {
            let cx = RunCx { execution: &meta, services, logs: &logs };
            node.node.run(Scope { ctx: &ctx, templates: &plan.templates }, cx)
        };
        let outcome = match ran {
            Ok(Outcome::Pending(io)) => io.await.map(Outcome::Value),
            other => other,
        };
        let now = Instant::now();
        let duration_us = micros(now.duration_since(mark));
        mark = now;
        let mut step = Step {
            node: i,
            from,
            status: StepStatus::Succeeded,
            duration_us,
            output: None,
            error: None,
            logs: logs.into_lines(),
        };
        let fired = match outcome {
            Ok(Outcome::Value(value)) => {
                context::set_output(&mut ctx, &node.id, value);
                None
            }
            Ok(Outcome::Branch { output, value }) => {
                step.output = Some(node.node.outputs()[output].clone());
                context::set_output(&mut ctx, &node.id, value);
                Some(output)
            }
            Ok(Outcome::Pending(_)) => unreachable!("pending outcomes are awaited above"),
            Ok(Outcome::Respond(r)) => {
                context::set_output(&mut ctx, &node.id, json!({ "status": r.status }));
                response = Some((r, node.id.clone()));
                None
            }
            Err(e) => {
                step.status = StepStatus::Failed;
                step.error = Some(e.message.clone());
                trace.push(step);
                failure = Some(Failure { node: node.id.clone(), message: e.message });
                break;
            }
        };
        trace.push(step);
        for &(output, target) in &plan.next[i] {
            if output.is_none() || output == fired {
                reached_from[target].get_or_insert(i);
            }
        }
    }

    let trigger = plan.trigger();
    let render =
        |spec: &ResponseSpec, ctx: &Context| spec.render(Scope { ctx, templates: &plan.templates });
    let (response, responded_by) = match (&failure, response) {
        // A response already given stands, even when a later node failed.
        (_, Some((r, by))) => (r, Some(by)),
        (None, None) => {
            let r = match trigger.default_response() {
                Some(spec) => render(spec, &ctx).unwrap_or_else(|e| {
                    failure = Some(Failure {
                        node: plan.nodes[plan.trigger].id.clone(),
                        message: format!("default response: {}", e.message),
                    });
                    error_response(&meta.id)
                }),
                None => {
                    Response::json(200, json!({ "execution_id": meta.id, "status": "succeeded" }))
                }
            };
            (r, None)
        }
        (Some(f), None) => {
            let r = match trigger.error_response() {
                Some(spec) => {
                    context::set_error(&mut ctx, &f.node, &f.message);
                    render(spec, &ctx).unwrap_or_else(|_| error_response(&meta.id))
                }
                None => error_response(&meta.id),
            };
            (r, None)
        }
    };
    Execution {
        meta,
        status: if failure.is_some() { Status::Failed } else { Status::Succeeded },
        response,
        responded_by,
        failure,
        trace,
        context: std::mem::take(ctx.data_mut()),
        duration_us: micros(started.elapsed()),
    }
}

/// The default answer of a failed flow: `500` problem+json naming the execution, no internals.
pub fn error_response(execution_id: &str) -> Response {
    Response::problem(
        500,
        "Flow failed",
        "The flow failed while handling this request. Look up the execution for details.",
        Some(execution_id),
    )
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Execution {
    /// For each node that ran, in the order they ran: every value expression (and a `code`
    /// node's code) with what it produces against the final context (`hookflow run --explain`).
    pub fn explain(&self, plan: &Plan) -> Vec<crate::expr::Explained> {
        let ctx = Context::from(self.context.clone());
        let scope = Scope { ctx: &ctx, templates: &plan.templates };
        self.trace
            .iter()
            .filter(|step| step.status != StepStatus::Skipped)
            .flat_map(|step| {
                let node = &plan.nodes[step.node];
                node.node.explain(scope, &node.pointer)
            })
            .collect()
    }
}

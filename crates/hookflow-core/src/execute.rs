//! Runs a plan on a request: nodes in topological order along the taken edges; the first
//! `respond` node reached answers and later ones are skipped; a flow that ends without answering
//! gives the route's default response; a failing node gives the route's error response (default
//! `500` problem+json with the execution id and no internals).

use std::time::Instant;

use handlebars::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::{self, ExecutionMeta, Request};
use crate::expr::Scope;
use crate::nodes::{Outcome, Role};
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

/// Runs `plan` on `request`. Nodes without I/O run without yielding; a node's I/O (through
/// `services`) is awaited.
pub async fn execute(
    plan: &Plan,
    request: Request,
    meta: ExecutionMeta,
    services: &Services,
) -> Execution {
    let started = Instant::now();
    let mut ctx = context::build(request, &meta);
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
            });
            continue;
        }
        let t = Instant::now();
        let outcome = match node.node.run(Scope { ctx: &ctx, templates: &plan.templates }, services)
        {
            Ok(Outcome::Pending(io)) => io.await.map(Outcome::Value),
            other => other,
        };
        let duration_us = micros(t);
        let mut step = Step {
            node: i,
            from,
            status: StepStatus::Succeeded,
            duration_us,
            output: None,
            error: None,
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
            let r = match &trigger.default_response {
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
            let r = match &trigger.error_response {
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
        duration_us: micros(started),
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

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// How much of each node a trace shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDetail {
    /// Input and output of every node (the trigger's output is the request).
    Full,
    /// Outputs only, and none for the trigger: for stored history, where the request is kept on
    /// its own and a node's input is the output of the node it came `from`.
    Outputs,
}

impl Execution {
    /// The trace as JSON: per node its id, type, status, duration, the node that activated it,
    /// (with [`TraceDetail::Full`]) its input — that node's output, or the request for the node
    /// after the trigger —, its output and its error. A value whose JSON is longer than
    /// `max_value_bytes` is replaced by `{"truncated": true, "larger_than": max_value_bytes}`.
    pub fn trace_json(&self, plan: &Plan, max_value_bytes: usize, detail: TraceDetail) -> Value {
        let output_of = |i: usize| -> Option<Value> {
            let node = &plan.nodes[i];
            let value = if node.role == Role::Trigger {
                if detail == TraceDetail::Outputs {
                    return None;
                }
                self.context.get("request")
            } else {
                self.context.get("nodes").and_then(|n| n.get(&node.id))
            };
            Some(value.map_or(Value::Null, |v| bounded(v, max_value_bytes)))
        };
        let steps: Vec<Value> = self
            .trace
            .iter()
            .map(|s| {
                let node = &plan.nodes[s.node];
                let mut entry = json!({
                    "node": node.id,
                    "type": node.type_name,
                    "status": s.status,
                    "duration_us": s.duration_us,
                });
                if let Some(from) = s.from {
                    entry["from"] = json!(plan.nodes[from].id);
                    if detail == TraceDetail::Full
                        && let Some(input) = output_of(from)
                    {
                        entry["input"] = input;
                    }
                }
                if s.status == StepStatus::Succeeded
                    && let Some(output) = output_of(s.node)
                {
                    entry["output"] = output;
                }
                if let Some(o) = &s.output {
                    entry["branch"] = json!(o);
                }
                if let Some(e) = &s.error {
                    entry["error"] = json!(e);
                }
                entry
            })
            .collect();
        Value::Array(steps)
    }
}

impl Execution {
    /// For the node that answered: every value expression with what it produced against the
    /// final context (`hookflow run --explain`). Empty when no `respond` node answered.
    pub fn explain(&self, plan: &Plan) -> Vec<crate::expr::Explained> {
        let Some(node) = self.responded_by.as_deref().and_then(|id| plan.node(id)) else {
            return Vec::new();
        };
        let ctx = Context::from(self.context.clone());
        node.node.explain(Scope { ctx: &ctx, templates: &plan.templates }, &node.pointer)
    }

    /// The trace with outputs only (see [`TraceDetail::Outputs`]), taking the node outputs out
    /// of the context instead of copying them: for history, once the execution is over.
    pub fn take_trace(&mut self, plan: &Plan, max_value_bytes: usize) -> Value {
        let mut outputs = match self.context.get_mut("nodes") {
            Some(Value::Object(nodes)) => std::mem::take(nodes),
            _ => serde_json::Map::new(),
        };
        let steps = self
            .trace
            .iter()
            .map(|s| {
                let node = &plan.nodes[s.node];
                let mut entry = serde_json::Map::with_capacity(8);
                entry.insert("node".into(), Value::String(node.id.clone()));
                entry.insert("type".into(), Value::String(node.type_name.to_owned()));
                entry.insert("status".into(), json!(s.status));
                entry.insert("duration_us".into(), json!(s.duration_us));
                if let Some(from) = s.from {
                    entry.insert("from".into(), Value::String(plan.nodes[from].id.clone()));
                }
                if s.status == StepStatus::Succeeded
                    && node.role != Role::Trigger
                    && let Some(output) = outputs.remove(&node.id)
                {
                    let output = if fits(&output, max_value_bytes) {
                        output
                    } else {
                        json!({ "truncated": true, "larger_than": max_value_bytes })
                    };
                    entry.insert("output".into(), output);
                }
                if let Some(o) = &s.output {
                    entry.insert("branch".into(), Value::String(o.clone()));
                }
                if let Some(e) = &s.error {
                    entry.insert("error".into(), Value::String(e.clone()));
                }
                Value::Object(entry)
            })
            .collect();
        Value::Array(steps)
    }
}

/// `value`, or a note when its JSON is longer than `max` bytes.
fn bounded(value: &Value, max: usize) -> Value {
    if fits(value, max) { value.clone() } else { json!({ "truncated": true, "larger_than": max }) }
}

/// Whether the JSON of `value` is at most `max` bytes, estimated by a walk that stops as soon as
/// it passes `max` (escapes in strings are not counted).
fn fits(value: &Value, max: usize) -> bool {
    fn take(budget: &mut usize, n: usize) -> bool {
        match budget.checked_sub(n) {
            Some(left) => {
                *budget = left;
                true
            }
            None => false,
        }
    }
    fn size(value: &Value, budget: &mut usize) -> bool {
        match value {
            Value::Null | Value::Bool(_) => take(budget, 5),
            Value::Number(_) => take(budget, 20),
            Value::String(s) => take(budget, s.len() + 2),
            Value::Array(items) => {
                take(budget, 2) && items.iter().all(|v| take(budget, 1) && size(v, budget))
            }
            Value::Object(map) => {
                take(budget, 2)
                    && map.iter().all(|(k, v)| take(budget, k.len() + 4) && size(v, budget))
            }
        }
    }
    let mut budget = max;
    size(value, &mut budget)
}

//! An execution's per-node trace as JSON: serialized straight from the finished execution (its
//! steps and the node outputs in its context), so that recording a call copies nothing.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::execute::{Execution, Step, StepStatus};
use crate::json_object::{Fields, JsonObject};
use crate::member::member;
use crate::nodes::Role;
use crate::plan::Plan;

/// How much of each node a trace shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDetail {
    /// Input and output of every node (the trigger's output is the request).
    Full,
    /// Outputs only, and none for the trigger: for stored history, where the request is kept on
    /// its own and a node's input is the output of the node it came `from`.
    Outputs,
}

/// The trace of an execution, borrowed from it: serializes as a JSON array with, per node, its
/// id, type, status, duration, the node that activated it, (with [`TraceDetail::Full`]) its
/// input — that node's output, or the request for the node after the trigger —, its output, the
/// branch it took, its error and the lines it logged. A value whose JSON is longer than `max_value_bytes` is replaced
/// by `{"truncated": true, "larger_than": max_value_bytes}`.
#[derive(Debug, Clone, Copy)]
pub struct Trace<'a> {
    execution: &'a Execution,
    plan: &'a Plan,
    max_value_bytes: usize,
    detail: TraceDetail,
}

impl Execution {
    /// This execution's trace (see [`Trace`]).
    pub fn trace<'a>(
        &'a self,
        plan: &'a Plan,
        max_value_bytes: usize,
        detail: TraceDetail,
    ) -> Trace<'a> {
        Trace { execution: self, plan, max_value_bytes, detail }
    }

    /// This execution's trace as a JSON value (see [`Trace`]).
    pub fn trace_json(&self, plan: &Plan, max_value_bytes: usize, detail: TraceDetail) -> Value {
        serde_json::to_value(self.trace(plan, max_value_bytes, detail))
            .expect("a trace is made of JSON values and strings")
    }
}

impl Trace<'_> {
    /// The output of node `i` as the trace shows it; `None` for the trigger in
    /// [`TraceDetail::Outputs`] and for a node without output.
    fn output_of(&self, i: usize) -> Option<Bounded<'_>> {
        let node = &self.plan.nodes[i];
        let Value::Object(context) = &self.execution.context else { return None };
        let value = if node.role == Role::Trigger {
            if self.detail == TraceDetail::Outputs {
                return None;
            }
            member(context, "request")
        } else {
            match member(context, "nodes") {
                Some(Value::Object(nodes)) => member(nodes, &node.id),
                _ => None,
            }
        };
        value.map(|value| Bounded { value, max: self.max_value_bytes })
    }

    /// The fields of `step`'s entry.
    fn step<F: Fields>(&self, step: &Step, entry: &mut F) -> Result<(), F::Error> {
        let node = &self.plan.nodes[step.node];
        entry.field("node", &node.id)?;
        entry.field("type", node.type_name)?;
        entry.field("status", &step.status)?;
        entry.field("duration_us", &step.duration_us)?;
        if let Some(from) = step.from {
            entry.field("from", &self.plan.nodes[from].id)?;
            if self.detail == TraceDetail::Full
                && let Some(input) = self.output_of(from)
            {
                entry.field("input", &input)?;
            }
        }
        if step.status == StepStatus::Succeeded
            && let Some(output) = self.output_of(step.node)
        {
            entry.field("output", &output)?;
        }
        if let Some(branch) = &step.output {
            entry.field("branch", branch)?;
        }
        if let Some(error) = &step.error {
            entry.field("error", error)?;
        }
        if !step.logs.is_empty() {
            entry.field("logs", &step.logs)?;
        }
        Ok(())
    }

    /// Appends the trace's JSON to `json`: what serializing it writes, with the field names
    /// written as they are rather than escaped (see [`JsonObject`]).
    pub fn write_json(&self, json: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        json.push(b'[');
        for (n, step) in self.execution.trace.iter().enumerate() {
            if n > 0 {
                json.push(b',');
            }
            let mut entry = JsonObject::open(json);
            self.step(step, &mut entry)?;
            entry.close();
        }
        json.push(b']');
        Ok(())
    }
}

/// A serializer's map as the [`Fields`] of a step's entry.
struct MapFields<'m, M>(&'m mut M);

impl<M: SerializeMap> Fields for MapFields<'_, M> {
    type Error = M::Error;

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        self.0.serialize_entry(name, value)
    }
}

impl Serialize for Trace<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct StepOf<'a, 'b>(&'b Trace<'a>, &'b Step);
        impl Serialize for StepOf<'_, '_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut entry = serializer.serialize_map(None)?;
                self.0.step(self.1, &mut MapFields(&mut entry))?;
                entry.end()
            }
        }
        let steps = &self.execution.trace;
        let mut seq = serializer.serialize_seq(Some(steps.len()))?;
        for step in steps {
            seq.serialize_element(&StepOf(self, step))?;
        }
        seq.end()
    }
}

/// A value, or a note in its place when its JSON is longer than `max` bytes.
struct Bounded<'a> {
    value: &'a Value,
    max: usize,
}

impl Serialize for Bounded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if fits(self.value, self.max) {
            return self.value.serialize(serializer);
        }
        let mut note = serializer.serialize_map(Some(2))?;
        note.serialize_entry("truncated", &true)?;
        note.serialize_entry("larger_than", &self.max)?;
        note.end()
    }
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

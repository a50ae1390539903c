//! JSON Schemas in flows (a `store` node's `schema`, a webhook's `expected.schema`), compiled
//! once with `jsonschema` when the flow compiles (2020-12 unless the schema's `$schema` says
//! otherwise), and the problems a value has against one, each with its JSON pointer.

use serde_json::Value;

use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;

/// A compiled schema.
pub type Schema = Box<jsonschema::Validator>;

/// `schema` (at `rel` in the node) compiled; `None` after reporting why it is not a schema.
pub fn compile(cx: &mut CompileCx<'_>, schema: &Value, rel: &str) -> Option<Schema> {
    match jsonschema::validator_for(schema) {
        Ok(validator) => Some(Box::new(validator)),
        Err(e) => {
            let at = e.instance_path().to_string();
            let field = rel.rsplit('/').next().unwrap_or(rel);
            cx.report(
                Code::InvalidValue,
                &format!("{rel}{at}"),
                format!("`{field}` is not a valid JSON Schema: {e}"),
            );
            None
        }
    }
}

/// A problem of a value against a schema: where (a JSON pointer, empty for the value itself)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

/// The first problem of `value` against `schema`, if it has one.
pub fn first_problem(schema: &Schema, value: &Value) -> Option<Problem> {
    schema.validate(value).err().map(|e| problem(&e))
}

/// Up to `max` of the problems of `value` against `schema`, and whether there were more.
pub fn problems(schema: &Schema, value: &Value, max: usize) -> (Vec<Problem>, bool) {
    let mut all = schema.iter_errors(value);
    let found: Vec<Problem> = all.by_ref().take(max).map(|e| problem(&e)).collect();
    let more = all.next().is_some();
    (found, more)
}

fn problem(e: &jsonschema::ValidationError<'_>) -> Problem {
    Problem { pointer: e.instance_path().to_string(), message: e.to_string() }
}

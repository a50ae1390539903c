//! The `map` node: builds a new object from value expressions (JSONPath selections, literals,
//! templates, `{"from", "default"}` fallbacks).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::expr::{Expr, Scope};

pub static TYPE: NodeType = NodeType {
    name: "map",
    role: Role::Step,
    doc: "Builds an object: each entry of `fields` is a value expression (a JSONPath such as \
          `$.request.body.id`, a literal, a `{{template}}`, `{\"value\": ...}` for a literal \
          string, or `{\"from\": ..., \"default\": ...}` for a fallback when the selection finds \
          nothing). A field that yields nothing is left out. The object is the node's output.",
    example: r#"{ "id": "order", "type": "map", "fields": {
  "order_id": "$.request.body.id",
  "total": { "from": "$.request.body.total", "default": 0 },
  "channel": { "value": "erp" } } }"#,
    schema: |g| g.root_schema_for::<MapConfig>(),
    compile,
};

/// The fields of a `map` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// Output field name → value expression.
    #[schemars(with = "Map<String, Value>")]
    pub fields: Map<String, Value>,
}

#[derive(Debug)]
struct MapNode {
    fields: Expr,
}

impl Node for MapNode {
    fn explain(&self, scope: Scope<'_>, base: &str) -> Vec<crate::expr::Explained> {
        let mut out = Vec::new();
        self.fields.explain(scope, &format!("{base}/fields"), &mut out);
        out
    }

    fn run(&self, scope: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        Ok(Outcome::Value(self.fields.eval(scope)?.unwrap_or(Value::Null)))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: MapConfig = cx.config(config)?;
    let fields = Expr::compile(cx, &Value::Object(config.fields), "/fields")?;
    Some(Box::new(MapNode { fields }))
}

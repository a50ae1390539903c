//! The `template` node: renders a Handlebars template to a string, or to a JSON value.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::expr::Scope;
use crate::template::TemplateId;

pub static TYPE: NodeType = NodeType {
    name: "template",
    role: Role::Step,
    doc: "Renders `template` (Handlebars, strict: a missing variable fails the run; no HTML \
          escaping; `{{json x}}` writes `x` as JSON) against the context. With `\"output\": \
          \"text\"` (default) the output is the string; with `\"output\": \"json\"` the rendered \
          text is parsed and the output is the JSON value.",
    example: r#"{ "id": "note", "type": "template", "output": "json",
  "template": "{\"subject\": \"Order {{request.body.id}}\", \"items\": {{json request.body.items}}}" }"#,
    schema: |g| g.root_schema_for::<TemplateConfig>(),
    compile,
};

/// The fields of a `template` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The Handlebars source.
    pub template: String,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub output: OutputKind,
}

/// What a `template` node outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    #[default]
    Text,
    Json,
}

#[derive(Debug)]
struct TemplateNode {
    template: TemplateId,
    output: OutputKind,
}

impl Node for TemplateNode {
    fn run(&self, scope: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        let text = scope
            .templates
            .render(&self.template, scope.ctx)
            .map_err(|message| NodeError { message })?;
        let value = match self.output {
            OutputKind::Text => Value::String(text),
            OutputKind::Json => serde_json::from_str(&text).map_err(|e| NodeError {
                message: format!("the rendered template is not valid JSON: {e}"),
            })?,
        };
        Ok(Outcome::Value(value))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: TemplateConfig = cx.config(config)?;
    let template = cx.template(&config.template, "/template")?;
    Some(Box::new(TemplateNode { template, output: config.output }))
}

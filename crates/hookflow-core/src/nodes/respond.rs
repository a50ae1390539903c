//! The `respond` node (Webhook Response): answers the request with a status, a status override,
//! templated headers and a templated body. The first one reached answers; later ones are skipped.

use serde_json::Value;

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::expr::Scope;
use crate::response::{ResponseConfig, ResponseSpec};

pub static TYPE: NodeType = NodeType {
    name: "respond",
    role: Role::Respond,
    doc: "Answers the webhook. `status` (default 200, any code 100–599); `status_override`, a \
          value expression whose valid code replaces `status` (data overrides config; when it \
          yields nothing `status` stands; anything else fails the run); `headers`, name → value \
          expression (hop-by-hop headers are refused); `body`, a string for a text template or an \
          object/array for a JSON body of value expressions; `content_type` to replace the one that \
          follows from the body. `204` sends no body. The node's output is `{\"status\": code}`.",
    example: r#"{ "id": "ok", "type": "respond", "status": 201,
  "status_override": "$.request.query.status",
  "headers": { "X-Order-Id": "{{request.body.id}}" },
  "body": { "id": "$.request.body.id", "accepted": true } }"#,
    schema: |g| g.root_schema_for::<ResponseConfig>(),
    compile,
};

#[derive(Debug)]
struct Respond(ResponseSpec);

impl Node for Respond {
    fn explain(&self, scope: Scope<'_>, base: &str) -> Vec<crate::expr::Explained> {
        let mut out = Vec::new();
        self.0.explain(scope, base, &mut out);
        out
    }

    fn run(&self, scope: Scope<'_>, _: RunCx<'_>) -> Result<Outcome, NodeError> {
        Ok(Outcome::Respond(self.0.render(scope)?))
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: ResponseConfig = cx.config(config)?;
    ResponseSpec::compile(cx, &config, "").map(|spec| Box::new(Respond(spec)) as Box<dyn Node>)
}

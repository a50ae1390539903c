//! The `code` node: runs sandboxed JavaScript — the body of a function over the context — and
//! outputs what it returns.

use std::time::Duration;

use hookflow_js::{Kind, Limits, Script};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{Explained, Scope, globals};

pub static TYPE: NodeType = NodeType {
    name: "code",
    role: Role::Step,
    doc: "Runs JavaScript (ES2023, in a sandbox): `source` — or `file`, a `.js` file relative to \
          the flow file, read when the flow loads — is the body of a function that sees \
          `request`, `nodes`, `execution` and, in a flow an event starts, `event`, and returns \
          the node's output (any JSON value; `undefined` is `null`). `console.log` lines go to \
          the node's trace (100 at most). There is no network, no file, no timer, no `require`, \
          `import` or `eval`; what a run changes is gone at the next. `timeout_ms` (default \
          1000, at most 60000) and `memory_mib` (default 16, at most 1024) stop a run that goes \
          past them; a throw or a limit fails the node with the message and the line.",
    example: r#"{ "id": "normalize", "type": "code",
  "source": "const items = request.body.items || [];\nreturn { count: items.length, codes: items.map(i => String(i.sku).toUpperCase()) };" }"#,
    schema: |g| g.root_schema_for::<CodeConfig>(),
    compile,
};

/// The fields of a `code` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeConfig {
    /// The body of a function returning the node's output. Give this or `file`.
    #[serde(default)]
    pub source: Option<String>,
    /// A `.js` file holding the body, relative to the flow file and inside its directory.
    #[serde(default)]
    pub file: Option<String>,
    /// How long a run may take, in milliseconds (1–60000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How much memory a run may allocate, in MiB (1–1024).
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
}

fn default_timeout_ms() -> u64 {
    1000
}

fn default_memory_mib() -> u64 {
    16
}

#[derive(Debug)]
struct CodeNode {
    script: Script,
    /// `/source` or `/file`: where the code is, for `--explain`.
    at: &'static str,
}

impl Node for CodeNode {
    fn explain(&self, scope: Scope<'_>, base: &str) -> Vec<Explained> {
        let value = self.script.run(globals(scope.ctx.data())).result.map_err(|e| e.to_string());
        vec![Explained { pointer: format!("{base}{}", self.at), kind: "code", value }]
    }

    fn run(&self, scope: Scope<'_>, cx: RunCx<'_>) -> Result<Outcome, NodeError> {
        let run = self.script.run(globals(scope.ctx.data()));
        cx.logs.extend(run.logs);
        match run.result {
            Ok(value) => Ok(Outcome::Value(value.unwrap_or(Value::Null))),
            Err(e) => Err(NodeError { message: e.to_string() }),
        }
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: CodeConfig = cx.config(config)?;
    let mut ok = true;
    if !(1..=60_000).contains(&config.timeout_ms) {
        cx.report(Code::InvalidValue, "/timeout_ms", "`timeout_ms` is from 1 to 60000");
        ok = false;
    }
    if !(1..=1024).contains(&config.memory_mib) {
        cx.report(Code::InvalidValue, "/memory_mib", "`memory_mib` is from 1 to 1024");
        ok = false;
    }
    let limits = Limits {
        timeout: Duration::from_millis(config.timeout_ms),
        memory_bytes: usize::try_from(config.memory_mib << 20).unwrap_or(usize::MAX),
    };
    let (script, at) = match (&config.source, &config.file) {
        (Some(source), None) => (cx.js(source, "/source", Kind::Body, limits), "/source"),
        (None, Some(file)) => (cx.js_file(file, "/file", Kind::Body, limits), "/file"),
        (Some(_), Some(_)) => {
            cx.report(Code::InvalidValue, "/file", "give `source` or `file`, not both");
            return None;
        }
        (None, None) => {
            cx.report(Code::MissingField, "", "missing field `source` (or `file`)");
            return None;
        }
    };
    let script = script?;
    ok.then(|| Box::new(CodeNode { script, at }) as Box<dyn Node>)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::template::Templates;

    fn compiled(config: Value) -> Result<Box<dyn Node>, Vec<Diagnostic>> {
        let mut templates = Templates::default();
        let mut diagnostics = Vec::new();
        let mut reads = Default::default();
        let node = {
            let mut cx = CompileCx::new("f.json", &mut templates, &mut reads, &mut diagnostics);
            compile(&mut cx, config)
        };
        node.ok_or(diagnostics)
    }

    #[test]
    fn limits_and_sources_are_checked() {
        let both = compiled(json!({ "source": "return 1", "file": "a.js" })).unwrap_err();
        assert_eq!(both[0].location.pointer, "/file");
        let none = compiled(json!({ "timeout_ms": 5 })).unwrap_err();
        assert_eq!(none[0].code, Code::MissingField);
        let limits = compiled(json!({ "source": "return 1", "timeout_ms": 0, "memory_mib": 4096 }))
            .unwrap_err();
        let pointers: Vec<_> = limits.iter().map(|d| d.location.pointer.as_str()).collect();
        assert_eq!(pointers, ["/timeout_ms", "/memory_mib"]);
        let outside = compiled(json!({ "file": "../secret.js" })).unwrap_err();
        assert!(outside[0].message.contains("inside the flow file's directory"), "{outside:?}");
        let missing = compiled(json!({ "file": "code/none.js" })).unwrap_err();
        assert_eq!(missing[0].code, Code::UnreadableFile);
        let syntax = compiled(json!({ "source": "return (" })).unwrap_err();
        assert_eq!(syntax[0].code, Code::InvalidJavaScript);
        assert_eq!(syntax[0].location.within, Some((1, 9)), "{syntax:?}");
    }
}

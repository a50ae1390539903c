//! Value expressions: the one rule used wherever a flow computes a value.
//!
//! - a JSON literal is itself;
//! - a string starting with `$` is a JSONPath (a singular query gives the value or nothing, any
//!   other query an array);
//! - a string containing `{{` is a Handlebars template rendering a string;
//! - `{"value": X}` is the literal `X` (for strings that start with `$` or contain `{{`);
//! - `{"from": E, "default": D}` is `E`, or the literal `D` when `E` yields nothing or `null`;
//! - `{"js": "<expression>"}` is the value of one JavaScript expression over `request`, `nodes`,
//!   `execution` and `event` (`undefined` yields nothing);
//! - objects and arrays are evaluated leaf by leaf. A leaf that yields nothing is left out of its
//!   object, and is `null` in an array.

use handlebars::Context;
use hookflow_js::{Globals, Kind, Limits, Script};
use serde_json::{Map, Value};

use crate::compile_cx::CompileCx;
use crate::diagnostic::{Code, Diagnostic};
use crate::member::member;
use crate::path::JsonPath;
use crate::pointer::escape;
use crate::template::{TemplateId, Templates};

/// A compiled value expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Literal(Value),
    Path(JsonPath),
    Template { id: TemplateId, pointer: Box<str> },
    Object(Vec<(String, Expr)>),
    Array(Vec<Expr>),
    Default { from: Box<Expr>, default: Value },
    Js { script: Script, pointer: Box<str> },
}

/// What an expression is evaluated against.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub ctx: &'a Context,
    pub templates: &'a Templates,
}

/// A run-time evaluation failure, with the JSON pointer of the expression in the flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub pointer: String,
    pub message: String,
}

impl Expr {
    /// Compiles `value` found at `rel` (a JSON pointer relative to the current node); reports
    /// problems to `cx` and answers `None` when there was one.
    pub fn compile(cx: &mut CompileCx<'_>, value: &Value, rel: &str) -> Option<Expr> {
        match value {
            Value::String(s) if s.starts_with('$') => cx.path(s, rel).map(Expr::Path),
            Value::String(s) if s.contains("{{") => {
                let id = cx.template(s, rel)?;
                Some(Expr::Template { id, pointer: cx.pointer(rel).into_boxed_str() })
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("value") => {
                Some(Expr::Literal(map["value"].clone()))
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("js") => {
                let rel = format!("{rel}/js");
                let Some(source) = map["js"].as_str() else {
                    cx.report(Code::InvalidValue, &rel, "a `js` expression is a string");
                    return None;
                };
                let script = cx.js(source, &rel, Kind::Expression, Limits::EXPRESSION)?;
                Some(Expr::Js { script, pointer: cx.pointer(&rel).into_boxed_str() })
            }
            Value::Object(map)
                if map.len() == 2 && map.contains_key("from") && map.contains_key("default") =>
            {
                let from = Expr::compile(cx, &map["from"], &format!("{rel}/from"))?;
                Some(Expr::Default { from: Box::new(from), default: map["default"].clone() })
            }
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut ok = true;
                for (key, v) in map {
                    match Expr::compile(cx, v, &format!("{rel}/{}", escape(key))) {
                        Some(e) => fields.push((key.clone(), e)),
                        None => ok = false,
                    }
                }
                ok.then(|| fold(Expr::Object(fields), value))
            }
            Value::Array(items) => {
                let mut exprs = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, v) in items.iter().enumerate() {
                    match Expr::compile(cx, v, &format!("{rel}/{i}")) {
                        Some(e) => exprs.push(e),
                        None => ok = false,
                    }
                }
                ok.then(|| fold(Expr::Array(exprs), value))
            }
            other => Some(Expr::Literal(other.clone())),
        }
    }

    /// Evaluates against the execution context; `Ok(None)` means "yields nothing".
    pub fn eval(&self, scope: Scope<'_>) -> Result<Option<Value>, EvalError> {
        Ok(match self {
            Expr::Literal(v) => Some(v.clone()),
            Expr::Path(path) => path.select(scope.ctx.data()).into_value(),
            Expr::Template { id, pointer } => {
                let text = scope
                    .templates
                    .render(id, scope.ctx)
                    .map_err(|message| EvalError { pointer: pointer.to_string(), message })?;
                Some(Value::String(text))
            }
            Expr::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (key, e) in fields {
                    if let Some(v) = e.eval(scope)? {
                        map.insert(key.clone(), v);
                    }
                }
                Some(Value::Object(map))
            }
            Expr::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .map(|e| e.eval(scope).map(|v| v.unwrap_or(Value::Null)))
                    .collect::<Result<_, _>>()?,
            )),
            Expr::Default { from, default } => match from.eval(scope)? {
                None | Some(Value::Null) => Some(default.clone()),
                some => some,
            },
            Expr::Js { script, pointer } => script
                .run(globals(scope.ctx.data()))
                .result
                .map_err(|e| EvalError { pointer: pointer.to_string(), message: e.to_string() })?,
        })
    }
}

/// What a script sees of the context document `doc`.
pub fn globals(doc: &Value) -> Globals<'_> {
    let Value::Object(doc) = doc else { return Globals::default() };
    Globals {
        request: member(doc, "request"),
        nodes: member(doc, "nodes"),
        execution: member(doc, "execution"),
        event: member(doc, "event"),
    }
}

/// A value expression outside any flow (a subscription's payload, say), with the templates it
/// compiled into: compiled once, evaluated against any document.
#[derive(Debug)]
pub struct Standalone {
    expr: Expr,
    templates: Templates,
}

impl Standalone {
    /// Compiles `value`; every problem is a diagnostic whose pointer is relative to `value`.
    pub fn compile(value: &Value) -> Result<Standalone, Vec<Diagnostic>> {
        let (mut templates, mut reads, mut diagnostics) = Default::default();
        let expr = {
            let mut cx = CompileCx::new("", &mut templates, &mut reads, &mut diagnostics);
            Expr::compile(&mut cx, value, "")
        };
        match expr {
            Some(expr) if diagnostics.is_empty() => Ok(Standalone { expr, templates }),
            _ => Err(diagnostics),
        }
    }

    /// The value of the expression against `doc` (`null` when it yields nothing).
    pub fn eval(&self, doc: Value) -> Result<Value, EvalError> {
        let ctx = Context::from(doc);
        let scope = Scope { ctx: &ctx, templates: &self.templates };
        Ok(self.expr.eval(scope)?.unwrap_or(Value::Null))
    }
}

impl Expr {
    /// Evaluates every leaf of the expression and records, per leaf, its JSON pointer (under
    /// `pointer`), what kind of expression it is and what it produced (`None`: nothing).
    pub fn explain(&self, scope: Scope<'_>, pointer: &str, out: &mut Vec<Explained>) {
        let leaf = |kind: &'static str, out: &mut Vec<Explained>| {
            let value = self.eval(scope).map_err(|e| e.message);
            out.push(Explained { pointer: pointer.to_owned(), kind, value });
        };
        match self {
            Expr::Object(fields) => {
                for (key, e) in fields {
                    e.explain(scope, &format!("{pointer}/{}", escape(key)), out);
                }
            }
            Expr::Array(items) => {
                for (i, e) in items.iter().enumerate() {
                    e.explain(scope, &format!("{pointer}/{i}"), out);
                }
            }
            Expr::Literal(_) => leaf("literal", out),
            Expr::Path(_) => leaf("jsonpath", out),
            Expr::Template { .. } => leaf("template", out),
            Expr::Default { .. } => leaf("default", out),
            Expr::Js { .. } => leaf("js", out),
        }
    }
}

/// One leaf of an explained expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// Where the expression is in the flow file.
    pub pointer: String,
    /// `literal`, `jsonpath`, `template`, `default`, `js` or `code`.
    pub kind: &'static str,
    /// What it produced (`Ok(None)`: nothing), or why it failed.
    pub value: Result<Option<Value>, String>,
}

/// An object or array whose leaves are all literals is one literal: the original JSON.
fn fold(expr: Expr, original: &Value) -> Expr {
    let all_literal = match &expr {
        Expr::Object(fields) => fields.iter().all(|(_, e)| matches!(e, Expr::Literal(_))),
        Expr::Array(items) => items.iter().all(|e| matches!(e, Expr::Literal(_))),
        _ => false,
    };
    if all_literal { Expr::Literal(original.clone()) } else { expr }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diagnostic::Diagnostic;

    fn eval(expr: Value, data: Value) -> Result<Option<Value>, EvalError> {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let e = {
            let mut reads = Default::default();
            let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
            Expr::compile(&mut cx, &expr, "/x").expect("compiles")
        };
        let ctx = Context::from(data);
        e.eval(Scope { ctx: &ctx, templates: &templates })
    }

    #[test]
    fn a_standalone_expression_compiles_once_and_evaluates_against_any_document() {
        let payload =
            json!({ "event_type": "$.event", "id": "{{data.id}}", "fixed": { "value": "$x" } });
        let compiled = Standalone::compile(&payload).unwrap();
        let doc = json!({ "event": "test", "data": { "id": 7 } });
        assert_eq!(
            compiled.eval(doc).unwrap(),
            json!({ "event_type": "test", "id": "7", "fixed": "$x" })
        );
        let broken = Standalone::compile(&json!({ "a": "$.[" })).unwrap_err();
        assert_eq!(broken[0].location.pointer, "/a", "{broken:?}");
    }

    #[test]
    fn the_one_rule() {
        let data = json!({"a": {"b": 2, "list": [1, 2]}, "name": "Ada"});
        assert_eq!(eval(json!(5), data.clone()).unwrap(), Some(json!(5)));
        assert_eq!(eval(json!("plain"), data.clone()).unwrap(), Some(json!("plain")));
        assert_eq!(eval(json!("$.a.b"), data.clone()).unwrap(), Some(json!(2)));
        assert_eq!(eval(json!("$.a.list[*]"), data.clone()).unwrap(), Some(json!([1, 2])));
        assert_eq!(eval(json!("Hi {{name}}"), data.clone()).unwrap(), Some(json!("Hi Ada")));
        assert_eq!(eval(json!({"value": "$.a"}), data.clone()).unwrap(), Some(json!("$.a")));
        assert_eq!(
            eval(json!({"from": "$.nope", "default": 0}), data.clone()).unwrap(),
            Some(json!(0))
        );
        assert_eq!(
            eval(json!({"k": "$.a.b", "gone": "$.nope", "arr": ["$.nope", "$.name"]}), data)
                .unwrap(),
            Some(json!({"k": 2, "arr": [null, "Ada"]}))
        );
    }

    #[test]
    fn a_js_expression_computes_and_its_errors_carry_the_pointer() {
        let data = json!({"request": {"body": {"items": [1, 2, 3], "total": 10.005}}});
        let computed = eval(
            json!({"n": {"js": "request.body.items.length"}, "gone": {"js": "undefined"},
                   "vat": {"js": "Math.round(request.body.total * 1.2 * 100) / 100"}}),
            data.clone(),
        );
        assert_eq!(computed.unwrap(), Some(json!({"n": 3, "vat": 12.01})));
        let err = eval(json!({"m": {"js": "request.body.nope.x"}}), data).unwrap_err();
        assert_eq!(err.pointer, "/x/m/js");
        assert!(err.message.contains("cannot read property 'x'"), "{}", err.message);
    }

    #[test]
    fn template_errors_carry_the_pointer() {
        let err = eval(json!({"m": "{{missing}}"}), json!({})).unwrap_err();
        assert_eq!(err.pointer, "/x/m");
        assert!(err.message.contains("`missing`"), "{}", err.message);
    }
}

//! The parts of an HTTP message that flows write: templated headers and a templated body. Shared
//! by the responses a flow gives and the requests it sends.

use serde_json::{Map, Value};

use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{EvalError, Explained, Expr, Scope};
use crate::pointer::escape;
use crate::response::Body;
use crate::template::TemplateId;

/// Connection-level headers that the HTTP layer manages itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Header name (lower case) → value expression, with the JSON pointer it was written at.
#[derive(Debug, Clone, Default)]
pub struct HeadersSpec(Vec<(String, Expr, String)>);

impl HeadersSpec {
    /// Compiles `headers` found at `rel`: names must be HTTP tokens and not hop-by-hop.
    pub fn compile(
        cx: &mut CompileCx<'_>,
        headers: &Map<String, Value>,
        rel: &str,
    ) -> Option<Self> {
        let mut ok = true;
        let mut compiled = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let at = format!("{rel}/{}", escape(name));
            let lower = name.to_ascii_lowercase();
            if !is_token(name) {
                cx.report(Code::InvalidHeader, &at, format!("`{name}` is not a valid header name"));
                ok = false;
            } else if HOP_BY_HOP.contains(&lower.as_str()) {
                cx.report(
                    Code::InvalidHeader,
                    &at,
                    format!("`{name}` is a hop-by-hop header and cannot be set"),
                )
                .set_help("the HTTP layer manages connection-level headers itself; remove it");
                ok = false;
            } else if let Value::String(s) = value
                && has_control(s)
            {
                cx.report(
                    Code::InvalidHeader,
                    &at,
                    format!("the value of `{name}` contains a control character"),
                );
                ok = false;
            }
            match Expr::compile(cx, value, &at) {
                Some(e) => compiled.push((lower, e, escape(name))),
                None => ok = false,
            }
        }
        ok.then_some(HeadersSpec(compiled))
    }

    /// Every header's value expression and what it produces (see [`Expr::explain`]).
    pub fn explain(&self, scope: Scope<'_>, base: &str, out: &mut Vec<Explained>) {
        for (_, e, written) in &self.0 {
            e.explain(scope, &format!("{base}/{written}"), out);
        }
    }

    /// Renders the headers; one whose value yields nothing or `null` is left out.
    pub fn render(&self, scope: Scope<'_>) -> Result<Vec<(String, String)>, EvalError> {
        let mut headers = Vec::with_capacity(self.0.len() + 1);
        for (name, e, _) in &self.0 {
            let value = match e.eval(scope)? {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
            };
            if has_control(&value) {
                return Err(EvalError {
                    pointer: String::new(),
                    message: format!("the value of header `{name}` contains a control character"),
                });
            }
            headers.push((name.clone(), value));
        }
        Ok(headers)
    }
}

/// A body: none, text (literal or template), or JSON of value expressions.
#[derive(Debug, Clone)]
pub enum BodySpec {
    None,
    Text(String),
    TextTemplate(TemplateId, Box<str>),
    Json(Expr),
}

impl BodySpec {
    /// Compiles a body found at `rel`: a string is a text template, an object or array a JSON
    /// body of value expressions.
    pub fn compile(cx: &mut CompileCx<'_>, body: Option<&Value>, rel: &str) -> Option<Self> {
        Some(match body {
            None | Some(Value::Null) => BodySpec::None,
            Some(Value::String(s)) if s.contains("{{") => {
                BodySpec::TextTemplate(cx.template(s, rel)?, cx.pointer(rel).into_boxed_str())
            }
            Some(Value::String(s)) => BodySpec::Text(s.clone()),
            Some(v) => BodySpec::Json(Expr::compile(cx, v, rel)?),
        })
    }

    /// The body's value expressions (a text template is one) and what they produce.
    pub fn explain(&self, scope: Scope<'_>, base: &str, out: &mut Vec<Explained>) {
        match self {
            BodySpec::None | BodySpec::Text(_) => {}
            BodySpec::TextTemplate(..) => {
                let value = self.render(scope).map_err(|e| e.message).map(|body| match body {
                    Body::Text(t) => Some(Value::String(t)),
                    _ => None,
                });
                out.push(Explained { pointer: base.to_owned(), kind: "template", value });
            }
            BodySpec::Json(e) => e.explain(scope, base, out),
        }
    }

    pub fn render(&self, scope: Scope<'_>) -> Result<Body, EvalError> {
        Ok(match self {
            BodySpec::None => Body::Empty,
            BodySpec::Text(t) => Body::Text(t.clone()),
            BodySpec::TextTemplate(id, pointer) => Body::Text(
                scope
                    .templates
                    .render(id, scope.ctx)
                    .map_err(|message| EvalError { pointer: pointer.to_string(), message })?,
            ),
            BodySpec::Json(e) => Body::Json(e.eval(scope)?.unwrap_or(Value::Null)),
        })
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\t')
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

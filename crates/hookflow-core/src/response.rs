//! HTTP responses a flow produces: the configured shape (`status`, `status_override`, `headers`,
//! `body`, `content_type`), its compiled form, rendering against the context, and RFC 9457
//! problem documents.
//!
//! Precedence, from strongest: a `status_override` that yields a valid code; the configured
//! `status`; 200. A `content_type` field beats a `Content-Type` header, which beats the body kind
//! (`application/json` for an object or array body, `text/plain; charset=utf-8` for a string).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{EvalError, Explained, Expr, Scope};
use crate::message::{BodySpec, HeadersSpec};

/// A response as it goes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// A response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Body {
    Empty,
    Json(Value),
    Text(String),
}

impl Body {
    /// The Content-Type that follows from the body kind.
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            Body::Empty => None,
            Body::Json(_) => Some("application/json"),
            Body::Text(_) => Some("text/plain; charset=utf-8"),
        }
    }

    /// The body as a JSON value: JSON as it is, text as a string, none as `null`.
    pub fn to_value(&self) -> Value {
        match self {
            Body::Empty => Value::Null,
            Body::Json(v) => v.clone(),
            Body::Text(t) => Value::String(t.clone()),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            Body::Text(t) => t.as_bytes().to_vec(),
        }
    }
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Json(body),
        }
    }

    /// An RFC 9457 `application/problem+json` response. `detail` must not carry internals.
    pub fn problem(status: u16, title: &str, detail: &str, execution_id: Option<&str>) -> Response {
        let mut doc =
            json!({ "type": "about:blank", "title": title, "status": status, "detail": detail });
        if let Some(id) = execution_id {
            doc["execution_id"] = Value::String(id.to_owned());
        }
        Response {
            headers: vec![("content-type".into(), "application/problem+json".into())],
            ..Response::json(status, doc)
        }
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Whether a status code carries no body by definition.
pub fn is_bodiless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// The configured shape of a response (the `respond` node, and a webhook's `default` and `error`
/// responses).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseConfig {
    /// HTTP status, 100–599.
    #[serde(default = "default_status")]
    pub status: u16,
    /// A value expression; when it yields a valid status code it replaces `status` (data
    /// overrides config), when it yields nothing `status` stands, anything else fails the run.
    #[serde(default)]
    pub status_override: Option<Value>,
    /// Header name → value expression (hop-by-hop headers are refused).
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub headers: Map<String, Value>,
    /// A string is a text template; an object or array is a JSON body of value expressions.
    #[serde(default)]
    pub body: Option<Value>,
    /// Content-Type, when the one that follows from the body is not wanted.
    #[serde(default)]
    pub content_type: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// A compiled [`ResponseConfig`].
#[derive(Debug, Clone)]
pub struct ResponseSpec {
    status: u16,
    status_override: Option<Expr>,
    headers: HeadersSpec,
    body: BodySpec,
    content_type: Option<String>,
}

impl ResponseSpec {
    /// Compiles a response found at `rel` (relative to the current node).
    pub fn compile(cx: &mut CompileCx<'_>, config: &ResponseConfig, rel: &str) -> Option<Self> {
        let mut ok = true;
        if !(100..=599).contains(&config.status) {
            cx.report(
                Code::InvalidStatus,
                &format!("{rel}/status"),
                format!("status {} is not an HTTP status code", config.status),
            )
            .set_help("use a code from 100 to 599, e.g. 200, 201, 202 or 204");
            ok = false;
        }
        let status_override = match &config.status_override {
            Some(v) => {
                let e = Expr::compile(cx, v, &format!("{rel}/status_override"));
                ok &= e.is_some();
                e
            }
            None => None,
        };
        let headers = HeadersSpec::compile(cx, &config.headers, &format!("{rel}/headers"));
        let body = BodySpec::compile(cx, config.body.as_ref(), &format!("{rel}/body"));
        let (Some(headers), Some(body)) = (headers, body) else { return None };
        ok.then(|| ResponseSpec {
            status: config.status,
            status_override,
            headers,
            body,
            content_type: config.content_type.clone(),
        })
    }

    /// Every value expression of the response with the value it produces against the context
    /// (pointers under `base`, the node's pointer).
    pub fn explain(&self, scope: Scope<'_>, base: &str, out: &mut Vec<Explained>) {
        if let Some(e) = &self.status_override {
            e.explain(scope, &format!("{base}/status_override"), out);
        }
        self.headers.explain(scope, &format!("{base}/headers"), out);
        self.body.explain(scope, &format!("{base}/body"), out);
    }

    /// Renders the response against the context.
    pub fn render(&self, scope: Scope<'_>) -> Result<Response, EvalError> {
        let status = match &self.status_override {
            Some(e) => match e.eval(scope)? {
                None | Some(Value::Null) => self.status,
                Some(v) => status_code(&v).ok_or_else(|| EvalError {
                    pointer: String::new(),
                    message: format!(
                        "status_override yielded {v}, which is not an HTTP status code (100–599)"
                    ),
                })?,
            },
            None => self.status,
        };
        let mut headers = self.headers.render(scope)?;
        let body = if is_bodiless(status) { Body::Empty } else { self.body.render(scope)? };
        let content_type = match &self.content_type {
            Some(ct) => Some(ct.clone()),
            None if headers.iter().any(|(k, _)| k == "content-type") => None,
            None => body.content_type().map(str::to_owned),
        };
        if let Some(ct) = content_type {
            headers.retain(|(k, _)| k != "content-type");
            headers.push(("content-type".to_owned(), ct));
        }
        Ok(Response { status, headers, body })
    }
}

fn status_code(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u16::try_from(n).ok().filter(|n| (100..=599).contains(n))
}

#[cfg(test)]
mod tests {
    use handlebars::Context;

    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::template::Templates;

    fn render(config: Value, data: Value) -> Result<Response, String> {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let config: ResponseConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
        let spec = {
            let mut reads = Default::default();
            let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
            ResponseSpec::compile(&mut cx, &config, "")
        };
        let spec = spec.ok_or_else(|| format!("{diagnostics:?}"))?;
        let ctx = Context::from(data);
        spec.render(Scope { ctx: &ctx, templates: &templates }).map_err(|e| e.message)
    }

    #[test]
    fn override_wins_when_it_yields_a_code() {
        let config = json!({"status": 201, "status_override": "$.s", "body": {"a": 1}});
        assert_eq!(render(config.clone(), json!({"s": 422})).unwrap().status, 422);
        assert_eq!(render(config.clone(), json!({"s": "202"})).unwrap().status, 202);
        assert_eq!(render(config.clone(), json!({})).unwrap().status, 201);
        let err = render(config, json!({"s": "teapot"})).unwrap_err();
        assert!(err.contains("not an HTTP status code"), "{err}");
    }

    #[test]
    fn content_type_follows_body_unless_set() {
        let r = render(json!({"body": "hi {{n}}"}), json!({"n": 1})).unwrap();
        assert_eq!(r.body, Body::Text("hi 1".into()));
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        let r =
            render(json!({"body": [1], "headers": {"Content-Type": "application/x"}}), json!({}))
                .unwrap();
        assert_eq!(r.header("content-type"), Some("application/x"));
        let r = render(json!({"body": [1], "content_type": "application/y"}), json!({})).unwrap();
        assert_eq!(r.header("content-type"), Some("application/y"));
    }

    #[test]
    fn no_body_for_204() {
        let r = render(json!({"status": 204, "body": {"a": 1}}), json!({})).unwrap();
        assert_eq!(r.body, Body::Empty);
        assert_eq!(r.header("content-type"), None);
    }

    #[test]
    fn hop_by_hop_and_bad_status_are_compile_errors() {
        let err =
            render(json!({"status": 700, "headers": {"Connection": "x", "a b": "y"}}), json!({}))
                .unwrap_err();
        assert!(err.contains("InvalidStatus"), "{err}");
        assert!(err.contains("hop-by-hop"), "{err}");
        assert!(err.contains("not a valid header name"), "{err}");
    }
}

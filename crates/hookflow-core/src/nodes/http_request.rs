//! The `http_request` node: calls an external HTTP endpoint with a templated URL, query, headers
//! and body, a per-attempt timeout and retries, and outputs the answer.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Node, NodeError, NodeType, Outcome, Role, RunCx};
use crate::compile_cx::CompileCx;
use crate::diagnostic::Code;
use crate::expr::{Expr, Scope};
use crate::intake::parse_body;
use crate::message::{BodySpec, HeadersSpec};
use crate::pointer::escape;
use crate::services::HttpCall;

pub static TYPE: NodeType = NodeType {
    name: "http_request",
    role: Role::Step,
    doc: "Calls an external HTTP endpoint. `url` is a value expression (a template such as \
          `https://erp.example.com/orders/{{nodes.order.id}}`, or a JSONPath); `query` and \
          `headers` map names to value expressions; `body` is a text template (string) or a JSON \
          body of value expressions (object or array). Each attempt may take `timeout_ms` \
          (default 10000); a connection error, a timeout, a 429 or a 5xx is retried `retries` \
          times (default 0, at most 10), waiting `retry_backoff_ms` (default 500) doubled each \
          time, or the `Retry-After` the server asks for. An answer of 400 or more fails the node \
          unless `fail_on_error_status` is false. Private, loopback and link-local destinations are \
          refused unless the server allows private networks. The output is `{\"status\", \
          \"headers\", \"body\"}` (a JSON answer parsed, any other text as a string).",
    example: r#"{ "id": "erp", "type": "http_request", "method": "POST",
  "url": "https://erp.example.com/orders/{{request.body.id}}",
  "headers": { "X-Source": "hookflow" },
  "body": { "id": "$.request.body.id", "total": "$.request.body.total" },
  "timeout_ms": 5000, "retries": 2 }"#,
    schema: |g| g.root_schema_for::<HttpRequestConfig>(),
    compile,
};

/// The fields of an `http_request` node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    /// The method (default `GET`).
    #[serde(default)]
    pub method: HttpMethod,
    /// A value expression yielding an `http` or `https` URL.
    pub url: String,
    /// Query parameter → value expression (an array repeats the parameter).
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub query: Map<String, Value>,
    /// Header → value expression.
    #[serde(default)]
    #[schemars(with = "Map<String, Value>")]
    pub headers: Map<String, Value>,
    /// A string is a text template; an object or array is a JSON body of value expressions.
    #[serde(default)]
    pub body: Option<Value>,
    /// Time allowed for each attempt (default 10000 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts after a connection error, a timeout, a 429 or a 5xx (default 0).
    #[serde(default)]
    pub retries: u32,
    /// Wait before the first retry, doubled for each next one (default 500 ms).
    #[serde(default = "default_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// Whether an answer of 400 or more fails the node (default true).
    #[serde(default = "default_true")]
    pub fail_on_error_status: bool,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_backoff_ms() -> u64 {
    500
}

fn default_true() -> bool {
    true
}

const MAX_RETRIES: u32 = 10;

/// An outbound method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl HttpMethod {
    fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

#[derive(Debug)]
struct HttpRequest {
    method: HttpMethod,
    url: Expr,
    query: Vec<(String, Expr)>,
    headers: HeadersSpec,
    body: BodySpec,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    fail_on_error_status: bool,
}

impl Node for HttpRequest {
    fn calls_out(&self) -> bool {
        true
    }

    fn run(&self, scope: Scope<'_>, cx: RunCx<'_>) -> Result<Outcome, NodeError> {
        let url = match self.url.eval(scope)? {
            Some(Value::String(url)) => url,
            other => {
                return Err(NodeError {
                    message: format!(
                        "`url` yielded {}, not a URL string",
                        other.map_or("nothing".to_owned(), |v| v.to_string())
                    ),
                });
            }
        };
        let url = self.with_query(url, scope)?;
        let mut headers = self.headers.render(scope)?;
        let body = self.body.render(scope)?;
        if let Some(ct) = body.content_type()
            && !headers.iter().any(|(k, _)| k == "content-type")
        {
            headers.push(("content-type".to_owned(), ct.to_owned()));
        }
        let call = HttpCall {
            method: self.method.as_str().to_owned(),
            url,
            headers,
            body: (!matches!(body, crate::response::Body::Empty)).then(|| body.to_bytes()),
            timeout: self.timeout,
            retries: self.retries,
            backoff: self.backoff,
        };
        let http = cx.services.http.clone();
        let fail_on_error_status = self.fail_on_error_status;
        Ok(Outcome::Pending(Box::pin(async move {
            let what = format!("{} {}", call.method, call.url);
            let reply =
                http.send(call).await.map_err(|e| NodeError { message: format!("{what}: {e}") })?;
            if fail_on_error_status && reply.status >= 400 {
                return Err(NodeError {
                    message: format!(
                        "{what} answered {} (after {} attempt{})",
                        reply.status,
                        reply.attempts,
                        if reply.attempts == 1 { "" } else { "s" }
                    ),
                });
            }
            let content_type =
                reply.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
            let body = parse_body(content_type, &reply.body)
                .map_err(|e| NodeError { message: format!("{what} answered a body that {e}") })?;
            let headers: Map<String, Value> = crate::intake::pairs(reply.headers.into_iter());
            Ok(json!({ "status": reply.status, "headers": headers, "body": body }))
        })))
    }
}

impl HttpRequest {
    fn with_query(&self, mut url: String, scope: Scope<'_>) -> Result<String, NodeError> {
        if self.query.is_empty() {
            return Ok(url);
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, e) in &self.query {
            match e.eval(scope)? {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        query.append_pair(name, &text(item));
                    }
                }
                Some(v) => {
                    query.append_pair(name, &text(v));
                }
            }
        }
        let query = query.finish();
        if !query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query);
        }
        Ok(url)
    }
}

fn text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn compile(cx: &mut CompileCx<'_>, config: Value) -> Option<Box<dyn Node>> {
    let config: HttpRequestConfig = cx.config(config)?;
    let mut ok = true;
    let url = Expr::compile(cx, &Value::String(config.url.clone()), "/url");
    if let Some(Expr::Literal(Value::String(literal))) = &url
        && !(literal.starts_with("http://") || literal.starts_with("https://"))
    {
        cx.report(Code::InvalidValue, "/url", format!("`{literal}` is not an http or https URL"))
            .set_help("write the full URL, e.g. https://erp.example.com/orders");
        ok = false;
    }
    let mut query = Vec::with_capacity(config.query.len());
    for (name, value) in &config.query {
        match Expr::compile(cx, value, &format!("/query/{}", escape(name))) {
            Some(e) => query.push((name.clone(), e)),
            None => ok = false,
        }
    }
    let headers = HeadersSpec::compile(cx, &config.headers, "/headers");
    let body = BodySpec::compile(cx, config.body.as_ref(), "/body");
    if config.timeout_ms == 0 {
        cx.report(Code::InvalidValue, "/timeout_ms", "`timeout_ms` must be above 0");
        ok = false;
    }
    if config.retries > MAX_RETRIES {
        cx.report(
            Code::InvalidValue,
            "/retries",
            format!("`retries` is {}; at most {MAX_RETRIES}", config.retries),
        );
        ok = false;
    }
    let (Some(url), Some(headers), Some(body), true) = (url, headers, body, ok) else {
        return None;
    };
    Some(Box::new(HttpRequest {
        method: config.method,
        url,
        query,
        headers,
        body,
        timeout: Duration::from_millis(config.timeout_ms),
        retries: config.retries,
        backoff: Duration::from_millis(config.retry_backoff_ms),
        fail_on_error_status: config.fail_on_error_status,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use handlebars::Context;

    use super::*;
    use crate::context::ExecutionMeta;
    use crate::diagnostic::Diagnostic;
    use crate::services::{BoxFuture, HttpClient, HttpError, HttpReply, Services};
    use crate::template::Templates;

    /// Records the call and answers with a fixed reply.
    struct Recorder {
        calls: Mutex<Vec<HttpCall>>,
        reply: HttpReply,
    }

    impl HttpClient for Recorder {
        fn send(&self, call: HttpCall) -> BoxFuture<Result<HttpReply, HttpError>> {
            self.calls.lock().unwrap().push(call);
            let reply = self.reply.clone();
            Box::pin(async move { Ok(reply) })
        }
    }

    fn run(config: Value, status: u16, reply_body: &str) -> (Result<Value, NodeError>, HttpCall) {
        let mut templates = Templates::default();
        let mut diagnostics: Vec<Diagnostic> = Vec::new();
        let node = {
            let mut reads = Default::default();
            let mut cx = CompileCx::new("t.json", &mut templates, &mut reads, &mut diagnostics);
            compile(&mut cx, config).unwrap_or_else(|| panic!("{diagnostics:?}"))
        };
        let recorder = Arc::new(Recorder {
            calls: Mutex::new(Vec::new()),
            reply: HttpReply {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: reply_body.as_bytes().to_vec(),
                attempts: 2,
            },
        });
        let offline = Arc::new(crate::services::Offline::default());
        let services = Services { http: recorder.clone(), ..Services::offline(&offline) };
        let ctx = Context::from(
            json!({"request": {"body": {"id": "ORD-1", "total": 5, "tags": ["a", "b"]}}}),
        );
        let execution = ExecutionMeta {
            id: "e1".into(),
            flow_id: "f".into(),
            flow_version: "v".into(),
            credential: None,
            depth: 0,
        };
        let logs = crate::nodes::Logs::default();
        let cx = RunCx { execution: &execution, services: &services, logs: &logs };
        let Ok(Outcome::Pending(io)) = node.run(Scope { ctx: &ctx, templates: &templates }, cx)
        else {
            panic!("an http_request node answers Pending");
        };
        let output = poll_once(io);
        let call = recorder.calls.lock().unwrap().pop().unwrap();
        (output, call)
    }

    fn poll_once<T>(mut f: BoxFuture<T>) -> T {
        use std::task::{Context as TaskContext, Poll, Waker};
        match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the recorder answers at once"),
        }
    }

    #[test]
    fn renders_the_call_and_outputs_the_answer() {
        let (output, call) = run(
            json!({ "method": "POST", "url": "https://erp.test/orders/{{request.body.id}}?v=1",
                    "query": { "tag": "$.request.body.tags", "none": "$.nope" },
                    "headers": { "X-Total": "$.request.body.total" },
                    "body": { "id": "$.request.body.id" }, "retries": 3 }),
            201,
            r#"{"ok": true}"#,
        );
        assert_eq!(call.method, "POST");
        assert_eq!(call.url, "https://erp.test/orders/ORD-1?v=1&tag=a&tag=b");
        assert_eq!(
            call.headers,
            vec![
                ("x-total".into(), "5".into()),
                ("content-type".into(), "application/json".into())
            ]
        );
        assert_eq!(call.body.as_deref(), Some(br#"{"id":"ORD-1"}"#.as_slice()));
        assert_eq!(call.retries, 3);
        assert_eq!(
            output.unwrap(),
            json!({"status": 201, "headers": {"content-type": "application/json"}, "body": {"ok": true}})
        );
    }

    #[test]
    fn error_statuses_fail_unless_allowed() {
        let (output, _) = run(json!({ "url": "https://erp.test/x" }), 503, "{}");
        let message = output.unwrap_err().message;
        assert_eq!(message, "GET https://erp.test/x answered 503 (after 2 attempts)");
        let (output, _) =
            run(json!({ "url": "https://erp.test/x", "fail_on_error_status": false }), 503, "{}");
        assert_eq!(output.unwrap()["status"], 503);
    }
}

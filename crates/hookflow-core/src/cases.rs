//! Flow test cases (`flows/<flow-id>.cases.json`): the file format, running a case offline, and
//! matching the response against its expectations with a diff that names the exact JSON pointer
//! or header that differs. Used by `hookflow test`, `hookflow cases` and the example tests.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::execute::{Execution, StepStatus};
use crate::intake::{parse_body, parse_query};
use crate::json_diff::{self, Difference, Keys};
use crate::offline::{self, Refusal, SampleBody, SampleCredential, SampleEvent, SampleRequest};
use crate::plan::Plan;
use crate::pointer::escape;
use crate::routes::HOOKS_BASE;
use crate::services::{EmittedEvent, HttpClient, Offline, RecordWrite, Services};

/// The execution id a case runs with when it does not inject one.
pub const DEFAULT_EXECUTION_ID: &str = "test-execution";

/// A cases file: the flow it tests and its cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    /// The schema of the file (`../schemas/cases.schema.json` beside the example flows).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The id of the flow the cases run on.
    pub flow: String,
    pub cases: Vec<Case>,
}

/// One request and what its response must look like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique in the file; `hookflow test --filter` selects on it.
    pub name: String,
    /// The request; every part left out comes from the webhook's `expected` sample.
    #[serde(default, skip_serializing_if = "CaseRequest::is_default")]
    pub request: CaseRequest,
    /// The execution id the flow sees as `execution.id` (default `test-execution`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// When the request arrived (RFC 3339), seen as `request.received_at` (default: now); for
    /// an event, its `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    /// The event, for a flow an `event` trigger starts (instead of `request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<SampleEvent>,
    pub expect: Expect,
}

/// A case's request. Headers and query are added to the sample's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseRequest {
    /// The method (default: the webhook's first method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path after `/hooks`, e.g. `/orders/eu` (default: the suffix with `expected.params`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schemars(with = "Map<String, Value>")]
    pub query: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schemars(with = "Map<String, Value>")]
    pub headers: Map<String, Value>,
    /// The body as JSON (default: the sample's body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body as the bytes of a file, relative to the cases file, parsed by the request's
    /// `content-type` like a body received over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<String>,
    /// `"skip"`: run as if no credential authenticated the call (`execution.credential` is
    /// `null`). Offline runs never check auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    /// The name of the credential recorded as `execution.credential` (default: the one the
    /// route's auth names). Offline runs never check auth, so no secret is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl CaseRequest {
    fn is_default(&self) -> bool {
        *self == CaseRequest::default()
    }
}

/// How a case treats the route's auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Run as if authenticated, with no credential name (`execution.credential` is `null`).
    Skip,
    /// Present no credential: a route with auth answers `401`, as the server does.
    Anonymous,
}

/// What the response must look like. Every expectation given must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
    /// Header values by name (case-insensitive): a string equal to the value, or
    /// `{"regex": "..."}` that the value must match (unanchored: use `^...$` for all of it).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schemars(with = "std::collections::BTreeMap<String, HeaderExpect>")]
    pub headers: Map<String, Value>,
    /// The whole body, exactly (`null` for an empty body; a text body is a string).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Every key present in the body with an equal value, recursively (arrays element-wise, of
    /// the same length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_subset: Option<Value>,
    /// JSONPath assertions on the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_paths: Vec<PathAssertion>,
    /// The id of the `respond` node that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded_by: Option<String>,
    /// The ids of the nodes that ran, in order (the trigger first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes_ran: Option<Vec<String>>,
    /// The records the run saved, in order, each `{"collection", "key", "record"}` (keys left
    /// out are not compared; records compare as `body_subset` does). The run saves into a store
    /// of its own, empty when the case starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<Vec<Value>>,
    /// The events the run raised, in order, each `{"event", "data"}` (compared as `stored`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emitted: Option<Vec<Value>>,
}

/// An expected header value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderExpect {
    Exact(String),
    Regex(RegexExpect),
}

/// A regular expression (Rust `regex` syntax) a header value must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexExpect {
    pub regex: String,
}

/// A JSONPath assertion on the body: `eq` (the selected value equals it) or `exists`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathAssertion {
    /// A JSONPath on the body, e.g. `$.items[0].sku`.
    pub path: String,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub eq: Option<Value>,
    /// `true`: the path selects something; `false`: it selects nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// A field that is present is `Some`, even when it is `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The JSON Schema (2020-12) of a cases file.
pub fn cases_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let generated = generator.into_root_schema_for::<CasesFile>().to_value();
    let mut doc = Map::new();
    doc.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    doc.insert("title".into(), json!("hookflow test cases"));
    doc.insert(
        "description".into(),
        json!("Requests to run a flow on and the responses expected: `flows/<flow-id>.cases.json`. See docs/testing.md."),
    );
    if let Value::Object(rest) = generated {
        for (k, v) in rest {
            doc.entry(k).or_insert(v);
        }
    }
    Value::Object(doc)
}

/// Where the cases of flow `flow_id` defined in `flow_file` live: beside it.
pub fn cases_path(flow_file: &Path, flow_id: &str) -> PathBuf {
    flow_file.parent().unwrap_or(Path::new(".")).join(format!("{flow_id}.cases.json"))
}

/// Reads a cases file; an error names the JSON pointer of the offending field.
pub fn read(path: &Path) -> Result<CasesFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a cases file.
pub fn parse(text: &str) -> Result<CasesFile, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let file: CasesFile = serde_path_to_error::deserialize(de)
        .map_err(|e| format!("at #{}: {}", crate::pointer::of_path(e.path()), e.inner()))?;
    for (i, case) in file.cases.iter().enumerate() {
        for (name, want) in &case.expect.headers {
            let valid = match serde_json::from_value::<HeaderExpect>(want.clone()) {
                Ok(HeaderExpect::Exact(_)) => true,
                Ok(HeaderExpect::Regex(r)) => regex::Regex::new(&r.regex).is_ok(),
                Err(_) => false,
            };
            if !valid {
                return Err(format!(
                    "at #/cases/{i}/expect/headers/{}: expected a string or {{\"regex\": \"...\"}} with a valid regular expression",
                    escape(name)
                ));
            }
        }
    }
    Ok(file)
}

/// The text of a cases file: pretty JSON and a final newline.
pub fn to_text(file: &CasesFile) -> String {
    serde_json::to_string_pretty(file).expect("a cases file serializes") + "\n"
}

/// Where the cases schema is, seen from a cases file in `flows/`.
pub const SCHEMA_REF: &str = "../schemas/cases.schema.json";

/// The case a recorded execution makes (`doc` is the admin API's execution document), with its
/// recorded response as the expectation and its id, time and credential injected.
pub fn case_from_execution(doc: &Value, name: String) -> Result<Case, String> {
    let request = &doc["request"];
    let response = &doc["response"];
    if !response.is_object() {
        return Err(String::from("the execution has no recorded response (yet)"));
    }
    if request["body_truncated"] == true || response["body_truncated"] == true {
        return Err(String::from("the recorded body was cut at the recording limit"));
    }
    let path = request["path"].as_str().unwrap_or_default();
    let path = path.strip_prefix(HOOKS_BASE).unwrap_or(path);
    let mut headers = Map::new();
    for (k, v) in request["headers"].as_object().into_iter().flatten() {
        // Framing, not content: the body is re-encoded when the case runs.
        if !matches!(k.as_str(), "content-length" | "transfer-encoding") {
            headers.insert(k.clone(), v.clone());
        }
    }
    let body = match &request["body"] {
        Value::Null => None,
        // Kept as text: parsed as the content type says, like the server did.
        Value::String(text) => {
            let content_type = headers.get("content-type").and_then(Value::as_str);
            Some(parse_body(content_type, text.as_bytes()).map_err(|e| e.to_string())?)
        }
        json => Some(json.clone()),
    };
    let status = response["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| String::from("the recorded response has no status"))?;
    let mut expect = Expect::with_status(status);
    for (k, v) in response["headers"].as_object().into_iter().flatten() {
        if k != "content-length" {
            expect.headers.insert(k.clone(), v.clone());
        }
    }
    expect.body = Some(response["body"].clone());
    expect.responded_by = doc["trace"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["type"] == "respond" && s["status"] == "succeeded")
        .and_then(|s| s["node"].as_str())
        .map(str::to_owned);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(Case {
        name,
        request: CaseRequest {
            method: text(&request["method"]),
            path: Some(path.to_owned()),
            query: parse_query(request["query"].as_str().unwrap_or_default()),
            headers,
            body,
            credential: text(&doc["credential"]),
            ..CaseRequest::default()
        },
        execution_id: text(&doc["id"]),
        received_at: text(&doc["received_at"]),
        event: doc["cause"]["event"].as_object().map(|event| SampleEvent {
            kind: event.get("type").and_then(Value::as_str).map(str::to_owned),
            data: event.get("data").cloned().unwrap_or_default(),
        }),
        expect,
    })
}

/// What a case's run produced, in the terms expectations use.
#[derive(Debug, Clone, PartialEq)]
pub struct Actual {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// `null` for an empty body, a string for a text body.
    pub body: Value,
    pub responded_by: Option<String>,
    pub nodes_ran: Vec<String>,
    /// The failing node and its message, for a failed execution.
    pub failure: Option<String>,
    /// The records saved, each `{"collection", "key", "record"}`.
    pub stored: Vec<Value>,
    /// The events raised, each `{"event", "data"}`.
    pub emitted: Vec<Value>,
}

impl Actual {
    pub fn from_execution(plan: &Plan, execution: &Execution) -> Actual {
        let r = &execution.response;
        Actual {
            status: r.status,
            headers: r.headers.clone(),
            body: r.body.to_value(),
            responded_by: execution.responded_by.clone(),
            nodes_ran: execution
                .trace
                .iter()
                .filter(|s| s.status != StepStatus::Skipped)
                .map(|s| plan.nodes()[s.node].id.clone())
                .collect(),
            failure: execution
                .failure
                .as_ref()
                .map(|f| format!("node `{}`: {}", f.node, f.message)),
            stored: Vec::new(),
            emitted: Vec::new(),
        }
    }

    /// What `offline` kept of the run: the records it saved and the events it raised.
    fn with_effects(mut self, offline: &Offline) -> Actual {
        self.stored = offline.stored().iter().map(RecordWrite::to_json).collect();
        self.emitted = offline.emitted().iter().map(EmittedEvent::to_json).collect();
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Case {
    /// The sample request of the case; `base` is the directory of the cases file.
    pub fn sample(&self, base: &Path) -> Result<SampleRequest, String> {
        let r = &self.request;
        let body = match (&r.body, &r.body_file) {
            (Some(_), Some(_)) => return Err("give `body` or `body_file`, not both".into()),
            (Some(v), None) => Some(SampleBody::Json(v.clone())),
            (None, Some(file)) => {
                let path = base.join(file);
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read body_file {}: {e}", path.display()))?;
                Some(SampleBody::Raw(bytes))
            }
            (None, None) => None,
        };
        let credential = match (r.auth, &r.credential) {
            (Some(_), Some(_)) => {
                return Err("give `auth: \"skip\"` or `credential`, not both".into());
            }
            (Some(AuthMode::Skip), None) => SampleCredential::Skip,
            (Some(AuthMode::Anonymous), None) => SampleCredential::Anonymous,
            (None, Some(name)) => SampleCredential::Named(name.clone()),
            (None, None) => SampleCredential::Route,
        };
        let received_at = match &self.received_at {
            None => None,
            Some(t) => Some(parse_time(t)?),
        };
        Ok(SampleRequest {
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            body,
            received_at,
            credential,
            event: self.event.clone(),
        })
    }
}

/// Parses an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

/// Runs `case` offline on `plan`, calling out through `http`, with records and events kept in a
/// store of the case's own; `base` is the directory of the cases file. A call the server would
/// refuse before any node runs answers `Ok(Err(refusal))`, for the caller to turn into the
/// server's answer.
pub async fn run(
    plan: &Plan,
    case: &Case,
    base: &Path,
    http: &Arc<dyn HttpClient>,
) -> Result<Result<Actual, Refusal>, String> {
    let sample = case.sample(base)?;
    let id = case.execution_id.clone().unwrap_or_else(|| DEFAULT_EXECUTION_ID.into());
    let offline = Arc::new(Offline::default());
    let services = Services { http: http.clone(), ..Services::offline(&offline) };
    match offline::run(plan, sample, id, &services).await {
        Ok(execution) => Ok(Ok(Actual::from_execution(plan, &execution).with_effects(&offline))),
        Err(offline::OfflineError::Refused(refusal)) => Ok(Err(refusal)),
        Err(e) => Err(e.to_string()),
    }
}

impl Actual {
    /// The answer to a refused call: `response`, as the server sends it; no node ran.
    pub fn refused(response: &crate::Response) -> Actual {
        Actual {
            status: response.status,
            headers: response.headers.clone(),
            body: response.body.to_value(),
            responded_by: None,
            nodes_ran: Vec::new(),
            failure: None,
            stored: Vec::new(),
            emitted: Vec::new(),
        }
    }
}

/// The case a flow's `expected` sample makes, with `actual` as its expectation.
pub fn sample_case(name: &str, actual: &Actual) -> Case {
    let mut case = Case {
        name: name.to_owned(),
        request: CaseRequest::default(),
        execution_id: Some(DEFAULT_EXECUTION_ID.into()),
        received_at: None,
        event: None,
        expect: Expect::with_status(0),
    };
    bless(&mut case.expect, actual);
    case
}

/// Sets every expectation to what `actual` shows: status, headers, exact body, answering node.
pub fn bless(expect: &mut Expect, actual: &Actual) {
    expect.status = actual.status;
    expect.headers =
        actual.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    expect.body = Some(actual.body.clone());
    expect.body_subset = None;
    expect.body_paths.clear();
    expect.responded_by = actual.responded_by.clone();
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// What differs: `status`, `header x-order-id`, `body /items/0/sku`, `body_subset /id`,
    /// `body_paths $.items[0].sku`, `responded_by`, `nodes_ran`.
    pub what: String,
    /// `None`: expected absent.
    pub expected: Option<Value>,
    /// `None`: absent.
    pub actual: Option<Value>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side =
            |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".into(), Value::to_string);
        write!(f, "{}: expected {}, actual {}", self.what, side(&self.expected), side(&self.actual))
    }
}

/// Every expectation of `expect` that `actual` does not meet (empty: the case passes).
pub fn check(expect: &Expect, actual: &Actual) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut miss = |what: String, expected: Option<Value>, actual: Option<Value>| {
        out.push(Mismatch { what, expected, actual });
    };
    if expect.status != actual.status {
        miss("status".into(), Some(json!(expect.status)), Some(json!(actual.status)));
    }
    for (name, want) in &expect.headers {
        let got = actual.header(name);
        let ok = match (serde_json::from_value::<HeaderExpect>(want.clone()), got) {
            (Ok(HeaderExpect::Exact(v)), Some(got)) => v == got,
            (Ok(HeaderExpect::Regex(r)), Some(got)) => match regex::Regex::new(&r.regex) {
                Ok(re) => re.is_match(got),
                Err(e) => {
                    miss(format!("header {name}"), Some(want.clone()), Some(json!(e.to_string())));
                    continue;
                }
            },
            _ => false,
        };
        if !ok {
            let name = name.to_ascii_lowercase();
            miss(format!("header {name}"), Some(want.clone()), got.map(|g| json!(g)));
        }
    }
    if let Some(body) = &expect.body {
        for d in diff(body, &actual.body, false) {
            miss(format!("body {}", shown(&d.pointer)), d.left.cloned(), d.right.cloned());
        }
    }
    if let Some(subset) = &expect.body_subset {
        for d in diff(subset, &actual.body, true) {
            miss(format!("body_subset {}", shown(&d.pointer)), d.left.cloned(), d.right.cloned());
        }
    }
    for assertion in &expect.body_paths {
        let what = format!("body_paths {}", assertion.path);
        let selected = match crate::path::JsonPath::parse(&assertion.path) {
            Ok(path) => select(&path, &actual.body),
            Err(e) => {
                miss(what, Some(json!(assertion.path)), Some(json!(format!("invalid path: {e}"))));
                continue;
            }
        };
        if let Some(eq) = &assertion.eq
            && selected.as_ref() != Some(eq)
        {
            miss(what.clone(), Some(eq.clone()), selected.clone());
        }
        if let Some(exists) = assertion.exists
            && exists != selected.is_some()
        {
            let shown = |b: bool| Some(json!(if b { "exists" } else { "absent" }));
            miss(what, shown(exists), shown(selected.is_some()));
        }
    }
    if let Some(by) = &expect.responded_by
        && actual.responded_by.as_ref() != Some(by)
    {
        miss(
            "responded_by".into(),
            Some(json!(by)),
            actual.responded_by.as_ref().map(|b| json!(b)),
        );
    }
    if let Some(nodes) = &expect.nodes_ran
        && *nodes != actual.nodes_ran
    {
        miss("nodes_ran".into(), Some(json!(nodes)), Some(json!(actual.nodes_ran)));
    }
    for (what, expected, got) in
        [("stored", &expect.stored, &actual.stored), ("emitted", &expect.emitted, &actual.emitted)]
    {
        let Some(expected) = expected else { continue };
        let (expected, got) = (Value::Array(expected.clone()), Value::Array(got.clone()));
        for d in diff(&expected, &got, true) {
            miss(format!("{what} {}", shown(&d.pointer)), d.left.cloned(), d.right.cloned());
        }
    }
    out
}

/// What `path` selects from `body`: a singular path's value, or the array of every match of any
/// other path (`None` when there is none).
fn select(path: &crate::path::JsonPath, body: &Value) -> Option<Value> {
    path.select(body)
        .into_value()
        .filter(|v| path.is_singular() || v.as_array().is_none_or(|a| !a.is_empty()))
}

/// Rewrites the expectations of `expect` that `actual` does not meet so that they do: the status,
/// each wrong header, the body or subset (as the actual body), a wrong `eq` (or a failed `exists`
/// dropped), the answering node and the nodes that ran.
pub fn update(expect: &mut Expect, actual: &Actual) {
    expect.status = actual.status;
    let mut headers = Map::new();
    for (name, want) in std::mem::take(&mut expect.headers) {
        let one = Expect {
            headers: Map::from_iter([(name.clone(), want.clone())]),
            ..Expect::with_status(actual.status)
        };
        if check(&one, actual).is_empty() {
            headers.insert(name, want);
        } else if let Some(got) = actual.header(&name) {
            headers.insert(name, Value::String(got.to_owned()));
        }
    }
    expect.headers = headers;
    if expect.body.is_some() {
        expect.body = Some(actual.body.clone());
    }
    if let Some(subset) = &expect.body_subset
        && !diff(subset, &actual.body, true).is_empty()
    {
        expect.body_subset = Some(actual.body.clone());
    }
    let mut paths = Vec::new();
    for mut assertion in std::mem::take(&mut expect.body_paths) {
        let one =
            Expect { body_paths: vec![assertion.clone()], ..Expect::with_status(actual.status) };
        if check(&one, actual).is_empty() {
            paths.push(assertion);
            continue;
        }
        let selected = crate::path::JsonPath::parse(&assertion.path)
            .ok()
            .and_then(|p| select(&p, &actual.body));
        match (selected, assertion.eq.is_some()) {
            (Some(value), true) => {
                assertion.eq = Some(value);
                assertion.exists = None;
                paths.push(assertion);
            }
            (Some(_), false) => {
                assertion.exists = Some(true);
                paths.push(assertion);
            }
            (None, _) => {}
        }
    }
    expect.body_paths = paths;
    if expect.responded_by.is_some() || actual.responded_by.is_some() {
        expect.responded_by = actual.responded_by.clone();
    }
    if expect.nodes_ran.is_some() {
        expect.nodes_ran = Some(actual.nodes_ran.clone());
    }
    if expect.stored.is_some() {
        expect.stored = Some(actual.stored.clone());
    }
    if expect.emitted.is_some() {
        expect.emitted = Some(actual.emitted.clone());
    }
}

impl Expect {
    /// An expectation on the status only.
    pub fn with_status(status: u16) -> Expect {
        Expect {
            status,
            headers: Map::new(),
            body: None,
            body_subset: None,
            body_paths: Vec::new(),
            responded_by: None,
            nodes_ran: None,
            stored: None,
            emitted: None,
        }
    }
}

/// A pointer as shown in a report: the root as `(whole body)`.
fn shown(pointer: &str) -> &str {
    if pointer.is_empty() { "(whole body)" } else { pointer }
}

/// The differences between `expected` and `actual`; with `subset`, keys of `actual` that
/// `expected` does not name are not differences.
fn diff<'a>(expected: &'a Value, actual: &'a Value, subset: bool) -> Vec<Difference<'a>> {
    let keys = if subset { Keys::Left } else { Keys::Both };
    json_diff::diff(expected, actual, keys, |e, a| e == a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actual(body: Value) -> Actual {
        Actual {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            responded_by: Some("ok".into()),
            nodes_ran: vec!["hook".into(), "ok".into()],
            failure: None,
            stored: Vec::new(),
            emitted: Vec::new(),
        }
    }

    fn expect(doc: Value) -> Expect {
        serde_json::from_value(doc).expect("an expectation")
    }

    #[test]
    fn today_s_files_still_parse() {
        let file = parse(
            r#"{ "flow": "f", "cases": [ { "name": "n", "request": { "path": "/x", "body": {} },
                 "execution_id": "e", "expect": { "status": 200, "headers": { "A": "b" },
                 "body": {"a": 1}, "responded_by": "r" } } ] }"#,
        )
        .expect("parses");
        assert_eq!(file.cases[0].expect.body, Some(json!({"a": 1})));
        let err = parse(r#"{ "flow": "f", "cases": [ { "name": "n", "expect": { "status": 1, "colour": 2 } } ] }"#)
            .expect_err("unknown field");
        assert!(err.starts_with("at #/cases/0/expect"), "{err}");
        let err = parse(r#"{ "flow": "f", "cases": [ { "name": "n", "expect": { "status": 1, "headers": { "a/b": { "regex": "(" } } } } ] }"#)
            .expect_err("a bad regex");
        assert!(err.starts_with("at #/cases/0/expect/headers/a~1b: "), "{err}");
    }

    #[test]
    fn a_body_diff_names_the_pointer() {
        let a = actual(json!({"items": [{"sku": "A1"}, {"sku": "B/7"}], "extra": true}));
        let e = expect(json!({"status": 201, "body": {"items": [{"sku": "A1"}, {"sku": "B7"}]}}));
        let m = check(&e, &a);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].to_string(), r#"body /items/1/sku: expected "B7", actual "B/7""#);
        assert_eq!(m[1].to_string(), "body /extra: expected (absent), actual true");
    }

    #[test]
    fn subset_paths_headers_and_nodes() {
        let a = actual(json!({"id": "X", "items": [{"sku": "A1", "qty": 2}], "n": null}));
        let ok = expect(json!({"status": 201,
            "headers": {"Content-Type": {"regex": "^application/json$"}},
            "body_subset": {"items": [{"sku": "A1"}]},
            "body_paths": [{"path": "$.items[0].sku", "eq": "A1"}, {"path": "$.n", "eq": null},
                           {"path": "$.id", "exists": true}, {"path": "$.nope", "exists": false}],
            "responded_by": "ok", "nodes_ran": ["hook", "ok"]}));
        assert_eq!(check(&ok, &a), vec![]);
        let bad = expect(json!({"status": 200,
            "headers": {"X-Id": "1", "content-type": {"regex": "xml"}},
            "body_subset": {"items": [{"sku": "B"}], "id": "X"},
            "body_paths": [{"path": "$.items[0].qty", "eq": 3}, {"path": "$.gone", "exists": true}],
            "responded_by": "other", "nodes_ran": ["hook"]}));
        let shown: Vec<String> = check(&bad, &a).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "status: expected 200, actual 201",
                r#"header x-id: expected "1", actual (absent)"#,
                r#"header content-type: expected {"regex":"xml"}, actual "application/json""#,
                r#"body_subset /items/0/sku: expected "B", actual "A1""#,
                "body_paths $.items[0].qty: expected 3, actual 2",
                r#"body_paths $.gone: expected "exists", actual "absent""#,
                r#"responded_by: expected "other", actual "ok""#,
                r#"nodes_ran: expected ["hook"], actual ["hook","ok"]"#,
            ]
        );
        let mut blessed = bad.clone();
        update(&mut blessed, &a);
        assert_eq!(check(&blessed, &a), vec![]);
    }
}

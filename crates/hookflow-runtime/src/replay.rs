//! Replay: a recorded call run again on the current version of its flow, recorded as a new
//! execution, and the differences between the two responses (status, headers, and the body as
//! JSON pointers to every differing value).
//!
//! Auth is not checked again: whoever asks for a replay is already trusted (the admin token).
//! The replay's record is an execution like any other, with a new UUIDv7 id; its recorded request
//! carries [`REPLAY_OF_HEADER`] naming the execution it replayed (the flow does not see it).

use std::collections::BTreeMap;
use std::time::SystemTime;

use hookflow_core::ExecutionMeta;
use hookflow_core::json_diff::{self, Keys};
use hookflow_store::{ExecutionRecord, ExecutionStatus, RecordedResponse, StoreError};
use serde::Serialize;
use serde_json::Value;

use crate::engine::Engine;
use crate::rebuild::{self, RebuildError};
use crate::record;
use crate::run::Replayed;

/// The request header a replay's record carries: the id of the execution it replayed.
pub const REPLAY_OF_HEADER: &str = "x-hookflow-replay-of";

/// Response headers that differ on every run; the diff leaves them out.
const VOLATILE_HEADERS: &[&str] = &["x-hookflow-execution-id", "date", "content-length"];

/// What an execution's own id is replaced by before values are compared, so that a response
/// echoing its execution id (a header, a status URL) is not reported as a difference.
const OWN_ID: &str = "{execution_id}";

/// Why an execution cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Refused before any flow ran: its body may not even have been read.
    #[error(
        "execution `{id}` was rejected before its flow ran; only calls that reached a flow can be replayed"
    )]
    Rejected { id: String },
    /// Still queued or running: there is no response to compare with yet.
    #[error("execution `{id}` is still {status}; replay it once it has ended")]
    Unfinished { id: String, status: ExecutionStatus },
    /// Its flow is not deployed (any more).
    #[error("flow `{flow}` of execution `{id}` is not deployed any more")]
    FlowGone { id: String, flow: String },
    /// The recorded request cannot be run again (body cut at the recording limit, path no longer
    /// matching the flow's suffix, body no longer parsing).
    #[error("execution `{id}`: {source}")]
    Request { id: String, source: RebuildError },
    /// The replay ran but could not be recorded.
    #[error("the replay of execution `{id}` could not be recorded: {source}")]
    Store { id: String, source: StoreError },
}

impl ReplayError {
    /// Whether the execution is not in a state that can be replayed (as opposed to hookflow
    /// failing to record the replay).
    pub fn is_conflict(&self) -> bool {
        !matches!(self, ReplayError::Store { .. })
    }
}

/// Runs `original`'s request again on the current version of its flow, with the same credential
/// name in the execution's metadata, through the engine's run path; the new execution is
/// stored durably before this returns. Answers the new record.
pub async fn replay(
    engine: &Engine,
    original: &ExecutionRecord,
) -> Result<ExecutionRecord, ReplayError> {
    let id = || original.id.clone();
    match original.status {
        ExecutionStatus::Rejected => return Err(ReplayError::Rejected { id: id() }),
        status if status.is_unfinished() => {
            return Err(ReplayError::Unfinished { id: id(), status });
        }
        _ => {}
    }
    let Some(flow) = original.flow_id.as_deref() else {
        return Err(ReplayError::Rejected { id: id() });
    };
    let plan =
        engine.plan(flow).ok_or_else(|| ReplayError::FlowGone { id: id(), flow: flow.into() })?;

    let mut request = original.request.clone();
    request.headers.retain(|(name, _)| name != REPLAY_OF_HEADER);
    let received_at = SystemTime::now();
    let replay_id = uuid::Uuid::now_v7().to_string();
    let meta = ExecutionMeta::new(replay_id.clone(), &plan, original.credential.clone());
    // An execution an event started runs on the same event again.
    let prepared = rebuild::prepare(&plan, original.cause.as_ref(), &request, received_at, meta)
        .map_err(|source| ReplayError::Request { id: id(), source })?;
    request.headers.push((REPLAY_OF_HEADER.to_owned(), original.id.clone()));
    let mut head = record::head(
        replay_id,
        Some(&plan),
        original.credential.clone(),
        ExecutionStatus::Running,
        received_at,
        request,
    );
    head.cause = original.cause.clone();
    tracing::info!(flow = %plan.id, execution = %head.id, replay_of = %original.id, "replaying an execution");
    let (_, stored) = engine.run(plan, prepared, Replayed(head)).await;
    stored.map_err(|source| ReplayError::Store { id: id(), source })
}

/// The id of the execution that `record` replayed, when it is a replay.
pub fn replay_of(record: &ExecutionRecord) -> Option<&str> {
    record
        .request
        .headers
        .iter()
        .find(|(name, _)| name == REPLAY_OF_HEADER)
        .map(|(_, v)| v.as_str())
}

/// How a replay's response differs from the original's. Empty when they are the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// `None` when the statuses are equal.
    pub status: Option<StatusChange>,
    /// Headers added, removed or changed, by name; volatile ones left out.
    pub headers: Vec<HeaderChange>,
    /// Every differing value of the body, by JSON pointer (`""` is the whole body).
    pub body: Vec<BodyChange>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.status.is_none() && self.headers.is_empty() && self.body.is_empty()
    }
}

/// A status that changed; `None` stands for "no response".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub from: Option<u16>,
    pub to: Option<u16>,
}

/// A header that changed; `None` stands for "absent" (repeated headers are joined with `", "`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderChange {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A body value that changed, at an RFC 6901 JSON pointer. An absent side is left out of the
/// JSON (a key added has no `from`, a key removed no `to`), so that it differs from `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyChange {
    pub pointer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// How `replay`'s response differs from `original`'s. A value containing an execution's own id
/// compares equal to the other's value containing the other's id in the same place.
pub fn diff(original: &ExecutionRecord, replay: &ExecutionRecord) -> Diff {
    let (from, to) = (original.response.as_ref(), replay.response.as_ref());
    let ids = Ids { from: &original.id, to: &replay.id };
    let status = (from.map(|r| r.status) != to.map(|r| r.status))
        .then(|| StatusChange { from: from.map(|r| r.status), to: to.map(|r| r.status) });
    let (from_headers, to_headers) = (headers(from), headers(to));
    let mut names: Vec<&String> = from_headers.keys().chain(to_headers.keys()).collect();
    names.sort();
    names.dedup();
    let headers = names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (from_headers.get(name), to_headers.get(name));
            let same = match (a, b) {
                (Some(a), Some(b)) => ids.same_text(a, b),
                (a, b) => a == b,
            };
            (!same).then(|| HeaderChange { name: name.clone(), from: a.cloned(), to: b.cloned() })
        })
        .collect();
    let body_of = |r: Option<&RecordedResponse>| {
        r.map_or(Value::Null, |r| record::body_value(&r.headers, &r.body, r.body_truncated))
    };
    let body = body_changes(&body_of(from), &body_of(to), &ids);
    Diff { status, headers, body }
}

/// Every differing leaf between two JSON documents, by JSON pointer (keys added or removed are
/// reported with their whole value); leaves compare as `ids` says. Equal documents give no change.
fn body_changes(from: &Value, to: &Value, ids: &Ids<'_>) -> Vec<BodyChange> {
    json_diff::diff(from, to, Keys::Both, |a, b| ids.same_leaf(a, b))
        .into_iter()
        .map(|d| BodyChange { pointer: d.pointer, from: d.left.cloned(), to: d.right.cloned() })
        .collect()
}

/// The non-volatile headers of a response by lower-case name, repeated ones joined.
fn headers(response: Option<&RecordedResponse>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.into_iter().flat_map(|r| &r.headers) {
        let name = name.to_ascii_lowercase();
        if VOLATILE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        out.entry(name)
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    out
}

/// The two executions' ids.
struct Ids<'a> {
    from: &'a str,
    to: &'a str,
}

impl Ids<'_> {
    fn same_text(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        let own = |text: &str, id: &str| {
            if id.is_empty() { text.to_owned() } else { text.replace(id, OWN_ID) }
        };
        own(a, self.from) == own(b, self.to)
    }

    fn same_leaf(&self, a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::String(a), Value::String(b)) => self.same_text(a, b),
            (a, b) => a == b,
        }
    }
}

#[cfg(test)]
mod tests {
    use hookflow_store::RecordedRequest;
    use serde_json::json;

    use super::*;

    fn record(id: &str, response: Option<RecordedResponse>) -> ExecutionRecord {
        ExecutionRecord {
            id: id.into(),
            flow_id: Some("f".into()),
            flow_version: Some("v".into()),
            route: Some("POST /x".into()),
            credential: None,
            status: ExecutionStatus::Succeeded,
            received_at_ms: 0,
            started_at_ms: Some(0),
            finished_at_ms: Some(1),
            request: RecordedRequest {
                method: "POST".into(),
                path: "/hooks/x".into(),
                query: String::new(),
                headers: vec![],
                body: vec![],
                body_truncated: false,
            },
            response,
            error: None,
            trace: Value::Null,
            cause: None,
        }
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> RecordedResponse {
        RecordedResponse {
            status,
            headers: headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            body: body.as_bytes().to_vec(),
            body_truncated: false,
        }
    }

    fn json_diff(from: &Value, to: &Value) -> Vec<BodyChange> {
        body_changes(from, to, &Ids { from: "", to: "" })
    }

    fn pointers(changes: &[BodyChange]) -> Vec<&str> {
        changes.iter().map(|c| c.pointer.as_str()).collect()
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let doc = json!({ "a": [1, { "b": null }], "c": "x" });
        assert!(json_diff(&doc, &doc.clone()).is_empty());
        assert!(json_diff(&Value::Null, &Value::Null).is_empty());
    }

    #[test]
    fn every_differing_leaf_is_reported_by_pointer() {
        let from =
            json!({ "a": { "b": 1, "c": [1, 2, 3] }, "gone": { "deep": true }, "same": 1, "t": 1 });
        let to = json!({ "a": { "b": 2, "c": [1, 5] }, "same": 1, "t": "1", "new": null });
        let changes = json_diff(&from, &to);
        assert_eq!(pointers(&changes), ["/a/b", "/a/c/1", "/a/c/2", "/gone", "/t", "/new"]);
        assert_eq!(
            changes[0],
            BodyChange { pointer: "/a/b".into(), from: Some(json!(1)), to: Some(json!(2)) }
        );
        // An element or key that is gone has no `to`; one that is new has no `from`, and its
        // value may be null.
        assert_eq!(changes[2].to, None);
        assert_eq!(changes[3].from, Some(json!({ "deep": true })));
        assert_eq!(
            changes[5],
            BodyChange { pointer: "/new".into(), from: None, to: Some(Value::Null) }
        );
        assert_eq!(
            serde_json::to_value(&changes[5]).unwrap(),
            json!({ "pointer": "/new", "to": null })
        );
    }

    #[test]
    fn a_value_of_another_type_is_one_change() {
        let changes = json_diff(&json!({ "a": { "b": 1 } }), &json!({ "a": [1] }));
        assert_eq!(pointers(&changes), ["/a"]);
        let changes = json_diff(&json!("text"), &json!({ "k": 1 }));
        assert_eq!(pointers(&changes), [""]);
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let changes = json_diff(&json!({ "a/b": { "c~d": 1 } }), &json!({ "a/b": { "c~d": 2 } }));
        assert_eq!(pointers(&changes), ["/a~1b/c~0d"]);
    }

    #[test]
    fn responses_differ_by_status_headers_and_body() {
        let json = ("content-type", "application/json");
        let a = record(
            "id-a",
            Some(response(200, &[json, ("x-a", "1"), ("x-gone", "g")], r#"{"n": 1, "k": [1]}"#)),
        );
        let b = record(
            "id-b",
            Some(response(201, &[json, ("X-A", "2"), ("x-new", "n")], r#"{"n": 1, "k": [2]}"#)),
        );
        let d = diff(&a, &b);
        assert_eq!(d.status, Some(StatusChange { from: Some(200), to: Some(201) }));
        let header = |name: &str, from: Option<&str>, to: Option<&str>| HeaderChange {
            name: name.into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
        };
        assert_eq!(
            d.headers,
            [
                header("x-a", Some("1"), Some("2")),
                header("x-gone", Some("g"), None),
                header("x-new", None, Some("n"))
            ]
        );
        assert_eq!(pointers(&d.body), ["/k/0"]);
        assert!(diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn volatile_headers_and_own_ids_are_not_differences() {
        let a = record(
            "id-a",
            Some(response(
                202,
                &[
                    ("content-type", "application/json"),
                    ("x-hookflow-execution-id", "id-a"),
                    ("date", "Mon"),
                    ("location", "http://h/hooks/_executions/id-a"),
                ],
                r#"{"execution_id": "id-a", "n": 1}"#,
            )),
        );
        let b = record(
            "id-b",
            Some(response(
                202,
                &[
                    ("content-type", "application/json"),
                    ("x-hookflow-execution-id", "id-b"),
                    ("date", "Tue"),
                    ("location", "http://h/hooks/_executions/id-b"),
                ],
                r#"{"execution_id": "id-b", "n": 1}"#,
            )),
        );
        assert_eq!(diff(&a, &b), Diff::default());
    }

    #[test]
    fn text_bodies_compare_as_one_value_and_a_missing_response_is_null() {
        let text = ("content-type", "text/plain");
        let a = record("a", Some(response(200, &[text], "hello\nworld")));
        let b = record("b", Some(response(200, &[text], "hello\nthere")));
        let d = diff(&a, &b);
        assert_eq!(
            d.body,
            [BodyChange {
                pointer: String::new(),
                from: Some(json!("hello\nworld")),
                to: Some(json!("hello\nthere"))
            }]
        );
        let none = record("c", None);
        let d = diff(&none, &a);
        assert_eq!(d.status, Some(StatusChange { from: None, to: Some(200) }));
        assert_eq!(d.headers.len(), 1);
        assert_eq!(pointers(&d.body), [""]);
    }
}

//! `hookflow records` against the real binary and a real `hookflow serve` whose flow stores what
//! it is posted: the collections and their counts, a page and its cursor, one record by a key
//! with `/`, a space and non-ASCII in it, an export as NDJSON in key and in creation order,
//! deleting, and refusals with the admin API's message and a non-zero exit code.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::Served;

/// A webhook that upserts `{text}` under the posted `id` in `notes`, answering `201`.
const FLOW: &str = r#"{"id":"notes","name":"notes","nodes":[
  {"id":"hook","type":"webhook","suffix":"/notes","auth":{"type":"none"}},
  {"id":"save","type":"store","collection":"notes","key":"$.request.body.id","mode":"upsert",
   "record":{"text":"$.request.body.text"}},
  {"id":"ok","type":"respond","status":201,
   "body":{"id":"$.nodes.save.id","version":"$.nodes.save.version"}}],
 "edges":[{"from":"hook","to":"save"},{"from":"save","to":"ok"}]}"#;

/// The keys that need encoding in a URL.
const SLASHED: &str = "a/b c";
const UNICODE: &str = "café ☕";

fn serve() -> Served {
    Served::with_flows(&[("notes.json", FLOW.to_owned())], &[])
}

/// `hookflow records ARGS`: exit code, stdout, stderr.
fn records(s: &Served, args: &[&str]) -> (Option<i32>, String, String) {
    s.cli(&[&["records"][..], args].concat())
}

/// `hookflow records ARGS`, which must exit `0`: its standard output.
fn ok(s: &Served, args: &[&str]) -> String {
    let (code, out, err) = records(s, args);
    assert_eq!(code, Some(0), "{args:?}: {out}{err}");
    out
}

/// `ARGS --json`, which must exit `0` and print JSON.
fn json_of(s: &Served, args: &[&str]) -> Value {
    let out = ok(s, &[args, &["--json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// `hookflow records ARGS`, which must exit `1`: its standard error.
fn refused(s: &Served, args: &[&str]) -> String {
    let (code, out, err) = records(s, args);
    assert_eq!(code, Some(1), "{args:?}: {out}{err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    err
}

/// Posts a note to the flow of the server whose webhook listener is `hooks`: the version it was
/// stored as.
async fn post(client: &reqwest::Client, hooks: &str, id: &str, text: &str) -> u64 {
    let r = client
        .post(format!("{hooks}/hooks/notes"))
        .json(&json!({ "id": id, "text": text }))
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(r.status(), StatusCode::CREATED, "{id}");
    let body: Value = r.json().await.expect("a JSON answer");
    assert_eq!(body["id"], id, "{body}");
    body["version"].as_u64().expect("a version")
}

/// The keys of the records of an NDJSON text, each line checked to be a record of `notes`.
fn ndjson_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(record["collection"], "notes", "{line}");
            assert!(record["value"]["text"].is_string(), "{line}");
            record["key"].as_str().expect("a key").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn records_are_listed_read_exported_and_deleted_through_the_cli() {
    let s = serve();
    // 120 notes, posted in reverse key order: creation order is the reverse of key order.
    let mut keys: Vec<String> = (0..118).map(|i| format!("note-{i:03}")).collect();
    keys.extend([SLASHED.to_owned(), UNICODE.to_owned()]);
    keys.sort();
    let posted: Vec<String> = keys.iter().rev().cloned().collect();
    for key in &posted {
        assert_eq!(post(&s.client, &s.hooks, key, &format!("text of {key}")).await, 1);
    }
    assert_eq!(post(&s.client, &s.hooks, SLASHED, "written again").await, 2);

    // The collections, and how many records each holds.
    let table = ok(&s, &["collections"]);
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines, [vec!["COLLECTION", "RECORDS"], vec!["notes", "120"]], "{table}");
    assert_eq!(
        json_of(&s, &["collections"]),
        json!({ "items": [{ "name": "notes", "count": 120 }] })
    );

    // A page of 50, by key, and the cursor to the next one.
    let page = ok(&s, &["list", "notes", "--limit", "50"]);
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(lines.len(), 52, "{page}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["KEY", "VERSION", "UPDATED", "EXECUTION"]
    );
    assert!(lines[1].starts_with(&format!("{}  ", keys[0])), "{page}");
    assert_eq!(lines[51], format!("more: --cursor {}", keys[49]));
    let first = json_of(&s, &["list", "notes", "--limit", "50"]);
    let items = first["items"].as_array().expect("items");
    let listed: Vec<&str> = items.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(listed, keys[..50].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(first["next_cursor"], keys[49].as_str());
    let cursor = keys[49].as_str();
    let next = json_of(&s, &["list", "notes", "--limit", "50", "--cursor", cursor]);
    assert_eq!(next["items"][0]["key"], keys[50].as_str(), "{next}");
    let last = json_of(&s, &["list", "notes", "--limit", "50", "--cursor", &keys[99]]);
    assert_eq!(last["items"].as_array().map(Vec::len), Some(20), "{last}");
    assert!(last["next_cursor"].is_null(), "{last}");

    // One record, by keys that must be percent-encoded.
    let out = ok(&s, &["get", "notes", SLASHED]);
    assert!(out.starts_with("{\n  "), "pretty JSON: {out}");
    let record: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (record["collection"].as_str(), record["key"].as_str()),
        (Some("notes"), Some(SLASHED))
    );
    assert_eq!(record["value"], json!({ "text": "written again" }));
    assert_eq!(record["version"], 2);
    assert!(record["created_id"].as_str().is_some_and(|id| id.starts_with("rec_")), "{record}");
    assert!(record["execution_id"].as_str().is_some_and(|id| !id.is_empty()), "{record}");
    let unicode = ok(&s, &["get", "notes", UNICODE]);
    assert_eq!(
        serde_json::from_str::<Value>(&unicode).unwrap()["value"]["text"],
        "text of café ☕"
    );

    // Every record as NDJSON, by key into a file, by creation order to standard output.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.ndjson");
    let (code, out, err) = records(&s, &["export", "notes", "--output", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("exported 120 records of collection notes to "), "{err}");
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_eq!(exported.lines().count(), 120);
    assert_eq!(ndjson_keys(&exported), keys);
    let (code, out, err) = records(&s, &["export", "notes", "--order", "created"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("exported 120 records of collection notes to standard output"), "{err}");
    assert_eq!(ndjson_keys(&out), posted);

    // Deleted, then gone: `get` and `delete` fail with the API's message.
    let out = ok(&s, &["delete", "notes", SLASHED]);
    assert_eq!(out, format!("deleted record {SLASHED} from collection notes\n"));
    let gone =
        format!("hookflow records: 404 Not Found: Collection `notes` has no record `{SLASHED}`.");
    assert_eq!(refused(&s, &["get", "notes", SLASHED]).trim_end(), gone);
    assert_eq!(refused(&s, &["delete", "notes", SLASHED]).trim_end(), gone);
    let deleted = json_of(&s, &["delete", "notes", UNICODE]);
    assert_eq!(deleted, json!({ "collection": "notes", "key": UNICODE, "deleted": true }));
    assert_eq!(json_of(&s, &["collections"])["items"][0]["count"], 118);

    // A bad collection name, and one that holds nothing; an export of it writes no file.
    let err = refused(&s, &["list", "Notes!"]);
    assert!(err.starts_with("hookflow records: 400 Bad Request: "), "{err}");
    assert!(err.contains("`Notes!` is not a collection name"), "{err}");
    let err = refused(&s, &["get", "Notes!", "x"]);
    assert!(err.contains("`Notes!` is not a collection name"), "{err}");
    let err = refused(&s, &["list", "nope"]);
    assert!(err.starts_with("hookflow records: 404 Not Found: "), "{err}");
    assert!(err.contains("No record is stored in collection `nope`"), "{err}");
    let nothing = dir.path().join("nope.ndjson");
    let err = refused(&s, &["export", "nope", "-o", nothing.to_str().unwrap()]);
    assert!(err.contains("No record is stored in collection `nope`"), "{err}");
    assert!(!nothing.exists());
    let err = refused(&s, &["list", "notes", "--limit", "0"]);
    assert!(err.contains("Query parameter `limit`"), "{err}");
    // `..` would be resolved away in the URL: refused before any request.
    let (code, _, err) = records(&s, &["get", "notes", ".."]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`..` cannot be named in a URL path"), "{err}");

    // The API: creation order, and a bad order named.
    let (status, page) =
        s.api(Method::GET, "/api/collections/notes/records?order=created&limit=1000", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let by_creation: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    let expected: Vec<&str> =
        posted.iter().map(String::as_str).filter(|k| ![SLASHED, UNICODE].contains(k)).collect();
    assert_eq!(by_creation, expected);
    assert!(page["next_cursor"].is_null(), "{page}");
    let (status, problem) =
        s.api(Method::GET, "/api/collections/notes/records?order=bogus", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["parameter"], "order", "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("`order`"), "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_follows_the_cursor_from_page_to_page() {
    let s = serve();
    // One more than a page of the export holds.
    let total = 1001;
    let mut posts = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (client, hooks) = (s.client.clone(), s.hooks.clone());
        posts.spawn(async move {
            for i in (worker..total).step_by(16) {
                post(&client, &hooks, &format!("k{i:04}"), "t").await;
            }
        });
    }
    while let Some(done) = posts.join_next().await {
        done.expect("a poster");
    }
    for order in ["key", "created"] {
        let (code, out, err) = records(&s, &["export", "notes", "--order", order]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains(&format!("exported {total} records")), "{err}");
        let mut keys = ndjson_keys(&out);
        if order == "key" {
            assert!(keys.is_sorted(), "by key");
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), total, "{order}: every record once");
    }
}

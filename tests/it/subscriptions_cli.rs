//! `hookflow subscriptions` against the real binary and a real `hookflow serve`, delivering to
//! receivers on loopback: a secret printed once and never again, header values never printed,
//! pausing and resuming, a test event that arrives and one that cannot (exit 1, and why), the
//! delivery log, rotation, refusals naming the field, and `--json` that parses.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Receiver, Served};

/// Retries after 100 ms, loopback receivers allowed.
const SERVE: [&str; 3] = ["--allow-private-outbound", "--delivery-schedule", "100ms,100ms"];

/// A header value given on the command line: it must never be printed.
const HEADER_VALUE: &str = "crm-key-123-do-not-print";

fn serve() -> Served {
    Served::with_flows(&[], &SERVE)
}

/// `hookflow subscriptions ARGS`, which must exit `0`: its standard output.
fn ok(s: &Served, args: &[&str]) -> String {
    let (code, out, err) = subscriptions(s, args);
    assert_eq!(code, Some(0), "{args:?}: {out}{err}");
    assert!(!out.contains(HEADER_VALUE) && !err.contains(HEADER_VALUE), "{args:?}: {out}{err}");
    out
}

/// `hookflow subscriptions ARGS`: exit code, stdout, stderr.
fn subscriptions(s: &Served, args: &[&str]) -> (Option<i32>, String, String) {
    s.cli(&[&["subscriptions"][..], args].concat())
}

/// `ARGS --json`, which must exit `0` and print JSON.
fn json(s: &Served, args: &[&str]) -> Value {
    let out = ok(s, &[args, &["--json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Creates a subscription to `url` from the command line: its id and its secret, which is
/// printed exactly once.
fn create(s: &Served, url: &str, extra: &[&str]) -> (String, String) {
    let out = ok(s, &[&["create", "--name", "crm", "--url", url][..], extra].concat());
    let id = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("created subscription "))
        .unwrap_or_else(|| panic!("no id: {out}"))
        .to_owned();
    assert!(id.starts_with("sub_"), "{out}");
    assert_eq!(out.matches("whsec_").count(), 1, "the secret, once: {out}");
    assert!(out.contains("shown only now"), "{out}");
    let secret = secret_in(&out);
    (id, secret)
}

/// The one `whsec_...` word of `out`.
fn secret_in(out: &str) -> String {
    let at = out.find("whsec_").unwrap_or_else(|| panic!("no secret: {out}"));
    out[at..].split_whitespace().next().unwrap().to_owned()
}

/// A loopback URL nothing listens on.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/hook")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_printed_once_and_header_values_never() {
    let s = serve();
    let header = format!("X-Api-Key={HEADER_VALUE}");
    let (id, secret) = create(
        &s,
        "https://crm.example.com/hooks/hookflow",
        &["--event", "execution.failed,webhook.rejected", "--header", &header],
    );
    assert!(secret.len() > "whsec_".len());

    let list = ok(&s, &["list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "NAME", "STATE", "EVENTS", "URL"]
    );
    assert!(lines[1].starts_with(&id), "{list}");
    assert!(lines[1].contains("active") && lines[1].contains("execution.failed,webhook.rejected"));
    let show = ok(&s, &["show", &id]);
    assert!(show.contains("X-Api-Key: [redacted]"), "{show}");
    assert!(show.contains("the default event envelope"), "{show}");
    for text in [&list, &show] {
        assert!(!text.contains("whsec_"), "{text}");
    }
    let listed = json(&s, &["list"]);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");
    let shown = json(&s, &["show", &id]);
    assert_eq!(shown["headers"]["X-Api-Key"], "[redacted]");
    assert!(!shown.to_string().contains("whsec_"));

    let (status, doc) = s.api(Method::GET, &format!("/api/subscriptions/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(!doc.to_string().contains(HEADER_VALUE), "{doc}");

    // Pause and resume.
    let paused = ok(&s, &["pause", &id]);
    assert!(paused.contains("is paused"), "{paused}");
    assert!(ok(&s, &["show", &id]).contains("paused"));
    assert_eq!(json(&s, &["show", &id])["active"], false);
    let resumed = ok(&s, &["resume", &id]);
    assert!(resumed.contains("is active"), "{resumed}");
    assert_eq!(json(&s, &["show", &id])["active"], true);

    // Update: what is given replaces what it had; nothing given is refused before any request.
    let updated = ok(&s, &["update", &id, "--name", "chat", "--event", "test", "--no-headers"]);
    assert!(updated.contains("chat") && updated.contains("  headers:"), "{updated}");
    let view = json(&s, &["show", &id]);
    assert_eq!((view["name"].as_str(), view["events"][0].as_str()), (Some("chat"), Some("test")));
    assert_eq!(view["headers"], serde_json::json!({}));
    let updated = json(&s, &["update", &id, "--payload", r#"{"text": "$.event"}"#]);
    assert_eq!(updated["payload"]["text"], "$.event");
    let updated = json(&s, &["update", &id, "--default-payload"]);
    assert!(updated["payload"].is_null(), "{updated}");
    let (code, _, err) = subscriptions(&s, &["update", &id]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nothing to change"), "{err}");

    // Delete, then it is gone.
    assert_eq!(json(&s, &["delete", &id]), serde_json::json!({ "id": id, "deleted": true }));
    let (code, out, err) = subscriptions(&s, &["show", &id]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.starts_with("hookflow subscriptions: 404 Not Found: There is no subscription"));
    assert_eq!(ok(&s, &["list"]), "no subscriptions\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn test_deliveries_and_rotation_through_the_cli() {
    let s = serve();
    let receiver = Receiver::start().await;
    let header = format!("X-Api-Key={HEADER_VALUE}");
    let (id, secret) = create(&s, &receiver.url, &["--header", &header]);

    // A test event that arrives, with the header given: exit 0.
    let out = ok(&s, &["test", &id]);
    assert!(out.starts_with("test delivery msg_"), "{out}");
    assert!(
        out.contains(&format!("(test) to subscription {id}: delivered, HTTP 200 in ")),
        "{out}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event"], "test", "{:?}", got[0].json());
    assert_eq!(got[0].header("x-api-key"), HEADER_VALUE);

    // The delivery log lists it, and shows it with its attempt.
    let table = ok(&s, &["deliveries", &id]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("ATTEMPTS"), "{table}");
    assert!(lines[1].contains("test") && lines[1].contains("succeeded"), "{table}");
    assert!(lines[1].contains("HTTP 200"), "{table}");
    let page = json(&s, &["deliveries", &id, "--status", "succeeded", "--limit", "10"]);
    let msg = page["items"][0]["id"].as_str().expect("a delivery id").to_owned();
    assert_eq!(page["items"][0]["event_type"], "test");
    assert_eq!(page["items"][0]["attempts"], 1);
    assert_eq!(ok(&s, &["deliveries", &id, "--status", "failed"]), "no deliveries\n");
    let shown = ok(&s, &["delivery", &msg]);
    assert!(shown.starts_with(&format!("delivery {msg}\n")), "{shown}");
    assert!(shown.contains("\nattempts\n  1. ") && shown.contains("HTTP 200"), "{shown}");
    assert!(shown.contains("\npayload\n"), "{shown}");
    let detail = json(&s, &["delivery", &msg]);
    assert_eq!(detail["attempts"][0]["status"], 200);

    // A retry sends it again.
    let retried = ok(&s, &["retry", &msg]);
    assert!(retried.contains("delivered, HTTP 200"), "{retried}");
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(json(&s, &["delivery", &msg])["attempts"].as_array().map(Vec::len), Some(2));

    // Rotation prints a new secret, once; the previous one signs on through the grace window.
    let out = ok(&s, &["rotate-secret", &id, "--grace", "24h"]);
    assert_eq!(out.matches("whsec_").count(), 1, "{out}");
    let rotated = secret_in(&out);
    assert_ne!(rotated, secret);
    assert!(out.contains("the previous secret signs too until "), "{out}");
    let doc = json(&s, &["rotate-secret", &id]);
    assert!(doc["secret"].as_str().is_some_and(|s| s.starts_with("whsec_") && s != rotated));
    assert!(doc["previous_valid_until"].is_null(), "{doc}");
    let out = ok(&s, &["rotate-secret", &id]);
    assert!(out.contains("the previous secret no longer signs"), "{out}");
    assert!(!ok(&s, &["show", &id]).contains("whsec_"));

    // A test event to a port nothing listens on: exit 1, and why.
    let (dead, _) = create(&s, &dead_url(), &[]);
    let (code, out, err) = subscriptions(&s, &["test", &dead]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("failed, no answer in "), "{out}");
    assert!(out.contains("connection refused"), "{out}");
    let (code, out, _) = subscriptions(&s, &["test", &dead, "--json"]);
    assert_eq!(code, Some(1));
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["attempts"][0]["error"], "connection refused");
    let failed = json(&s, &["deliveries", &dead]);
    assert_eq!(failed["items"].as_array().map(Vec::len), Some(2), "{failed}");

    let types = ok(&s, &["event-types"]);
    assert!(types.contains("execution.failed") && types.contains("test"), "{types}");
    assert!(json(&s, &["event-types"])["items"].as_array().is_some_and(|t| !t.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_name_the_field_and_exit_non_zero() {
    let s = serve();
    let refused = |args: &[&str], code: i32| {
        let (got, out, err) = subscriptions(&s, args);
        assert_eq!(got, Some(code), "{args:?}: {out}{err}");
        assert_eq!(out, "", "{args:?}");
        assert!(!err.contains(HEADER_VALUE), "{args:?}: {err}");
        err
    };
    let create = ["create", "--name", "crm"];

    let err = refused(&[&create[..], &["--url", "not a url"]].concat(), 1);
    assert!(err.starts_with("hookflow subscriptions: 422 Unprocessable Entity: "), "{err}");
    assert!(err.contains("`/url`") && err.contains("is not a URL") && err.contains("--url"));
    let err = refused(&[&create[..], &["--url", "ftp://example.com/x"]].concat(), 1);
    assert!(err.contains("not an http or https URL") && err.contains("(see --url)"), "{err}");
    let err = refused(&[&create[..], &["--url", "https://e.com", "--event", "nope"]].concat(), 1);
    assert!(err.contains("`/events/0`") && err.contains("unknown event type `nope`"), "{err}");
    assert!(err.contains("(see --event)"), "{err}");
    let bad_name = format!("X Bad={HEADER_VALUE}");
    let err =
        refused(&[&create[..], &["--url", "https://e.com", "--header", &bad_name]].concat(), 1);
    assert!(err.contains("is not a valid header name") && err.contains("--header X Bad"), "{err}");

    // Refused here, before any request: a header without `=`, a bad grace, a bad status.
    let err =
        refused(&[&create[..], &["--url", "https://e.com", "--header", HEADER_VALUE]].concat(), 2);
    assert!(err.contains("--header #1: give NAME=VALUE"), "{err}");
    let err = refused(&["rotate-secret", "sub_x", "--grace", "soon"], 2);
    assert!(err.contains("--grace") && err.contains("24h"), "{err}");
    refused(&["deliveries", "sub_x", "--status", "lost"], 2);
    let err = refused(&[&create[..], &["--url", "https://e.com", "--payload", "{"]].concat(), 2);
    assert!(err.contains("--payload is not JSON"), "{err}");

    // An unknown id: the server's 404.
    let err = refused(&["update", "sub_nope", "--event", "test"], 1);
    assert!(err.contains("404 Not Found: There is no subscription `sub_nope`"), "{err}");
    let err = refused(&["retry", "msg_nope"], 1);
    assert!(err.contains("There is no delivery `msg_nope`"), "{err}");
    assert_eq!(ok(&s, &["list"]), "no subscriptions\n", "nothing was created");

    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["subscriptions", "list", "--admin-url", &s.admin])
        .env_remove("HOOKFLOW_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

//! HMAC signature auth over real sockets: a request signed the way each provider signs it is
//! served; a wrong signature, a timestamp just outside the tolerance, a replay and a missing
//! header are refused with `401` and a detail that says which. Also `credentials create --type
//! hmac --secret-stdin` through the real binary.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use sha2::{Sha256, Sha512};

use crate::harness::{Harness, flow, problem};

const BODY: &str = r#"{"id":"evt_1","amount":42}"#;

/// The tolerance of every route here, in seconds.
const TOLERANCE: i64 = 60;

fn flows() -> Vec<(String, String)> {
    let routes = [
        ("github", r#""preset": "github""#),
        ("stripe", r#""preset": "stripe""#),
        ("slack", r#""preset": "slack""#),
        ("shopify", r#""preset": "shopify""#),
        ("sw", r#""preset": "standard_webhooks""#),
        (
            "generic",
            r#""preset": "generic", "header": "X-Signature", "algorithm": "sha512",
               "encoding": "base64", "prefix": "sha512=", "timestamp_header": "X-Timestamp",
               "signed_content": "{timestamp}.{body}""#,
        ),
        ("replay", r#""preset": "stripe", "replay": true"#),
        ("small", r#""preset": "github""#),
    ];
    routes
        .into_iter()
        .map(|(id, fields)| {
            let limit = if id == "small" { 16 } else { 1024 };
            let webhook = format!(
                r#""suffix": "/{id}", "max_body_bytes": {limit},
                   "auth": {{ "type": "hmac", {fields}, "credential": "{id}",
                   "tolerance_s": {TOLERANCE} }}"#
            );
            let respond = r#""status": 200, "body": { "got": "$.request.body" }"#;
            (format!("{id}.json"), flow(id, true, &webhook, respond))
        })
        .collect()
}

async fn harness() -> Harness {
    let flows = flows();
    let refs: Vec<(&str, &str)> = flows.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    Harness::with_flows(&refs).await
}

fn now() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("after the epoch");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

fn sha256(key: &[u8], content: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The headers each provider sends for `body` signed with `secret` at `ts`.
fn signed(route: &str, secret: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let key = secret.as_bytes();
    match route {
        "github" | "small" => {
            vec![("X-Hub-Signature-256", format!("sha256={}", hex(&sha256(key, body))))]
        }
        "stripe" | "replay" => {
            let v1 = hex(&sha256(key, &format!("{ts}.{body}")));
            vec![("Stripe-Signature", format!("t={ts},v1={v1}"))]
        }
        "slack" => vec![
            ("X-Slack-Request-Timestamp", ts.to_string()),
            ("X-Slack-Signature", format!("v0={}", hex(&sha256(key, &format!("v0:{ts}:{body}"))))),
        ],
        "shopify" => vec![("X-Shopify-Hmac-Sha256", STANDARD.encode(sha256(key, body)))],
        "sw" => {
            let signer = standardwebhooks::Webhook::new(secret).expect("a whsec_ secret");
            let signature = signer.sign("msg_1", ts, body.as_bytes()).expect("sign");
            vec![
                ("webhook-id", "msg_1".to_owned()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", signature),
            ]
        }
        "generic" => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(format!("{ts}.{body}").as_bytes());
            let signature = STANDARD.encode(mac.finalize().into_bytes());
            vec![("X-Timestamp", ts.to_string()), ("X-Signature", format!("sha512={signature}"))]
        }
        other => panic!("no route {other}"),
    }
}

fn post(
    h: &Harness,
    route: &str,
    headers: &[(&'static str, String)],
    body: &str,
) -> reqwest::RequestBuilder {
    let mut request = h
        .client
        .post(h.url(&format!("/hooks/{route}")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request
}

async fn refused(request: reqwest::RequestBuilder) -> String {
    let (status, doc) = problem(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{doc}");
    doc["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_request_signed_as_each_provider_signs_it_is_served() {
    let h = harness().await;
    for route in ["github", "stripe", "slack", "shopify", "sw", "generic"] {
        let headers = signed(route, h.secret(route), now(), BODY);
        let response = post(&h, route, &headers, BODY).send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "{route}");
        let doc: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(doc["got"]["amount"], 42, "{route}: {doc}");
    }
}

#[tokio::test]
async fn a_wrong_signature_is_refused_without_the_expected_value() {
    let h = harness().await;
    for route in ["github", "stripe", "slack", "shopify", "sw", "generic"] {
        let headers = signed(route, h.secret(route), now(), BODY);
        let tampered = BODY.replace("42", "4200");
        let detail = refused(post(&h, route, &headers, &tampered)).await;
        assert_eq!(detail, "The request's signature does not match its body.", "{route}");
        let wrong = signed(route, "whsec_d3JvbmcgYnV0IHZhbGlkIGJhc2U2NCBrZXkhISE=", now(), BODY);
        let detail = refused(post(&h, route, &wrong, BODY)).await;
        let expected = signed(route, h.secret(route), now(), BODY);
        for (_, value) in &expected {
            assert!(!detail.contains(value.as_str()), "{route}: {detail}");
        }
    }
}

#[tokio::test]
async fn a_timestamp_just_outside_the_tolerance_is_refused() {
    let h = harness().await;
    for route in ["stripe", "slack", "sw", "generic"] {
        for ts in [now() - TOLERANCE - 2, now() + TOLERANCE + 2] {
            let headers = signed(route, h.secret(route), ts, BODY);
            let detail = refused(post(&h, route, &headers, BODY)).await;
            assert!(detail.contains("outside this webhook's tolerance"), "{route}: {detail}");
        }
        // Well inside it, the same signature scheme passes.
        let inside = signed(route, h.secret(route), now() - TOLERANCE / 2, BODY);
        let response = post(&h, route, &inside, BODY).send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "{route}");
    }
}

#[tokio::test]
async fn a_replay_is_refused_on_a_route_that_asks() {
    let h = harness().await;
    let headers = signed("replay", h.secret("replay"), now(), BODY);
    let first = post(&h, "replay", &headers, BODY).send().await.expect("an answer");
    assert_eq!(first.status(), StatusCode::OK);
    let detail = refused(post(&h, "replay", &headers, BODY)).await;
    assert_eq!(detail, "This signature was already used: a replayed request is refused.");
    // Without `replay`, the same request twice is served twice.
    let headers = signed("stripe", h.secret("stripe"), now(), BODY);
    for _ in 0..2 {
        let response = post(&h, "stripe", &headers, BODY).send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_missing_or_malformed_signature_header_is_refused() {
    let h = harness().await;
    for route in ["github", "stripe", "slack", "shopify", "sw", "generic"] {
        let detail = refused(post(&h, route, &[], BODY)).await;
        assert!(detail.contains("lacks a header"), "{route}: {detail}");
        let mut headers = signed(route, h.secret(route), now(), BODY);
        headers.truncate(headers.len() - 1);
        if !headers.is_empty() {
            let detail = refused(post(&h, route, &headers, BODY)).await;
            assert!(detail.contains("lacks a header"), "{route}: {detail}");
        }
    }
    let garbled = [("X-Hub-Signature-256", "sha1=abc".to_owned())];
    let detail = refused(post(&h, "github", &garbled, BODY)).await;
    assert!(detail.contains("malformed"), "{detail}");
}

#[tokio::test]
async fn the_body_limit_applies_before_the_signature_is_checked() {
    let h = harness().await;
    let headers = signed("small", h.secret("small"), now(), BODY);
    let own = reqwest::Client::new();
    let mut request = own.post(h.url("/hooks/small")).body(BODY.to_owned());
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let (status, doc) = problem(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{doc}");
    let short = r#"{"a":1}"#;
    let headers = signed("small", h.secret("small"), now(), short);
    let response = post(&h, "small", &headers, short).send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn credentials_create_imports_an_hmac_secret_from_stdin_and_never_shows_it() {
    let data = tempfile::tempdir().expect("temp data dir");
    let data_arg = data.path().to_str().expect("a UTF-8 path");
    let secret = "It's a Secret to Everybody";
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["credentials", "create", "gh", "--type", "hmac", "--secret-stdin"])
        .args(["--data", data_arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookflow");
    child.stdin.take().expect("stdin").write_all(format!("{secret}\n").as_bytes()).expect("write");
    let out = child.wait_with_output().expect("hookflow ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("created hmac credential `gh`") && !stdout.contains(secret),
        "{stdout}"
    );

    let list = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["credentials", "list", "--json", "--data", data_arg])
        .output()
        .expect("run hookflow");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("\"hmac\"") && !listed.contains(secret), "{listed}");

    // Without --secret-stdin a Standard Webhooks form is generated and shown once.
    let generated = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["credentials", "create", "sw", "--type", "hmac", "--json", "--data", data_arg])
        .output()
        .expect("run hookflow");
    let doc: serde_json::Value = serde_json::from_slice(&generated.stdout).expect("JSON");
    let shown = doc["secret"].as_str().expect("a secret");
    assert!(standardwebhooks::Webhook::new(shown).is_ok(), "{shown}");
    assert!(shown.starts_with("whsec_"), "{shown}");

    // Other kinds refuse a given secret.
    let mut bearer = Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["credentials", "create", "b", "--type", "bearer", "--secret-stdin"])
        .args(["--data", data_arg])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hookflow");
    bearer.stdin.take().expect("stdin").write_all(b"x\n").expect("write");
    let out = bearer.wait_with_output().expect("hookflow ends");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only hmac credentials take a given secret"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_admin_api_imports_a_provider_s_secret_and_never_answers_it() {
    let webhook =
        r#""suffix": "/gh", "auth": { "type": "hmac", "preset": "github", "credential": "gh" }"#;
    let s = crate::harness::Served::with_flows(
        &[("gh.json", flow("gh", true, webhook, r#""status": 200"#))],
        &[],
    );
    let secret = "It's a Secret to Everybody";
    let rotation = serde_json::json!({ "secret": secret }).to_string();
    let (status, doc) =
        s.api(reqwest::Method::POST, "/api/credentials/gh/rotate", Some(&rotation)).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert!(doc.get("secret").is_none() && !doc.to_string().contains(secret), "{doc}");
    let body = "Hello, World!";
    let signature = format!("sha256={}", hex(&sha256(secret.as_bytes(), body)));
    let r = s.client.post(s.hook("/gh")).header("X-Hub-Signature-256", signature).body(body).send();
    assert_eq!(r.await.unwrap().status(), StatusCode::OK, "the imported secret verifies");

    let new =
        serde_json::json!({ "name": "shop", "type": "hmac", "secret": "shpss_abc" }).to_string();
    let (status, doc) = s.api(reqwest::Method::POST, "/api/credentials", Some(&new)).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    assert!(doc.get("secret").is_none() && !doc.to_string().contains("shpss_abc"), "{doc}");
    let keyed = serde_json::json!({ "name": "k", "type": "api_key", "secret": "mine" }).to_string();
    let (status, doc) = s.api(reqwest::Method::POST, "/api/credentials", Some(&keyed)).await;
    assert_eq!(
        (status, doc["pointer"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("/secret")),
        "{doc}"
    );
    let (_, listed) = s.api(reqwest::Method::GET, "/api/credentials", None).await;
    assert!(!listed.to_string().contains(secret) && !listed.to_string().contains("shpss_abc"));
}

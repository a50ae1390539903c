//! The verification snippet of `docs/outbound.md` run as written: the Python one accepts a real
//! delivery from a running engine and refuses it with a byte of its body changed.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use hookflow_runtime::outbound::subscriptions::NewSubscription;
use serde_json::json;

use crate::harness::{Harness, Receiver, eventually};
use crate::root;

/// The code block after `<!-- verify:LANGUAGE -->` in docs/outbound.md.
fn snippet(language: &str) -> String {
    let doc = std::fs::read_to_string(root().join("docs/outbound.md")).expect("docs/outbound.md");
    let after = doc.split(&format!("<!-- verify:{language} -->")).nth(1).expect("a marked snippet");
    let body = after.split_once(&format!("```{language}\n")).expect("its code block").1;
    body.split_once("```").expect("the block's end").0.to_owned()
}

/// Whether the snippet's `verify` accepts `headers` and `body` signed with `secret`.
fn python_verifies(secret: &str, headers: &serde_json::Value, body: &[u8]) -> bool {
    let program = format!(
        "{}\nimport json, sys\nheaders = json.loads(sys.argv[1])\nsys.exit(0 if verify(headers, sys.stdin.buffer.read()) else 1)\n",
        snippet("python")
    );
    let mut child = Command::new("python3")
        .args(["-c", &program, &headers.to_string()])
        .env("WEBHOOK_SECRET", secret)
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 runs (apt-get install python3)");
    child.stdin.take().expect("stdin").write_all(body).expect("write the body");
    let status = child.wait().expect("python3 ends");
    assert!(matches!(status.code(), Some(0 | 1)), "the snippet failed to run: {status}");
    status.success()
}

#[tokio::test]
async fn the_python_snippet_verifies_a_real_delivery() {
    let h = Harness::with_flows(&[]).await;
    let receiver = Receiver::start().await;
    let new: NewSubscription =
        serde_json::from_value(json!({ "name": "docs", "url": receiver.url })).unwrap();
    let created = h.engine.outbound.create(new).await.unwrap();
    h.engine.outbound.test(&created.subscription.id).await.unwrap();
    let got = eventually("the test delivery", Duration::from_secs(5), || async {
        receiver.received().first().cloned()
    })
    .await;
    let headers = json!({
        "webhook-id": got.header("webhook-id"),
        "webhook-timestamp": got.header("webhook-timestamp"),
        "webhook-signature": got.header("webhook-signature"),
    });
    let secret = created.secret.clone();
    let body = got.body.to_vec();
    let (accepted, tampered) = tokio::task::spawn_blocking(move || {
        let mut changed = body.clone();
        changed[0] ^= 1;
        (python_verifies(&secret, &headers, &body), python_verifies(&secret, &headers, &changed))
    })
    .await
    .unwrap();
    assert!(accepted, "the documented check accepts a real delivery");
    assert!(!tampered, "and refuses a changed body");
}

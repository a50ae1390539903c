//! docs/outbound.md held to what hookflow does: its signature checks (Python, Node and Rust, run
//! as written) accept real deliveries and refuse changed, stale and wrongly keyed ones; its worked
//! example, headers, envelope and custom payload are what is sent; its event samples are the
//! catalogue's; and its curl commands succeed against the admin API.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookflow_runtime::credentials;
use hookflow_runtime::outbound::events::CATALOGUE;
use hookflow_runtime::outbound::signing;
use hookflow_runtime::outbound::subscriptions::NewSubscription;
use hookflow_store::clock::now_ms;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::harness::{Harness, Received, Receiver, eventually, flow};
use crate::root;

/// The Rust snippets of docs/outbound.md, compiled as written there: each is the text between
/// its `// verify:NAME` and `// end verify:NAME` lines, which the doc holds after
/// `<!-- verify:NAME -->` (see `the_rust_snippets_are_the_docs_text`).
mod snippets {
    // verify:rust
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac as _};
    use sha2::Sha256;

    /// Whether `body` was signed by hookflow with `secret` (`whsec_...`) less than 5 minutes ago.
    pub fn verify(secret: &str, headers: &http::HeaderMap, body: &[u8]) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
        let Ok(sent) = timestamp.parse::<u64>() else { return false };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now.abs_diff(sent) > 300 {
            return false;
        }
        let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else {
            return false;
        };
        header("webhook-signature").split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|s| {
            let Ok(signature) = STANDARD.decode(s) else { return false };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&signature).is_ok()
        })
    }
    // end verify:rust

    // verify:rust-standardwebhooks
    /// The same check, by the Standard Webhooks library.
    pub fn verify_with_library(secret: &str, headers: &http::HeaderMap, body: &[u8]) -> bool {
        standardwebhooks::Webhook::new(secret).is_ok_and(|hook| hook.verify(body, headers).is_ok())
    }
    // end verify:rust-standardwebhooks
}

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/outbound.md")).expect("docs/outbound.md")
}

/// The text of the fenced code block right after `<!-- verify:NAME -->` in `doc`.
fn block(doc: &str, name: &str) -> String {
    let marker = format!("<!-- verify:{name} -->\n```");
    let after = doc.split_once(&marker).unwrap_or_else(|| panic!("no `{marker}` in the doc")).1;
    let text = after.split_once('\n').expect("the fence's line").1;
    let (text, _) = text.split_once("\n```").expect("the end of the block");
    format!("{text}\n")
}

/// A fenced block of the doc: its text, and that of the `json` block right after it, if one is.
struct Block {
    text: String,
    then_json: Option<String>,
}

/// Every fenced block of `language` in `doc`, in order.
fn blocks(doc: &str, language: &str) -> Vec<Block> {
    // (language, text, first line, line after the end)
    let mut all: Vec<(&str, String, usize, usize)> = Vec::new();
    let lines: Vec<&str> = doc.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```").filter(|l| !l.is_empty()) else {
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len()).find(|&j| lines[j] == "```").expect("a closed block");
        all.push((lang, lines[i + 1..end].join("\n"), i, end + 1));
        i = end + 1;
    }
    let json_after = |end: usize| {
        let next = all.iter().find(|b| b.2 >= end)?;
        let blank = lines[end..next.2].iter().all(|l| l.is_empty());
        (next.0 == "json" && blank).then(|| next.1.clone())
    };
    all.iter()
        .filter(|b| b.0 == language)
        .map(|b| Block { text: b.1.clone(), then_json: json_after(b.3) })
        .collect()
}

/// A delivery to check, and whether a correct check accepts it.
struct Case {
    what: &'static str,
    secret: String,
    headers: Map<String, Value>,
    body: Vec<u8>,
    valid: bool,
}

impl Case {
    fn of(what: &'static str, secret: &str, got: &Received, valid: bool) -> Case {
        let headers = got
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), json!(value.to_str().unwrap())))
            .collect();
        Case { what, secret: secret.to_owned(), headers, body: got.body.to_vec(), valid }
    }

    fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            map.insert(name, value.as_str().unwrap().parse().unwrap());
        }
        map
    }

    /// The delivery signed again with the case's secret, dated `age_s` seconds ago.
    fn signed_ago(mut self, age_s: i64) -> Case {
        let timestamp = now_ms() / 1000 - age_s;
        let id = self.headers["webhook-id"].as_str().unwrap().to_owned();
        let signature = signing::standard(&self.secret, &id, timestamp, &self.body).unwrap();
        self.headers.insert("webhook-timestamp".into(), json!(timestamp.to_string()));
        self.headers.insert("webhook-signature".into(), json!(signature));
        self
    }
}

/// Runs `program` (a snippet and a driver) with `command`, giving it `cases` on standard input
/// as JSON (`[{secret, headers, body}]`, the body in base64); answers the verdicts it prints.
fn run(command: &str, flag: &str, program: &str, cases: &[Case]) -> Vec<bool> {
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({ "secret": c.secret, "headers": c.headers, "body": STANDARD.encode(&c.body) }))
        .collect();
    let mut child = Command::new(command)
        .args([flag, program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(json!(input).to_string().as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the {command} snippet failed to run: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{command} printed: {e}"))
}

fn python(snippet: &str, function: &str, cases: &[Case]) -> Vec<bool> {
    let driver = format!(
        "import base64 as _b64, json as _json, sys as _sys\n\
         _cases = _json.load(_sys.stdin)\n\
         print(_json.dumps([{function}(c['secret'], c['headers'], _b64.b64decode(c['body'])) for c in _cases]))\n"
    );
    run("python3", "-c", &format!("{snippet}\n{driver}"), cases)
}

fn node(snippet: &str, cases: &[Case]) -> Vec<bool> {
    let driver = "const cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\n\
                  console.log(JSON.stringify(cases.map((c) => \
                  verify(c.secret, c.headers, Buffer.from(c.body, 'base64')))));\n";
    run("node", "-e", &format!("{snippet}\n{driver}"), cases)
}

/// Whether `node` runs here.
fn has_node() -> bool {
    Command::new("node").arg("--version").output().is_ok_and(|out| out.status.success())
}

fn assert_verdicts(check: &str, cases: &[Case], got: &[bool]) {
    assert_eq!(got.len(), cases.len(), "{check}");
    for (case, &got) in cases.iter().zip(got) {
        assert_eq!(got, case.valid, "{check}: {} (accepted: {got})", case.what);
    }
}

async fn call(h: &Harness) {
    let r = h.client.post(h.url("/hooks/echo")).json(&json!({ "n": 1 })).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

/// The `n`-th request (from 1) that `receiver` gets (5 s at most).
async fn nth(receiver: &Receiver, n: usize) -> Received {
    eventually(&format!("delivery {n}"), Duration::from_secs(5), || async {
        receiver.received().get(n - 1).cloned()
    })
    .await
}

async fn harness() -> Harness {
    let echo =
        flow("echo", true, r#""suffix": "/echo", "auth": { "type": "none" }"#, r#""status": 201"#);
    Harness::with_flows(&[("echo.json", &echo)]).await
}

async fn subscribe(h: &Harness, fields: Value) -> (String, String) {
    let new: NewSubscription = serde_json::from_value(fields).unwrap();
    let created = h.engine.outbound.create(new).await.unwrap();
    (created.subscription.id, created.secret)
}

#[tokio::test]
async fn the_documented_checks_accept_real_deliveries_and_refuse_changed_ones() {
    let h = harness().await;
    let receiver = Receiver::start().await;
    let (id, old) = subscribe(
        &h,
        json!({ "name": "docs", "url": receiver.url, "events": ["execution.succeeded"],
                "headers": { "X-Api-Key": "crm-key-123" } }),
    )
    .await;
    call(&h).await;
    let first = nth(&receiver, 1).await;
    // During a rotation's grace window a delivery carries two signatures.
    let new = h.engine.outbound.rotate(&id, Duration::from_secs(3600)).await.unwrap().secret;
    call(&h).await;
    let second = nth(&receiver, 2).await;
    assert_eq!(second.header("webhook-signature").split(' ').count(), 2);

    // The headers the doc lists are the ones sent.
    let doc = doc();
    let table = doc.split_once("| header | value |").expect("the headers table").1;
    let names: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.trim_start_matches("| `").split('`').next().unwrap())
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    for name in names {
        assert!(second.headers.contains_key(name), "{name} is documented but not sent");
    }
    assert_eq!(second.header("x-api-key"), "crm-key-123");
    assert_eq!(second.header("x-hookflow-event"), "execution.succeeded");
    assert_eq!(second.header("x-hookflow-webhook-id"), id);
    assert_eq!(second.header("x-hookflow-timestamp"), second.header("webhook-timestamp"));
    assert_eq!(second.header("content-type"), "application/json");
    assert!(second.header("user-agent").starts_with("hookflow/"));
    assert_ne!(first.header("webhook-id"), second.header("webhook-id"));

    let mut changed = Case::of("a changed body", &new, &second, false);
    changed.body[0] ^= 1;
    let mut other_id = Case::of("another webhook-id", &new, &second, false);
    other_id.headers.insert("webhook-id".into(), json!("msg_0193a5c0000070008000000000000009"));
    let mut bare = Case::of("no signature headers", &new, &second, false);
    bare.headers.retain(|name, _| !name.starts_with("webhook-"));
    let cases = [
        Case::of("a delivery", &old, &first, true),
        Case::of("a delivery during a rotation, with the new secret", &new, &second, true),
        Case::of("a delivery during a rotation, with the previous secret", &old, &second, true),
        Case::of("another secret", &signing::generate_secret(), &second, false),
        changed,
        other_id,
        bare,
        Case::of("signed 4 minutes ago", &new, &second, true).signed_ago(240),
        Case::of("signed 6 minutes ago", &new, &second, false).signed_ago(360),
        Case::of("dated 6 minutes ahead", &new, &second, false).signed_ago(-360),
    ];
    let mut hex_changed = Case::of("a changed body", &new, &second, false);
    hex_changed.body[0] ^= 1;
    let hex_cases = [
        Case::of("a delivery", &old, &first, true),
        Case::of("a delivery during a rotation, with the new secret", &new, &second, true),
        Case::of("a delivery during a rotation, with the previous secret", &old, &second, false),
        hex_changed,
    ];

    for (check, verify) in [
        ("rust", snippets::verify as fn(&str, &http::HeaderMap, &[u8]) -> bool),
        ("rust-standardwebhooks", snippets::verify_with_library),
    ] {
        let got: Vec<bool> =
            cases.iter().map(|c| verify(&c.secret, &c.header_map(), &c.body)).collect();
        assert_verdicts(check, &cases, &got);
    }
    let (python_snippet, hex_snippet) = (block(&doc, "python"), block(&doc, "python-hex"));
    let node_snippet = block(&doc, "node");
    tokio::task::spawn_blocking(move || {
        assert_verdicts("python", &cases, &python(&python_snippet, "verify", &cases));
        assert_verdicts("python-hex", &hex_cases, &python(&hex_snippet, "verify_hex", &hex_cases));
        assert!(has_node(), "the Node snippet needs `node`: apt-get install nodejs");
        assert_verdicts("node", &cases, &node(&node_snippet, &cases));
    })
    .await
    .unwrap();
}

#[test]
fn the_rust_snippets_are_the_docs_text() {
    let source = std::fs::read_to_string(root().join("tests/it/outbound_docs.rs")).unwrap();
    let doc = doc();
    for name in ["rust", "rust-standardwebhooks"] {
        let start = format!("    // verify:{name}\n");
        let after = source.split_once(&start).expect("the snippet's start").1;
        let (text, _) = after.split_once(&format!("    // end verify:{name}\n")).unwrap();
        let text: String =
            text.lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
        assert_eq!(block(&doc, name), text, "docs/outbound.md's `{name}` snippet");
    }
}

#[test]
fn the_worked_example_is_what_hookflow_signs() {
    let example = block(&doc(), "example");
    let fields: HashMap<&str, &str> = example
        .lines()
        .map(|l| l.split_once(':').map(|(k, v)| (k, v.trim())).expect("name: value"))
        .collect();
    let (secret, body) = (fields["secret"], fields["body"].as_bytes());
    let timestamp = fields["webhook-timestamp"].parse().unwrap();
    let standard = signing::standard(secret, fields["webhook-id"], timestamp, body).unwrap();
    assert_eq!(standard, fields["webhook-signature"]);
    assert_eq!(signing::hex(secret, body), fields["X-Hookflow-Signature"]);
}

#[tokio::test]
async fn the_envelope_and_the_custom_payload_are_what_is_sent() {
    let h = harness().await;
    let (plain, custom) = (Receiver::start().await, Receiver::start().await);
    let events = json!(["execution.succeeded"]);
    let (id, _) =
        subscribe(&h, json!({ "name": "plain", "url": plain.url, "events": events })).await;
    let payload: Value = serde_json::from_str(&block(&doc(), "payload")).unwrap();
    let fields =
        json!({ "name": "custom", "url": custom.url, "events": events, "payload": payload });
    subscribe(&h, fields).await;
    call(&h).await;

    let envelope = nth(&plain, 1).await.json();
    let keys: Vec<&str> = envelope.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["event", "timestamp", "webhook_id", "data"]);
    assert_eq!(
        (envelope["event"].as_str(), envelope["webhook_id"].as_str()),
        (Some("execution.succeeded"), Some(id.as_str()))
    );

    let body = nth(&custom, 1).await.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["event_type", "event_time", "current_context", "data"]);
    assert_eq!(body["event_type"], "execution.succeeded");
    assert_eq!(body["current_context"]["flow_id"], "echo");
    assert_eq!(body["event_time"], envelope["timestamp"]);
    assert_eq!(body["data"]["flow_id"], "echo");
}

#[test]
fn every_event_type_is_documented_with_its_description_and_sample() {
    let doc = doc();
    for t in CATALOGUE {
        let row = format!("| `{}` | {} |", t.name, t.description);
        assert!(doc.contains(&row), "the events table lacks `{row}`");
        let heading = doc
            .lines()
            .position(|l| l.starts_with("### ") && l.contains(&format!("`{}`", t.name)))
            .unwrap_or_else(|| panic!("no heading names `{}`", t.name));
        let rest: String = doc.lines().skip(heading).collect::<Vec<_>>().join("\n");
        let sample = blocks(&rest, "json").into_iter().next().expect("a json sample").text;
        let sample: Value = serde_json::from_str(&sample).unwrap();
        assert_eq!(sample, (t.sample)(), "the sample of `{}`", t.name);
    }
}

/// The words of the shell command lines `text`, as `sh` splits them (quotes, `\` line
/// continuations, `$NAME` from `vars`): one list per command.
fn shell_words(text: &str, vars: &HashMap<String, String>) -> Vec<Vec<String>> {
    let (mut commands, mut words, mut word) = (Vec::new(), Vec::new(), None::<String>);
    let (mut chars, mut quote) = (text.chars().peekable(), None);
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\'' | '"', None) => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (c, Some(q)) if c == q => quote = None,
            ('\\', None) if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            ('$', None | Some('"')) => {
                let mut name = String::new();
                while let Some(&n) =
                    chars.peek().filter(|n| n.is_ascii_alphanumeric() || **n == '_')
                {
                    name.push(n);
                    chars.next();
                }
                let value = vars.get(&name).unwrap_or_else(|| panic!("${name} is not set yet"));
                word.get_or_insert_default().push_str(value);
            }
            (' ' | '\n', None) => {
                words.extend(word.take());
                if c == '\n' && !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            (c, _) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// Asserts that `real` has the keys of `documented`, and so on down its objects and the first
/// items of its arrays, where both have them (maps whose keys vary, such as headers, are not
/// compared).
fn same_shape(documented: &Value, real: &Value, at: &str) {
    match (documented, real) {
        (Value::Object(d), Value::Object(r)) => {
            let (dk, rk): (Vec<_>, Vec<_>) = (d.keys().collect(), r.keys().collect());
            assert_eq!(dk, rk, "the keys at `{at}`");
            for (key, value) in d {
                if !["headers", "response_headers", "payload", "data"].contains(&key.as_str()) {
                    same_shape(value, &r[key], &format!("{at}/{key}"));
                }
            }
        }
        (Value::Array(d), Value::Array(r)) if !d.is_empty() && !r.is_empty() => {
            same_shape(&d[0], &r[0], &format!("{at}/0"));
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_curl_commands_of_the_docs_work_against_the_admin_api() {
    const TOKEN: &str = "docs-admin-token";
    let h = harness().await;
    let receiver = Receiver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", listener.local_addr().unwrap());
    let app = hookflow_server::admin_app(h.engine.clone(), credentials::digest(TOKEN));
    tokio::spawn(axum::serve(listener, app).into_future());

    let doc = doc();
    let mut vars = HashMap::from([("HOOKFLOW_ADMIN_TOKEN".to_owned(), TOKEN.to_owned())]);
    let commands = blocks(&doc, "sh");
    let mut ran = 0;
    for Block { text, then_json } in &commands {
        let text = text
            .replace("http://127.0.0.1:8081", &admin)
            .replace("https://crm.example.com/hooks/hookflow", &receiver.url);
        for words in shell_words(&text, &vars) {
            assert_eq!(words[0], "curl", "{text}");
            ran += 1;
            let (mut method, mut url, mut body) = (None, None, None);
            let mut request_headers = Vec::new();
            let mut args = words[1..].iter();
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "-X" => method = args.next().cloned(),
                    "-H" => request_headers.push(args.next().unwrap().clone()),
                    "-d" => body = args.next().cloned(),
                    a if a.starts_with("http://") => url = Some(a.to_owned()),
                    a => panic!("a curl option the test does not know: {a}"),
                }
            }
            let method = method.unwrap_or(if body.is_some() { "POST" } else { "GET" }.into());
            let mut request = h
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), url.expect("a URL"));
            for header in &request_headers {
                let (name, value) = header.split_once(": ").unwrap();
                request = request.header(name, value);
            }
            if let Some(body) = body {
                request = request.body(body);
            }
            let r = request.send().await.unwrap();
            let status = r.status();
            let answer: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{}: {status} {answer}", words.join(" "));
            match answer["id"].as_str() {
                Some(id) if id.starts_with("sub_") => {
                    vars.entry("SUBSCRIPTION_ID".into()).or_insert_with(|| id.to_owned());
                }
                Some(id) if id.starts_with("msg_") => {
                    vars.insert("DELIVERY_ID".into(), id.to_owned());
                }
                _ => {}
            }
            if let Some(documented) = then_json {
                let documented: Value = serde_json::from_str(documented).unwrap();
                same_shape(&documented, &answer, "");
            }
        }
    }
    assert_eq!(ran, 9, "the curl commands of the doc");
    assert_eq!(receiver.received().len(), 2, "the test send and its retry reach the receiver");
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    let text = heading.trim_start_matches('#').trim().to_lowercase();
    text.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_link_into_the_doc_finds_its_heading() {
    let doc = doc();
    let anchors: Vec<String> = doc.lines().filter(|l| l.starts_with('#')).map(anchor).collect();
    let mut links = Vec::new();
    for file in ["README.md", "docs/outbound.md", "docs/admin-api.md", "docs/cli.md"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let prefixes: &[&str] =
            if file == "docs/outbound.md" { &["](#", "](outbound.md#"] } else { &["outbound.md#"] };
        for prefix in prefixes {
            for (_, rest) in
                text.match_indices(prefix).map(|(i, _)| text.split_at(i + prefix.len()))
            {
                let target = rest.split(')').next().unwrap();
                links.push((file, target.to_owned()));
            }
        }
    }
    assert!(links.len() > 10, "{links:?}");
    for (file, target) in links {
        assert!(
            anchors.contains(&target),
            "{file} links to outbound.md#{target}, which is no heading"
        );
    }
}

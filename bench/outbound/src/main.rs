//! Measures a running `hookflow serve`'s outbound webhooks over loopback, with a receiver of its
//! own that answers `200` at once:
//!
//! - `throughput`: N events held by a paused subscription, then the subscription resumed: the
//!   deliveries per second from the resume until the receiver has every event's message.
//! - `latency`: calls paced at R per second for S seconds, each raising `execution.succeeded`:
//!   the time from the event (its payload's `timestamp`) to its first attempt's arrival, as
//!   percentiles, and that none is missing.
//! - `receive`: only the receiver, until SIGTERM or SIGINT (for load runs with a subscription);
//!   prints `listening on http://ADDR` and, at the end, how many deliveries arrived.
//!
//! Every run is bounded in count and time; every address is loopback.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

/// What the receiver keeps.
#[derive(Default)]
struct Seen {
    /// Message ids (`webhook-id`) of `execution.succeeded` deliveries.
    messages: HashSet<String>,
    /// Milliseconds from each first-seen event's timestamp to its arrival.
    latencies_ms: Vec<f64>,
    /// Deliveries received, duplicates and other events included.
    total: u64,
}

type Shared = Arc<Mutex<Seen>>;

async fn receive(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> &'static str {
    let now = SystemTime::now();
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = seen.lock().unwrap();
    seen.total += 1;
    if doc["event"] == "execution.succeeded" && seen.messages.insert(id) {
        let at = doc["timestamp"].as_str().and_then(|t| humantime::parse_rfc3339(t).ok());
        if let Some(ms) = at.and_then(|at| now.duration_since(at).ok()) {
            seen.latencies_ms.push(ms.as_secs_f64() * 1000.0);
        }
    }
    "ok"
}

/// Starts the receiver on `127.0.0.1:0`: its URL and what it has seen.
async fn receiver() -> (String, Shared) {
    let seen = Shared::default();
    let app = axum::Router::new().fallback(receive).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("its address"));
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, seen)
}

/// The options every measurement takes.
struct Target {
    admin: String,
    token: String,
    hook: String,
    key: String,
    client: reqwest::Client,
}

impl Target {
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request =
            self.client.request(method, format!("{}{path}", self.admin)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("the admin API answers");
        let status = r.status();
        let doc: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {doc}");
        doc
    }

    /// A subscription to `execution.succeeded` at `url`: its id.
    async fn subscribe(&self, url: &str, active: bool) -> String {
        let body = json!({ "name": "bench", "url": url, "events": ["execution.succeeded"], "active": active });
        let doc = self.api(reqwest::Method::POST, "/api/subscriptions", Some(body)).await;
        doc["id"].as_str().expect("an id").to_owned()
    }

    /// One webhook call, which must succeed.
    async fn call(&self) {
        let body = r#"{"id":"ORD-1","customer":{"name":"Ada"},"total":120.5,"items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}"#;
        let r = self
            .client
            .post(&self.hook)
            .header("content-type", "application/json")
            .header("x-api-key", &self.key)
            .body(body)
            .send()
            .await
            .expect("the webhook answers");
        assert!(r.status().is_success(), "the webhook answered {}", r.status());
    }

    /// How many of subscription `id`'s deliveries have `status`, counted page by page.
    async fn count(&self, id: &str, status: &str) -> usize {
        let (mut n, mut cursor) = (0, String::new());
        loop {
            let path = format!("/api/subscriptions/{id}/deliveries?status={status}&limit=500&cursor={cursor}");
            let page = self.api(reqwest::Method::GET, &path, None).await;
            n += page["items"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return n,
            }
        }
    }
}

/// Polls `check` every 20 ms until it is true, for `within` at most.
async fn until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn throughput(target: Target, events: usize, concurrency: usize) {
    let (url, seen) = receiver().await;
    let id = target.subscribe(&url, false).await;
    let target = Arc::new(target);
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let callers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (target, next) = (target.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < events {
                    target.call().await;
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("a caller");
    }
    eprintln!("{events} calls in {:.2} s; waiting for their events to be held", started.elapsed().as_secs_f64());
    until("every event held", Duration::from_secs(120), async || target.count(&id, "pending").await >= events).await;

    let resumed = Instant::now();
    target.api(reqwest::Method::PATCH, &format!("/api/subscriptions/{id}"), Some(json!({ "active": true }))).await;
    until("every delivery received", Duration::from_secs(300), async || {
        seen.lock().unwrap().messages.len() >= events
    })
    .await;
    let elapsed = resumed.elapsed().as_secs_f64();
    let total = seen.lock().unwrap().total;
    println!("deliveries: {events} in {elapsed:.2} s from the resume: {:.0} deliveries/s ({total} received in all)", events as f64 / elapsed);
}

async fn latency(target: Target, rate: u32, seconds: u32) {
    let (url, seen) = receiver().await;
    target.subscribe(&url, true).await;
    let target = Arc::new(target);
    let calls = (rate * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        tick.tick().await;
        let target = target.clone();
        sent.push(tokio::spawn(async move { target.call().await }));
    }
    for call in sent {
        call.await.expect("a call");
    }
    let offered = calls as f64 / started.elapsed().as_secs_f64();
    until("every event delivered", Duration::from_secs(60), async || seen.lock().unwrap().messages.len() >= calls).await;
    let mut ms = std::mem::take(&mut seen.lock().unwrap().latencies_ms);
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "event to first attempt at {offered:.0} events/s ({calls} events, every one delivered): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50), at(0.90), at(0.99), at(1.0)
    );
}

async fn receive_only() {
    let (url, seen) = receiver().await;
    println!("listening on {url}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let seen = seen.lock().unwrap();
    println!("received {} deliveries ({} distinct execution.succeeded)", seen.total, seen.messages.len());
}

fn usage() -> ! {
    eprintln!(
        "usage: hookflow-outbound-bench throughput ADMIN_URL TOKEN HOOK_URL API_KEY EVENTS CONCURRENCY\n       \
         hookflow-outbound-bench latency ADMIN_URL TOKEN HOOK_URL API_KEY RATE SECONDS\n       \
         hookflow-outbound-bench receive"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u32 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| usage()) };
    let target = || Target {
        admin: args[1].clone(),
        token: args[2].clone(),
        hook: args[3].clone(),
        key: args[4].clone(),
        client: reqwest::Client::new(),
    };
    match (args.first().map(String::as_str), args.len()) {
        (Some("throughput"), 7) => throughput(target(), number(5) as usize, number(6) as usize).await,
        (Some("latency"), 7) => latency(target(), number(5), number(6)).await,
        (Some("receive"), 1) => receive_only().await,
        _ => usage(),
    }
}

//! One attempt at a delivery: the signed POST of its payload to its subscription's URL, and what
//! came back (status, headers, the start of the body, or why nothing did), as an [`Attempt`].
//!
//! The request goes through the SSRF guard of every outbound call (`http_client`): no redirect
//! is followed, no proxy is used, and under [`NetworkPolicy::PublicOnly`] a URL whose host is,
//! or resolves only to, a private address is refused before anything is sent.

use std::time::Duration;

use hookflow_store::{Attempt, Delivery, Subscription, clock};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{RequestBuilder, Response, Url};
use tokio::time::Instant;

use super::signing;
use crate::http_client::{self, BuildError, Failure, NetworkPolicy};

/// How long an attempt may take by default, from connecting to the end of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer's body an attempt keeps: 4 KiB.
pub const MAX_RESPONSE_BODY: usize = 4 * 1024;

/// Sends attempts, each within a timeout, through the guard of a [`NetworkPolicy`].
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: NetworkPolicy,
    timeout: Duration,
}

/// What a receiver answered.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    truncated: bool,
}

impl Sender {
    /// A sender whose attempts reach what `policy` allows and take at most `timeout` each.
    pub fn new(policy: NetworkPolicy, timeout: Duration) -> Result<Sender, BuildError> {
        Ok(Sender { client: http_client::guarded_client(policy)?, policy, timeout })
    }

    /// Makes one attempt at `delivery` for `subscription`, now. Never fails: an attempt that got
    /// no answer says why in its `error`.
    pub async fn send(&self, subscription: &Subscription, delivery: &Delivery) -> Attempt {
        let at_ms = clock::now_ms();
        let started = Instant::now();
        let deadline = started + self.timeout;
        let answer = match self.request(subscription, delivery, at_ms) {
            Ok(request) => self.exchange(request, deadline).await,
            Err(error) => Err(error),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match answer {
            Ok(answer) => Attempt {
                at_ms,
                status: Some(answer.status),
                error: None,
                duration_ms,
                response_headers: answer.headers,
                response_body: answer.body,
                response_body_truncated: answer.truncated,
            },
            Err(error) => Attempt {
                at_ms,
                status: None,
                error: Some(error),
                duration_ms,
                response_headers: Vec::new(),
                response_body: Vec::new(),
                response_body_truncated: false,
            },
        }
    }

    /// The signed request, or why it cannot be sent.
    fn request(
        &self,
        subscription: &Subscription,
        delivery: &Delivery,
        at_ms: i64,
    ) -> Result<RequestBuilder, String> {
        let url = Url::parse(&subscription.url)
            .map_err(|e| format!("the subscription's URL is invalid: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("only http and https URLs can be called, not `{}`", url.scheme()));
        }
        let host = url.host_str().ok_or("the subscription's URL has no host")?;
        http_client::check_literal(self.policy, host)?;
        let headers = headers(subscription, delivery, at_ms)?;
        Ok(self.client.post(url).headers(headers).body(delivery.payload.clone()))
    }

    /// Sends `request` and reads the answer, both before `deadline`.
    async fn exchange(&self, request: RequestBuilder, deadline: Instant) -> Result<Answer, String> {
        let response = match tokio::time::timeout_at(deadline, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(describe(Failure::from_reqwest(err))),
            Err(_) => {
                return Err(format!("timed out after {}", http_client::fmt_duration(self.timeout)));
            }
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        let (body, truncated) = read_start(response, deadline).await;
        Ok(Answer { status, headers, body, truncated })
    }
}

/// The first [`MAX_RESPONSE_BODY`] bytes of the body, and whether there was more. The receiver
/// has answered: a body cut short by an error or the deadline is kept as far as it was read.
async fn read_start(mut response: Response, deadline: Instant) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_RESPONSE_BODY {
                    body.truncate(MAX_RESPONSE_BODY);
                    return (body, true);
                }
            }
            Ok(Ok(None)) => return (body, false),
            Ok(Err(_)) | Err(_) => return (body, true),
        }
    }
}

fn describe(failure: Failure) -> String {
    match failure {
        Failure::Refused(message) | Failure::Fatal(message) | Failure::Transient(message) => {
            message
        }
    }
}

/// The headers hookflow sets on every delivery; a subscription's own headers cannot name them.
pub const RESERVED_HEADERS: [&str; 9] = [
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hookflow-event",
    "x-hookflow-webhook-id",
    "x-hookflow-timestamp",
    "x-hookflow-signature",
];

/// The subscription's own headers, then hookflow's, which replace any of the same name: the
/// signatures cannot be overridden. Secrets and custom values are marked sensitive.
fn headers(
    subscription: &Subscription,
    delivery: &Delivery,
    at_ms: i64,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &subscription.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name `{name}`"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    let timestamp_s = at_ms.div_euclid(1000);
    let (standard, hex) = signatures(subscription, delivery, at_ms, timestamp_s)?;
    let timestamp = timestamp_s.to_string();
    // In the order of RESERVED_HEADERS; `true`: a signature, marked sensitive.
    let own: [(&str, bool); 9] = [
        ("application/json", false),
        (concat!("hookflow/", env!("CARGO_PKG_VERSION")), false),
        (&delivery.id, false),
        (&timestamp, false),
        (&standard, true),
        (&delivery.event_type, false),
        (&subscription.id, false),
        (&timestamp, false),
        (&hex, true),
    ];
    for (name, (value, sensitive)) in RESERVED_HEADERS.iter().zip(own) {
        let name = HeaderName::from_static(name);
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for header `{name}`"))?;
        value.set_sensitive(sensitive);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// `webhook-signature` (one `v1,` signature per secret that signs at `at_ms`, space-separated)
/// and `x-hookflow-signature` (the hex signature of the current secret, the first).
fn signatures(
    subscription: &Subscription,
    delivery: &Delivery,
    at_ms: i64,
    timestamp_s: i64,
) -> Result<(String, String), String> {
    let secrets: Vec<&str> =
        subscription.signing_secrets(at_ms).map(|s| s.secret.as_str()).collect();
    let current = secrets.first().ok_or("the subscription has no signing secret")?;
    let standard = secrets
        .iter()
        .map(|secret| signing::standard(secret, &delivery.id, timestamp_s, &delivery.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot sign the delivery: {e}"))?
        .join(" ");
    Ok((standard, signing::hex(current, &delivery.payload)))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use hookflow_store::{DeliveryStatus, SigningSecret};
    use standardwebhooks::Webhook;

    use super::*;

    /// What a [`Receiver`] answers, after `delay`.
    #[derive(Debug, Clone)]
    pub(crate) struct Reply {
        pub status: u16,
        pub headers: Vec<(&'static str, String)>,
        pub body: String,
        pub delay: Duration,
    }

    pub(crate) fn reply(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: String::new(), delay: Duration::ZERO }
    }

    /// A request a [`Receiver`] got.
    #[derive(Debug, Clone)]
    pub(crate) struct Received {
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    type Shared = (Arc<Mutex<Vec<Received>>>, Arc<Vec<Reply>>);

    /// A webhook receiver on loopback: it answers its n-th request with the n-th reply (the last
    /// one repeats) and keeps every request.
    pub(crate) struct Receiver {
        pub url: String,
        received: Arc<Mutex<Vec<Received>>>,
    }

    impl Receiver {
        pub async fn start(replies: Vec<Reply>) -> Receiver {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            let received = Arc::new(Mutex::new(Vec::new()));
            let shared: Shared = (received.clone(), Arc::new(replies));
            let app = axum::Router::new().fallback(answer).with_state(shared);
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Receiver { url, received }
        }

        pub fn received(&self) -> Vec<Received> {
            self.received.lock().unwrap().clone()
        }
    }

    async fn answer(
        State((received, replies)): State<Shared>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let n = {
            let mut received = received.lock().unwrap();
            received.push(Received { headers, body });
            received.len() - 1
        };
        let reply = replies[n.min(replies.len() - 1)].clone();
        tokio::time::sleep(reply.delay).await;
        let mut response =
            (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
        for (name, value) in reply.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    }

    pub(crate) fn secret(secret: &str, expires_at_ms: Option<i64>) -> SigningSecret {
        SigningSecret { secret: secret.to_owned(), created_at_ms: 1, expires_at_ms }
    }

    pub(crate) fn subscription(id: &str, url: &str) -> Subscription {
        Subscription {
            id: id.to_owned(),
            name: "orders".into(),
            url: url.to_owned(),
            events: vec!["*".into()],
            active: true,
            description: None,
            headers: Vec::new(),
            payload: None,
            secrets: vec![secret(&signing::generate_secret(), None)],
            disabled_reason: None,
            created_at_ms: 1,
            updated_at_ms: 1,
        }
    }

    pub(crate) fn delivery(id: &str, subscription_id: &str) -> Delivery {
        Delivery {
            id: id.to_owned(),
            subscription_id: subscription_id.to_owned(),
            event_type: "execution.succeeded".into(),
            payload: format!(r#"{{"type":"execution.succeeded","data":{{"id":"{id}"}}}}"#)
                .into_bytes(),
            status: DeliveryStatus::Pending,
            created_at_ms: clock::now_ms(),
            next_attempt_at_ms: Some(clock::now_ms()),
            attempts: Vec::new(),
        }
    }

    /// Checks `signature` (one `v1,...`) with the official library, for `received`.
    pub(crate) fn verifies(secret: &str, signature: &str, received: &Received) -> bool {
        let mut headers = received.headers.clone();
        headers.insert("webhook-signature", signature.parse().unwrap());
        Webhook::new(secret).unwrap().verify(&received.body, &headers).is_ok()
    }

    pub(crate) fn header<'a>(received: &'a Received, name: &str) -> &'a str {
        received.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
    }

    fn sender(policy: NetworkPolicy) -> Sender {
        Sender::new(policy, DEFAULT_TIMEOUT).unwrap()
    }

    #[tokio::test]
    async fn a_delivery_is_posted_signed_and_custom_headers_cannot_override_the_signature() {
        let receiver = Receiver::start(vec![Reply {
            headers: vec![("x-receipt", "r-1".into())],
            body: "thanks".into(),
            ..reply(202)
        }])
        .await;
        let mut sub = subscription("sub_1", &receiver.url);
        sub.headers = vec![
            ("X-Api-Key".into(), "k1".into()),
            ("Webhook-Signature".into(), "v1,forged".into()),
        ];
        let delivery = delivery("msg_1", "sub_1");
        let attempt = sender(NetworkPolicy::AllowPrivate).send(&sub, &delivery).await;

        assert_eq!((attempt.status, attempt.error.as_deref()), (Some(202), None));
        assert_eq!(attempt.response_body, b"thanks");
        assert!(!attempt.response_body_truncated);
        assert!(attempt.response_headers.contains(&("x-receipt".into(), "r-1".into())));
        let received = &receiver.received()[0];
        assert_eq!(received.body, delivery.payload);
        assert_eq!(header(received, "content-type"), "application/json");
        assert_eq!(header(received, "user-agent"), concat!("hookflow/", env!("CARGO_PKG_VERSION")));
        assert_eq!(header(received, "webhook-id"), "msg_1");
        assert_eq!(header(received, "x-hookflow-event"), "execution.succeeded");
        assert_eq!(header(received, "x-hookflow-webhook-id"), "sub_1");
        assert_eq!(header(received, "x-api-key"), "k1");
        let timestamp = header(received, "webhook-timestamp");
        assert_eq!(timestamp, header(received, "x-hookflow-timestamp"));
        assert_eq!(timestamp.parse::<i64>().unwrap(), attempt.at_ms / 1000);
        assert_eq!(received.headers.get_all("webhook-signature").iter().count(), 1);
        let secret = &sub.secrets[0].secret;
        let signature = header(received, "webhook-signature");
        assert!(verifies(secret, signature, received), "{signature}");
        assert_eq!(
            header(received, "x-hookflow-signature"),
            signing::hex(secret, &delivery.payload)
        );
    }

    #[tokio::test]
    async fn during_a_rotation_every_secret_in_its_grace_window_signs() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let now = clock::now_ms();
        let (current, previous, expired) =
            (signing::generate_secret(), signing::generate_secret(), signing::generate_secret());
        let mut sub = subscription("sub_1", &receiver.url);
        sub.secrets = vec![
            secret(&current, None),
            secret(&previous, Some(now + 3_600_000)),
            secret(&expired, Some(now - 1)),
        ];
        let delivery = delivery("msg_1", "sub_1");
        sender(NetworkPolicy::AllowPrivate).send(&sub, &delivery).await;

        let received = &receiver.received()[0];
        let signatures: Vec<&str> = header(received, "webhook-signature").split(' ').collect();
        assert_eq!(signatures.len(), 2, "{signatures:?}");
        assert!(verifies(&current, signatures[0], received));
        assert!(verifies(&previous, signatures[1], received));
        assert!(!verifies(&expired, signatures[0], received));
        assert_eq!(
            header(received, "x-hookflow-signature"),
            signing::hex(&current, &delivery.payload)
        );
    }

    #[tokio::test]
    async fn an_answer_keeps_its_first_4_kib() {
        let long = "x".repeat(MAX_RESPONSE_BODY + 1);
        let exact = "y".repeat(MAX_RESPONSE_BODY);
        let receiver = Receiver::start(vec![
            Reply { body: long, ..reply(500) },
            Reply { body: exact.clone(), ..reply(200) },
        ])
        .await;
        let (sub, delivery) = (subscription("sub_1", &receiver.url), delivery("msg_1", "sub_1"));
        let sender = sender(NetworkPolicy::AllowPrivate);

        let attempt = sender.send(&sub, &delivery).await;
        assert_eq!(attempt.status, Some(500));
        assert_eq!(attempt.response_body, vec![b'x'; MAX_RESPONSE_BODY]);
        assert!(attempt.response_body_truncated);
        let attempt = sender.send(&sub, &delivery).await;
        assert_eq!(attempt.response_body, exact.as_bytes());
        assert!(!attempt.response_body_truncated);
    }

    #[tokio::test]
    async fn public_only_refuses_loopback_before_sending() {
        let receiver = Receiver::start(vec![reply(200)]).await;
        let sender = sender(NetworkPolicy::PublicOnly);
        let delivery = delivery("msg_1", "sub_1");

        let attempt = sender.send(&subscription("sub_1", &receiver.url), &delivery).await;
        assert_eq!(attempt.status, None);
        assert_eq!(
            attempt.error.as_deref(),
            Some("127.0.0.1 is a loopback address; allow private networks to call it")
        );
        let by_name = receiver.url.replace("127.0.0.1", "localhost");
        let attempt = sender.send(&subscription("sub_1", &by_name), &delivery).await;
        let error = attempt.error.unwrap();
        assert!(error.starts_with("localhost resolves to "), "{error}");
        assert!(error.contains(", a loopback address;"), "{error}");
        assert!(receiver.received().is_empty());
    }

    #[tokio::test]
    async fn redirects_are_answers_not_followed() {
        let target = Receiver::start(vec![reply(200)]).await;
        let receiver = Receiver::start(vec![Reply {
            headers: vec![("location", target.url.clone())],
            ..reply(307)
        }])
        .await;
        let attempt = sender(NetworkPolicy::AllowPrivate)
            .send(&subscription("sub_1", &receiver.url), &delivery("msg_1", "sub_1"))
            .await;
        assert_eq!(attempt.status, Some(307));
        assert!(target.received().is_empty());
    }

    #[tokio::test]
    async fn timeouts_refused_connections_and_bad_secrets_are_errors() {
        let receiver =
            Receiver::start(vec![Reply { delay: Duration::from_secs(30), ..reply(200) }]).await;
        let sender = Sender::new(NetworkPolicy::AllowPrivate, Duration::from_millis(100)).unwrap();
        let delivery = delivery("msg_1", "sub_1");
        let attempt = sender.send(&subscription("sub_1", &receiver.url), &delivery).await;
        assert_eq!(attempt.error.as_deref(), Some("timed out after 100ms"));
        assert!(attempt.duration_ms >= 100, "{}", attempt.duration_ms);

        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/", listener.local_addr().unwrap())
        };
        let attempt = sender.send(&subscription("sub_1", &closed), &delivery).await;
        assert_eq!(attempt.error.as_deref(), Some("connection refused"));

        let mut sub = subscription("sub_1", &receiver.url);
        sub.secrets = vec![secret("not-a-secret", None)];
        let attempt = sender.send(&sub, &delivery).await;
        assert_eq!(
            attempt.error.as_deref(),
            Some("cannot sign the delivery: the signing secret does not start with `whsec_`")
        );
        sub.secrets.clear();
        let attempt = sender.send(&sub, &delivery).await;
        assert_eq!(attempt.error.as_deref(), Some("the subscription has no signing secret"));
        assert_eq!(receiver.received().len(), 1, "only the attempt that timed out was sent");
    }
}

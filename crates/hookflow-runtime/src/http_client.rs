//! The outbound HTTP client behind `http_request` nodes: reqwest, with retries and an SSRF guard.
//!
//! [`ReqwestClient`] implements core's [`HttpClient`]. The guard is the one of all outbound
//! traffic (deliveries of outbound webhooks build their client and check their URL with the same
//! `guarded_client` and `check_literal`). Under [`NetworkPolicy::PublicOnly`] it refuses
//! every destination that is not a public unicast address (see [`refused_kind`]):
//!
//! - an IP-literal host is checked before anything is sent;
//! - a name is resolved by a custom `reqwest::dns::Resolve`, which drops refused addresses from the answer the
//!   connector will use, so a second DNS answer (rebinding) cannot slip in between the check and
//!   the connect; when no address is left the call is [`HttpError::Refused`];
//! - redirects are not followed at all (`redirect::Policy::none()`): a `3xx` is the reply, so a
//!   public URL cannot bounce the call to a private one;
//! - proxies from the environment are ignored, because a proxy would resolve the name itself.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hookflow_core::services::{BoxFuture, HttpCall, HttpClient, HttpError, HttpReply};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url, redirect};

/// Which destinations outbound calls may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkPolicy {
    /// Only public addresses; loopback, private, link-local and the like are refused.
    PublicOnly,
    /// Any address, private networks included (tests, local set-ups).
    AllowPrivate,
}

/// Largest response body read by default: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The longest `Retry-After` that is honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The HTTP client could not be set up (TLS back end or resolver).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the outbound HTTP client: {source}")]
pub struct BuildError {
    source: reqwest::Error,
}

/// [`HttpClient`] over reqwest (HTTP/1.1, rustls), guarded by a [`NetworkPolicy`].
#[derive(Debug, Clone)]
pub struct ReqwestClient {
    inner: reqwest::Client,
    policy: NetworkPolicy,
    max_body_bytes: usize,
}

impl ReqwestClient {
    /// A client that applies `policy` to every call and reads bodies up to
    /// [`DEFAULT_MAX_BODY_BYTES`].
    pub fn new(policy: NetworkPolicy) -> Result<Self, BuildError> {
        let inner = guarded_client(policy)?;
        Ok(ReqwestClient { inner, policy, max_body_bytes: DEFAULT_MAX_BODY_BYTES })
    }

    /// Sets the largest response body read; a larger one fails the call.
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// The policy this client applies.
    pub fn policy(&self) -> NetworkPolicy {
        self.policy
    }

    async fn call(self, call: HttpCall) -> Result<HttpReply, HttpError> {
        let request = self.prepare(&call)?;
        let max_attempts = call.retries.saturating_add(1);
        let mut attempt = 1;
        loop {
            let outcome = match tokio::time::timeout(call.timeout, self.attempt(&request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::Transient(format!(
                    "timed out after {}",
                    fmt_duration(call.timeout)
                ))),
            };
            let wait = match outcome {
                Ok(mut reply) => {
                    if attempt >= max_attempts || !retryable(reply.status) {
                        reply.attempts = attempt;
                        return Ok(reply);
                    }
                    retry_after(reply.status, &reply.headers)
                        .unwrap_or_else(|| backoff(call.backoff, attempt))
                }
                Err(Failure::Refused(message)) => return Err(HttpError::Refused(message)),
                Err(Failure::Fatal(message)) => {
                    return Err(HttpError::Failed { attempts: attempt, message });
                }
                Err(Failure::Transient(message)) => {
                    if attempt >= max_attempts {
                        return Err(HttpError::Failed { attempts: attempt, message });
                    }
                    backoff(call.backoff, attempt)
                }
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Checks the call and turns it into a request that each attempt clones.
    fn prepare(&self, call: &HttpCall) -> Result<Prepared, HttpError> {
        let url = Url::parse(&call.url)
            .map_err(|e| HttpError::InvalidUrl(format!("`{}`: {e}", call.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::InvalidUrl(format!(
                "`{}`: only http and https URLs can be called, not `{}`",
                call.url,
                url.scheme()
            )));
        }
        let Some(host) = url.host_str() else {
            return Err(HttpError::InvalidUrl(format!("`{}` has no host", call.url)));
        };
        check_literal(self.policy, host).map_err(HttpError::Refused)?;
        let not_sent = |message: String| HttpError::Failed { attempts: 0, message };
        let method = Method::from_bytes(call.method.as_bytes())
            .map_err(|_| not_sent(format!("invalid HTTP method `{}`", call.method)))?;
        let mut headers = HeaderMap::with_capacity(call.headers.len());
        for (name, value) in &call.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| not_sent(format!("invalid header name `{name}`")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| not_sent(format!("invalid value for header `{name}`")))?;
            headers.append(name, value);
        }
        Ok(Prepared { method, url, headers, body: call.body.clone() })
    }

    /// One attempt: send, then read the whole body (both under the caller's timeout).
    async fn attempt(&self, request: &Prepared) -> Result<HttpReply, Failure> {
        let mut builder = self
            .inner
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(Failure::from_reqwest)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let too_large = || {
            Failure::Fatal(format!("response body is larger than {} bytes", self.max_body_bytes))
        };
        if response.content_length().is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::from_reqwest)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpReply { status, headers, body, attempts: 0 })
    }
}

impl HttpClient for ReqwestClient {
    fn send(&self, call: HttpCall) -> BoxFuture<Result<HttpReply, HttpError>> {
        Box::pin(self.clone().call(call))
    }
}

/// The reqwest client of every outbound call: it sends hookflow's `user-agent`, follows no
/// redirect, ignores the environment's proxies and resolves names through the guard of
/// `policy`, which drops the addresses it refuses (an IP literal is [`check_literal`]'s).
pub(crate) fn guarded_client(policy: NetworkPolicy) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .user_agent(concat!("hookflow/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .build()
        .map_err(|source| BuildError { source })
}

/// Refuses a URL's `host` (as [`Url::host_str`] gives it) when it is an IP literal that `policy`
/// refuses, saying why. The connector never asks the resolver about a literal, so it is checked
/// here, before anything is sent.
pub(crate) fn check_literal(policy: NetworkPolicy, host: &str) -> Result<(), String> {
    // The URL parser has already turned every IPv4 spelling (`2130706433`, `0x7f.1`) into
    // dotted form; IPv6 literals keep their brackets.
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    if let (NetworkPolicy::PublicOnly, Some(ip)) = (policy, literal)
        && let Some(kind) = refused_kind(ip)
    {
        return Err(format!(
            "{ip} is {} {kind} address; allow private networks to call it",
            article(kind)
        ));
    }
    Ok(())
}

/// Why `policy` refuses `url`'s destination, if it does: an IP literal it refuses, or a name
/// every address of which it refuses (resolved now; the connection resolves again, through the
/// guard, so a name that changes its answers later is caught then). `None` when it may be
/// reached, or when the name does not resolve now (the attempt will say so).
pub async fn refused(url: &Url, policy: NetworkPolicy) -> Option<String> {
    let host = url.host_str()?;
    if let Err(reason) = check_literal(policy, host) {
        return Some(reason);
    }
    if policy == NetworkPolicy::AllowPrivate
        || host.starts_with('[')
        || host.parse::<IpAddr>().is_ok()
    {
        return None;
    }
    let resolved: Vec<IpAddr> =
        tokio::net::lookup_host((host, 0)).await.ok()?.map(|addr| addr.ip()).collect();
    // As the guard does: a name is refused when every address it has is.
    let refusals: Vec<(IpAddr, &str)> =
        resolved.iter().filter_map(|ip| refused_kind(*ip).map(|kind| (*ip, kind))).collect();
    let &(ip, kind) = refusals.first()?;
    (refusals.len() == resolved.len()).then(|| {
        format!(
            "{host} resolves to {ip}, {} {kind} address; allow private networks to call it",
            article(kind)
        )
    })
}

/// A checked call, ready to be sent once per attempt.
struct Prepared {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

/// Why an attempt got no usable answer.
pub(crate) enum Failure {
    /// The policy refuses the destination: never retried.
    Refused(String),
    /// Retrying cannot help (the body is too large).
    Fatal(String),
    /// A connection error or a timeout: retried.
    Transient(String),
}

impl Failure {
    /// What went wrong, told from reqwest's error chain: the guard's refusal, or a short
    /// description of the connection error.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Failure {
        let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
        let mut innermost: &(dyn StdError + 'static) = &err;
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return Failure::Refused(refusal.0.clone());
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                match io.kind() {
                    ConnectionRefused => return Failure::Transient("connection refused".into()),
                    ConnectionReset => return Failure::Transient("connection reset".into()),
                    TimedOut => return Failure::Transient("connection timed out".into()),
                    _ => {}
                }
            }
            innermost = e;
            source = e.source();
        }
        let what = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "cannot connect"
        } else if err.is_body() || err.is_decode() {
            "cannot read the response"
        } else {
            "request failed"
        };
        if std::ptr::addr_eq(innermost, &err) {
            Failure::Transient(what.to_owned())
        } else {
            Failure::Transient(format!("{what}: {innermost}"))
        }
    }
}

/// Whether an answer with this status is worth another attempt.
fn retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// The wait a `429`/`503` asks for in `Retry-After` (whole seconds), capped at
/// [`MAX_RETRY_AFTER`]. HTTP dates and other statuses give `None`.
fn retry_after(status: u16, headers: &[(String, String)]) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS.as_u16()
        && status != StatusCode::SERVICE_UNAVAILABLE.as_u16()
    {
        return None;
    }
    let (_, value) = headers.iter().find(|(name, _)| name == RETRY_AFTER.as_str())?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// The wait after failed attempt number `attempt` (from 1): `base * 2^(attempt - 1)`.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
    base.saturating_mul(factor)
}

/// `d` as `10s` (whole seconds) or `200ms`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// Why `ip` is refused under [`NetworkPolicy::PublicOnly`] ("loopback", "private", ...), or
/// `None` for a public address. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`)
/// IPv6 addresses are judged by the IPv4 address inside.
pub fn refused_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return refused_v4(Ipv4Addr::new(a, b, c, d));
    }
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unique_local() {
        Some("private")
    } else if ip.is_unicast_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Resolves names for the connector, dropping the addresses the policy refuses.
struct GuardedResolver {
    policy: NetworkPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy == NetworkPolicy::AllowPrivate {
                return Ok(Box::new(resolved.into_iter()) as Addrs);
            }
            let mut first_refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match refused_kind(addr.ip()) {
                    Some(kind) => {
                        first_refused.get_or_insert((addr.ip(), kind));
                        false
                    }
                    None => true,
                })
                .collect();
            if let (true, Some((ip, kind))) = (allowed.is_empty(), first_refused) {
                return Err(Box::new(Refusal(format!(
                    "{host} resolves to {ip}, {} {kind} address; allow private networks to call it",
                    article(kind)
                ))) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug)]
struct Refusal(String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Refusal {}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// What the test server does with the n-th request (the last entry repeats).
    #[derive(Clone)]
    enum Script {
        Reply(String),
        /// Reads the request and never answers.
        Hang,
    }

    fn respond(status: &str, headers: &[(&str, &str)], body: &str) -> Script {
        let mut raw = format!("HTTP/1.1 {status}\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()));
        Script::Reply(raw)
    }

    /// A raw HTTP/1.1 server on loopback that records each request with its arrival time.
    struct Server {
        port: u16,
        requests: Arc<Mutex<Vec<(Instant, String)>>>,
    }

    impl Server {
        async fn start(script: Vec<Script>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let seen = Arc::clone(&requests);
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let seen = Arc::clone(&seen);
                    let script = script.clone();
                    tokio::spawn(async move {
                        let mut stream = stream;
                        let Some(request) = read_request(&mut stream).await else {
                            return;
                        };
                        let n = {
                            let mut seen = seen.lock().unwrap();
                            seen.push((Instant::now(), request));
                            seen.len() - 1
                        };
                        match &script[n.min(script.len() - 1)] {
                            Script::Reply(raw) => {
                                let _ = stream.write_all(raw.as_bytes()).await;
                                let _ = stream.shutdown().await;
                            }
                            Script::Hang => std::future::pending::<()>().await,
                        }
                    });
                }
            });
            Server { port, requests }
        }

        fn url(&self, host: &str, path: &str) -> String {
            format!("http://{host}:{}{path}", self.port)
        }

        fn requests(&self) -> Vec<(Instant, String)> {
            self.requests.lock().unwrap().clone()
        }
    }

    /// Reads one request (head and `content-length` body) as text.
    async fn read_request(stream: &mut TcpStream) -> Option<String> {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if data.len() >= end + 4 + len {
                    return Some(String::from_utf8_lossy(&data).into_owned());
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn get(url: String) -> HttpCall {
        HttpCall {
            method: "GET".into(),
            url,
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(10),
            retries: 0,
            backoff: Duration::from_millis(10),
        }
    }

    fn client(policy: NetworkPolicy) -> ReqwestClient {
        ReqwestClient::new(policy).unwrap()
    }

    #[tokio::test]
    async fn sends_method_headers_and_body_and_returns_the_reply() {
        let server = Server::start(vec![respond(
            "201 Created",
            &[("X-Trace", "abc"), ("Content-Type", "application/json")],
            r#"{"ok":true}"#,
        )])
        .await;
        let call = HttpCall {
            method: "POST".into(),
            headers: vec![("X-Api-Key".into(), "k1".into())],
            body: Some(b"hello".to_vec()),
            ..get(server.url("127.0.0.1", "/orders?x=1"))
        };
        let reply = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.attempts, 1);
        assert_eq!(reply.body, br#"{"ok":true}"#);
        assert!(reply.headers.contains(&("x-trace".into(), "abc".into())));
        assert!(reply.headers.contains(&("content-type".into(), "application/json".into())));

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0].1;
        assert!(request.starts_with("POST /orders?x=1 HTTP/1.1\r\n"), "{request}");
        assert!(request.to_lowercase().contains("x-api-key: k1\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\nhello"), "{request}");
    }

    #[tokio::test]
    async fn public_only_refuses_loopback_literals_and_names() {
        let server = Server::start(vec![respond("200 OK", &[], "")]).await;
        let client = client(NetworkPolicy::PublicOnly);

        let err = client.send(get(server.url("127.0.0.1", "/"))).await.unwrap_err();
        assert_eq!(
            err,
            HttpError::Refused(
                "127.0.0.1 is a loopback address; allow private networks to call it".into()
            )
        );

        let err = client.send(get(server.url("[::ffff:127.0.0.1]", "/"))).await.unwrap_err();
        assert!(matches!(err, HttpError::Refused(_)), "{err:?}");

        let call = HttpCall { retries: 3, ..get(server.url("localhost", "/")) };
        let HttpError::Refused(message) = client.send(call).await.unwrap_err() else {
            panic!("localhost was not refused");
        };
        assert!(message.starts_with("localhost resolves to "), "{message}");
        assert!(
            message.ends_with(", a loopback address; allow private networks to call it"),
            "{message}"
        );
        assert!(server.requests().is_empty());
    }

    #[tokio::test]
    async fn allow_private_reaches_loopback_by_name() {
        let server = Server::start(vec![respond("200 OK", &[], "hi")]).await;
        let reply = client(NetworkPolicy::AllowPrivate)
            .send(get(server.url("localhost", "/")))
            .await
            .unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"hi"[..]));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn retries_5xx_with_doubling_backoff_then_succeeds() {
        let server = Server::start(vec![
            respond("503 Service Unavailable", &[], ""),
            respond("500 Internal Server Error", &[], ""),
            respond("200 OK", &[], "done"),
        ])
        .await;
        let call = HttpCall {
            retries: 5,
            backoff: Duration::from_millis(50),
            ..get(server.url("127.0.0.1", "/"))
        };
        let reply = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap();
        assert_eq!((reply.status, reply.attempts), (200, 3));
        let times: Vec<Instant> = server.requests().iter().map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 3);
        assert!(times[1] - times[0] >= Duration::from_millis(50));
        assert!(times[2] - times[1] >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn returns_the_last_reply_when_retries_run_out_and_never_retries_4xx() {
        let server = Server::start(vec![respond("502 Bad Gateway", &[], "down")]).await;
        let call = HttpCall {
            retries: 2,
            backoff: Duration::from_millis(1),
            ..get(server.url("127.0.0.1", "/"))
        };
        let client = client(NetworkPolicy::AllowPrivate);
        let reply = client.send(call).await.unwrap();
        assert_eq!((reply.status, reply.attempts), (502, 3));
        assert_eq!(reply.body, b"down");

        let server = Server::start(vec![respond("404 Not Found", &[], "")]).await;
        let call = HttpCall { retries: 2, ..get(server.url("127.0.0.1", "/")) };
        let reply = client.send(call).await.unwrap();
        assert_eq!((reply.status, reply.attempts), (404, 1));
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn honours_retry_after_on_429() {
        let server = Server::start(vec![
            respond("429 Too Many Requests", &[("Retry-After", "1")], ""),
            respond("200 OK", &[], ""),
        ])
        .await;
        let call = HttpCall {
            retries: 1,
            backoff: Duration::from_millis(1),
            ..get(server.url("127.0.0.1", "/"))
        };
        let reply = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap();
        assert_eq!((reply.status, reply.attempts), (200, 2));
        let times: Vec<Instant> = server.requests().iter().map(|(t, _)| *t).collect();
        assert!(times[1] - times[0] >= Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_read_on_429_and_503_only_and_capped() {
        let h = |v: &str| vec![("retry-after".to_owned(), v.to_owned())];
        assert_eq!(retry_after(503, &h("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(429, &h(" 0 ")), Some(Duration::ZERO));
        assert_eq!(retry_after(429, &h("3600")), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(500, &h("2")), None);
        assert_eq!(retry_after(503, &h("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(503, &[]), None);
        assert_eq!(backoff(Duration::from_millis(100), 1), Duration::from_millis(100));
        assert_eq!(backoff(Duration::from_millis(100), 4), Duration::from_millis(800));
        assert_eq!(backoff(Duration::from_secs(1), 200), Duration::from_secs(u32::MAX.into()));
    }

    #[tokio::test]
    async fn timeouts_fail_after_every_attempt() {
        let server = Server::start(vec![Script::Hang]).await;
        let call = HttpCall {
            timeout: Duration::from_millis(200),
            retries: 1,
            backoff: Duration::from_millis(1),
            ..get(server.url("127.0.0.1", "/"))
        };
        let err = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap_err();
        assert_eq!(err, HttpError::Failed { attempts: 2, message: "timed out after 200ms".into() });
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn connection_refused_fails_after_every_attempt() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let call = HttpCall {
            retries: 2,
            backoff: Duration::from_millis(1),
            ..get(format!("http://127.0.0.1:{port}/"))
        };
        let err = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap_err();
        assert_eq!(err, HttpError::Failed { attempts: 3, message: "connection refused".into() });
    }

    #[tokio::test]
    async fn bodies_over_the_limit_fail_without_retrying() {
        let body = "x".repeat(100);
        let server = Server::start(vec![respond("500 Internal Server Error", &[], &body)]).await;
        let call = HttpCall { retries: 3, ..get(server.url("127.0.0.1", "/")) };
        let err = client(NetworkPolicy::AllowPrivate)
            .with_max_body_bytes(16)
            .send(call)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            HttpError::Failed {
                attempts: 1,
                message: "response body is larger than 16 bytes".into()
            }
        );
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_called() {
        let client = client(NetworkPolicy::AllowPrivate);
        for url in ["ftp://example.com/x", "file:///etc/passwd", "not a url", ""] {
            let err = client.send(get(url.into())).await.unwrap_err();
            assert!(matches!(err, HttpError::InvalidUrl(_)), "{url}: {err:?}");
        }
    }

    #[tokio::test]
    async fn invalid_headers_are_not_sent() {
        let call = HttpCall {
            headers: vec![("bad name".into(), "v".into())],
            ..get("http://127.0.0.1:9/".into())
        };
        let err = client(NetworkPolicy::AllowPrivate).send(call).await.unwrap_err();
        assert_eq!(
            err,
            HttpError::Failed { attempts: 0, message: "invalid header name `bad name`".into() }
        );
    }

    #[test]
    fn classifies_addresses() {
        let cases: &[(&str, Option<&str>)] = &[
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("192.169.0.1", None),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("10.0.0.5", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("100.64.0.1", Some("shared (carrier-grade NAT)")),
            ("100.127.255.255", Some("shared (carrier-grade NAT)")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("2606:4700:4700::1111", None),
            ("2001:4860:4860::8888", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fc00::1", Some("private")),
            ("fd12:3456::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("ff02::1", Some("multicast")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.5", Some("private")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("64:ff9b::a00:5", Some("private")),
        ];
        for (ip, want) in cases {
            let got = refused_kind(ip.parse().unwrap());
            assert_eq!(got, *want, "{ip}");
        }
    }

    #[test]
    fn refusal_messages_read_well() {
        assert_eq!(article("unspecified"), "an");
        assert_eq!(article("private"), "a");
    }
}

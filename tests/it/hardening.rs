//! `hookflow serve` against hostile clients over real sockets, with short limits given as
//! options: heads sent a byte at a time are cut off at the header timeout while other calls are
//! answered, an oversized header block gets `431`, a body that stops coming gets `408` at the
//! body timeout, an idle kept-alive connection is closed, the connection cap holds new
//! connections back until others close, and SIGTERM still lets a request in flight finish.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::harness::{ADMIN_TOKEN, Served, flow};

/// An answering flow at `/hooks/echo`.
fn echo() -> Vec<(&'static str, String)> {
    let hook = r#""suffix": "/echo", "auth": { "type": "none" }"#;
    vec![("echo.json", flow("echo", true, hook, r#""status": 200, "body": { "ok": true }"#))]
}

/// `hookflow serve` on [`echo`] with `limits` as options.
fn serve(limits: &[&str]) -> Served {
    Served::with_flows(&echo(), limits)
}

/// `host:port` of an `http://host:port` base.
fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// What the server sends on `stream` until it closes the connection (or resets it, or `within`
/// passes), and when that happened: the bytes and whether the end was a close.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn hardening_heads_sent_a_byte_at_a_time_are_cut_off_while_calls_are_answered() {
    let s = serve(&["--header-timeout", "1s", "--body-timeout", "2s"]);
    let (hooks, admin) = (addr(&s.hooks), addr(&s.admin));
    let head = b"POST /hooks/echo HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut slow = JoinSet::new();
    for i in 0..200 {
        // Most on the webhook listener, some on the admin listener.
        let to = if i % 10 == 0 { admin.clone() } else { hooks.clone() };
        slow.spawn(async move {
            let mut stream = TcpStream::connect(&to).await.expect("connect");
            let start = Instant::now();
            let mut buf = [0u8; 256];
            // A byte every 300 ms, at most one head's worth (about 30 s): cut off means the
            // server closed or reset the connection.
            for byte in head {
                if stream.write_all(&[*byte]).await.is_err() {
                    return Some(start.elapsed());
                }
                match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await
                {
                    Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
                    Ok(Ok(n)) => panic!("an answer to half a head: {:?}", &buf[..n]),
                    Err(_) => {}
                }
            }
            None
        });
    }
    // Meanwhile, ordinary calls are answered, and fast.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let sent = Instant::now();
        let r = client.post(s.hook("/echo")).send().await.expect("an answer");
        let latency = sent.elapsed();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(latency < Duration::from_millis(500), "answered in {latency:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut cut = Vec::new();
    while let Some(joined) = slow.join_next().await {
        cut.push(joined.expect("a slow client").expect("cut off before the head was sent"));
    }
    let (first, last) = (cut.iter().min().copied(), cut.iter().max().copied());
    assert_eq!(cut.len(), 200);
    assert!(first.is_some_and(|t| t >= Duration::from_millis(900)), "first cut at {first:?}");
    assert!(last.is_some_and(|t| t <= Duration::from_millis(2000)), "last cut at {last:?}");
    s.stop();
}

#[tokio::test]
async fn hardening_an_oversized_header_block_is_431() {
    let s = serve(&["--max-header-bytes", "16384"]);
    let mut stream = TcpStream::connect(addr(&s.hooks)).await.expect("connect");
    let mut request = b"POST /hooks/echo HTTP/1.1\r\nhost: x\r\n".to_vec();
    // 200 KB in 50 headers (under the count limit of 100).
    for i in 0..50 {
        request.extend_from_slice(format!("x-big-{i}: {}\r\n", "a".repeat(4000)).as_bytes());
    }
    request.extend_from_slice(b"content-length: 0\r\n\r\n");
    // The server may stop reading (and close) before all 200 KB are written.
    let _ = stream.write_all(&request).await;
    let (answer, closed) = read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{answer:?}");
    assert!(closed, "the connection is closed after the 431");
    drop(stream);
    // Under the limit is fine.
    let r = s.client.post(s.hook("/echo")).header("x-big", "a".repeat(8000)).send().await;
    assert_eq!(r.expect("an answer").status(), StatusCode::OK);
    s.stop();
}

#[tokio::test]
async fn hardening_a_body_that_stops_coming_is_408_at_the_body_timeout_on_both_listeners() {
    let s = serve(&["--header-timeout", "1s", "--body-timeout", "2s"]);
    let admin_head = format!(
        "POST /api/credentials HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    );
    let hooks_head = "POST /hooks/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                      content-length: 1000\r\n\r\n";
    for (listener, head) in [(&s.hooks, hooks_head.to_owned()), (&s.admin, admin_head)] {
        let mut stream = TcpStream::connect(addr(listener)).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send the head");
        let sent = Instant::now();
        stream.write_all(b"{\"a\": \"123").await.expect("send 10 bytes");
        let (answer, closed) = read_to_close(&mut stream, Duration::from_secs(6)).await;
        let after = sent.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{listener}: {answer:?}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        assert!(answer.contains(r#""status":408"#), "{answer}");
        assert!(closed, "the connection is closed after the 408");
        assert!(after >= Duration::from_millis(1900), "answered after {after:?}");
        assert!(after <= Duration::from_millis(3000), "answered after {after:?}");
    }
    s.stop();
}

#[tokio::test]
async fn hardening_an_idle_kept_alive_connection_is_closed() {
    let s = serve(&["--header-timeout", "5s", "--idle-timeout", "1s"]);
    let mut stream = TcpStream::connect(addr(&s.hooks)).await.expect("connect");
    stream
        .write_all(b"POST /hooks/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("send a request");
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let answered = Instant::now();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&buf));
    let (rest, closed) = read_to_close(&mut stream, Duration::from_secs(4)).await;
    let idle = answered.elapsed();
    assert!(closed && rest.is_empty(), "{rest:?}");
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");
    assert!(idle <= Duration::from_millis(2000), "closed after {idle:?}");
    s.stop();
}

#[tokio::test]
async fn hardening_beyond_the_connection_cap_new_connections_wait_until_others_close() {
    let s = serve(&["--max-connections", "50", "--header-timeout", "20s"]);
    let hooks = addr(&s.hooks);
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(&hooks).await.expect("connect"));
    }
    // The 51st connects (the kernel's backlog) but is not served while 50 are open.
    let mut extra = TcpStream::connect(&hooks).await.expect("connect the 51st");
    extra
        .write_all(b"POST /hooks/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("send a request");
    let mut buf = [0u8; 4096];
    let held = tokio::time::timeout(Duration::from_secs(1), extra.read(&mut buf)).await;
    assert!(held.is_err(), "the 51st connection was served: {held:?}");
    // Once some close, it is.
    let closed = Instant::now();
    idle.truncate(45);
    let n = tokio::time::timeout(Duration::from_secs(3), extra.read(&mut buf))
        .await
        .expect("served once others closed")
        .expect("an answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&buf));
    assert!(closed.elapsed() < Duration::from_millis(500), "served after {:?}", closed.elapsed());
    let r = s.client.post(s.hook("/echo")).send().await.expect("an answer");
    assert_eq!(r.status(), StatusCode::OK);
    drop((idle, extra));
    s.stop();
}

#[tokio::test]
async fn hardening_sigterm_lets_the_request_in_flight_finish() {
    let s = serve(&["--body-timeout", "10s"]);
    let mut stream = TcpStream::connect(addr(&s.hooks)).await.expect("connect");
    let head = "POST /hooks/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                content-length: 13\r\n\r\n{\"a\": ";
    stream.write_all(head.as_bytes()).await.expect("send half a request");
    let mut idle = TcpStream::connect(addr(&s.hooks)).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::task::spawn_blocking(move || s.stop_within(Duration::from_secs(8)));
    // The shutdown closes the idle connection at once, and waits for the call in flight.
    let (rest, closed) = read_to_close(&mut idle, Duration::from_secs(3)).await;
    assert!(closed && rest.is_empty(), "{rest:?}");
    stream.write_all(b"\"done\"}").await.expect("send the rest");
    let (answer, closed) = read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(closed, "the connection is closed after the answer");
    let log = stopping.await.expect("hookflow serve stops");
    assert!(log.iter().any(|line| line.contains("shutting down")), "{log:#?}");
}

//! The HTTP/1.1 serving loop of both listeners, with the limits that keep a hostile client from
//! holding connections: a deadline for each request's head ([`Limits::header_timeout`]) and body
//! ([`Limits::body_timeout`]), for a kept-alive connection between requests
//! ([`Limits::idle_timeout`]), a cap on the header block's size ([`Limits::max_header_bytes`],
//! answered `431`) and on the connections open at once ([`Limits::max_connections`]: at the cap,
//! accepting waits until one closes, so new connections wait in the listen backlog). A shutdown
//! stops accepting, closes idle connections and waits for the requests in flight.

use std::error::Error;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body as AxumBody;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::rt::{Sleep, Timer};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// The smallest read buffer hyper accepts; a smaller header limit is checked once the head is
/// parsed.
const MIN_BUF: usize = 8192;
/// How long accepting pauses after an error other than a connection's own (out of file
/// descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// What a listener allows each client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's head (request line and headers) must be complete this long after the
    /// connection opened or, on a kept-alive connection, after its first byte came; else the
    /// connection is closed.
    pub header_timeout: Duration,
    /// A request's body must be complete this long after its head; else the call is answered
    /// `408` (webhooks) and the connection closed.
    pub body_timeout: Duration,
    /// A kept-alive connection is closed when no next request starts this long after the
    /// previous one was answered.
    pub idle_timeout: Duration,
    /// The largest header block, request line included; a longer one is answered `431`.
    pub max_header_bytes: usize,
    /// Connections open at once; at the cap, accepting waits until one closes.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
        }
    }
}

/// Why reading a request body failed: it was not complete within [`Limits::body_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {}", humantime::format_duration(*.0))]
pub struct BodyTimeout(Duration);

/// Whether `error`, or an error it wraps, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(error), |&e| e.source()).any(|e| e.is::<BodyTimeout>())
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops accepting,
/// lets each connection finish the request it is serving, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection; pausing");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let connection = connection(stream, app.clone(), limits, &graceful);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An error that ends only the connection being accepted.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Serves one connection with `app`: each request's body timed, the head's deadline kept by a
/// [`HeadTimer`] that the [`Watched`] stream tells when a head's first byte came.
fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    graceful: &GracefulShutdown,
) -> impl Future<Output = hyper::Result<()>> + Send + 'static {
    let clock = Arc::new(Mutex::new(HeadClock {
        heads: 0,
        since: Instant::now(),
        first_byte: None,
        header: limits.header_timeout,
        idle: limits.idle_timeout,
    }));
    let mut builder = http1::Builder::new();
    builder
        .timer(HeadTimer(clock.clone()))
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_BUF))
        .max_header_size(limits.max_header_bytes);
    // Handlers see the peer as axum's `ConnectInfo` (routes' `allow_ips` and rate limits).
    let peer = stream.peer_addr().ok();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| {
            AxumBody::new(Timed {
                body,
                deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
                limit: limits.body_timeout,
            })
        });
        if let Some(peer) = peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        app.clone().oneshot(request)
    });
    graceful.watch(builder.serve_connection(TokioIo::new(Watched { stream, clock }), service))
}

/// When the head being read must be complete.
#[derive(Debug)]
struct HeadClock {
    /// Heads waited for on this connection, this one included.
    heads: u64,
    /// When the wait for this head started.
    since: Instant,
    /// When this head's first byte came, if it did.
    first_byte: Option<Instant>,
    header: Duration,
    idle: Duration,
}

impl HeadClock {
    /// The first head within the header timeout of the connection's start; a later one within
    /// the header timeout of its first byte, which must come within the idle timeout.
    fn deadline(&self) -> Instant {
        match self.first_byte {
            _ if self.heads <= 1 => self.since + self.header,
            Some(first) => first + self.header,
            None => self.since + self.idle,
        }
    }
}

fn lock(clock: &Mutex<HeadClock>) -> std::sync::MutexGuard<'_, HeadClock> {
    clock.lock().unwrap_or_else(PoisonError::into_inner)
}

/// hyper's timer for a connection's header read timeout, which it starts whenever it waits for
/// a head: the sleep it gets ends at the [`HeadClock`]'s deadline.
struct HeadTimer(Arc<Mutex<HeadClock>>);

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        TokioTimer::new().sleep(duration)
    }

    fn sleep_until(&self, _: Instant) -> Pin<Box<dyn Sleep>> {
        let armed = {
            let mut clock = lock(&self.0);
            clock.heads += 1;
            clock.since = Instant::now();
            clock.first_byte = None;
            clock.deadline()
        };
        let sleep = Box::pin(tokio::time::sleep_until(armed.into()));
        Box::pin(HeadSleep { clock: self.0.clone(), sleep, armed })
    }
}

/// Ends at the [`HeadClock`]'s deadline, which moves when the head's first byte comes.
struct HeadSleep {
    clock: Arc<Mutex<HeadClock>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: Instant,
}

impl Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = lock(&self.clock).deadline();
        if deadline != self.armed {
            self.armed = deadline;
            self.sleep.as_mut().reset(deadline.into());
        }
        self.sleep.as_mut().poll(cx)
    }
}

/// A connection's stream, noting in its [`HeadClock`] when bytes come.
struct Watched {
    stream: TcpStream,
    clock: Arc<Mutex<HeadClock>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            lock(&self.clock).first_byte.get_or_insert_with(Instant::now);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request body that fails with [`BodyTimeout`] once its deadline passes unfinished.
struct Timed {
    body: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Body for Timed {
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        ready!(self.deadline.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimeout(self.limit)))))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_head_is_timed_from_the_start_and_later_ones_from_their_first_byte() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut clock = HeadClock {
            heads: 1,
            since: start,
            first_byte: Some(start + second),
            header: 10 * second,
            idle: 60 * second,
        };
        assert_eq!(clock.deadline(), start + 10 * second);
        clock.heads = 2;
        clock.first_byte = None;
        assert_eq!(clock.deadline(), start + 60 * second);
        clock.first_byte = Some(start + 5 * second);
        assert_eq!(clock.deadline(), start + 15 * second);
    }

    #[test]
    fn a_wrapped_body_timeout_is_recognised() {
        let inner: Box<dyn Error + Send + Sync> = Box::new(BodyTimeout(Duration::from_secs(2)));
        let wrapped = axum::Error::new(inner);
        assert!(is_body_timeout(&wrapped));
        assert!(!is_body_timeout(&std::io::Error::other("reset")));
        assert_eq!(wrapped.to_string(), "the request body was not received within 2s");
    }
}

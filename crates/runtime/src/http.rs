//! The public HTTP server, hardened against slow and greedy clients.
//!
//! `axum::serve` runs hyper without a timer: a client may send its headers
//! one byte a minute, or keep any number of idle connections open, forever.
//! [`serve`] runs the same router with:
//! - a **header-read timeout**: a request head must arrive whole within it
//!   (hyper starts the clock when the connection waits for a request, so it
//!   also ends a keep-alive connection that never sends its next one);
//! - an **idle timeout**: a connection with no request in flight and no bytes
//!   moving for that long is closed (HTTP/1 and HTTP/2 alike);
//! - a **connection limit**: past it the listener stops accepting, and new
//!   clients wait in the kernel's backlog until a connection closes;
//! - a graceful drain: on `shutdown` it stops accepting and lets every open
//!   connection finish its requests (the caller bounds how long).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::config::{ConfigError, Env};

/// Marks a response that must not be sent: the connection is cut instead
/// (an `abort` fault of [`crate::chaos`]).
#[derive(Debug, Clone, Copy)]
pub struct Abort;

/// How the public HTTP server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a whole request head (`HTTP_HEADER_READ_TIMEOUT_SECONDS`, default 10).
    pub header_read_timeout: Duration,
    /// Longest a connection may sit with nothing in flight
    /// (`HTTP_IDLE_TIMEOUT_SECONDS`, default 60).
    pub idle_timeout: Duration,
    /// Most connections open at once (`MAX_CONNECTIONS`, default 10,000).
    pub max_connections: usize,
}

impl HttpLimits {
    /// Reads the limits; a bad or zero value is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let positive = |var: &str, default: u64| -> Result<u64, ConfigError> {
            let value = env.parse_or(var, default)?;
            if value == 0 {
                return Err(ConfigError {
                    var: var.into(),
                    message: "must be at least 1".into(),
                });
            }
            Ok(value)
        };
        Ok(Self {
            header_read_timeout: Duration::from_secs(positive(
                "HTTP_HEADER_READ_TIMEOUT_SECONDS",
                10,
            )?),
            idle_timeout: Duration::from_secs(positive("HTTP_IDLE_TIMEOUT_SECONDS", 60)?),
            max_connections: usize::try_from(positive("MAX_CONNECTIONS", 10_000)?)
                .unwrap_or(usize::MAX),
        })
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes,
/// then drains the open connections. Each request carries the peer's
/// [`ConnectInfo<SocketAddr>`].
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (io, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let activity = Activity::new();
        let service = {
            let (app, activity) = (app.clone(), activity.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = activity.enter();
                let response = app.clone().oneshot(request.map(axum::body::Body::new));
                async move {
                    let response = response
                        .await
                        .unwrap_or_else(|never: Infallible| match never {});
                    drop(in_flight);
                    if response.extensions().get::<Abort>().is_some() {
                        // An error out of the service: hyper drops the connection unanswered.
                        return Err(std::io::Error::other("injected fault: abort"));
                    }
                    Ok(response)
                }
            })
        };
        let io = TokioIo::new(Tracked {
            inner: io,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                // Errors of one connection (a reset, a timed-out head) end it alone.
                _ = connection => {}
                () = activity.idle_for(idle_timeout) => {}
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What one connection is doing: requests in flight and when bytes last moved.
#[derive(Debug, Clone)]
struct Activity {
    /// Shared counters.
    inner: Arc<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests whose response is not ready yet.
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last read or write.
    last_io_millis: AtomicU64,
    /// When the connection was accepted.
    epoch: Instant,
}

/// Marks one request in flight while it lives.
struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            inner: Arc::new(ActivityState {
                in_flight: AtomicUsize::new(0),
                last_io_millis: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    fn enter(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn touch(&self) {
        let now = u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.last_io_millis.store(now, Ordering::Release);
    }

    /// Completes once the connection has been idle for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = Duration::from_millis(self.inner.last_io_millis.load(Ordering::Acquire));
            let idle = self.inner.epoch.elapsed().saturating_sub(last);
            if idle >= timeout && self.inner.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            // Check again when the connection could first be idle long enough.
            tokio::time::sleep(timeout.saturating_sub(idle).max(Duration::from_millis(50))).await;
        }
    }
}

/// A connection's stream, noting each read and write in its [`Activity`].
struct Tracked<T> {
    /// The stream.
    inner: T,
    /// Where each read and write is noted.
    activity: Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

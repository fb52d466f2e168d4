//! Handlers that run to the end even when their caller goes away.
//!
//! tonic drops a handler's future when the client resets the stream (a
//! caller killed or timed out) or when the request's deadline passes. A
//! future dropped between two SQL statements leaves work half done, and one
//! dropped while a statement is in flight can hand its connection back to
//! the pool inside an open transaction, where the next request's writes
//! are silently never committed. `crates/shop/tests/faults.rs` saw both
//! (an order's lines refused because its row was not visible). Running
//! every request on its own task makes cancellation impossible: the caller
//! may stop waiting, but the handler finishes, commits or rolls back, and
//! returns its connection clean. The saga's idempotency keys make the
//! caller's retry meet the finished work.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a service in [`Detach`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DetachLayer;

impl<S> tower::Layer<S> for DetachLayer {
    type Service = Detach<S>;

    fn layer(&self, inner: S) -> Detach<S> {
        Detach { inner }
    }
}

/// Runs each call of the inner service on a task of its own; dropping the
/// returned future only stops waiting for it.
#[derive(Debug, Clone)]
pub struct Detach<S> {
    /// The handlers.
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower::Service<R> for Detach<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let task = tokio::spawn(self.inner.call(request));
        Box::pin(async move {
            match task.await {
                Ok(result) => result,
                // A panicking handler panics here, as it would have without
                // the task, so the layers above handle it the same way.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => panic!("request task cancelled: the runtime is shutting down"),
            }
        })
    }
}

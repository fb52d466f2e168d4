//! Handlers that run to the end even when their caller goes away.
//!
//! tonic drops a handler's future when the client resets the stream (a
//! caller killed or timed out) or when the request's deadline passes. A
//! future dropped between two SQL statements leaves work half done, and one
//! dropped while a statement is in flight can hand its connection back to
//! the pool inside an open transaction, where the next request's writes
//! are silently never committed. `tests/faults.rs` saw both
//! (an order's lines refused because its row was not visible). Running
//! every request on its own task makes cancellation impossible: the caller
//! may stop waiting, but the handler finishes, commits or rolls back, and
//! returns its connection clean. The saga's idempotency keys make the
//! caller's retry meet the finished work.

//!
//! A handler is not left to run forever either: past its deadline (longer
//! than the server's request timeout, so its caller has long had an answer)
//! it is stopped and logged. With `statement_timeout` and `lock_timeout` on
//! every pool ([`crate::db`]), a handler rarely gets there; sqlx rolls back a
//! transaction whose future is dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Wraps a service in [`Detach`].
#[derive(Debug, Clone, Copy)]
pub struct DetachLayer {
    /// How long a handler may run.
    deadline: Duration,
}

impl DetachLayer {
    /// Detached handlers that are stopped after `deadline`.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }
}

impl<S> tower::Layer<S> for DetachLayer {
    type Service = Detach<S>;

    fn layer(&self, inner: S) -> Detach<S> {
        Detach {
            inner,
            deadline: self.deadline,
        }
    }
}

/// Runs each call of the inner service on a task of its own; dropping the
/// returned future only stops waiting for it. A call still running after
/// the deadline is stopped and answers DEADLINE_EXCEEDED.
#[derive(Debug, Clone)]
pub struct Detach<S> {
    /// The handlers.
    inner: S,
    /// How long a handler may run.
    deadline: Duration,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, R> tower::Service<R> for Detach<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let deadline = self.deadline;
        let handler = self.inner.call(request);
        let task = tokio::spawn(async move {
            match tokio::time::timeout(deadline, handler).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => {
                    tracing::warn!(?deadline, "handler ran past its deadline; stopped");
                    Err(Box::new(tonic::Status::deadline_exceeded(
                        "the request took too long",
                    )) as BoxError)
                }
            }
        });
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

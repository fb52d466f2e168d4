//! Shutdown: the signals that start it, and the bounded drain every
//! component runs when they arrive.
//!
//! A [`Drain`] hands each server a future ([`Drain::signal`]) that completes
//! when the drain starts; the server then stops accepting and lets what is
//! open finish. [`Drain::start`] starts it and returns the [`Grace`]: the
//! servers get until the end of the grace period (`SHUTDOWN_GRACE_SECONDS`),
//! then whatever is still open is closed. [`Serving::run_until`] is the
//! one sequence every component (each gRPC service and the gateway) runs.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

/// Completes on SIGTERM or Ctrl-C (SIGINT), whichever comes first.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Time a last step (the admin server's stop, the pool's close) still gets
/// when the grace period is already over.
pub(crate) const LAST_STEP: Duration = Duration::from_millis(100);

/// The drain of one component's servers.
#[derive(Debug)]
pub struct Drain {
    component: &'static str,
    started: watch::Sender<bool>,
}

impl Drain {
    /// A drain not yet started; `component` names it in the logs.
    pub fn new(component: &'static str) -> Self {
        Self {
            component,
            started: watch::Sender::new(false),
        }
    }

    /// Completes once the drain has started: the shutdown future to hand a
    /// server.
    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut started = self.started.subscribe();
        async move {
            let _ = started.wait_for(|started| *started).await;
        }
    }

    /// Starts the drain: every [`signal`](Self::signal) completes, and the
    /// servers have `grace` from now.
    pub fn start(&self, grace: Duration) -> Grace {
        self.started.send_replace(true);
        tracing::info!(service = self.component, ?grace, "draining");
        Grace {
            component: self.component,
            deadline: Instant::now() + grace,
        }
    }
}

/// The end of a started drain.
#[derive(Debug, Clone, Copy)]
pub struct Grace {
    component: &'static str,
    deadline: Instant,
}

impl Grace {
    /// Waits for `server` until the grace period is over, then stops it:
    /// `None` when it had to be stopped.
    pub async fn wait<T>(&self, server: &mut JoinHandle<T>) -> Option<Result<T, JoinError>> {
        match tokio::time::timeout_at(self.deadline, &mut *server).await {
            Ok(result) => Some(result),
            Err(_) => {
                tracing::warn!(
                    service = self.component,
                    "drain exceeded the grace period; closing what is still open"
                );
                server.abort();
                None
            }
        }
    }

    /// Runs a last step until the grace period is over, or for
    /// [`LAST_STEP`] when it already is: `None` when it did not finish.
    pub async fn last_step<F: Future>(&self, step: F) -> Option<F::Output> {
        let by = self.deadline.max(Instant::now() + LAST_STEP);
        tokio::time::timeout_at(by, step).await.ok()
    }
}

/// A component's running tasks: its main server, its admin server and the
/// probe that keeps its readiness current, with the drain they share.
#[derive(Debug)]
pub struct Serving<S> {
    /// Names the component in the logs.
    pub component: &'static str,
    /// The drain whose [`Drain::signal`] both servers were given.
    pub drain: Drain,
    /// What `/readyz` (and gRPC health) report.
    pub readiness: crate::server::admin::Readiness,
    /// The main server: gRPC, or the gateway's HTTP.
    pub server: JoinHandle<Result<(), S>>,
    /// The admin server.
    pub admin: JoinHandle<std::io::Result<()>>,
    /// The readiness probe (database, or the gateway's backends).
    pub probe: JoinHandle<()>,
}

impl<S> Serving<S> {
    /// Runs until `shutdown` completes, then drains: stop advertising
    /// (readiness draining, then `unadvertise`, e.g. gRPC health), stop
    /// accepting and let open requests finish within `grace`, stop the
    /// admin server, and run `last` (closing the pool) within what is left.
    /// Both futures must do nothing before they are first polled (an
    /// `async` block), as they are made before the run starts.
    /// A server that stops on its own ends the run with its result.
    pub async fn run_until<E>(
        mut self,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
        unadvertise: impl Future<Output = ()>,
        last: impl Future<Output = ()>,
    ) -> Result<(), E>
    where
        E: From<S> + From<std::io::Error>,
    {
        let component = self.component;
        tracing::info!(service = component, "serving");
        tokio::select! {
            () = shutdown => {}
            // The server stopped on its own: report why.
            result = &mut self.server => {
                self.probe.abort();
                self.admin.abort();
                return match result {
                    Ok(result) => result.map_err(E::from),
                    Err(join) => Err(E::from(std::io::Error::other(join))),
                };
            }
        }
        // Stop advertising first, then stop accepting, then drain.
        // Everything below ends within the grace.
        self.probe.abort();
        self.readiness.set_draining();
        unadvertise.await;
        let grace = self.drain.start(grace);
        match grace.wait(&mut self.server).await {
            Some(Ok(result)) => result?,
            Some(Err(join)) => {
                tracing::error!(service = component, error = %join, "server task failed")
            }
            None => {}
        }
        match grace.last_step(self.admin).await {
            Some(Ok(result)) => result?,
            Some(Err(join)) => {
                tracing::error!(service = component, error = %join, "admin server task failed")
            }
            None => tracing::warn!(service = component, "admin server did not stop in time"),
        }
        if grace.last_step(last).await.is_none() {
            tracing::warn!(
                service = component,
                "still busy at the end of the grace period (detached handlers holding \
                 database connections); leaving them"
            );
        }
        tracing::info!(service = component, "stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_taken_before_or_after_the_start_completes() {
        let drain = Drain::new("test");
        let before = drain.signal();
        drain.start(Duration::from_secs(1));
        let after = drain.signal();
        tokio::time::timeout(Duration::from_secs(1), async {
            before.await;
            after.await;
        })
        .await
        .expect("both signals complete");
    }

    #[tokio::test]
    async fn a_server_still_running_at_the_end_of_the_grace_is_stopped() {
        let drain = Drain::new("test");
        let mut server = tokio::spawn(std::future::pending::<()>());
        let started = Instant::now();
        let grace = drain.start(Duration::from_millis(200));
        assert!(grace.wait(&mut server).await.is_none());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(server.await.unwrap_err().is_cancelled());
        // Past the grace, a last step still gets its moment, and no more.
        assert_eq!(grace.last_step(async { 7 }).await, Some(7));
        let late = tokio::time::sleep(LAST_STEP * 3);
        assert!(grace.last_step(late).await.is_none());
    }

    #[tokio::test]
    async fn a_server_that_stops_in_time_gives_its_result() {
        let drain = Drain::new("test");
        let signal = drain.signal();
        let mut server = tokio::spawn(async move {
            signal.await;
            5
        });
        let grace = drain.start(Duration::from_secs(5));
        assert_eq!(grace.wait(&mut server).await.unwrap().unwrap(), 5);
    }
}

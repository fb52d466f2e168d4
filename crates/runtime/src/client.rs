//! gRPC clients of other services: one shared channel each, a deadline on
//! every call, and retries with backoff for idempotent reads.

use std::future::Future;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::config::ConfigError;

/// A lazily connected channel to `addr` (with scheme, e.g.
/// `http://127.0.0.1:50051`), shared by every call. `var` names the variable
/// it came from, for the error.
pub fn channel(var: &str, addr: &str) -> Result<Channel, ConfigError> {
    let invalid = |message: String| ConfigError {
        var: var.to_string(),
        message,
    };
    if !(addr.starts_with("http://") || addr.starts_with("https://")) {
        return Err(invalid(format!(
            "{addr:?} must start with http:// or https://"
        )));
    }
    let endpoint = Endpoint::from_shared(addr.to_string()).map_err(|e| invalid(e.to_string()))?;
    Ok(endpoint
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// How calls to one downstream service behave.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// Deadline of each attempt, sent as `grpc-timeout`.
    pub deadline: Duration,
    /// Extra attempts of an idempotent call that failed UNAVAILABLE.
    pub retries: u32,
    /// Pause before the first retry; doubles each time.
    pub backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(2),
            retries: 2,
            backoff: Duration::from_millis(50),
        }
    }
}

impl CallPolicy {
    /// A request carrying this policy's deadline.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.deadline);
        request
    }

    /// Runs an idempotent call, retrying it on UNAVAILABLE with exponential
    /// backoff. Other errors, and the last UNAVAILABLE, are returned as is.
    pub async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut pause = self.backoff;
        let mut attempt = 0;
        loop {
            match call().await {
                Err(status) if status.code() == Code::Unavailable && attempt < self.retries => {
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> CallPolicy {
        CallPolicy {
            deadline: Duration::from_secs(1),
            retries: 2,
            backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn unavailable_is_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = quick()
            .retry(|| async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(Status::unavailable("down")),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = quick()
            .retry(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::unavailable("down"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), _> = quick()
            .retry(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::not_found("gone"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_address_without_scheme_names_the_variable() {
        let err = channel("PRODUCT_SERVICE_ADDR", "127.0.0.1:50051").unwrap_err();
        assert_eq!(err.var, "PRODUCT_SERVICE_ADDR");
    }
}

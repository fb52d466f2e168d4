//! gRPC clients of other services: one shared channel each, spread over
//! every address the service's name resolves to, and one call policy: a
//! deadline on every call, retries with backoff on UNAVAILABLE (every call
//! between Shop's services is a read or keyed, so safe to repeat), and one
//! meaning of a failed call ([`CallError`]).
//!
//! HTTP/2 keeps one long-lived connection, so behind a plain Kubernetes
//! ClusterIP every call of a client would go to one pod. Shop's services
//! are headless instead: their DNS name resolves to every ready pod, and
//! [`channel`] balances calls over all of them, re-resolving the name every
//! few seconds so that new pods get traffic and departed ones none.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::channel::Change;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

use crate::config::{ConfigError, Env};
use crate::fault::Fault;
pub use crate::propagation::Traced;
use crate::tls::Tls;

/// How often a service name is resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(5);

/// A lazily connected channel to `addr` (with scheme, e.g.
/// `http://product-service:50051`), shared by every call. An IP address is
/// one endpoint; a name is balanced over everything it resolves to. An
/// `https://` address is TLS, verified against the roots of `tls` (see
/// [`crate::tls`]). `var` names the variable it came from, for the error.
pub fn channel(var: &str, addr: &str, tls: &Tls) -> Result<Traced, ConfigError> {
    raw_channel(var, addr, tls).map(Traced::new)
}

/// [`channel`] without the client spans and metrics, for plumbing such as
/// health checks.
pub fn raw_channel(var: &str, addr: &str, tls: &Tls) -> Result<Channel, ConfigError> {
    let invalid = |message: String| ConfigError {
        var: var.to_string(),
        message,
    };
    let (scheme, rest) = addr
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .ok_or_else(|| invalid(format!("{addr:?} must start with http:// or https://")))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = authority
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| invalid(format!("{addr:?} must name a port")))?;
    let client_tls = match scheme {
        "https" => Some(tls.grpc_client(var, &host)?),
        _ => None,
    };
    let endpoint = endpoint(addr, client_tls.clone()).map_err(invalid)?;
    if host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return Ok(endpoint.connect_lazy());
    }
    let scheme = scheme.to_string();
    Ok(balanced(scheme, client_tls, move || {
        let host = host.clone();
        async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(|addrs| addrs.collect())
                .unwrap_or_default()
        }
    }))
}

fn endpoint(addr: &str, tls: Option<ClientTlsConfig>) -> Result<Endpoint, String> {
    let endpoint = Endpoint::from_shared(addr.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    match tls {
        Some(tls) => endpoint.tls_config(tls).map_err(|e| e.to_string()),
        None => Ok(endpoint),
    }
}

/// A channel balanced over the addresses `resolve` returns, called again
/// every [`DNS_REFRESH`]. An empty answer (a DNS hiccup) keeps the current
/// endpoints. The refresh task ends when the channel is dropped. With
/// `tls`, each address is verified against the name `tls` carries, not
/// its IP.
pub fn balanced<R, F>(scheme: String, tls: Option<ClientTlsConfig>, resolve: R) -> Channel
where
    R: Fn() -> F + Send + 'static,
    F: Future<Output = Vec<SocketAddr>> + Send,
{
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    tokio::spawn(async move {
        let mut current = HashSet::<SocketAddr>::new();
        loop {
            let resolved: HashSet<SocketAddr> = resolve().await.into_iter().collect();
            if !resolved.is_empty() {
                for gone in current.difference(&resolved) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return;
                    }
                }
                for new in resolved.difference(&current) {
                    let Ok(endpoint) = endpoint(&format!("{scheme}://{new}"), tls.clone()) else {
                        continue;
                    };
                    if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                        return;
                    }
                }
                current = resolved;
            }
            tokio::time::sleep(DNS_REFRESH).await;
            if changes.is_closed() {
                return;
            }
        }
    });
    channel
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
    /// The defaults, with the deadline from `DOWNSTREAM_TIMEOUT_MILLIS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let millis = env.parse_or(
            "DOWNSTREAM_TIMEOUT_MILLIS",
            defaults.deadline.as_millis() as u64,
        )?;
        Ok(Self {
            deadline: Duration::from_millis(millis),
            ..defaults
        })
    }

    /// Sends `message` through `call` on a clone of `client`, with this
    /// policy's deadline and retries, and returns the answer's message:
    ///
    /// ```text
    /// policy.unary(&self.product, request, |mut c, r| async move { c.get_product(r).await })
    /// ```
    pub async fn unary<C, Req, Res, F, Fut>(
        &self,
        client: &C,
        message: Req,
        call: F,
    ) -> Result<Res, Status>
    where
        C: Clone,
        Req: Clone,
        F: Fn(C, Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Res>, Status>>,
    {
        self.retry(|| call(client.clone(), self.request(message.clone())))
            .await
            .map(tonic::Response::into_inner)
    }

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

/// What a failed call to another service means to the caller: the one
/// downstream policy, applied after the caller handled the codes it expects
/// of that call (NOT_FOUND of a lookup, a shortage's FAILED_PRECONDITION).
#[derive(Debug)]
pub enum CallError {
    /// FAILED_PRECONDITION: the service refused because of a state the
    /// shopper can change (a cart in two currencies). The caller answers
    /// FAILED_PRECONDITION with the same message.
    Refused(String),
    /// UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, RESOURCE_EXHAUSTED or
    /// ABORTED: it may pass, so [`Fault::Downstream`] (UNAVAILABLE, retried by
    /// our own callers). Anything else means one of us is wrong:
    /// [`Fault::Internal`].
    Fault(Fault),
}

impl CallError {
    /// The meaning of `status`, answered by the service named `service`.
    pub fn new(service: &'static str, status: Status) -> Self {
        match status.code() {
            Code::FailedPrecondition => Self::Refused(status.message().to_string()),
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted => Self::Fault(Fault::Downstream {
                service,
                message: status.message().to_string(),
            }),
            _ => Self::Fault(Fault::internal(anyhow::anyhow!("{service}: {status}"))),
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
    fn a_failed_call_means_refused_unavailable_or_internal() {
        let refused = CallError::new(
            "cart-service",
            Status::failed_precondition("two currencies"),
        );
        assert!(matches!(refused, CallError::Refused(m) if m == "two currencies"));
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Cancelled,
            Code::ResourceExhausted,
            Code::Aborted,
        ] {
            let error = CallError::new("cart-service", Status::new(code, "busy"));
            assert!(
                matches!(
                    error,
                    CallError::Fault(Fault::Downstream {
                        service: "cart-service",
                        ..
                    })
                ),
                "{code:?}"
            );
        }
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::Internal,
            Code::Unknown,
        ] {
            let error = CallError::new("cart-service", Status::new(code, "no"));
            assert!(
                matches!(error, CallError::Fault(Fault::Internal(_))),
                "{code:?}"
            );
        }
    }

    #[tokio::test]
    async fn unary_retries_and_returns_the_message() {
        let calls = AtomicU32::new(0);
        let answer = quick()
            .unary(&(), 5, |(), request: Request<i32>| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let deadline = request.metadata().get("grpc-timeout").is_some();
                async move {
                    assert!(deadline, "every attempt carries the deadline");
                    match n {
                        0 => Err(Status::unavailable("down")),
                        _ => Ok(tonic::Response::new(request.into_inner() * 2)),
                    }
                }
            })
            .await;
        assert_eq!(answer.unwrap(), 10);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_address_without_scheme_or_port_names_the_variable() {
        let err = channel("PRODUCT_SERVICE_ADDR", "127.0.0.1:50051", &Tls::default()).unwrap_err();
        assert_eq!(err.var, "PRODUCT_SERVICE_ADDR");
        let err = channel("CART_SERVICE_ADDR", "http://cart-service", &Tls::default()).unwrap_err();
        assert_eq!(err.var, "CART_SERVICE_ADDR");
        assert!(channel("X", "http://127.0.0.1:1", &Tls::default()).is_ok());
        assert!(channel("X", "http://localhost:1", &Tls::default()).is_ok());
        // TLS is never unverified: https:// needs roots.
        let err =
            channel("ORDER_SERVICE_ADDR", "https://127.0.0.1:1", &Tls::default()).unwrap_err();
        assert_eq!(err.var, "ORDER_SERVICE_ADDR");
        assert!(err.message.contains("TLS_CA_FILE"), "{}", err.message);
    }
}

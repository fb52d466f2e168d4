//! The one downstream call policy: a deadline on every call, bounded
//! retries of UNAVAILABLE with jittered backoff under a retry budget, and
//! what a failed call means.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::{Code, Request, Status};

use crate::config::{ConfigError, Env};
use crate::server::Failure;

/// How calls to one downstream service behave. Clones share the retry
/// budget: take one policy per downstream service
/// ([`CallPolicy::with_own_budget`]).
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Deadline of each attempt, sent as `grpc-timeout`.
    pub deadline: Duration,
    /// Extra attempts of an idempotent call that failed UNAVAILABLE.
    pub retries: u32,
    /// Pause before the first retry; doubles each time, and each pause is
    /// drawn at random from its upper half, so callers that failed together
    /// do not come back together.
    pub backoff: Duration,
    /// Retries may add this share of the calls made (and a small reserve).
    pub budget: RetryBudget,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(2),
            retries: 2,
            backoff: Duration::from_millis(50),
            budget: RetryBudget::new(0.2, 10),
        }
    }
}

/// Retries as a share of the calls made: every call deposits `ratio` of a
/// token, every retry takes a whole one, and the balance starts at and is
/// capped by `reserve` tokens. When a slow database makes every call fail,
/// retries add at most `ratio` to the load (and `reserve` at once) instead
/// of multiplying it by the attempts at every hop; a few failures in a
/// quiet period are still retried from the reserve.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    /// The balance, in tokens.
    tokens: Arc<Mutex<f64>>,
    /// Deposit per call.
    ratio: f64,
    /// Starting balance and cap.
    reserve: f64,
}

impl RetryBudget {
    /// A full budget of `reserve` tokens, refilled by `ratio` per call.
    pub fn new(ratio: f64, reserve: u32) -> Self {
        Self {
            tokens: Arc::new(Mutex::new(f64::from(reserve))),
            ratio,
            reserve: f64::from(reserve),
        }
    }

    /// A budget of the same size, full and shared with nobody.
    pub fn fresh(&self) -> Self {
        Self {
            tokens: Arc::new(Mutex::new(self.reserve)),
            ..*self
        }
    }

    fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.ratio).min(self.reserve);
    }

    fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A pause drawn at random from `[pause / 2, pause]`.
fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(0.5 + rand::random::<f64>() / 2.0)
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

    /// The same policy with a retry budget of its own: one per downstream
    /// service, so one failing service cannot spend another's retries.
    pub fn with_own_budget(&self) -> Self {
        Self {
            budget: self.budget.fresh(),
            ..self.clone()
        }
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

    /// Runs an idempotent call, retrying it on UNAVAILABLE with jittered
    /// exponential backoff while the budget allows. Other errors, and the
    /// last UNAVAILABLE, are returned as is.
    pub async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.budget.deposit();
        let mut pause = self.backoff;
        let mut attempt = 0;
        loop {
            match call().await {
                Err(status) if status.code() == Code::Unavailable && attempt < self.retries => {
                    if !self.budget.withdraw() {
                        metrics::counter!("client_retries_total", "outcome" => "over_budget")
                            .increment(1);
                        return Err(status);
                    }
                    metrics::counter!("client_retries_total", "outcome" => "retried").increment(1);
                    attempt += 1;
                    tokio::time::sleep(jittered(pause)).await;
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
    /// UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED or ABORTED: it may pass,
    /// so [`Failure::Downstream`] (UNAVAILABLE, retried by our own callers);
    /// RESOURCE_EXHAUSTED: [`Failure::Overloaded`], passed on as
    /// RESOURCE_EXHAUSTED, which nobody retries. Anything else means one of
    /// us is wrong: [`Failure::Internal`].
    Failure(Failure),
}

impl CallError {
    /// The meaning of `status`, answered by the service named `service`.
    pub fn new(service: &'static str, status: Status) -> Self {
        match status.code() {
            Code::FailedPrecondition => Self::Refused(status.message().to_string()),
            Code::ResourceExhausted => Self::Failure(Failure::Overloaded { service }),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                Self::Failure(Failure::Downstream {
                    service,
                    message: status.message().to_string(),
                })
            }
            _ => Self::Failure(Failure::internal(anyhow::anyhow!("{service}: {status}"))),
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
            ..CallPolicy::default()
        }
    }

    #[tokio::test]
    async fn when_every_call_fails_retries_add_at_most_the_budgets_share() {
        let policy = CallPolicy {
            budget: RetryBudget::new(0.2, 10),
            ..quick()
        };
        let attempts = AtomicU32::new(0);
        for _ in 0..200 {
            let _: Result<(), _> = policy
                .retry(|| async {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err(Status::unavailable("database slow"))
                })
                .await;
        }
        let attempts = attempts.load(Ordering::SeqCst);
        // Without a budget: 600. With it: 200 calls, the reserve of 10 and
        // a fifth of the calls.
        assert!(
            attempts <= 200 + 10 + 40,
            "{attempts} attempts for 200 calls"
        );
        assert!(attempts > 200, "no retry at all: {attempts}");
    }

    #[tokio::test]
    async fn each_downstream_service_has_a_budget_of_its_own() {
        let spent = CallPolicy {
            budget: RetryBudget::new(0.0, 1),
            ..quick()
        };
        let other = spent.with_own_budget();
        let failing = || async { Err::<(), _>(Status::unavailable("down")) };
        let _ = spent.retry(failing).await;
        let calls = AtomicU32::new(0);
        let _: Result<(), _> = spent
            .retry(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::unavailable("down"))
            })
            .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the spent budget retries no more"
        );
        let calls = AtomicU32::new(0);
        let _: Result<(), _> = other
            .retry(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::unavailable("down"))
            })
            .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the other service's budget is whole"
        );
    }

    #[test]
    fn backoff_pauses_are_spread_over_the_upper_half_of_the_pause() {
        let pause = Duration::from_millis(100);
        let drawn: Vec<Duration> = (0..200).map(|_| jittered(pause)).collect();
        assert!(drawn.iter().all(|d| *d >= pause / 2 && *d <= pause));
        let distinct: std::collections::BTreeSet<_> = drawn.iter().collect();
        assert!(
            distinct.len() > 50,
            "only {} distinct pauses",
            distinct.len()
        );
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
            Code::Aborted,
        ] {
            let error = CallError::new("cart-service", Status::new(code, "busy"));
            assert!(
                matches!(
                    error,
                    CallError::Failure(Failure::Downstream {
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
                matches!(error, CallError::Failure(Failure::Internal(_))),
                "{code:?}"
            );
        }
    }

    #[test]
    fn an_overloaded_service_is_passed_on_as_resource_exhausted_and_not_retried() {
        let error = CallError::new("product-service", Status::resource_exhausted("full"));
        let CallError::Failure(failure) = error else {
            panic!("a failure");
        };
        assert!(matches!(
            failure,
            Failure::Overloaded {
                service: "product-service"
            }
        ));
        assert_eq!(Status::from(failure).code(), Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn resource_exhausted_is_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = quick()
            .retry(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Status::resource_exhausted("database overloaded"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Code::ResourceExhausted);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one attempt, no retry");
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
}

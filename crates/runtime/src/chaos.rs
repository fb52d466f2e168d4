//! Faults injected on purpose, to watch the stack cope: latency, error
//! statuses, aborted calls and failed readiness, per component and per
//! method or route, set at start from `FAULTS` and changed live on the admin
//! port (`GET`, `PUT`, `POST`, `DELETE /faults`; `shop faults` drives them).
//!
//! A fault is one line of text, the same in the variable, on the admin port
//! and on the command line:
//!
//! ```text
//! latency 200ms                         every call this component serves waits 200 ms
//! latency 50ms..400ms on GetProduct 20%  a fifth of GetProduct calls wait 50 to 400 ms
//! error unavailable on GetCart 20%      a fifth of GetCart calls answer UNAVAILABLE
//! error internal on /api/v1/orders      the gateway answers those routes 500
//! abort on calls to ReserveStock 5%     5 % of this component's ReserveStock calls are cut
//! unready                               readiness and gRPC health report NOT_SERVING
//! crash after reserve                   order-service's saga stops after that step
//! ```
//!
//! Several are separated by `;`. `on X` names a method (`GetProduct`), a
//! full gRPC path, or a route prefix of the gateway (`/api/v1/orders`);
//! without it a fault hits every call, never the health checks.
//! `on calls to X` hits the calls this component makes instead of those it
//! serves. A percentage is the share of matching calls hit (default 100).
//!
//! With no fault set the cost is one relaxed atomic load per call.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tonic::Code;

use crate::{ConfigError, Env};

/// What a fault does to the calls it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The call waits, `min` up to `max` (uniformly), then runs.
    Latency {
        /// Shortest wait.
        min: Duration,
        /// Longest wait.
        max: Duration,
    },
    /// The call answers this status without running (over REST, the
    /// status's HTTP mapping).
    Error(Code),
    /// The call is cut: the stream (gRPC) or connection (HTTP) is reset.
    Abort,
    /// Readiness and gRPC health report NOT_SERVING; calls still run.
    Unready,
    /// order-service's checkout stops right after this saga step, as if
    /// its process had crashed there; recovery finishes the order.
    Crash(String),
}

/// Which calls a fault hits.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every call this component serves.
    Served(Option<String>),
    /// Calls this component makes to another.
    Calls(String),
}

/// One fault: its effect, the calls it hits, and the share of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What happens.
    pub effect: Effect,
    /// To which calls.
    pub target: Target,
    /// Share of matching calls hit, in (0, 100].
    pub percent: f64,
}

/// A fault that does not parse, with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault `{spec}`: {message}")]
pub struct ParseError {
    /// The text that did not parse.
    pub spec: String,
    /// Why.
    pub message: String,
}

/// The error codes a fault can answer, by their names in the text.
const CODES: [(&str, Code); 10] = [
    ("unavailable", Code::Unavailable),
    ("internal", Code::Internal),
    ("deadline_exceeded", Code::DeadlineExceeded),
    ("resource_exhausted", Code::ResourceExhausted),
    ("aborted", Code::Aborted),
    ("unknown", Code::Unknown),
    ("cancelled", Code::Cancelled),
    ("not_found", Code::NotFound),
    ("failed_precondition", Code::FailedPrecondition),
    ("permission_denied", Code::PermissionDenied),
];

fn code_name(code: Code) -> &'static str {
    CODES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or("unknown", |(name, _)| name)
}

/// `200ms`, `2s`.
fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl FromStr for Fault {
    type Err = ParseError;

    fn from_str(spec: &str) -> Result<Self, ParseError> {
        let fail = |message: &str| ParseError {
            spec: spec.trim().to_string(),
            message: message.to_string(),
        };
        let mut words: Vec<&str> = spec.split_whitespace().collect();
        // A trailing share: `20%`.
        let mut percent = 100.0;
        if let Some(last) = words.last()
            && let Some(number) = last.strip_suffix('%')
        {
            percent = number
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| fail("the share must be a percentage above 0 and at most 100"))?;
            words.pop();
        }
        // A target: `on X` or `on calls to X`.
        let mut target = Target::Served(None);
        if let Some(on) = words.iter().position(|w| *w == "on") {
            target = match &words[on + 1..] {
                ["calls", "to", name] => Target::Calls((*name).to_string()),
                [name] => Target::Served(Some((*name).to_string())),
                _ => {
                    return Err(fail(
                        "write `on METHOD`, `on /route`, or `on calls to METHOD`",
                    ));
                }
            };
            words.truncate(on);
        }
        let effect = match words.as_slice() {
            ["latency", range] => {
                let (min, max) = match range.split_once("..") {
                    Some((min, max)) => (parse_duration(min), parse_duration(max)),
                    None => (parse_duration(range), parse_duration(range)),
                };
                match (min, max) {
                    (Some(min), Some(max)) if min <= max && max <= Duration::from_secs(60) => {
                        Effect::Latency { min, max }
                    }
                    _ => return Err(fail("latency is `200ms` or `50ms..400ms`, at most 60s")),
                }
            }
            ["error", name] => match CODES.iter().find(|(n, _)| n == name) {
                Some((_, code)) => Effect::Error(*code),
                None => {
                    let names: Vec<&str> = CODES.iter().map(|(n, _)| *n).collect();
                    return Err(fail(&format!(
                        "unknown status; one of {}",
                        names.join(", ")
                    )));
                }
            },
            ["abort"] => Effect::Abort,
            ["unready"] => Effect::Unready,
            ["crash", "after", step] => Effect::Crash((*step).to_string()),
            _ => {
                return Err(fail(
                    "expected `latency D[..D]`, `error STATUS`, `abort`, `unready` or `crash after STEP`, \
                     then optionally `on TARGET` and a share such as `20%`",
                ));
            }
        };
        if matches!(effect, Effect::Unready | Effect::Crash(_)) && target != Target::Served(None) {
            return Err(fail("`unready` and `crash` take no target"));
        }
        Ok(Fault {
            effect,
            target,
            percent,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.effect {
            Effect::Latency { min, max } if min == max => write!(f, "latency {}", millis(*min))?,
            Effect::Latency { min, max } => {
                write!(f, "latency {}..{}", millis(*min), millis(*max))?
            }
            Effect::Error(code) => write!(f, "error {}", code_name(*code))?,
            Effect::Abort => f.write_str("abort")?,
            Effect::Unready => f.write_str("unready")?,
            Effect::Crash(step) => write!(f, "crash after {step}")?,
        }
        match &self.target {
            Target::Served(None) => {}
            Target::Served(Some(name)) => write!(f, " on {name}")?,
            Target::Calls(name) => write!(f, " on calls to {name}")?,
        }
        if self.percent < 100.0 {
            write!(f, " {}%", self.percent)?;
        }
        Ok(())
    }
}

impl Fault {
    /// Whether this call is among the share the fault hits.
    fn rolls(&self) -> bool {
        self.percent >= 100.0 || rand::random::<f64>() * 100.0 < self.percent
    }
}

/// Parses `;`-separated faults; blank parts are skipped.
pub fn parse_list(text: &str) -> Result<Vec<Fault>, ParseError> {
    text.split([';', '\n'])
        .filter(|part| !part.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// What a call that a fault hit must do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hit {
    /// Wait this long first.
    pub delay: Duration,
    /// Then fail this way instead of running, if set.
    pub outcome: Option<Outcome>,
}

impl Hit {
    /// Waits the delay; then how the call ends instead of running, if it does.
    pub async fn wait(self) -> Option<Outcome> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.outcome
    }
}

/// How a hit call ends instead of running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answer this status.
    Fail(Code),
    /// Cut the call.
    Abort,
}

/// The faults of one component: cheap to clone, shared by its servers,
/// clients and admin port. Empty by default.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Any fault set: the one thing read on a call while there is none.
    any: AtomicBool,
    list: RwLock<Vec<Fault>>,
}

/// Whether `target` names the call at `path` (`/pkg.Service/Method` or an
/// HTTP path or route template).
fn names(target: &str, path: &str) -> bool {
    path == target
        || path.rsplit('/').next() == Some(target)
        || (target.starts_with('/') && path.starts_with(target))
}

impl Faults {
    /// The faults in `FAULTS`, none when unset.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let faults = Self::default();
        if let Some(text) = env.get("FAULTS") {
            let list = parse_list(&text).map_err(|e| ConfigError {
                var: "FAULTS".into(),
                message: e.to_string(),
            })?;
            faults.set(list);
        }
        Ok(faults)
    }

    /// The faults in force.
    pub fn list(&self) -> Vec<Fault> {
        self.inner.list.read().expect("faults lock").clone()
    }

    /// Replaces every fault with `list`.
    pub fn set(&self, list: Vec<Fault>) {
        self.change(|all| *all = list);
    }

    /// Adds `list` to the faults in force.
    pub fn add(&self, list: Vec<Fault>) {
        self.change(|all| all.extend(list));
    }

    /// Changes the list under its lock, so two changes at once both count.
    fn change(&self, apply: impl FnOnce(&mut Vec<Fault>)) {
        let mut all = self.inner.list.write().expect("faults lock");
        apply(&mut all);
        self.inner.any.store(!all.is_empty(), Ordering::Release);
        for fault in all.iter() {
            tracing::warn!(fault = %fault, "fault in force");
        }
    }

    /// Whether any fault in force satisfies `test`.
    fn any(&self, test: impl Fn(&Fault) -> bool) -> bool {
        self.inner.any.load(Ordering::Relaxed)
            && self
                .inner
                .list
                .read()
                .expect("faults lock")
                .iter()
                .any(test)
    }

    /// Removes every fault.
    pub fn clear(&self) {
        if self.inner.any.load(Ordering::Acquire) {
            tracing::warn!("faults cleared");
        }
        self.set(Vec::new());
    }

    fn hit(&self, matches: impl Fn(&Target) -> bool) -> Option<Hit> {
        if !self.inner.any.load(Ordering::Relaxed) {
            return None;
        }
        let list = self.inner.list.read().expect("faults lock");
        let mut hit = Hit::default();
        let mut any = false;
        for fault in list.iter().filter(|f| matches(&f.target)) {
            if !fault.rolls() {
                continue;
            }
            match &fault.effect {
                Effect::Latency { min, max } => {
                    let spread = max.saturating_sub(*min);
                    hit.delay += *min + spread.mul_f64(rand::random::<f64>());
                    any = true;
                }
                Effect::Error(code) if hit.outcome.is_none() => {
                    hit.outcome = Some(Outcome::Fail(*code));
                    any = true;
                }
                Effect::Abort if hit.outcome.is_none() => {
                    hit.outcome = Some(Outcome::Abort);
                    any = true;
                }
                _ => {}
            }
        }
        any.then_some(hit)
    }

    /// What happens to a call this component serves at `path`, if a fault
    /// hits it. Health checks and reflection are never hit.
    pub fn on_served(&self, path: &str) -> Option<Hit> {
        if path.starts_with("/grpc.") {
            return None;
        }
        self.hit(|target| match target {
            Target::Served(None) => true,
            Target::Served(Some(name)) => names(name, path),
            Target::Calls(_) => false,
        })
    }

    /// What happens to a call this component makes to `path`, if a fault hits it.
    pub fn on_call(&self, path: &str) -> Option<Hit> {
        self.hit(|target| matches!(target, Target::Calls(name) if names(name, path)))
    }

    /// True while an `unready` fault is set.
    pub fn unready(&self) -> bool {
        self.any(|f| f.effect == Effect::Unready)
    }

    /// True when a `crash after STEP` fault hits this checkout.
    pub fn crash_after(&self, step: &str) -> bool {
        self.any(|f| matches!(&f.effect, Effect::Crash(s) if s == step) && f.rolls())
    }
}

/// The status an injected error answers with.
pub fn injected(code: Code) -> tonic::Status {
    tonic::Status::new(code, format!("injected fault: {}", code_name(code)))
}

/// Applies a component's served faults to its gRPC server: innermost, so
/// its spans and metrics see an injected error as they see a real one.
#[derive(Debug, Clone)]
pub struct ServerFaultsLayer {
    faults: Faults,
}

impl ServerFaultsLayer {
    /// The layer of `faults`.
    pub fn new(faults: Faults) -> Self {
        Self { faults }
    }
}

impl<S> tower::Layer<S> for ServerFaultsLayer {
    type Service = ServerFaults<S>;

    fn layer(&self, inner: S) -> ServerFaults<S> {
        ServerFaults {
            inner,
            faults: self.faults.clone(),
        }
    }
}

/// The service made by [`ServerFaultsLayer`].
#[derive(Debug, Clone)]
pub struct ServerFaults<S> {
    inner: S,
    faults: Faults,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ServerFaults<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(hit) = self.faults.on_served(request.uri().path()) else {
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        };
        // The ready service answers this call; a clone waits its turn.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match hit.wait().await {
                Some(Outcome::Fail(code)) => Ok(injected(code).into_http()),
                // An error out of the service: the server resets the stream.
                Some(Outcome::Abort) => Err("injected fault: abort".into()),
                None => inner.call(request).await.map_err(Into::into),
            }
        })
    }
}

/// The admin routes that read and change `faults`: `GET /faults` lists
/// them (one per line), `PUT` replaces them with the body's, `POST` adds
/// the body's, `DELETE` clears them. A body that does not parse is a 400
/// that says why.
pub fn admin_router(faults: Faults) -> axum::Router {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;

    type Answer = Result<String, (StatusCode, String)>;
    fn listed(faults: &Faults) -> String {
        faults.list().iter().map(|f| format!("{f}\n")).collect()
    }
    fn parsed(body: &str) -> Result<Vec<Fault>, (StatusCode, String)> {
        parse_list(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("{e}\n")))
    }
    async fn list(State(faults): State<Faults>) -> String {
        listed(&faults)
    }
    async fn replace(State(faults): State<Faults>, body: String) -> Answer {
        faults.set(parsed(&body)?);
        Ok(listed(&faults))
    }
    async fn add(State(faults): State<Faults>, body: String) -> Answer {
        faults.add(parsed(&body)?);
        Ok(listed(&faults))
    }
    async fn clear(State(faults): State<Faults>) -> String {
        faults.clear();
        String::new()
    }
    axum::Router::new()
        .route("/faults", get(list).put(replace).post(add).delete(clear))
        .with_state(faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_text_parses_and_prints_back_the_same() {
        for text in [
            "latency 200ms",
            "latency 50ms..400ms on GetProduct 20%",
            "error unavailable on GetCart 20%",
            "error internal on /api/v1/orders",
            "abort on calls to ReserveStock 5%",
            "unready",
            "crash after reserve",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
    }

    #[test]
    fn a_bad_fault_is_refused_with_what_is_wrong() {
        for (text, wrong) in [
            ("latency fast", "latency is"),
            ("error teapot", "unknown status"),
            ("abort 0%", "percentage"),
            ("abort 150%", "percentage"),
            ("unready on GetProduct", "take no target"),
            ("explode", "expected"),
            ("latency 10ms on", "write `on METHOD`"),
        ] {
            let error = text.parse::<Fault>().unwrap_err();
            assert!(error.message.contains(wrong), "{text}: {error}");
            assert_eq!(error.spec, text);
        }
    }

    #[test]
    fn a_list_separates_faults_by_semicolons() {
        let list = parse_list("latency 10ms; error internal on GetCart ;").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].to_string(), "error internal on GetCart");
    }

    #[test]
    fn no_fault_hits_nothing() {
        let faults = Faults::default();
        assert_eq!(
            faults.on_served("/shop.product.v1.ProductService/GetProduct"),
            None
        );
        assert!(!faults.unready());
    }

    #[test]
    fn a_served_fault_hits_its_method_and_not_the_others_or_health() {
        let faults = Faults::default();
        faults.set(parse_list("error unavailable on GetProduct").unwrap());
        let hit = faults
            .on_served("/shop.product.v1.ProductService/GetProduct")
            .unwrap();
        assert_eq!(hit.outcome, Some(Outcome::Fail(Code::Unavailable)));
        assert_eq!(
            faults.on_served("/shop.product.v1.ProductService/ListProducts"),
            None
        );
        assert_eq!(
            faults.on_call("/shop.product.v1.ProductService/GetProduct"),
            None
        );
        faults.set(parse_list("abort").unwrap());
        assert_eq!(faults.on_served("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn a_route_prefix_hits_every_route_under_it() {
        let faults = Faults::default();
        faults.set(parse_list("error internal on /api/v1/orders").unwrap());
        assert!(faults.on_served("/api/v1/orders/{id}").is_some());
        assert!(faults.on_served("/api/v1/products").is_none());
    }

    #[test]
    fn latencies_add_up_and_stay_in_their_range() {
        let faults = Faults::default();
        faults.set(parse_list("latency 10ms; latency 20ms..30ms").unwrap());
        for _ in 0..100 {
            let delay = faults.on_served("/x/Y").unwrap().delay;
            assert!(delay >= Duration::from_millis(30) && delay <= Duration::from_millis(40));
        }
    }

    #[test]
    fn a_share_hits_about_that_share_of_calls() {
        let faults = Faults::default();
        faults.set(parse_list("abort on calls to GetCart 20%").unwrap());
        let hits = (0..10_000)
            .filter(|_| {
                faults
                    .on_call("/shop.cart.v1.CartService/GetCart")
                    .is_some()
            })
            .count();
        assert!((1_600..2_400).contains(&hits), "{hits} of 10000");
    }

    #[test]
    fn clearing_removes_every_fault() {
        let faults = Faults::default();
        faults.set(parse_list("unready; crash after reserve").unwrap());
        assert!(faults.unready());
        assert!(faults.crash_after("reserve"));
        assert!(!faults.crash_after("commit"));
        faults.clear();
        assert!(!faults.unready());
        assert!(!faults.crash_after("reserve"));
    }
}

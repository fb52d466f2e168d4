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
//! crash after reserved                  order-service's saga stops after that step
//! crash after event-committed 30%       a consumer stops between its commit and its ack
//! abort on calls to /nats               every publish and fetch fails: the broker is gone
//! poison on calls to shop.order.confirmed  each such event is followed by an unreadable copy
//! ```
//!
//! Several are separated by `;`. `on X` names a method (`GetProduct`), a
//! full gRPC path, or a route prefix of the gateway (`/api/v1/orders`);
//! without it a fault hits every call, never the health checks.
//! `on calls to X` hits the calls this component makes instead of those it
//! serves; its calls to the event broker are `/nats/publish/SUBJECT` (the
//! relay) and `/nats/fetch/CONSUMER` (each consumer), so `/nats` names
//! them all and a subject or consumer name one. A percentage is the share of matching calls hit (default 100).
//!
//! With no fault set the cost is one relaxed atomic load per call.
//!
//! Fault control is off unless the deployment turns it on by setting
//! `FAULTS_TOKEN` (`shop up`, compose and the dev overlay do; the prod
//! overlay does not). Off, `/faults` answers 404 and `FAULTS` is a
//! configuration error, so no fault is ever applied. On, every change on
//! the admin port carries the token as `Authorization: Bearer`, a request
//! with an `Origin` header (any browser's) is refused, and the faults in
//! force are capped at [`MAX_FAULTS`] (bodies at 4 KiB).

mod admin;
mod fault;
mod server;

pub(crate) use admin::admin_router;
pub use fault::{CONSUMER_CRASH_STEPS, CRASH_STEPS, Effect, Fault, ParseError, Target, parse_list};
pub(crate) use server::ServerFaultsLayer;

#[cfg(test)]
mod control_tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tonic::Code;

use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{ConfigError, Env};

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

/// Most faults in force at once on one component.
pub const MAX_FAULTS: usize = 32;

/// The shortest `FAULTS_TOKEN` accepted.
const MIN_TOKEN_BYTES: usize = 16;

/// The faults of one component: cheap to clone, shared by its servers,
/// clients and admin port. Empty, and its control off, by default.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Any fault set: the one thing read on a call while there is none.
    any: AtomicBool,
    list: RwLock<Vec<Fault>>,
    /// The credential of changes on the admin port; unset: control off.
    token: std::sync::OnceLock<SecretString>,
}

/// Why a change of the faults was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at most {MAX_FAULTS} faults may be in force; {0} were asked for")]
pub struct TooMany(pub usize);

/// Whether `target` names the call at `path` (`/pkg.Service/Method` or an
/// HTTP path or route template).
fn names(target: &str, path: &str) -> bool {
    path == target
        || path.rsplit('/').next() == Some(target)
        || (target.starts_with('/') && path.starts_with(target))
}

impl Faults {
    /// Fault control as `FAULTS_TOKEN` sets it (off when unset), and the
    /// faults in `FAULTS`, none when unset. `FAULTS` with control off is
    /// an error, never a fault quietly applied.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let token = match env.get("FAULTS_TOKEN") {
            None => None,
            Some(_) => {
                let token = env.secret("FAULTS_TOKEN")?;
                if token.expose_secret().len() < MIN_TOKEN_BYTES {
                    return Err(ConfigError {
                        var: "FAULTS_TOKEN".into(),
                        message: format!("must be at least {MIN_TOKEN_BYTES} bytes"),
                    });
                }
                Some(token)
            }
        };
        let faults = Self::default();
        if let Some(token) = token {
            let _ = faults.inner.token.set(token);
        }
        if let Some(text) = env.get("FAULTS") {
            let error = |message: String| ConfigError {
                var: "FAULTS".into(),
                message,
            };
            if !faults.controlled() {
                return Err(error(
                    "fault injection is off on this component; set FAULTS_TOKEN to turn it on"
                        .into(),
                ));
            }
            let list = parse_list(&text).map_err(|e| error(e.to_string()))?;
            faults.set(list).map_err(|e| error(e.to_string()))?;
        }
        Ok(faults)
    }

    /// Whether fault control is on (`FAULTS_TOKEN` set).
    pub fn controlled(&self) -> bool {
        self.inner.token.get().is_some()
    }

    /// Turns this set's control on with `other`'s token, if it has one and
    /// this set none: for a test that shares one set of faults with the
    /// component it configures.
    pub fn adopt_control(&self, other: &Faults) {
        if let Some(token) = other.inner.token.get() {
            let _ = self.inner.token.set(token.clone());
        }
    }

    /// Whether `presented` is the token of fault control, compared in
    /// constant time; false while control is off.
    pub(crate) fn authorizes(&self, presented: &str) -> bool {
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        let Some(token) = self.inner.token.get() else {
            return false;
        };
        // As the gateway compares its admin password: digests of equal
        // length (no length leaks), compared by `subtle` (no early exit).
        let presented = sha2::Sha256::digest(presented.as_bytes());
        let token = sha2::Sha256::digest(token.expose_secret().as_bytes());
        bool::from(presented.ct_eq(&token))
    }

    /// The faults in force.
    pub fn list(&self) -> Vec<Fault> {
        self.inner.list.read().expect("faults lock").clone()
    }

    /// Replaces every fault with `list`.
    pub fn set(&self, list: Vec<Fault>) -> Result<(), TooMany> {
        self.change(|all| *all = list)
    }

    /// Adds `list` to the faults in force.
    pub fn add(&self, list: Vec<Fault>) -> Result<(), TooMany> {
        self.change(|all| all.extend(list))
    }

    /// Changes the list under its lock, so two changes at once both count;
    /// a change that would leave more than [`MAX_FAULTS`] is refused whole.
    fn change(&self, apply: impl FnOnce(&mut Vec<Fault>)) -> Result<(), TooMany> {
        let mut all = self.inner.list.write().expect("faults lock");
        let mut changed = all.clone();
        apply(&mut changed);
        if changed.len() > MAX_FAULTS {
            return Err(TooMany(changed.len()));
        }
        *all = changed;
        self.inner.any.store(!all.is_empty(), Ordering::Release);
        for fault in all.iter() {
            tracing::warn!(fault = %fault, "fault in force");
        }
        Ok(())
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
        let _ = self.set(Vec::new());
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

    /// True when a `poison` fault hits this publish to `path`.
    pub fn poisons(&self, path: &str) -> bool {
        self.any(|f| {
            f.effect == Effect::Poison
                && matches!(&f.target, Target::Calls(name) if names(name, path))
                && f.rolls()
        })
    }

    /// True when a `crash after STEP` fault hits this checkout or event.
    pub fn crash_after(&self, step: &str) -> bool {
        self.any(|f| matches!(&f.effect, Effect::Crash(s) if s == step) && f.rolls())
    }
}

/// The status an injected error answers with.
pub fn injected(code: Code) -> tonic::Status {
    tonic::Status::new(code, format!("injected fault: {}", fault::code_name(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        faults
            .set(parse_list("error unavailable on GetProduct").unwrap())
            .unwrap();
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
        faults.set(parse_list("abort").unwrap()).unwrap();
        assert_eq!(faults.on_served("/grpc.health.v1.Health/Check"), None);
    }

    #[test]
    fn a_route_prefix_hits_every_route_under_it() {
        let faults = Faults::default();
        faults
            .set(parse_list("error internal on /api/v1/orders").unwrap())
            .unwrap();
        assert!(faults.on_served("/api/v1/orders/{id}").is_some());
        assert!(faults.on_served("/api/v1/products").is_none());
    }

    #[test]
    fn latencies_add_up_and_stay_in_their_range() {
        let faults = Faults::default();
        faults
            .set(parse_list("latency 10ms; latency 20ms..30ms").unwrap())
            .unwrap();
        for _ in 0..100 {
            let delay = faults.on_served("/x/Y").unwrap().delay;
            assert!(delay >= Duration::from_millis(30) && delay <= Duration::from_millis(40));
        }
    }

    #[test]
    fn a_share_hits_about_that_share_of_calls() {
        let faults = Faults::default();
        faults
            .set(parse_list("abort on calls to GetCart 20%").unwrap())
            .unwrap();
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
        faults
            .set(parse_list("unready; crash after reserved").unwrap())
            .unwrap();
        assert!(faults.unready());
        assert!(faults.crash_after("reserved"));
        assert!(!faults.crash_after("commit"));
        faults.clear();
        assert!(!faults.unready());
        assert!(!faults.crash_after("reserved"));
    }
}

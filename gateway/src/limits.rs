//! Abuse limits: token buckets per token and per client IP, a strict per-IP
//! limit on `/api/v1/auth/*`, and a growing backoff after failed logins.
//!
//! Every request is charged against its client IP, and a request with a
//! valid token against that token as well: minting a fresh guest token
//! gives a client no fresh budget. The client IP is the peer address,
//! unless the peer is a configured trusted proxy (`TRUSTED_PROXIES`); then it
//! is the right-most `X-Forwarded-For` entry that is not itself a trusted
//! proxy. A header sent by anyone else is ignored, so it cannot be forged.
//!
//! The per-IP limits and the login backoff count a client by its
//! [`client_key`]: an IPv4 address as it is, an IPv6 one by its /64, the
//! block one subscriber gets (every address in it is one client's to pick).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use shop_runtime::{ConfigError, Env};

use crate::auth::{self, Auth};
use crate::error::ApiError;

/// Failed logins from one IP allowed before the backoff starts.
pub(crate) const FREE_FAILED_LOGINS: u32 = 5;
/// Longest wait the login backoff imposes.
pub(crate) const MAX_LOGIN_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Prefix of the routes under the strict auth limit.
const AUTH_ROUTES: &str = "/api/v1/auth/";

/// The limits' settings, from the environment.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Requests per second per token; 0 turns the token and IP limits off
    /// (`RATE_LIMIT_PER_SECOND`).
    pub per_token_per_second: u32,
    /// Burst per token (`RATE_LIMIT_BURST`).
    pub per_token_burst: u32,
    /// Requests per second per client IP, whatever tokens it uses; 0 turns
    /// it off (`RATE_LIMIT_PER_IP_PER_SECOND`).
    pub per_ip_per_second: u32,
    /// Burst per client IP (`RATE_LIMIT_PER_IP_BURST`).
    pub per_ip_burst: u32,
    /// Requests per minute per client IP on `/api/v1/auth/*`; 0 turns this
    /// limit and the failed-login backoff off (`AUTH_RATE_LIMIT_PER_MINUTE`).
    pub auth_per_minute: u32,
    /// Burst per client IP on `/api/v1/auth/*` (`AUTH_RATE_LIMIT_BURST`).
    pub auth_burst: u32,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`:
    /// comma-separated addresses or CIDR blocks; none by default).
    pub trusted_proxies: Vec<IpNet>,
}

impl LimitsConfig {
    /// Reads the limits; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let trusted_proxies = match env.get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|entry| {
                    IpNet::from_str(entry)
                        .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                        .map_err(|_| ConfigError {
                            var: "TRUSTED_PROXIES".into(),
                            message: format!("{entry:?} is neither an IP address nor a CIDR block"),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            per_token_per_second: env.parse_or("RATE_LIMIT_PER_SECOND", 200)?,
            per_token_burst: env.parse_or("RATE_LIMIT_BURST", 400)?,
            per_ip_per_second: env.parse_or("RATE_LIMIT_PER_IP_PER_SECOND", 800)?,
            per_ip_burst: env.parse_or("RATE_LIMIT_PER_IP_BURST", 1600)?,
            auth_per_minute: env.parse_or("AUTH_RATE_LIMIT_PER_MINUTE", 60)?,
            auth_burst: env.parse_or("AUTH_RATE_LIMIT_BURST", 20)?,
            trusted_proxies,
        })
    }
}

/// Token buckets keyed by client.
type Buckets<K> = DefaultKeyedRateLimiter<K>;

/// Every limit the gateway enforces, shared by all requests.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Per token `sub`, when on.
    per_token: Option<Buckets<String>>,
    /// Per client IP, when on.
    per_ip: Option<Buckets<IpAddr>>,
    /// Per client IP on the auth routes, when on.
    auth: Option<Buckets<IpAddr>>,
    /// Failed logins per client IP, when on.
    logins: Option<LoginBackoff>,
    /// Proxies whose `X-Forwarded-For` is believed.
    trusted_proxies: Vec<IpNet>,
    /// Made once: building a clock calibrates it (CPUID and a timing loop),
    /// which cost 8 % of the gateway's CPU when done per request.
    clock: DefaultClock,
}

/// `rate` events per `per` with bursts of `burst`; `None` when `rate` is 0.
fn buckets<K: std::hash::Hash + Eq + Clone>(
    rate: u32,
    burst: u32,
    per: fn(NonZeroU32) -> Quota,
) -> Option<Buckets<K>> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(per(rate).allow_burst(burst)))
}

impl Limits {
    /// The limits `config` asks for.
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        let general_on = config.per_token_per_second > 0;
        let per_token = buckets(
            config.per_token_per_second,
            config.per_token_burst.max(config.per_token_per_second),
            Quota::per_second,
        );
        let per_ip = buckets(
            config.per_ip_per_second,
            config.per_ip_burst.max(config.per_ip_per_second),
            Quota::per_second,
        )
        .filter(|_| general_on);
        let auth = buckets(config.auth_per_minute, config.auth_burst, Quota::per_minute);
        let logins = (config.auth_per_minute > 0).then(LoginBackoff::default);
        Self {
            per_token,
            per_ip,
            auth,
            logins,
            trusted_proxies: config.trusted_proxies.clone(),
            clock: DefaultClock::default(),
        }
    }

    /// The client's address: the peer, or what trusted proxies say it is
    /// (IPv4-mapped IPv6 addresses as the IPv4 ones they are).
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        // Each proxy appends the address it got the request from; walk back
        // from the nearest hop until one is not ours.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match IpAddr::from_str(hop) {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !trusted(&client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }

    /// Charges one request from `ip` against the per-IP limits (and, on
    /// an auth route, the sign-in budget): the 429 when one is spent.
    fn charge_ip(&self, ip: IpAddr, auth_route: bool) -> Result<(), ApiError> {
        let key = client_key(ip);
        // The clock is read only for a request that is refused.
        let spent = |not_until: governor::NotUntil<_>, detail: &str| {
            too_many(detail, not_until.wait_time_from(self.clock.now()))
        };
        if let Some(auth) = &self.auth
            && auth_route
            && let Err(not_until) = auth.check_key(&key)
        {
            return Err(spent(
                not_until,
                "too many sign-in requests from this address; slow down",
            ));
        }
        if let Some(per_ip) = &self.per_ip
            && let Err(not_until) = per_ip.check_key(&key)
        {
            return Err(spent(not_until, "rate limit exceeded; slow down"));
        }
        Ok(())
    }

    /// The failed-login backoff, when on.
    pub(crate) fn logins(&self) -> Option<&LoginBackoff> {
        self.logins.as_ref()
    }

    /// Drops state that no longer limits anyone.
    pub(crate) fn retain_recent(&self) {
        if let Some(b) = &self.per_token {
            b.retain_recent();
        }
        for b in [&self.per_ip, &self.auth].into_iter().flatten() {
            b.retain_recent();
        }
        if let Some(logins) = &self.logins {
            logins.retain_recent();
        }
    }
}

/// The key the per-IP limits and the login backoff count `ip` under: an
/// IPv4 address (or an IPv4-mapped IPv6 one) as that IPv4 address, any
/// other IPv6 address as its /64. A subscriber is routinely given a whole
/// /64 and picks addresses in it at will, so keyed by address each IPv6
/// client would have 2^64 budgets.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Failed logins per client (its [`client_key`]). After [`FREE_FAILED_LOGINS`] failures each
/// further one doubles the wait before the next attempt is even checked
/// (1 s, 2 s, 4 s, … up to [`MAX_LOGIN_BACKOFF`]); a successful login clears it.
#[derive(Debug, Default)]
pub(crate) struct LoginBackoff {
    /// Failures and the time before which no attempt is checked.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginBackoff {
    /// A 429 while `ip` must wait.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        let failures = self.failures.lock().expect("not poisoned");
        match failures.get(&client_key(ip)) {
            Some(&(_, until)) if until > Instant::now() => Err(too_many(
                "too many failed logins; wait before trying again",
                until - Instant::now(),
            )),
            _ => Ok(()),
        }
    }

    /// Counts a failed login from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().expect("not poisoned");
        let entry = failures
            .entry(client_key(ip))
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        if entry.0 > FREE_FAILED_LOGINS {
            let doublings = (entry.0 - FREE_FAILED_LOGINS - 1).min(20);
            let wait = Duration::from_secs(1 << doublings).min(MAX_LOGIN_BACKOFF);
            entry.1 = Instant::now() + wait;
        }
    }

    /// A successful login from `ip` clears its failures.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        self.failures
            .lock()
            .expect("not poisoned")
            .remove(&client_key(ip));
    }

    /// Forgets IPs whose last backoff ended long enough ago.
    fn retain_recent(&self) {
        let horizon = Instant::now()
            .checked_sub(MAX_LOGIN_BACKOFF)
            .unwrap_or_else(Instant::now);
        self.failures
            .lock()
            .expect("not poisoned")
            .retain(|_, (_, until)| *until > horizon);
    }
}

/// The client IP of a request, as [`Limits::client_ip`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

/// 429 with a `Retry-After` of at least one second.
fn too_many(detail: &str, wait: Duration) -> ApiError {
    let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, detail);
    error.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    error
}

/// 429 when the request's IP, its token or (on the auth routes) its IP's
/// auth budget is spent; otherwise marks the request with its [`ClientIp`].
pub(crate) async fn rate_limit<S: AsRef<Limits> + AsRef<Auth>>(
    State(state): State<S>,
    mut request: Request,
    next: Next,
) -> Response {
    let limits: &Limits = state.as_ref();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ip = limits.client_ip(peer, request.headers());
    let auth_route = request.uri().path().starts_with(AUTH_ROUTES);
    if let Err(refused) = limits.charge_ip(ip, auth_route) {
        return refused.into_response();
    }
    if let Some(per_token) = &limits.per_token {
        let auth: &Auth = state.as_ref();
        let sub = auth::request_token(request.headers(), auth.cookies.session)
            .and_then(|t| auth.verify(&t).ok())
            .map(|claims| claims.sub);
        // Anonymous requests are limited by their IP alone, as before.
        let key = sub.map_or_else(
            || format!("ip:{}", client_key(ip)),
            |sub| format!("user:{sub}"),
        );
        if let Err(not_until) = per_token.check_key(&key) {
            let wait = not_until.wait_time_from(limits.clock.now());
            return too_many("rate limit exceeded; slow down", wait).into_response();
        }
    }
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;

//! gateway: the REST API, auth, OpenAPI and the storefront in front of
//! Shop's gRPC services.
//!
//! Read top to bottom: [`run`] wires the pieces and drains them at
//! shutdown; `router` stacks the middleware; `api` holds the REST
//! resources, one file each; `storefront` the HTML pages; `openapi` the
//! API description and Swagger UI at `/docs`; `state` what every handler
//! shares; `resources` the JSON shapes the API answers with and the pages
//! render; `auth` the tokens; `limits` the rate limits and login backoff;
//! [`middleware`] the metrics, server span and injected faults; `backends`
//! the gRPC clients and what every call carries; `error` the problem+json
//! mapping.
//!
//! # Layers
//!
//! Modules import only from the layers below them, never from above or
//! from a sibling of their own layer:
//!
//! ```text
//! lib.rs, test_util     wiring: config, router, run
//!   openapi             the document of api's annotations; Swagger UI
//!     api/  storefront/ the REST handlers and the pages; neither imports the other
//!       state           AppState: backends, auth, limits, CSRF key
//!         resources  limits  middleware
//!           auth  backends
//!             error
//! ```
//!
//! The shared pieces never name `AppState`: `auth`'s
//! extractors and `limits`' middleware take any state that is
//! `AsRef<Auth>` / `AsRef<Limits>`. A type both `api` and `storefront` use
//! lives below them (`resources`); the token a request carries (bearer or
//! session cookie) is read in `auth`, for `limits` and the storefront alike.

mod api;
mod auth;
mod backends;
mod error;
mod limits;
pub mod middleware;
mod openapi;
mod resources;
mod state;
mod storefront;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use auth::CookieSecure;
pub use limits::LimitsConfig;
pub use middleware::COMPONENT;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use secrecy::{ExposeSecret, SecretString};
use shop_runtime::config::TlsListener;
use shop_runtime::http;
use shop_runtime::server::admin::{self, AdminState, Readiness};
use shop_runtime::server::shutdown::{Drain, Serving};
use shop_runtime::{ConfigError, Env};
use shop_topology::Component;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{Auth, CookieNames};
use crate::backends::Backends;
use crate::error::ApiError;
use crate::state::{AppState, Shared};

/// Default HTTP port.
pub const DEFAULT_PORT: u16 = Component::Gateway.spec().port;
/// Default admin port.
pub const DEFAULT_ADMIN_PORT: u16 = Component::Gateway.spec().admin_port;
/// Largest request body: 1 MiB.
pub const BODY_LIMIT: usize = 1_048_576;
/// Smallest response body worth compressing.
const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// Configuration of the gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listener (`LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// Admin listener (`ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// The address of every service the gateway calls (`calls` in the
    /// component list), from its variable (`PRODUCT_SERVICE_ADDR`, ...).
    pub backend_addrs: Vec<(Component, String)>,
    /// HS256 key of the tokens (`AUTH_SECRET`, 32 bytes or more, no placeholder).
    pub auth_secret: SecretString,
    /// The administrator's password (`ADMIN_PASSWORD`).
    pub admin_password: SecretString,
    /// Rate limits per token, per IP and on the auth routes, and whose
    /// `X-Forwarded-For` to believe.
    pub limits: LimitsConfig,
    /// Requests served at once before shedding load with 503 (`MAX_CONCURRENT_REQUESTS`).
    pub max_concurrent_requests: usize,
    /// Deadline of each backend call (`DOWNSTREAM_TIMEOUT_MILLIS`).
    pub downstream_timeout: Duration,
    /// Cap on a whole HTTP request (`REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// Upper bound of the drain at shutdown (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: Duration,
    /// Header-read and idle timeouts and the connection limit of the HTTP
    /// listener (`HTTP_HEADER_READ_TIMEOUT_SECONDS`, `HTTP_IDLE_TIMEOUT_SECONDS`,
    /// `MAX_CONNECTIONS`).
    pub http: shop_runtime::http::HttpLimits,
    /// When the storefront's cookies are `Secure` (`COOKIE_SECURE`: `auto`,
    /// the default, when the gateway serves HTTPS; `always` behind a
    /// TLS-terminating ingress). Secure cookies take the `__Host-` prefix
    /// and the site sends HSTS.
    pub cookie_secure: CookieSecure,
    /// HTTPS on the listener and TLS to `https://` backends (`TLS_CERT_FILE`,
    /// `TLS_KEY_FILE`, `TLS_CA_FILE`); plain when unset.
    pub tls: shop_runtime::config::Tls,
    /// Faults injected on purpose from the start (`FAULTS`), changed live
    /// on the admin port.
    pub faults: shop_runtime::chaos::Faults,
}

impl Config {
    /// Reads the configuration; a bad variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let auth_secret = env.signing_key("AUTH_SECRET")?;
        Ok(Self {
            listen_addr: env.parse_or(
                "LISTEN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            )?,
            admin_addr: env.parse_or(
                "ADMIN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], DEFAULT_ADMIN_PORT)),
            )?,
            backend_addrs: Component::Gateway
                .spec()
                .calls
                .iter()
                .map(|&service| (service, env.addr_of(service)))
                .collect(),
            auth_secret,
            admin_password: env.secret("ADMIN_PASSWORD")?,
            limits: LimitsConfig::from_env(env)?,
            max_concurrent_requests: env.parse_or("MAX_CONCURRENT_REQUESTS", 1024)?,
            downstream_timeout: Duration::from_millis(
                env.parse_or("DOWNSTREAM_TIMEOUT_MILLIS", 5000)?,
            ),
            request_timeout: env.seconds_or("REQUEST_TIMEOUT_SECONDS", 15)?,
            shutdown_grace: env.seconds_or("SHUTDOWN_GRACE_SECONDS", 10)?,
            http: shop_runtime::http::HttpLimits::from_env(env)?,
            cookie_secure: env.parse_or("COOKIE_SECURE", CookieSecure::Auto)?,
            tls: shop_runtime::config::Tls::from_env(env)?,
            faults: shop_runtime::chaos::Faults::from_env(env)?,
        })
    }
}

/// The whole HTTP application: API, docs, storefront and their middleware.
fn router(state: AppState, config: &Config) -> Router {
    let secure = state.auth.cookies.secure;
    let api = api::router().layer(DefaultBodyLimit::max(BODY_LIMIT));
    let app = Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(openapi::docs())
        .merge(storefront::router(state.clone()))
        .fallback(|| async { ApiError::not_found("no such resource") })
        // Innermost: metrics and spans see an injected fault as a real one.
        .layer(axum::middleware::from_fn_with_state(
            config.faults.clone(),
            middleware::inject_faults,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit::<AppState>,
        ))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .with_state(state);
    // Outermost first. Everything inside `problem_for_every_error` answers
    // errors as problem+json; load beyond the concurrency limit is shed with 503.
    app.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            // No answer is ever sniffed into another type.
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            // A secure site tells browsers to come back over HTTPS only
            // (a year; its subdomains are not ours to decide).
            .layer(SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                secure.then(|| HeaderValue::from_static("max-age=31536000")),
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(shop_runtime::telemetry::SpanLayer::new(
                middleware::HttpServerSpan,
            ))
            // Bodies under 1 KiB (a product, a cart, an error) go as they
            // are: gzip saved them a few hundred bytes and cost 40 % of the
            // gateway's CPU per browse request (docs/benchmarks.md).
            .layer(
                CompressionLayer::new().compress_when(
                    DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE_BYTES)),
                ),
            )
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }))
            .layer(axum::middleware::map_response(
                error::problem_for_every_error,
            ))
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the shop is overloaded; retry shortly",
                );
                error.retry_after = Some(1);
                error
            }))
            .load_shed()
            .concurrency_limit(config.max_concurrent_requests),
    )
}

/// Runs this component as its binary does: telemetry and configuration
/// from `env`, listeners on the configured addresses, until SIGTERM or
/// Ctrl-C; then the drain and a telemetry flush.
pub async fn serve_from_env(env: Env) -> anyhow::Result<()> {
    let addrs = |c: &Config| (c.listen_addr, c.admin_addr);
    shop_runtime::serve_from_env(&env, COMPONENT, Config::from_env, addrs, run).await
}

/// Runs the gateway on already-bound listeners until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let backends = Backends::new(
        &config.backend_addrs,
        config.downstream_timeout,
        &config.tls,
        &config.faults,
    )?;
    let limits = Arc::new(limits::Limits::new(&config.limits));
    let state = AppState::new(Shared {
        backends: backends.clone(),
        auth: Arc::new(Auth::new(
            &config.auth_secret,
            config.admin_password.clone(),
            CookieNames::new(
                config.cookie_secure == CookieSecure::Always || config.tls.acceptor()?.is_some(),
            ),
        )),
        limits: limits.clone(),
        csrf_key: Arc::new(format!("csrf:{}", config.auth_secret.expose_secret())),
    });
    let app = router(state, &config);

    let readiness = Readiness::new(config.faults.clone());
    let probe = tokio::spawn(watch_backends(backends, readiness.clone(), limits));
    let drain = Drain::new(COMPONENT);
    let admin_state = AdminState {
        readiness: readiness.clone(),
        pool: None,
        service: COMPONENT,
    };
    let admin = tokio::spawn(admin::serve(admin_listener, admin_state, drain.signal()));
    let limits = config.http;
    let server = match config.tls.acceptor()? {
        Some(acceptor) => tokio::spawn(http::serve(
            TlsListener::new(listener, acceptor),
            app,
            limits,
            drain.signal(),
        )),
        None => tokio::spawn(http::serve(
            // No Nagle: an answer must not wait for the client's ACK.
            listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            app,
            limits,
            drain.signal(),
        )),
    };
    let serving = Serving {
        component: COMPONENT,
        drain,
        readiness,
        server,
        admin,
        probe,
    };
    // Readiness is all the gateway advertises; it holds no pool.
    let (unadvertise, last) = (std::future::ready(()), std::future::ready(()));
    serving
        .run_until::<std::io::Error>(shutdown, config.shutdown_grace, unadvertise, last)
        .await?;
    Ok(())
}

/// Readiness follows the backends' health; stale rate-limit buckets are dropped.
async fn watch_backends(backends: Backends, readiness: Readiness, limits: Arc<limits::Limits>) {
    loop {
        readiness.set_dependencies_up(backends.all_serving().await);
        limits.retain_recent();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

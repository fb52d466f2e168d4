//! Settings every gRPC service shares, read from the environment.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::chaos::Faults;
use crate::config::{ConfigError, Env, Tls};
use crate::db::PoolSettings;

/// Settings every gRPC service shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// Where the gRPC server listens (`LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` listen (`ADMIN_ADDR`).
    pub admin_addr: SocketAddr,
    /// The service's own login role; it holds a password (`DATABASE_URL`).
    pub database_url: SecretString,
    /// Upper bound on the drain of in-flight requests at shutdown (`SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: Duration,
    /// Server-side cap on any one request, whatever deadline the client sent
    /// (`REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// Key that signs page tokens so a forged one is refused
    /// (`PAGE_TOKEN_SECRET`, 32 bytes or more; `shop up` and the tests make one).
    pub page_token_secret: SecretString,
    /// TLS of the gRPC listener and of `https://` clients (`TLS_CERT_FILE`,
    /// `TLS_KEY_FILE`, `TLS_CA_FILE`); plain when unset.
    pub tls: Tls,
    /// Pool size and the statement and lock timeouts of every connection
    /// (`DB_STATEMENT_TIMEOUT_MILLIS`, `DB_LOCK_TIMEOUT_MILLIS`).
    pub pool: PoolSettings,
    /// Faults injected on purpose from the start (`FAULTS`; none by
    /// default), changed live on the admin port.
    pub faults: Faults,
    /// Serve gRPC server reflection (`GRPC_REFLECTION`: `on` or `off`, the
    /// default): it lists every method to whoever asks.
    pub reflection: bool,
    /// The event broker (`NATS_URL`, e.g. `nats://127.0.0.1:4222`); unset:
    /// events stay in the outbox until one is configured.
    pub nats_url: Option<String>,
}

impl CommonConfig {
    /// Reads the shared settings, with the design's default ports.
    pub fn from_env(
        env: &Env,
        default_port: u16,
        default_admin_port: u16,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.parse_or(
                "LISTEN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], default_port)),
            )?,
            admin_addr: env.parse_or(
                "ADMIN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], default_admin_port)),
            )?,
            database_url: env.secret("DATABASE_URL")?,
            faults: Faults::from_env(env)?,
            shutdown_grace: env.seconds_or("SHUTDOWN_GRACE_SECONDS", 10)?,
            request_timeout: env.seconds_or("REQUEST_TIMEOUT_SECONDS", 30)?,
            page_token_secret: env.signing_key("PAGE_TOKEN_SECRET")?,
            tls: Tls::from_env(env)?,
            pool: PoolSettings::from_env(env)?,
            reflection: env.switch("GRPC_REFLECTION", false)?,
            nats_url: env.get("NATS_URL").filter(|url| !url.trim().is_empty()),
        })
    }

    /// A client of `service` at `addr`, with this component's TLS and
    /// faults on every call (`crate::client::channel`).
    pub fn client(
        &self,
        service: shop_topology::Component,
        addr: &str,
    ) -> Result<crate::client::Client, ConfigError> {
        let var = service.spec().addr_var.unwrap_or("SERVICE_ADDR");
        crate::client::channel(var, addr, &self.tls, &self.faults)
    }

    /// Starts the outbox relay of `component` over `pool` when `NATS_URL`
    /// is set ([`crate::events::relay`]); abort the task to stop it.
    pub fn spawn_relay(
        &self,
        component: &'static str,
        pool: &sqlx::PgPool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let url = self.nats_url.clone()?;
        Some(crate::events::relay::spawn(
            url,
            pool.clone(),
            component,
            self.faults.clone(),
        ))
    }

    /// Starts the consumer `spec` with `handler` over `pool` when
    /// `NATS_URL` is set ([`crate::events::consumer`]), with this
    /// component's faults on its fetches; abort the task to stop it.
    pub fn spawn_consumer<H: crate::events::consumer::Handler>(
        &self,
        pool: &sqlx::PgPool,
        spec: crate::events::consumer::ConsumerSpec,
        handler: H,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let url = self.nats_url.clone()?;
        Some(crate::events::consumer::spawn(
            url,
            pool.clone(),
            spec,
            handler,
            self.faults.clone(),
        ))
    }

    /// The main and admin addresses, for [`crate::serve_from_env`].
    pub fn addrs(&self) -> (SocketAddr, SocketAddr) {
        (self.listen_addr, self.admin_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_apply_when_only_the_database_is_given() {
        let cfg =
            CommonConfig::from_env(&env(&[("DATABASE_URL", "postgres://x"), KEY]), 50051, 9101)
                .unwrap();
        assert_eq!(cfg.listen_addr.port(), 50051);
        assert_eq!(cfg.admin_addr.port(), 9101);
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = CommonConfig::from_env(
            &env(&[
                ("DATABASE_URL", "postgres://x"),
                KEY,
                ("LISTEN_ADDR", "nope"),
            ]),
            1,
            2,
        )
        .unwrap_err();
        assert_eq!(err.var, "LISTEN_ADDR");
        assert!(
            err.to_string()
                .starts_with("invalid configuration: LISTEN_ADDR:"),
            "{err}"
        );
    }

    const KEY: (&str, &str) = ("PAGE_TOKEN_SECRET", "a-page-token-key-of-32-bytes-ok!");

    #[test]
    fn a_placeholder_secret_is_refused_by_name() {
        let err = CommonConfig::from_env(
            &env(&[
                ("DATABASE_URL", "postgres://svc:CHANGE-ME-svc@db/shop"),
                KEY,
            ]),
            1,
            2,
        )
        .unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(err.message.contains("placeholder"), "{err}");
        assert!(
            !err.to_string().contains("svc@db"),
            "the value never shows: {err}"
        );
    }

    #[test]
    fn the_page_token_secret_is_required_and_at_least_32_bytes() {
        let missing = CommonConfig::from_env(&env(&[("DATABASE_URL", "postgres://x")]), 1, 2);
        assert_eq!(missing.unwrap_err().var, "PAGE_TOKEN_SECRET");
        let short = CommonConfig::from_env(
            &env(&[
                ("DATABASE_URL", "postgres://x"),
                ("PAGE_TOKEN_SECRET", &"k".repeat(31)),
            ]),
            1,
            2,
        )
        .unwrap_err();
        assert_eq!(short.var, "PAGE_TOKEN_SECRET");
        assert!(short.message.contains("32 bytes"), "{short}");
        let placeholder = env(&[("K", "CHANGE-ME-but-long-enough-to-pass-the-length")]);
        assert!(
            placeholder
                .signing_key("K")
                .unwrap_err()
                .message
                .contains("placeholder")
        );
    }

    #[test]
    fn a_missing_database_url_is_refused() {
        let err = CommonConfig::from_env(&env(&[]), 1, 2).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }
}

//! Typed configuration from environment variables.
//!
//! Every variable is read once at start and parsed into a typed field; a bad
//! value stops the process with one line naming the variable. Secrets are
//! wrapped in [`SecretString`] so they never reach a log by accident.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// A configuration variable that is missing or cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: String,
    /// What is wrong with it (never its value when it is a secret).
    pub message: String,
}

/// Looks a variable up by name.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where configuration values come from: the process environment, or a map in tests.
pub struct Env {
    /// Looks a variable up by name.
    lookup: Box<Lookup>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// A fixed set of variables, for tests and for `shop up`.
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self {
            lookup: Box::new(move |name| vars.get(name).cloned()),
        }
    }

    /// The raw value, with empty strings treated as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    /// Parses `var`, or returns `default` when it is unset.
    pub fn parse_or<T>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e| ConfigError {
                var: var.to_string(),
                message: format!("cannot parse {raw:?}: {e}"),
            }),
        }
    }

    /// A whole number of seconds, or `default`.
    pub fn seconds_or(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_or(var, default).map(Duration::from_secs)
    }

    /// A secret that must be set.
    pub fn secret(&self, var: &str) -> Result<SecretString, ConfigError> {
        self.get(var)
            .map(SecretString::from)
            .ok_or_else(|| ConfigError {
                var: var.to_string(),
                message: "must be set".to_string(),
            })
    }
}

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
    /// Key that signs page tokens so a forged one is refused (`PAGE_TOKEN_SECRET`).
    pub page_token_secret: SecretString,
    /// TLS of the gRPC listener and of `https://` clients (`TLS_CERT_FILE`,
    /// `TLS_KEY_FILE`, `TLS_CA_FILE`); plain when unset.
    pub tls: crate::tls::Tls,
}

/// Default signing key of page tokens. Page tokens only carry a position in a
/// listing the caller may read anyway, so a shared default is harmless; set
/// `PAGE_TOKEN_SECRET` to make tokens unforgeable across deployments.
const DEV_PAGE_TOKEN_SECRET: &str = "shop-development-page-token-key";

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
            shutdown_grace: env.seconds_or("SHUTDOWN_GRACE_SECONDS", 10)?,
            request_timeout: env.seconds_or("REQUEST_TIMEOUT_SECONDS", 30)?,
            page_token_secret: env
                .get("PAGE_TOKEN_SECRET")
                .unwrap_or_else(|| DEV_PAGE_TOKEN_SECRET.to_string())
                .into(),
            tls: crate::tls::Tls::from_env(env)?,
        })
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
            CommonConfig::from_env(&env(&[("DATABASE_URL", "postgres://x")]), 50051, 9101).unwrap();
        assert_eq!(cfg.listen_addr.port(), 50051);
        assert_eq!(cfg.admin_addr.port(), 9101);
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(10));
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = CommonConfig::from_env(
            &env(&[("DATABASE_URL", "postgres://x"), ("LISTEN_ADDR", "nope")]),
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

    #[test]
    fn a_missing_database_url_is_refused() {
        let err = CommonConfig::from_env(&env(&[]), 1, 2).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
    }
}

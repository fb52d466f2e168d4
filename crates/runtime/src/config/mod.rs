//! Typed configuration from environment variables.
//!
//! Every variable is read once at start and parsed into a typed field; a bad
//! value stops the process with one line naming the variable. Secrets are
//! wrapped in [`SecretString`] so they never reach a log by accident. TLS
//! material is configuration too ([`Tls`]).

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

mod tls;

pub(crate) use tls::install_crypto_provider;
pub use tls::{Tls, TlsListener};

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

    /// The address of a gRPC service, with scheme, from its variable
    /// (`CART_SERVICE_ADDR`), or its design port on loopback.
    pub fn addr_of(&self, service: shop_topology::Component) -> String {
        match service.spec().addr_var {
            Some(var) => self.get(var).unwrap_or_else(|| service.local_addr()),
            None => unreachable!("{service} is not called by address"),
        }
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

    /// A secret that must be set, and must not be a placeholder: a value
    /// containing [`PLACEHOLDER`] (as the docs' examples do) is refused, so a
    /// copied example never runs with a key everyone knows.
    pub fn secret(&self, var: &str) -> Result<SecretString, ConfigError> {
        let error = |message: &str| ConfigError {
            var: var.to_string(),
            message: message.to_string(),
        };
        let value = self.get(var).ok_or_else(|| error("must be set"))?;
        if value.contains(PLACEHOLDER) {
            return Err(error(&format!(
                "is a placeholder (contains {PLACEHOLDER}); set a real secret"
            )));
        }
        Ok(SecretString::from(value))
    }

    /// A signing key: a [`secret`](Self::secret) of at least
    /// [`MIN_KEY_BYTES`] bytes, as HMAC-SHA256 wants 256 bits.
    pub fn signing_key(&self, var: &str) -> Result<SecretString, ConfigError> {
        let key = self.secret(var)?;
        if key.expose_secret().len() < MIN_KEY_BYTES {
            return Err(ConfigError {
                var: var.to_string(),
                message: format!("must be at least {MIN_KEY_BYTES} bytes (HS256 wants 256 bits)"),
            });
        }
        Ok(key)
    }
}

/// What the checked-in examples put where a secret goes.
pub(crate) const PLACEHOLDER: &str = "CHANGE-ME";
/// Shortest signing key accepted: 256 bits.
pub(crate) const MIN_KEY_BYTES: usize = 32;

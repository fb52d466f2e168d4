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

    /// An on/off switch: `on` or `off` (also `true`/`false`, `1`/`0`), or
    /// `default` when unset.
    pub fn switch(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref().map(str::trim) {
            None => Ok(default),
            Some("on" | "true" | "1") => Ok(true),
            Some("off" | "false" | "0") => Ok(false),
            Some(_) => Err(ConfigError {
                var: var.into(),
                message: "must be on or off".into(),
            }),
        }
    }

    /// A whole number of seconds, or `default`.
    pub fn seconds_or(&self, var: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse_or(var, default).map(Duration::from_secs)
    }

    /// A secret that must be set, and must not be a placeholder: a value
    /// containing [`PLACEHOLDER`] (as the docs' examples do) is refused, so a
    /// copied example never runs with a key everyone knows. Nor may it be
    /// one of the [`DEVELOPMENT_VALUES`] committed to the repository (for a
    /// URL, its password), unless the deployment declares itself a
    /// development one ([`DEVELOPMENT_VAR`]).
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
        if is_development_value(&value) && !self.is_development()? {
            return Err(error(&format!(
                "is a development value committed to the repository, public to anyone; \
                 set a real secret (only a deployment with {DEVELOPMENT_VAR}={DEVELOPMENT} \
                 accepts it)"
            )));
        }
        Ok(SecretString::from(value))
    }

    /// Whether the deployment declares itself a development one
    /// ([`DEVELOPMENT_VAR`] set to [`DEVELOPMENT`]); any other value is an
    /// error, so a misspelling never passes for either.
    pub fn is_development(&self) -> Result<bool, ConfigError> {
        match self.get(DEVELOPMENT_VAR) {
            None => Ok(false),
            Some(value) if value.trim() == DEVELOPMENT => Ok(true),
            Some(value) => Err(ConfigError {
                var: DEVELOPMENT_VAR.to_string(),
                message: format!("must be {DEVELOPMENT:?} or unset, not {value:?}"),
            }),
        }
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

/// The variable by which a deployment declares itself a development one:
/// set to [`DEVELOPMENT`] by docker-compose.yml and the dev overlay only.
pub const DEVELOPMENT_VAR: &str = "SHOP_ENV";
/// The value of [`DEVELOPMENT_VAR`] that accepts [`DEVELOPMENT_VALUES`].
pub const DEVELOPMENT: &str = "development";

/// Every secret committed to the repository as a `# development value`
/// (docker-compose.yml, k8s/overlays/dev/secret.dev.yaml,
/// db/dev-passwords.sql): public, so refused as a secret, or as the
/// password of a URL, outside a development deployment. A test in
/// `tests/deployment` holds this list and the marked values in step.
pub const DEVELOPMENT_VALUES: &[&str] = &[
    // docker-compose.yml
    "compose-development-secret-not-for-production",
    "compose-development-page-token-secret-not-for-production",
    "compose-development-faults-token-not-for-production",
    "grafana-dev-password",
    // k8s/overlays/dev/secret.dev.yaml
    "k8s-development-auth-secret-not-for-production",
    "k8s-development-page-token-secret-not-for-production",
    "k8s-development-faults-token-not-for-production",
    // both, and db/dev-passwords.sql
    "admin-dev-password",
    "postgres-dev-password",
    "product-dev-password",
    "cart-dev-password",
    "order-dev-password",
    "fulfillment-dev-password",
];

/// Whether `value` is one of the [`DEVELOPMENT_VALUES`], or a URL whose
/// password is.
fn is_development_value(value: &str) -> bool {
    let value = value.trim();
    DEVELOPMENT_VALUES
        .iter()
        .any(|known| value == *known || value.contains(&format!(":{known}@")))
}

#[cfg(test)]
mod tests;

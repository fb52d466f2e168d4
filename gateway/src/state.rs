//! What every handler shares: the backends, the token issuer, the limits,
//! the storefront's CSRF key. `api` and `storefront` take it as axum state;
//! the pieces below them (`auth`'s extractors, `limits`' middleware) ask it
//! only for their own part, through `AsRef`, and never name it.

use std::sync::Arc;

use crate::auth::Auth;
use crate::backends::Backends;
use crate::limits::Limits;

/// What every handler shares, behind one `Arc`: axum clones the state for
/// every extractor and middleware that takes it, and a deep clone (three
/// channels, the health list) was 5 % of the gateway's CPU per browse.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) backends: Backends,
    pub(crate) auth: Arc<Auth>,
    /// Rate limits and the login backoff.
    pub(crate) limits: Arc<Limits>,
    /// Key of the storefront's CSRF tokens.
    pub(crate) csrf_key: Arc<String>,
}

impl AsRef<Auth> for AppState {
    fn as_ref(&self) -> &Auth {
        &self.auth
    }
}

impl AsRef<Limits> for AppState {
    fn as_ref(&self) -> &Limits {
        &self.limits
    }
}

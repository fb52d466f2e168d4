//! The visitor's session and the forms' CSRF tokens.
//!
//! The session is a guest token in the `shop_session` cookie; the pending
//! checkout's idempotency key rides in `shop_checkout`. Both are HttpOnly,
//! SameSite=Lax, Path=/; when they are Secure (`COOKIE_SECURE`: the gateway
//! serves HTTPS, or `always` behind a TLS-terminating ingress) their names
//! carry the `__Host-` prefix ([`crate::auth::CookieNames`]).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::auth::{Claims, Role, TOKEN_TTL, cookie};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a pending checkout keeps its key.
pub(super) const CHECKOUT_KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Finds the visitor's session or starts a guest one, and hands its claims
/// to the page.
pub(super) async fn session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let names = state.auth.cookies;
    let existing =
        cookie(request.headers(), names.session).and_then(|t| state.auth.verify(&t).ok());
    let (claims, new_token) = match existing {
        Some(claims) => (claims, None),
        None => {
            let user_id = Uuid::new_v4().to_string();
            let (token, _) = state.auth.issue(&user_id, Role::Shopper);
            let claims = state.auth.verify(&token).expect("a fresh token verifies");
            (claims, Some(token))
        }
    };
    request.extensions_mut().insert(claims);
    let mut response = next.run(request).await;
    if let Some(token) = new_token {
        set_cookie(&mut response, &state, names.session, token, TOKEN_TTL);
    }
    response
}

/// Appends an HttpOnly, SameSite=Lax cookie for the whole site, `Secure`
/// when the site's cookies are; a `max_age` of zero deletes it.
pub(super) fn set_cookie(
    response: &mut Response,
    state: &AppState,
    name: &'static str,
    value: String,
    max_age: Duration,
) {
    let cookie = site_cookie(name, value, max_age, state.auth.cookies.secure);
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn site_cookie(
    name: &'static str,
    value: String,
    max_age: Duration,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(max_age.try_into().unwrap_or(cookie::time::Duration::MAX))
        .secure(secure)
        .build()
}

fn csrf_mac(state: &AppState, claims: &Claims) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.csrf_key.as_bytes()).expect("any key length");
    mac.update(b"csrf\0");
    mac.update(claims.sub.as_bytes());
    mac
}

/// The CSRF token of a session.
pub(super) fn csrf_token(state: &AppState, claims: &Claims) -> String {
    let tag = csrf_mac(state, claims).finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
}

/// A 403 unless `submitted` is the session's CSRF token.
pub(super) fn check_csrf(
    state: &AppState,
    claims: &Claims,
    submitted: &str,
) -> Result<(), ApiError> {
    let submitted = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(submitted)
        .unwrap_or_default();
    csrf_mac(state, claims)
        .verify_slice(&submitted)
        .map_err(|_| {
            ApiError::forbidden(
                "the form expired or did not come from this shop; reload the page and try again",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_for_the_whole_site_and_secure_under_tls() {
        let attributes = |cookie: Cookie<'_>| {
            let text = cookie.to_string();
            let mut parts: Vec<String> = text.split("; ").map(str::to_string).collect();
            parts.sort();
            parts
        };
        let plain = site_cookie("shop_session", "tok".into(), TOKEN_TTL, false);
        assert_eq!(
            attributes(plain),
            [
                "HttpOnly",
                "Max-Age=86400",
                "Path=/",
                "SameSite=Lax",
                "shop_session=tok"
            ]
        );
        let tls = site_cookie("__Host-shop_checkout", String::new(), Duration::ZERO, true);
        assert_eq!(
            attributes(tls),
            [
                "HttpOnly",
                "Max-Age=0",
                "Path=/",
                "SameSite=Lax",
                "Secure",
                "__Host-shop_checkout="
            ]
        );
    }
}

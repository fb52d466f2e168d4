//! Authentication: HS256 JWTs signed with `AUTH_SECRET`.
//!
//! Claims are `sub` (user id), `role` (`shopper` or `admin`), `iat` and `exp`
//! (24 h). Only HS256 is accepted: a token with any other algorithm, `none`
//! included, is refused, as is an expired or tampered one. Admin login
//! compares the password's SHA-256 digest in constant time, so its length
//! does not leak either.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use cookie::Cookie;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;

/// How long a token is valid.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// User id of the administrator.
pub(crate) const ADMIN_USER_ID: &str = "admin";

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// A shopper: their own cart and orders.
    Shopper,
    /// The administrator: the catalog, plus what a shopper can do.
    Admin,
}

/// The claims of a Shop token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// User id.
    pub(crate) sub: String,
    pub(crate) role: Role,
    /// Issued at, seconds since the epoch.
    pub(crate) iat: i64,
    /// Expires at, seconds since the epoch.
    pub(crate) exp: i64,
}

/// Issues and verifies tokens.
pub(crate) struct Auth {
    /// Signs tokens.
    encoding: EncodingKey,
    /// Verifies tokens.
    decoding: DecodingKey,
    /// HS256 only, expiry required.
    validation: Validation,
    /// SHA-256 of the administrator's password: compared digest to digest,
    /// so neither the time taken nor anything else reveals its length.
    admin_password_digest: [u8; 32],
    /// The storefront's cookies.
    pub(crate) cookies: CookieNames,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

impl Auth {
    /// Keys from the secret.
    pub(crate) fn new(
        secret: &SecretString,
        admin_password: SecretString,
        cookies: CookieNames,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
            admin_password_digest: Sha256::digest(admin_password.expose_secret().as_bytes()).into(),
            cookies,
        }
    }

    /// A signed token for `sub`, and when it expires.
    pub(crate) fn issue(&self, sub: &str, role: Role) -> (String, DateTime<Utc>) {
        let now = Utc::now();
        let expires = now + chrono::Duration::from_std(TOKEN_TTL).expect("24 h fits");
        let claims = Claims {
            sub: sub.to_string(),
            role,
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        (token, expires)
    }

    /// The claims of a valid token.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::unauthorized("invalid or expired token"))
    }

    /// True when `username` and `password` are the administrator's. The
    /// password's digest is compared in constant time with the stored one's,
    /// so the comparison takes as long whatever the lengths.
    pub(crate) fn is_admin(&self, username: &str, password: &str) -> bool {
        let user_ok = username.as_bytes().ct_eq(ADMIN_USER_ID.as_bytes());
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let password_ok = digest.ct_eq(&self.admin_password_digest);
        bool::from(user_ok & password_ok)
    }
}

/// When the storefront's cookies carry `Secure` (`COOKIE_SECURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecure {
    /// When the gateway serves HTTPS itself (`auto`, the default).
    Auto,
    /// Always (`always`): behind a proxy or ingress that terminates TLS,
    /// where the gateway itself sees plain HTTP.
    Always,
}

impl std::str::FromStr for CookieSecure {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            _ => Err("must be auto or always".into()),
        }
    }
}

/// The names of the storefront's cookies. Secure ones carry the `__Host-`
/// prefix, with which a browser takes a cookie only when it is `Secure`,
/// for `Path=/` and set by this very host (no `Domain`): no sibling
/// subdomain and no plain-HTTP page can plant a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CookieNames {
    /// Holds the session's token.
    pub(crate) session: &'static str,
    /// Holds the pending checkout's idempotency key.
    pub(crate) checkout: &'static str,
    /// The cookies carry `Secure` (and the site sends HSTS).
    pub(crate) secure: bool,
}

impl CookieNames {
    pub(crate) const fn new(secure: bool) -> Self {
        if secure {
            Self {
                session: "__Host-shop_session",
                checkout: "__Host-shop_checkout",
                secure,
            }
        } else {
            Self {
                session: "shop_session",
                checkout: "shop_checkout",
                secure,
            }
        }
    }
}

/// The value of cookie `name` in a request, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_string())
}

/// The token of a request: `Authorization: Bearer`, or the storefront
/// cookie named `session_cookie`.
pub(crate) fn request_token(headers: &HeaderMap, session_cookie: &str) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    cookie(headers, session_cookie)
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Any authenticated caller: its claims.
#[derive(Debug, Clone)]
pub(crate) struct User(pub(crate) Claims);

impl<S: AsRef<Auth> + Sync> FromRequestParts<S> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        Ok(Self(state.as_ref().verify(token)?))
    }
}

/// Proof that the caller is the administrator; a shopper gets 403.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl<S: AsRef<Auth> + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let User(claims) = User::from_request_parts(parts, state).await?;
        if claims.role != Role::Admin {
            return Err(ApiError::forbidden("this route is for the administrator"));
        }
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use base64::Engine as _;

    fn auth() -> Auth {
        Auth::new(
            &"secret".to_string().into(),
            "pw".to_string().into(),
            CookieNames::new(false),
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let (token, _) = auth().issue("u1", Role::Shopper);
        let claims = auth().verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("u1", Role::Shopper));
        assert_eq!(claims.exp - claims.iat, 24 * 3600);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = Auth::new(
            &"other".to_string().into(),
            "pw".to_string().into(),
            CookieNames::new(false),
        );
        let (token, _) = other.issue("u1", Role::Admin);
        assert_eq!(auth().verify(&token).unwrap_err().status, 401);
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let exp = Utc::now().timestamp() + 3600;
        let payload = b64(&format!(
            r#"{{"sub":"u1","role":"admin","iat":0,"exp":{exp}}}"#
        ));
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(auth().verify(&none).unwrap_err().status, 401);
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                sub: "u1".into(),
                role: Role::Admin,
                iat: 0,
                exp,
            },
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(auth().verify(&hs512).unwrap_err().status, 401);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let claims = Claims {
            sub: "u1".into(),
            role: Role::Shopper,
            iat: 0,
            exp: Utc::now().timestamp() - 60,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(auth().verify(&token).unwrap_err().status, 401);
    }

    #[test]
    fn admin_credentials_are_checked_exactly() {
        assert!(auth().is_admin("admin", "pw"));
        assert!(!auth().is_admin("admin", "pw "));
        assert!(!auth().is_admin("root", "pw"));
        assert!(!auth().is_admin("admin", ""));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; shop_session=tok; b=2"),
        );
        assert_eq!(cookie(&headers, "shop_session").as_deref(), Some("tok"));
    }

    #[test]
    fn a_secure_site_reads_only_its_host_prefixed_session_cookie() {
        let secure = CookieNames::new(true);
        assert_eq!(secure.session, "__Host-shop_session");
        assert_eq!(secure.checkout, "__Host-shop_checkout");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("shop_session=planted"),
        );
        assert_eq!(request_token(&headers, secure.session), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("shop_session=planted; __Host-shop_session=tok"),
        );
        assert_eq!(
            request_token(&headers, secure.session).as_deref(),
            Some("tok")
        );
        assert_eq!("always".parse(), Ok(CookieSecure::Always));
        assert_eq!("auto".parse(), Ok(CookieSecure::Auto));
        assert!("yes".parse::<CookieSecure>().is_err());
    }

    #[test]
    fn cookies_in_several_headers_and_malformed_pairs_are_read_past() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("junk; =x"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("shop_checkout=k1; shop_session=tok"),
        );
        assert_eq!(cookie(&headers, "shop_session").as_deref(), Some("tok"));
        assert_eq!(cookie(&headers, "shop_checkout").as_deref(), Some("k1"));
        assert_eq!(cookie(&headers, "absent"), None);
    }
}

//! Opaque, tamper-evident page tokens for cursor pagination.
//!
//! A token carries the position after the last item of a page, bound to the
//! listing it came from (its filters) and signed with HMAC-SHA256. A token
//! that was forged, altered, or issued for other filters is refused, so a
//! client cannot steer a query through it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// A token this server did not issue for this listing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("page_token is not valid for this listing")]
pub struct InvalidPageToken;

/// Issues and checks page tokens with one key.
#[derive(Clone)]
pub struct PageTokens {
    /// HMAC key.
    key: SecretString,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens")
    }
}

impl PageTokens {
    /// Tokens signed with `key`.
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(payload);
        mac
    }

    /// A token for `cursor` in the listing named by `scope` (its filters).
    pub fn issue<T: Serialize>(&self, scope: &str, cursor: &T) -> String {
        let payload = serde_json::to_vec(cursor).expect("cursors serialize");
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The cursor of a token issued by [`PageTokens::issue`] for the same scope.
    pub fn check<T: DeserializeOwned>(
        &self,
        scope: &str,
        token: &str,
    ) -> Result<T, InvalidPageToken> {
        let (payload, tag) = token.split_once('.').ok_or(InvalidPageToken)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvalidPageToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidPageToken)?;
        self.mac(scope, &payload)
            .verify_slice(&tag)
            .map_err(|_| InvalidPageToken)?;
        serde_json::from_slice(&payload).map_err(|_| InvalidPageToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new("test-key".to_string().into())
    }

    #[test]
    fn an_issued_token_reads_back_its_cursor() {
        let token = tokens().issue("category=books", &("Dune", 42));
        assert_eq!(
            tokens().check::<(String, i32)>("category=books", &token),
            Ok(("Dune".into(), 42))
        );
    }

    #[test]
    fn a_token_for_other_filters_is_refused() {
        let token = tokens().issue("category=books", &1);
        assert_eq!(
            tokens().check::<i32>("category=games", &token),
            Err(InvalidPageToken)
        );
    }

    #[test]
    fn an_altered_token_is_refused() {
        let token = tokens().issue("", &1);
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"2"),
            token.split_once('.').unwrap().1
        );
        assert_eq!(tokens().check::<i32>("", &forged), Err(InvalidPageToken));
        assert_eq!(tokens().check::<i32>("", "garbage"), Err(InvalidPageToken));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = PageTokens::new("other".to_string().into()).issue("", &1);
        assert_eq!(tokens().check::<i32>("", &other), Err(InvalidPageToken));
    }
}

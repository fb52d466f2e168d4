//! Cursor pagination: opaque, tamper-evident page tokens, and the
//! [`Page`] every list RPC goes through.
//!
//! A token carries the position after the last item of a page, bound to the
//! listing it came from (its filters) and signed with HMAC-SHA256. A token
//! that was forged, altered, or issued for other filters is refused, so a
//! client cannot steer a query through it.
//!
//! A list handler reads its request into a page, fetches one row more than
//! the page holds, and lets the page cut the rows and issue the next token:
//!
//! ```text
//! let page = self.tokens.page::<Cursor>(scope, req.page_size, &req.page_token)?;
//! let rows = self.store.list(&filter, page.after.as_ref(), page.fetch()).await?;
//! let (rows, next_page_token) = page.finish(rows, |last| Cursor::of(last));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::server::validate::{self, FieldError};

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

impl PageTokens {
    /// The page a list request asks for in the listing `scope`: its
    /// `page_size` (0 means 20, at most 100) and `page_token` (empty for the
    /// first page), each checked and named when wrong.
    pub fn page<C: DeserializeOwned>(
        &self,
        scope: impl Into<String>,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<'_, C>, FieldError> {
        let scope = scope.into();
        let size = validate::page_size(page_size)?;
        let after = match page_token {
            "" => None,
            token => Some(
                self.check(&scope, token)
                    .map_err(|e| FieldError::new("page_token", e.to_string()))?,
            ),
        };
        Ok(Page {
            tokens: self,
            scope,
            size,
            after,
        })
    }
}

/// One page of a listing, as a request asked for it.
#[derive(Debug)]
pub struct Page<'a, C> {
    tokens: &'a PageTokens,
    scope: String,
    /// Items on a full page.
    pub size: i64,
    /// The cursor the page starts after; `None` on the first page.
    pub after: Option<C>,
}

impl<C: Serialize> Page<'_, C> {
    /// Rows to fetch: one more than the page holds tells whether another
    /// page follows.
    pub fn fetch(&self) -> i64 {
        self.size + 1
    }

    /// Cuts `rows` (fetched with [`Page::fetch`]) to the page, and returns
    /// them with the token of the next page, made from the `cursor` of the
    /// page's last row; the token is empty on the last page.
    pub fn finish<T>(self, mut rows: Vec<T>, cursor: impl FnOnce(&T) -> C) -> (Vec<T>, String) {
        if rows.len() as i64 <= self.size {
            return (rows, String::new());
        }
        rows.truncate(self.size as usize);
        let token = rows
            .last()
            .map(|last| self.tokens.issue(&self.scope, &cursor(last)))
            .unwrap_or_default();
        (rows, token)
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
    fn a_page_cuts_the_extra_row_and_issues_the_next_token_from_the_last_row() {
        let tokens = tokens();
        let page = tokens.page::<i32>("s", 2, "").unwrap();
        assert_eq!((page.size, page.after, page.fetch()), (2, None, 3));
        let (rows, next) = page.finish(vec![10, 11, 12], |last| *last);
        assert_eq!(rows, [10, 11]);

        let page = tokens.page::<i32>("s", 2, &next).unwrap();
        assert_eq!(page.after, Some(11));
        let (rows, next) = page.finish(vec![12], |last| *last);
        assert_eq!((rows, next), (vec![12], String::new()));
    }

    #[test]
    fn a_page_request_names_its_bad_field() {
        let tokens = tokens();
        assert_eq!(
            tokens.page::<i32>("s", 101, "").unwrap_err().field,
            "page_size"
        );
        let other = tokens.issue("other", &1);
        assert_eq!(
            tokens.page::<i32>("s", 0, &other).unwrap_err().field,
            "page_token"
        );
        assert_eq!(tokens.page::<i32>("s", 0, "").unwrap().size, 20);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = PageTokens::new("other".to_string().into()).issue("", &1);
        assert_eq!(tokens().check::<i32>("", &other), Err(InvalidPageToken));
    }
}

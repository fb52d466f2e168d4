//! Field validation shared by every service: each check names the field, so
//! the client's INVALID_ARGUMENT says exactly what to fix.

use uuid::Uuid;

/// A request field that is malformed or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The request field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// INVALID_ARGUMENT, with the field named twice: in the message
/// (`"quantity: must be between 1 and 99, got 0"`) for people, and as a
/// `google.rpc.BadRequest` field violation for programs (the storefront
/// picks the notice it shows by the field).
impl From<FieldError> for tonic::Status {
    fn from(e: FieldError) -> Self {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let details = ErrorDetails::with_bad_request_violation(e.field, e.message.clone());
        tonic::Status::with_error_details(tonic::Code::InvalidArgument, e.to_string(), details)
    }
}

/// Page size when the caller sends none.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page a caller may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Most characters of a rejected value an error shows.
pub const ECHO_CHARS: usize = 32;

/// A rejected value as an error shows it: quoted, and cut after
/// [`ECHO_CHARS`] characters (marked `…`), so an error never hands a
/// client's megabyte back to it, or into every log line that records it.
pub fn echo(raw: &str) -> String {
    let mut chars = raw.chars();
    let head: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// A UUID, surrounding whitespace ignored.
pub fn uuid(field: &'static str, raw: &str) -> Result<Uuid, FieldError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| FieldError::new(field, format!("must be a UUID, got {}", echo(raw))))
}

/// Applies the default (0 → 20) and checks the range 1..=100 of a page size.
pub fn page_size(raw: i32) -> Result<i64, FieldError> {
    match i64::from(raw) {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n @ 1..=MAX_PAGE_SIZE => Ok(n),
        n => Err(FieldError::new(
            "page_size",
            format!("must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
        )),
    }
}

/// Checks a free-text field after trimming: length in characters and no
/// control characters but newline and tab (PostgreSQL refuses NUL, and
/// nobody needs the others).
pub fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let value = raw.trim();
    let len = value.chars().count();
    if len < min || len > max {
        return Err(FieldError::new(
            field,
            format!("must be {min} to {max} characters, got {len}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

/// An opaque user id as the gateway sends it: 1 to 128 visible ASCII characters.
pub fn user_id(raw: &str) -> Result<String, FieldError> {
    if (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            "user_id",
            "must be 1 to 128 visible ASCII characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_value_is_echoed_cut_to_a_few_characters() {
        let long = "x".repeat(1_000_000);
        let message = uuid("product_id", &long).unwrap_err().message;
        assert!(message.len() < 100, "echoed {} bytes", message.len());
        assert!(message.ends_with('…'), "{message}");
        assert_eq!(echo("abc"), "\"abc\"");
        // Cut on a character boundary, never inside one.
        assert_eq!(
            echo(&"é".repeat(40)),
            format!("{:?}…", "é".repeat(ECHO_CHARS))
        );
    }

    #[test]
    fn page_size_defaults_and_bounds() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(100).unwrap(), 100);
        assert_eq!(page_size(101).unwrap_err().field, "page_size");
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn text_refuses_nul_and_overlong_values_and_trims() {
        assert!(text("name", "a\u{0}b", 1, 10).is_err());
        assert!(text("name", &"x".repeat(11), 1, 10).is_err());
        assert_eq!(text("name", "  Mug ", 1, 10).unwrap(), "Mug");
    }

    #[test]
    fn user_ids_are_visible_ascii() {
        assert!(user_id("7f1c2a").is_ok());
        assert!(user_id("").is_err());
        assert!(user_id("a b").is_err());
        assert!(user_id(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_malformed_uuid_names_the_field() {
        assert_eq!(uuid("id", "nope").unwrap_err().field, "id");
    }

    #[test]
    fn a_field_error_is_invalid_argument_with_a_field_violation() {
        use tonic_types::StatusExt as _;
        let status = tonic::Status::from(FieldError::new("quantity", "must be 1 to 99"));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "quantity: must be 1 to 99");
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(
            (
                violations[0].field.as_str(),
                violations[0].description.as_str()
            ),
            ("quantity", "must be 1 to 99")
        );
    }
}

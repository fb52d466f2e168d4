//! The one error type of product-service and its single mapping to gRPC status.
//!
//! Client mistakes become INVALID_ARGUMENT (naming the field), NOT_FOUND,
//! ALREADY_EXISTS or FAILED_PRECONDITION with a message that names the
//! product. What is not the caller's fault is a [`Failure`], answered as every
//! service does: UNAVAILABLE when a retry may help, INTERNAL otherwise.

use shop_runtime::Failure;
use shop_runtime::server::validate::FieldError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};
use uuid::Uuid;

use crate::domain::Shortage;

/// Domain of the ErrorInfo this service attaches.
pub const ERROR_DOMAIN: &str = "product.shop";
pub use shop_proto::names::MIXED_CURRENCY;

/// Everything a product-service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed or out of range.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// A product or reservation does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The SKU belongs to another product.
    #[error("a product with this sku already exists")]
    SkuTaken,
    /// Some lines of a reservation are short; nothing was held.
    #[error("insufficient stock for {} product(s)", .0.len())]
    InsufficientStock(Vec<Shortage>),
    /// The lines of a reservation are priced in different currencies (a
    /// product changed currency after it went into the cart); nothing was held.
    #[error("the products are priced in different currencies")]
    MixedCurrency(Vec<(Uuid, String)>),
    /// The state of the resource forbids the call (e.g. a write-off below zero).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Not the caller's fault: the database is away, or a bug.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Result of a product-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for a [`FieldError`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        FieldError::new(field, message).into()
    }
}

/// Constraints the store expects are mapped next to their queries; any
/// other database error is a [`Failure`].
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Failure(e.into())
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(field) => field.into(),
            Error::NotFound(msg) => Status::not_found(msg),
            Error::SkuTaken => Status::already_exists(e.to_string()),
            Error::InsufficientStock(short) => insufficient_stock(&short),
            Error::MixedCurrency(lines) => mixed_currency(&lines),
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Failure(failure) => failure.into(),
        }
    }
}

/// FAILED_PRECONDITION naming each short line, in the message and as
/// `STOCK` precondition violations.
fn insufficient_stock(short: &[Shortage]) -> Status {
    let lines: Vec<String> = short
        .iter()
        .map(|s| {
            format!(
                "{} (requested {}, available {})",
                s.product_id, s.requested, s.available
            )
        })
        .collect();
    let mut details = ErrorDetails::new();
    for s in short {
        details.add_precondition_failure_violation(
            shop_proto::names::STOCK_VIOLATION,
            s.product_id.to_string(),
            format!("requested {}, available {}", s.requested, s.available),
        );
    }
    Status::with_error_details(
        Code::FailedPrecondition,
        format!("insufficient stock: {}", lines.join(", ")),
        details,
    )
}

/// FAILED_PRECONDITION with the reason [`MIXED_CURRENCY`] and each line's
/// currency as a `CURRENCY` precondition violation.
fn mixed_currency(lines: &[(Uuid, String)]) -> Status {
    let mut details = ErrorDetails::with_error_info(
        MIXED_CURRENCY,
        ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    let named: Vec<String> = lines
        .iter()
        .map(|(id, currency)| {
            details.add_precondition_failure_violation(
                "CURRENCY",
                id.to_string(),
                format!("priced in {currency}"),
            );
            format!("{id} ({currency})")
        })
        .collect();
    Status::with_error_details(
        Code::FailedPrecondition,
        format!(
            "the products are priced in different currencies: {}; an order takes one currency",
            named.join(", ")
        ),
        details,
    )
}

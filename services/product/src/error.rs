//! The one error type of product-service and its single mapping to gRPC status.
//!
//! Client mistakes become INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS or
//! FAILED_PRECONDITION with a message that names the field or the product.
//! A database that is away, a lost race and a statement timeout become
//! UNAVAILABLE (see `shop_runtime::db_error`). Anything else is a bug: it is
//! logged once here, and the client sees INTERNAL without details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};
use uuid::Uuid;

/// Domain of the ErrorInfo this service attaches.
pub const ERROR_DOMAIN: &str = "product.shop";
pub use shop_proto::names::MIXED_CURRENCY;

/// A stock line that cannot be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The product that is short.
    pub product_id: Uuid,
    /// Units asked for.
    pub requested: i64,
    /// Units available right now.
    pub available: i64,
}

/// Everything a product-service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed or out of range.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
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
    /// The database could not do it now: unreachable, out of connections,
    /// a lost race (serialization failure, deadlock) or a statement timeout.
    #[error("{}", .0.message())]
    Unavailable(shop_runtime::db_error::Retry, #[source] sqlx::Error),
    /// A bug or an unexpected database failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Result of a product-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            message: message.into(),
        }
    }
}

impl From<shop_runtime::validate::FieldError> for Error {
    fn from(e: shop_runtime::validate::FieldError) -> Self {
        Self::InvalidArgument {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        use shop_runtime::db_error::{self, DbFailure};
        match db_error::classify(&e) {
            DbFailure::Retry(retry) => Self::Unavailable(retry, e),
            DbFailure::Constraint("products_sku_key") => Self::SkuTaken,
            DbFailure::Constraint("products_available_not_negative") => {
                Self::FailedPrecondition("not enough available stock".into())
            }
            DbFailure::Constraint(_) | DbFailure::Other => Self::Internal(e.into()),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument { .. } => Status::invalid_argument(e.to_string()),
            Error::NotFound(msg) => Status::not_found(msg),
            Error::SkuTaken => Status::already_exists(e.to_string()),
            Error::InsufficientStock(ref short) => {
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
                        "STOCK",
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
            Error::MixedCurrency(ref lines) => {
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
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Unavailable(retry, source) => {
                tracing::warn!(error = %source, kind = retry.as_str(), "product database: retryable failure");
                Status::unavailable(format!("product {}", retry.message()))
            }
            Error::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

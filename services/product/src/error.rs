//! The one error type of product-service and its single mapping to gRPC status.
//!
//! Client mistakes become INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS or
//! FAILED_PRECONDITION with a message that names the field or the product.
//! A database that is away becomes UNAVAILABLE. Anything else is a bug: it is
//! logged once here, and the client sees INTERNAL without details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};
use uuid::Uuid;

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
    /// The state of the resource forbids the call (e.g. a write-off below zero).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent transaction won a race the database could not serialize; retry.
    #[error("concurrent update, retry")]
    Aborted,
    /// The database is unreachable or out of connections.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
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
        use shop_runtime::db;
        if db::is_unavailable(&e) {
            return Self::Unavailable(e);
        }
        if db::is_retryable(&e) {
            return Self::Aborted;
        }
        match db::violated_constraint(&e) {
            Some("products_sku_key") => Self::SkuTaken,
            Some("products_available_not_negative") => {
                Self::FailedPrecondition("not enough available stock".into())
            }
            _ => Self::Internal(e.into()),
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
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Aborted => Status::aborted(e.to_string()),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Status::unavailable("product database unavailable, retry later")
            }
            Error::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

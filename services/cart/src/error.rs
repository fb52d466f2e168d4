//! The one error type of cart-service and its single mapping to gRPC status.

use tonic::{Code, Status};

/// Everything a cart-service call can fail with.
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
    /// The product does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The cart's state forbids the change (e.g. a product in another currency).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Our database or product-service cannot answer now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Result of a cart-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    /// Maps a failed call to product-service: its outages become UNAVAILABLE,
    /// anything else it says is unexpected here.
    pub fn from_product_service(status: Status) -> Self {
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted => Self::Unavailable(format!(
                "product-service did not answer ({}); prices cannot be shown, retry later",
                status.message()
            )),
            _ => Self::Internal(anyhow::anyhow!("product-service: {status}")),
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
            DbFailure::Retry(retry) => {
                tracing::warn!(error = %e, kind = retry.as_str(), "cart database: retryable failure");
                Self::Unavailable(format!("cart {}", retry.message()))
            }
            DbFailure::Constraint("cart_items_quantity_range") => {
                Self::invalid("quantity", "a line holds 1 to 99 units")
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
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Unavailable(msg) => Status::unavailable(msg),
            Error::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

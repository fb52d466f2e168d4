//! The one error type of cart-service and its single mapping to gRPC status.
//!
//! Client mistakes become INVALID_ARGUMENT (naming the field), NOT_FOUND or
//! FAILED_PRECONDITION. What is not the caller's fault (our database, or
//! product-service, cannot answer now; a bug) is a [`Failure`], answered as
//! every service does: UNAVAILABLE when a retry may help, INTERNAL otherwise.

use shop_runtime::Failure;
use shop_runtime::client::CallError;
use shop_runtime::server::validate::FieldError;
use tonic::Status;

/// Everything a cart-service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed or out of range.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// The product does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The cart's state forbids the change (e.g. a product in another currency).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Result of a cart-service operation.
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

/// A failed call to product-service, by the one downstream policy.
impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Refused(message) => Self::FailedPrecondition(message),
            CallError::Failure(fault) => Self::Failure(fault),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(field) => field.into(),
            Error::NotFound(msg) => Status::not_found(msg),
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Failure(failure) => failure.into(),
        }
    }
}

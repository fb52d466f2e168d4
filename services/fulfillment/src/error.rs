//! The one error type of fulfillment-service and its single mapping to
//! gRPC status: a bad id is INVALID_ARGUMENT, an unknown (or another
//! user's) shipment NOT_FOUND, the rest a [`Failure`].

use shop_runtime::Failure;
use shop_runtime::server::validate::FieldError;
use tonic::Status;

/// Everything a fulfillment-service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// No such shipment for this user (yet).
    #[error("no shipment for this order yet")]
    NotFound,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Result of a fulfillment-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Failure(e.into())
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(field) => field.into(),
            Error::NotFound => Status::not_found(Error::NotFound.to_string()),
            Error::Failure(failure) => failure.into(),
        }
    }
}

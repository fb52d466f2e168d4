//! The one error type of order-service and its single mapping to gRPC status.
//!
//! Checkout rejections carry a machine-readable reason in a
//! `google.rpc.ErrorInfo` (`EMPTY_CART`, `INSUFFICIENT_STOCK`, ...) so the
//! gateway can map them to 422 or 409, and short lines in a
//! `google.rpc.PreconditionFailure`. What is not the caller's fault (our
//! database, cart-service or product-service cannot answer now; a bug) is a
//! [`Failure`], answered as every service does: UNAVAILABLE when a retry may
//! help, INTERNAL otherwise.

use shop_runtime::Failure;
use shop_runtime::client::CallError;
use shop_runtime::server::validate::FieldError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{RejectionReason, Shortage};

/// Domain of the ErrorInfo this service attaches.
pub const ERROR_DOMAIN: &str = "order.shop";

/// Everything an order-service call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is malformed or out of range.
    #[error(transparent)]
    InvalidArgument(#[from] FieldError),
    /// The order does not exist or is not the caller's.
    #[error("order not found")]
    NotFound,
    /// Checkout was refused; the order is REJECTED for this reason.
    #[error("{}", .0.message())]
    Rejected(RejectionReason, Vec<Shortage>),
    /// The first request with this idempotency key is still running.
    #[error("checkout in progress for this idempotency key; retry shortly")]
    InProgress,
    /// The state of the order or the cart forbids the call (e.g. cancelling
    /// a REJECTED order, a cart in two currencies).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The checkout was given up or forgotten (by recovery) while this
    /// request ran; a retry with the same key answers its outcome.
    #[error("checkout was interrupted; retry")]
    Interrupted,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Result of an order-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Constraints are not expected here (the unique key is an `ON CONFLICT`):
/// every database error is a [`Failure`].
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Failure(e.into())
    }
}

/// A failed call to cart-service or product-service, by the one downstream
/// policy: a state the shopper can fix stays FAILED_PRECONDITION with the
/// downstream's message.
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
            Error::NotFound => Status::not_found(e.to_string()),
            Error::Rejected(reason, ref shortages) => {
                let mut details = ErrorDetails::with_error_info(
                    reason.as_str(),
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                for s in shortages {
                    details.add_precondition_failure_violation(
                        shop_proto::names::STOCK_VIOLATION,
                        s.product_id.clone(),
                        s.description.clone(),
                    );
                }
                Status::with_error_details(Code::FailedPrecondition, e.to_string(), details)
            }
            Error::InProgress => Status::aborted(e.to_string()),
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Interrupted => Status::unavailable(e.to_string()),
            Error::Failure(failure) => failure.into(),
        }
    }
}

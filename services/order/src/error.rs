//! The one error type of order-service and its single mapping to gRPC status.
//!
//! Checkout rejections carry a machine-readable reason in a
//! `google.rpc.ErrorInfo` (`EMPTY_CART`, `INSUFFICIENT_STOCK`, ...) so the
//! gateway can map them to 422 or 409, and short lines in a
//! `google.rpc.PreconditionFailure`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{RejectionReason, Shortage};

/// Domain of the ErrorInfo this service attaches.
pub const ERROR_DOMAIN: &str = "order.shop";

/// Everything an order-service call can fail with.
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
    /// The order does not exist or is not the caller's.
    #[error("order not found")]
    NotFound,
    /// Checkout was refused; the order is REJECTED for this reason.
    #[error("{}", .0.message())]
    Rejected(RejectionReason, Vec<Shortage>),
    /// The first request with this idempotency key is still running.
    #[error("checkout in progress for this idempotency key; retry shortly")]
    InProgress,
    /// The order's state forbids the call (e.g. cancelling a REJECTED order).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A downstream service or our database cannot answer now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Result of an order-service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps a failed downstream call: outages become UNAVAILABLE; a state
    /// the shopper can fix (a cart whose products are priced in different
    /// currencies) stays FAILED_PRECONDITION with the downstream's message;
    /// anything else is unexpected here.
    pub fn downstream(service: &str, status: Status) -> Self {
        match status.code() {
            Code::FailedPrecondition => Self::FailedPrecondition(status.message().to_string()),
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted => Self::Unavailable(format!(
                "{service} did not answer ({}); retry later",
                status.message()
            )),
            _ => Self::Internal(anyhow::anyhow!("{service}: {status}")),
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
                tracing::warn!(error = %e, kind = retry.as_str(), "order database: retryable failure");
                Self::Unavailable(format!("order {}", retry.message()))
            }
            DbFailure::Constraint(_) | DbFailure::Other => Self::Internal(e.into()),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument { .. } => Status::invalid_argument(e.to_string()),
            Error::NotFound => Status::not_found(e.to_string()),
            Error::Rejected(reason, ref shortages) => {
                let mut details = ErrorDetails::with_error_info(
                    reason.as_str(),
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                for s in shortages {
                    details.add_precondition_failure_violation(
                        "STOCK",
                        s.product_id.clone(),
                        s.description.clone(),
                    );
                }
                Status::with_error_details(Code::FailedPrecondition, e.to_string(), details)
            }
            Error::InProgress => Status::aborted(e.to_string()),
            Error::FailedPrecondition(msg) => Status::failed_precondition(msg),
            Error::Unavailable(msg) => Status::unavailable(msg),
            Error::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

//! The part of every service's error that is not the caller's fault, and its
//! one mapping to a gRPC status.
//!
//! A service's own error enum names what its callers can act on (NOT_FOUND,
//! ALREADY_EXISTS, FAILED_PRECONDITION with its reasons, field errors) and
//! holds everything else as one [`Failure`] variant, answered alike by every
//! service:
//!
//! - [`Failure::Database`]: the database could not do it now, a retry may
//!   succeed (see [`crate::db::classify`]). UNAVAILABLE, which every client of
//!   this project retries; the message says so and names no internals.
//! - [`Failure::Downstream`]: a service we call did not answer or shed the
//!   call (see [`crate::client::CallError`]). UNAVAILABLE too.
//! - [`Failure::Internal`]: a bug or a failure nobody planned for. Logged here
//!   with its detail; the caller sees INTERNAL and "internal error".
//!
//! Constraint violations are not failures: each service maps the constraints
//! it expects next to the query that may violate them
//! ([`crate::db::OnConstraint`]); one that reaches [`Failure`] is a bug.

use tonic::Status;

use crate::db::{self, DbFailure, Retry};

/// A failure that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The database is away, lost a race or ran out of time.
    #[error("{}", .0.message())]
    Database(Retry, #[source] sqlx::Error),
    /// A service this one calls did not answer, or shed the call.
    #[error("{service} did not answer ({message}); retry later")]
    Downstream {
        /// Component name of the service called, e.g. `product-service`.
        service: &'static str,
        /// What its status said.
        message: String,
    },
    /// A service this one calls is out of capacity (RESOURCE_EXHAUSTED):
    /// passed on as such, so no hop above retries it.
    #[error("{service} is overloaded; retry later")]
    Overloaded {
        /// Component name of the service called.
        service: &'static str,
    },
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Failure {
    /// [`Failure::Internal`] for anything that describes what went wrong.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

/// Retryable failures become [`Failure::Database`]; everything else, an
/// unmapped constraint included, is [`Failure::Internal`].
impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        match db::classify(&e) {
            DbFailure::Retry(retry) => Self::Database(retry, e),
            DbFailure::Constraint(_) | DbFailure::Other => Self::Internal(e.into()),
        }
    }
}

impl From<Failure> for Status {
    fn from(fault: Failure) -> Self {
        match fault {
            Failure::Database(Retry::Overloaded, source) => {
                tracing::warn!(error = %source, "database: overloaded");
                Status::resource_exhausted(Retry::Overloaded.message())
            }
            Failure::Database(retry, source) => {
                tracing::warn!(error = %source, kind = retry.as_str(), "database: retryable failure");
                Status::unavailable(retry.message())
            }
            Failure::Overloaded { .. } => Status::resource_exhausted(fault.to_string()),
            Failure::Downstream { .. } => Status::unavailable(fault.to_string()),
            Failure::Internal(source) => {
                tracing::error!(error = ?source, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn a_pool_timeout_is_unavailable_and_says_retry() {
        let status = Status::from(Failure::from(sqlx::Error::PoolTimedOut));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("retry"), "{}", status.message());
    }

    #[test]
    fn an_unexpected_error_is_internal_without_details() {
        let status = Status::from(Failure::from(sqlx::Error::RowNotFound));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn a_downstream_outage_is_unavailable_naming_the_service() {
        let status = Status::from(Failure::Downstream {
            service: "cart-service",
            message: "connection refused".into(),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "cart-service did not answer (connection refused); retry later"
        );
    }
}

//! The one classification of database errors that every service's
//! `From<sqlx::Error>` goes through, so the same failure gets the same gRPC
//! code in product, cart and order.
//!
//! Three kinds of failure:
//! - [`DbFailure::Retry`]: nothing is wrong with the request, the database
//!   could not do it now. The server is away (connection errors, pool
//!   timeouts, shutdown), the transaction lost a race PostgreSQL refused to
//!   serialize (`40001` serialization_failure, `40P01` deadlock_detected,
//!   `55P03` lock_not_available), or it ran out of time (`57014`
//!   query_canceled, what `statement_timeout` raises). Services answer
//!   UNAVAILABLE, which every client of this project retries.
//! - [`DbFailure::Constraint`]: a named constraint refused the row; the
//!   service turns the names it knows into client errors.
//! - [`DbFailure::Other`]: a bug; the service logs it and answers INTERNAL.

/// Why a database call may succeed if retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The server is unreachable, shutting down, out of resources, or the
    /// pool has no free connection in time.
    Unreachable,
    /// A concurrent transaction won: serialization failure, deadlock, or a
    /// lock that could not be taken.
    Contention,
    /// The statement was cancelled, usually by `statement_timeout`.
    Timeout,
}

impl Retry {
    /// What the caller is told: no internal detail, and that a retry helps.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unreachable => "database unavailable, retry later",
            Self::Contention => "concurrent update, retry",
            Self::Timeout => "database too slow to answer, retry later",
        }
    }

    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Contention => "contention",
            Self::Timeout => "timeout",
        }
    }
}

/// What a failed database call means to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure<'a> {
    /// Transient: answer UNAVAILABLE, the client retries.
    Retry(Retry),
    /// The named constraint was violated.
    Constraint(&'a str),
    /// Unexpected: a bug to log and answer INTERNAL.
    Other,
}

/// Classifies `e`. Transient failures win over constraint names (a deadlock
/// carries no constraint, and a connection error none either).
pub fn classify(e: &sqlx::Error) -> DbFailure<'_> {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFailure::Retry(Retry::Unreachable),
        sqlx::Error::Database(db) => {
            if let Some(retry) = db.code().as_deref().and_then(retry_of_sqlstate) {
                return DbFailure::Retry(retry);
            }
            match db.constraint() {
                Some(name) => DbFailure::Constraint(name),
                None => DbFailure::Other,
            }
        }
        _ => DbFailure::Other,
    }
}

/// The [`Retry`] of a SQLSTATE, when a retry may help.
pub fn retry_of_sqlstate(code: &str) -> Option<Retry> {
    match code {
        // transaction_rollback: serialization_failure, deadlock_detected;
        // lock_not_available (NOWAIT, lock_timeout).
        "40001" | "40P01" | "55P03" => Some(Retry::Contention),
        // query_canceled: statement_timeout or a cancel request.
        "57014" => Some(Retry::Timeout),
        // idle_in_transaction_session_timeout closed the session.
        "25P03" => Some(Retry::Unreachable),
        // 08: connection exception; 53: insufficient resources;
        // 57P01..57P05: the server is shutting down, starting, or closed an idle session.
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P0") => {
            Some(Retry::Unreachable)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_and_timeouts_are_retryable() {
        for code in ["40001", "40P01", "55P03"] {
            assert_eq!(retry_of_sqlstate(code), Some(Retry::Contention), "{code}");
        }
        assert_eq!(retry_of_sqlstate("57014"), Some(Retry::Timeout));
    }

    #[test]
    fn connection_and_shutdown_codes_are_unreachable() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "25P03"] {
            assert_eq!(retry_of_sqlstate(code), Some(Retry::Unreachable), "{code}");
        }
    }

    #[test]
    fn constraint_and_syntax_errors_are_not_retryable() {
        for code in ["23505", "23514", "42601", "22003", "40002"] {
            assert_eq!(retry_of_sqlstate(code), None, "{code}");
        }
    }

    #[test]
    fn pool_timeouts_and_io_errors_are_unreachable() {
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            DbFailure::Retry(Retry::Unreachable)
        );
        assert_eq!(
            classify(&sqlx::Error::PoolClosed),
            DbFailure::Retry(Retry::Unreachable)
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(
            classify(&sqlx::Error::Io(io)),
            DbFailure::Retry(Retry::Unreachable)
        );
        assert_eq!(classify(&sqlx::Error::RowNotFound), DbFailure::Other);
    }
}

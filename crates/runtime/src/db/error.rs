//! The one classification of database errors, so the same failure gets the
//! same gRPC code in product, cart and order.
//!
//! Three kinds of failure:
//! - [`DbFailure::Retry`]: nothing is wrong with the request, the database
//!   could not do it now. The server is away (connection errors, pool
//!   timeouts, shutdown), the transaction lost a race PostgreSQL refused to
//!   serialize (`40001` serialization_failure, `40P01` deadlock_detected,
//!   `55P03` lock_not_available), or it ran out of time (`57014`
//!   query_canceled, what `statement_timeout` raises). [`crate::server::Failure`]
//!   answers UNAVAILABLE, which every client of this project retries.
//! - [`DbFailure::Constraint`]: a named constraint refused the row. The
//!   service turns the names it expects into client errors next to the
//!   query, with [`OnConstraint::on_constraint`].
//! - [`DbFailure::Other`]: a bug; [`crate::server::Failure`] logs it and
//!   answers INTERNAL.

/// Why a database call may succeed if retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The server is unreachable or shutting down, or the pool has no free
    /// connection in time.
    Unreachable,
    /// The server is out of resources: too many connections (53300), out
    /// of memory or disk. Answered RESOURCE_EXHAUSTED, which no hop
    /// retries: an immediate retry at every hop would multiply the load on
    /// a server that has none to spare.
    Overloaded,
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
            Self::Overloaded => "database overloaded, retry later",
            Self::Contention => "concurrent update, retry",
            Self::Timeout => "database too slow to answer, retry later",
        }
    }

    /// A short label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Overloaded => "overloaded",
            Self::Contention => "contention",
            Self::Timeout => "timeout",
        }
    }
}

/// What a failed database call means to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure<'a> {
    /// Transient: a retry may succeed.
    Retry(Retry),
    /// The named constraint was violated.
    Constraint(&'a str),
    /// Unexpected: a bug.
    Other,
}

/// Turns the violation of one named constraint into a service's own error,
/// next to the query that may violate it:
///
/// ```text
/// sqlx::query!("INSERT INTO products ...")
///     .fetch_one(&self.pool)
///     .await
///     .on_constraint("products_sku_key", || Error::SkuTaken)?;
/// ```
///
/// Any other error goes through the service's `From<sqlx::Error>`, that is
/// to [`crate::server::Failure`].
pub trait OnConstraint<T> {
    /// `self`, with a violation of `constraint` replaced by `error()`.
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        constraint: &str,
        error: impl FnOnce() -> E,
    ) -> Result<T, E>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint<E: From<sqlx::Error>>(
        self,
        constraint: &str,
        error: impl FnOnce() -> E,
    ) -> Result<T, E> {
        self.map_err(|e| match classify(&e) {
            DbFailure::Constraint(name) if name == constraint => error(),
            _ => E::from(e),
        })
    }
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
        // 53: insufficient resources (53300 too_many_connections).
        c if c.starts_with("53") => Some(Retry::Overloaded),
        // 08: connection exception; 57P01..57P05: the server is shutting
        // down, starting, or closed an idle session.
        c if c.starts_with("08") || c.starts_with("57P0") => Some(Retry::Unreachable),
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
        for code in ["08006", "08001", "57P01", "57P03", "25P03"] {
            assert_eq!(retry_of_sqlstate(code), Some(Retry::Unreachable), "{code}");
        }
        for code in ["53300", "53200", "53100"] {
            assert_eq!(retry_of_sqlstate(code), Some(Retry::Overloaded), "{code}");
        }
    }

    #[test]
    fn constraint_and_syntax_errors_are_not_retryable() {
        for code in ["23505", "23514", "42601", "22003", "40002"] {
            assert_eq!(retry_of_sqlstate(code), None, "{code}");
        }
    }

    /// A database error carrying a constraint name, as PostgreSQL sends one.
    #[derive(Debug, thiserror::Error)]
    #[error("constraint {0} violated")]
    struct Violation(&'static str);

    impl sqlx::error::DatabaseError for Violation {
        fn message(&self) -> &str {
            "violation"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some("23505".into())
        }
        fn constraint(&self) -> Option<&str> {
            Some(self.0)
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::UniqueViolation
        }
    }

    #[derive(Debug, PartialEq)]
    enum Mapped {
        Taken,
        Db(String),
    }

    impl From<sqlx::Error> for Mapped {
        fn from(e: sqlx::Error) -> Self {
            Self::Db(e.to_string())
        }
    }

    fn violated(name: &'static str) -> Result<(), sqlx::Error> {
        Err(sqlx::Error::Database(Box::new(Violation(name))))
    }

    #[test]
    fn on_constraint_maps_only_the_named_constraint() {
        assert_eq!(
            violated("products_sku_key").on_constraint("products_sku_key", || Mapped::Taken),
            Err(Mapped::Taken)
        );
        assert!(matches!(
            violated("other_key").on_constraint("products_sku_key", || Mapped::Taken),
            Err(Mapped::Db(_))
        ));
        assert_eq!(
            Ok::<_, sqlx::Error>(1).on_constraint("products_sku_key", || Mapped::Taken),
            Ok(1)
        );
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

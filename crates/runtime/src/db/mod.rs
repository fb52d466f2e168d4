//! The database pool of a service, confined to the service's own schema.
//!
//! A service connects as its own login role with `search_path` set to its
//! schema, so unqualified names in its queries and migrations land there and
//! nowhere else. The schema itself is created by `db/bootstrap.sql`, never by
//! the service. Migrations are embedded in the binary and applied at start.

mod error;
mod stored;

pub use error::{DbFailure, OnConstraint, Retry, classify};
pub use stored::UnknownValue;

pub use shop_macros::sql;

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

/// Why the database could not be prepared at start.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error("invalid configuration: DATABASE_URL: {0}")]
    Url(sqlx::Error),
    /// The server did not answer within the start-up window.
    #[error("database unreachable: {0}")]
    Unreachable(sqlx::Error),
    /// The role has no schema of that name: the bootstrap SQL was not run.
    #[error(
        "schema `{0}` is missing or not usable by this role: run db/bootstrap.sql as an administrator first"
    )]
    NoSchema(&'static str),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// The connection budget and the timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// The most connections this process opens, all pools together
    /// (`DB_MAX_CONNECTIONS`, default 10): replicas × this, plus headroom,
    /// must fit the server's `max_connections` (docs/running.md).
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// How long start-up keeps retrying an unreachable server (compose ordering).
    pub connect_window: Duration,
    /// PostgreSQL cancels any statement running longer (`statement_timeout`;
    /// `DB_STATEMENT_TIMEOUT_MILLIS`, default 5000). Migrations run without it.
    pub statement_timeout: Duration,
    /// PostgreSQL gives up waiting for a lock after this (`lock_timeout`;
    /// `DB_LOCK_TIMEOUT_MILLIS`, default 2000): a stuck lock holder fails its
    /// waiters as UNAVAILABLE instead of piling them up.
    pub lock_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            connect_window: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(2),
        }
    }
}

impl PoolSettings {
    /// The defaults, with the budget and the statement and lock timeouts
    /// from the environment.
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        let defaults = Self::default();
        let millis =
            |var: &str, default: Duration| -> Result<Duration, crate::config::ConfigError> {
                let value: u64 = env.parse_or(var, default.as_millis() as u64)?;
                if value == 0 {
                    return Err(crate::config::ConfigError {
                        var: var.into(),
                        message: "must be at least 1 (0 would mean no limit)".into(),
                    });
                }
                Ok(Duration::from_millis(value))
            };
        let max_connections: u32 = env.parse_or("DB_MAX_CONNECTIONS", defaults.max_connections)?;
        if max_connections < 2 {
            return Err(crate::config::ConfigError {
                var: "DB_MAX_CONNECTIONS".into(),
                message: "must be at least 2 (writes and one-statement reads each need one)".into(),
            });
        }
        Ok(Self {
            max_connections,
            statement_timeout: millis("DB_STATEMENT_TIMEOUT_MILLIS", defaults.statement_timeout)?,
            lock_timeout: millis("DB_LOCK_TIMEOUT_MILLIS", defaults.lock_timeout)?,
            ..defaults
        })
    }
}

/// Connects as the service's role, checks its schema and applies its migrations.
pub async fn connect(
    url: &SecretString,
    schema: &'static str,
    application: &str,
    migrator: &Migrator,
    settings: &PoolSettings,
) -> Result<PgPool, DbError> {
    let base = PgConnectOptions::from_str(url.expose_secret())
        .map_err(DbError::Url)?
        .application_name(application);
    let options = base.clone().options([
        ("search_path", schema.to_string()),
        (
            "statement_timeout",
            settings.statement_timeout.as_millis().to_string(),
        ),
        (
            "lock_timeout",
            settings.lock_timeout.as_millis().to_string(),
        ),
        // Every statement of the pool is planned once per connection. On
        // `auto`, PostgreSQL re-plans a prepared statement on every call
        // whenever a plan for the call's values looks cheaper than the
        // generic one, which it always does for a filter on an array
        // parameter (`= ANY($1)`, `UNNEST($2, $3)`: the custom plan sees
        // the array's length): planning then cost several times the
        // execution (docs/benchmarks.md, "Statements planned on every
        // call"). The services' statements find rows by key, which a
        // generic plan does as well; [`Reads`] keeps `auto` for the one
        // that needs its values planned (the catalog search).
        ("plan_cache_mode", "force_generic_plan".to_string()),
    ]);
    // No ping before lending a connection (sqlx's default is one round trip
    // per acquire, which doubled PostgreSQL's work for a one-statement
    // read; bench/browse-vs-bare). A connection that broke meanwhile fails
    // its statement instead: classified as retryable (UNAVAILABLE) and
    // dropped from the pool, and callers retry UNAVAILABLE.
    let pool_options = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false);

    // First the schema check and the migrations, on a connection of their
    // own without the statement and lock timeouts (a migration may take
    // long, or wait for another instance's advisory lock), closed before
    // the pool opens: the process never holds more than its budget.
    let migration_options = base.options([("search_path", schema)]);
    let deadline = tokio::time::Instant::now() + settings.connect_window;
    let mut conn = loop {
        match migration_options.connect().await {
            Ok(conn) => break conn,
            Err(e) if is_unavailable(&e) && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) if is_unavailable(&e) => return Err(DbError::Unreachable(e)),
            Err(e) => return Err(DbError::Query(e)),
        }
    };
    let current: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut conn)
        .await?;
    if current.as_deref() != Some(schema) {
        return Err(DbError::NoSchema(schema));
    }
    migrator.run_direct(&mut conn).await?;
    conn.close().await?;
    Ok(pool_options.connect_with(options).await?)
}

/// True while the database answers a trivial query within a second.
pub(crate) async fn ping(pool: &PgPool) -> bool {
    let query = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), query).await,
        Ok(Ok(_))
    )
}

/// The server is not there right now (start-up keeps retrying those).
fn is_unavailable(e: &sqlx::Error) -> bool {
    use self::error::{DbFailure, Retry, classify};
    matches!(classify(e), DbFailure::Retry(Retry::Unreachable))
}

/// Connections for reads of one statement, lent without sqlx's round trip
/// on release.
///
/// sqlx's pool sends a Sync and waits for PostgreSQL's answer every time a
/// connection goes back to it, to flush what a dropped transaction may have
/// left queued. For a read of one statement outside any transaction there is
/// nothing to flush, and that round trip was a fifth of product-service's
/// CPU and a third of PostgreSQL's on the browse path (flame graphs in
/// docs/benchmarks.md). These connections carry the pool's options (role,
/// `search_path`, statement and lock timeouts) and are tested with a ping
/// only when they come back from being idle. A connection whose statement
/// failed other than by the server's answer is dropped, never lent again.
///
/// Never begin a transaction on one: writes go through the [`PgPool`].
#[derive(Clone)]
pub struct Reads {
    pool: deadpool::managed::Pool<ReadConnections>,
}

impl std::fmt::Debug for Reads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reads")
            .field("status", &self.pool.status())
            .finish()
    }
}

/// How long a connection may sit unused before it is pinged when lent.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

struct ReadConnections {
    options: PgConnectOptions,
}

impl deadpool::managed::Manager for ReadConnections {
    type Type = sqlx::PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        self.options.connect().await
    }

    async fn recycle(
        &self,
        conn: &mut sqlx::PgConnection,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<sqlx::Error> {
        // A busy connection proved itself on its last statement; one that
        // sat idle may have been closed by the server or a proxy since.
        if metrics.last_used() > IDLE_BEFORE_PING {
            conn.ping().await?;
        }
        Ok(())
    }
}

impl Reads {
    /// At most `max` read connections, with `pool`'s options and acquire
    /// timeout; `max` comes out of the process's budget
    /// ([`crate::server::ServiceSpec::connect_with_reads`]).
    pub fn new(pool: &PgPool, max: u32) -> Self {
        // A search is sent unnamed to be planned for its pattern, which
        // needs PostgreSQL's own choice of plan back (see `connect`).
        let options = (*pool.connect_options())
            .clone()
            .options([("plan_cache_mode", "auto")]);
        let manager = ReadConnections { options };
        let timeout = pool.options().get_acquire_timeout();
        let pool = deadpool::managed::Pool::builder(manager)
            .max_size(max.max(1) as usize)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is set, so the pool builds");
        Self { pool }
    }

    /// Runs `read`, one statement, on a lent connection. Failures to get a
    /// connection come back as sqlx's own (`PoolTimedOut`, or the connect
    /// error), so callers classify them like any other.
    pub async fn run<T>(
        &self,
        read: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        use deadpool::managed::PoolError;
        let mut conn = self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => e,
            PoolError::Closed => sqlx::Error::PoolClosed,
            _ => sqlx::Error::PoolTimedOut,
        })?;
        let result = read(&mut conn).await;
        if let Err(e) = &result
            && !matches!(e, sqlx::Error::Database(_))
        {
            // Not an answer of the server's: the connection may be dead or
            // mid-message. Take it out of the pool for good.
            drop(deadpool::managed::Object::take(conn));
        }
        result
    }
}

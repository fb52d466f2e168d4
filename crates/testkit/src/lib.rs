//! Test support: real PostgreSQL, a fresh database per test, a component
//! running in-process on port 0, and the contract's invariants in SQL.
//!
//! It depends on no service: each service exposes its own `spawn_*` helper
//! behind its `test-util` feature, built on [`Running`] and [`env`], so a
//! service's tests compile that service and the runtime kit only.
//!
//! The first test of a test binary starts one ephemeral PostgreSQL server
//! (see `shop-pgtemp`) and prepares a template database with
//! `db/bootstrap.sql`. Every [`TestDb`] is a new database copied from that
//! template, so tests never see each other's rows and run in parallel.
//! Set `DATABASE_URL` to an administrator URL to use an existing server
//! instead; its test databases are named `shop_test_*`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use shop_pgtemp::PgServer;
use shop_runtime::Env;
use sqlx::postgres::PgPool;
use sqlx::{Connection as _, PgConnection};
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use url::Url;

/// Password the harness gives each service role, so the same URLs work on
/// the trusted ephemeral server and on an existing one.
const ROLE_PASSWORD: &str = "shop-test";

/// The server the tests of this process share.
struct Cluster {
    /// Administrator URL of the `postgres` database.
    admin: Url,
    /// Template database holding the bootstrapped schemas and roles.
    template: String,
    /// Keeps the ephemeral server alive for the whole process.
    _server: Option<PgServer>,
}

static CLUSTER: OnceCell<Cluster> = OnceCell::const_new();

async fn cluster() -> &'static Cluster {
    CLUSTER
        .get_or_try_init(|| async {
            let (admin, server) = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => (Url::parse(&url)?, None),
                _ => {
                    let server = PgServer::start().await?;
                    (Url::parse(&server.admin_url("postgres"))?, Some(server))
                }
            };
            let template = prepare_template(&admin).await?;
            anyhow::Ok(Cluster {
                admin,
                template,
                _server: server,
            })
        })
        .await
        .unwrap_or_else(|e| panic!("test PostgreSQL unavailable: {e:#}"))
}

/// Creates the template database once per server and bootstrap version.
/// An advisory lock in the `postgres` database serializes test processes.
async fn prepare_template(admin: &Url) -> anyhow::Result<String> {
    let digest = shop_pgtemp::BOOTSTRAP_SQL
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let template = format!("shop_template_{digest:016x}");
    let mut conn = PgConnection::connect(admin.as_str()).await?;
    sqlx::query("SELECT pg_advisory_lock(72657301)")
        .execute(&mut conn)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let building = format!("{template}_building");
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{building}\""))
            .execute(&mut conn)
            .await?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{building}\""))
            .execute(&mut conn)
            .await?;
        shop_pgtemp::bootstrap(with_database(admin, &building).as_str()).await?;
        for role in shop_pgtemp::service_roles() {
            sqlx::raw_sql(&format!("ALTER ROLE {role} PASSWORD '{ROLE_PASSWORD}'"))
                .execute(&mut conn)
                .await?;
        }
        sqlx::raw_sql(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .execute(&mut conn)
        .await?;
    }
    sqlx::query("SELECT pg_advisory_unlock(72657301)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(template)
}

fn with_database(url: &Url, database: &str) -> Url {
    let mut url = url.clone();
    url.set_path(database);
    url
}

/// A fresh database with Shop's roles and schemas, used by one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// Administrator URL of this database.
    admin: Url,
}

impl TestDb {
    /// Creates a new database from the bootstrapped template.
    pub async fn new() -> Self {
        let cluster = cluster().await;
        let name = format!("shop_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(cluster.admin.as_str())
            .await
            .expect("connect to the test server");
        sqlx::raw_sql(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
            cluster.template
        ))
        .execute(&mut conn)
        .await
        .expect("create a test database");
        let _ = conn.close().await;
        Self {
            admin: with_database(&cluster.admin, &name),
            name,
        }
    }

    /// URL connecting as `role` (e.g. `product_svc`) to this database.
    pub fn url(&self, role: &str) -> String {
        let mut url = self.admin.clone();
        url.set_username(role).expect("URL takes a user");
        url.set_password(Some(ROLE_PASSWORD))
            .expect("URL takes a password");
        url.to_string()
    }

    /// Administrator URL of this database.
    pub fn admin_url(&self) -> String {
        self.admin.to_string()
    }

    /// An administrator pool, for assertions that look across schemas.
    pub async fn admin_pool(&self) -> PgPool {
        PgPool::connect(self.admin.as_str())
            .await
            .expect("admin connection")
    }
}

/// An [`Env`] made of `pairs`, for building a service's config in a test.
pub fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
}

/// A component running in this process on port 0.
#[derive(Debug)]
pub struct Running {
    /// Address of its main listener (gRPC or HTTP).
    pub addr: SocketAddr,
    /// Address of its admin listener.
    pub admin_addr: SocketAddr,
    /// Fires its shutdown future.
    stop: Option<oneshot::Sender<()>>,
    /// Its `run` future, until it was awaited.
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Binds two loopback listeners on port 0 and runs `run(listener, admin, shutdown)`.
    pub async fn start<F, Fut>(run: F) -> Self
    where
        F: FnOnce(TcpListener, TcpListener, BoxedShutdown) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let (addr, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: BoxedShutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run(listener, admin, shutdown));
        Self {
            addr,
            admin_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://` URL of the main listener, for a gRPC channel.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts the shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down and returns what `run` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shut_down().await
    }

    /// Shuts down in place (the value stays, stopped); returns what `run`
    /// returned, or `Ok` when it was already stopped.
    pub async fn shut_down(&mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

/// Polls `probe` every 50 ms until it answers `Ok`, and returns that;
/// after `within`, panics with the last `Err` (what `probe` saw instead).
/// The one "wait until the system gets there" loop of the tests: each
/// asynchronous effect (an outbox drained, a shipment made, a crash
/// counted) is awaited through it, bounded.
pub async fn eventually<T, E: std::fmt::Display>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("not within {within:?}: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Asserts the graceful shutdown of a gRPC service: health reports
/// SERVING, flips to NOT_SERVING as soon as shutdown begins (while the
/// server still answers), and `run` returns within the drain bound.
pub async fn assert_health_flips_on_shutdown(service: &mut Running, name: &str) {
    use tokio_stream::StreamExt as _;
    use tonic_health::pb::health_check_response::ServingStatus;
    let channel = tonic::transport::Endpoint::from_shared(service.url())
        .expect("valid URL")
        .connect()
        .await
        .expect("connect");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest {
        service: name.into(),
    };
    let mut watch = health
        .watch(request)
        .await
        .expect("watch health")
        .into_inner();
    let first = watch
        .next()
        .await
        .expect("a first status")
        .expect("a status");
    assert_eq!(first.status(), ServingStatus::Serving);

    service.begin_shutdown();
    let next = tokio::time::timeout(std::time::Duration::from_secs(2), watch.next())
        .await
        .expect("a status change within 2 s")
        .expect("a second status")
        .expect("a status");
    assert_eq!(next.status(), ServingStatus::NotServing);

    // Test services drain for at most 2 s.
    let started = std::time::Instant::now();
    service.shut_down().await.expect("clean stop");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// The shutdown future handed to a component's `run`.
pub type BoxedShutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Signing key of test gateways' tokens.
pub const TEST_AUTH_SECRET: &str = "test-auth-secret-that-is-long-enough";
/// Signing key of test services' page tokens.
pub const TEST_PAGE_TOKEN_SECRET: &str = "test-page-token-secret-long-enough";
/// `FAULTS_TOKEN` of every component a test starts: fault control is on,
/// and a change on `/faults` carries this as `Authorization: Bearer`.
pub const TEST_FAULTS_TOKEN: &str = "test-faults-token-long-enough";

/// Administrator password of test gateways.
pub const TEST_ADMIN_PASSWORD: &str = "test-admin-password";

/// Checks the invariants of docs/contract.md with SQL across the three schemas, as an
/// administrator (`db/invariants.sql`); returns every violation found, one
/// line per kind (empty when all hold).
///
/// - for every product: stock ever added = available + held + sold, available >= 0;
/// - held and sold stock match the HELD and COMMITTED reservations;
/// - every CONFIRMED order has exactly one COMMITTED reservation with the same lines;
/// - an order's lines share its currency (order_items has no currency: the
///   lines of a CONFIRMED or CANCELLED order are its reservation's, which
///   carry the currency each was priced in);
/// - REJECTED and CANCELLED orders hold nothing;
/// - at most one order per (user, idempotency key);
/// - no order is PENDING and no follow-up is left.
pub async fn invariant_violations(db: &TestDb) -> Vec<String> {
    invariant_violations_at(&db.admin_url()).await
}

/// [`invariant_violations`] in the database of an administrator URL, for
/// tests that run their own server.
pub async fn invariant_violations_at(admin_url: &str) -> Vec<String> {
    violations_at(admin_url, INVARIANTS_SQL).await
}

/// The invariants of the event flow (`db/event-invariants.sql`: one
/// shipment per confirmed order, none live for a cancelled one, every
/// outbox drained), waited for up to `within` while the relays and
/// consumers catch up; the violations left then (empty when all hold).
pub async fn event_invariant_violations(db: &TestDb, within: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let violations = violations_at(&db.admin_url(), EVENT_INVARIANTS_SQL).await;
        if violations.is_empty() || tokio::time::Instant::now() >= deadline {
            return violations;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The rows of an invariant query (`what`, `which`), one line per kind.
async fn violations_at(admin_url: &str, sql: &'static str) -> Vec<String> {
    let pool = PgPool::connect(admin_url).await.expect("admin connection");
    let rows: Vec<(String, String)> = sqlx::query_as(sql)
        .fetch_all(&pool)
        .await
        .expect("invariant query");
    let mut violations: Vec<(String, Vec<String>)> = Vec::new();
    for (what, which) in rows {
        match violations.iter_mut().find(|(w, _)| *w == what) {
            Some((_, all)) => all.push(which),
            None => violations.push((what, vec![which])),
        }
    }
    pool.close().await;
    violations
        .into_iter()
        .map(|(what, which)| format!("{what}: {which:?}"))
        .collect()
}

/// The invariants as one query of (what, which) rows, one per violation;
/// `bench/run` runs the same file.
const INVARIANTS_SQL: &str = include_str!("../../../db/invariants.sql");
const EVENT_INVARIANTS_SQL: &str = include_str!("../../../db/event-invariants.sql");

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::eventually;

    #[tokio::test]
    async fn eventually_returns_the_first_answer_that_is_ok() {
        let mut polls = 0;
        let value = eventually(Duration::from_secs(5), async || {
            polls += 1;
            match polls {
                3 => Ok(polls),
                _ => Err(format!("poll {polls}")),
            }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "still waiting")]
    async fn eventually_gives_up_after_its_bound_with_what_it_saw_last() {
        eventually::<(), _>(Duration::from_millis(120), async || Err("still waiting")).await;
    }
}

//! An ephemeral PostgreSQL server, and the bootstrap SQL that prepares a
//! database for Shop.
//!
//! `shop up` and the test harness both need a real PostgreSQL without asking
//! the user to run one. [`PgServer::start`] finds the server binaries (on
//! `PATH`, or where Debian and Homebrew put them), runs `initdb` into a fresh
//! directory and starts `postgres` on a free loopback port. As root it runs
//! them as the unprivileged `postgres` account, because `initdb` refuses root.
//!
//! The server is supervised by a small shell that reads our end of a pipe:
//! when this process exits for any reason, even a panic or `kill -9`, the pipe
//! closes, the shell stops the server and deletes its directory. Nothing is
//! left behind.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

/// Roles, schemas and grants of every Shop service; idempotent.
pub const BOOTSTRAP_SQL: &str = include_str!("../../../db/bootstrap.sql");

/// The login role of each service, as [`BOOTSTRAP_SQL`] creates them: the
/// roles `shop up` and the test harness give a password.
pub use shop_topology::service_roles;

/// Why the ephemeral server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The binaries are not installed.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; \
         install them (Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install postgresql@16`) \
         or pass an existing server with DATABASE_URL"
    )]
    NotInstalled,
    /// Running as root, but the unprivileged account to run the server under is missing.
    #[error(
        "running as root and no unprivileged `postgres` account exists to run PostgreSQL under"
    )]
    NoUnprivilegedUser,
    /// `initdb` or `postgres` failed; the log says why.
    #[error("PostgreSQL failed to start: {0}")]
    Start(String),
    /// Local I/O failed (temporary directory, process spawn).
    #[error("PostgreSQL setup failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bootstrap SQL failed.
    #[error("database bootstrap failed: {0}")]
    Sql(#[from] sqlx::Error),
}

/// A running throw-away PostgreSQL server on loopback: trusted there
/// ([`PgServer::start`], for tests), or with a random superuser password
/// ([`PgServer::start_locked`], for `shop up`).
pub struct PgServer {
    /// TCP port on 127.0.0.1.
    port: u16,
    /// The superuser's password, when TCP connections need one.
    password: Option<String>,
    /// The supervising shell; kept to wait for it in [`PgServer::stop`].
    supervisor: Child,
    /// Our end of the supervisor's stdin: commands go down it, and closing
    /// it stops the server.
    lifeline: Option<ChildStdin>,
    /// The server's directory: data, socket and `server.log`.
    dir: PathBuf,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("locked", &self.password.is_some())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// How a server is started.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Commits wait for their WAL.
    durable: bool,
    /// TCP connections need a password (SCRAM); the superuser's is random.
    locked: bool,
}

impl PgServer {
    /// Starts a fresh server and waits until it accepts connections. Built
    /// for speed: a commit returns before its WAL is written, so a crash of
    /// the server (not of this machine) may lose the last ones.
    pub async fn start() -> Result<Self, PgError> {
        Self::start_with(Options::default()).await
    }

    /// [`PgServer::start`], but every TCP connection needs a password
    /// (SCRAM-SHA-256) and the superuser's is random: another local user or
    /// a web page's cross-protocol request gets nowhere. Its only socket
    /// besides loopback TCP is in a directory of its own, readable by its
    /// account alone. `shop up` runs this one.
    pub async fn start_locked() -> Result<Self, PgError> {
        Self::start_with(Options {
            locked: true,
            ..Options::default()
        })
        .await
    }

    /// [`PgServer::start`], but a commit returns only once its WAL is
    /// written (`synchronous_commit=on`), so [`PgServer::crash`] loses
    /// nothing that was acknowledged, as on a production server. Fault
    /// tests use this one.
    pub async fn start_durable() -> Result<Self, PgError> {
        Self::start_with(Options {
            durable: true,
            ..Options::default()
        })
        .await
    }

    async fn start_with(options: Options) -> Result<Self, PgError> {
        let bin = find_bin_dir().ok_or(PgError::NotInstalled)?;
        let run_as = if effective_uid_is_root() {
            Some(unprivileged_account().ok_or(PgError::NoUnprivilegedUser)?)
        } else {
            None
        };
        let dir = make_temp_dir(run_as.as_ref())?;
        let password = options.locked.then(random_password);
        if let Some(password) = &password {
            write_private(&dir.join("pwfile"), password, run_as.as_ref())?;
        }
        let port = free_port()?;
        let mut supervisor = spawn_supervisor(&bin, &dir, port, options, run_as.as_ref())?;
        let lifeline = supervisor.stdin.take();
        let mut server = Self {
            port,
            password,
            supervisor,
            lifeline,
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL connecting as `role` without a password to `database`: it
    /// works on a trusting server ([`PgServer::start`]).
    pub fn url(&self, role: &str, database: &str) -> String {
        format!("postgres://{role}@127.0.0.1:{}/{database}", self.port)
    }

    /// The superuser URL for `database`, with its password when the server
    /// is locked.
    pub fn admin_url(&self, database: &str) -> String {
        match &self.password {
            Some(password) => format!(
                "postgres://postgres:{password}@127.0.0.1:{}/{database}",
                self.port
            ),
            None => self.url("postgres", database),
        }
    }

    /// Creates the database `name` and returns its superuser URL.
    pub async fn create_database(&self, name: &str) -> Result<String, PgError> {
        let mut conn = PgConnection::connect(&self.admin_url("postgres")).await?;
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(self.admin_url(name))
    }

    /// Stops the server (fast shutdown) and removes its data directory.
    pub fn stop(mut self) {
        drop(self.lifeline.take());
        let _ = self.supervisor.wait();
    }

    /// Stops the server the way a crash would (immediate shutdown: every
    /// connection dropped, no checkpoint) and returns once it refuses
    /// connections. Fault tests use it; [`PgServer::restart`] brings it back.
    pub async fn crash(&mut self) -> Result<(), PgError> {
        self.command("crash")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while PgConnection::connect(&self.admin_url("postgres"))
            .await
            .is_ok()
        {
            if Instant::now() > deadline {
                return Err(PgError::Start(
                    "still accepting connections 30 s after a crash".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Starts the server again after [`PgServer::crash`], on the same port
    /// and data, and waits until crash recovery is done and it accepts
    /// connections.
    pub async fn restart(&mut self) -> Result<(), PgError> {
        self.command("start")?;
        self.wait_ready().await
    }

    fn command(&mut self, command: &str) -> Result<(), PgError> {
        use std::io::Write as _;
        let lifeline = self
            .lifeline
            .as_mut()
            .ok_or_else(|| PgError::Start("the server was stopped".into()))?;
        writeln!(lifeline, "{command}")?;
        lifeline.flush()?;
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<(), PgError> {
        let dir = self.dir.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = self.admin_url("postgres");
        loop {
            if let Ok(conn) = PgConnection::connect(&url).await {
                let _ = conn.close().await;
                return Ok(());
            }
            if let Some(status) = self.supervisor.try_wait()? {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(PgError::Start(format!("{status}: {}", tail.join(" | "))));
            }
            if Instant::now() > deadline {
                return Err(PgError::Start("not ready after 60 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs [`BOOTSTRAP_SQL`] as an administrator in the database of `admin_url`.
pub async fn bootstrap(admin_url: &str) -> Result<(), PgError> {
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(BOOTSTRAP_SQL).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The account the server runs under when we are root.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
}

/// The shell that owns the server: `initdb`, start `postgres` in the
/// background, then read commands from stdin: `crash` stops the server the
/// way a power cut would (immediate shutdown: no checkpoint, crash recovery
/// at the next start), `start` starts it again. At end of input it stops
/// the server and deletes its files.
const SUPERVISOR: &str = r#"
set -e
chmod 700 "$PGDIR"
if [ -f "$PGDIR/pwfile" ]; then
    auth="--auth-host=scram-sha-256 --auth-local=trust --pwfile=$PGDIR/pwfile"
else
    auth="--auth=trust"
fi
initdb -D "$PGDATA" -U postgres $auth --encoding=UTF8 --locale=C --no-sync >"$PGDIR/server.log" 2>&1
rm -f "$PGDIR/pwfile"
start() {
    postgres -D "$PGDATA" -p "$PGPORT" -k "$PGDIR" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit="$PGSYNC" -c full_page_writes=off -c max_connections=300 \
        >>"$PGDIR/server.log" 2>&1 &
    pid=$!
}
start
while read -r command; do
    case "$command" in
        crash) kill -QUIT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true ;;
        start) start ;;
    esac
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$PGDIR"
"#;

fn spawn_supervisor(
    bin: &Path,
    dir: &Path,
    port: u16,
    options: Options,
    run_as: Option<&Account>,
) -> Result<Child, PgError> {
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut paths = vec![bin.to_path_buf()];
            paths.extend(std::env::split_paths(&p));
            std::env::join_paths(paths).map_err(|e| PgError::Start(e.to_string()))?
        }
        None => bin.as_os_str().to_owned(),
    };
    let mut cmd = match run_as {
        Some(account) => {
            let mut c = Command::new("runuser");
            c.args(["-u", &account.name, "--", "sh", "-c", SUPERVISOR]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", SUPERVISOR]);
            c
        }
    };
    cmd.env("PATH", path)
        .env("PGDIR", dir)
        .env("PGDATA", dir.join("data"))
        .env("PGPORT", port.to_string())
        .env("PGSYNC", if options.durable { "on" } else { "off" })
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(cmd.spawn()?)
}

/// Where `initdb` and `postgres` live: `PATH` first, then the versioned
/// directories of Debian's packages (newest first) and Homebrew's. The
/// client tools of the same version (`pg_dump`, `pg_restore`) live there too.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(dir);
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    let homebrew = ["/opt/homebrew/bin", "/usr/local/bin"].map(PathBuf::from);
    versioned
        .into_iter()
        .map(|(_, dir)| dir)
        .chain(homebrew)
        .find(|d| has_both(d))
}

fn effective_uid_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The `postgres` account from `/etc/passwd`, which Debian's package creates.
fn unprivileged_account() -> Option<Account> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        if name != "postgres" {
            return None;
        }
        let _password = fields.next()?;
        Some(Account {
            name: name.to_string(),
            uid: fields.next()?.parse().ok()?,
            gid: fields.next()?.parse().ok()?,
        })
    })
}

/// A new directory under the system temp dir, owned by the server's account.
fn make_temp_dir(owner: Option<&Account>) -> Result<PathBuf, PgError> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("shop-pg-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    if let Some(account) = owner {
        std::os::unix::fs::chown(&dir, Some(account.uid), Some(account.gid))?;
    }
    Ok(dir)
}

/// 32 random hex digits, from the operating system's generator.
fn random_password() -> String {
    let mut bytes = [0_u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("/dev/urandom is readable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `content` to `path`, readable by `owner` (or us) alone.
fn write_private(path: &Path, content: &str, owner: Option<&Account>) -> Result<(), PgError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, content.as_bytes())?;
    if let Some(account) = owner {
        std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))?;
    }
    Ok(())
}

/// A loopback port that is free right now.
fn free_port() -> Result<u16, PgError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_locked_server_refuses_a_connection_without_its_random_password() {
        let server = PgServer::start_locked().await.unwrap();
        let admin = server.admin_url("postgres");
        assert!(admin.starts_with("postgres://postgres:"), "{admin}");
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("the password opens it");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(one, 1);
        let refused = PgConnection::connect(&server.url("postgres", "postgres")).await;
        assert!(
            refused.is_err(),
            "a passwordless superuser connection got in"
        );
        let wrong = admin.replacen("postgres:", "postgres:x", 1);
        assert!(
            PgConnection::connect(&wrong).await.is_err(),
            "a wrong password got in"
        );
        assert!(
            !server.dir.join("pwfile").exists(),
            "the password file outlives initdb"
        );
        server.stop();
    }

    #[test]
    fn the_bootstrap_creates_exactly_the_roles_and_schemas_of_the_component_list() {
        let line = BOOTSTRAP_SQL
            .lines()
            .find(|l| l.contains("FOREACH svc SLICE 1 IN ARRAY"))
            .expect("bootstrap.sql creates the roles and schemas in one loop");
        let quoted: Vec<&str> = line.split('\'').skip(1).step_by(2).collect();
        let created: Vec<(&str, &str)> = quoted.chunks(2).map(|p| (p[0], p[1])).collect();
        let listed: Vec<(&str, &str)> = shop_topology::Component::ALL
            .iter()
            .filter_map(|c| c.spec().database)
            .map(|db| (db.role, db.schema))
            .collect();
        assert_eq!(created, listed);
    }
}

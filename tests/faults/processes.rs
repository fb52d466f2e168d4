//! One component as a child process: started, killed with SIGKILL,
//! signalled, restarted, waited for.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use shop_topology::Component;
use tokio::process::{Child, Command};

use crate::HOST;

/// One component running as a child process, restartable.
pub struct Process {
    /// `product`, `cart`, `order` or `gateway`: the `shop serve` argument.
    pub name: &'static str,
    /// Its whole environment besides `PATH`.
    pub env: Vec<(&'static str, String)>,
    /// `http://HOST:port/readyz` of its admin listener.
    pub readyz: String,
    /// Where stdout and stderr go, appended across restarts.
    pub log: PathBuf,
    /// The running child; `kill_on_drop` ends it with the test.
    pub child: Option<Child>,
}

/// The process of `component`.
pub fn process(processes: &mut [Process], component: Component) -> &mut Process {
    let name = component.spec().short;
    processes
        .iter_mut()
        .find(|p| p.name == name)
        .expect("every component runs")
}

impl Process {
    pub fn new(component: Component, logs: &Path, env: Vec<(&'static str, String)>) -> Self {
        let spec = component.spec();
        let name = spec.short;
        Self {
            name,
            env,
            readyz: format!("http://{HOST}:{}/readyz", spec.admin_port),
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shop"))
            .args(["serve", self.name])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn shop serve");
        self.child = Some(child);
    }

    pub async fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("SIGKILL");
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().and_then(Child::id).expect("running");
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {pid}");
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(&self.readyz).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("{} exited with {status}:\n{}", self.name, tail(&self.log));
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready after 30 s:\n{}",
                self.name,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

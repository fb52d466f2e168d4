//! Headless Chromium driven over WebDriver (chromedriver), for the tests
//! that look at pages in a real browser: a fresh profile each, no network
//! services, gone when closed.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs
//! them); `CHROMIUM` and `CHROMEDRIVER` override where they are looked for.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::ClientBuilder;
use serde_json::{Value, json};

/// The program `var` names, or the first of `names` on PATH (or where
/// Debian puts Chromium).
pub fn find(var: &str, names: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/lib/chromium"].map(PathBuf::from))
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{} not found: install Debian's chromium and chromium-driver (scripts/test does), or set {var}", names[0])
        })
}

/// Headless Chromium under its own chromedriver, with a fresh profile;
/// both go away with [`Browser::close`] (or when dropped).
pub struct Browser {
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts both, the window `width` × `height` pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromium = find(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = find("CHROMEDRIVER", &["chromedriver"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!("shop-chromium-{}", uuid::Uuid::new_v4()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display())]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        for _ in 0..50 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        profile,
                    };
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("chromedriver accepts no session");
    }

    pub async fn close(mut self) {
        self.client.close().await.unwrap();
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(self.profile);
    }
}

/// The Content-Security-Policy violations the page has reported so far.
pub async fn csp_violations(c: &fantoccini::Client) -> Vec<Value> {
    let script = r"
        const done = arguments[arguments.length - 1];
        const seen = [];
        const keep = (reports) => { for (const r of reports) seen.push(`${r.body.effectiveDirective} ${r.body.blockedURL} ${r.body.sourceFile}:${r.body.lineNumber} ${r.body.sample}`); };
        const observer = new ReportingObserver(keep, { types: ['csp-violation'], buffered: true });
        observer.observe();
        setTimeout(() => { keep(observer.takeRecords()); done(seen); }, 300);
    ";
    let seen = c.execute_async(script, vec![]).await.unwrap();
    seen.as_array().cloned().unwrap_or_default()
}

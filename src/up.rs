//! `shop up`: the whole stack in one process.
//!
//! 1. A database: an ephemeral PostgreSQL (removed again on exit; TCP
//!    connections need a password, the superuser's random), or the
//!    server named by `--database-url` / `DATABASE_URL` (an administrator URL).
//! 2. `db/bootstrap.sql`, idempotently, and a fresh password for each
//!    service role, so each component connects as its own role.
//! 3. An event broker: `NATS_URL`, or a throw-away NATS server when
//!    `nats-server` is installed (else events wait in the outboxes).
//! 4. Every component on its port (docs/contract.md), until Ctrl-C or SIGTERM; then
//!    all drain together.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use shop_pgtemp::PgServer;
use shop_runtime::Env;
use shop_topology::Component;
use sqlx::Connection as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

use crate::components;

/// Arguments of `shop up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Administrator URL of an existing PostgreSQL to bootstrap and use;
    /// without it an ephemeral server is started and removed on exit.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Address the components listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Mutual TLS between the components, and HTTPS at the gateway: a
    /// throw-away CA and a certificate per component, made at start and
    /// deleted on exit (the CA's path is printed, for curl --cacert).
    #[arg(long)]
    tls: bool,
}

/// Runs the stack until a shutdown signal.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let process_env: HashMap<String, String> = std::env::vars().collect();
    // One process, four components: each one's spans carry its own
    // service.name, as they would under compose.
    let telemetry = shop_runtime::telemetry::init_shared(
        &Env::from_map(process_env.clone()),
        "shop",
        &Component::ALL.map(Component::name),
    )?;

    let (admin_url, server) = match &args.database_url {
        Some(url) => (
            Url::parse(url).context("invalid configuration: DATABASE_URL")?,
            None,
        ),
        None => {
            tracing::info!("starting an ephemeral PostgreSQL");
            let server = PgServer::start_locked().await?;
            let url = server.create_database("shop").await?;
            (Url::parse(&url)?, Some(server))
        }
    };
    let role_urls = bootstrap(&admin_url).await?;
    // The event broker: NATS_URL when set, else a throw-away server when
    // nats-server is installed; without one, events wait in the outboxes.
    let (nats_url, nats) = match std::env::var("NATS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => (Some(url), None),
        None => match shop_natstemp::NatsServer::start().await {
            Ok(server) => (Some(server.url()), Some(server)),
            Err(e) => {
                println!("  {:<20} off: {e}", "events");
                (None, None)
            }
        },
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let certs = if args.tls {
        Some(CertDir::make(&args.host.to_string())?)
    } else {
        None
    };
    let scheme = if certs.is_some() { "https" } else { "http" };
    let mut shared = process_env.clone();
    for service in shop_topology::services() {
        let spec = service.spec();
        if let Some(var) = spec.addr_var {
            shared.insert(
                var.into(),
                format!("{scheme}://{}:{}", args.host, spec.port),
            );
        }
    }
    if let Some(url) = &nats_url {
        shared.insert("NATS_URL".into(), url.clone());
    }
    // Keys nobody else knows, unless the caller set them.
    let random_key = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    shared
        .entry("PAGE_TOKEN_SECRET".into())
        .or_insert_with(random_key);
    shared
        .entry("AUTH_SECRET".into())
        .or_insert_with(random_key);
    // Fault control is on under `shop up`, with a token only this user can
    // read: `shop faults` finds it in the token file.
    let faults_token = shared
        .entry("FAULTS_TOKEN".into())
        .or_insert_with(random_key)
        .clone();
    let token_file = TokenFile::write(crate::faults::token_file(), &faults_token)?;
    let admin_password = shared
        .entry("ADMIN_PASSWORD".into())
        .or_insert_with(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string())
        .clone();

    // Each component on its design port, after the ones it calls; a
    // service connects as its own role.
    let mut components = Vec::new();
    for component in Component::ALL {
        let spec = component.spec();
        let (listener, admin) = listen(args.host, spec.port, spec.admin_port, spec.name).await?;
        let mut vars = shared.clone();
        if let Some(db) = spec.database {
            vars.insert("DATABASE_URL".into(), role_urls[db.role].to_string());
        }
        if let Some(certs) = &certs {
            vars.extend(certs.vars(component));
        }
        let env = Env::from_map(vars);
        let task = components::spawn(component, &env, listener, admin, stopped())?;
        components.push((component, task));
    }

    println!();
    println!("  Shop is running.");
    let gateway = Component::Gateway.spec();
    println!(
        "  storefront          {scheme}://{}:{}/",
        args.host, gateway.port
    );
    println!(
        "  API docs            {scheme}://{}:{}/docs",
        args.host, gateway.port
    );
    if let Some(certs) = &certs {
        println!(
            "  mutual TLS          on (CA {}; curl --cacert it)",
            certs.0.join("ca.pem").display()
        );
    }
    println!("  admin login         admin / {admin_password}");
    println!(
        "  fault control       on (token in {}; `shop faults` reads it)",
        token_file.0.display()
    );
    for (component, _) in &components {
        let spec = component.spec();
        if spec.grpc_service.is_some() {
            println!(
                "  {:<20} {}://{}:{}  (admin http://{}:{}/readyz)",
                spec.name,
                if certs.is_some() { "grpcs" } else { "grpc" },
                args.host,
                spec.port,
                args.host,
                spec.admin_port
            );
        }
    }
    // The ephemeral server's random superuser password is shown, as the
    // admin password is: it is this terminal's own throw-away database.
    // A server the user passed in is theirs: its password stays hidden.
    let database = if server.is_some() {
        admin_url.to_string()
    } else {
        redact(&admin_url)
    };
    println!("  {:<20} {database}", "database");
    if let Some(url) = &nats_url {
        println!("  {:<20} {url}  (`shop events status`)", "events");
    }
    println!("  Press Ctrl-C to stop.");
    println!();

    // Run until a signal, or until a component stops on its own (a failure).
    let names: Vec<&str> = components.iter().map(|c| c.0.name()).collect();
    let mut tasks: Vec<_> = components.into_iter().map(|c| c.1).collect();
    let outcome = tokio::select! {
        () = shop_runtime::server::shutdown::signal() => Ok(()),
        (result, index, _) = futures::future::select_all(tasks.iter_mut()) => {
            let name = names[index];
            match result {
                Ok(Ok(())) => Err(anyhow::anyhow!("{name} stopped unexpectedly")),
                Ok(Err(e)) => Err(e.context(format!("{name} failed"))),
                Err(join) => Err(anyhow::anyhow!("{name} panicked: {join}")),
            }
        }
    };
    let _ = stop_tx.send(true);
    for (task, name) in tasks.into_iter().zip(names) {
        if task.is_finished() {
            continue;
        }
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(component = name, error = %e, "failed while stopping"),
            Err(join) => {
                tracing::error!(component = name, error = %join, "panicked while stopping")
            }
        }
    }
    telemetry.shutdown();
    if let Some(nats) = nats {
        nats.stop();
    }
    if let Some(server) = server {
        server.stop();
        tracing::info!("ephemeral PostgreSQL stopped and removed");
    }
    outcome
}

/// Runs the bootstrap SQL and gives each service role a fresh password;
/// returns each role's URL.
async fn bootstrap(admin_url: &Url) -> anyhow::Result<HashMap<&'static str, Url>> {
    shop_pgtemp::bootstrap(admin_url.as_str())
        .await
        .with_context(|| format!("bootstrapping {}", redact(admin_url)))?;
    let mut conn = sqlx::PgConnection::connect(admin_url.as_str()).await?;
    let mut urls = HashMap::new();
    for role in shop_pgtemp::service_roles() {
        let password = uuid::Uuid::new_v4().simple().to_string();
        sqlx::raw_sql(&format!("ALTER ROLE {role} PASSWORD '{password}'"))
            .execute(&mut conn)
            .await?;
        let mut url = admin_url.clone();
        url.set_username(role)
            .map_err(|()| anyhow::anyhow!("DATABASE_URL cannot carry a user"))?;
        url.set_password(Some(&password))
            .map_err(|()| anyhow::anyhow!("DATABASE_URL cannot carry a password"))?;
        urls.insert(role, url);
    }
    conn.close().await?;
    Ok(urls)
}

/// Binds a component's two ports, or says which port is taken.
async fn listen(
    host: std::net::IpAddr,
    port: u16,
    admin_port: u16,
    component: &str,
) -> anyhow::Result<(TcpListener, TcpListener)> {
    let bind = |port: u16| async move {
        let addr = SocketAddr::new(host, port);
        TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} for {component}: stop whatever uses port {port} and try again")
        })
    };
    Ok((bind(port).await?, bind(admin_port).await?))
}

/// A URL without its password, for printing.
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// `shop up --tls`'s certificates: a directory only this user can read,
/// removed however `shop up` ends.
struct CertDir(std::path::PathBuf);

impl CertDir {
    /// A fresh CA and a certificate per component, also valid for `host`.
    fn make(host: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir =
            std::env::temp_dir().join(format!("shop-up-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let certs = Self(dir);
        shop_pki::Ca::new("shop up")?.write_set(&certs.0, &[host])?;
        Ok(certs)
    }

    /// The TLS variables of `component`.
    fn vars(&self, component: Component) -> [(String, String); 3] {
        let file = |name: String| self.0.join(name).display().to_string();
        [
            (
                "TLS_CERT_FILE".into(),
                file(format!("{}.pem", component.name())),
            ),
            (
                "TLS_KEY_FILE".into(),
                file(format!("{}.key", component.name())),
            ),
            ("TLS_CA_FILE".into(), file("ca.pem".into())),
        ]
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `shop up`'s fault token on disk, removed however `shop up` ends
/// (a start-up failure included).
struct TokenFile(std::path::PathBuf);

impl TokenFile {
    fn write(path: std::path::PathBuf, token: &str) -> anyhow::Result<Self> {
        write_private(&path, token).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `text` to a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

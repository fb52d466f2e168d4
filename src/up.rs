//! `shop up`: the whole stack in one process.
//!
//! 1. A database: an ephemeral PostgreSQL (removed again on exit), or the
//!    server named by `--database-url` / `DATABASE_URL` (an administrator URL).
//! 2. `db/bootstrap.sql`, idempotently, and a fresh password for each
//!    service role, so each component connects as its own role.
//! 3. Every component on its port (docs/contract.md), until Ctrl-C or SIGTERM; then
//!    all drain together.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use shop_pgtemp::PgServer;
use shop_runtime::Env;
use sqlx::Connection as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

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
}

/// Runs the stack until a shutdown signal.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let process_env: HashMap<String, String> = std::env::vars().collect();
    // One process, four components: each one's spans carry its own
    // service.name, as they would under compose.
    let telemetry = shop_runtime::telemetry::init_shared(
        &Env::from_map(process_env.clone()),
        "shop",
        &[
            gateway::COMPONENT,
            product_service::COMPONENT,
            cart_service::COMPONENT,
            order_service::COMPONENT,
        ],
    )?;

    let (admin_url, server) = match &args.database_url {
        Some(url) => (
            Url::parse(url).context("invalid configuration: DATABASE_URL")?,
            None,
        ),
        None => {
            tracing::info!("starting an ephemeral PostgreSQL");
            let server = PgServer::start().await?;
            let mut conn = sqlx::PgConnection::connect(&server.admin_url("postgres")).await?;
            sqlx::raw_sql("CREATE DATABASE shop")
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            (Url::parse(&server.admin_url("shop"))?, Some(server))
        }
    };
    let role_urls = bootstrap(&admin_url).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let local = |port: u16| format!("http://{}:{port}", args.host);
    let mut shared = process_env.clone();
    shared.insert(
        "PRODUCT_SERVICE_ADDR".into(),
        local(product_service::DEFAULT_PORT),
    );
    shared.insert(
        "CART_SERVICE_ADDR".into(),
        local(cart_service::DEFAULT_PORT),
    );
    shared.insert(
        "ORDER_SERVICE_ADDR".into(),
        local(order_service::DEFAULT_PORT),
    );
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
    let env_for = |role: &str| component_env(&shared, &role_urls[role]);

    let mut components = Vec::new();
    let (listener, admin) = listen(
        args.host,
        product_service::DEFAULT_PORT,
        product_service::DEFAULT_ADMIN_PORT,
        product_service::COMPONENT,
    )
    .await?;
    let config = product_service::Config::from_env(&env_for("product_svc"))?;
    components.push((
        product_service::COMPONENT,
        product_service::DEFAULT_PORT,
        product_service::DEFAULT_ADMIN_PORT,
        tokio::spawn(product_service::run(config, listener, admin, stopped())),
    ));
    let (listener, admin) = listen(
        args.host,
        cart_service::DEFAULT_PORT,
        cart_service::DEFAULT_ADMIN_PORT,
        cart_service::COMPONENT,
    )
    .await?;
    let config = cart_service::Config::from_env(&env_for("cart_svc"))?;
    components.push((
        cart_service::COMPONENT,
        cart_service::DEFAULT_PORT,
        cart_service::DEFAULT_ADMIN_PORT,
        tokio::spawn(cart_service::run(config, listener, admin, stopped())),
    ));
    let (listener, admin) = listen(
        args.host,
        order_service::DEFAULT_PORT,
        order_service::DEFAULT_ADMIN_PORT,
        order_service::COMPONENT,
    )
    .await?;
    let config = order_service::Config::from_env(&env_for("order_svc"))?;
    components.push((
        order_service::COMPONENT,
        order_service::DEFAULT_PORT,
        order_service::DEFAULT_ADMIN_PORT,
        tokio::spawn(order_service::run(config, listener, admin, stopped())),
    ));

    let mut gateway_env = shared.clone();
    let admin_password = match gateway_env.get("ADMIN_PASSWORD") {
        Some(password) => password.clone(),
        None => {
            let password = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            gateway_env.insert("ADMIN_PASSWORD".into(), password.clone());
            password
        }
    };
    gateway_env
        .entry("AUTH_SECRET".into())
        .or_insert_with(random_key);
    let (listener, admin) = listen(
        args.host,
        gateway::DEFAULT_PORT,
        gateway::DEFAULT_ADMIN_PORT,
        gateway::COMPONENT,
    )
    .await?;
    let config = gateway::Config::from_env(&Env::from_map(gateway_env))?;
    components.push((
        gateway::COMPONENT,
        gateway::DEFAULT_PORT,
        gateway::DEFAULT_ADMIN_PORT,
        tokio::spawn(gateway::run(config, listener, admin, stopped())),
    ));

    println!();
    println!("  Shop is running.");
    println!(
        "  storefront       http://{}:{}/",
        args.host,
        gateway::DEFAULT_PORT
    );
    println!(
        "  API docs         http://{}:{}/docs",
        args.host,
        gateway::DEFAULT_PORT
    );
    println!("  admin login      admin / {admin_password}");
    for (name, port, admin_port, _) in components.iter().take(3) {
        println!(
            "  {name:<16} grpc://{}:{port}  (admin http://{}:{admin_port}/readyz)",
            args.host, args.host
        );
    }
    println!("  {:<16} {}", "database", redact(&admin_url));
    println!("  Press Ctrl-C to stop.");
    println!();

    // Run until a signal, or until a component stops on its own (a failure).
    let names: Vec<&str> = components.iter().map(|c| c.0).collect();
    let mut tasks: Vec<_> = components.into_iter().map(|c| c.3).collect();
    let outcome = tokio::select! {
        () = shop_runtime::shutdown::signal() => Ok(()),
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
    for &role in shop_pgtemp::SERVICE_ROLES {
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

/// The process environment with the component's own database URL.
fn component_env(process_env: &HashMap<String, String>, database_url: &Url) -> Env {
    let mut vars = process_env.clone();
    vars.insert("DATABASE_URL".into(), database_url.to_string());
    Env::from_map(vars)
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

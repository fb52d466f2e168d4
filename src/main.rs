//! `shop`: the command line of Shop.
//!
//! `shop up` runs the whole stack in this one process, each component on its
//! own port and still talking gRPC, against an ephemeral PostgreSQL unless
//! `--database-url` names a server to use.

mod components;
mod events;
mod faults;
mod up;

/// mimalloc instead of the system allocator: every request allocates, and
/// glibc's arenas contend across the runtime's threads (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shop_topology::Component;

#[derive(Debug, Parser)]
#[command(
    name = "shop",
    version,
    about = "Run Shop, the microservices reference shop, locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every component in one process; Ctrl-C stops them all.
    Up(up::UpArgs),
    /// Run one component in the foreground, configured from the
    /// environment exactly like its own binary (`LISTEN_ADDR`,
    /// `DATABASE_URL`, ...): for running the parts as separate processes.
    Serve {
        /// The component to run: product, cart, order or gateway (or its
        /// full name, e.g. product-service).
        #[arg(value_parser = parse_component)]
        component: Component,
    },
    /// Print the component list, one line each, in start order:
    /// name, port, admin port, database role (or -), address variable
    /// (or -). Scripts (bench/run) follow it.
    Components,
    /// Load-test a running shop through its REST API: weighted journeys,
    /// open loop at a fixed rate (`--rate`) or a sweep of rates; writes
    /// the load report, --report-dir/report.html. Exits 1 when a bound
    /// breaks.
    Loadtest(Box<shop_loadtest::LoadArgs>),
    /// Inject faults into a running stack, live: list, set, add, clear
    /// (latency, error statuses, aborted calls, failed readiness).
    Faults(faults::FaultsArgs),
    /// The event flow of a running stack (NATS_URL): status, dlq, redrive,
    /// replay --consumer NAME --since TIME.
    Events(events::EventsArgs),
    /// Make a throw-away CA and a certificate per component for mutual TLS
    /// (compose, Kubernetes): DIR/ca.pem, DIR/<component>.pem and .key.
    Certs {
        /// Where to write them (created if missing).
        dir: std::path::PathBuf,
        /// Another name or address every certificate should be valid for.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Make the keys readable by every user (mode 0644), for a bind
        /// mount into containers that run as another user (compose's
        /// components run as 65532). Keep such a directory to yourself.
        #[arg(long)]
        for_containers: bool,
    },
}

/// A component named on the command line, by its full or short name.
fn parse_component(name: &str) -> Result<Component, String> {
    Component::from_name(name)
        .ok_or_else(|| format!("no component `{name}`; one of {}", Component::names()))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => shop_runtime::main_entry("shop", up::run(args)).await,
        Command::Serve { component } => {
            let env = shop_runtime::Env::process();
            let serving = components::serve_from_env(component, env);
            shop_runtime::main_entry(component.name(), serving).await
        }
        Command::Events(args) => match events::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shop events: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Certs {
            dir,
            names,
            for_containers,
        } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let written = shop_pki::Ca::new("shop")
                .and_then(|ca| ca.write_set(&dir, &names))
                .and_then(|()| {
                    if for_containers {
                        shop_pki::share_with_containers(&dir)?;
                    }
                    Ok(())
                });
            match written {
                Ok(()) => {
                    println!(
                        "wrote {}/ca.pem and a certificate and key per component",
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("shop certs: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Components => {
            for component in Component::ALL {
                let spec = component.spec();
                let role = spec.database.map_or("-", |db| db.role);
                let var = spec.addr_var.unwrap_or("-");
                println!(
                    "{} {} {} {role} {var}",
                    spec.name, spec.port, spec.admin_port
                );
            }
            ExitCode::SUCCESS
        }
        Command::Faults(args) => match faults::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shop faults: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Loadtest(args) => match shop_loadtest::run(*args).await {
            Ok(shop_loadtest::Verdict::Passed) => ExitCode::SUCCESS,
            Ok(shop_loadtest::Verdict::Failed(broken)) => {
                for line in broken {
                    eprintln!("shop loadtest: {line}");
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("shop loadtest: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

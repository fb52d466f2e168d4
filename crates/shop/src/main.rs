//! `shop`: the command line of Shop.
//!
//! `shop up` runs the whole stack in this one process, each component on its
//! own port and still talking gRPC, against an ephemeral PostgreSQL unless
//! `--database-url` names a server to use.

mod up;

/// mimalloc instead of the system allocator: every request allocates, and
/// glibc's arenas contend across the runtime's threads (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Load-test a running shop through its REST API: weighted journeys,
    /// or open loop at a fixed rate (`--rate`). Exits 1 when a bound breaks.
    Loadtest(Box<shop_loadtest::LoadArgs>),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => shop_runtime::main_entry("shop", up::run(args)).await,
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

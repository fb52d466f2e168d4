//! `shop faults`: list, set and clear the faults of a running stack
//! through each component's admin port (`/faults`, see
//! `shop_runtime::chaos` for the text of a fault).
//!
//! The admin ports default to the design's on 127.0.0.1, as `shop up`,
//! compose and a `kubectl port-forward` of each admin port expose them;
//! `--host` or `--admin COMPONENT=URL` point elsewhere.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use shop_topology::Component;

/// Arguments of `shop faults`.
#[derive(Debug, clap::Args)]
pub struct FaultsArgs {
    #[command(subcommand)]
    action: Action,
    /// Host of the admin ports.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: String,
    /// The admin URL of one component, e.g. `product-service=http://10.0.0.5:9101`
    /// (repeatable); the others keep their default.
    #[arg(long = "admin", value_name = "COMPONENT=URL", global = true)]
    admin: Vec<String>,
    /// The stack's `FAULTS_TOKEN`, which every change carries; without it,
    /// the one `shop up` wrote to its token file.
    #[arg(long, env = "FAULTS_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

/// Where `shop up` leaves its `FAULTS_TOKEN` for `shop faults` (readable by
/// its user only), while it runs.
pub fn token_file() -> std::path::PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    std::env::temp_dir().join(format!("shop-faults-token-{user}"))
}

/// A client whose every request carries the token, when there is one.
fn client(args: &FaultsArgs) -> anyhow::Result<reqwest::Client> {
    let token = match &args.token {
        Some(token) => Some(token.clone()),
        None => std::fs::read_to_string(token_file())
            .ok()
            .map(|t| t.trim().to_string()),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("FAULTS_TOKEN is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the faults in force in every component.
    List,
    /// Replace one component's faults, e.g.
    /// `shop faults set product-service "latency 200ms on GetProduct 50%"`.
    Set {
        /// The component, e.g. product-service or product (`list` names them all).
        component: String,
        /// Faults separated by `;`.
        faults: String,
    },
    /// Add faults to those of one component.
    Add {
        /// The component, e.g. product-service or product (`list` names them all).
        component: String,
        /// Faults separated by `;`.
        faults: String,
    },
    /// Remove the faults of one component, or of all without one.
    Clear {
        /// The component; every one when left out.
        component: Option<String>,
    },
    /// List the named scenarios of deploy/chaos/scenarios.yaml, or turn
    /// one on (every other fault off) and print what to look for.
    Scenario {
        /// The scenario; all are listed when left out.
        name: Option<String>,
    },
    /// Turn scenarios on and off in turn over a load run: each on for
    /// `--on` seconds, then everything off for `--off` seconds, until
    /// `--duration` is over; ends with every fault cleared.
    Schedule {
        /// The scenarios, in order; all of them when left out.
        names: Vec<String>,
        /// Seconds each scenario stays on.
        #[arg(long, default_value_t = 30)]
        on: u64,
        /// Seconds of calm between two scenarios.
        #[arg(long, default_value_t = 30)]
        off: u64,
        /// Seconds the whole schedule lasts.
        #[arg(long, default_value_t = 300)]
        duration: u64,
    },
}

/// The named scenarios, as the binary carries them.
const SCENARIOS: &str = include_str!("../deploy/chaos/scenarios.yaml");

/// One named scenario of deploy/chaos/scenarios.yaml.
#[derive(Debug, serde::Deserialize)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: String,
    /// What it stands for.
    pub title: String,
    /// Per component, its faults.
    pub faults: BTreeMap<String, String>,
    /// What a person sees, where.
    pub symptoms: BTreeMap<String, String>,
}

/// Every named scenario.
pub fn scenarios() -> anyhow::Result<Vec<Scenario>> {
    #[derive(serde::Deserialize)]
    struct File {
        scenarios: Vec<Scenario>,
    }
    let file: File =
        serde_norway::from_str(SCENARIOS).context("deploy/chaos/scenarios.yaml does not parse")?;
    Ok(file.scenarios)
}

fn scenario(name: &str) -> anyhow::Result<Scenario> {
    let all = scenarios()?;
    let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    all.into_iter()
        .find(|s| s.name == name)
        .with_context(|| format!("no scenario `{name}`; one of {}", names.join(", ")))
}

/// Clears every component, then sets `scenario`'s faults.
async fn turn_on(
    client: &reqwest::Client,
    urls: &BTreeMap<&'static str, String>,
    scenario: &Scenario,
) -> anyhow::Result<()> {
    clear_all(client, urls).await?;
    for (name, faults) in &scenario.faults {
        let url = &urls[component(name)?];
        call(client.put(url).body(faults.clone()), url).await?;
    }
    Ok(())
}

async fn clear_all(
    client: &reqwest::Client,
    urls: &BTreeMap<&'static str, String>,
) -> anyhow::Result<()> {
    for url in urls.values() {
        call(client.delete(url), url).await?;
    }
    Ok(())
}

/// The `/faults` URL of each component.
fn admin_urls(args: &FaultsArgs) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut urls: BTreeMap<&'static str, String> = Component::ALL
        .iter()
        .map(|c| {
            let port = c.spec().admin_port;
            (c.name(), format!("http://{}:{port}/faults", args.host))
        })
        .collect();
    for pair in &args.admin {
        let Some((name, url)) = pair.split_once('=') else {
            bail!("--admin {pair}: write COMPONENT=URL");
        };
        let name = component(name)?;
        urls.insert(name, format!("{}/faults", url.trim_end_matches('/')));
    }
    Ok(urls)
}

fn component(name: &str) -> anyhow::Result<&'static str> {
    Component::from_name(name)
        .map(Component::name)
        .with_context(|| format!("no component `{name}`; one of {}", Component::names()))
}

/// Sends one request and returns the body of a 2xx answer.
async fn call(request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<String> {
    let response = request
        .send()
        .await
        .with_context(|| format!("{url}: not answering (is the stack running?)"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url}: {status}: {}", body.trim());
    }
    Ok(body)
}

/// Seconds since the schedule that ends at `end` began.
fn elapsed(end: tokio::time::Instant, duration: u64) -> f64 {
    duration as f64
        - end
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs_f64()
}

/// Runs `shop faults`.
pub async fn run(args: FaultsArgs) -> anyhow::Result<()> {
    let urls = admin_urls(&args)?;
    let client = client(&args)?;
    match &args.action {
        Action::List => {
            for (name, url) in &urls {
                match call(client.get(url), url).await {
                    Ok(body) if body.trim().is_empty() => println!("{name}: no faults"),
                    Ok(body) => {
                        println!("{name}:");
                        for line in body.lines() {
                            println!("  {line}");
                        }
                    }
                    Err(e) => println!("{name}: {e:#}"),
                }
            }
        }
        Action::Set {
            component: c,
            faults,
        }
        | Action::Add {
            component: c,
            faults,
        } => {
            let url = &urls[component(c)?];
            let request = match args.action {
                Action::Set { .. } => client.put(url),
                _ => client.post(url),
            };
            let body = call(request.body(faults.clone()), url).await?;
            println!("{c}:");
            for line in body.lines() {
                println!("  {line}");
            }
        }
        Action::Scenario { name: None } => {
            for s in scenarios()? {
                println!("{:<22} {}", s.name, s.title);
            }
        }
        Action::Scenario { name: Some(name) } => {
            let scenario = scenario(name)?;
            turn_on(&client, &urls, &scenario).await?;
            println!("{}: on", scenario.title);
            for (component, faults) in &scenario.faults {
                println!("  {component}: {faults}");
            }
            println!("What to look for:");
            for (place, symptom) in &scenario.symptoms {
                println!("  {place}: {symptom}");
            }
            println!("`shop faults clear` turns it off.");
        }
        Action::Schedule {
            names,
            on,
            off,
            duration,
        } => {
            let chosen = if names.is_empty() {
                scenarios()?
            } else {
                names
                    .iter()
                    .map(|n| scenario(n))
                    .collect::<anyhow::Result<_>>()?
            };
            let end = tokio::time::Instant::now() + std::time::Duration::from_secs(*duration);
            let schedule = async {
                for scenario in chosen.iter().cycle() {
                    turn_on(&client, &urls, scenario).await?;
                    println!("{:>6.0} s  on: {}", elapsed(end, *duration), scenario.title);
                    tokio::time::sleep(std::time::Duration::from_secs(*on)).await;
                    clear_all(&client, &urls).await?;
                    println!("{:>6.0} s  off", elapsed(end, *duration));
                    tokio::time::sleep(std::time::Duration::from_secs(*off)).await;
                }
                anyhow::Ok(())
            };
            let stopped = tokio::select! {
                result = schedule => result,
                () = tokio::time::sleep_until(end) => Ok(()),
                _ = tokio::signal::ctrl_c() => Ok(()),
            };
            clear_all(&client, &urls).await?;
            println!("schedule over: every fault cleared");
            stopped?;
        }
        Action::Clear { component: c } => {
            if let Some(c) = c {
                component(c)?;
            }
            for (name, url) in &urls {
                if c.as_deref().is_none_or(|c| c == *name) {
                    call(client.delete(url), url).await?;
                    println!("{name}: no faults");
                }
            }
        }
    }
    Ok(())
}

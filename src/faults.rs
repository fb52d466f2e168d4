//! `shop faults`: list, set and clear the faults of a running stack
//! through each component's admin port (`/faults`, see
//! `shop_runtime::chaos` for the text of a fault).
//!
//! The admin ports default to the design's on 127.0.0.1, as `shop up`,
//! compose and a `kubectl port-forward` of each admin port expose them;
//! `--host` or `--admin COMPONENT=URL` point elsewhere.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

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
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the faults in force in every component.
    List,
    /// Replace one component's faults, e.g.
    /// `shop faults set product-service "latency 200ms on GetProduct 50%"`.
    Set {
        /// product-service, cart-service, order-service or gateway.
        component: String,
        /// Faults separated by `;`.
        faults: String,
    },
    /// Add faults to those of one component.
    Add {
        /// product-service, cart-service, order-service or gateway.
        component: String,
        /// Faults separated by `;`.
        faults: String,
    },
    /// Remove the faults of one component, or of all without one.
    Clear {
        /// The component; every one when left out.
        component: Option<String>,
    },
}

/// Every component and its default admin port.
const COMPONENTS: [(&str, u16); 4] = [
    (
        product_service::COMPONENT,
        product_service::DEFAULT_ADMIN_PORT,
    ),
    (cart_service::COMPONENT, cart_service::DEFAULT_ADMIN_PORT),
    (order_service::COMPONENT, order_service::DEFAULT_ADMIN_PORT),
    (gateway::COMPONENT, gateway::DEFAULT_ADMIN_PORT),
];

/// The `/faults` URL of each component.
fn admin_urls(args: &FaultsArgs) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut urls: BTreeMap<&'static str, String> = COMPONENTS
        .iter()
        .map(|(name, port)| (*name, format!("http://{}:{port}/faults", args.host)))
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
    COMPONENTS
        .iter()
        .map(|(n, _)| *n)
        .find(|n| *n == name)
        .with_context(|| {
            let names: Vec<&str> = COMPONENTS.iter().map(|(n, _)| *n).collect();
            format!("no component `{name}`; one of {}", names.join(", "))
        })
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

/// Runs `shop faults`.
pub async fn run(args: FaultsArgs) -> anyhow::Result<()> {
    let urls = admin_urls(&args)?;
    let client = reqwest::Client::new();
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

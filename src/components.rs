//! Each component of the list (`shop_topology::Component`) mapped to its
//! crate: the one place in this package that names every component's code.
//! A new component is a new arm in each `match` here, which the compiler asks for.

use std::future::Future;
use std::pin::Pin;

use shop_runtime::Env;
use shop_topology::Component;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A component's run to completion, whichever it is.
pub type Serving = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// `shop serve <component>`: the component as its own binary runs it,
/// configured from `env`.
pub fn serve_from_env(component: Component, env: Env) -> Serving {
    match component {
        Component::Product => Box::pin(product_service::serve_from_env(env)),
        Component::Cart => Box::pin(cart_service::serve_from_env(env)),
        Component::Order => Box::pin(order_service::serve_from_env(env)),
        Component::Fulfillment => Box::pin(fulfillment_service::serve_from_env(env)),
        Component::Gateway => Box::pin(gateway::serve_from_env(env)),
    }
}

/// Starts `component` on bound listeners, configured from `env`, until
/// `shutdown` completes (`shop up`). A configuration error is returned
/// before anything runs.
pub fn spawn(
    component: Component,
    env: &Env,
    listener: TcpListener,
    admin: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    Ok(match component {
        Component::Product => {
            let config = product_service::Config::from_env(env)?;
            tokio::spawn(product_service::run(config, listener, admin, shutdown))
        }
        Component::Cart => {
            let config = cart_service::Config::from_env(env)?;
            tokio::spawn(cart_service::run(config, listener, admin, shutdown))
        }
        Component::Order => {
            let config = order_service::Config::from_env(env)?;
            tokio::spawn(order_service::run(config, listener, admin, shutdown))
        }
        Component::Fulfillment => {
            let config = fulfillment_service::Config::from_env(env)?;
            tokio::spawn(fulfillment_service::run(config, listener, admin, shutdown))
        }
        Component::Gateway => {
            let config = gateway::Config::from_env(env)?;
            tokio::spawn(gateway::run(config, listener, admin, shutdown))
        }
    })
}

//! The channel under a client: one endpoint for an IP address, balanced
//! over every address a name resolves to, re-resolved every [`DNS_REFRESH`].

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::channel::Change;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::{ConfigError, Tls};

/// How often a service name is resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(5);

/// The bare channel of [`super::channel`], without the client layers: for
/// plumbing such as health checks.
pub fn raw_channel(var: &str, addr: &str, tls: &Tls) -> Result<Channel, ConfigError> {
    let invalid = |message: String| ConfigError {
        var: var.to_string(),
        message,
    };
    let (scheme, rest) = addr
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .ok_or_else(|| invalid(format!("{addr:?} must start with http:// or https://")))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = authority
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| invalid(format!("{addr:?} must name a port")))?;
    let client_tls = match scheme {
        "https" => Some(tls.grpc_client(var, &host)?),
        _ => None,
    };
    let endpoint = endpoint(addr, client_tls.clone()).map_err(invalid)?;
    if host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return Ok(endpoint.connect_lazy());
    }
    let scheme = scheme.to_string();
    Ok(balanced(scheme, client_tls, move || {
        let host = host.clone();
        async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(|addrs| addrs.collect())
                .unwrap_or_default()
        }
    }))
}

fn endpoint(addr: &str, tls: Option<ClientTlsConfig>) -> Result<Endpoint, String> {
    let endpoint = Endpoint::from_shared(addr.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    match tls {
        Some(tls) => endpoint.tls_config(tls).map_err(|e| e.to_string()),
        None => Ok(endpoint),
    }
}

/// A channel balanced over the addresses `resolve` returns, called again
/// every [`DNS_REFRESH`]. An empty answer (a DNS hiccup) keeps the current
/// endpoints. The refresh task ends when the channel is dropped. With
/// `tls`, each address is verified against the name `tls` carries, not
/// its IP.
pub fn balanced<R, F>(scheme: String, tls: Option<ClientTlsConfig>, resolve: R) -> Channel
where
    R: Fn() -> F + Send + 'static,
    F: Future<Output = Vec<SocketAddr>> + Send,
{
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    tokio::spawn(async move {
        let mut current = HashSet::<SocketAddr>::new();
        loop {
            let resolved: HashSet<SocketAddr> = resolve().await.into_iter().collect();
            if !resolved.is_empty() {
                for gone in current.difference(&resolved) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return;
                    }
                }
                for new in resolved.difference(&current) {
                    let Ok(endpoint) = endpoint(&format!("{scheme}://{new}"), tls.clone()) else {
                        continue;
                    };
                    if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                        return;
                    }
                }
                current = resolved;
            }
            tokio::time::sleep(DNS_REFRESH).await;
            if changes.is_closed() {
                return;
            }
        }
    });
    channel
}

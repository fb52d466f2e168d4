//! gRPC clients of other services: one shared channel each, spread over
//! every address the service's name resolves to, built from the client
//! layers ([`layers`]: span and trace context, metrics, injected faults,
//! transport errors as UNAVAILABLE), and one call policy ([`CallPolicy`]:
//! a deadline on every call, retries with backoff on UNAVAILABLE, as every
//! call between Shop's services is a read or keyed, so safe to repeat) and
//! one meaning of a failed call ([`CallError`]).
//!
//! HTTP/2 keeps one long-lived connection, so behind a plain Kubernetes
//! ClusterIP every call of a client would go to one pod. Shop's services
//! are headless instead: their DNS name resolves to every ready pod, and
//! [`channel`] balances calls over all of them, re-resolving the name every
//! few seconds so that new pods get traffic and departed ones none.

mod balance;
pub mod layers;
mod policy;

pub use balance::{DNS_REFRESH, balanced, raw_channel};
pub use policy::{CallError, CallPolicy};

use tonic::transport::Channel;
use tower::ServiceBuilder;

use crate::chaos::Faults;
use crate::config::{ConfigError, Tls};
use layers::{
    ClientFaults, ClientFaultsLayer, ClientMetrics, ClientMetricsLayer, ClientSpan,
    ClientSpanLayer, Transport,
};

/// A channel to one service with every client layer on it: what a typed
/// client wraps (`ProductServiceClient<Client>`). Cheap to clone.
pub type Client = ClientSpan<ClientMetrics<ClientFaults<Transport>>>;

/// A lazily connected [`Client`] of `addr` (with scheme, e.g.
/// `http://product-service:50051`), shared by every call, with the
/// component's `on calls to X` faults. An IP address is one endpoint; a
/// name is balanced over everything it resolves to. An `https://` address
/// is TLS, verified against the roots of `tls`. `var` names the variable
/// it came from, for the error.
pub fn channel(var: &str, addr: &str, tls: &Tls, faults: &Faults) -> Result<Client, ConfigError> {
    raw_channel(var, addr, tls).map(|channel| layered(channel, faults))
}

/// `channel` with every client layer: the same stack for every client.
pub fn layered(channel: Channel, faults: &Faults) -> Client {
    ServiceBuilder::new()
        .layer(ClientSpanLayer)
        .layer(ClientMetricsLayer)
        .layer(ClientFaultsLayer(faults.clone()))
        .service(Transport(channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_without_scheme_or_port_names_the_variable() {
        let err = channel(
            "PRODUCT_SERVICE_ADDR",
            "127.0.0.1:50051",
            &Tls::default(),
            &Faults::default(),
        )
        .unwrap_err();
        assert_eq!(err.var, "PRODUCT_SERVICE_ADDR");
        let err = channel(
            "CART_SERVICE_ADDR",
            "http://cart-service",
            &Tls::default(),
            &Faults::default(),
        )
        .unwrap_err();
        assert_eq!(err.var, "CART_SERVICE_ADDR");
        assert!(
            channel(
                "X",
                "http://127.0.0.1:1",
                &Tls::default(),
                &Faults::default()
            )
            .is_ok()
        );
        assert!(
            channel(
                "X",
                "http://localhost:1",
                &Tls::default(),
                &Faults::default()
            )
            .is_ok()
        );
        // TLS is never unverified: https:// needs roots.
        let err = channel(
            "ORDER_SERVICE_ADDR",
            "https://127.0.0.1:1",
            &Tls::default(),
            &Faults::default(),
        )
        .unwrap_err();
        assert_eq!(err.var, "ORDER_SERVICE_ADDR");
        assert!(err.message.contains("TLS_CA_FILE"), "{}", err.message);
    }
}

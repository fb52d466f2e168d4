//! Who is calling: under mutual TLS, the component a client certificate
//! names, checked against the call graph.
//!
//! A component's certificate names it as a DNS name (`order-service`; see
//! the `shop-pki` crate). A server with mutual TLS on ([`Tls::mutual`])
//! answers a call only when the client's certificate, already verified
//! against the shop's CA during the handshake, is valid for the name of a
//! component whose `calls` include this server; anything else is
//! PERMISSION_DENIED, before any handler runs. Without mutual TLS the layer
//! passes every call through.
//!
//! [`Tls::mutual`]: crate::config::Tls::mutual

use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::TryFutureExt as _;
use futures::future::{Either, MapErr};
use shop_topology::Component;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The components allowed to call `server`: those whose `calls` name it.
pub fn allowed_callers(server: Component) -> Vec<Component> {
    Component::ALL
        .into_iter()
        .filter(|c| c.spec().calls.contains(&server))
        .collect()
}

/// The component among `candidates` that `cert` names, if any.
pub fn caller_named_by(cert: &CertificateDer<'_>, candidates: &[Component]) -> Option<Component> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    candidates.iter().copied().find(|c| {
        ServerName::try_from(c.name())
            .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
    })
}

/// Checks each call's caller against the call graph, when `enforce`.
#[derive(Debug, Clone)]
pub struct CallersLayer {
    /// The server's component and who may call it; `None`: no check.
    policy: Option<Arc<(Component, Vec<Component>)>>,
}

impl CallersLayer {
    /// The check for `server`, on when `enforce` (mutual TLS).
    pub fn new(server: Component, enforce: bool) -> Self {
        Self {
            policy: enforce.then(|| Arc::new((server, allowed_callers(server)))),
        }
    }
}

impl<S> tower::Layer<S> for CallersLayer {
    type Service = Callers<S>;

    fn layer(&self, inner: S) -> Callers<S> {
        Callers {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service made by [`CallersLayer`].
#[derive(Debug, Clone)]
pub struct Callers<S> {
    inner: S,
    policy: Option<Arc<(Component, Vec<Component>)>>,
}

impl<S, B> tower::Service<http::Request<B>> for Callers<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        Either<Ready<Result<S::Response, BoxError>>, MapErr<S::Future, fn(S::Error) -> BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(policy) = &self.policy {
            let (server, allowed) = (&policy.0, &policy.1);
            let certs = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs);
            let caller = certs
                .as_ref()
                .and_then(|certs| certs.first())
                .and_then(|leaf| caller_named_by(leaf, allowed));
            if caller.is_none() {
                tracing::warn!(
                    server = server.name(),
                    path = request.uri().path(),
                    "refused a call: the client certificate names no component that calls this one"
                );
                let status = tonic::Status::permission_denied(format!(
                    "the client certificate names no component that may call {server}"
                ));
                return Either::Left(ready(Ok(status.into_http())));
            }
        }
        let into: fn(S::Error) -> BoxError = Into::into;
        Either::Right(self.inner.call(request).map_err(into))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_may_be_called_by_exactly_the_components_whose_calls_name_it() {
        assert_eq!(
            allowed_callers(Component::Product),
            [Component::Cart, Component::Order, Component::Gateway]
        );
        assert_eq!(allowed_callers(Component::Order), [Component::Gateway]);
        assert!(allowed_callers(Component::Gateway).is_empty());
    }
}

//! Encryption in transit: TLS (rustls) on a component's main listener and
//! on its gRPC clients, when configured; plain otherwise.
//!
//! - `TLS_CERT_FILE` and `TLS_KEY_FILE` (PEM, set both or neither): the main
//!   listener (a service's gRPC port, the gateway's HTTP port) speaks TLS
//!   only.
//! - `TLS_CA_FILE` (PEM): the roots a client trusts when a service address
//!   is `https://`. The scheme decides: `https://` is TLS and verified
//!   against these roots (an `https://` address without them is a
//!   configuration error, never an unverified connection), `http://` is
//!   plain.
//! - **Mutual TLS.** With all three set, a gRPC server requires a client
//!   certificate signed by that CA (a client without one, or with one of
//!   another CA, fails the handshake) and answers only the components that
//!   the call graph lets call it (`crate::server::callers`); every gRPC
//!   client presents the component's own certificate. The gateway's HTTP
//!   listener asks browsers for no certificate.
//!
//! The admin listener (`/healthz`, `/readyz`, `/metrics`) stays plain HTTP:
//! it carries no user data, and the probes that read it (kubelet, the
//! `healthcheck` subcommand, Prometheus) then need no certificate.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::{ConfigError, Env};

/// A component's TLS material, read once at start.
#[derive(Clone, Default)]
pub struct Tls {
    /// Certificate chain (leaf first) and private key of the main listener, PEM.
    identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Roots trusted for `https://` downstream addresses, PEM.
    ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    // Presence only: the key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("serves_tls", &self.identity.is_some())
            .field("trusts_ca", &self.ca.is_some())
            .finish()
    }
}

/// Upper bound of one TLS handshake on a listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Tls {
    /// Reads `TLS_CERT_FILE`, `TLS_KEY_FILE` and `TLS_CA_FILE`; a missing
    /// half of the pair, an unreadable file or one without PEM in it is an
    /// error naming its variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let read = |var: &str| -> Result<Option<Vec<u8>>, ConfigError> {
            let Some(path) = env.get(var) else {
                return Ok(None);
            };
            let pem = std::fs::read(&path).map_err(|e| ConfigError {
                var: var.into(),
                message: format!("cannot read {path}: {e}"),
            })?;
            if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
                return Err(ConfigError {
                    var: var.into(),
                    message: format!("{path} holds no PEM"),
                });
            }
            Ok(Some(pem))
        };
        let identity = match (read("TLS_CERT_FILE")?, read("TLS_KEY_FILE")?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => return Err(missing("TLS_KEY_FILE", "TLS_CERT_FILE")),
            (None, Some(_)) => return Err(missing("TLS_CERT_FILE", "TLS_KEY_FILE")),
        };
        let tls = Self {
            identity,
            ca: read("TLS_CA_FILE")?,
        };
        if tls.identity.is_some() {
            // Fail at start, not at the first connection.
            tls.acceptor()?;
        }
        Ok(tls)
    }

    /// True when the main listener serves TLS.
    pub fn serves_tls(&self) -> bool {
        self.identity.is_some()
    }

    /// True when a gRPC server requires and verifies client certificates:
    /// a certificate of its own and the CA's roots are both configured.
    pub fn mutual(&self) -> bool {
        self.identity.is_some() && self.ca.is_some()
    }

    /// The gRPC server's TLS, when configured; it requires client
    /// certificates signed by the CA when [`Tls::mutual`].
    pub fn grpc_server(&self) -> Option<ServerTlsConfig> {
        self.identity.as_ref().map(|(cert, key)| {
            let config = ServerTlsConfig::new()
                .identity(Identity::from_pem(cert, key))
                .timeout(HANDSHAKE_TIMEOUT);
            match &self.ca {
                Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
                None => config,
            }
        })
    }

    /// The client TLS for an `https://` address whose host is `host`; an
    /// error naming `var` when no roots are configured.
    pub fn grpc_client(&self, var: &str, host: &str) -> Result<ClientTlsConfig, ConfigError> {
        let ca = self.ca.as_ref().ok_or_else(|| ConfigError {
            var: var.into(),
            message: "an https:// address needs TLS_CA_FILE, the roots to verify it against".into(),
        })?;
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name(host.trim_matches(['[', ']']));
        // The component's own certificate, for servers that ask for one.
        Ok(match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
            None => config,
        })
    }

    /// A TLS acceptor for an HTTP listener, when configured.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, ConfigError> {
        let Some((cert, key)) = &self.identity else {
            return Ok(None);
        };
        install_crypto_provider();
        let invalid = |var: &str, e: String| ConfigError {
            var: var.into(),
            message: e,
        };
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("TLS_CERT_FILE", e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid("TLS_KEY_FILE", e.to_string()))?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid("TLS_CERT_FILE", e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

fn missing(var: &str, other: &str) -> ConfigError {
    ConfigError {
        var: var.into(),
        message: format!("must be set with {other}"),
    }
}

/// Makes aws-lc-rs the process's rustls provider (the one every TLS user
/// here is built with); a provider already installed stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A TCP listener whose connections are TLS, for `axum::serve`. Handshakes
/// run beside the accept loop, so one slow client holds up no other; a
/// failed or slow handshake drops that connection only.
pub struct TlsListener {
    /// The plain listener.
    tcp: TcpListener,
    /// The server configuration.
    acceptor: TlsAcceptor,
    /// Handshakes in progress.
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, std::net::SocketAddr)>>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish()
    }
}

impl TlsListener {
    /// Wraps `tcp`; every connection is `TCP_NODELAY`.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => Some((tls, addr)),
                                _ => None,
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

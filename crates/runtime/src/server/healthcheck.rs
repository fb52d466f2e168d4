//! The `healthcheck` subcommand of every binary: probes the process itself,
//! so container images need no curl or grpc_health_probe.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::config::Env;

/// True when the binary was started as `<binary> healthcheck`.
pub fn requested() -> bool {
    std::env::args().nth(1).as_deref() == Some("healthcheck")
}

/// Where to reach a listener of this process: its configured port on loopback.
fn local(env: &Env, var: &str, default_port: u16) -> SocketAddr {
    let configured = env
        .parse_or(var, SocketAddr::from((Ipv4Addr::UNSPECIFIED, default_port)))
        .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, default_port)));
    if configured.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, configured.port()))
    } else {
        configured
    }
}

/// Exit 0 when the gRPC server on `LISTEN_ADDR` reports `service` SERVING.
/// When that port speaks TLS, the plain admin port's `/readyz` answers
/// instead: the same verdict (the database answers), without a certificate.
pub async fn grpc(default_port: u16, default_admin_port: u16, service: &str) -> ExitCode {
    let env = Env::process();
    if env.get("TLS_CERT_FILE").is_some() {
        return verdict(http_ready(local(&env, "ADMIN_ADDR", default_admin_port)).await);
    }
    verdict(grpc_serving(local(&env, "LISTEN_ADDR", default_port), service).await)
}

/// True when the gRPC server at `addr` reports `service` SERVING within 2 s.
pub async fn grpc_serving(addr: SocketAddr, service: &str) -> bool {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .ok()?;
        Some(response.into_inner().status() == ServingStatus::Serving)
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .ok()
        .flatten()
        == Some(true)
}

/// Exit 0 when `/readyz` on `ADMIN_ADDR` answers 200.
pub async fn http(default_admin_port: u16) -> ExitCode {
    verdict(http_ready(local(&Env::process(), "ADMIN_ADDR", default_admin_port)).await)
}

/// True when `/readyz` at `addr` answers 200 within 2 s.
pub async fn http_ready(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .ok()
        .flatten()
        == Some(true)
}

fn verdict(healthy: bool) -> ExitCode {
    if healthy {
        ExitCode::SUCCESS
    } else {
        eprintln!("unhealthy");
        ExitCode::FAILURE
    }
}

//! A throw-away certificate authority, and a certificate per component for
//! mutual TLS between Shop's components.
//!
//! `shop up --tls`, `shop certs <dir>` (for compose and Kubernetes) and the
//! TLS tests make their certificates here. Each component's certificate
//! names the component as a DNS name (`order-service`), which is both its
//! host name under compose and Kubernetes and the identity a server reads
//! off a client's certificate to check the call graph
//! (`shop_runtime::server::callers`); it also names `localhost` and
//! 127.0.0.1 for `shop up`, and serves for both server and client
//! authentication.
//!
//! The CA's key never leaves memory: a set written to disk can be used, not
//! extended. Make a new set to add a component.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use shop_topology::Component;

/// A certificate authority held in memory.
pub struct Ca {
    /// Signs the certificates it issues.
    issuer: Issuer<'static, KeyPair>,
    /// Its own certificate, PEM.
    pem: String,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca")
    }
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert: String,
    /// Its private key: a secret.
    pub key: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// Why certificates could not be made or written.
#[derive(Debug)]
pub enum PkiError {
    /// rcgen refused the parameters.
    Certificate(rcgen::Error),
    /// Writing a file failed.
    Io(std::io::Error),
}

impl std::fmt::Display for PkiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificate(e) => write!(f, "cannot make a certificate: {e}"),
            Self::Io(e) => write!(f, "cannot write a certificate: {e}"),
        }
    }
}

impl std::error::Error for PkiError {}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        Self::Certificate(e)
    }
}

impl From<std::io::Error> for PkiError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl Ca {
    /// A new CA whose common name is `name`.
    pub fn new(name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key)?.pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            pem,
        })
    }

    /// The CA's certificate, PEM: what `TLS_CA_FILE` holds.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A certificate for server and client authentication, valid for
    /// `names` (DNS names or IP addresses); the first is its common name.
    pub fn issue(&self, names: &[&str]) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>())?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// The certificate of `component`: its name, `localhost`, 127.0.0.1
    /// and the `extra` names (another host name or address it is reached by).
    pub fn issue_for(&self, component: Component, extra: &[&str]) -> Result<Issued, PkiError> {
        let mut names = vec![component.name(), "localhost", "127.0.0.1"];
        for name in extra {
            if !names.contains(name) {
                names.push(name);
            }
        }
        self.issue(&names)
    }

    /// Writes `ca.pem` and, for every component, `<name>.pem` and
    /// `<name>.key` (readable by the owner alone) into `dir`: the files
    /// `TLS_CA_FILE`, `TLS_CERT_FILE` and `TLS_KEY_FILE` name. Each
    /// certificate also names `extra`.
    pub fn write_set(&self, dir: &Path, extra: &[&str]) -> Result<(), PkiError> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.pem)?;
        for component in Component::ALL {
            let issued = self.issue_for(component, extra)?;
            std::fs::write(dir.join(format!("{}.pem", component.name())), &issued.cert)?;
            write_secret(&dir.join(format!("{}.key", component.name())), &issued.key)?;
        }
        Ok(())
    }
}

/// Makes the keys of a set in `dir` readable by every user (0644), for a
/// bind mount into containers that run as another user.
pub fn share_with_containers(dir: &Path) -> Result<(), PkiError> {
    use std::os::unix::fs::PermissionsExt as _;
    for component in Component::ALL {
        let key = dir.join(format!("{}.key", component.name()));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// Writes `content` to `path` with mode 0600 (0644 would do for a
/// container user other than ours; see docs/running.md).
fn write_secret(path: &Path, content: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_the_ca_and_a_certificate_and_private_key_per_component() {
        let dir = std::env::temp_dir().join(format!("shop-pki-test-{}", std::process::id()));
        Ca::new("test").unwrap().write_set(&dir, &[]).unwrap();
        let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        for component in Component::ALL {
            let cert =
                std::fs::read_to_string(dir.join(format!("{}.pem", component.name()))).unwrap();
            assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
            let key = dir.join(format!("{}.key", component.name()));
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&key).unwrap().permissions(),
            );
            assert_eq!(mode & 0o777, 0o600, "{component}'s key is private");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

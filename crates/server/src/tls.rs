//! Certificates for `turns:` and `https:`: loaded from PEM files, or a self-signed one generated
//! at startup for testing on a LAN.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::TlsConfig;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} contains no PEM certificate")]
    NoCertificate(String),
    #[error("{0} contains no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("--tls-cert and --tls-key must be given together")]
    Incomplete,
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    #[error("certificate and key do not form a valid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A loaded TLS identity: the rustls configuration plus the DER certificate chain
/// (kept so tests and the startup log can show what is served).
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub server_config: Arc<rustls::ServerConfig>,
    pub chain: Vec<CertificateDer<'static>>,
    pub self_signed: bool,
}

/// Build the TLS identity the configuration asks for; `Ok(None)` when TLS is off.
/// `names` are the DNS names and IPs a self-signed certificate covers.
pub fn load(cfg: &TlsConfig, names: &[String]) -> Result<Option<TlsIdentity>, TlsError> {
    match (&cfg.cert, &cfg.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let key = read_key(key)?;
            Ok(Some(identity(chain, key, false)?))
        }
        (None, None) if cfg.self_signed => {
            let (chain, key) = self_signed(names)?;
            Ok(Some(identity(chain, key, true)?))
        }
        (None, None) => Ok(None),
        _ => Err(TlsError::Incomplete),
    }
}

/// A fresh self-signed certificate for `names` (always including localhost and loopback).
pub fn self_signed(
    names: &[String],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let mut all: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in names {
        if !all.contains(n) {
            all.push(n.clone());
        }
    }
    let certified =
        rcgen::generate_simple_self_signed(all).map_err(|e| TlsError::Generate(e.to_string()))?;
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    Ok((vec![certified.cert.der().clone()], key.into()))
}

fn identity(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    self_signed: bool,
) -> Result<TlsIdentity, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        server_config: Arc::new(config),
        chain,
        self_signed,
    })
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_certificate() {
        assert!(load(&TlsConfig::default(), &[]).unwrap().is_none());
    }

    #[test]
    fn half_a_configuration_is_an_error() {
        let cfg = TlsConfig {
            cert: Some("a.pem".into()),
            key: None,
            self_signed: false,
        };
        assert!(matches!(load(&cfg, &[]), Err(TlsError::Incomplete)));
    }

    #[test]
    fn self_signed_identity_builds_and_pem_files_round_trip() {
        let cfg = TlsConfig {
            self_signed: true,
            ..Default::default()
        };
        let id = load(&cfg, &["turn.example.test".into()]).unwrap().unwrap();
        assert!(id.self_signed);
        assert_eq!(id.chain.len(), 1);

        let dir = std::env::temp_dir().join(format!("rdv-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), certified.key_pair.serialize_pem()).unwrap();
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        let cfg = TlsConfig {
            cert: Some(dir.join("cert.pem")),
            key: Some(dir.join("key.pem")),
            self_signed: false,
        };
        let id = load(&cfg, &[]).unwrap().unwrap();
        assert!(!id.self_signed);
        assert_eq!(id.chain[0].as_ref(), certified.cert.der().as_ref());
        let bad = TlsConfig {
            key: Some(dir.join("empty.pem")),
            ..cfg
        };
        assert!(matches!(load(&bad, &[]), Err(TlsError::NoKey(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

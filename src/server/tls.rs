//! TLS from CloudServer's `certFilePaths` {key, cert, ca}, with rustls.
//!
//! The certificate is served through our own resolver instead of `with_single_cert`, because
//! CloudServer's TLS tutorial makes an X.509 v1 certificate, which rustls's end-entity parsing
//! refuses (UnsupportedCertVersion) although clients that trust its CA accept it.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsPaths;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certFilePaths.cert {path}: {msg}")]
    Cert { path: String, msg: String },
    #[error("certFilePaths.key {path}: {msg}")]
    Key { path: String, msg: String },
    #[error("certFilePaths: the key does not match the certificate {0}")]
    Mismatch(String),
    #[error("TLS setup: {0}")]
    Setup(String),
}

#[derive(Debug)]
struct SingleCert(Arc<CertifiedKey>);

impl ResolvesServerCert for SingleCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Reads a DER length at `pos`; returns (length, header size).
fn der_len(der: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *der.get(pos)?;
    if first < 0x80 {
        return Some((first as usize, 1));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *der.get(pos + 1 + i)? as usize;
    }
    Some((len, 1 + n))
}

/// Whether a certificate is X.509 v1: its TBSCertificate has no `[0] EXPLICIT version`.
pub fn is_v1_certificate(der: &[u8]) -> bool {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, ... } ... }
    let Some((_, h1)) = der_len(der, 1) else {
        return false;
    };
    let tbs = 1 + h1;
    let Some((_, h2)) = der_len(der, tbs + 1) else {
        return false;
    };
    der.get(tbs + 1 + h2).is_some_and(|&tag| tag != 0xa0)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn acceptor(paths: &TlsPaths) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |msg: String| TlsError::Cert { path: show(&paths.cert), msg };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&paths.cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    let Some(leaf) = certs.first() else {
        return Err(cert_err("no PEM certificate found".into()));
    };
    if is_v1_certificate(leaf) {
        tracing::warn!(
            cert = %show(&paths.cert),
            "the TLS certificate is X.509 v1 (no extensions, no subjectAltName); it is served, but \
             modern clients match host names against subjectAltName: prefer a v3 certificate with one"
        );
    }
    let key = PrivateKeyDer::from_pem_file(&paths.key)
        .map_err(|e| TlsError::Key { path: show(&paths.key), msg: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key { path: show(&paths.key), msg: e.to_string() })?;
    let ck = CertifiedKey::new(certs, signing);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::Mismatch(show(&paths.cert)));
        }
        // rustls could not parse the certificate (a v1 certificate): the SubjectPublicKeyInfo
        // is embedded verbatim in the certificate's DER, so look for the key's there.
        Err(_) => {
            let leaf = ck.end_entity_cert().map_err(|e| TlsError::Setup(e.to_string()))?;
            if let Some(spki) = ck.key.public_key()
                && !contains(leaf.as_ref(), spki.as_ref())
            {
                return Err(TlsError::Mismatch(show(&paths.cert)));
            }
        }
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCert(Arc::new(ck))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

//! The TLS client configuration shared by synthorg's outgoing connections (the OTLP exporter,
//! the PostgreSQL store): rustls with ring, TLS 1.2 and 1.3, the system's trust store plus
//! optional extra CA certificates. Server certificates are always verified.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a TLS client configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the CA file is not valid PEM: {0}")]
    NotPem(String),
    #[error("the CA file holds an unusable certificate: {0}")]
    UnusableCertificate(String),
    #[error("the CA file holds no certificate")]
    NoCertificate,
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// A client configuration trusting the system's roots and the certificates of `extra_ca_pem`
/// (PEM), offering `alpn` protocols.
pub fn client_config(extra_ca_pem: Option<&[u8]>, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TlsError::NotPem(e.to_string()))?;
            roots.add(cert).map_err(|e| TlsError::UnusableCertificate(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsError::NoCertificate);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Checks a CA file's content as a TLS client will load it (configuration check).
pub fn validate_ca_pem(pem: &[u8]) -> Result<(), TlsError> {
    client_config(Some(pem), &[]).map(|_| ())
}

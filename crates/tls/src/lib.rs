//! The client side of TLS for Hotline's connections to other systems (company mail servers,
//! company systems a flow looks things up in): rustls with ring, trusting the system's roots
//! (read once) and, for a company's own certificates, the CA an admin names.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;

pub use rustls::ClientConfig;
pub use tokio_rustls::client::TlsStream;

/// The certificates of a PEM text (empty text: none). An error says what is wrong with it.
pub fn parse_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.trim().is_empty() {
        return Ok(Vec::new());
    }
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it (-----BEGIN CERTIFICATE-----)".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
    }
    Ok(certs)
}

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(
                errors = found.errors.len(),
                "some system CA certificates were not read"
            );
        }
        found.certs
    })
}

/// A client configuration trusting the system's roots and `ca_pem`.
pub fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let (_, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
    for c in parse_ca(ca_pem)? {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Starts TLS on `tcp`, checking the server's certificate is `host`'s (a name or an IP
/// address) and chains to the system's roots or `ca_pem`.
pub async fn connect(
    tcp: TcpStream,
    host: &str,
    ca_pem: &str,
) -> Result<TlsStream<TcpStream>, String> {
    connect_with(tcp, host, client_config(ca_pem)?).await
}

/// [`connect`] with a configuration made once ([`client_config`]) for many connections.
pub async fn connect_with(
    tcp: TcpStream,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, String> {
    let name =
        ServerName::try_from(host.to_string()).map_err(|_| format!("not a host name: {host}"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_text_is_checked() {
        assert!(parse_ca("").expect("none").is_empty());
        assert!(parse_ca("hello").unwrap_err().contains("no certificate"));
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(parse_ca(broken).is_err());
        assert!(client_config("").is_ok());
    }
}

//! TLS on the TCP listener (RFC 5425: syslog over TLS, octet-counted), with rustls and the
//! `ring` provider.
//!
//! The options are the ones Logstash's TCP-based inputs use: `ssl_enabled`, `ssl_certificate`
//! and `ssl_key` (PEM files: the server's chain, and its PKCS#8, PKCS#1 or SEC1 key),
//! `ssl_certificate_authorities` (PEM files of the CAs client certificates must chain to) and
//! `ssl_client_authentication` (`none`, `optional` or `required`; `required` by default when
//! authorities are given, `none` otherwise). The files are read when the config is built, so
//! `sluice -t` reports a missing or unreadable certificate. UDP stays plain text.

use crate::config::args::Args;
use crate::config::error::ConfigError;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{crypto, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The TLS acceptor the options describe, or `None` when TLS is off.
pub fn from_args(args: &mut Args) -> Result<Option<TlsAcceptor>, ConfigError> {
    let enabled = args.bool("ssl_enabled", false)?;
    let certificate = args.string("ssl_certificate")?;
    let key = args.string("ssl_key")?;
    let authorities = args.string_list("ssl_certificate_authorities")?;
    let default_auth = if authorities.is_empty() { "none" } else { "required" };
    let client_auth = args.choice("ssl_client_authentication", &["none", "optional", "required"], default_auth)?;
    if !enabled {
        return Ok(None);
    }
    let (Some(certificate), Some(key)) = (certificate, key) else {
        return Err(args.error("`ssl_enabled => true` needs `ssl_certificate` and `ssl_key`"));
    };
    let at = |name: &str| args.span_of(name);
    let chain = read_certificates(Path::new(&certificate)).map_err(|e| ConfigError::at(at("ssl_certificate"), e))?;
    let key = read_key(Path::new(&key)).map_err(|e| ConfigError::at(at("ssl_key"), e))?;
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| args.error(format!("cannot set up TLS: {e}")))?;
    let builder = if client_auth == "none" {
        builder.with_no_client_auth()
    } else {
        if authorities.is_empty() {
            return Err(ConfigError::at(
                at("ssl_client_authentication"),
                format!("`ssl_client_authentication => {client_auth}` needs `ssl_certificate_authorities` to check client certificates against"),
            ));
        }
        let mut roots = RootCertStore::empty();
        for path in &authorities {
            for cert in read_certificates(Path::new(path)).map_err(|e| ConfigError::at(at("ssl_certificate_authorities"), e))? {
                roots.add(cert).map_err(|e| ConfigError::at(at("ssl_certificate_authorities"), format!("{path}: {e}")))?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if client_auth == "optional" { verifier.allow_unauthenticated() } else { verifier };
        let verifier = verifier.build().map_err(|e| ConfigError::at(at("ssl_certificate_authorities"), e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| ConfigError::at(at("ssl_key"), format!("the certificate and key do not go together: {e}")))?;
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1; unencrypted): {e}", path.display()))
}

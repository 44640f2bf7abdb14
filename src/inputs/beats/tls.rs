//! TLS for the beats input: the server configuration built from the `ssl_*` options, and what
//! the input may tell about a client (its certificate's subject, the protocol, the cipher).
//!
//! Everything that can be wrong with certificates and keys — a missing file, a file without a
//! PEM block of the right kind, a key that does not belong to the certificate, a wrong
//! passphrase — is found while the config is built, so `sluice -t` reports it at the option that
//! named the file. Keys may be PKCS#8 (what Logstash asks for), encrypted PKCS#8 with
//! `ssl_key_passphrase`, PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). TLS 1.2 and 1.3
//! are available (rustls with the ring provider); asking for TLS 1.1 alone is a config error.

use crate::config::ast::Span;
use crate::config::error::ConfigError;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// `ssl_client_authentication`: whether the server asks the client for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// Asked for, verified when presented, not required.
    Optional,
    Required,
}

/// Everything needed to build the server's TLS configuration, as read from the options.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    pub certificate: (String, Span),
    pub key: (String, Span),
    pub key_passphrase: Option<String>,
    /// Files (or directories of files) holding the CAs that sign client certificates.
    pub certificate_authorities: Vec<String>,
    pub certificate_authorities_span: Span,
    pub client_auth: ClientAuth,
    /// Protocol names as Logstash spells them (`TLSv1.2`, `TLSv1.3`).
    pub protocols: Vec<String>,
    pub protocols_span: Span,
    /// IANA names, in preference order; empty means the provider's defaults.
    pub cipher_suites: Vec<String>,
    pub cipher_suites_span: Span,
    pub handshake_timeout: Duration,
}

/// The built server side of TLS.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub handshake_timeout: Duration,
    pub client_auth: ClientAuth,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("client_auth", &self.client_auth).finish_non_exhaustive()
    }
}

/// Build the server configuration; every failure names the option it is about. Returns the
/// configuration and any warnings (suites or protocols asked for that are not available).
pub fn build(o: &TlsOptions) -> Result<(Tls, Vec<ConfigError>), ConfigError> {
    let mut warnings = Vec::new();
    let mut provider = rustls::crypto::ring::default_provider();

    if !o.cipher_suites.is_empty() {
        let wanted: Vec<String> = o.cipher_suites.iter().map(|s| s.to_ascii_uppercase()).collect();
        let mut chosen = Vec::new();
        for name in &wanted {
            match provider.cipher_suites.iter().find(|s| iana_suite_name(s.suite()) == *name) {
                Some(s) => chosen.push(*s),
                None => warnings.push(ConfigError::at(
                    o.cipher_suites_span,
                    format!("cipher suite `{name}` is not available here and is ignored"),
                )),
            }
        }
        if chosen.is_empty() {
            return Err(ConfigError::at(o.cipher_suites_span, "none of the cipher suites listed is available")
                .with_help(format!("available: {}", available_suites(&provider).join(", "))));
        }
        provider.cipher_suites = chosen;
    }

    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    for p in &o.protocols {
        match p.as_str() {
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.1" | "TLSv1" | "TLSv1.0" => warnings.push(ConfigError::at(
                o.protocols_span,
                format!("{p} is not supported (only TLSv1.2 and TLSv1.3 are); it is ignored"),
            )),
            other => {
                return Err(ConfigError::at(
                    o.protocols_span,
                    format!("`{other}` is not a TLS protocol name; expected TLSv1.2 or TLSv1.3"),
                ))
            }
        }
    }
    if versions.is_empty() {
        return Err(ConfigError::at(o.protocols_span, "no supported TLS protocol left: list TLSv1.2 and/or TLSv1.3"));
    }

    let chain = load_certificates(&o.certificate.0).map_err(|m| ConfigError::at(o.certificate.1, m))?;
    let key = load_key(&o.key.0, o.key_passphrase.as_deref()).map_err(|m| ConfigError::at(o.key.1, m))?;
    let provider = Arc::new(provider);

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ConfigError::at(o.protocols_span, format!("TLS protocols: {e}")))?;
    let builder = match o.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let mut roots = RootCertStore::empty();
            for path in &o.certificate_authorities {
                for cert in load_ca_path(path).map_err(|m| ConfigError::at(o.certificate_authorities_span, m))? {
                    roots.add(cert).map_err(|e| {
                        ConfigError::at(o.certificate_authorities_span, format!("{path}: not a usable CA certificate: {e}"))
                    })?;
                }
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier
                .build()
                .map_err(|e| ConfigError::at(o.certificate_authorities_span, format!("client verification: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        ConfigError::at(o.key.1, format!("the key in {} does not fit the certificate in {}: {e}", o.key.0, o.certificate.0))
    })?;
    Ok((
        Tls { acceptor: TlsAcceptor::from(Arc::new(config)), handshake_timeout: o.handshake_timeout, client_auth: o.client_auth },
        warnings,
    ))
}

fn available_suites(p: &CryptoProvider) -> Vec<String> {
    p.cipher_suites.iter().map(|s| iana_suite_name(s.suite())).collect()
}

/// The IANA (and Java) name of a suite: rustls writes TLS 1.3 suites as `TLS13_...`.
pub fn iana_suite_name(s: rustls::CipherSuite) -> String {
    let name = s.as_str().map(str::to_string).unwrap_or_else(|| format!("{s:?}"));
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn load_certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: not a valid PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

/// A CA option entry: a PEM file, or a directory whose files are PEM files.
fn load_ca_path(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let p = Path::new(path);
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .map_err(|e| format!("cannot read directory {path}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut out = Vec::new();
        for e in entries {
            out.extend(load_certificates(&e.to_string_lossy())?);
        }
        if out.is_empty() {
            return Err(format!("directory {path} holds no PEM certificate"));
        }
        return Ok(out);
    }
    load_certificates(path)
}

fn load_key(path: &str, passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    let text = String::from_utf8_lossy(&pem);
    if let Some(block) = pem_block(&text, "ENCRYPTED PRIVATE KEY") {
        let Some(pass) = passphrase else {
            return Err(format!("{path} holds an encrypted key; set `ssl_key_passphrase`"));
        };
        let (_, doc) =
            pkcs8::Document::from_pem(block).map_err(|e| format!("{path}: cannot read the encrypted key: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| format!("{path}: cannot read the encrypted key: {e}"))?;
        let plain = info
            .decrypt(pass)
            .map_err(|e| format!("{path}: cannot decrypt the key (wrong `ssl_key_passphrase`?): {e}"))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!(
            "{path} holds no private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        other => format!("{path}: not a valid PEM key file: {other}"),
    })
}

/// The text of the first PEM block with this label, boundaries included.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

/// What the input tells about a finished handshake.
pub fn peer_info(conn: &ServerConnection) -> super::event::TlsPeer {
    let cert = conn.peer_certificates().and_then(|c| c.first());
    super::event::TlsPeer {
        verified: cert.is_some(),
        protocol: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        },
        subject: cert.and_then(|c| subject_rfc2253(c.as_ref())),
        cipher: conn.negotiated_cipher_suite().map(|s| iana_suite_name(s.suite())).unwrap_or_default(),
    }
}

// ---- The subject of an X.509 certificate, written as RFC 2253 (what Java's
// X500Principal.getName() gives Logstash): RDNs last to first, joined by ",", multi-valued RDNs
// joined by "+", the RFC's keywords for its nine attribute types and `oid=#hex` for the rest.

/// One DER element: (tag, content, what follows).
fn der_element(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *buf.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, buf.get(header..end)?, buf.get(end..)?))
}

/// The certificate's subject name, RFC 2253; `None` if the DER cannot be read.
pub fn subject_rfc2253(cert: &[u8]) -> Option<String> {
    let (tag, cert, _) = der_element(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = der_element(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs;
    // version [0] EXPLICIT is optional; then serial, signature, issuer, validity, subject.
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.2;
    }
    for _ in 0..4 {
        rest = der_element(rest)?.2;
    }
    let (tag, subject, _) = der_element(rest)?;
    if tag != 0x30 {
        return None;
    }
    let mut rdns = Vec::new();
    let mut set_rest = subject;
    while !set_rest.is_empty() {
        let (tag, set, next) = der_element(set_rest)?;
        if tag != 0x31 {
            return None;
        }
        let mut avas = Vec::new();
        let mut ava_rest = set;
        while !ava_rest.is_empty() {
            let (tag, ava, next) = der_element(ava_rest)?;
            if tag != 0x30 {
                return None;
            }
            let (tag, oid, value) = der_element(ava)?;
            if tag != 0x06 {
                return None;
            }
            avas.push(attribute(oid, value)?);
            ava_rest = next;
        }
        rdns.push(avas.join("+"));
        set_rest = next;
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn attribute(oid: &[u8], value_tlv: &[u8]) -> Option<String> {
    let dotted = oid_text(oid)?;
    let keyword = match dotted.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.9" => Some("STREET"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        _ => None,
    };
    let (tag, content, _) = der_element(value_tlv)?;
    match (keyword, directory_string(tag, content)) {
        (Some(k), Some(text)) => Some(format!("{k}={}", escape_rfc2253(&text))),
        _ => {
            let hex: String = value_tlv.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("{dotted}=#{hex}"))
        }
    }
}

fn directory_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString
        0x0c | 0x13 | 0x16 | 0x1a => String::from_utf8(content.to_vec()).ok(),
        // TeletexString: in practice Latin-1
        0x14 => Some(content.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16BE
        0x1e if content.len() % 2 == 0 => {
            let units: Vec<u16> = content.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        0x1c if content.len() % 4 == 0 => {
            content.chunks(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        _ => None,
    }
}

fn escape_rfc2253(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn oid_text(oid: &[u8]) -> Option<String> {
    let mut parts: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (value / 40).min(2);
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_decode_to_dotted_text() {
        // 2.5.4.3 and 1.2.840.113549.1.9.1, encoded by hand from X.690's rules.
        assert_eq!(oid_text(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).as_deref(),
            Some("1.2.840.113549.1.9.1")
        );
        assert_eq!(oid_text(&[0x86]), None);
    }

    #[test]
    fn rfc2253_escapes() {
        assert_eq!(escape_rfc2253("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc2253(" #x "), "\\ #x\\ ");
        assert_eq!(escape_rfc2253("#x"), "\\#x");
    }

    #[test]
    fn unknown_attributes_are_written_as_hex() {
        // emailAddress (IA5String "a@b"): Java writes it as the OID with the DER value in hex.
        let oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
        let value = [0x16, 0x03, b'a', b'@', b'b'];
        assert_eq!(attribute(&oid, &value).as_deref(), Some("1.2.840.113549.1.9.1=#1603614062"));
    }

    #[test]
    fn iana_names() {
        assert_eq!(iana_suite_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            iana_suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        );
    }
}

//! What the outputs that talk HTTP share: the I/O runtime, the client (TLS, credentials,
//! headers), the retry backoff, per-status request labels, and the writing of rejected events
//! to the dead letter queue.
//!
//! Each output keeps its own protocol (`_bulk` items, Loki pushes); only what would otherwise be
//! written twice lives here.
//!
//! All such outputs of the process share one small tokio runtime for their I/O: the pipeline
//! workers that call `receive` are plain threads and block on it, several of them with requests
//! in flight at once over pooled keep-alive connections.

pub mod dead_letter;
pub mod retry;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::OnceLock;
use std::time::Duration;

/// The runtime every HTTP output does its I/O on; created on first use.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sluice-out-io")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the output I/O threads: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// How to reach the server: TLS, credentials, headers, timeouts.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    pub timeout: Duration,
    pub ca_files: Vec<std::path::PathBuf>,
    pub verify: bool,
    /// The `Authorization` header value, when credentials are configured.
    pub authorization: Option<String>,
    pub custom_headers: Vec<(String, String)>,
}

/// The `Authorization` value for `user:password`.
pub fn basic_authorization(user_colon_password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_colon_password))
}

/// The `Authorization` value for an API key given as Elasticsearch creates it, `id:api_key`.
pub fn api_key_authorization(id_colon_key: &str) -> String {
    use base64::Engine;
    format!("ApiKey {}", base64::engine::general_purpose::STANDARD.encode(id_colon_key))
}

pub fn build_client(s: &ClientSettings) -> Result<reqwest::Client, String> {
    let mut headers = HeaderMap::new();
    if let Some(auth) = &s.authorization {
        let mut v = HeaderValue::from_str(auth).map_err(|_| "credentials contain characters not allowed in a header".to_string())?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    for (k, v) in &s.custom_headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("custom header name `{k}` is not valid"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("custom header `{k}` has a value not allowed in a header"))?;
        headers.insert(name, value);
    }
    let mut b = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(s.timeout)
        .connect_timeout(s.timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_nodelay(true)
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")));
    for path in &s.ca_files {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the certificate authority {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{} holds no usable PEM certificate: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if !s.verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// An error with its causes, which is where reqwest says what actually went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A fixed label per status for the per-status request counters (labels must be `'static`).
pub fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if (200..300).contains(&s) => "2xx",
        s if (400..500).contains(&s) => "4xx",
        s if (500..600).contains(&s) => "5xx",
        _ => "other",
    }
}

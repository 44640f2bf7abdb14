//! Where requests go: the `hosts` list, the HTTP client, and which hosts are alive.
//!
//! Requests take the live hosts in turn (round robin). A host that cannot be connected to is
//! marked dead at once and the request moves on to the next live host; a background task then
//! checks the dead host with `GET <healthcheck_path>` every `resurrect_delay` and puts it back when
//! it answers. Any HTTP answer below 500 counts as alive (a node without the root endpoint answers
//! 405, and it can still take bulk requests). When every host is dead the caller waits and tries
//! again; it never spins.
//!
//! The HTTP client and the I/O runtime are the ones every HTTP output shares (`outputs::http`).

pub use crate::outputs::http::{api_key_authorization, basic_authorization, build_client, runtime, ClientSettings};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One entry of `hosts`.
#[derive(Debug)]
pub struct Host {
    /// `scheme://host:port[/path]`, without a trailing slash.
    pub base: String,
    alive: AtomicBool,
    /// A health check task is running for it.
    checking: AtomicBool,
}

impl Host {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    #[error("`{0}` is not a valid host: {1}")]
    Invalid(String, String),
    #[error("host `{0}` uses http, but ssl_enabled is true")]
    PlainWithSsl(String),
}

/// Normalise a `hosts` entry: a scheme (https when `ssl`), the port (9200 when none), the
/// option `path` appended, no trailing slash.
pub fn parse_host(entry: &str, ssl: Option<bool>, path: &str) -> Result<String, HostError> {
    let entry = entry.trim();
    let with_scheme = if entry.contains("://") {
        entry.to_string()
    } else if let Some(rest) = entry.strip_prefix("//") {
        format!("{}://{rest}", if ssl == Some(true) { "https" } else { "http" })
    } else {
        format!("{}://{entry}", if ssl == Some(true) { "https" } else { "http" })
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| HostError::Invalid(entry.to_string(), e.to_string()))?;
    match url.scheme() {
        "http" if ssl == Some(true) => return Err(HostError::PlainWithSsl(entry.to_string())),
        "http" | "https" => {}
        other => return Err(HostError::Invalid(entry.to_string(), format!("scheme `{other}` is not http or https"))),
    }
    if url.host_str().map_or(true, str::is_empty) {
        return Err(HostError::Invalid(entry.to_string(), "no host name".into()));
    }
    // The URL parser forgets a port that is the scheme's default (`https://h:443`), so whether
    // one was written is read from the text.
    let port = match url.port_or_known_default() {
        Some(p) if has_explicit_port(&with_scheme) => p,
        _ => 9200,
    };
    let mut base = format!("{}://{}:{port}", url.scheme(), url.host_str().unwrap_or_default());
    for part in [url.path(), path] {
        let part = part.trim_matches('/');
        if !part.is_empty() {
            base.push('/');
            base.push_str(part);
        }
    }
    Ok(base)
}

fn has_explicit_port(url: &str) -> bool {
    let after = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    match host_port.rsplit_once(':') {
        Some((host, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && (!host.starts_with('[') || host.ends_with(']')),
        None => false,
    }
}

/// The hosts of one output and their health.
#[derive(Debug)]
pub struct HostPool {
    hosts: Vec<Arc<Host>>,
    next: AtomicUsize,
    pub client: reqwest::Client,
    healthcheck_path: String,
    resurrect_delay: Duration,
}

impl HostPool {
    pub fn new(bases: Vec<String>, client: reqwest::Client, healthcheck_path: String, resurrect_delay: Duration) -> Arc<HostPool> {
        let hosts = bases.into_iter().map(|base| Arc::new(Host { base, alive: AtomicBool::new(true), checking: AtomicBool::new(false) })).collect();
        Arc::new(HostPool { hosts, next: AtomicUsize::new(0), client, healthcheck_path, resurrect_delay })
    }

    /// Live hosts, starting from the next in turn. Empty when every host is dead.
    pub fn live(&self) -> Vec<Arc<Host>> {
        let n = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n.max(1);
        (0..n).map(|i| &self.hosts[(start + i) % n]).filter(|h| h.is_alive()).cloned().collect()
    }

    pub fn all(&self) -> &[Arc<Host>] {
        &self.hosts
    }

    /// A connection to `host` failed: stop using it until a health check says it is back.
    pub fn mark_dead(self: &Arc<Self>, host: &Arc<Host>, error: &str) {
        if host.alive.swap(false, Ordering::Relaxed) {
            tracing::warn!(host = %host.base, error, "Elasticsearch host unreachable; marked dead until it answers a health check.");
        }
        if host.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = runtime() else { return };
        let pool: Weak<HostPool> = Arc::downgrade(self);
        let host = host.clone();
        rt.spawn(async move {
            loop {
                let Some(pool) = pool.upgrade() else { break };
                let delay = pool.resurrect_delay;
                let url = host.url(&pool.healthcheck_path);
                let client = pool.client.clone();
                drop(pool);
                tokio::time::sleep(delay).await;
                match client.get(&url).send().await {
                    Ok(r) if r.status().as_u16() < 500 => {
                        host.alive.store(true, Ordering::Relaxed);
                        tracing::info!(host = %host.base, status = r.status().as_u16(), "Elasticsearch host answers again; back in use.");
                        break;
                    }
                    Ok(r) => tracing::debug!(host = %host.base, status = r.status().as_u16(), "Elasticsearch host still unhealthy."),
                    Err(e) => tracing::debug!(host = %host.base, error = %e, "Elasticsearch host still unreachable."),
                }
            }
            host.checking.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised_like_logstash_reads_them() {
        assert_eq!(parse_host("localhost:9200", None, "").unwrap(), "http://localhost:9200");
        assert_eq!(parse_host("es1", None, "").unwrap(), "http://es1:9200");
        assert_eq!(parse_host("//127.0.0.1", None, "").unwrap(), "http://127.0.0.1:9200");
        assert_eq!(parse_host("es1:9201", Some(true), "").unwrap(), "https://es1:9201");
        assert_eq!(parse_host("https://es.example:443/proxy/", None, "/es/").unwrap(), "https://es.example:443/proxy/es");
        assert_eq!(parse_host("[::1]:9200", None, "").unwrap(), "http://[::1]:9200");
        assert!(matches!(parse_host("http://es1:9200", Some(true), ""), Err(HostError::PlainWithSsl(_))));
        assert!(parse_host("ftp://es1", None, "").is_err());
        assert!(parse_host("http://:9200", None, "").is_err());
    }

    #[test]
    fn live_hosts_rotate_and_skip_dead_ones() {
        let pool = HostPool::new(
            vec!["http://a:1".into(), "http://b:1".into(), "http://c:1".into()],
            reqwest::Client::new(),
            "/".into(),
            Duration::from_secs(3600),
        );
        let firsts: Vec<String> = (0..3).map(|_| pool.live()[0].base.clone()).collect();
        assert_eq!(firsts, vec!["http://a:1", "http://b:1", "http://c:1"]);
        pool.hosts[1].alive.store(false, Ordering::Relaxed);
        for _ in 0..6 {
            let live = pool.live();
            assert_eq!(live.len(), 2);
            assert!(live.iter().all(|h| h.base != "http://b:1"));
        }
    }
}

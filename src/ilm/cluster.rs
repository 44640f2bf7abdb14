//! The requests the lifecycle commands send, over the elasticsearch output's HTTP client and
//! host pool (same TLS, credentials and failover).
//!
//! A request goes to the live hosts in turn; a host that cannot be connected to is marked dead
//! and the next one is tried. Any answer, error statuses included, comes from the cluster and is
//! not retried elsewhere: the hosts are nodes of one cluster and would say the same.

use super::plan::IndexInfo;
use crate::outputs::elasticsearch::hosts::{ClientSettings, HostPool};
use crate::outputs::elasticsearch::url_encode;
use crate::outputs::http::error_chain;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// The longest request path a batched DELETE uses: Elasticsearch refuses request lines longer
/// than `http.max_initial_line_length` (4 KB by default), and proxies often have limits of the
/// same order.
pub const MAX_DELETE_PATH: usize = 3000;

/// How long a force merge may take: the request returns only once the merge is done.
pub const FORCE_MERGE_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach {hosts}: {message}")]
    Unreachable { hosts: String, message: String },
    #[error("{what}: {host} answered {status}: {body}")]
    Status { what: String, host: String, status: u16, body: String },
    #[error("{what}: unexpected answer from {host}: {message}")]
    BadAnswer { what: String, host: String, message: String },
}

/// Which product answers, from the root endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// Its version when the root endpoint says it (a minimal distribution has no root endpoint).
    Elasticsearch(Option<String>),
    OpenSearch(String),
}

pub struct Cluster {
    pool: Arc<HostPool>,
}

/// An answer: the host that gave it, its status and body.
struct Answer {
    host: String,
    status: u16,
    body: String,
}

impl Cluster {
    pub fn new(bases: Vec<String>, client: &ClientSettings) -> Result<Cluster, String> {
        let client = crate::outputs::elasticsearch::hosts::build_client(client)?;
        Ok(Cluster { pool: HostPool::new(bases, client, "/".into(), Duration::from_secs(5)) })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>, timeout: Option<Duration>) -> Result<Answer, ClusterError> {
        let mut hosts = self.pool.live();
        if hosts.is_empty() {
            hosts = self.pool.all().to_vec();
        }
        let mut errors = Vec::new();
        for host in hosts {
            let mut req = self.pool.client.request(method.clone(), host.url(path));
            if let Some(b) = body {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.to_string());
            }
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            let sent = async {
                let r = req.send().await?;
                let status = r.status().as_u16();
                Ok::<_, reqwest::Error>((status, r.text().await?))
            }
            .await;
            match sent {
                Ok((status, body)) => return Ok(Answer { host: host.base.clone(), status, body }),
                Err(e) if e.is_connect() => {
                    self.pool.mark_dead(&host, &e.to_string());
                    errors.push(format!("{}: {}", host.base, error_chain(&e)));
                }
                Err(e) => return Err(ClusterError::Unreachable { hosts: host.base.clone(), message: error_chain(&e) }),
            }
        }
        Err(ClusterError::Unreachable { hosts: self.pool.all().iter().map(|h| h.base.as_str()).collect::<Vec<_>>().join(", "), message: errors.join("; ") })
    }

    /// A GET that must answer 200 with JSON.
    async fn get_json(&self, what: &str, path: &str) -> Result<Value, ClusterError> {
        let a = self.call(reqwest::Method::GET, path, None, None).await?;
        if a.status != 200 {
            return Err(status_error(what, a));
        }
        serde_json::from_str(&a.body).map_err(|e| ClusterError::BadAnswer { what: what.into(), host: a.host, message: e.to_string() })
    }

    /// Elasticsearch or OpenSearch. The integration-test distribution of Elasticsearch has no
    /// root endpoint (it answers 405), and is Elasticsearch.
    pub async fn flavor(&self) -> Result<Flavor, ClusterError> {
        let a = self.call(reqwest::Method::GET, "/", None, None).await?;
        if a.status != 200 {
            return Ok(Flavor::Elasticsearch(None));
        }
        let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        let version = v["version"]["number"].as_str().map(String::from);
        if v["version"]["distribution"].as_str() == Some("opensearch") {
            return Ok(Flavor::OpenSearch(version.unwrap_or_default()));
        }
        Ok(Flavor::Elasticsearch(version))
    }

    /// Whether the cluster has index lifecycle management (`GET _ilm/status` answers).
    pub async fn has_ilm(&self) -> Result<bool, ClusterError> {
        let a = self.call(reqwest::Method::GET, "/_ilm/status", None, None).await?;
        Ok(a.status == 200)
    }

    /// Every index, with what the plan needs: `_cat/indices`, `index.hidden` from the index
    /// settings, and the write indices of aliases and data streams.
    pub async fn indices(&self) -> Result<Vec<IndexInfo>, ClusterError> {
        let cat = self
            .get_json(
                "listing indices",
                "/_cat/indices?format=json&bytes=b&expand_wildcards=all&h=index,status,pri,store.size,creation.date,pri.segments.count",
            )
            .await?;
        let settings = self.get_json("reading index settings", "/_all/_settings/index.hidden?expand_wildcards=all").await?;
        let hidden: BTreeSet<&str> = settings
            .as_object()
            .map(|m| m.iter().filter(|(_, s)| s["settings"]["index"]["hidden"].as_str() == Some("true")).map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        let writers = self.write_indices().await?;
        let rows = cat.as_array().ok_or_else(|| ClusterError::BadAnswer {
            what: "listing indices".into(),
            host: String::new(),
            message: "_cat/indices did not answer a JSON array".into(),
        })?;
        let number = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).or_else(|| v.as_u64());
        Ok(rows
            .iter()
            .filter_map(|r| {
                let name = r["index"].as_str()?.to_string();
                Some(IndexInfo {
                    open: r["status"].as_str() != Some("close"),
                    hidden: hidden.contains(name.as_str()),
                    created: number(&r["creation.date"]).and_then(|ms| DateTime::<Utc>::from_timestamp_millis(ms as i64)),
                    store_bytes: number(&r["store.size"]).unwrap_or(0),
                    primaries: number(&r["pri"]).unwrap_or(1),
                    primary_segments: number(&r["pri.segments.count"]).unwrap_or(0),
                    write_index_of: writers.get(&name).cloned(),
                    name,
                })
            })
            .collect())
    }

    /// Index → "alias x" / "data stream y" for every write index.
    async fn write_indices(&self) -> Result<BTreeMap<String, String>, ClusterError> {
        let mut out = BTreeMap::new();
        let aliases = self.get_json("listing aliases", "/_cat/aliases?format=json&h=alias,index,is_write_index").await?;
        let mut by_alias: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for row in aliases.as_array().into_iter().flatten() {
            if let (Some(alias), Some(index)) = (row["alias"].as_str(), row["index"].as_str()) {
                by_alias.entry(alias).or_default().push((index, row["is_write_index"].as_str().unwrap_or("-")));
            }
        }
        for (alias, members) in by_alias {
            // An alias of one index writes to it unless told otherwise.
            let writer = members.iter().find(|(_, w)| *w == "true").or_else(|| (members.len() == 1 && members[0].1 != "false").then(|| &members[0]));
            if let Some((index, _)) = writer {
                out.insert(index.to_string(), format!("alias {alias}"));
            }
        }
        // Clusters without data streams answer an error; they have no data stream to protect.
        let a = self.call(reqwest::Method::GET, "/_data_stream", None, None).await?;
        if a.status == 200 {
            let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            for ds in v["data_streams"].as_array().into_iter().flatten() {
                let name = ds["name"].as_str().unwrap_or_default();
                if let Some(last) = ds["indices"].as_array().and_then(|i| i.last()).and_then(|i| i["index_name"].as_str()) {
                    out.insert(last.to_string(), format!("data stream {name}"));
                }
            }
        }
        Ok(out)
    }

    /// Delete the named indices in one request (names, never wildcards). Indices already gone
    /// are not an error: another run may have deleted them.
    pub async fn delete(&self, names: &[&str]) -> Result<(), ClusterError> {
        let path = delete_path(names);
        let a = self.call(reqwest::Method::DELETE, &path, None, None).await?;
        match a.status {
            200 => Ok(()),
            _ => Err(status_error("delete", a)),
        }
    }

    /// Merge one index down to one segment per shard, then refresh it; returns once merged.
    pub async fn force_merge(&self, name: &str) -> Result<(), ClusterError> {
        let path = format!("/{}/_forcemerge?max_num_segments=1", url_encode(name));
        let a = self.call(reqwest::Method::POST, &path, None, Some(FORCE_MERGE_TIMEOUT)).await?;
        if a.status != 200 {
            return Err(status_error("force merge", a));
        }
        let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        if let Some(n) = v["_shards"]["failed"].as_u64().filter(|n| *n > 0) {
            return Err(ClusterError::BadAnswer { what: "force merge".into(), host: a.host, message: format!("{n} shards failed: {}", a.body) });
        }
        // The merged segment replaces the old ones, and their files are freed, only once a
        // refresh opens it; an index no longer written may not be refreshed for a long time.
        let refresh = format!("/{}/_refresh", url_encode(name));
        match self.call(reqwest::Method::POST, &refresh, None, None).await {
            Ok(a) if a.status == 200 => {}
            Ok(a) => tracing::warn!(index = name, status = a.status, "Merged, but the refresh that frees the old segments was refused."),
            Err(e) => tracing::warn!(index = name, error = %e, "Merged, but the refresh that frees the old segments failed."),
        }
        Ok(())
    }

    /// PUT a JSON document (a policy, a template); 200 or an error.
    pub async fn put(&self, what: &str, path: &str, body: &Value) -> Result<(), ClusterError> {
        let a = self.call(reqwest::Method::PUT, path, Some(body), None).await?;
        if a.status != 200 {
            return Err(status_error(what, a));
        }
        Ok(())
    }
}

fn status_error(what: &str, a: Answer) -> ClusterError {
    let body = a.body.chars().take(500).collect();
    ClusterError::Status { what: what.into(), host: a.host, status: a.status, body }
}

pub fn delete_path(names: &[&str]) -> String {
    let list: Vec<String> = names.iter().map(|n| url_encode(n)).collect();
    format!("/{}?ignore_unavailable=true", list.join(","))
}

/// Names in batches whose DELETE path stays within `max_path` (a name longer than that alone
/// still gets its own request).
pub fn delete_batches<'a>(names: &[&'a str], max_path: usize) -> Vec<Vec<&'a str>> {
    let mut out: Vec<Vec<&'a str>> = Vec::new();
    let mut current: Vec<&'a str> = Vec::new();
    for &n in names {
        current.push(n);
        if current.len() > 1 && delete_path(&current).len() > max_path {
            current.pop();
            out.push(std::mem::take(&mut current));
            current.push(n);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_name_every_index_and_batch_under_the_path_limit() {
        assert_eq!(delete_path(&["logs-a-2024.05.01", "errors-2024.05.01"]), "/logs-a-2024.05.01,errors-2024.05.01?ignore_unavailable=true");
        // "/" + 10 names of 20 characters + 9 commas + "?ignore_unavailable=true" (24) = 234.
        let names: Vec<String> = (0..10).map(|i| format!("logs-http-2024.05.0{i}")).collect();
        assert!(names.iter().all(|n| n.len() == 20));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(delete_path(&refs).len(), 234);
        assert_eq!(delete_batches(&refs, 234).len(), 1);
        // Under 234, the last name moves to a second request. Two names take
        // "/" + 20 + "," + 20 + 24 = 66 characters, three 87: at 60 one name a request, at 66 two.
        assert_eq!(delete_batches(&refs, 233).iter().map(Vec::len).collect::<Vec<_>>(), vec![9, 1]);
        assert_eq!(delete_batches(&refs, 60).len(), 10);
        assert_eq!(delete_batches(&refs, 66).iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 2, 2, 2]);
        assert!(delete_batches(&[], 100).is_empty());
        assert!(refs.iter().all(|n| !n.contains('*')));
    }
}

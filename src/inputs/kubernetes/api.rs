//! Pod metadata from the API server: a cache of this node's pods kept by list and watch.
//!
//! The cache lists `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`, then watches from the
//! list's `resourceVersion`, applying `ADDED`/`MODIFIED`/`DELETED` as they stream in and resuming
//! each watch from the last version seen. A `410 Gone` (the version is too old to resume from,
//! as an HTTP status or as an `ERROR` event) means list again; any other failure waits with
//! jittered exponential backoff (1 s doubling to 30 s) and tries again. Tailing never waits for
//! the API: a file whose pod is not in the cache yet gets the metadata its path carries, and
//! the API's as soon as the pod appears. Deleted pods stay in the cache for five minutes, since
//! their last lines are often read after the deletion.
//!
//! Credentials: in the cluster, the service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, the
//! token and CA under /var/run/secrets/kubernetes.io/serviceaccount); the token file is read
//! again for every request, because the kubelet rotates it. Outside, a kubeconfig file: its
//! current context's server, CA (file or inline), and token, token file or client certificate.

use crate::event::{Map, Value};
use crate::outputs::http::retry::Backoff;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// How long a deleted pod's metadata is kept for files still being read.
const KEEP_DELETED: Duration = Duration::from_secs(300);
/// Asked of the server for each watch; it ends the watch then and it is resumed.
const WATCH_SECONDS: u64 = 290;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not running in a cluster: {0} is not set (give `kubeconfig` instead)")]
    NotInCluster(&'static str),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("{0} answered {1}: {2}")]
    Status(String, u16, String),
    #[error("the watch's resource version is gone (410)")]
    Gone,
    #[error("unreadable answer from the API server: {0}")]
    Body(String),
}

enum Token {
    File(PathBuf),
    Fixed(String),
}

/// Where the API server is and how to authenticate to it.
pub struct Endpoint {
    server: String,
    token: Option<Token>,
    ca: Option<Vec<u8>>,
    /// Client certificate and key, PEM, one after the other.
    identity: Option<Vec<u8>>,
    insecure: bool,
}

fn read(path: &Path) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|source| ApiError::Read { path: path.to_path_buf(), source })
}

impl Endpoint {
    pub fn in_cluster() -> Result<Endpoint, ApiError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| ApiError::NotInCluster("KUBERNETES_SERVICE_HOST"))?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".to_string());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        let dir = Path::new(SERVICE_ACCOUNT);
        Ok(Endpoint {
            server: format!("https://{host}:{port}"),
            token: Some(Token::File(dir.join("token"))),
            ca: Some(read(&dir.join("ca.crt"))?),
            identity: None,
            insecure: false,
        })
    }

    /// The current context of a kubeconfig file.
    pub fn kubeconfig(path: &Path) -> Result<Endpoint, ApiError> {
        let err = |message: String| ApiError::Kubeconfig { path: path.to_path_buf(), message };
        let text = String::from_utf8(read(path)?).map_err(|_| err("not UTF-8".into()))?;
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).map_err(|e| err(e.to_string()))?;
        let doc = docs.first().ok_or_else(|| err("empty".into()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let named = |list: &str, name: &str, inner: &str| -> Option<yaml_rust2::Yaml> {
            doc[list].as_vec()?.iter().find(|e| e["name"].as_str() == Some(name)).map(|e| e[inner].clone())
        };
        let current = doc["current-context"].as_str().map(str::to_string).or_else(|| {
            // One context and no current one: that one.
            doc["contexts"].as_vec().filter(|v| v.len() == 1).and_then(|v| v[0]["name"].as_str().map(str::to_string))
        });
        let current = current.ok_or_else(|| err("no current-context".into()))?;
        let context = named("contexts", &current, "context").ok_or_else(|| err(format!("no context named `{current}`")))?;
        let cluster_name = context["cluster"].as_str().ok_or_else(|| err(format!("context `{current}` names no cluster")))?;
        let cluster = named("clusters", cluster_name, "cluster").ok_or_else(|| err(format!("no cluster named `{cluster_name}`")))?;
        let user = match context["user"].as_str() {
            Some(u) => named("users", u, "user").ok_or_else(|| err(format!("no user named `{u}`")))?,
            None => yaml_rust2::Yaml::Null,
        };
        let server = cluster["server"].as_str().ok_or_else(|| err(format!("cluster `{cluster_name}` has no server")))?.trim_end_matches('/').to_string();
        let file_or_data = |y: &yaml_rust2::Yaml, file_key: &str, data_key: &str| -> Result<Option<Vec<u8>>, ApiError> {
            if let Some(d) = y[data_key].as_str() {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(d.trim())
                    .map_err(|e| err(format!("`{data_key}` is not base64: {e}")))?;
                return Ok(Some(bytes));
            }
            match y[file_key].as_str() {
                Some(f) => Ok(Some(read(&base.join(f))?)),
                None => Ok(None),
            }
        };
        let ca = file_or_data(&cluster, "certificate-authority", "certificate-authority-data")?;
        let cert = file_or_data(&user, "client-certificate", "client-certificate-data")?;
        let key = file_or_data(&user, "client-key", "client-key-data")?;
        let identity = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend(k);
                Some(c)
            }
            (None, None) => None,
            _ => return Err(err("a client certificate needs both `client-certificate` and `client-key`".into())),
        };
        let token = match (user["token"].as_str(), user["tokenFile"].as_str()) {
            (Some(t), _) => Some(Token::Fixed(t.to_string())),
            (None, Some(f)) => Some(Token::File(base.join(f))),
            (None, None) => None,
        };
        Ok(Endpoint { server, token, ca, identity, insecure: cluster["insecure-skip-tls-verify"].as_bool().unwrap_or(false) })
    }

    fn client(&self) -> Result<reqwest::Client, ApiError> {
        let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &self.ca {
            b = b.tls_built_in_root_certs(false);
            for c in reqwest::Certificate::from_pem_bundle(ca)? {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(id) = &self.identity {
            b = b.identity(reqwest::Identity::from_pem(id)?);
        }
        if self.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        Ok(b.build()?)
    }

    fn token(&self) -> Result<Option<String>, ApiError> {
        match &self.token {
            None => Ok(None),
            Some(Token::Fixed(t)) => Ok(Some(t.clone())),
            Some(Token::File(p)) => Ok(Some(String::from_utf8_lossy(&read(p)?).trim().to_string())),
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }
}

/// What the API says about one pod, ready to be merged into events.
#[derive(Debug, Default)]
pub struct PodInfo {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// `[kubernetes]` fields for every container of the pod.
    pub kubernetes: Map,
    /// Per container name: its `[container]` fields (id, runtime, image).
    pub containers: HashMap<String, Map>,
}

impl PodInfo {
    pub fn from_json(pod: &Value, dedot: bool, annotations: bool) -> Option<PodInfo> {
        let meta = pod.get("metadata")?;
        let uid = meta.get("uid")?.as_str()?.to_string();
        let name = meta.get("name")?.as_str()?.to_string();
        let namespace = meta.get("namespace").and_then(Value::as_str).unwrap_or("default").to_string();
        let mut k = Map::new();
        let mut pod_fields = Map::new();
        if let Some(ip) = pod.pointer("/status/podIP").and_then(Value::as_str) {
            pod_fields.insert("ip".into(), Value::from(ip));
        }
        k.insert("pod".into(), Value::Object(pod_fields));
        if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
            k.insert("node".into(), serde_json::json!({ "name": node }));
        }
        let keyed = |m: Option<&Value>| -> Map {
            let mut out = Map::new();
            for (key, v) in m.and_then(Value::as_object).into_iter().flatten() {
                let key = if dedot { key.replace('.', "_") } else { key.clone() };
                out.insert(key, v.clone());
            }
            out
        };
        let labels = keyed(meta.get("labels"));
        if !labels.is_empty() {
            k.insert("labels".into(), Value::Object(labels));
        }
        if annotations {
            let a = keyed(meta.get("annotations"));
            if !a.is_empty() {
                k.insert("annotations".into(), Value::Object(a));
            }
        }
        // The controller: Filebeat's names (`[kubernetes][replicaset][name]`, ...). A
        // ReplicaSet's Deployment is its name without the pod-template-hash suffix.
        let hash = meta.pointer("/labels/pod-template-hash").and_then(Value::as_str);
        for owner in meta.get("ownerReferences").and_then(Value::as_array).into_iter().flatten() {
            let (Some(kind), Some(oname)) = (owner.get("kind").and_then(Value::as_str), owner.get("name").and_then(Value::as_str)) else { continue };
            let field = match kind {
                "ReplicaSet" => "replicaset",
                "StatefulSet" => "statefulset",
                "DaemonSet" => "daemonset",
                "Job" => "job",
                _ => continue,
            };
            k.insert(field.into(), serde_json::json!({ "name": oname }));
            if let (Some(hash), "ReplicaSet") = (hash, kind) {
                if let Some(deployment) = oname.strip_suffix(hash).and_then(|d| d.strip_suffix('-')) {
                    k.insert("deployment".into(), serde_json::json!({ "name": deployment }));
                }
            }
        }
        let mut containers: HashMap<String, Map> = HashMap::new();
        for spec in ["containers", "initContainers", "ephemeralContainers"] {
            for c in pod.pointer(&format!("/spec/{spec}")).and_then(Value::as_array).into_iter().flatten() {
                let (Some(cname), Some(image)) = (c.get("name").and_then(Value::as_str), c.get("image").and_then(Value::as_str)) else { continue };
                let mut m = Map::new();
                m.insert("image".into(), serde_json::json!({ "name": image }));
                containers.insert(cname.to_string(), m);
            }
        }
        for status in ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"] {
            for c in pod.pointer(&format!("/status/{status}")).and_then(Value::as_array).into_iter().flatten() {
                let Some(cname) = c.get("name").and_then(Value::as_str) else { continue };
                let m = containers.entry(cname.to_string()).or_default();
                // `containerd://<id>`: the runtime, and the id the log file's name also carries.
                if let Some((runtime, id)) = c.get("containerID").and_then(Value::as_str).and_then(|s| s.split_once("://")) {
                    m.insert("runtime".into(), Value::from(runtime));
                    m.insert("id".into(), Value::from(id));
                }
            }
        }
        Some(PodInfo { uid, name, namespace, kubernetes: k, containers })
    }
}

/// This node's pods, by uid.
#[derive(Default)]
pub struct PodCache {
    inner: RwLock<CacheInner>,
    /// Bumped on every change, so tailers know when to rebuild their fields.
    version: AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    pods: HashMap<String, Arc<PodInfo>>,
    deleted: Vec<(Instant, String)>,
}

impl PodCache {
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// By uid, else (for paths that carry none) by namespace and name.
    pub fn get(&self, uid: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> Option<Arc<PodInfo>> {
        let g = self.inner.read();
        if let Some(p) = uid.and_then(|u| g.pods.get(u)) {
            return Some(p.clone());
        }
        let (ns, name) = (namespace?, name?);
        g.pods.values().find(|p| p.namespace == ns && p.name == name).cloned()
    }

    fn replace_all(&self, pods: Vec<PodInfo>) {
        let mut g = self.inner.write();
        let fresh: HashMap<String, Arc<PodInfo>> = pods.into_iter().map(|p| (p.uid.clone(), Arc::new(p))).collect();
        // Pods gone between two lists are deleted ones: kept a while like the others.
        let now = Instant::now();
        let gone: Vec<String> = g.pods.keys().filter(|u| !fresh.contains_key(*u)).cloned().collect();
        let kept: Vec<(String, Arc<PodInfo>)> = gone.iter().filter_map(|u| g.pods.get(u).map(|p| (u.clone(), p.clone()))).collect();
        // A pod the list holds is alive, whatever a watch said before.
        g.deleted.retain(|(_, u)| !fresh.contains_key(u));
        g.pods = fresh;
        for (u, p) in kept {
            g.deleted.push((now, u.clone()));
            g.pods.insert(u, p);
        }
        self.expire(&mut g, now);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn upsert(&self, pod: PodInfo) {
        let mut g = self.inner.write();
        g.deleted.retain(|(_, u)| *u != pod.uid);
        g.pods.insert(pod.uid.clone(), Arc::new(pod));
        self.expire(&mut g, Instant::now());
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    fn delete(&self, uid: &str) {
        let mut g = self.inner.write();
        g.deleted.push((Instant::now(), uid.to_string()));
        self.expire(&mut g, Instant::now());
    }

    fn expire(&self, g: &mut CacheInner, now: Instant) {
        let due: Vec<String> = g.deleted.iter().filter(|(t, _)| now.duration_since(*t) >= KEEP_DELETED).map(|(_, u)| u.clone()).collect();
        if due.is_empty() {
            return;
        }
        g.deleted.retain(|(t, _)| now.duration_since(*t) < KEEP_DELETED);
        for u in due {
            g.pods.remove(&u);
        }
    }
}

/// Keep the cache filled until shutdown.
pub async fn maintain(endpoint: Endpoint, node: String, cache: Arc<PodCache>, dedot: bool, annotations: bool, shutdown: CancellationToken) {
    let client = match endpoint.client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(server = %endpoint.server, error = %e, "kubernetes input: cannot build the API client; pods get the metadata of their paths only.");
            return;
        }
    };
    let watcher = Watcher { endpoint, client, node, cache, dedot, annotations };
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let pause = |d: Duration| {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown.cancelled() => false,
                _ = tokio::time::sleep(d) => true,
            }
        }
    };
    'list: loop {
        let version = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = watcher.list() => match r {
                Ok(v) => v,
                Err(e) => {
                    let wait = backoff.failed();
                    tracing::warn!(server = %watcher.endpoint.server, error = %e, retry_in = ?wait, "kubernetes input: listing pods failed.");
                    if !pause(wait).await { return; }
                    continue 'list;
                }
            },
        };
        backoff.succeeded();
        let mut version = version;
        loop {
            let r = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = watcher.watch(&mut version) => r,
            };
            match r {
                Ok(()) => backoff.succeeded(),
                Err(ApiError::Gone) => {
                    tracing::info!(server = %watcher.endpoint.server, "kubernetes input: pod watch expired; listing again.");
                    continue 'list;
                }
                Err(e) => {
                    let wait = backoff.failed();
                    tracing::warn!(server = %watcher.endpoint.server, error = %e, retry_in = ?wait, "kubernetes input: watching pods failed.");
                    if !pause(wait).await {
                        return;
                    }
                }
            }
        }
    }
}

struct Watcher {
    endpoint: Endpoint,
    client: reqwest::Client,
    node: String,
    cache: Arc<PodCache>,
    dedot: bool,
    annotations: bool,
}

impl Watcher {
    fn request(&self, extra: &[(&str, String)]) -> Result<reqwest::RequestBuilder, ApiError> {
        let mut query = vec![("fieldSelector", format!("spec.nodeName={}", self.node))];
        query.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
        let mut r = self.client.get(format!("{}/api/v1/pods", self.endpoint.server)).query(&query);
        if let Some(t) = self.endpoint.token()? {
            r = r.bearer_auth(t);
        }
        Ok(r)
    }

    /// List this node's pods into the cache; the list's resource version.
    async fn list(&self) -> Result<String, ApiError> {
        let resp = self.request(&[])?.timeout(Duration::from_secs(60)).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(ApiError::Status("listing pods".into(), status.as_u16(), String::from_utf8_lossy(&body).chars().take(300).collect()));
        }
        let list: Value = serde_json::from_slice(&body).map_err(|e| ApiError::Body(e.to_string()))?;
        let version = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
        let pods: Vec<PodInfo> = list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| PodInfo::from_json(p, self.dedot, self.annotations))
            .collect();
        tracing::debug!(pods = pods.len(), version = %version, "kubernetes input: listed pods.");
        self.cache.replace_all(pods);
        Ok(version)
    }

    /// Watch from `version`, applying events and moving `version` along, until the server ends
    /// the watch (`Ok`) or it fails.
    async fn watch(&self, version: &mut String) -> Result<(), ApiError> {
        let extra = [
            ("watch", "true".to_string()),
            ("resourceVersion", version.clone()),
            ("allowWatchBookmarks", "true".to_string()),
            ("timeoutSeconds", WATCH_SECONDS.to_string()),
        ];
        let mut resp = self.request(&extra)?.send().await?;
        let status = resp.status();
        if status.as_u16() == 410 {
            return Err(ApiError::Gone);
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(ApiError::Status("watching pods".into(), status.as_u16(), body.chars().take(300).collect()));
        }
        let mut buf: Vec<u8> = Vec::new();
        // A watch that stays silent longer than it was asked to last is a dead connection.
        let silence = Duration::from_secs(WATCH_SECONDS + 30);
        loop {
            let chunk = match tokio::time::timeout(silence, resp.chunk()).await {
                Ok(c) => c?,
                Err(_) => return Err(ApiError::Body("the watch went silent".into())),
            };
            let Some(chunk) = chunk else { return Ok(()) };
            buf.extend_from_slice(&chunk);
            let mut used = 0;
            while let Some(nl) = memchr::memchr(b'\n', &buf[used..]) {
                let line = &buf[used..used + nl];
                used += nl + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                self.apply(line, version)?;
            }
            buf.drain(..used);
        }
    }

    fn apply(&self, line: &[u8], version: &mut String) -> Result<(), ApiError> {
        let ev: Value = serde_json::from_slice(line).map_err(|e| ApiError::Body(e.to_string()))?;
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
        let object = ev.get("object").unwrap_or(&Value::Null);
        if kind == "ERROR" {
            if object.get("code").and_then(Value::as_u64) == Some(410) {
                return Err(ApiError::Gone);
            }
            let message = object.get("message").and_then(Value::as_str).unwrap_or("").to_string();
            return Err(ApiError::Status("the pod watch".into(), object.get("code").and_then(Value::as_u64).unwrap_or(0) as u16, message));
        }
        if let Some(v) = object.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
            *version = v.to_string();
        }
        match kind {
            "ADDED" | "MODIFIED" => {
                if let Some(p) = PodInfo::from_json(object, self.dedot, self.annotations) {
                    self.cache.upsert(p);
                }
            }
            "DELETED" => {
                if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
                    self.cache.delete(uid);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, name: &str) -> PodInfo {
        PodInfo::from_json(&json!({"metadata": {"uid": uid, "name": name, "namespace": "web"}}), true, false).unwrap()
    }

    /// A deleted pod (a watch's DELETED, or absent from a new list) keeps its metadata for a
    /// while, so the lines its containers wrote last are still enriched; a pod that comes back
    /// is no longer due to go; after the grace period it is gone.
    #[test]
    fn deleted_pods_are_kept_a_while_then_forgotten() {
        let cache = PodCache::default();
        cache.upsert(pod("a", "pod-a"));
        cache.upsert(pod("b", "pod-b"));
        cache.upsert(pod("c", "pod-c"));
        let version = cache.version();
        cache.delete("a");
        cache.delete("b");
        assert_eq!(cache.get(Some("a"), None, None).map(|p| p.name.clone()).as_deref(), Some("pod-a"));
        assert!(cache.get(None, Some("web"), Some("pod-b")).is_some(), "found by namespace and name too");
        cache.upsert(pod("b", "pod-b"));
        assert!(cache.version() > version);
        cache.upsert(pod("d", "pod-d"));
        cache.delete("d");
        // A new list without c (deleted too) and with a (alive after all).
        cache.replace_all(vec![pod("a", "pod-a"), pod("b", "pod-b")]);
        assert!(cache.get(Some("c"), None, None).is_some());

        let later = Instant::now() + KEEP_DELETED + Duration::from_secs(1);
        let mut g = cache.inner.write();
        cache.expire(&mut g, later);
        drop(g);
        assert!(cache.get(Some("d"), None, None).is_none(), "d was deleted by the watch and is gone");
        assert!(cache.get(Some("c"), None, None).is_none(), "c left the list and is gone");
        assert!(cache.get(Some("b"), None, None).is_some(), "b came back and stays");
        assert!(cache.get(Some("a"), None, None).is_some(), "a is in the newest list and stays");
    }

    #[test]
    fn a_pod_becomes_filebeat_shaped_fields() {
        let pod = json!({
            "metadata": {
                "name": "web-7d9f8b6c4d-abcde", "namespace": "shop", "uid": "u-1",
                "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d9f8b6c4d"},
                "annotations": {"a": "b"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f8b6c4d"}]
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop/web:1.2"}]},
            "status": {"podIP": "10.0.0.7", "containerStatuses": [{"name": "app", "containerID": "containerd://abc"}]}
        });
        let p = PodInfo::from_json(&pod, true, true).unwrap();
        assert_eq!(
            Value::Object(p.kubernetes.clone()),
            json!({
                "pod": {"ip": "10.0.0.7"},
                "node": {"name": "node-1"},
                "labels": {"app_kubernetes_io/name": "web", "pod-template-hash": "7d9f8b6c4d"},
                "annotations": {"a": "b"},
                "replicaset": {"name": "web-7d9f8b6c4d"},
                "deployment": {"name": "web"}
            })
        );
        assert_eq!(Value::Object(p.containers["app"].clone()), json!({"image": {"name": "shop/web:1.2"}, "runtime": "containerd", "id": "abc"}));
    }

    #[test]
    fn kubeconfig_current_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "t0k\n").unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n- name: c1\n  cluster:\n    server: http://127.0.0.1:1/\n\
             contexts:\n- name: a\n  context: {cluster: nope, user: u}\n- name: b\n  context:\n    cluster: c1\n    user: u\n\
             users:\n- name: u\n  user:\n    tokenFile: token\n",
        )
        .unwrap();
        let e = Endpoint::kubeconfig(&cfg).unwrap();
        assert_eq!(e.server(), "http://127.0.0.1:1");
        assert_eq!(e.token().unwrap().as_deref(), Some("t0k"));
    }
}

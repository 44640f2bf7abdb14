//! Which files to read, and what their paths say about the container that wrote them.
//!
//! The kubelet links `/var/log/containers/<pod>_<namespace>_<container>-<container id>.log` to
//! the runtime's file `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log`.
//! The link's name gives the container id, the target's directory the pod's uid; together they
//! are the metadata a file carries without asking the API server. Names of pods, namespaces and
//! containers are DNS labels or subdomains, so `_` never appears inside them and splitting on it
//! is unambiguous.
//!
//! Discovery expands the `path` globs, drops what an `exclude` glob matches and anything
//! compressed (the kubelet gzips rotated files, which were read through their open handle
//! before), and identifies each file by device and inode, following links.

use glob::Pattern;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: it survives renames, unlike its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub inode: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId { dev: meta.dev(), inode: meta.ino() }
    }
}

/// What a log file's path tells about its container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMeta {
    pub namespace: Option<String>,
    pub pod_name: Option<String>,
    pub pod_uid: Option<String>,
    pub container_name: Option<String>,
    pub container_id: Option<String>,
}

/// `<pod>_<namespace>_<container>-<id>.log`, the kubelet's link name.
pub fn parse_container_link(file_name: &str) -> Option<PathMeta> {
    let stem = file_name.strip_suffix(".log")?;
    let mut parts = stem.splitn(3, '_');
    let (pod, namespace, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let (container, id) = rest.rsplit_once('-')?;
    if pod.is_empty() || namespace.is_empty() || container.is_empty() || id.is_empty() {
        return None;
    }
    Some(PathMeta {
        namespace: Some(namespace.to_string()),
        pod_name: Some(pod.to_string()),
        pod_uid: None,
        container_name: Some(container.to_string()),
        container_id: Some(id.to_string()),
    })
}

/// `.../<namespace>_<pod>_<uid>/<container>/<n>.log`, the runtime's file under /var/log/pods.
pub fn parse_pod_file(path: &Path) -> Option<PathMeta> {
    let container = path.parent()?;
    let pod_dir = container.parent()?.file_name()?.to_str()?;
    let container = container.file_name()?.to_str()?;
    let mut parts = pod_dir.splitn(3, '_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if namespace.is_empty() || pod.is_empty() || uid.is_empty() || container.is_empty() {
        return None;
    }
    Some(PathMeta {
        namespace: Some(namespace.to_string()),
        pod_name: Some(pod.to_string()),
        pod_uid: Some(uid.to_string()),
        container_name: Some(container.to_string()),
        container_id: None,
    })
}

/// Everything both paths say: the link's name and the file it resolves to.
pub fn metadata(path: &Path, resolved: &Path) -> PathMeta {
    let link = path.file_name().and_then(|n| n.to_str()).and_then(parse_container_link);
    let pod_file = parse_pod_file(resolved).or_else(|| parse_pod_file(path));
    match (link, pod_file) {
        (Some(mut l), Some(p)) => {
            l.pod_uid = p.pod_uid;
            l
        }
        (Some(l), None) => l,
        (None, Some(p)) => p,
        (None, None) => PathMeta::default(),
    }
}

/// A file discovery found.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: FileId,
    /// As the glob matched it (the link, for /var/log/containers).
    pub path: PathBuf,
    /// Where the links lead.
    pub resolved: PathBuf,
}

/// The `path` and `exclude` globs.
#[derive(Debug, Clone)]
pub struct Selection {
    pub include: Vec<String>,
    pub exclude: Vec<Pattern>,
}

impl Selection {
    /// An exclude glob without a `/` is matched against the file name, one with a `/` against
    /// the whole path (as matched, and as resolved).
    pub fn excluded(&self, path: &Path, resolved: &Path) -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        self.exclude.iter().any(|p| {
            if p.as_str().contains('/') {
                p.matches_path(path) || p.matches_path(resolved)
            } else {
                p.matches(name)
            }
        })
    }

    /// Every file the globs name now, once each (two links to one file count once).
    pub fn scan(&self) -> Vec<Found> {
        let mut out: Vec<Found> = Vec::new();
        for pattern in &self.include {
            let entries = match glob::glob(pattern) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(pattern = %pattern, error = %e, "kubernetes input: bad path glob.");
                    continue;
                }
            };
            for path in entries.flatten() {
                if is_compressed(&path) {
                    continue;
                }
                // Following the link: a dangling one (a pod just removed) is skipped.
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                if !meta.is_file() {
                    continue;
                }
                let resolved = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if self.excluded(&path, &resolved) {
                    continue;
                }
                let id = FileId::of(&meta);
                if out.iter().any(|f| f.id == id) {
                    continue;
                }
                out.push(Found { id, path, resolved });
            }
        }
        out
    }
}

/// Rotated files the kubelet compressed (and any other archive): never read as text.
pub fn is_compressed(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("gz" | "zip" | "bz2" | "xz" | "zst"))
}

/// Files next to `resolved` that a rename rotation made of it (`0.log.20240101-000000`).
pub fn rotated_siblings(resolved: &Path) -> Vec<PathBuf> {
    let Some(name) = resolved.to_str() else { return Vec::new() };
    let pattern = format!("{}.*", glob::Pattern::escape(name));
    match glob::glob(&pattern) {
        Ok(entries) => entries.flatten().filter(|p| !is_compressed(p)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelet_link_name() {
        let id = "5f1b0c8d9e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
        let m = parse_container_link(&format!("coredns-7db6d8ff4d-x2x9k_kube-system_coredns-{id}.log")).unwrap();
        assert_eq!(m.pod_name.as_deref(), Some("coredns-7db6d8ff4d-x2x9k"));
        assert_eq!(m.namespace.as_deref(), Some("kube-system"));
        // A container name with dashes: the id is what follows the last one.
        let m = parse_container_link(&format!("web-0_shop_istio-proxy-{id}.log")).unwrap();
        assert_eq!((m.container_name.as_deref(), m.container_id.as_deref()), (Some("istio-proxy"), Some(id)));
        assert_eq!(parse_container_link("syslog"), None);
        assert_eq!(parse_container_link("just-a-file.log"), None);
    }

    #[test]
    fn the_runtime_file_under_var_log_pods() {
        let p = Path::new("/var/log/pods/shop_web-0_0b4c6e2a-58d1-4a6b-9d0e-3f2a1b4c5d6e/istio-proxy/3.log");
        let m = parse_pod_file(p).unwrap();
        assert_eq!(m.namespace.as_deref(), Some("shop"));
        assert_eq!(m.pod_name.as_deref(), Some("web-0"));
        assert_eq!(m.pod_uid.as_deref(), Some("0b4c6e2a-58d1-4a6b-9d0e-3f2a1b4c5d6e"));
        assert_eq!(m.container_name.as_deref(), Some("istio-proxy"));
        assert_eq!(parse_pod_file(Path::new("/var/log/syslog")), None);
    }

    #[test]
    fn link_and_target_together() {
        let link = Path::new("/var/log/containers/web-0_shop_app-abc123.log");
        let target = Path::new("/var/log/pods/shop_web-0_uid-1/app/0.log");
        let m = metadata(link, target);
        assert_eq!(m.container_id.as_deref(), Some("abc123"));
        assert_eq!(m.pod_uid.as_deref(), Some("uid-1"));
        assert!(is_compressed(Path::new("/x/0.log.20240101-000000.gz")));
        assert!(!is_compressed(Path::new("/x/0.log.20240101-000000")));
    }
}

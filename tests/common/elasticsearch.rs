//! A real Elasticsearch (or OpenSearch) node for the tests: the integration-test distribution
//! started by `tests/peers/elasticsearch.sh`, and curl as a client independent of sluice's.

use super::free_port;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct EsNode {
    pub url: String,
    pub run: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/elasticsearch.sh")
}

impl EsNode {
    /// Start a node; it is stopped when this test process exits, whatever happens.
    pub fn start() -> EsNode {
        EsNode::start_distribution("elasticsearch")
    }

    /// Start a node of `elasticsearch` or `opensearch`.
    pub fn start_distribution(distribution: &str) -> EsNode {
        EsNode::start_on(free_port(), distribution)
    }

    /// Start a node of `elasticsearch` or `opensearch` on a given HTTP port.
    pub fn start_on(port: u16, distribution: &str) -> EsNode {
        let transport = free_port();
        let out = Command::new("bash")
            .arg(script())
            .env("SLUICE_SEARCH_DISTRIBUTION", distribution)
            .args(["start", &port.to_string(), &transport.to_string(), &std::process::id().to_string()])
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/peers/elasticsearch.sh");
        assert!(out.status.success(), "{distribution} did not start (is Java 17 installed?)");
        let run = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim().lines().last().unwrap_or_default());
        EsNode { url: format!("http://127.0.0.1:{port}"), run }
    }

    /// `kill`, `restart` or `stop` the node through the script.
    pub fn script(&self, verb: &str) {
        let ok = Command::new("bash").arg(script()).arg(verb).arg(&self.run).status().unwrap().success();
        assert!(ok, "elasticsearch.sh {verb} failed");
    }
}

/// The node the tests of one binary share (each uses its own indices).
pub fn es() -> &'static EsNode {
    static NODE: OnceLock<EsNode> = OnceLock::new();
    NODE.get_or_init(EsNode::start)
}

/// A request to Elasticsearch with curl, a client independent of sluice's.
pub fn es_call(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-m", "30", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", &b.to_string()]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
}

//! A real Elasticsearch (or OpenSearch) node for the tests: the integration-test distribution
//! started by `tests/peers/elasticsearch.sh`, and curl as a client independent of sluice's.

use super::{free_port, Peer};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;

pub struct EsNode {
    pub url: String,
    pub peer: Peer,
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
        let args = [port.to_string(), free_port().to_string()];
        let peer = Peer::start_with_env("elasticsearch.sh", &args, &[("SLUICE_SEARCH_DISTRIBUTION", distribution)]);
        EsNode { url: format!("http://127.0.0.1:{port}"), peer }
    }

    /// `kill`, `restart` or `stop` the node through the script.
    pub fn script(&self, verb: &str) {
        self.peer.script(verb);
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

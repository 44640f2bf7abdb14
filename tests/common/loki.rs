//! A real Loki for the tests: built from its Go module and started by `tests/peers/loki.sh`, and
//! curl as a client independent of sluice's.

use super::{free_port, Peer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct LokiNode {
    pub port: u16,
    pub peer: Peer,
}

impl LokiNode {
    /// Start Loki; it is stopped when this test process exits, whatever happens.
    pub fn start() -> LokiNode {
        let port = free_port();
        LokiNode { port, peer: Peer::start("loki.sh", &[port.to_string()]) }
    }

    /// Start a single-tenant Loki, as the deployment runs it (its one tenant is `fake`).
    pub fn start_single_tenant() -> LokiNode {
        let port = free_port();
        LokiNode { port, peer: Peer::start_with_env("loki.sh", &[port.to_string()], &[("SLUICE_LOKI_MULTI_TENANT", "false")]) }
    }

    pub fn push_url(&self) -> String {
        format!("http://127.0.0.1:{}/loki/api/v1/push", self.port)
    }

    /// The log lines a LogQL query finds in the last hour for `tenant`, per stream (its labels),
    /// in time order; read with curl, a client independent of sluice's.
    pub fn query(&self, tenant: &str, logql: &str) -> Vec<(BTreeMap<String, String>, Vec<(i64, String)>)> {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap();
        let out = Command::new("curl")
            .args(["-s", "-m", "60", "-G", &format!("http://127.0.0.1:{}/loki/api/v1/query_range", self.port)])
            .args(["-H", &format!("X-Scope-OrgID: {tenant}")])
            .args(["--data-urlencode", &format!("query={logql}")])
            .args(["--data-urlencode", &format!("start={}", now - 3_600_000_000_000)])
            .args(["--data-urlencode", &format!("end={}", now + 60_000_000_000)])
            .args(["--data-urlencode", "limit=100000", "--data-urlencode", "direction=forward"])
            .output()
            .expect("curl");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("query {logql}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["stream"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
                let values = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e[0].as_str().unwrap().parse().unwrap(), e[1].as_str().unwrap().to_string()))
                    .collect();
                (labels, values)
            })
            .collect()
    }

    /// Every line a query finds, in time order, waiting until there are `expected` of them (or
    /// 30 s passed).
    pub fn lines(&self, tenant: &str, logql: &str, expected: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Loki shows structured metadata with the labels, so one stream can come back as
            // several series: merge them back into time order.
            let mut entries: Vec<(i64, String)> = self.query(tenant, logql).into_iter().flat_map(|(_, v)| v).collect();
            entries.sort_by_key(|e| e.0);
            if entries.len() >= expected || Instant::now() > deadline {
                return entries.into_iter().map(|(_, l)| l).collect();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

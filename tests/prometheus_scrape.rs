//! A real Prometheus (Debian's package) scrapes sluice during a run, and the counters it stores
//! equal the events sent.

mod common;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

/// The value of an instant query, read from Prometheus' HTTP API.
fn query(prom: u16, q: &str) -> Option<f64> {
    let encoded: String = q
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let (status, body) = http_get(prom, &format!("/api/v1/query?query={encoded}"));
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_counters_equal_to_the_events_sent() {
    let bin = prometheus_bin();
    let dir = temp_dir();
    let (port, api, prom) = (free_port(), free_port(), free_port());
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines id => "app" }} }}
           filter {{ if [level] == "DEBUG" {{ drop {{}} }} }}
           output {{ null {{ id => "sink" }} }}"#
    );
    let sluice = sluice()
        .args(["-e", &config, "--path.data", dir.path().to_str().unwrap(), "--api.http.port", &api.to_string(), "--log.level", "warn"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(port, Duration::from_secs(30));
    wait_listening(api, Duration::from_secs(30));

    let prom_config = write(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sluice\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{api}']\n"
        ),
    );
    let mut prometheus = std::process::Command::new(bin.join("prometheus"))
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(prom, Duration::from_secs(30));

    const SENT: usize = 5000;
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..SENT {
            let level = if i % 5 == 0 { "DEBUG" } else { "INFO" };
            writeln!(s, r#"{{"i":{i},"level":"{level}"}}"#).unwrap();
        }
    }
    let result = std::panic::catch_unwind(|| {
        eventually(Duration::from_secs(60), "Prometheus stores sluice_events_in_total = events sent", || {
            query(prom, r#"sluice_events_in_total{job="sluice",pipeline="main"}"#) == Some(SENT as f64)
        });
        eventually(Duration::from_secs(30), "output counter scraped", || {
            query(prom, r#"sluice_events_out_total{job="sluice",pipeline="main"}"#) == Some((SENT - SENT / 5) as f64)
        });
        assert_eq!(query(prom, r#"sluice_events_dropped_total{job="sluice"}"#), Some((SENT / 5) as f64));
        assert_eq!(query(prom, r#"sluice_plugin_events_out_total{plugin_id="app",kind="input"}"#), Some(SENT as f64));
        assert_eq!(query(prom, r#"up{job="sluice"}"#), Some(1.0));
        assert!(query(prom, r#"process_resident_memory_bytes{job="sluice"}"#).unwrap_or(0.0) > 0.0);
    });
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    signal(&sluice, "TERM");
    let _ = wait_output(sluice, Duration::from_secs(30));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

//! The HTTP API: /metrics counts exactly the events sent, in a format Prometheus' own checker
//! accepts; /_node/stats has Logstash's shape; /health and /ready answer.

mod common;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

fn get(port: u16, path: &str) -> (u16, String) {
    http_get(port, path)
}

/// A sample value from the exposition, found by a plain reading of the text.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name_and_labels)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[test]
fn counters_match_the_events_sent() {
    let dir = temp_dir();
    let port = free_port();
    let api = free_port();
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines id => "app_tcp" }} }}
           filter {{
             json {{ source => "payload" id => "parse_payload" }}
             if [drop_me] {{ drop {{ id => "dropper" }} }}
           }}
           output {{ null {{ id => "sink" }} }}"#
    );
    let child = sluice()
        .args(["-e", &config, "--path.data", dir.path().to_str().unwrap(), "--api.http.port", &api.to_string(), "--log.level", "warn"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(port, Duration::from_secs(30));
    wait_listening(api, Duration::from_secs(30));
    assert_eq!(get(api, "/health").0, 200);
    assert_eq!(get(api, "/ready").0, 200);
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..1000 {
            match i % 10 {
                0 => writeln!(s, r#"{{"payload":"not json"}}"#).unwrap(),
                1 => writeln!(s, r#"{{"drop_me":true}}"#).unwrap(),
                _ => writeln!(s, r#"{{"payload":"{{\"n\":{i}}}"}}"#).unwrap(),
            }
        }
    }
    eventually(Duration::from_secs(20), "all events counted", || {
        sample(&get(api, "/metrics").1, "sluice_events_out_total{pipeline=\"main\"}") == Some(900.0)
    });
    let (status, text) = get(api, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "sluice_events_in_total{pipeline=\"main\"}"), Some(1000.0));
    assert_eq!(sample(&text, "sluice_events_filtered_total{pipeline=\"main\"}"), Some(900.0));
    assert_eq!(sample(&text, "sluice_events_dropped_total{pipeline=\"main\"}"), Some(100.0));
    assert_eq!(
        sample(&text, "sluice_plugin_failures_total{pipeline=\"main\",plugin_id=\"parse_payload\",plugin=\"json\",kind=\"filter\",reason=\"_jsonparsefailure\"}"),
        Some(100.0)
    );
    assert_eq!(sample(&text, "sluice_plugin_events_out_total{pipeline=\"main\",plugin_id=\"app_tcp\",plugin=\"tcp\",kind=\"input\"}"), Some(1000.0));
    assert_eq!(sample(&text, "sluice_plugin_events_in_total{pipeline=\"main\",plugin_id=\"sink\",plugin=\"null\",kind=\"output\"}"), Some(900.0));
    assert_eq!(sample(&text, "sluice_batch_duration_seconds_count{pipeline=\"main\"}").map(|c| c > 0.0), Some(true));
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(text.contains("# TYPE sluice_events_in_total counter"), "classic text format by default");
    let om = http_get_with(api, "/metrics", "Accept: application/openmetrics-text;version=1.0.0\r\n").1;
    assert!(om.trim_end().ends_with("# EOF"), "OpenMetrics when asked for, ending with # EOF");
    assert!(om.contains("# TYPE sluice_events_in counter") && om.contains("sluice_build_info{version="));

    let (status, stats) = get(api, "/_node/stats");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["pipelines"]["main"]["events"]["in"], 1000);
    assert_eq!(v["pipelines"]["main"]["events"]["out"], 900);
    assert_eq!(v["pipelines"]["main"]["plugins"]["filters"][0]["id"], "parse_payload");

    // Prometheus' own checker on the live exposition.
    let mut promtool = std::process::Command::new(prometheus_bin().join("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool check metrics: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    signal(&child, "TERM");
    let out = wait_output(child, Duration::from_secs(30));
    assert!(out.status.success());
}

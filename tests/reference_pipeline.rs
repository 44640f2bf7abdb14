//! The reference deployment end to end: the three .conf files of the Logstash deployment sluice
//! replaces, unmodified (the copy shipped in deploy/debian/etc/sluice/conf.d, which
//! scripts/validate-deploy.sh checks against the reference), with its pipelines.yml settings,
//! plus the Loki output of deploy/k8s/components/loki — fed 100,000 events through its three
//! inputs by real clients (Elastic's go-lumber for Beats, plain TCP for json_lines and syslog),
//! into a real Elasticsearch and a real Loki.
//!
//! The reference output names `localhost:9200` and the inputs fixed ports (5044, 5514, 5000), so
//! this test needs those ports free; it says so plainly when they are not. Expectations come
//! from the servers' answers (Elasticsearch's `_count`, aggregations and a scroll over every
//! document; Loki's LogQL), each event found by a unique token its sender put in the message.

mod common;
use common::beats::clients;
use common::elasticsearch::{es_call, EsNode};
use common::loki::LokiNode;
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const APACHE: usize = 50_000;
const APPLICATION: usize = 40_000;
/// One application event in ten is an ERROR, which the reference also writes to `errors-*`.
const ERROR_EVERY: usize = 10;
const SYSLOG: usize = 10_000;
const BEATS_SENDERS: usize = 2;

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Apache combined-log lines with recent timestamps (Loki refuses week-old entries) spread over
/// the last ten minutes, each request path holding its unique token.
fn apache_lines(from: usize, count: usize) -> String {
    let now = chrono::Utc::now();
    (from..from + count)
        .map(|i| {
            let at = now - chrono::Duration::seconds((i % 600) as i64);
            format!(
                "198.51.100.{} - - [{}] \"GET /ref-apache-{i} HTTP/1.1\" {} {} \"-\" \"e2e/1.0\"\n",
                i % 250 + 1,
                at.format("%d/%b/%Y:%H:%M:%S +0000"),
                if i % 7 == 0 { 404 } else { 200 },
                1000 + i
            )
        })
        .collect()
}

fn application_line(i: usize) -> String {
    let level = if i % ERROR_EVERY == 0 { "ERROR" } else { "INFO" };
    let inner = json!({ "ref": format!("ref-app-{i}"), "level": level, "text": "request served" }).to_string();
    format!("{}\n", json!({ "fields": { "service": "application" }, "message": inner }))
}

fn syslog_line(i: usize) -> String {
    let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ");
    format!("<134>1 {at} web-{} e2e {} - - ref-syslog-{i} user login\n", i % 5, 1000 + i % 50)
}

fn send_tcp(port: u16, text: String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to {port}: {e}"));
    s.write_all(text.as_bytes()).expect("send");
    s.shutdown(std::net::Shutdown::Write).ok();
}

/// The unique tokens in the messages of every document of `index`, read with a scroll.
fn tokens(es: &EsNode, index: &str) -> Vec<String> {
    let token = regex::Regex::new(r"ref-[a-z]+-[0-9]+").unwrap();
    let mut out = Vec::new();
    let (status, mut page) = es_call(
        "POST",
        &format!("{}/{index}/_search?scroll=2m", es.url),
        Some(&json!({ "size": 10000, "_source": ["message"], "sort": ["_doc"] })),
    );
    assert_eq!(status, 200, "{page}");
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        for hit in hits {
            let message = hit["_source"]["message"].as_str().unwrap_or_default();
            out.push(token.find(message).map(|m| m.as_str().to_string()).unwrap_or_else(|| format!("no token in {message:?}")));
        }
        let id = page["_scroll_id"].as_str().unwrap().to_string();
        page = es_call("POST", &format!("{}/_search/scroll", es.url), Some(&json!({ "scroll": "2m", "scroll_id": id }))).1;
    }
    out
}

/// Documents per index among those matching `pattern`.
fn per_index(es: &EsNode, pattern: &str) -> BTreeMap<String, u64> {
    es_call("POST", &format!("{}/{pattern}/_refresh", es.url), None);
    let (_, v) = es_call(
        "POST",
        &format!("{}/{pattern}/_search", es.url),
        Some(&json!({ "size": 0, "aggs": { "i": { "terms": { "field": "_index", "size": 1000 } } } })),
    );
    v["aggregations"]["i"]["buckets"]
        .as_array()
        .map(|b| b.iter().map(|b| (b["key"].as_str().unwrap().to_string(), b["doc_count"].as_u64().unwrap())).collect())
        .unwrap_or_default()
}

fn total(counts: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    counts.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, n)| n).sum()
}

/// Each expected token exactly once.
fn assert_exactly_once(found: Vec<String>, expected: &HashSet<String>, place: &str) {
    let mut seen = HashSet::with_capacity(found.len());
    let duplicates: Vec<&String> = found.iter().filter(|t| !seen.insert(t.as_str())).take(5).collect();
    assert!(duplicates.is_empty(), "{place}: duplicates, e.g. {duplicates:?}");
    let missing: Vec<&String> = expected.iter().filter(|t| !seen.contains(t.as_str())).take(5).collect();
    assert!(missing.is_empty(), "{place}: {} of {} missing, e.g. {missing:?}", expected.len() - seen.len().min(expected.len()), expected.len());
    assert_eq!(found.len(), expected.len(), "{place}: unexpected documents");
}

/// 100,000 events through the three inputs of the reference pipeline: every one lands in its
/// Elasticsearch index exactly once (Apache lines in `logs-apache-<day of the line>` with the
/// legacy grok fields and integer status and size, application JSON in `logs-application-*`
/// and its ERRORs in `errors-*` too, syslog lines — which have no `[fields][service]` — in the
/// index whose name keeps the unresolved reference, as Logstash names it), and in Loki, found by
/// LogQL on the output's labels, exactly once.
#[test]
fn the_reference_pipeline_delivers_100000_events_to_elasticsearch_and_loki_exactly_once() {
    let Some(beats) = clients() else { return };
    for port in [9200, 5044, 5514, 5000] {
        assert!(port_is_free(port), "port {port} is in use: the reference pipeline listens on (or sends to) fixed ports");
    }
    let es = EsNode::start_on(9200, "elasticsearch");
    let loki = LokiNode::start_single_tenant();

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = temp_dir();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    for name in ["01-input.conf", "02-filter.conf", "03-output.conf"] {
        std::fs::copy(root.join("deploy/debian/etc/sluice/conf.d").join(name), conf_d.join(name)).unwrap();
    }
    std::fs::copy(root.join("deploy/k8s/components/loki/04-loki-output.conf"), conf_d.join("04-loki-output.conf")).unwrap();
    // The reference pipelines.yml, pointed at this conf.d.
    write(
        dir.path(),
        "pipelines.yml",
        &format!(
            "- pipeline.id: main\n  path.config: \"{}/*.conf\"\n  pipeline.workers: 2\n  pipeline.batch.size: 125\n  pipeline.batch.delay: 50\n",
            conf_d.display()
        ),
    );
    let api = free_port();
    write(dir.path(), "sluice.yml", &format!("path.data: \"{}/data\"\napi.http.port: {api}\nlog.level: warn\n", dir.path().display()));

    let sluice = sluice()
        .args(["--path.settings", dir.path().to_str().unwrap()])
        .env("LOKI_URL", loki.push_url())
        .stdout(Stdio::null()) // the reference's `stdout { codec => rubydebug }`
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    for port in [5044, 5514, 5000] {
        wait_listening(port, Duration::from_secs(60));
    }

    // Beats: go-lumber senders shipping Apache lines as Filebeat does, `fields.service: apache`.
    let per_sender = APACHE / BEATS_SENDERS;
    let senders: Vec<_> = (0..BEATS_SENDERS)
        .map(|s| {
            let file = write(dir.path(), &format!("apache-{s}.log"), &apache_lines(s * per_sender, per_sender));
            Command::new(&beats.lumber_send)
                .args(["-addr", "127.0.0.1:5044", "-id", &format!("filebeat-{s}"), "-count", &per_sender.to_string()])
                .args(["-lines", file.to_str().unwrap(), "-field", "service=apache", "-batch", "1024", "-timeout", "120s"])
                .output()
        })
        .collect();
    send_tcp(5000, (0..APPLICATION).map(application_line).collect());
    send_tcp(5514, (0..SYSLOG).map(syslog_line).collect());
    for out in senders {
        let out = out.expect("run lumber-send");
        assert!(out.status.success(), "lumber-send: {}", String::from_utf8_lossy(&out.stderr));
    }

    // Elasticsearch: wait for every document, then check the indices and each token.
    let expected_syslog_prefix = "logs-%{[fields][service]}-";
    eventually(Duration::from_secs(300), "every event in Elasticsearch", || {
        let counts = per_index(&es, "logs-*");
        total(&counts, "logs-apache-") >= APACHE as u64
            && total(&counts, "logs-application-") >= APPLICATION as u64
            && total(&counts, expected_syslog_prefix) >= SYSLOG as u64
    });
    let counts = per_index(&es, "logs-*");
    assert_eq!(total(&counts, "logs-apache-"), APACHE as u64, "{counts:?}");
    assert_eq!(total(&counts, "logs-application-"), APPLICATION as u64, "{counts:?}");
    assert_eq!(total(&counts, expected_syslog_prefix), SYSLOG as u64, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), (APACHE + APPLICATION + SYSLOG) as u64, "no other index: {counts:?}");

    let mut all: HashSet<String> = (0..APACHE).map(|i| format!("ref-apache-{i}")).collect();
    all.extend((0..APPLICATION).map(|i| format!("ref-app-{i}")));
    all.extend((0..SYSLOG).map(|i| format!("ref-syslog-{i}")));
    assert_exactly_once(tokens(&es, "logs-*"), &all, "Elasticsearch logs-*");
    let errors: HashSet<String> = (0..APPLICATION).step_by(ERROR_EVERY).map(|i| format!("ref-app-{i}")).collect();
    eventually(Duration::from_secs(60), "the errors", || total(&per_index(&es, "errors-*"), "errors-") >= errors.len() as u64);
    assert_exactly_once(tokens(&es, "errors-*"), &errors, "Elasticsearch errors-*");

    // One Apache event read back: the legacy grok fields, converted numbers, its own timestamp.
    let (_, hit) = es_call(
        "POST",
        &format!("{}/logs-apache-*/_search", es.url),
        Some(&json!({ "query": { "match_phrase": { "message": "/ref-apache-7 " } } })),
    );
    let doc = &hit["hits"]["hits"][0]["_source"];
    assert_eq!(doc["clientip"], "198.51.100.8", "{doc}");
    assert_eq!(doc["verb"], "GET");
    assert_eq!(doc["request"], "/ref-apache-7");
    assert_eq!(doc["response"], 404);
    assert_eq!(doc["bytes"], 1007);
    assert_eq!(doc["fields"]["service"], "apache");
    let line_time = doc["timestamp"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_str(line_time, "%d/%b/%Y:%H:%M:%S %z").unwrap();
    let stamp = chrono::DateTime::parse_from_rfc3339(doc["@timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(stamp, parsed, "@timestamp comes from the line");
    let index = hit["hits"]["hits"][0]["_index"].as_str().unwrap();
    assert_eq!(index, format!("logs-apache-{}", parsed.with_timezone(&chrono::Utc).format("%Y.%m.%d")));

    // Loki: the same 100,000 events, by LogQL on the output's labels.
    let lines = loki.lines("fake", r#"{job="sluice"}"#, all.len());
    let token = regex::Regex::new(r"ref-[a-z]+-[0-9]+").unwrap();
    let found: Vec<String> = lines.iter().map(|l| token.find(l).map_or_else(|| format!("no token in {l:?}"), |m| m.as_str().to_string())).collect();
    assert_exactly_once(found, &all, "Loki");

    signal(&sluice, "TERM");
    let out = wait_output(sluice, Duration::from_secs(60));
    assert!(out.status.success(), "sluice: {}", String::from_utf8_lossy(&out.stderr));
}

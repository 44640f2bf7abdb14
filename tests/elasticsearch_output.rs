//! The `elasticsearch` output and the dead letter queue, through the real binary.
//!
//! Against a real Elasticsearch (8.x, the integration-test distribution started by
//! `tests/peers/elasticsearch.sh`, shared by the tests of this file and stopped when they end):
//! daily indices from each event's own timestamp, the reference pipeline's two outputs, the index
//! template, document ids, routing, ingest pipelines, `create` duplicates, mapping conflicts to
//! the dead letter queue and back through the `dead_letter_queue` input, and a node stopped for a
//! minute in the middle of a run. Against small in-process servers speaking just enough HTTP:
//! items answered 429, a connection dropped in the middle of a bulk request, slow answers, and a
//! dead host in `hosts`. Expectations come from the cluster's own answers (`_count`, `_search`,
//! `_mapping`) or from parsing the received bulk bodies here, never from sluice's code.

mod common;
use common::elasticsearch::{es, es_call, EsNode};
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The documents in an index, waiting up to 20 s while its shards are not yet allocated (an
/// index created a moment ago answers 503 `no_shard_available_action_exception`).
fn count(es: &EsNode, index: &str) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match try_count(es, index) {
            Ok(n) => return n,
            Err(e) if std::time::Instant::now() > deadline => panic!("no count for {index}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The documents in an index (0 when it does not exist); an error while the node is not
/// ready (shards still recovering after a restart).
fn try_count(es: &EsNode, index: &str) -> Result<u64, String> {
    es_call("POST", &format!("{}/{index}/_refresh", es.url), None);
    let (status, v) = es_call("GET", &format!("{}/{index}/_count", es.url), None);
    if status == 404 {
        return Ok(0);
    }
    v["count"].as_u64().ok_or_else(|| format!("status {status}: {v}"))
}

/// A sluice process killed when the test ends, passed or not, so a failed test leaves nothing
/// running.
struct Running(std::process::Child);

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        Running(cmd.stdout(Stdio::null()).spawn().expect("start sluice"))
    }

    /// Ask it to stop (SIGTERM) and wait until it has; true if it exited cleanly.
    fn stop(&mut self) -> bool {
        signal(&self.0, "TERM");
        wait_output_of(&mut self.0).success()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn search(es: &EsNode, index: &str, query: Value) -> Vec<Value> {
    es_call("POST", &format!("{}/{index}/_refresh", es.url), None);
    let (_, v) = es_call("POST", &format!("{}/{index}/_search", es.url), Some(&query));
    v["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Against the real node.

/// The reference pipeline's outputs: every event in `logs-<service>-<its own UTC day>`, the ones
/// tagged `error` also in `errors-<day>`; the index template for each family is installed first.
#[test]
fn reference_outputs_write_daily_indices_from_each_events_timestamp() {
    let es = es();
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{
             elasticsearch {{ hosts => ["{url}"] index => "logs-%{{[fields][service]}}-%{{+YYYY.MM.dd}}" }}
             if "error" in [tags] {{
               elasticsearch {{ hosts => ["{url}"] index => "errors-%{{+YYYY.MM.dd}}" }}
             }}
           }}"#,
        url = es.url
    );
    let events = [
        json!({"@timestamp": "2024-05-01T10:00:00Z", "fields": {"service": "apache"}, "message": "GET /a", "@metadata": {"secret": "x"}}),
        json!({"@timestamp": "2024-05-01T23:59:59.999Z", "fields": {"service": "apache"}, "message": "GET /b", "tags": ["error"]}),
        json!({"@timestamp": "2024-05-02T00:00:00.000Z", "fields": {"service": "apache"}, "message": "GET /c", "status": "200"}),
        // 01:30 at +02:00 is still the 1st of May in UTC.
        json!({"@timestamp": "2024-05-02T01:30:00+02:00", "fields": {"service": "nginx"}, "message": "x", "tags": ["error"]}),
    ];
    run_stdin(&config, data.path(), &events);

    assert_eq!(count(es, "logs-apache-2024.05.01"), 2);
    assert_eq!(count(es, "logs-apache-2024.05.02"), 1);
    assert_eq!(count(es, "logs-nginx-2024.05.01"), 1);
    assert_eq!(count(es, "errors-2024.05.01"), 2);
    let errors: Vec<String> = search(es, "errors-2024.05.01", json!({"sort": ["@timestamp"]}))
        .iter()
        .map(|h| h["_source"]["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors, vec!["x", "GET /b"]);
    let first = &search(es, "logs-apache-2024.05.01", json!({"sort": ["@timestamp"]}))[0]["_source"];
    assert_eq!(first["@timestamp"], "2024-05-01T10:00:00.000Z");
    assert!(first.get("@metadata").is_none(), "@metadata is never sent: {first}");

    // The composable templates, one per index family, and the mappings they gave.
    let (status, t) = es_call("GET", &format!("{}/_index_template/sluice-logs", es.url), None);
    assert_eq!(status, 200, "{t}");
    let t = &t["index_templates"][0]["index_template"];
    assert_eq!(t["index_patterns"], json!(["logs-*"]));
    assert_eq!(es_call("GET", &format!("{}/_index_template/sluice-errors", es.url), None).0, 200);
    let (_, m) = es_call("GET", &format!("{}/logs-apache-2024.05.02/_mapping", es.url), None);
    let props = &m["logs-apache-2024.05.02"]["mappings"]["properties"];
    assert_eq!(props["@timestamp"]["type"], "date");
    assert_eq!(props["message"]["type"], "text");
    assert_eq!(props["status"]["type"], "text");
    assert_eq!(props["status"]["fields"]["keyword"]["type"], "keyword");
    assert_eq!(props["fields"]["properties"]["service"]["fields"]["keyword"]["type"], "keyword");
    // With ILM the template names the policy; this minimal distribution has none, and the
    // template is installed without it.
    let (ilm_status, _) = es_call("GET", &format!("{}/_ilm/policy", es.url), None);
    let lifecycle = &t["template"]["settings"]["index"]["lifecycle"]["name"];
    if ilm_status == 200 {
        assert_eq!(lifecycle, "sluice-logs");
    } else {
        assert!(lifecycle.is_null(), "{t}");
    }
}

/// `create` with a document id: an id sent again is a duplicate (409), counted and not retried
/// nor dead-lettered; routing and the ingest pipeline travel with each action.
#[test]
fn create_with_document_id_counts_duplicates_and_routes() {
    let es = es();
    let (s, v) = es_call("PUT", &format!("{}/_ingest/pipeline/t-create-pipe", es.url), Some(&json!({"description": "test", "processors": []})));
    assert_eq!(s, 200, "{v}");
    let data = temp_dir();
    let output = format!(
        r#"elasticsearch {{ id => "es_create" hosts => ["{}"] index => "t-create" action => "create" document_id => "%{{id}}"
                            routing => "%{{user}}" pipeline => "t-create-pipe" manage_template => false }}"#,
        es.url
    );
    let config = format!("input {{ stdin {{ codec => json_lines }} }} output {{ {output} }}");
    let events = [
        json!({"id": "a", "user": "u1", "message": "first a"}),
        json!({"id": "b", "user": "u2", "message": "b"}),
        json!({"id": "a", "user": "u1", "message": "second a"}),
        json!({"id": "c", "user": "u1", "message": "c"}),
    ];
    run_stdin(&config, data.path(), &events);
    assert_eq!(count(es, "t-create"), 3);

    // A second run, watched through the metrics API: one more duplicate, one new document.
    let port = free_port();
    let api = free_port();
    let config = format!("input {{ tcp {{ port => {port} host => \"127.0.0.1\" codec => json_lines }} }} output {{ {output} }}");
    let mut child = Running::spawn(
        sluice()
            .args(["-e", &config, "--path.data", data.path().to_str().unwrap(), "--api.http.port", &api.to_string(), "-w", "1"])
            .stderr(Stdio::null()),
    );
    wait_listening(port, Duration::from_secs(30));
    wait_listening(api, Duration::from_secs(30));
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writeln!(s, "{}", json!({"id": "a", "user": "u1", "message": "third a"})).unwrap();
        writeln!(s, "{}", json!({"id": "d", "user": "u3", "message": "d"})).unwrap();
    }
    let labels = "pipeline=\"main\",plugin_id=\"es_create\"";
    eventually(Duration::from_secs(30), "both events delivered", || {
        sample(&http_get(api, "/metrics"), &format!("sluice_plugin_events_out_total{{{labels},plugin=\"elasticsearch\",kind=\"output\"}}"))
            == Some(2.0)
    });
    let metrics = http_get(api, "/metrics");
    assert_eq!(
        sample(&metrics, &format!("sluice_plugin_failures_total{{{labels},plugin=\"elasticsearch\",kind=\"output\",reason=\"duplicate\"}}")),
        Some(1.0),
        "{metrics}"
    );
    assert!(sample(&metrics, &format!("sluice_output_requests_total{{{labels},status=\"200\"}}")).unwrap_or(0.0) >= 1.0, "{metrics}");
    assert_eq!(sample(&metrics, &format!("sluice_dead_letter_events_total{{{labels}}}")), Some(0.0), "{metrics}");
    assert!(child.stop());

    assert_eq!(count(es, "t-create"), 4);
    // The first `create` of `a` won; it lives on the shard its routing chose.
    let (status, doc) = es_call("GET", &format!("{}/t-create/_doc/a?routing=u1", es.url), None);
    assert_eq!(status, 200);
    assert_eq!(doc["_source"]["message"], "first a");
    assert_eq!(doc["_routing"], "u1");
    let (_, doc) = es_call("GET", &format!("{}/t-create/_doc/d?routing=u3", es.url), None);
    assert_eq!(doc["_routing"], "u3");
    // The documents went through the ingest pipeline (one without processors counts bytes, not
    // documents); a pipeline that does not exist is a dead letter (see the test below).
    let (_, stats) = es_call("GET", &format!("{}/_nodes/stats/ingest", es.url), None);
    let node = stats["nodes"].as_object().unwrap().values().next().unwrap();
    let pipe = &node["ingest"]["pipelines"]["t-create-pipe"];
    assert!(pipe["ingested_as_first_pipeline_in_bytes"].as_u64().unwrap_or(0) > 0, "{pipe}");
    assert!(dlq_entries(data.path()).is_empty(), "duplicates are not dead letters");
}

fn wait_output_of(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "sluice did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A document the index cannot take (a mapping conflict, an invalid index name, a missing
/// ingest pipeline) goes to the dead letter queue with Elasticsearch's reason, the rest is
/// indexed; the `dead_letter_queue` input then replays it with the reason in `@metadata`, and
/// after a restart does not replay it again.
#[test]
fn rejected_documents_go_to_the_dead_letter_queue_and_are_replayed() {
    let es = es();
    let (s, v) = es_call("PUT", &format!("{}/t-dlq", es.url), Some(&json!({"mappings": {"properties": {"n": {"type": "long"}}}})));
    assert_eq!(s, 200, "{v}");
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{ elasticsearch {{ id => "es_dlq" hosts => ["{}"] index => "%{{[@metadata][ix]}}" pipeline => "%{{[@metadata][pipe]}}" }} }}"#,
        es.url
    );
    let events = [
        json!({"n": 1, "k": "ok1", "@metadata": {"ix": "t-dlq", "pipe": ""}}),
        json!({"n": "abc", "k": "conflict", "@metadata": {"ix": "t-dlq", "pipe": ""}}),
        json!({"n": 2, "k": "bad-index", "@metadata": {"ix": "T-DLQ-Upper", "pipe": ""}}),
        json!({"n": 3, "k": "no-pipeline", "@metadata": {"ix": "t-dlq", "pipe": "t-no-such-pipeline"}}),
        json!({"n": 4, "k": "ok2", "@metadata": {"ix": "t-dlq", "pipe": ""}}),
    ];
    let out = run_stdin(&config, data.path(), &events);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no index template installed") || stderr.contains("dead letter"), "{stderr}");
    assert_eq!(count(es, "t-dlq"), 2);

    let entries = dlq_entries(data.path());
    let by_key = |k: &str| entries.iter().find(|e| e["event"]["k"] == k).unwrap_or_else(|| panic!("no entry for {k}: {entries:?}"));
    assert_eq!(entries.len(), 3, "{entries:?}");
    let conflict = by_key("conflict");
    let reason = conflict["reason"].as_str().unwrap();
    assert!(reason.contains("status: 400") && reason.contains("failed to parse field [n]"), "{reason}");
    assert_eq!(conflict["plugin_id"], "es_dlq");
    assert_eq!(conflict["plugin_type"], "elasticsearch");
    assert_eq!(conflict["event"]["n"], "abc");
    assert_eq!(conflict["event"]["@metadata"]["ix"], "t-dlq");
    assert!(conflict["entry_time"].as_str().unwrap().ends_with('Z'));
    assert!(by_key("bad-index")["reason"].as_str().unwrap().contains("invalid_index_name_exception"));
    assert!(by_key("no-pipeline")["reason"].as_str().unwrap().contains("t-no-such-pipeline"));

    // Replay: fix the field and index the events elsewhere, keeping why they were rejected.
    let replay_data = temp_dir();
    let replay = format!(
        r#"input {{ dead_letter_queue {{ path => "{dlq}" pipeline_id => "main" }} }}
           filter {{ mutate {{
             rename => {{ "n" => "n_text" }}
             add_field => {{ "dlq_reason" => "%{{[@metadata][dead_letter_queue][reason]}}"
                             "dlq_plugin" => "%{{[@metadata][dead_letter_queue][plugin_id]}}" }}
           }} }}
           output {{ elasticsearch {{ hosts => ["{url}"] index => "t-dlq-replayed" manage_template => false }} }}"#,
        dlq = data.path().join("dead_letter_queue").display(),
        url = es.url
    );
    let start_replay = || {
        let api = free_port();
        let child = Running::spawn(
            sluice()
                .args(["-e", &replay, "--path.data", replay_data.path().to_str().unwrap(), "--api.http.port", &api.to_string()])
                .stderr(Stdio::null()),
        );
        wait_listening(api, Duration::from_secs(30));
        child
    };
    let mut child = start_replay();
    eventually(Duration::from_secs(30), "three replayed documents", || try_count(es, "t-dlq-replayed") == Ok(3));
    let offset = replay_data.path().join("plugins/inputs/dead_letter_queue/main/offset.json");
    eventually(Duration::from_secs(10), "offset committed", || offset.exists());
    assert!(child.stop());
    let hits = search(es, "t-dlq-replayed", json!({"query": {"term": {"k.keyword": "conflict"}}}));
    assert_eq!(hits.len(), 1);
    let doc = &hits[0]["_source"];
    assert_eq!(doc["n_text"], "abc");
    assert_eq!(doc["dlq_plugin"], "es_dlq");
    assert!(doc["dlq_reason"].as_str().unwrap().contains("failed to parse field [n]"), "{doc}");

    // Restarted, it starts after what it committed: nothing is replayed twice.
    let mut child = start_replay();
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.stop());
    assert_eq!(count(es, "t-dlq-replayed"), 3);
}

/// Elasticsearch stopped for a minute in the middle of a run, then started again on the same
/// data: every event arrives, each exactly once.
#[test]
fn a_node_stopped_for_a_minute_loses_nothing() {
    let es = EsNode::start();
    let data = temp_dir();
    let port = free_port();
    let api = free_port();
    let total: u64 = 20_000;
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
           output {{ elasticsearch {{ hosts => ["{}"] index => "t-outage" document_id => "%{{seq}}"
                                      retry_max_interval => 8 resurrect_delay => 1 }} }}"#,
        es.url
    );
    let mut child = Running::spawn(
        sluice().args(["-e", &config, "--path.data", data.path().to_str().unwrap(), "--api.http.port", &api.to_string()]).stderr(Stdio::null()),
    );
    wait_listening(port, Duration::from_secs(30));
    // A steady feed over about 40 s; it blocks while sluice applies backpressure.
    let feeder = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for seq in 0..total {
            writeln!(s, "{}", json!({"seq": seq, "message": format!("event {seq}")})).unwrap();
            if seq % 100 == 99 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    eventually(Duration::from_secs(60), "some events indexed", || try_count(&es, "t-outage").unwrap_or(0) > 1000);
    let before_stop = count(&es, "t-outage");
    es.script("kill");
    std::thread::sleep(Duration::from_secs(60));
    es.script("restart");
    feeder.join().unwrap();
    eventually(Duration::from_secs(180), "every event indexed", || try_count(&es, "t-outage").unwrap_or(0) >= total);
    assert!(child.stop());
    assert_eq!(count(&es, "t-outage"), total, "{before_stop} were indexed before the stop");
    // Ids are the sequence numbers: `total` documents with ids in 0..total is each exactly once.
    let (_, v) = es_call(
        "POST",
        &format!("{}/t-outage/_search", es.url),
        Some(&json!({"size": 0, "aggs": {"lo": {"min": {"field": "seq"}}, "hi": {"max": {"field": "seq"}}}})),
    );
    assert_eq!(v["aggregations"]["lo"]["value"], 0.0);
    assert_eq!(v["aggregations"]["hi"]["value"], (total - 1) as f64);
    es.script("stop");
}

/// `-t` rejects what cannot work, before anything runs.
#[test]
fn bad_options_are_config_errors() {
    let check = |output: &str| {
        let out = sluice().args(["-t", "-e", &format!("input {{ stdin {{}} }} output {{ elasticsearch {{ {output} }} }}")]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (code, text) = check(r#"hots => ["x:9200"]"#);
    assert_eq!(code, Some(1));
    assert!(text.contains("unknown option `hots`") && text.contains("did you mean `hosts`"), "{text}");
    let (code, text) = check(r#"action => "upsert""#);
    assert_eq!(code, Some(1));
    assert!(text.contains("`upsert` is not a valid action"), "{text}");
    let (_, text) = check(r#"action => "update""#);
    assert!(text.contains("needs the option `document_id`"), "{text}");
    let (_, text) = check(r#"dlq_custom_codes => [201]"#);
    assert!(text.contains("status 201 cannot go to the dead letter queue"), "{text}");
    let (_, text) = check(r#"api_key => "id:key""#);
    assert!(text.contains("`api_key` needs TLS"), "{text}");
    let (_, text) = check(r#"retry_initial_interval => 10 retry_max_interval => 5"#);
    assert!(text.contains("retry_max_interval (5) is shorter"), "{text}");
    let (_, text) = check(r#"ssl_verification_mode => "ful""#);
    assert!(text.contains("did you mean `full`"), "{text}");
    let (_, text) = check(r#"hosts => ["ftp://es:21"]"#);
    assert!(text.contains("not http or https"), "{text}");
    let (code, text) = check(
        r#"hosts => ["https://es:9243"] user => "u" password => "p" ssl_verification_mode => "none" index => "a-%{+YYYY}" action => "%{op}" document_id => "%{id}" compression_level => 0"#,
    );
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = check(r#"index => "%{[@metadata][ix]}""#);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no index template installed"), "a warning, not an error: {text}");
}

// ---------------------------------------------------------------------------------------------
// Fault injection: a server speaking just enough HTTP to play Elasticsearch badly.

mod fake {
    pub use super::common::fake_http::*;

    /// The documents of a bulk body, read with a plain line parser: (action line, source line).
    pub fn items(body: &[u8]) -> Vec<(serde_json::Value, serde_json::Value)> {
        let text = String::from_utf8_lossy(body);
        let lines: Vec<&str> = text.lines().collect();
        lines.chunks(2).map(|p| (serde_json::from_str(p[0]).unwrap(), serde_json::from_str(p[1]).unwrap())).collect()
    }

    /// A bulk answer with these item statuses.
    pub fn answer(statuses: &[u16]) -> String {
        let items: Vec<serde_json::Value> = statuses
            .iter()
            .map(|s| {
                if *s < 300 {
                    serde_json::json!({"index": {"_index": "x", "status": s}})
                } else {
                    serde_json::json!({"index": {"_index": "x", "status": s, "error": {"type": "test_exception", "reason": format!("status {s}")}}})
                }
            })
            .collect();
        serde_json::json!({"took": 1, "errors": statuses.iter().any(|s| *s >= 300), "items": items}).to_string()
    }

    /// All items accepted.
    pub fn accept_all(r: &Request) -> Reply {
        if !r.path.starts_with("/_bulk") {
            return Reply::Json(200, "{}".into());
        }
        Reply::Json(200, answer(&vec![201; items(&r.body).len()]))
    }
}

fn fault_config(hosts: &str, extra: &str) -> String {
    format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{ elasticsearch {{ hosts => [{hosts}] index => "t" manage_template => false compression_level => 0
                                      retry_initial_interval => 1 retry_max_interval => 2 {extra} }} }}"#
    )
}

fn seq_events(n: u64) -> Vec<Value> {
    (0..n).map(|i| json!({"seq": i})).collect()
}

fn seqs(body: &[u8]) -> Vec<u64> {
    fake::items(body).iter().map(|(_, doc)| doc["seq"].as_u64().unwrap()).collect()
}

/// A bulk answered 429 for some items: only those items are sent again, and every event is
/// delivered exactly once.
#[test]
fn items_answered_429_and_only_those_are_resent() {
    let server = fake::serve(
        free_port(),
        "/_bulk",
        Box::new(|r, bulks_before| {
            if !r.path.starts_with("/_bulk") {
                return fake::Reply::Json(200, "{}".into());
            }
            let n = fake::items(&r.body).len();
            if bulks_before == 0 {
                // Odd positions are rejected as "too many requests", one is a server error.
                let statuses: Vec<u16> = (0..n)
                    .map(|i| {
                        if i == 1 {
                            503
                        } else if i % 2 == 1 {
                            429
                        } else {
                            201
                        }
                    })
                    .collect();
                fake::Reply::Json(200, fake::answer(&statuses))
            } else {
                fake::Reply::Json(200, fake::answer(&vec![201; n]))
            }
        }),
    );
    let data = temp_dir();
    run_stdin(&fault_config(&format!("\"127.0.0.1:{}\"", server.port), ""), data.path(), &seq_events(10));
    let bulks = server.counted();
    assert_eq!(bulks.len(), 2, "one retry round");
    assert_eq!(seqs(&bulks[0].body), (0..10).collect::<Vec<_>>());
    assert_eq!(seqs(&bulks[1].body), vec![1, 3, 5, 7, 9]);
    // The resent items are byte for byte what was first sent for them.
    let first: Vec<String> = String::from_utf8_lossy(&bulks[0].body).lines().map(String::from).collect();
    let again: Vec<String> = String::from_utf8_lossy(&bulks[1].body).lines().map(String::from).collect();
    let odd: Vec<String> = first.chunks(2).enumerate().filter(|(i, _)| i % 2 == 1).flat_map(|(_, p)| p.to_vec()).collect();
    assert_eq!(again, odd);
    assert!(dlq_entries(data.path()).is_empty());
}

/// The connection drops in the middle of a bulk request: the whole request is sent again and
/// nothing is lost or sent more than that once more.
#[test]
fn a_connection_dropped_mid_bulk_is_retried_whole() {
    let server = fake::serve(
        free_port(),
        "/_bulk",
        Box::new(|r, bulks_before| {
            if r.path.starts_with("/_bulk") && bulks_before == 0 {
                return fake::Reply::DropMidBody;
            }
            fake::accept_all(r)
        }),
    );
    let data = temp_dir();
    // Large enough that half the body is a real cut.
    let events: Vec<Value> = (0..200).map(|i| json!({"seq": i, "pad": "x".repeat(500)})).collect();
    run_stdin(&fault_config(&format!("\"127.0.0.1:{}\"", server.port), ""), data.path(), &events);
    let requests = server.requests.lock().unwrap().clone();
    let dropped = requests.iter().filter(|r| r.path.ends_with("(dropped)")).count();
    assert_eq!(dropped, 1, "{:?}", requests.iter().map(|r| &r.path).collect::<Vec<_>>());
    let delivered: Vec<u64> = server.counted().iter().flat_map(|b| seqs(&b.body)).collect();
    assert_eq!(delivered, (0..200).collect::<Vec<_>>(), "each event accepted exactly once");
}

/// An answer slower than `timeout` is given up on and the request sent again; a slow answer
/// within it is waited for.
#[test]
fn slow_answers_are_waited_for_or_retried_after_the_timeout() {
    let server = fake::serve(
        free_port(),
        "/_bulk",
        Box::new(|r, bulks_before| {
            if !r.path.starts_with("/_bulk") {
                return fake::Reply::Json(200, "{}".into());
            }
            let n = fake::items(&r.body).len();
            let delay = if bulks_before == 0 { Duration::from_secs(4) } else { Duration::from_millis(1500) };
            fake::Reply::After(delay, 200, fake::answer(&vec![201; n]))
        }),
    );
    let data = temp_dir();
    let started = Instant::now();
    run_stdin(&fault_config(&format!("\"127.0.0.1:{}\"", server.port), "timeout => 2"), data.path(), &seq_events(5));
    let bulks = server.counted();
    assert_eq!(bulks.len(), 2, "the timed-out request and its retry");
    assert_eq!(seqs(&bulks[1].body), vec![0, 1, 2, 3, 4]);
    assert!(started.elapsed() >= Duration::from_millis(3500));
}

/// A dead host in `hosts` is skipped for a live one at once; once it answers its health check
/// (`GET /`) it takes requests again.
#[test]
fn a_dead_host_fails_over_and_comes_back_after_its_health_check() {
    let dead_port = free_port();
    let live = fake::serve(free_port(), "/_bulk", Box::new(|r, _| fake::accept_all(r)));
    let data = temp_dir();
    let port = free_port();
    let api = free_port();
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
           output {{ elasticsearch {{ hosts => ["127.0.0.1:{dead_port}", "127.0.0.1:{}"] index => "t" manage_template => false
                                      compression_level => 0 resurrect_delay => 1 }} }}"#,
        live.port
    );
    let mut child = Running::spawn(
        sluice()
            .args(["-e", &config, "--path.data", data.path().to_str().unwrap(), "--api.http.port", &api.to_string(), "-w", "1", "-b", "10"])
            .stderr(Stdio::null()),
    );
    wait_listening(port, Duration::from_secs(30));
    let mut feed = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..20 {
        writeln!(feed, "{}", json!({"seq": i})).unwrap();
    }
    let started = Instant::now();
    eventually(Duration::from_secs(20), "the first events delivered to the live host", || {
        live.counted().iter().map(|b| seqs(&b.body).len()).sum::<usize>() == 20
    });
    assert!(started.elapsed() < Duration::from_secs(5), "failover is immediate, not after a retry wait");

    // The dead host comes back: it is health-checked, then used again.
    let revived = fake::serve(dead_port, "/_bulk", Box::new(|r, _| fake::accept_all(r)));
    eventually(Duration::from_secs(20), "health check on the revived host", || !revived.requests.lock().unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..20 {
        for i in 0..5 {
            writeln!(feed, "{}", json!({"seq": 100 + round * 5 + i})).unwrap();
        }
        feed.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    eventually(Duration::from_secs(20), "every event delivered", || {
        live.counted().iter().chain(revived.counted().iter()).map(|b| seqs(&b.body).len()).sum::<usize>() == 120
    });
    let revived_requests = revived.requests.lock().unwrap().clone();
    assert_eq!((revived_requests[0].method.as_str(), revived_requests[0].path.as_str()), ("GET", "/"), "health check first");
    assert!(!revived.counted().is_empty(), "the revived host takes bulk requests again");
    assert!(child.stop());
    let mut all: Vec<u64> = live.counted().iter().chain(revived.counted().iter()).flat_map(|b| seqs(&b.body)).collect();
    all.sort_unstable();
    let expected: Vec<u64> = (0..20).chain(100..200).collect();
    assert_eq!(all, expected);
}

/// A whole request answered 503 is sent again whole; one answered 413 (larger than the
/// cluster's `http.max_content_length`) is split until the parts fit. Each event is accepted once.
#[test]
fn whole_request_503_is_resent_and_413_is_split() {
    let server = fake::serve(
        free_port(),
        "/_bulk",
        Box::new(|r, bulks_before| {
            if !r.path.starts_with("/_bulk") {
                return fake::Reply::Json(200, "{}".into());
            }
            let n = fake::items(&r.body).len();
            if bulks_before == 0 {
                fake::Reply::Json(503, r#"{"error":{"type":"cluster_block_exception"},"status":503}"#.into())
            } else if n > 3 {
                fake::Reply::Json(413, String::new())
            } else {
                fake::Reply::Json(200, fake::answer(&vec![201; n]))
            }
        }),
    );
    let data = temp_dir();
    run_stdin(&fault_config(&format!("\"127.0.0.1:{}\"", server.port), ""), data.path(), &seq_events(10));
    let bulks = server.counted();
    assert_eq!(seqs(&bulks[0].body), (0..10).collect::<Vec<_>>());
    assert_eq!(seqs(&bulks[1].body), (0..10).collect::<Vec<_>>(), "the 503 request is resent whole");
    let accepted: Vec<u64> = bulks.iter().filter(|b| fake::items(&b.body).len() <= 3).flat_map(|b| seqs(&b.body)).collect();
    assert_eq!(accepted, (0..10).collect::<Vec<_>>());
    assert!(dlq_entries(data.path()).is_empty());
}

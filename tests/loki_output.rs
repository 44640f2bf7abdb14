//! The `loki` output, through the real binary.
//!
//! Against a real Loki (3.7, built from its Go module and started by `tests/peers/loki.sh`,
//! shared by the tests of this file, each test in a tenant of its own): label sets to streams,
//! the three line formats, tenants kept apart, structured metadata, both body encodings, and Loki
//! stopped for a minute in the middle of a run. Against small in-process servers: 429 with
//! `Retry-After`, 500, a connection dropped in the middle of a push, 400 (not retried, dead
//! lettered), and the exact push body, decoded here with a protobuf reader of the test's own.
//! Expectations come from Loki's answers to LogQL queries (read with curl) or from decoding the
//! received bodies here, never from sluice's code.

mod common;
use common::fake_http as fake;
use common::loki::LokiNode;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A real Loki.

/// The Loki the tests share (each in its own tenant).
fn loki() -> &'static LokiNode {
    static NODE: OnceLock<LokiNode> = OnceLock::new();
    NODE.get_or_init(LokiNode::start)
}

/// A tenant no other test (nor an earlier run against the same Loki) uses.
fn tenant(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), fastrand_suffix())
}

fn fastrand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
}

/// Start sluice with a tcp json_lines input and `output`, watched through its metrics API;
/// returns it with the input's port and the API's port, both listening.
fn spawn_tcp(output: &str, data: &Path, args: &[&str], stderr: Stdio) -> (std::process::Child, u16, u16) {
    let port = free_port();
    let api = free_port();
    let config = format!(r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }} output {{ {output} }}"#);
    let child = sluice()
        .args(["-e", &config, "--path.data", data.to_str().unwrap(), "--api.http.port", &api.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    wait_listening(port, Duration::from_secs(30));
    wait_listening(api, Duration::from_secs(30));
    (child, port, api)
}

fn now_iso(offset_ms: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::milliseconds(offset_ms)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A plain logfmt reader: `k=v` and `k="quoted \" value"` pairs.
fn parse_logfmt(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        i += 1;
        let mut value = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                    value.push(match chars[i] {
                        'n' => '\n',
                        't' => '\t',
                        c => c,
                    });
                } else {
                    value.push(chars[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < chars.len() && chars[i] != ' ' {
                value.push(chars[i]);
                i += 1;
            }
        }
        out.insert(key, value);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Against the real Loki.

/// Label templates choose each event's stream: every event is found, exactly once, in the
/// stream its own field values name; an event without a label's field lands in a stream
/// without that label.
#[test]
fn events_land_in_the_streams_their_labels_name_each_exactly_once() {
    let loki = loki();
    let t = tenant("streams");
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{ loki {{ url => "{}" tenant_id => "{t}"
                             labels => {{ "service" => "%{{[fields][service]}}" "host" => "%{{[host][name]}}" "job" => "streams" }} }} }}"#,
        loki.push_url()
    );
    let mut events = Vec::new();
    let mut expected: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for i in 0..60 {
        let (service, host) = (format!("svc{}", i % 3), format!("h{}", i % 2));
        let id = format!("id-{i:03}");
        events.push(json!({"@timestamp": now_iso(i), "fields": {"service": service}, "host": {"name": host}, "message": format!("event {id}")}));
        expected.entry((service, host)).or_default().insert(id);
    }
    events.push(json!({"@timestamp": now_iso(0), "fields": {"service": "svc0"}, "message": "event id-nohost"}));
    run_stdin(&config, data.path(), &events);

    let all = loki.lines(&t, r#"{job="streams"}"#, 61);
    assert_eq!(all.len(), 61, "{all:?}");
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 61, "no line twice");
    for ((service, host), ids) in &expected {
        let found = loki.query(&t, &format!(r#"{{job="streams", service="{service}", host="{host}"}}"#));
        assert_eq!(found.len(), 1, "one stream for {service}/{host}");
        let (labels, values) = &found[0];
        assert_eq!(labels.get("service"), Some(service));
        assert_eq!(labels.get("host"), Some(host));
        let got: BTreeSet<String> = values.iter().map(|(_, l)| l.trim_start_matches("event ").to_string()).collect();
        assert_eq!(&got, ids, "{service}/{host}");
        assert_eq!(values.len(), ids.len());
    }
    let nohost = loki.query(&t, r#"{job="streams", service="svc0", host=""}"#);
    assert_eq!(nohost.len(), 1);
    assert_eq!(nohost[0].1.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), vec!["event id-nohost"]);
    assert!(!nohost[0].0.contains_key("host"), "{:?}", nohost[0].0);
}

/// `format => "json"` sends the whole event as JSON and `format => "logfmt"` as key=value pairs;
/// both read back, parsed here, to the fields that were sent. The entry's timestamp is the
/// event's `@timestamp`.
#[test]
fn json_and_logfmt_lines_read_back_to_the_events_fields() {
    let loki = loki();
    let t = tenant("formats");
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{
             loki {{ url => "{url}" tenant_id => "{t}" labels => {{ "fmt" => "json" }} format => "json" }}
             loki {{ url => "{url}" tenant_id => "{t}" labels => {{ "fmt" => "logfmt" }} format => "logfmt" }}
             loki {{ url => "{url}" tenant_id => "{t}" labels => {{ "fmt" => "message" }} message_field => "[log][text]" }}
           }}"#,
        url = loki.push_url()
    );
    let ts = now_iso(-1000);
    let event = json!({"@timestamp": ts, "user": {"name": "ann lee", "id": 7}, "status": "ok", "quote": "say \"hi\"", "log": {"text": "raw line = as is"}});
    run_stdin(&config, data.path(), &[event]);
    let want_ns = chrono::DateTime::parse_from_rfc3339(&ts).unwrap().timestamp_nanos_opt().unwrap();

    assert_eq!(loki.lines(&t, r#"{fmt="json"}"#, 1).len(), 1);
    let json_streams = loki.query(&t, r#"{fmt="json"}"#);
    assert_eq!(json_streams.len(), 1);
    let (entry_ts, line) = &json_streams[0].1[0];
    assert_eq!(*entry_ts, want_ns);
    let parsed: Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["user"], json!({"name": "ann lee", "id": 7}));
    assert_eq!(parsed["quote"], "say \"hi\"");
    assert_eq!(parsed["@timestamp"], ts.as_str());

    let lf = loki.lines(&t, r#"{fmt="logfmt"}"#, 1);
    assert_eq!(lf.len(), 1);
    let pairs = parse_logfmt(&lf[0]);
    assert_eq!(pairs.get("user.name").map(String::as_str), Some("ann lee"), "{}", lf[0]);
    assert_eq!(pairs.get("user.id").map(String::as_str), Some("7"));
    assert_eq!(pairs.get("status").map(String::as_str), Some("ok"));
    assert_eq!(pairs.get("quote").map(String::as_str), Some("say \"hi\""));
    assert_eq!(pairs.get("log.text").map(String::as_str), Some("raw line = as is"));
    assert!(!pairs.contains_key("@timestamp"), "the entry carries the timestamp: {}", lf[0]);

    assert_eq!(loki.lines(&t, r#"{fmt="message"}"#, 1), vec!["raw line = as is"]);
}

/// Events sent with `tenant_id` are found by that tenant only; structured metadata travels with
/// each entry (Loki 3) and can be filtered on without being a stream label.
#[test]
fn tenants_are_kept_apart_and_structured_metadata_is_queryable() {
    let loki = loki();
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{ loki {{ url => "{}" tenant_id => "{a}" labels => {{ "job" => "sm" }}
                             structured_metadata => {{ "trace_id" => "%{{trace_id}}" }} }} }}"#,
        loki.push_url()
    );
    let events: Vec<Value> = (0..5).map(|i| json!({"@timestamp": now_iso(i), "trace_id": format!("trace-{i}"), "message": format!("m{i}")})).collect();
    run_stdin(&config, data.path(), &events);

    assert_eq!(loki.lines(&a, r#"{job="sm"}"#, 5).len(), 5);
    assert!(loki.query(&b, r#"{job="sm"}"#).is_empty(), "another tenant sees nothing");
    let hit = loki.query(&a, r#"{job="sm"} | trace_id="trace-3""#);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert_eq!(hit[0].1.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), vec!["m3"]);
    // Without the categorize flag Loki shows structured metadata with the labels of the result.
    assert_eq!(hit[0].0.get("trace_id").map(String::as_str), Some("trace-3"));
    // It is not a stream label: the series API knows only `job`.
    let out = Command::new("curl")
        .args(["-s", "-G", &format!("http://127.0.0.1:{}/loki/api/v1/labels", loki.port), "-H", &format!("X-Scope-OrgID: {a}")])
        .output()
        .unwrap();
    let labels: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!labels["data"].as_array().unwrap().iter().any(|l| l == "trace_id"), "{labels}");
}

/// Protobuf (snappy) and JSON push bodies are both accepted, with structured metadata in each.
#[test]
fn protobuf_and_json_encodings_are_both_accepted() {
    let loki = loki();
    let t = tenant("enc");
    let data = temp_dir();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{
             loki {{ url => "{url}" tenant_id => "{t}" labels => {{ "enc" => "protobuf" }} structured_metadata => {{ "k" => "%{{k}}" }} }}
             loki {{ url => "{url}" tenant_id => "{t}" labels => {{ "enc" => "json" }} encoding => "json" structured_metadata => {{ "k" => "%{{k}}" }} }}
           }}"#,
        url = loki.push_url()
    );
    let events: Vec<Value> = (0..20).map(|i| json!({"@timestamp": now_iso(i), "k": format!("v{}", i % 2), "message": format!("line {i}")})).collect();
    run_stdin(&config, data.path(), &events);
    for enc in ["protobuf", "json"] {
        let lines = loki.lines(&t, &format!(r#"{{enc="{enc}"}}"#), 20);
        let expected: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, expected, "{enc}: every line, in time order");
        assert_eq!(loki.lines(&t, &format!(r#"{{enc="{enc}"}} | k="v1""#), 10).len(), 10, "{enc}: metadata");
    }
}

/// `sluice -t` warns about a label that likely makes a stream per event, without failing.
#[test]
fn config_test_warns_about_high_cardinality_labels() {
    let out = sluice()
        .args(["-t", "-e", r#"input { stdin {} } output { loki { url => "http://127.0.0.1:1/loki/api/v1/push" labels => { "rid" => "%{request_id}" } } }"#])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("`rid`") && text.contains("request_id"), "{text}");
    let bad = sluice().args(["-t", "-e", r#"input { stdin {} } output { loki { url => "http://x" labels => { "a-b" => "x" } } }"#]).output().unwrap();
    assert_ne!(bad.status.code(), Some(0));
    let unknown = sluice().args(["-t", "-e", r#"input { stdin {} } output { loki { url => "http://x" batch_sise => 10 } }"#]).output().unwrap();
    assert_ne!(unknown.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("batch_size"), "did you mean");
}

/// Loki stopped for a minute in the middle of a run of 20,000 events, then started again on the
/// same data: every event is found, each exactly once.
#[test]
fn loki_stopped_for_a_minute_loses_nothing() {
    let loki = LokiNode::start();
    let t = tenant("outage");
    let data = temp_dir();
    let total: u64 = 20_000;
    let output = format!(
        r#"loki {{ url => "{}" tenant_id => "{t}" labels => {{ "job" => "outage" "part" => "%{{part}}" }} retry_max_interval => 4 }}"#,
        loki.push_url()
    );
    let log = std::fs::File::create(data.path().join("sluice.log")).unwrap();
    let (mut child, port, _) = spawn_tcp(&output, data.path(), &[], log.into());
    let feeder = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for seq in 0..total {
            writeln!(s, "{}", json!({"seq": seq, "part": seq % 4, "message": format!("event {seq}")})).unwrap();
            if seq % 100 == 99 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    eventually(Duration::from_secs(60), "some events stored", || loki.query(&t, r#"{job="outage"}"#).iter().map(|s| s.1.len()).sum::<usize>() > 1000);
    loki.peer.script("kill");
    std::thread::sleep(Duration::from_secs(60));
    loki.peer.script("restart");
    feeder.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut lines;
    loop {
        lines = loki.lines(&t, r#"{job="outage"}"#, total as usize);
        if lines.len() >= total as usize || Instant::now() > deadline {
            break;
        }
    }
    signal(&child, "TERM");
    let _ = child.wait();
    let mut seqs: Vec<u64> = lines.iter().map(|l| l.trim_start_matches("event ").parse().unwrap()).collect();
    seqs.sort_unstable();
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "no event twice");
    let found: BTreeSet<u64> = seqs.into_iter().collect();
    let missing: Vec<u64> = (0..total).filter(|s| !found.contains(s)).collect();
    let log = std::fs::read_to_string(data.path().join("sluice.log")).unwrap_or_default();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).take(8).collect();
    assert!(
        missing.is_empty(),
        "{} of {total} events missing, the first: {:?}; sluice said: {warnings:#?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

// ---------------------------------------------------------------------------------------------
// Fault injection.

const PUSH: &str = "/loki/api/v1/push";

/// A plain protobuf reader for Loki's PushRequest: (labels, [(ns, line, metadata)]) per stream.
type Decoded = Vec<(String, Vec<(i64, String, Vec<(String, String)>)>)>;

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of one message: (number, varint value or bytes).
fn fields(b: &[u8]) -> Vec<(u64, Result<u64, &[u8]>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        match key & 7 {
            0 => out.push((key >> 3, Ok(varint(b, &mut i)))),
            2 => {
                let len = varint(b, &mut i) as usize;
                out.push((key >> 3, Err(&b[i..i + len])));
                i += len;
            }
            w => panic!("unexpected wire type {w}"),
        }
    }
    out
}

fn text(b: Result<u64, &[u8]>) -> String {
    String::from_utf8(b.unwrap_err().to_vec()).unwrap()
}

fn decode_push(body: &[u8]) -> Decoded {
    let raw = snap::raw::Decoder::new().decompress_vec(body).expect("a snappy block");
    let mut streams = Vec::new();
    for (n, stream) in fields(&raw) {
        assert_eq!(n, 1, "PushRequest.streams");
        let mut labels = String::new();
        let mut entries = Vec::new();
        for (n, v) in fields(stream.unwrap_err()) {
            match n {
                1 => labels = text(v),
                2 => {
                    let (mut ts, mut line, mut meta) = (0i64, String::new(), Vec::new());
                    for (n, v) in fields(v.unwrap_err()) {
                        match n {
                            1 => {
                                let (mut s, mut ns) = (0, 0);
                                for (n, v) in fields(v.unwrap_err()) {
                                    match n {
                                        1 => s = v.unwrap() as i64,
                                        2 => ns = v.unwrap() as i64,
                                        _ => {}
                                    }
                                }
                                ts = s * 1_000_000_000 + ns;
                            }
                            2 => line = text(v),
                            3 => {
                                let pair = fields(v.unwrap_err());
                                meta.push((text(pair[0].1), text(pair[1].1)));
                            }
                            other => panic!("unexpected EntryAdapter field {other}"),
                        }
                    }
                    entries.push((ts, line, meta));
                }
                3 => {}
                other => panic!("unexpected StreamAdapter field {other}"),
            }
        }
        streams.push((labels, entries));
    }
    streams
}

fn fault_config(port: u16, extra: &str) -> String {
    format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
           output {{ loki {{ id => "loki_out" url => "http://127.0.0.1:{port}{PUSH}" labels => {{ "s" => "%{{s}}" }}
                             retry_initial_interval => 1 retry_max_interval => 2 {extra} }} }}"#
    )
}

fn ids_in(server: &fake::Server) -> Vec<String> {
    let mut ids: Vec<String> = server.counted().iter().flat_map(|r| decode_push(&r.body)).flat_map(|(_, e)| e.into_iter().map(|x| x.1)).collect();
    ids.sort();
    ids
}

/// The push body is a snappy block of Loki's protobuf: entries grouped by stream, each stream
/// in time order whatever the order of arrival, structured metadata per entry, the tenant and
/// credentials in the headers.
#[test]
fn the_push_body_decodes_to_time_ordered_streams() {
    let server = fake::serve(free_port(), PUSH, Box::new(|_, _| fake::Reply::Json(204, String::new())));
    let data = temp_dir();
    let offsets = [5, 1, 4, 2, 3, 0];
    let events: Vec<Value> = offsets
        .iter()
        .enumerate()
        .map(|(i, off)| json!({"@timestamp": format!("2026-03-01T10:00:0{off}.000Z"), "s": if i % 2 == 0 { "even" } else { "odd" }, "message": format!("t{off}"), "tr": format!("x{off}")}))
        .collect();
    run_stdin(&fault_config(server.port, r#"tenant_id => "acme" user => "u" password => "p" structured_metadata => { "tr" => "%{tr}" }"#), data.path(), &events);
    let pushes = server.counted();
    assert_eq!(pushes.len(), 1);
    let r = &pushes[0];
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("x-scope-orgid"), Some("acme"));
    assert_eq!(r.header("authorization"), Some("Basic dTpw"), "base64 of u:p");
    assert_eq!(r.header("content-encoding"), None, "snappy is the body's framing, not an HTTP encoding");
    let streams: BTreeMap<String, Vec<(i64, String, Vec<(String, String)>)>> = decode_push(&r.body).into_iter().collect();
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap().timestamp_nanos_opt().unwrap();
    let entry = |off: i64| (base + off * 1_000_000_000, format!("t{off}"), vec![("tr".to_string(), format!("x{off}"))]);
    assert_eq!(streams.keys().cloned().collect::<Vec<_>>(), vec![r#"{s="even"}"#, r#"{s="odd"}"#]);
    assert_eq!(streams[r#"{s="even"}"#], vec![entry(3), entry(4), entry(5)]);
    assert_eq!(streams[r#"{s="odd"}"#], vec![entry(0), entry(1), entry(2)]);
}

/// A push answered 429 with `Retry-After: 3` is sent again, the same bytes, no sooner than Loki
/// asked (the backoff alone would wait about a second).
#[test]
fn a_429_is_retried_after_the_time_loki_asks() {
    let server = fake::serve(
        free_port(),
        PUSH,
        Box::new(|_, before| {
            if before == 0 {
                fake::Reply::With(429, vec![("retry-after", "3".into())], "Ingestion rate limit exceeded".into())
            } else {
                fake::Reply::Json(204, String::new())
            }
        }),
    );
    let data = temp_dir();
    let started = Instant::now();
    let events: Vec<Value> = (0..10).map(|i| json!({"s": "a", "message": format!("m{i}")})).collect();
    run_stdin(&fault_config(server.port, ""), data.path(), &events);
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    let pushes = server.counted();
    assert_eq!(pushes.len(), 2);
    assert_eq!(pushes[0].body, pushes[1].body);
    assert_eq!(ids_in(&server).len(), 20, "ten lines, sent twice");
    assert!(dlq_entries(data.path()).is_empty());
}

/// A push answered 500 is sent again until accepted; nothing goes to the dead letter queue.
#[test]
fn a_500_is_retried() {
    let server = fake::serve(
        free_port(),
        PUSH,
        Box::new(|_, before| if before < 2 { fake::Reply::Json(500, "boom".into()) } else { fake::Reply::Json(204, String::new()) }),
    );
    let data = temp_dir();
    let events: Vec<Value> = (0..5).map(|i| json!({"s": "a", "message": format!("m{i}")})).collect();
    run_stdin(&fault_config(server.port, ""), data.path(), &events);
    assert_eq!(server.counted().len(), 3);
    let last = decode_push(&server.counted()[2].body);
    assert_eq!(last[0].1.iter().map(|e| e.1.clone()).collect::<Vec<_>>(), vec!["m0", "m1", "m2", "m3", "m4"]);
    assert!(dlq_entries(data.path()).is_empty());
}

/// The connection drops in the middle of a push: the push is sent again, and each event is
/// delivered once by the push that was answered.
#[test]
fn a_connection_dropped_mid_push_is_retried() {
    let server = fake::serve(
        free_port(),
        PUSH,
        Box::new(|r, before| if before == 0 && r.body.is_empty() { fake::Reply::DropMidBody } else { fake::Reply::Json(204, String::new()) }),
    );
    let data = temp_dir();
    let events: Vec<Value> = (0..300).map(|i| json!({"s": "a", "message": format!("m{i:03}-{}", fastrand_suffix())})).collect();
    run_stdin(&fault_config(server.port, "encoding => \"json\""), data.path(), &events);
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.iter().filter(|r| r.path.ends_with("(dropped)")).count(), 1);
    let answered: Vec<fake::Request> = server.counted().into_iter().filter(|r| !r.path.ends_with("(dropped)")).collect();
    let mut lines: Vec<String> = Vec::new();
    for r in &answered {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["streams"][0]["stream"], json!({"s": "a"}));
        lines.extend(body["streams"][0]["values"].as_array().unwrap().iter().map(|v| v[1].as_str().unwrap().to_string()));
    }
    let sent: Vec<String> = events.iter().map(|e| e["message"].as_str().unwrap().to_string()).collect();
    assert_eq!(lines, sent, "each event accepted exactly once, in order");
}

/// A push answered 400 is not sent again: its events go to the dead letter queue with Loki's
/// reason, the rejection is counted by reason, and the request by status.
#[test]
fn a_400_is_not_retried_but_counted_and_dead_lettered() {
    let server = fake::serve(
        free_port(),
        PUSH,
        Box::new(|_, _| {
            fake::Reply::Json(400, "entry for stream '{s=\"a\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-01-01T00:00:00Z".into())
        }),
    );
    let data = temp_dir();
    let output = format!(r#"loki {{ id => "loki_out" url => "http://127.0.0.1:{}{PUSH}" labels => {{ "s" => "%{{s}}" }} }}"#, server.port);
    let (mut child, port, api) = spawn_tcp(&output, data.path(), &["-w", "1"], Stdio::null());
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..4 {
            writeln!(s, "{}", json!({"s": "a", "n": i, "message": "old"})).unwrap();
        }
    }
    eventually(Duration::from_secs(30), "four dead letters", || dlq_entries(data.path()).len() == 4);
    std::thread::sleep(Duration::from_secs(3));
    let (_, metrics) = http_get(api, "/metrics");
    signal(&child, "TERM");
    let _ = child.wait();
    assert_eq!(server.counted().len(), 1, "never sent again");
    let labels = r#"pipeline="main",plugin_id="loki_out""#;
    let sample = |prefix: &str| metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok());
    assert_eq!(sample(&format!(r#"sluice_output_requests_total{{{labels},status="400"}}"#)), Some(1.0), "{metrics}");
    assert_eq!(
        sample(&format!(r#"sluice_plugin_failures_total{{{labels},plugin="loki",kind="output",reason="rejected_too_old"}}"#)),
        Some(4.0),
        "{metrics}"
    );
    assert_eq!(sample(&format!("sluice_dead_letter_events_total{{{labels}}}")), Some(4.0), "{metrics}");
    let entries = dlq_entries(data.path());
    let ns: BTreeSet<u64> = entries.iter().map(|e| e["event"]["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, (0..4).collect());
    for e in &entries {
        assert_eq!(e["plugin_id"], "loki_out");
        assert_eq!(e["plugin_type"], "loki");
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("status: 400") && reason.contains("too old"), "{reason}");
    }
}

/// Past `max_streams` distinct label sets, the events of a new label set go out with their
/// templated label values replaced by `sluice_overflow` (fixed labels kept), counted as
/// `stream_folded`; label sets already known keep their streams.
#[test]
fn label_sets_past_max_streams_are_folded_and_counted() {
    let server = fake::serve(free_port(), PUSH, Box::new(|_, _| fake::Reply::Json(204, String::new())));
    let data = temp_dir();
    let output =
        format!(r#"loki {{ id => "loki_out" url => "http://127.0.0.1:{}{PUSH}" labels => {{ "s" => "%{{s}}" "job" => "fold" }} max_streams => 2 }}"#, server.port);
    let (mut child, port, api) = spawn_tcp(&output, data.path(), &["-w", "1"], Stdio::null());
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for name in ["a", "b", "c", "d", "a", "c"] {
            writeln!(s, "{}", json!({"s": name, "message": format!("m-{name}")})).unwrap();
        }
    }
    eventually(Duration::from_secs(30), "six lines pushed", || {
        server.counted().iter().flat_map(|r| decode_push(&r.body)).map(|(_, e)| e.len()).sum::<usize>() == 6
    });
    let (_, metrics) = http_get(api, "/metrics");
    signal(&child, "TERM");
    let _ = child.wait();
    let mut by_stream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (labels, entries) in server.counted().iter().flat_map(|r| decode_push(&r.body)) {
        by_stream.entry(labels).or_default().extend(entries.into_iter().map(|e| e.1));
    }
    let expected: BTreeMap<String, Vec<String>> = [
        (r#"{job="fold", s="a"}"#, vec!["m-a", "m-a"]),
        (r#"{job="fold", s="b"}"#, vec!["m-b"]),
        (r#"{job="fold", s="sluice_overflow"}"#, vec!["m-c", "m-d", "m-c"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(by_stream, expected);
    let line = metrics.lines().find(|l| l.starts_with("sluice_plugin_failures_total") && l.contains("reason=\"stream_folded\""));
    assert_eq!(line.and_then(|l| l.rsplit(' ').next()), Some("3"), "{metrics}");
}

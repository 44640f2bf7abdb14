//! The `beats` input against real Lumberjack clients and a raw socket.
//!
//! Real peers: Elastic's go-lumber client library (through `tests/peers/lumber-send`, which
//! numbers its events so each can be checked to arrive exactly once), Elastic's stock load
//! sender `tst-send`, and pylogbeat. `tests/peers/install-beats-clients.sh` installs them into
//! `${SLUICE_CACHE:-$HOME/.cache/sluice}` when missing. Certificates are made with the `openssl`
//! command, which also gives the expected RFC 2253 subject independently of sluice. Malformed
//! input and the exact ACK bytes are checked with a plain TCP client written here from the
//! protocol description, not from sluice's code.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- the clients

use common::beats::{clients, Clients};

macro_rules! require_clients {
    () => {
        match clients() {
            Some(c) => c,
            None => return,
        }
    };
}

/// Run lumber-send to completion; returns (exit success, acknowledged count, stderr).
fn lumber_send(c: &Clients, port: u16, id: &str, count: usize, extra: &[&str]) -> (bool, usize, String) {
    let out = Command::new(&c.lumber_send)
        .args(["-addr", &format!("127.0.0.1:{port}"), "-id", id, "-count", &count.to_string(), "-timeout", "20s"])
        .args(extra)
        .output()
        .expect("run lumber-send");
    (out.status.success(), acked(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn pylogbeat(c: &Clients, port: u16, id: &str, count: usize, batch: usize, extra: &[&str]) -> (bool, usize, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pylogbeat_send.py");
    let out = Command::new(&c.python)
        .arg(script)
        .args(["--port", &port.to_string(), "--id", id, "--count", &count.to_string(), "--batch", &batch.to_string()])
        .args(extra)
        .output()
        .expect("run pylogbeat");
    (out.status.success(), acked(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn acked(stdout: &[u8]) -> usize {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("acked "))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- sluice

struct Sluice {
    child: Child,
    api: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sluice {
    /// Start sluice with a config; `{port}`-style values are the caller's business.
    fn start(config: &str, port: u16) -> Sluice {
        let dir = temp_dir();
        let api = free_port();
        let log = dir.path().join("sluice.log");
        let child = sluice()
            .args(["-e", config, "--path.data", dir.path().to_str().unwrap(), "--log.level", "warn"])
            .args(["--api.http.port", &api.to_string(), "-w", "2"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sluice");
        wait_listening(port, Duration::from_secs(30));
        wait_listening(api, Duration::from_secs(30));
        Sluice { child, api, log, _dir: dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stats(&self) -> Value {
        serde_json::from_str(&http_get(self.api, "/_node/stats")).expect("node stats JSON")
    }

    /// A failure count of the (single) beats input.
    fn failures(&self, reason: &str) -> u64 {
        let s = self.stats();
        s["pipelines"]["main"]["plugins"]["inputs"][0]["failures"][reason].as_u64().unwrap_or(0)
    }

    fn connections(&self) -> i64 {
        let text = http_get(self.api, "/metrics");
        text.lines()
            .find(|l| l.starts_with("sluice_input_connections{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// SIGTERM and wait: everything accepted is delivered first.
    fn stop(mut self) -> String {
        signal(&self.child, "TERM");
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "sluice exited with {status:?}:\n{}", self.log());
                return self.log();
            }
            assert!(start.elapsed() < Duration::from_secs(60), "sluice did not stop:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP API");
    // HTTP/1.0, so that no server answers in chunks.
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

fn file_output(path: &Path) -> String {
    format!(r#"file {{ path => "{}" }}"#, path.display())
}

// ---------------------------------------------------------------- the protocol, by hand

fn window(version: u8, n: u32) -> Vec<u8> {
    let mut f = vec![version, b'W'];
    f.extend_from_slice(&n.to_be_bytes());
    f
}

fn json_frame(seq: u32, doc: &str) -> Vec<u8> {
    let mut f = vec![b'2', b'J'];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(doc.len() as u32).to_be_bytes());
    f.extend_from_slice(doc.as_bytes());
    f
}

fn data_frame_v1(seq: u32, pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut f = vec![b'1', b'D'];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
    for (k, v) in pairs {
        for s in [k, v] {
            f.extend_from_slice(&(s.len() as u32).to_be_bytes());
            f.extend_from_slice(s.as_bytes());
        }
    }
    f
}

fn compressed_frame(inner: &[u8]) -> Vec<u8> {
    use flate2::write::ZlibEncoder;
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(inner).unwrap();
    let z = z.finish().unwrap();
    let mut f = vec![b'2', b'C'];
    f.extend_from_slice(&(z.len() as u32).to_be_bytes());
    f.extend_from_slice(&z);
    f
}

#[derive(Debug, PartialEq, Eq)]
enum AckRead {
    Ack(u8, u32),
    Nothing,
    Closed,
}

/// Read one 6-byte ACK frame, waiting at most `limit`.
fn read_ack(s: &mut TcpStream, limit: Duration) -> AckRead {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 6];
    let mut got = 0;
    while got < 6 {
        match s.read(&mut b[got..]) {
            Ok(0) => return AckRead::Closed,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) && got == 0 => {
                return AckRead::Nothing
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return AckRead::Closed,
        }
    }
    assert_eq!(b[1], b'A', "not an ACK frame: {b:?}");
    AckRead::Ack(b[0], u32::from_be_bytes([b[2], b[3], b[4], b[5]]))
}

/// Wait until the server closes the connection (EOF or reset).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let start = Instant::now();
    let mut b = [0u8; 1024];
    while start.elapsed() < limit {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn events_by_sender(events: &[Value]) -> HashMap<String, Vec<u64>> {
    let mut by: HashMap<String, Vec<u64>> = HashMap::new();
    for e in events {
        by.entry(e["sender"].as_str().unwrap_or("?").to_string()).or_default().push(e["seq"].as_u64().unwrap());
    }
    for v in by.values_mut() {
        v.sort_unstable();
    }
    by
}

// ---------------------------------------------------------------- certificates

struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// The client certificate's subject as openssl writes it in RFC 2253 form.
    fn client_subject(&self) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", &self.path("client.crt")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().trim_start_matches("subject=").trim().to_string()
    }
}

/// A CA; a server certificate for localhost/127.0.0.1 with an EC key in SEC1 form and the same
/// key as encrypted PKCS#8; a client certificate with an RSA key in PKCS#1 form.
fn make_certs() -> Certs {
    let dir = temp_dir();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir.path()).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(dir.path().join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    std::fs::write(dir.path().join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=sluice test CA"]);
    run(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
    run(&["req", "-new", "-key", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"]);
    run(&["pkcs8", "-topk8", "-in", "server.key", "-out", "server.enc.key", "-passout", "pass:s3cret"]);
    run(&["genrsa", "-traditional", "-out", "client.key", "2048"]);
    run(&["req", "-new", "-key", "client.key", "-out", "client.csr", "-subj", "/C=DE/O=Example, Inc./OU=Logs/CN=beat-client"]);
    run(&["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2", "-extfile", "client.ext"]);
    let key = std::fs::read_to_string(dir.path().join("client.key")).unwrap();
    assert!(key.contains("BEGIN RSA PRIVATE KEY"), "expected a PKCS#1 key");
    let key = std::fs::read_to_string(dir.path().join("server.key")).unwrap();
    assert!(key.contains("BEGIN EC PRIVATE KEY"), "expected a SEC1 key");
    Certs { dir }
}

// ================================================================ the scenarios

/// Events from go-lumber's client, compressed and not, arrive once each with the shape
/// Logstash's beats input gives them: the document's fields, `@timestamp` and `@metadata` as
/// sent, the client's address in `[@metadata][ip_address]`, the plain codec's tag after the
/// input's own tags.
#[test]
fn go_lumber_events_arrive_with_logstashs_shape() {
    let c = require_clients!();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" tags => ["mine"] }} }}
           filter {{ mutate {{ add_field => {{ "beat" => "%{{[@metadata][beat]}}" "ip" => "%{{[@metadata][ip_address]}}" "mtype" => "%{{[@metadata][type]}}" }} }} }}
           output {{ {} }}"#,
        file_output(&out)
    );
    let s = Sluice::start(&config, port);
    let (ok, n, err) = lumber_send(c, port, "zlib", 5000, &["-batch", "700", "-compress", "6"]);
    assert!(ok && n == 5000, "compressed sender: acked {n}: {err}");
    let (ok, n, err) = lumber_send(c, port, "plain", 3000, &["-batch", "1000", "-compress", "0"]);
    assert!(ok && n == 3000, "uncompressed sender: acked {n}: {err}");
    let (ok, n, err) = lumber_send(c, port, "piped", 4000, &["-batch", "500", "-pipeline", "4"]);
    assert!(ok && n == 4000, "pipelined sender: acked {n}: {err}");
    s.stop();

    let events = read_jsonl(&out);
    let by = events_by_sender(&events);
    assert_eq!(by["zlib"], (0..5000).collect::<Vec<u64>>());
    assert_eq!(by["plain"], (0..3000).collect::<Vec<u64>>());
    assert_eq!(by["piped"], (0..4000).collect::<Vec<u64>>());
    let e = events.iter().find(|e| e["sender"] == "plain" && e["seq"] == 17).unwrap();
    assert_eq!(e["message"], "event 17 from plain");
    assert_eq!(e["log"]["offset"], 17);
    assert_eq!(e["tags"], serde_json::json!(["mine", "beats_input_codec_plain_applied"]));
    assert_eq!(e["beat"], "lumber-send");
    assert_eq!(e["mtype"], "_doc");
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["@version"], "1");
    assert!(e["host"]["name"].is_string(), "the beat's host object is kept: {e}");
    // The timestamp is the one the client wrote (this run's clock, to the millisecond).
    let ts = e["@timestamp"].as_str().unwrap();
    assert!(ts.starts_with(&chrono::Utc::now().format("%Y-").to_string()) && ts.ends_with('Z'), "{ts}");
}

/// pylogbeat numbers frames across windows on one connection and waits for the ACK of each
/// window's last number: every window is acknowledged and every event arrives.
#[test]
fn pylogbeat_windows_are_acknowledged_by_their_last_sequence_number() {
    let c = require_clients!();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&out));
    let s = Sluice::start(&config, port);
    let (ok, n, err) = pylogbeat(c, port, "py", 1234, 100, &[]);
    assert!(ok && n == 1234, "pylogbeat acked {n}: {err}");
    s.stop();
    let events = read_jsonl(&out);
    assert_eq!(events_by_sender(&events)["py"], (0..1234).collect::<Vec<u64>>());
    assert!(events.iter().all(|e| e["tags"] == serde_json::json!(["beats_input_codec_plain_applied"])));
}

/// A million events from four concurrent go-lumber senders (two of them pipelining windows)
/// arrive exactly once each.
#[test]
fn a_million_events_from_four_go_lumber_senders_arrive_exactly_once() {
    let c = require_clients!();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&out));
    let s = Sluice::start(&config, port);
    const PER_SENDER: usize = 250_000;
    let senders: Vec<_> = (0..4)
        .map(|i| {
            let extra: Vec<String> = if i % 2 == 0 { vec![] } else { vec!["-pipeline".into(), "3".into()] };
            Command::new(&c.lumber_send)
                .args(["-addr", &format!("127.0.0.1:{port}"), "-id", &format!("s{i}"), "-count", &PER_SENDER.to_string()])
                .args(["-batch", "2048", "-timeout", "60s"])
                .args(&extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start lumber-send")
        })
        .collect();
    for (i, child) in senders.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "sender {i}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(acked(&o.stdout), PER_SENDER, "sender {i}");
    }
    s.stop();

    // Every (sender, seq) exactly once, read with a plain scan of the JSON lines.
    let text = std::fs::read_to_string(&out).unwrap();
    let mut seen = vec![vec![0u8; PER_SENDER]; 4];
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let sender = line.split("\"sender\":\"s").nth(1).and_then(|r| r.as_bytes().first()).map(|b| (b - b'0') as usize).unwrap();
        let seq: usize = line.split("\"seq\":").nth(1).unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
        seen[sender][seq] += 1;
    }
    assert_eq!(lines, 4 * PER_SENDER);
    for (i, s) in seen.iter().enumerate() {
        assert!(s.iter().all(|n| *n == 1), "sender s{i}: some events missing or repeated");
    }
}

/// Elastic's stock sender (it sends forever): every event it counts as acknowledged is in the
/// output, with tst-send's document shape.
#[test]
fn tst_send_acknowledged_events_are_all_in_the_output() {
    let c = require_clients!();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&out));
    let s = Sluice::start(&config, port);
    let prof = [free_port(), free_port()];
    let mut senders: Vec<Child> = prof
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Command::new(&c.tst_send)
                .args(["-c", &format!("127.0.0.1:{port}"), "-httpprof", &format!("127.0.0.1:{p}"), "-batch", "1024"])
                .args(if i == 1 { &["-pipeline", "2"][..] } else { &[][..] })
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tst-send")
        })
        .collect();
    for p in prof {
        wait_listening(p, Duration::from_secs(10));
    }
    let acked_of = |p: u16| -> u64 {
        let vars: Value = serde_json::from_str(&http_get(p, "/debug/vars")).unwrap_or(Value::Null);
        vars["ACKed"].as_u64().unwrap_or(0)
    };
    let start = Instant::now();
    let mut acked = [0u64; 2];
    while acked.iter().any(|a| *a < 20_000) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
        acked = [acked_of(prof[0]), acked_of(prof[1])];
    }
    for s in &mut senders {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(acked.iter().all(|a| *a >= 20_000), "tst-send got too few ACKs: {acked:?}");
    s.stop();
    let events = read_jsonl(&out);
    assert!(events.len() as u64 >= acked[0] + acked[1], "{} events in the output, {acked:?} acknowledged", events.len());
    let e = &events[0];
    assert_eq!((e["type"].as_str(), e["offset"].as_u64()), (Some("filebeat"), Some(1000)));
    assert!(e["message"].as_str().unwrap().contains("dolor") || e["message"].as_str().unwrap().contains("clita"), "{e}");
    assert_eq!(e["tags"], serde_json::json!(["beats_input_codec_plain_applied"]));
}

/// TLS: go-lumber verifies the server against the CA; the server's key may be SEC1 or
/// encrypted PKCS#8 with `ssl_key_passphrase`.
#[test]
fn tls_with_go_lumber_and_keys_in_several_forms() {
    let c = require_clients!();
    let certs = make_certs();
    for key_options in [
        format!(r#"ssl_key => "{}""#, certs.path("server.key")),
        format!(r#"ssl_key => "{}" ssl_key_passphrase => "s3cret""#, certs.path("server.enc.key")),
    ] {
        let dir = temp_dir();
        let out = dir.path().join("out.jsonl");
        let port = free_port();
        let config = format!(
            r#"input {{ beats {{ port => {port} host => "127.0.0.1" ssl_enabled => true ssl_certificate => "{}" {key_options} }} }}
               output {{ {} }}"#,
            certs.path("server.crt"),
            file_output(&out)
        );
        let s = Sluice::start(&config, port);
        let (ok, n, err) = lumber_send(c, port, "tls", 3000, &["-tls", "-ca", &certs.path("ca.crt"), "-batch", "512"]);
        assert!(ok && n == 3000, "TLS sender ({key_options}): acked {n}: {err}");
        // A client that does not speak TLS is turned away and counted, the server goes on.
        let (ok, _, _) = lumber_send(c, port, "clear", 10, &["-timeout", "3s"]);
        assert!(!ok, "a plaintext client must not get ACKs from a TLS port");
        assert!(s.failures("tls_handshake_failed") >= 1);
        s.stop();
        assert_eq!(events_by_sender(&read_jsonl(&out))["tls"], (0..3000).collect::<Vec<u64>>());
    }
}

/// Mutual TLS, required: a client with a certificate signed by the CA gets through, and with
/// `enrich => [ssl_peer_metadata, ...]` its subject (as openssl writes it in RFC 2253 form),
/// protocol and cipher are in `@metadata`; a client without a certificate gets nothing.
#[test]
fn mutual_tls_required_and_peer_metadata() {
    let c = require_clients!();
    let certs = make_certs();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" ssl_enabled => true
               ssl_certificate => "{}" ssl_key => "{}" ssl_certificate_authorities => ["{}"]
               ssl_client_authentication => "required" enrich => [source_metadata, ssl_peer_metadata, codec_metadata] }} }}
           filter {{ mutate {{ add_field => {{ "status" => "%{{[@metadata][tls_peer][status]}}" "subject" => "%{{[@metadata][tls_peer][subject]}}"
                "protocol" => "%{{[@metadata][tls_peer][protocol]}}" "cipher" => "%{{[@metadata][tls_peer][cipher_suite]}}" }} }} }}
           output {{ {} }}"#,
        certs.path("server.crt"),
        certs.path("server.key"),
        certs.path("ca.crt"),
        file_output(&out)
    );
    let s = Sluice::start(&config, port);
    let tls = ["-tls", "-ca", &certs.path("ca.crt")];
    let (ok, n, err) =
        lumber_send(c, port, "mtls", 200, &[&tls[..], &["-cert", &certs.path("client.crt"), "-key", &certs.path("client.key")]].concat());
    assert!(ok && n == 200, "client with a certificate: acked {n}: {err}");
    let (ok, n, _) = lumber_send(c, port, "anon", 200, &[&tls[..], &["-timeout", "5s"]].concat());
    assert!(!ok && n == 0, "a client without a certificate must be refused (acked {n})");
    let (ok, n, err) = pylogbeat(
        c,
        port,
        "py",
        50,
        25,
        &["--tls", "--ca", &certs.path("ca.crt"), "--cert", &certs.path("client.crt"), "--key", &certs.path("client.key")],
    );
    assert!(ok && n == 50, "pylogbeat with a certificate: acked {n}: {err}");
    s.stop();
    let events = read_jsonl(&out);
    let by = events_by_sender(&events);
    assert_eq!(by["mtls"].len(), 200);
    assert_eq!(by["py"].len(), 50);
    assert!(!by.contains_key("anon"));
    let expected_subject = certs.client_subject();
    assert_eq!(expected_subject, "CN=beat-client,OU=Logs,O=Example\\, Inc.,C=DE", "openssl's own rendering");
    for e in &events {
        assert_eq!(e["status"], "verified");
        assert_eq!(e["subject"], expected_subject.as_str());
        assert!(e["protocol"] == "TLSv1.3" || e["protocol"] == "TLSv1.2", "{e}");
        assert!(e["cipher"].as_str().unwrap().starts_with("TLS_"), "{e}");
    }
}

/// Mutual TLS, optional: a client without a certificate is served and marked unverified.
#[test]
fn mutual_tls_optional_accepts_anonymous_clients_as_unverified() {
    let c = require_clients!();
    let certs = make_certs();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" ssl => true ssl_certificate => "{}" ssl_key => "{}"
               ssl_certificate_authorities => "{}" ssl_verify_mode => "peer" ssl_peer_metadata => true }} }}
           filter {{ mutate {{ add_field => {{ "status" => "%{{[@metadata][tls_peer][status]}}" }} }} }}
           output {{ {} }}"#,
        certs.path("server.crt"),
        certs.path("server.key"),
        certs.path("ca.crt"),
        file_output(&out)
    );
    let s = Sluice::start(&config, port);
    let (ok, n, err) = pylogbeat(c, port, "anon", 30, 10, &["--tls"]);
    assert!(ok && n == 30, "anonymous pylogbeat over TLS: acked {n}: {err}");
    let (ok, n, err) = lumber_send(
        c,
        port,
        "known",
        30,
        &["-tls", "-ca", &certs.path("ca.crt"), "-cert", &certs.path("client.crt"), "-key", &certs.path("client.key")],
    );
    assert!(ok && n == 30, "client with a certificate: acked {n}: {err}");
    s.stop();
    let events = read_jsonl(&out);
    for e in &events {
        let expected = if e["sender"] == "anon" { "unverified" } else { "verified" };
        assert_eq!(e["status"], expected, "{e}");
    }
    assert_eq!(events.len(), 60);
}

/// The ACK comes only after delivery: with the output blocked (a FIFO nobody reads) the client
/// gets keep-alive ACKs of 0 and nothing else; once the FIFO is read, the ACK of the window's
/// last sequence number arrives.
#[test]
fn no_ack_before_the_output_has_the_events_and_keepalives_meanwhile() {
    let dir = temp_dir();
    let fifo = dir.path().join("out.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&fifo));
    let s = Sluice::start(&config, port);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut bytes = window(b'2', 3);
    for i in 1..=3 {
        bytes.extend(json_frame(i, &format!(r#"{{"message":"held {i}"}}"#)));
    }
    c.write_all(&bytes).unwrap();

    let start = Instant::now();
    let mut keepalives = 0;
    while start.elapsed() < Duration::from_secs(12) {
        match read_ack(&mut c, Duration::from_millis(500)) {
            AckRead::Ack(v, seq) => {
                assert_eq!((v, seq), (b'2', 0), "only keep-alives may come while the output is blocked");
                keepalives += 1;
            }
            AckRead::Nothing => {}
            AckRead::Closed => panic!("the connection closed while waiting"),
        }
    }
    assert!(keepalives >= 1, "no keep-alive ACK in 12 s");

    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&fifo).unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while text.lines().count() < 3 {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match read_ack(&mut c, Duration::from_millis(500)) {
            AckRead::Ack(b'2', 3) => break,
            AckRead::Ack(b'2', 0) | AckRead::Nothing => assert!(Instant::now() < deadline, "no ACK after the output drained"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("held 3"));
    drop(c);
    s.stop();
}

/// A blocked output holds a real client back instead of losing events: with nobody reading
/// the FIFO the sender cannot finish and the queue stays at its bound (the keep-alives keep the
/// client from timing out); once the FIFO is read every event arrives and is acknowledged.
#[test]
fn backpressure_holds_go_lumber_back_and_nothing_is_lost() {
    let c = require_clients!();
    let dir = temp_dir();
    let fifo = dir.path().join("out.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&fifo));
    let s = Sluice::start(&config, port);
    const TOTAL: usize = 60_000;
    let sender = Command::new(&c.lumber_send)
        .args(["-addr", &format!("127.0.0.1:{port}"), "-id", "bp", "-count", &TOTAL.to_string(), "-batch", "1000", "-timeout", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    let stats = s.stats();
    let queued = stats["pipelines"]["main"]["queue"]["events_count"].as_i64().unwrap();
    let capacity = stats["pipelines"]["main"]["queue"]["capacity"]["max_queue_events"].as_i64().unwrap();
    assert!(queued > 0 && queued <= capacity, "queue holds {queued} of {capacity}");
    let received = stats["pipelines"]["main"]["plugins"]["inputs"][0]["events"]["out"].as_u64().unwrap();
    assert!(received < TOTAL as u64, "the sender was never held back ({received} events taken)");

    let mut f = std::fs::File::open(&fifo).unwrap();
    let counter = std::thread::spawn(move || {
        let mut lines = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while lines < TOTAL {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        lines
    });
    let out = sender.wait_with_output().unwrap();
    assert!(out.status.success(), "the held-back sender failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(acked(&out.stdout), TOTAL);
    assert_eq!(counter.join().unwrap(), TOTAL);
    s.stop();
}

/// Events the pipeline gives up on (stopped twice while its output keeps failing) are never
/// acknowledged: the client sees keep-alives, then the connection closes, and no ACK of its
/// window.
#[test]
fn events_given_up_are_never_acknowledged() {
    let port = free_port();
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ file {{ path => "/dev/null/cannot/exist.jsonl" }} }}"#
    );
    let s = Sluice::start(&config, port);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut bytes = window(b'2', 2);
    bytes.extend(json_frame(1, r#"{"message":"a"}"#));
    bytes.extend(json_frame(2, r#"{"message":"b"}"#));
    c.write_all(&bytes).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&s.child, "TERM");
    std::thread::sleep(Duration::from_millis(500));
    signal(&s.child, "TERM");
    let start = Instant::now();
    loop {
        match read_ack(&mut c, Duration::from_millis(500)) {
            AckRead::Ack(_, 0) | AckRead::Nothing => {}
            AckRead::Ack(v, seq) => panic!("got an ACK ({}, {seq}) for events that were not delivered", v as char),
            AckRead::Closed => break,
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the connection was never closed");
    }
}

/// Malformed input closes that one connection, with a warning naming the peer and the reason,
/// counted by reason; other clients are not disturbed.
#[test]
fn malformed_input_closes_only_that_connection() {
    let port = free_port();
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" max_frame_bytes => 1048576 max_window_size => 5000
               client_inactivity_timeout => 600 }} }} output {{ {} }}"#,
        file_output(&out)
    );
    let zeros_bomb = {
        let mut inner = json_frame(1, r#"{"message":"x"}"#);
        inner.resize(inner.len() + (16 << 20), 0); // 16 MiB of zeros after one frame
        [window(b'2', 1), compressed_frame(&inner)].concat()
    };
    let mut truncated = window(b'2', 2);
    truncated.extend(json_frame(1, r#"{"message":"one"}"#));
    truncated.extend(&json_frame(2, r#"{"message":"two"}"#)[..8]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong version byte", [b"3W".to_vec(), 1u32.to_be_bytes().to_vec()].concat(), "protocol_error"),
        ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), "protocol_error"),
        ("unknown frame type", b"2Z\0\0\0\0".to_vec(), "protocol_error"),
        ("data before any window", json_frame(1, "{}"), "protocol_error"),
        ("garbage in a compressed frame", [window(b'2', 1), b"2C\0\0\0\x05hello".to_vec()].concat(), "protocol_error"),
        ("a 4 GB JSON frame", [window(b'2', 1), b"2J\0\0\0\x01\xff\xff\xff\xf0".to_vec()].concat(), "frame_too_large"),
        ("a window over the limit", window(b'2', 5001), "frame_too_large"),
        ("a zlib bomb", zeros_bomb, "decompression_limit"),
        ("a stream cut in a frame", truncated, "truncated_frame"),
    ];
    let s = Sluice::start(&config, port);
    // A well-behaved raw client keeps its connection open through all of this.
    let mut good = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut expected: HashMap<&str, u64> = HashMap::new();
    for (what, bytes, reason) in &cases {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = c.write_all(bytes);
        if *reason == "truncated_frame" {
            c.shutdown(Shutdown::Write).unwrap();
        }
        assert!(closed_within(&mut c, Duration::from_secs(10)), "{what}: the server kept the connection open");
        *expected.entry(reason).or_default() += 1;
    }
    eventually(Duration::from_secs(10), "failure counters", || {
        expected.iter().all(|(reason, n)| s.failures(reason) == *n)
    });

    // The good connection still works: a window, its ACK, its event.
    let mut bytes = window(b'2', 1);
    bytes.extend(json_frame(1, r#"{"message":"still here"}"#));
    good.write_all(&bytes).unwrap();
    assert_eq!(read_ack(&mut good, Duration::from_secs(10)), AckRead::Ack(b'2', 1));
    drop(good);
    let log = s.stop();
    let events = read_jsonl(&out);
    assert_eq!(events.len(), 1, "no event of a malformed or cut window is delivered: {events:?}");
    assert_eq!(events[0]["message"], "still here");
    for reason in expected.keys() {
        assert!(log.contains(&format!("reason=\"{reason}\"")) || log.contains(&format!("reason={reason}")), "no warning for {reason}:\n{log}");
    }
    assert!(log.contains("peer=127.0.0.1:"), "warnings name the peer:\n{log}");
}

/// Three hundred clients at once, each with its own window: every one gets its ACK and every
/// event arrives; the `connections` gauge counts them while open and drops back to 0.
#[test]
fn hundreds_of_concurrent_connections() {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&out));
    let s = Sluice::start(&config, port);
    const N: usize = 300;
    let mut conns: Vec<TcpStream> = (0..N).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    eventually(Duration::from_secs(20), "300 open connections", || s.connections() == N as i64);
    for (i, c) in conns.iter_mut().enumerate() {
        let mut bytes = window(b'2', 10);
        let mut inner = Vec::new();
        for seq in 1..=10u32 {
            inner.extend(json_frame(seq, &format!(r#"{{"conn":{i},"n":{seq},"message":"m"}}"#)));
        }
        // Every other client compresses its window.
        if i % 2 == 0 {
            bytes.extend(compressed_frame(&inner));
        } else {
            bytes.extend(inner);
        }
        c.write_all(&bytes).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(read_ack(c, Duration::from_secs(30)), AckRead::Ack(b'2', 10), "connection {i}");
    }
    drop(conns);
    eventually(Duration::from_secs(20), "connections closed", || s.connections() == 0);
    s.stop();
    let events = read_jsonl(&out);
    assert_eq!(events.len(), N * 10);
    let mut per_conn = vec![0; N];
    for e in &events {
        per_conn[e["conn"].as_u64().unwrap() as usize] += 1;
    }
    assert!(per_conn.iter().all(|n| *n == 10));
}

/// Protocol v1 (logstash-forwarder): key/value frames; `line` is the message; the ACK is a v1
/// ACK of the last sequence number, which in v1 keeps counting across windows.
#[test]
fn protocol_v1_key_value_frames() {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ {} }}"#, file_output(&out));
    let s = Sluice::start(&config, port);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut bytes = window(b'1', 2);
    bytes.extend(data_frame_v1(41, &[("line", "first line"), ("host", "lsf-1"), ("file", "/var/log/a.log"), ("offset", "0")]));
    bytes.extend(data_frame_v1(42, &[("line", "second line"), ("host", "lsf-1"), ("file", "/var/log/a.log"), ("offset", "11")]));
    c.write_all(&bytes).unwrap();
    assert_eq!(read_ack(&mut c, Duration::from_secs(10)), AckRead::Ack(b'1', 42));
    let mut bytes = window(b'1', 1);
    bytes.extend(data_frame_v1(43, &[("line", "third"), ("host", "lsf-1")]));
    c.write_all(&bytes).unwrap();
    assert_eq!(read_ack(&mut c, Duration::from_secs(10)), AckRead::Ack(b'1', 43));
    drop(c);
    s.stop();
    let events = read_jsonl(&out);
    assert_eq!(events.len(), 3);
    let e = events.iter().find(|e| e["message"] == "second line").unwrap();
    assert_eq!((e["host"].as_str(), e["file"].as_str(), e["offset"].as_str()), (Some("lsf-1"), Some("/var/log/a.log"), Some("11")));
    assert!(e.get("line").is_none());
    assert_eq!(e["tags"], serde_json::json!(["beats_input_codec_plain_applied"]));
}

/// Documents without `message` are raw events; a payload that is not JSON is kept, tagged
/// `_jsonparsefailure`; an empty window is acknowledged with 0; `enrich => none` adds no tag.
#[test]
fn raw_events_bad_json_and_empty_windows() {
    for (enrich, raw_tag) in [("", Some("beats_input_raw_event")), ("enrich => none", None)] {
        let dir = temp_dir();
        let out = dir.path().join("out.jsonl");
        let port = free_port();
        let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" {enrich} }} }} output {{ {} }}"#, file_output(&out));
        let s = Sluice::start(&config, port);
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(&window(b'2', 0)).unwrap();
        assert_eq!(read_ack(&mut c, Duration::from_secs(10)), AckRead::Ack(b'2', 0));
        let mut bytes = window(b'2', 2);
        bytes.extend(json_frame(7, r#"{"@timestamp":"2020-01-02T03:04:05.678Z","metricset":{"name":"cpu"},"system":{"cpu":{"total":0.5}}}"#));
        bytes.extend(json_frame(8, "this is not json"));
        c.write_all(&bytes).unwrap();
        assert_eq!(read_ack(&mut c, Duration::from_secs(10)), AckRead::Ack(b'2', 8));
        drop(c);
        s.stop();
        let events = read_jsonl(&out);
        let raw = events.iter().find(|e| e.get("metricset").is_some()).unwrap();
        assert_eq!(raw["@timestamp"], "2020-01-02T03:04:05.678Z");
        assert_eq!(raw["system"]["cpu"]["total"], 0.5);
        match raw_tag {
            Some(t) => assert_eq!(raw["tags"], serde_json::json!([t])),
            None => assert!(raw.get("tags").is_none(), "{raw}"),
        }
        let bad = events.iter().find(|e| e["message"] == "this is not json").unwrap();
        assert!(bad["tags"].as_array().unwrap().iter().any(|t| t == "_jsonparsefailure"));
    }
}

/// Keep-alives are for clients kept waiting: a connection that was quiet for longer than the
/// keep-alive interval gets its window's ACK first, not an empty one.
#[test]
fn a_quiet_connection_gets_its_ack_not_a_keepalive() {
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }} output {{ null {{}} }}"#);
    let s = Sluice::start(&config, port);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_secs(7));
    let mut bytes = window(b'2', 1);
    bytes.extend(json_frame(1, r#"{"message":"after a pause"}"#));
    c.write_all(&bytes).unwrap();
    assert_eq!(read_ack(&mut c, Duration::from_secs(10)), AckRead::Ack(b'2', 1));
    drop(c);
    s.stop();
}

/// A connection that sends nothing for `client_inactivity_timeout` seconds is closed.
#[test]
fn idle_connections_are_closed() {
    let port = free_port();
    let config = format!(r#"input {{ beats {{ port => {port} host => "127.0.0.1" client_inactivity_timeout => 1 }} }} output {{ null {{}} }}"#);
    let s = Sluice::start(&config, port);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = Instant::now();
    assert!(closed_within(&mut c, Duration::from_secs(10)));
    assert!(start.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", start.elapsed());
    s.stop();
}

// ---------------------------------------------------------------- configuration checks

fn check(config: &str) -> (i32, String) {
    let dir = temp_dir();
    let path = write(dir.path(), "pipeline.conf", config);
    let out = sluice().args(["-t", "-f", path.to_str().unwrap()]).output().expect("run sluice");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Certificate and key problems are config errors at the option that names the file.
#[test]
fn tls_problems_are_config_errors_at_the_option() {
    let certs = make_certs();
    let garbage = certs.path("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let base = |cert: &str, key: &str, extra: &str| {
        format!("input {{\n  beats {{\n    port => 5044\n    ssl_enabled => true\n    ssl_certificate => \"{cert}\"\n    ssl_key => \"{key}\"\n    {extra}\n  }}\n}}\n")
    };
    let cases = [
        (base("/nonexistent/server.crt", &certs.path("server.key"), ""), ":5:24:", "cannot read /nonexistent/server.crt"),
        (base(&garbage, &certs.path("server.key"), ""), ":5:24:", "holds no PEM certificate"),
        (base(&certs.path("server.crt"), &garbage, ""), ":6:16:", "holds no private key"),
        (base(&certs.path("server.crt"), &certs.path("client.key"), ""), ":6:16:", "does not fit the certificate"),
        (base(&certs.path("server.crt"), &certs.path("server.enc.key"), ""), ":6:16:", "ssl_key_passphrase"),
        (base(&certs.path("server.crt"), &certs.path("server.enc.key"), "ssl_key_passphrase => \"wrong\""), ":6:16:", "cannot decrypt"),
        (base(&certs.path("server.crt"), &certs.path("server.key"), "ssl_client_authentication => required"), ":7:34:", "ssl_certificate_authorities"),
        (base(&certs.path("server.crt"), &certs.path("server.key"), "ssl_supported_protocols => [\"TLSv1.1\"]"), ":7:32:", "no supported TLS protocol"),
    ];
    for (config, at, message) in &cases {
        let (code, text) = check(config);
        assert_eq!(code, 1, "{config}\n{text}");
        assert!(text.contains(at) && text.contains(message), "expected {message:?} at {at} in:\n{text}");
    }
    let (code, text) = check(&base(&certs.path("server.crt"), &certs.path("server.enc.key"), "ssl_key_passphrase => \"s3cret\""));
    assert_eq!(code, 0, "{text}");
}

/// Options are checked: a misspelt one gets a suggestion, `enrich` values are known ones, the
/// old and new name of one setting are not both given, the port is required.
#[test]
fn beats_options_are_checked() {
    let cases = [
        ("input { beats { port => 5044 ssl_enabeld => true } }", "did you mean `ssl_enabled`?"),
        ("input { beats { port => 5044 enrich => [source_metadata, codec_metdata] } }", "did you mean `codec_metadata`?"),
        ("input { beats { port => 5044 enrich => [all, none] } }", "must be the only value"),
        ("input { beats { port => 5044 enrich => none include_codec_tag => false } }", "use only `enrich`"),
        ("input { beats { port => 5044 ssl => true ssl_enabled => true } }", "use only `ssl_enabled`"),
        ("input { beats { host => \"0.0.0.0\" } }", "requires the option `port`"),
        ("input { beats { port => 5044 ssl_enabled => true ssl_certificate => \"/x\" } }", "`ssl_key` is required"),
    ];
    for (config, message) in cases {
        let (code, text) = check(config);
        assert_eq!(code, 1, "{config}\n{text}");
        assert!(text.contains(message), "expected {message:?} for {config}:\n{text}");
    }
    let (code, text) = check(
        "input { beats { port => 5044 host => \"127.0.0.1\" client_inactivity_timeout => 30 include_codec_tag => false \
         add_hostname => true ecs_compatibility => v8 executor_threads => 2 codec => json } }",
    );
    assert_eq!(code, 0, "{text}");
}

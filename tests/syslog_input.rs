//! The `syslog` input end to end, through the real binary and its real peers: util-linux
//! `logger` sending RFC 3164 and RFC 5424 over UDP and TCP (newline and octet-counted framing,
//! structured data), rsyslog forwarding to sluice over TCP (RFC 5424, octet-counted), UDP
//! (RFC 3164) and TLS (RFC 5425, with client certificates), and openssl's TLS client. Every
//! field is checked against what the test told the peer to send: the priority is computed here
//! as facility × 8 + severity, labels come from a table written here from RFC 3164, times from
//! the test's own clock. Peers are installed by `tests/peers/syslog.sh` when missing.

mod common;
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// RFC 3164's facility and severity names, as Logstash labels them.
const FACILITY_LABELS: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP",
    "NTP",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITY_LABELS: [&str; 8] = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

/// A keyword `logger -p` takes, and the number syslog.h gives it.
type Named = (&'static str, u64);

/// (facility, severity) pairs the tests send.
const PRIORITIES: [(Named, Named); 5] = [
    (("local3", 19), ("warning", 4)),
    (("auth", 4), ("crit", 2)),
    (("user", 1), ("info", 6)),
    (("daemon", 3), ("debug", 7)),
    (("local7", 23), ("emerg", 0)),
];

fn peers() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/syslog.sh");
        let out = Command::new("bash").arg(&script).output().expect("run tests/peers/syslog.sh");
        assert!(out.status.success(), "installing the syslog peers failed: {}", String::from_utf8_lossy(&out.stderr));
    });
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

/// A running sluice with one syslog input on a free port and a file output.
struct Sluice {
    child: Option<Child>,
    /// Holds the data directory and the output file until the test ends.
    _dir: tempfile::TempDir,
    out: PathBuf,
    port: u16,
    api: u16,
    log: Arc<Mutex<String>>,
}

impl Sluice {
    fn start(options: &str) -> Sluice {
        Sluice::start_with(options, "out.jsonl", &[])
    }

    /// The same, writing to `output` in the data directory, with extra command-line arguments.
    fn start_with(options: &str, output: &str, extra: &[&str]) -> Sluice {
        let dir = temp_dir();
        let out = dir.path().join(output);
        let port = free_port();
        let api = free_port();
        let config = format!(
            r#"input {{ syslog {{ host => "127.0.0.1" port => {port} {options} }} }}
               output {{ file {{ path => "{}" }} }}"#,
            out.display()
        );
        let mut child = sluice()
            .args(["-e", &config, "--path.data", dir.path().to_str().unwrap(), "--api.http.port", &api.to_string(), "--log.level", "info"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let s = Sluice { child: Some(child), _dir: dir, out, port, api, log };
        eventually(Duration::from_secs(30), "sluice listening on UDP and TCP", || {
            let l = s.log.lock().unwrap();
            assert!(!l.contains(" ERROR "), "sluice failed to start:\n{l}");
            l.contains("listening on UDP") && l.contains("listening on TCP")
        });
        s
    }

    fn events(&self) -> Vec<Value> {
        read_jsonl(&self.out)
    }

    /// Wait until the file holds `n` events, then a little longer to catch any extra one.
    fn wait_events(&self, n: usize) -> Vec<Value> {
        eventually(Duration::from_secs(60), &format!("{n} events in the file"), || count_lines(&self.out) >= n);
        std::thread::sleep(Duration::from_millis(300));
        let events = self.events();
        assert_eq!(events.len(), n, "{events:#?}");
        events
    }

    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.api)).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    }

    /// A counter's value, found by a plain reading of the exposition.
    fn counter(&self, name_and_labels: &str) -> f64 {
        self.metrics().lines().find(|l| l.starts_with(name_and_labels)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    }

    fn stop(mut self) -> String {
        let child = self.child.take().unwrap();
        signal(&child, "TERM");
        let out = wait_output(child, Duration::from_secs(60));
        assert!(out.status.success(), "sluice exited with {:?}", out.status);
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn logger(tz: &str, args: &[&str]) {
    let status = Command::new("logger").env("TZ", tz).args(args).status().expect("run logger");
    assert!(status.success(), "logger {args:?} failed");
}

fn timestamp(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v["@timestamp"].as_str().unwrap()).unwrap().with_timezone(&Utc)
}

/// The event whose message is `message`.
fn by_message<'a>(events: &'a [Value], message: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["message"] == message).collect();
    assert_eq!(found.len(), 1, "events with message {message:?}: {events:#?}");
    found[0]
}

fn check_priority(e: &Value, facility: u64, severity: u64) {
    assert_eq!(e["priority"], json!(facility * 8 + severity), "{e}");
    assert_eq!(e["facility"], json!(facility), "{e}");
    assert_eq!(e["severity"], json!(severity), "{e}");
    assert_eq!(e["facility_label"], json!(FACILITY_LABELS[facility as usize]), "{e}");
    assert_eq!(e["severity_label"], json!(SEVERITY_LABELS[severity as usize]), "{e}");
}

/// `logger --rfc3164` over UDP and over TCP, from a sender in New York time: every field is the
/// one logger was told to send, and `@timestamp` is the true instant although the message
/// carries neither year nor zone.
#[test]
fn logger_rfc3164_over_udp_and_tcp() {
    peers();
    let tz = "America/New_York";
    let sl = Sluice::start(&format!(r#"timezone => "{tz}""#));
    let port = sl.port.to_string();
    let start = Utc::now();
    let mut expected = Vec::new();
    for transport in ["--udp", "--tcp"] {
        for (i, ((fac, f), (sev, s))) in PRIORITIES.iter().enumerate() {
            let message = format!("rfc3164 {transport} #{i}: quotes \"q\", colons a:b, brackets [x]");
            let tag = format!("prog{i}");
            let prio = format!("{fac}.{sev}");
            logger(tz, &["--rfc3164", transport, "-n", "127.0.0.1", "-P", &port, "-t", &tag, "--id=4242", "-p", &prio, &message]);
            expected.push((message, tag, *f, *s));
        }
    }
    let end = Utc::now();
    let events = sl.wait_events(expected.len());
    let short_host = hostname().split('.').next().unwrap().to_string();
    let zone: chrono_tz::Tz = tz.parse().unwrap();
    for (message, tag, f, s) in &expected {
        let e = by_message(&events, message);
        check_priority(e, *f, *s);
        assert_eq!(e["logsource"], json!(short_host));
        assert_eq!(e["program"], json!(tag));
        assert_eq!(e["pid"], json!("4242"));
        assert_eq!(e["host"], json!("127.0.0.1"));
        assert!(e.get("tags").is_none(), "{e}");
        // Whole seconds only: the sender's clock read, truncated.
        let t = timestamp(e);
        assert!(t >= start - chrono::Duration::seconds(1) && t <= end, "{t} not within {start}..{end}");
        // The text logger wrote is the New York wall-clock time of that instant.
        assert_eq!(e["timestamp"], json!(t.with_timezone(&zone).format("%b %e %H:%M:%S").to_string()));
    }
    sl.stop();
}

/// `logger --rfc5424` with a message id and two structured-data elements (values with escaped
/// quotes, backslashes and brackets), over TCP with octet counting, TCP with newlines, and UDP.
#[test]
fn logger_rfc5424_with_structured_data_over_every_framing() {
    peers();
    let sl = Sluice::start("");
    let port = sl.port.to_string();
    let start = Utc::now();
    let transports: [&[&str]; 3] = [&["--tcp", "--octet-count"], &["--tcp"], &["--udp"]];
    let mut expected = Vec::new();
    for (t, transport) in transports.iter().enumerate() {
        for (i, ((fac, f), (sev, s))) in PRIORITIES.iter().enumerate() {
            let message = format!("rfc5424 {transport:?} #{i}: café ünïcödé");
            let prio = format!("{fac}.{sev}");
            let msgid = format!("MSG{t}{i}");
            let mut args = vec!["--rfc5424=notq", "-n", "127.0.0.1", "-P", &port, "-t", "app5424", "--id=31337", "--msgid", &msgid, "-p", &prio];
            args.extend_from_slice(transport);
            args.extend_from_slice(&["--sd-id", "zoo@32473", "--sd-param", r#"tiger="hungry""#, "--sd-param", r#"say="a \"quoted\" word""#]);
            args.extend_from_slice(&["--sd-id", "paths@32473", "--sd-param", r#"p="C:\\dir\]x""#]);
            args.push(&message);
            logger("Europe/Paris", &args);
            expected.push((message, msgid, *f, *s));
        }
    }
    let end = Utc::now();
    let events = sl.wait_events(expected.len());
    for (message, msgid, f, s) in &expected {
        let e = by_message(&events, message);
        check_priority(e, *f, *s);
        assert_eq!(e["version"], json!(1));
        assert_eq!(e["logsource"], json!(hostname()));
        assert_eq!(e["program"], json!("app5424"));
        assert_eq!(e["pid"], json!("31337"));
        assert_eq!(e["msgid"], json!(msgid));
        assert_eq!(
            e["syslog5424_sd"],
            json!({"zoo@32473": {"tiger": "hungry", "say": "a \"quoted\" word"}, "paths@32473": {"p": "C:\\dir]x"}}),
            "{e}"
        );
        assert!(e.get("tags").is_none(), "{e}");
        // Microseconds and a +01:00/+02:00 offset in the message; the same instant in UTC here.
        let t = timestamp(e);
        assert!(t >= start && t <= end, "{t} not within {start}..{end}");
        let written = DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(written.with_timezone(&Utc).timestamp_millis(), t.timestamp_millis());
        assert_ne!(written.offset().local_minus_utc(), 0, "logger wrote Paris time: {written}");
    }
    sl.stop();
}

/// With `ecs_compatibility => v8` the same messages land under Elastic Common Schema names.
#[test]
fn ecs_names() {
    peers();
    let sl = Sluice::start(r#"ecs_compatibility => "v8" timezone => "UTC""#);
    let port = sl.port.to_string();
    logger("UTC", &["--rfc3164", "--tcp", "-n", "127.0.0.1", "-P", &port, "-t", "sshd", "--id=99", "-p", "auth.notice", "ecs 3164"]);
    logger(
        "UTC",
        &[
            "--rfc5424=notq",
            "--udp",
            "-n",
            "127.0.0.1",
            "-P",
            &port,
            "-t",
            "web",
            "--id=7",
            "--msgid",
            "REQ",
            "-p",
            "local1.err",
            "--sd-id",
            "req@1",
            "--sd-param",
            r#"id="42""#,
            "ecs 5424",
        ],
    );
    let events = sl.wait_events(2);
    let host = hostname();
    let e = by_message(&events, "ecs 3164");
    let (f, s) = (4u64, 5u64);
    assert_eq!(
        e["log"],
        json!({"syslog": {"priority": f * 8 + s, "facility": {"code": f, "name": FACILITY_LABELS[4]}, "severity": {"code": s, "name": SEVERITY_LABELS[5]}}})
    );
    assert_eq!(e["host"], json!({"ip": "127.0.0.1", "hostname": host.split('.').next().unwrap()}));
    assert_eq!(e["process"], json!({"name": "sshd", "pid": 99}));
    assert_eq!(e["service"], json!({"type": "system"}));
    assert!(e["event"]["original"].as_str().unwrap().ends_with("sshd[99]: ecs 3164"), "{e}");
    for legacy in ["priority", "logsource", "program", "timestamp", "facility_label"] {
        assert!(e.get(legacy).is_none(), "{legacy} in {e}");
    }
    let e = by_message(&events, "ecs 5424");
    let (f, s) = (17u64, 3u64);
    assert_eq!(
        e["log"],
        json!({"syslog": {"priority": f * 8 + s, "facility": {"code": f, "name": "local1"}, "severity": {"code": s, "name": "Error"},
               "msgid": "REQ", "version": 1, "structured_data": {"req@1": {"id": "42"}}}})
    );
    assert_eq!(e["host"], json!({"ip": "127.0.0.1", "hostname": host}));
    assert_eq!(e["process"], json!({"name": "web", "pid": 7}));
    assert!(e["event"]["original"].as_str().unwrap().starts_with(&format!("<{}>1 ", f * 8 + s)), "{e}");
    sl.stop();
}

/// Start rsyslogd in the foreground with `config` (its own work directory and pid file, no
/// system log sockets), running as the current user.
struct Rsyslog {
    child: Child,
    _work: tempfile::TempDir,
}

impl Rsyslog {
    fn start(config: impl Fn(&Path) -> String) -> Rsyslog {
        let work = temp_dir();
        let conf = write(work.path(), "rsyslog.conf", &config(work.path()));
        let child = Command::new("rsyslogd")
            .args(["-n", "-f", conf.to_str().unwrap(), "-i", work.path().join("rsyslogd.pid").to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rsyslogd");
        Rsyslog { child, _work: work }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn app_lines(n: usize, what: &str) -> Vec<String> {
    (0..n).map(|i| format!("{what} line {i}: GET /orders/{i} 200 — naïve café")).collect()
}

/// rsyslog tails a file the test writes and forwards each line twice: over TCP as RFC 5424 with
/// octet counting, and over UDP in its forwarding format (RFC 3164 header with an ISO8601 time).
/// Every line arrives once per transport with rsyslog's hostname, the tag, facility and severity
/// the imfile input was configured with.
#[test]
fn rsyslog_forwards_over_tcp_octet_counted_and_udp() {
    peers();
    let sl = Sluice::start("");
    let lines = app_lines(200, "rsyslog");
    let start = Utc::now();
    let port = sl.port;
    let _rsyslog = Rsyslog::start(|work| {
        write(work, "app.log", &(lines.join("\n") + "\n"));
        format!(
            r#"
global(workDirectory="{w}" localHostname="rsyslog-peer" maxMessageSize="64k")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{w}/app.log" Tag="webapp:" Facility="local3" Severity="warning" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="udp" template="RSYSLOG_ForwardFormat")
}}
"#,
            w = work.display()
        )
    });
    let events = sl.wait_events(lines.len() * 2);
    let end = Utc::now();
    let (f, s) = (19u64, 4u64);
    for line in &lines {
        let copies: Vec<&Value> = events.iter().filter(|e| e["message"] == json!(line)).collect();
        assert_eq!(copies.len(), 2, "{line}: {copies:#?}");
        let (tcp, udp): (Vec<&Value>, Vec<&Value>) = copies.iter().partition(|e| e.get("version").is_some());
        assert_eq!((tcp.len(), udp.len()), (1, 1), "one RFC 5424 copy over TCP, one RFC 3164 copy over UDP: {copies:#?}");
        for e in [tcp[0], udp[0]] {
            check_priority(e, f, s);
            assert_eq!(e["logsource"], "rsyslog-peer");
            assert_eq!(e["program"], "webapp");
            assert_eq!(e["host"], "127.0.0.1");
            assert!(e.get("tags").is_none(), "{e}");
            let t = timestamp(e);
            assert!(t >= start - chrono::Duration::seconds(1) && t <= end, "{t} not within {start}..{end}");
        }
        assert!(tcp[0].get("msgid").is_none() && tcp[0].get("pid").is_none() && tcp[0].get("syslog5424_sd").is_none(), "{}", tcp[0]);
        // RSYSLOG_ForwardFormat writes its time as ISO8601, which Logstash keeps in timestamp8601 too.
        assert_eq!(udp[0]["timestamp8601"], udp[0]["timestamp"]);
    }
    sl.stop();
}

/// Make a CA, a server certificate for localhost and a client certificate with openssl.
fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=sluice test CA", "-keyout", "ca.key", "-out", "ca.pem"];
    ca.extend_from_slice(&ec);
    run(&ca);
    for (name, usage, san) in [("server", "serverAuth", "DNS:localhost,IP:127.0.0.1"), ("client", "clientAuth", "DNS:client.test")] {
        let mut req = vec!["req", "-new", "-subj"];
        let subject = format!("/CN={name}");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        req.extend_from_slice(&[&subject, "-keyout", &key, "-out", &csr]);
        req.extend_from_slice(&ec);
        run(&req);
        let ext = format!("{name}.ext");
        std::fs::write(dir.join(&ext), format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\nsubjectAltName={san}\n")).unwrap();
        let pem = format!("{name}.pem");
        run(&["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", &ext, "-out", &pem]);
    }
}

/// Send one line with openssl's TLS client, with or without a client certificate.
fn openssl_send(port: u16, dir: &Path, client_cert: bool, line: &str) {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect, "-CAfile", "ca.pem", "-quiet", "-no_ign_eof"];
    if client_cert {
        args.extend_from_slice(&["-cert", "client.pem", "-key", "client.key"]);
    }
    let mut child =
        Command::new("openssl").args(&args).current_dir(dir).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{line}\n").as_bytes()).unwrap();
    let _ = wait_output(child, Duration::from_secs(30));
}

/// RFC 5425: rsyslog forwards over TLS (GnuTLS, octet counting) with a client certificate the
/// input requires and checks against its CA; openssl's client gets in only with a certificate;
/// plain text on the TLS port never becomes an event.
#[test]
fn tls_with_client_certificates() {
    peers();
    let certs = temp_dir();
    certificates(certs.path());
    let c = |f: &str| certs.path().join(f).display().to_string();
    let sl = Sluice::start(&format!(
        r#"ssl_enabled => true ssl_certificate => "{}" ssl_key => "{}" ssl_certificate_authorities => ["{}"] ssl_client_authentication => "required""#,
        c("server.pem"),
        c("server.key"),
        c("ca.pem")
    ));
    let port = sl.port;
    let lines = app_lines(50, "tls");
    let _rsyslog = Rsyslog::start(|work| {
        write(work, "app.log", &(lines.join("\n") + "\n"));
        format!(
            r#"
global(workDirectory="{w}" localHostname="rsyslog-tls-peer"
       DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{w}/app.log" Tag="secure:" Facility="local5" Severity="info" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" StreamDriver="gtls" StreamDriverMode="1"
         StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format")
}}
"#,
            w = work.display(),
            ca = c("ca.pem"),
            cert = c("client.pem"),
            key = c("client.key")
        )
    });
    let events = sl.wait_events(lines.len());
    for line in &lines {
        let e = by_message(&events, line);
        check_priority(e, 21, 6);
        assert_eq!(e["logsource"], "rsyslog-tls-peer");
        assert_eq!(e["program"], "secure");
    }
    openssl_send(port, certs.path(), true, "<14>1 - openssl-peer tester - - - with a client certificate");
    openssl_send(port, certs.path(), false, "<14>1 - openssl-peer tester - - - without a client certificate");
    {
        let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = plain.write_all(b"<14>1 - plain tester - - - in clear text\n");
    }
    let events = sl.wait_events(lines.len() + 1);
    let e = by_message(&events, "with a client certificate");
    assert_eq!((e["logsource"].clone(), e["priority"].clone()), (json!("openssl-peer"), json!(14)));
    assert!(!events.iter().any(|e| e["message"] == "without a client certificate" || e["message"] == "in clear text"));
    sl.stop();
}

/// UDP has no backpressure: with a tiny socket buffer and a sender far faster than the
/// pipeline, the kernel drops datagrams, and every one of them is accounted for: the events in
/// the file plus `sluice_udp_dropped_total` equal the datagrams sent, and none arrives twice.
#[test]
fn udp_drops_are_counted() {
    let sl = Sluice::start("receive_buffer_bytes => 4096");
    const SENT: usize = 100_000;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        sock.send_to(format!("<13>Oct 11 22:14:15 flood load: {i}").as_bytes(), ("127.0.0.1", sl.port)).unwrap();
    }
    let dropped_metric = "sluice_udp_dropped_total{pipeline=\"main\",plugin_id=\"syslog_1\"}";
    eventually(Duration::from_secs(60), "every datagram received or counted as dropped", || {
        count_lines(&sl.out) + sl.counter(dropped_metric) as usize >= SENT
    });
    std::thread::sleep(Duration::from_millis(1500));
    let dropped = sl.counter(dropped_metric) as usize;
    let events = sl.events();
    assert!(dropped > 0, "a 4 KiB buffer should have overflowed");
    assert_eq!(events.len() + dropped, SENT, "received {} + dropped {dropped}", events.len());
    let mut seen = vec![false; SENT];
    for e in &events {
        let i: usize = e["message"].as_str().unwrap().parse().unwrap();
        assert!(!seen[i], "datagram {i} twice");
        seen[i] = true;
    }
    let log = sl.stop();
    assert!(log.contains("dropped syslog UDP datagrams"), "{log}");
}

/// Framing is decided per connection (octet counting when the first byte is a digit, trailers
/// otherwise); LF, CRLF and NUL all end a message; an over-long message is cut and tagged; what
/// a sender leaves unterminated when it disconnects is still an event; a line that is not
/// syslog keeps its text and is tagged.
#[test]
fn framing_per_connection() {
    let sl = Sluice::start("max_message_bytes => 100");
    let port = sl.port;
    let msg = |i: usize| format!("<13>Oct 11 22:14:15 host app: message {i}");
    let octets = |m: &str| format!("{} {m}", m.len());
    let long = format!("<13>Oct 11 22:14:15 host app: {}", "x".repeat(300));
    let send = |bytes: Vec<u8>| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&bytes).unwrap();
    };
    // Both framings at once, on concurrent connections.
    let mut counted = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut newline = TcpStream::connect(("127.0.0.1", port)).unwrap();
    counted.write_all(format!("{}{}", octets(&msg(0)), octets(&msg(1))).as_bytes()).unwrap();
    newline.write_all(format!("{}\n{}\r\n{}\0", msg(2), msg(3), msg(4)).as_bytes()).unwrap();
    counted.write_all(format!("{}{}", octets(&long), octets(&msg(5))).as_bytes()).unwrap();
    newline.write_all(format!("{long}\n{}\n", msg(6)).as_bytes()).unwrap();
    drop(counted);
    drop(newline);
    send(format!("{}\n{}", msg(7), msg(8)).into_bytes());
    send(b"not syslog at all\n".to_vec());
    let events = sl.wait_events(12);
    for i in 0..=8 {
        let e = by_message(&events, &format!("message {i}"));
        assert_eq!(e["program"], "app");
        assert!(e.get("tags").is_none(), "{e}");
    }
    let cut: Vec<&Value> = events.iter().filter(|e| e["tags"].as_array().is_some_and(|t| t.contains(&json!("_line_truncated")))).collect();
    assert_eq!(cut.len(), 2, "{events:#?}");
    for e in cut {
        // The first 100 bytes of the message: its header and the start of the x's.
        assert_eq!(e["message"], json!("x".repeat(100 - "<13>Oct 11 22:14:15 host app: ".len())));
    }
    let e = by_message(&events, "not syslog at all");
    assert_eq!(e["tags"], json!(["_grokparsefailure_sysloginput", "_syslogparsefailure"]));
    assert_eq!((e["priority"].clone(), e["severity_label"].clone()), (json!(13), json!("Notice")));
    let metrics = sl.metrics();
    assert!(metrics.contains("reason=\"_line_truncated\"} 2"), "{metrics}");
    assert!(metrics.contains("reason=\"_syslogparsefailure\"} 1"), "{metrics}");
    sl.stop();
}

/// TCP has backpressure: while the output cannot write (a FIFO nobody reads yet), the sender's
/// writes stall instead of messages being dropped; once the output drains, every message
/// arrives, in order.
#[test]
fn tcp_backpressure_reaches_the_sender() {
    let sl = Sluice::start_with("", "out.fifo", &["-w", "1", "-b", "10"]);
    // The output file does not exist yet: make it a FIFO before the first event is written.
    assert!(Command::new("mkfifo").arg(&sl.out).status().unwrap().success());
    const TOTAL: usize = 200_000;
    let port = sl.port;
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..TOTAL {
            let m = format!("<14>1 2024-05-01T12:00:00Z h app - - - {i:06} {}", "x".repeat(200));
            s.write_all(format!("{} {m}", m.len()).as_bytes()).unwrap();
            if i % 1000 == 0 {
                let _ = tx.send(i);
            }
        }
        let _ = tx.send(TOTAL);
    });
    std::thread::sleep(Duration::from_secs(3));
    let progress = rx.try_iter().last().unwrap_or(0);
    assert!(progress < TOTAL, "the sender was never slowed down");
    let reader = BufReader::new(std::fs::File::open(&sl.out).unwrap());
    let counter = std::thread::spawn(move || {
        let mut next = 0usize;
        for line in reader.lines().map_while(Result::ok) {
            let e: Value = serde_json::from_str(&line).unwrap();
            let seq: usize = e["message"].as_str().unwrap()[..6].parse().unwrap();
            assert_eq!(seq, next, "messages out of order or lost");
            next += 1;
            if next == TOTAL {
                break;
            }
        }
        next
    });
    sender.join().unwrap();
    assert_eq!(counter.join().unwrap(), TOTAL);
    sl.stop();
}

/// With `proxy_protocol => true` the address in the PROXY v1 line stands for the sender, and a
/// connection without one is refused.
#[test]
fn proxy_protocol_v1() {
    let sl = Sluice::start("proxy_protocol => true");
    {
        let mut s = TcpStream::connect(("127.0.0.1", sl.port)).unwrap();
        s.write_all(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 514\r\n<13>Oct 11 22:14:15 h app: behind a proxy\n").unwrap();
    }
    {
        let mut s = TcpStream::connect(("127.0.0.1", sl.port)).unwrap();
        s.write_all(b"<13>Oct 11 22:14:15 h app: no proxy header\n").unwrap();
    }
    let events = sl.wait_events(1);
    assert_eq!(events[0]["message"], "behind a proxy");
    assert_eq!(events[0]["host"], "203.0.113.9");
    sl.stop();
}

/// A year-less timestamp read on New Year's Day is last December's; the year comes from the
/// clock, so this checks the rule on the current date: a message stamped one minute ago carries
/// this year, whatever the date.
#[test]
fn rfc3164_year_is_taken_from_the_clock() {
    let sl = Sluice::start(r#"timezone => "UTC""#);
    let t = Utc::now() - chrono::Duration::seconds(60);
    let t = Utc.timestamp_opt(t.timestamp(), 0).unwrap();
    let line = format!("<13>{} h app: a minute ago\n", t.format("%b %e %H:%M:%S"));
    TcpStream::connect(("127.0.0.1", sl.port)).unwrap().write_all(line.as_bytes()).unwrap();
    let events = sl.wait_events(1);
    assert_eq!(timestamp(&events[0]), t);
    sl.stop();
}

fn check(config: &str) -> (i32, String) {
    let dir = temp_dir();
    let path = write(dir.path(), "pipeline.conf", config);
    let out = sluice().args(["-t", "-f", path.to_str().unwrap()]).output().expect("run sluice");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Options are checked at `-t` time: Logstash's own options pass; a custom grok pattern, an
/// unknown zone, TLS without its files and a misspelt option are errors that say why.
#[test]
fn config_is_checked() {
    let (code, text) = check(
        r#"input { syslog { port => 5514 } syslog { port => 5515 host => "::" timezone => "Europe/Paris" locale => "en_US"
             use_labels => false facility_labels => ["k"] severity_labels => ["e"] proxy_protocol => false
             grok_pattern => "<%{POSINT:priority}>%{SYSLOGLINE}" syslog_field => "message" ecs_compatibility => "v1"
             service_type => "network" max_message_bytes => 8192 receive_buffer_bytes => 1048576 codec => plain
             tags => ["syslog"] type => "syslog" } }
           output { null {} }"#,
    );
    assert_eq!(code, 0, "{text}");
    for (config, expected) in [
        (r#"syslog { grok_pattern => "%{GREEDYDATA:message}" }"#, "does not take a custom `grok_pattern`"),
        (r#"syslog { timezone => "Mars/Olympus" }"#, "unknown time zone `Mars/Olympus`"),
        (r#"syslog { ssl_enabled => true }"#, "needs `ssl_certificate` and `ssl_key`"),
        (r#"syslog { ssl_enabled => true ssl_certificate => "/nonexistent.pem" ssl_key => "/nonexistent.key" }"#, "cannot read /nonexistent.pem"),
        (r#"syslog { prot => 5514 }"#, "did you mean `port`?"),
    ] {
        let (code, text) = check(&format!("input {{ {config} }} output {{ null {{}} }}"));
        assert_eq!(code, 1, "{config}: {text}");
        assert!(text.contains(expected), "{config}: {text}");
    }
}

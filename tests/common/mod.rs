//! Helpers shared by the black-box tests: run the real `sluice` binary and read what it wrote.
#![allow(dead_code)]

pub mod beats;
pub mod elasticsearch;
pub mod fake_http;
pub mod loki;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn sluice() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.env_remove("SLUICE_LOG");
    c
}

/// Run sluice with `args`, feeding `stdin`, and wait for it to exit (at most 60 s).
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = sluice()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = wait_output(child, Duration::from_secs(60));
    let _ = writer.join();
    out
}

/// Run sluice on `config` with one worker over JSON lines on stdin until it exits (the stdin
/// input ends, the pipeline drains), and check that it exited cleanly.
pub fn run_stdin(config: &str, data: &Path, lines: &[serde_json::Value]) -> Output {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let api = free_port().to_string();
    let out = run_with_stdin(&["-e", config, "--path.data", data.to_str().unwrap(), "--api.http.port", &api, "-w", "1"], input.as_bytes());
    assert!(out.status.success(), "sluice failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "sluice did not exit within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect()
}

/// A free loopback port, never the same one twice in a test binary: tests run in parallel
/// threads, and a port handed out but not yet bound must not be handed out again.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // UDP too: some inputs listen on both.
        if !given.contains(&port) && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

/// Wait until something listens on the port.
///
/// A connection to a loopback port nobody listens on can still succeed: when the kernel picks
/// that same port as the connection's own source port, the socket connects to itself (TCP
/// simultaneous open). Such a connection says nothing about a listener, so it does not count.
pub fn wait_listening(port: u16, limit: Duration) {
    let start = Instant::now();
    let listening = || match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s.local_addr().ok() != s.peer_addr().ok(),
        Err(_) => false,
    };
    while !listening() {
        assert!(start.elapsed() < limit, "nothing listening on {port} after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// `sluice -t -f pipeline.conf` on a config written to a file: the exit code and everything it
/// printed, with the file's temporary path shown as `pipeline.conf` so that messages can be
/// checked for `pipeline.conf:line:column`.
pub fn check_config_file(config: &str) -> (i32, String) {
    let dir = temp_dir();
    let path = write(dir.path(), "pipeline.conf", config);
    let out = sluice().args(["-t", "-f", path.to_str().unwrap()]).output().expect("run sluice");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        .replace(path.to_str().unwrap(), "pipeline.conf");
    (out.status.code().unwrap_or(-1), text)
}

/// Send SIGTERM (or another signal) to a child.
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().expect("kill");
    assert!(status.success());
}

/// Wait until `cond` holds (polling), or fail after `limit`.
pub fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|c| **c == b'\n').count()).unwrap_or(0)
}

/// The directory holding Debian's `prometheus` and `promtool`, unpacked into the cache by
/// tests/peers/prometheus.sh on first use.
pub fn prometheus_bin() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/prometheus.sh");
    let out = Command::new("bash").arg(&script).output().expect("run tests/peers/prometheus.sh");
    assert!(out.status.success(), "installing Prometheus failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// GET over loopback HTTP/1.1; returns (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_with(port, path, "")
}

/// GET with extra header lines (each ending in \r\n).
pub fn http_get_with(port: u16, path: &str, headers: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    let body = if text.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(&body) } else { body };
    (status, body)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A real server started by one of the scripts in tests/peers (`SCRIPT start ARGS... OWNER_PID`
/// prints its run directory); the script stops it when this test process exits, however it ends.
pub struct Peer {
    script: PathBuf,
    pub run: PathBuf,
}

impl Peer {
    pub fn start(script: &str, args: &[String]) -> Peer {
        Peer::start_with_env(script, args, &[])
    }

    /// Like `start`, with environment variables for the script.
    pub fn start_with_env(script: &str, args: &[String], env: &[(&str, &str)]) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers").join(script);
        let out = Command::new("bash")
            .envs(env.iter().copied())
            .arg(&script)
            .arg("start")
            .args(args)
            .arg(std::process::id().to_string())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        assert!(out.status.success(), "{} did not start its server", script.display());
        let run = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default());
        Peer { script, run }
    }

    /// `kill`, `restart` or `stop` the server.
    pub fn script(&self, verb: &str) {
        let ok = Command::new("bash").arg(&self.script).arg(verb).arg(&self.run).status().unwrap().success();
        assert!(ok, "{} {verb} failed", self.script.display());
    }
}

/// The entries of a pipeline's dead letter queue (`main`), read from its segment files.
pub fn dlq_entries(data: &Path) -> Vec<serde_json::Value> {
    let dir = data.join("dead_letter_queue/main");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.sort();
    files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>()).collect()
}

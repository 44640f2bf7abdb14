//! The `kubernetes` input end to end, through the real binary. The test plays the kubelet and
//! the container runtime: it writes CRI and docker json-file logs under a `pods/` directory,
//! links them from `containers/` under the kubelet's names, splits long lines into `P`…`F`
//! pieces (or docker's newline-less pieces), rotates by renaming `0.log` to `0.log.<time>` and
//! later gzipping it, truncates in place, and adds pods while sluice runs. The writer records
//! where each line starts in its file and when it was written; every event is checked against
//! that record — once and only once, with its pod's metadata. A small HTTP server speaks the
//! API server's list and watch for pods, so the enrichment is checked against the objects the
//! test served, including a watch that expires (410) and forces a new list.

mod common;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, TimeZone, Utc};
use common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A line the test wrote, as it expects to see it.
#[derive(Debug, Clone)]
struct Written {
    link: PathBuf,
    offset: u64,
    stream: &'static str,
    time: DateTime<Utc>,
    namespace: String,
    pod: String,
    uid: String,
    container: String,
    container_id: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Cri,
    Docker,
}

/// One container's log, written the way the runtime writes it.
struct Container {
    runtime: Runtime,
    file: PathBuf,
    link: PathBuf,
    namespace: String,
    pod: String,
    uid: String,
    name: String,
    id: String,
    clock: DateTime<Utc>,
}

impl Container {
    fn next_time(&mut self) -> DateTime<Utc> {
        self.clock += ChronoDuration::microseconds(1_234);
        self.clock
    }

    fn offset(&self) -> u64 {
        std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0)
    }

    fn append(&self, bytes: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.file).unwrap();
        f.write_all(bytes.as_bytes()).unwrap();
    }

    fn record(&self, offset: u64, stream: &'static str, time: DateTime<Utc>) -> Written {
        Written {
            link: self.link.clone(),
            offset,
            stream,
            time,
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            uid: self.uid.clone(),
            container: self.name.clone(),
            container_id: self.id.clone(),
        }
    }

    /// Write `text` as one line, in `pieces` pieces (the runtime splits long lines).
    fn line(&mut self, log: &Log, stream: &'static str, text: &str, pieces: usize) {
        let offset = self.offset();
        let first_time = self.clock + ChronoDuration::microseconds(1_234);
        let chars: Vec<char> = text.chars().collect();
        let per = chars.len().div_ceil(pieces.max(1)).max(1);
        let parts: Vec<String> = if chars.is_empty() { vec![String::new()] } else { chars.chunks(per).map(|c| c.iter().collect()).collect() };
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let t = self.next_time().to_rfc3339_opts(SecondsFormat::Nanos, true);
            match self.runtime {
                Runtime::Cri => out.push_str(&format!("{t} {stream} {} {part}\n", if last { "F" } else { "P" })),
                Runtime::Docker => {
                    let log = if last { format!("{part}\n") } else { part.clone() };
                    out.push_str(&serde_json::to_string(&json!({"log": log, "stream": stream, "time": t})).unwrap());
                    out.push('\n');
                }
            }
        }
        self.append(&out);
        log.lock().unwrap().insert(text.to_string(), self.record(offset, stream, first_time));
    }

    /// kubelet's rotation: rename, and a new empty file under the old name.
    fn rotate(&self, suffix: &str) -> PathBuf {
        let rotated = PathBuf::from(format!("{}.{suffix}", self.file.display()));
        std::fs::rename(&self.file, &rotated).unwrap();
        std::fs::File::create(&self.file).unwrap();
        rotated
    }
}

/// Every line written, by text.
type Log = Arc<Mutex<HashMap<String, Written>>>;

/// The node's /var/log: `containers/` links into `pods/`.
struct Node {
    root: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let root = temp_dir();
        std::fs::create_dir_all(root.path().join("containers")).unwrap();
        std::fs::create_dir_all(root.path().join("pods")).unwrap();
        Node { root }
    }

    fn glob(&self) -> String {
        format!("{}/containers/*.log", self.root.path().display())
    }

    fn container(&self, runtime: Runtime, namespace: &str, pod: &str, uid: &str, name: &str) -> Container {
        // A 64-hex-digit id, like the runtime's, made from the names.
        let seed = format!("{namespace}{pod}{name}");
        let id: String = (0..64).map(|i| b"0123456789abcdef"[(seed.bytes().map(usize::from).sum::<usize>() * 31 + i * 7) % 16] as char).collect();
        let dir = self.root.path().join("pods").join(format!("{namespace}_{pod}_{uid}")).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("0.log");
        std::fs::File::create(&file).unwrap();
        let link = self.root.path().join("containers").join(format!("{pod}_{namespace}_{name}-{id}.log"));
        std::os::unix::fs::symlink(&file, &link).unwrap();
        Container {
            runtime,
            file,
            link,
            namespace: namespace.into(),
            pod: pod.into(),
            uid: uid.into(),
            name: name.into(),
            id,
            clock: Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
        }
    }
}

struct Sluice {
    child: Option<Child>,
    data: PathBuf,
    out: PathBuf,
    _dir: tempfile::TempDir,
    config: String,
}

impl Sluice {
    fn config(input: &str, out: &Path) -> String {
        format!("input {{ kubernetes {{ {input} }} }} output {{ file {{ path => \"{}\" }} }}", out.display())
    }

    fn start(input: &str) -> Sluice {
        let dir = temp_dir();
        let data = dir.path().join("data");
        let out = dir.path().join("out.jsonl");
        let config = Sluice::config(input, &out);
        let mut s = Sluice { child: None, data, out, _dir: dir, config };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let api = free_port().to_string();
        let child = sluice()
            .args(["-e", &self.config, "--path.data", self.data.to_str().unwrap(), "-w", "1", "-b", "50", "--log.level", "warn", "--api.http.port", &api])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sluice");
        self.child = Some(child);
    }

    fn events(&self) -> Vec<Value> {
        complete_lines(&self.out)
    }

    fn wait_for(&self, what: &str, mut cond: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let mut last = Vec::new();
        eventually(Duration::from_secs(60), what, || {
            last = self.events();
            cond(&last)
        });
        last
    }

    fn stop(&mut self) {
        let child = self.child.take().expect("running");
        signal(&child, "TERM");
        let out = wait_output(child, Duration::from_secs(60));
        assert!(out.status.success(), "sluice failed: {:?}", out.status);
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn checkpoints(&self) -> Value {
        let p = self.data.join("kubernetes/main/checkpoints.json");
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
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

/// The JSON lines of a file being written: a last line without its newline is not there yet.
fn complete_lines(path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes[..end]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap_or_else(|e| panic!("bad JSON line {:?}: {e}", String::from_utf8_lossy(l))))
        .collect()
}

fn messages(events: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for e in events {
        *m.entry(e["message"].as_str().unwrap_or("").to_string()).or_insert(0) += 1;
    }
    m
}

/// `actual` has every field `expected` has, with the same value (and maybe more fields).
fn includes(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| includes(av, v))),
        _ => actual == expected,
    }
}

/// Each written line exactly once, with the fields its writer recorded.
fn check_exactly_once(events: &[Value], log: &Log) {
    let log = log.lock().unwrap();
    let counts = messages(events);
    let missing: Vec<&String> = log.keys().filter(|k| !counts.contains_key(*k)).collect();
    assert!(missing.is_empty(), "{} lines missing, e.g. {:?}", missing.len(), missing.iter().take(5).collect::<Vec<_>>());
    let repeated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "{} lines repeated, e.g. {:?}", repeated.len(), repeated.iter().take(5).collect::<Vec<_>>());
    for e in events {
        let text = e["message"].as_str().unwrap();
        let w = log.get(text).unwrap_or_else(|| panic!("an event the test never wrote: {e}"));
        let expected = json!({
            "message": text,
            "@timestamp": w.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "stream": w.stream,
            "log": {"file": {"path": w.link.to_str().unwrap()}, "offset": w.offset},
            "kubernetes": {
                "namespace": w.namespace,
                "pod": {"name": w.pod, "uid": w.uid},
                "container": {"name": w.container}
            },
            "container": {"id": w.container_id}
        });
        for key in ["message", "@timestamp", "stream", "log", "kubernetes", "container"] {
            assert!(includes(&e[key], &expected[key]), "field {key} of {text:?}: {} does not hold {}", e[key], expected[key]);
        }
    }
}

/// Every line of CRI and docker json-file logs arrives once, with its pod, container, stream,
/// runtime time, path and offset — split lines joined, while files are rotated (renamed, then
/// gzipped), truncated in place, and new pods appear; excluded files are not read.
#[test]
fn every_line_once_through_splits_rotation_truncation_and_new_pods() {
    let node = Node::new();
    let log: Log = Arc::default();
    let mut api = node.container(Runtime::Cri, "shop", "api-7f9c-x1", "uid-api", "app");
    let mut web = node.container(Runtime::Docker, "shop", "web-0", "uid-web", "nginx");
    let mut noisy = node.container(Runtime::Cri, "kube-system", "coredns-1", "uid-dns", "coredns");
    // Lines that exist before sluice starts are read from the start (Filebeat's behaviour).
    for i in 0..50 {
        api.line(&log, if i % 3 == 0 { "stderr" } else { "stdout" }, &format!("api early {i}"), 1);
        web.line(&log, "stdout", &format!("web early {i}"), 1);
    }
    let ignored = log.clone();
    noisy.line(&ignored, "stdout", "never read", 1);
    log.lock().unwrap().remove("never read");

    let mut s = Sluice::start(&format!(
        // Rescans more often than idle files are polled: a rotation is seen before the lines
        // written just ahead of it were read, so those must come through the old file's handle.
        "path => [\"{}\"] exclude => [\"*_kube-system_*\"] discover_interval => 0.1 stat_interval => 1 checkpoint_interval => 0.2",
        node.glob()
    ));
    // Long lines split by the runtime, interleaved with the other stream.
    for i in 0..40 {
        let long = format!("api long {i} {}", "x".repeat(300 + i * 50));
        api.line(&log, "stdout", &long, 4);
        api.line(&log, "stderr", &format!("api err {i}"), 1);
        web.line(&log, if i % 2 == 0 { "stdout" } else { "stderr" }, &format!("web long {i} {}", "y".repeat(500)), 3);
    }
    let total = log.lock().unwrap().len();
    s.wait_for("the first lines", |e| e.len() >= total);

    // Rotation: lines written just before the rename are read through the old file's handle.
    for i in 0..200 {
        api.line(&log, "stdout", &format!("api before rotation {i}"), 1);
    }
    let rotated = api.rotate("20260301-100000");
    for i in 0..100 {
        api.line(&log, "stdout", &format!("api after rotation {i}"), if i % 10 == 0 { 2 } else { 1 });
    }
    // Copytruncate: once sluice has read web's file, it is emptied and written again.
    let total = log.lock().unwrap().len();
    s.wait_for("the lines around the rotation", |e| e.len() >= total);
    std::fs::OpenOptions::new().write(true).open(&web.file).unwrap().set_len(0).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..5 {
        web.line(&log, "stdout", &format!("web after truncation {i}"), 1);
    }
    // The kubelet compresses the rotated file later; the .gz is not read.
    let raw = std::fs::read(&rotated).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    std::fs::write(format!("{}.gz", rotated.display()), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&rotated).unwrap();

    // A pod that appears while sluice runs is read from its first line.
    let mut late = node.container(Runtime::Cri, "batch", "job-42-abcde", "uid-job", "worker");
    for i in 0..30 {
        late.line(&log, "stdout", &format!("late pod {i}"), 1);
    }
    let total = log.lock().unwrap().len();
    let events = s.wait_for("every line", |e| e.len() >= total);
    // Time for anything read twice to show up too.
    std::thread::sleep(Duration::from_millis(800));
    s.stop();
    let events = if s.events().len() > events.len() { s.events() } else { events };
    check_exactly_once(&events, &log);
    assert_eq!(events.len(), total);
}

/// The output file as a named pipe drained slowly by the test, so that the pipeline always
/// holds events sluice has read and sent but the output has not yet written (and so not
/// acknowledged): a checkpoint that ran ahead of the acknowledgements would lose them at a
/// kill. Each writer session (one sluice process) ends with EOF; `sessions` counts them.
struct SlowReader {
    copy: PathBuf,
    sessions: Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowReader {
    fn start(pipe: &Path, copy: PathBuf) -> SlowReader {
        let status = std::process::Command::new("mkfifo").arg(pipe).status().expect("mkfifo");
        assert!(status.success());
        let sessions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (pipe, to, done) = (pipe.to_path_buf(), copy.clone(), sessions.clone());
        std::thread::spawn(move || loop {
            // Blocks until a sluice opens the pipe for writing; the thread ends with the test.
            let Ok(mut f) = std::fs::File::open(&pipe) else { return };
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(&to).unwrap();
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.write_all(&buf[..n]).unwrap(),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        SlowReader { copy, sessions }
    }

    fn events(&self) -> Vec<Value> {
        complete_lines(&self.copy)
    }
}

/// kill -9 in the middle of tailing, then a restart: no line is lost, and no line that was
/// acknowledged (covered by the checkpoint on disk at the moment of the kill) comes again.
/// Lines past that checkpoint that the output had already written come twice (the output
/// writes a batch before its acknowledgement comes back, and the checkpoint on disk trails the
/// acknowledgements by up to `checkpoint_interval`); the test checks that those, and only
/// those, are repeated, and prints how many there were.
#[test]
fn kill_9_and_restart_neither_lose_nor_repeat_acknowledged_lines() {
    let node = Node::new();
    let log: Log = Arc::default();
    let mut c = node.container(Runtime::Cri, "prod", "pay-0", "uid-pay", "app");
    let work = temp_dir();
    let pipe = work.path().join("out.pipe");
    let reader = SlowReader::start(&pipe, work.path().join("copy.jsonl"));
    let dir = temp_dir();
    let mut s = Sluice {
        child: None,
        data: dir.path().join("data"),
        out: pipe.clone(),
        config: Sluice::config(&format!("path => [\"{}\"] discover_interval => 0.3 stat_interval => 0.02 checkpoint_interval => 0.1", node.glob()), &pipe),
        _dir: dir,
    };
    s.spawn();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let log = log.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..20 {
                    c.line(&log, "stdout", &format!("payment {i:06} {}", "z".repeat(i % 200)), if i % 7 == 0 { 3 } else { 1 });
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            c
        })
    };
    eventually(Duration::from_secs(60), "a good part of the lines", || reader.events().len() >= 3_000);
    s.kill9();
    let checkpoint = s.checkpoints();
    // What the killed process wrote is all in the pipe: drain it.
    eventually(Duration::from_secs(30), "the pipe drained", || reader.sessions.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // A batch bigger than the pipe takes in one write may be cut by the kill: its torn last
    // line was never acknowledged (the output acknowledges after the whole write) and is sent
    // again whole; drop the torn piece as a reader of the file would skip it.
    let copied = std::fs::read(&reader.copy).unwrap();
    let whole = copied.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let torn = whole < copied.len();
    std::fs::OpenOptions::new().write(true).open(&reader.copy).unwrap().set_len(whole as u64).unwrap();
    let before_kill = reader.events();
    let files = checkpoint["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{checkpoint}");
    let acked_offset = files[0]["offset"].as_u64().unwrap();
    assert!(acked_offset > 0);

    s.spawn();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _c = writer.join().unwrap();
    let total = log.lock().unwrap().len();
    // Wait for every line, but not forever: a lost line is reported by name below.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while messages(&reader.events()).len() < total && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    s.stop();
    let events = reader.events();

    let written = log.lock().unwrap().clone();
    let counts = messages(&events);
    let before: HashMap<String, usize> = messages(&before_kill);
    let mut repeated = 0;
    for (text, w) in &written {
        let n = counts.get(text).copied().unwrap_or(0);
        assert!(n >= 1, "lost: {text:?} at {} (checkpoint at the kill: {acked_offset})", w.offset);
        if w.offset < acked_offset {
            // Acknowledged before the kill: in the output then, and never again.
            assert_eq!(before.get(text), Some(&1), "acknowledged line not in the output at the kill: {text:?}");
            assert_eq!(n, 1, "acknowledged line repeated: {text:?} (checkpoint {acked_offset}, line at {})", w.offset);
        } else if n > 1 {
            assert_eq!(n, 2);
            assert!(before.contains_key(text), "a line repeated that was not delivered before the kill: {text:?}");
            repeated += 1;
        }
    }
    let past_checkpoint = before.keys().filter(|t| written[*t].offset >= acked_offset).count();
    eprintln!(
        "kill -9: {} lines written in all, {} in the output at the kill, checkpoint at byte {acked_offset}; \
         {past_checkpoint} written by the output past the checkpoint (all {repeated} repeated after the restart); a torn line at the kill: {torn}",
        written.len(),
        before_kill.len(),
    );
    assert_eq!(repeated, past_checkpoint, "every line written past the checkpoint comes again, and nothing else");
}

/// A restart resumes every file at its checkpoint: lines written while sluice was stopped
/// come once, including those of a file the kubelet rotated meanwhile (found next to its old
/// name by its inode) and of its successor, read from its start.
#[test]
fn restart_resumes_and_finishes_a_file_rotated_while_stopped() {
    let node = Node::new();
    let log: Log = Arc::default();
    let mut c = node.container(Runtime::Docker, "prod", "db-0", "uid-db", "postgres");
    for i in 0..100 {
        c.line(&log, "stderr", &format!("first run {i}"), if i % 9 == 0 { 2 } else { 1 });
    }
    let mut s = Sluice::start(&format!("path => [\"{}\"] discover_interval => 0.2 stat_interval => 0.05", node.glob()));
    s.wait_for("the first run's lines", |e| e.len() >= 100);
    s.stop();
    for i in 0..50 {
        c.line(&log, "stderr", &format!("while stopped, old file {i}"), 1);
    }
    c.rotate("20260301-120000");
    for i in 0..50 {
        c.line(&log, "stdout", &format!("while stopped, new file {i}"), 1);
    }
    s.spawn();
    let events = s.wait_for("every line", |e| e.len() >= 200);
    std::thread::sleep(Duration::from_millis(500));
    s.stop();
    let events = if s.events().len() > events.len() { s.events() } else { events };
    check_exactly_once(&events, &log);
}

/// Java stack traces: indented `at ...` lines join the line before them (split `P`/`F` lines
/// joined first), per stream; the last trace goes out after the multiline timeout. With
/// `start_position => end`, a file present at the first start is read from its end.
#[test]
fn multiline_stack_traces_and_start_at_end() {
    let node = Node::new();
    let log: Log = Arc::default();
    let mut old = node.container(Runtime::Cri, "legacy", "old-0", "uid-old", "app");
    let skipped = log.clone();
    old.line(&skipped, "stdout", "written before the first start", 1);
    skipped.lock().unwrap().clear();
    let mut s = Sluice::start(&format!(
        "path => [\"{}\"] start_position => end discover_interval => 0.3 stat_interval => 0.05 \
         multiline => {{ \"pattern\" => \"^\\s\" \"negate\" => false \"what\" => \"previous\" \"timeout\" => 0.5 }}",
        node.glob()
    ));
    std::thread::sleep(Duration::from_millis(800));
    let mut java = node.container(Runtime::Cri, "shop", "java-0", "uid-java", "app");
    let scratch: Log = Arc::default();
    let mut expected = Vec::new();
    for n in 0..5 {
        let head = format!("java.lang.IllegalStateException: failure {n}");
        let mut trace = vec![head.clone()];
        java.line(&scratch, "stderr", &head, 1);
        for f in 0..4 {
            let frame = format!("\tat com.example.Service.call{f}(Service.java:{})", 10 + f);
            // One frame long enough for the runtime to split it.
            java.line(&scratch, "stderr", &frame, if f == 2 { 3 } else { 1 });
            trace.push(frame);
        }
        // A plain line on stdout in between does not end the stderr trace.
        java.line(&scratch, "stdout", &format!("request {n} served"), 1);
        expected.push((trace.join("\n"), scratch.lock().unwrap()[&head].offset, "stderr"));
        expected.push((format!("request {n} served"), scratch.lock().unwrap()[&format!("request {n} served")].offset, "stdout"));
    }
    old.line(&scratch, "stdout", "written after the start", 1);
    expected.push(("written after the start".to_string(), scratch.lock().unwrap()["written after the start"].offset, "stdout"));
    // The last trace and the last lines have no follower: the timeout lets them go, sluice running.
    let events = s.wait_for("every trace", |e| e.len() >= expected.len());
    s.stop();
    let mut got: Vec<(String, u64, String)> =
        events.iter().map(|e| (e["message"].as_str().unwrap().to_string(), e["log"]["offset"].as_u64().unwrap(), e["stream"].as_str().unwrap().to_string())).collect();
    got.sort();
    let mut want: Vec<(String, u64, String)> = expected.into_iter().map(|(m, o, s)| (m, o, s.to_string())).collect();
    want.sort();
    assert_eq!(got, want);
    for e in &events {
        let multi = e["message"].as_str().unwrap().contains('\n');
        assert_eq!(e["tags"].as_array().is_some_and(|t| t.contains(&json!("multiline"))), multi, "{e}");
    }
}

/// What the fake API server has seen.
#[derive(Default)]
struct ApiLog {
    requests: Vec<String>,
    authorization: Vec<String>,
}

fn pod(name: &str, uid: &str, labels: Value, rv: &str, extra: Value) -> Value {
    let mut p = json!({
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": uid, "resourceVersion": rv, "labels": labels},
        "spec": {"nodeName": "node-7", "containers": [{"name": "app", "image": format!("registry.local/{name}:1")}]},
        "status": {"podIP": "10.1.2.3", "containerStatuses": [{"name": "app", "containerID": format!("containerd://{uid}")}]}
    });
    if let (Some(m), Some(x)) = (p["metadata"].as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            m.insert(k.clone(), v.clone());
        }
    }
    p
}

/// Serve the pods list and watch: list 1 has pod a; watch 1 modifies a, then expires (410);
/// list 2 has a (new labels) and c; watch 2 adds d (owned by a ReplicaSet) and stays open.
fn fake_api_server(listener: TcpListener, seen: Arc<Mutex<ApiLog>>) {
    let lists = Arc::new(Mutex::new(0));
    let watches = Arc::new(Mutex::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let (seen, lists, watches) = (seen.clone(), lists.clone(), watches.clone());
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let target = request.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.strip_prefix("authorization: ").or_else(|| h.strip_prefix("Authorization: ")) {
                    seen.lock().unwrap().authorization.push(v.trim().to_string());
                }
            }
            seen.lock().unwrap().requests.push(target.clone());
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
            if !target.contains("watch=true") {
                let n = {
                    let mut l = lists.lock().unwrap();
                    *l += 1;
                    *l
                };
                let body = if n == 1 {
                    json!({"kind": "PodList", "metadata": {"resourceVersion": "100"}, "items": [pod("a-0", "uid-a", json!({"app": "a-v1"}), "90", json!({}))]})
                } else {
                    json!({"kind": "PodList", "metadata": {"resourceVersion": "200"}, "items": [
                        pod("a-0", "uid-a", json!({"app": "a-v2", "app.kubernetes.io/name": "a"}), "150", json!({})),
                        pod("c-0", "uid-c", json!({"app": "c"}), "160", json!({"annotations": {"team": "payments"}}))
                    ]})
                };
                let _ = write!(stream, "{head}{body}");
                return;
            }
            let n = {
                let mut w = watches.lock().unwrap();
                *w += 1;
                *w
            };
            let _ = stream.write_all(head.as_bytes());
            if n == 1 {
                let ev = json!({"type": "MODIFIED", "object": pod("a-0", "uid-a", json!({"app": "a-v1.5"}), "110", json!({}))});
                let gone = json!({"type": "ERROR", "object": {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410, "message": "too old resource version: 100 (120)"}});
                let _ = write!(stream, "{ev}\n{gone}\n");
                return;
            }
            if n == 2 {
                let d = pod(
                    "d-5f7b9c-qwert",
                    "uid-d",
                    json!({"app": "d", "pod-template-hash": "5f7b9c"}),
                    "210",
                    json!({"ownerReferences": [{"kind": "ReplicaSet", "name": "d-5f7b9c", "controller": true}]}),
                );
                let _ = writeln!(stream, "{}", json!({"type": "ADDED", "object": d}));
                let _ = stream.flush();
            }
            // A watch stays open until the server ends it.
            std::thread::sleep(Duration::from_secs(30));
            let _ = stream.read(&mut [0u8; 1]);
        });
    }
}

/// With `kubernetes_api => true` and a kubeconfig, events carry the labels, node, owner and
/// image the API server reports for their pod: pods from the first list, from the list made
/// again after a watch expired (410), and from a watch event; requests are filtered to the node,
/// resume from the list's resourceVersion, and carry the kubeconfig's token.
#[test]
fn api_server_metadata_from_list_and_watch() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<ApiLog>> = Arc::default();
    {
        let seen = seen.clone();
        std::thread::spawn(move || fake_api_server(listener, seen));
    }
    let node = Node::new();
    let kubeconfig = node.root.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: test\n  context:\n    cluster: fake\n    user: agent\nusers:\n- name: agent\n  user:\n    token: s3cr3t\n"
        ),
    )
    .unwrap();
    let mut s = Sluice::start(&format!(
        "path => [\"{}\"] discover_interval => 0.3 stat_interval => 0.05 kubernetes_api => true node_name => \"node-7\" kubeconfig => \"{}\"",
        node.glob(),
        kubeconfig.display()
    ));
    eventually(Duration::from_secs(30), "the second watch", || seen.lock().unwrap().requests.iter().filter(|r| r.contains("watch=true")).count() >= 2);
    std::thread::sleep(Duration::from_millis(500));

    let log: Log = Arc::default();
    let mut containers = Vec::new();
    for (name, uid) in [("a-0", "uid-a"), ("c-0", "uid-c"), ("d-5f7b9c-qwert", "uid-d"), ("unknown-0", "uid-unknown")] {
        let mut c = node.container(Runtime::Cri, "shop", name, uid, "app");
        c.line(&log, "stdout", &format!("hello from {name}"), 1);
        containers.push(c);
    }
    let events = s.wait_for("one line per pod", |e| e.len() >= 4);
    s.stop();
    check_exactly_once(&events, &log);
    let by_pod: HashMap<&str, &Value> = events.iter().map(|e| (e["kubernetes"]["pod"]["name"].as_str().unwrap(), e)).collect();

    let a = by_pod["a-0"];
    assert_eq!(a["kubernetes"]["labels"], json!({"app": "a-v2", "app_kubernetes_io/name": "a"}));
    assert_eq!(a["kubernetes"]["node"]["name"], "node-7");
    assert_eq!(a["kubernetes"]["pod"]["ip"], "10.1.2.3");
    assert_eq!(a["container"]["image"]["name"], "registry.local/a-0:1");
    assert_eq!(a["container"]["runtime"], "containerd");
    let c = by_pod["c-0"];
    assert_eq!(c["kubernetes"]["labels"], json!({"app": "c"}));
    assert_eq!(c["kubernetes"]["annotations"], json!({"team": "payments"}));
    let d = by_pod["d-5f7b9c-qwert"];
    assert_eq!(d["kubernetes"]["labels"]["app"], "d");
    assert_eq!(d["kubernetes"]["replicaset"]["name"], "d-5f7b9c");
    assert_eq!(d["kubernetes"]["deployment"]["name"], "d");
    // A pod the API does not know: the metadata of its path, no more.
    let u = by_pod["unknown-0"];
    assert!(u["kubernetes"].get("labels").is_none() && u["kubernetes"].get("node").is_none(), "{u}");

    let seen = seen.lock().unwrap();
    let decoded: Vec<String> = seen.requests.iter().map(|r| r.replace("%3D", "=").replace("%2F", "/")).collect();
    assert!(decoded.iter().all(|r| r.starts_with("/api/v1/pods?") && r.contains("fieldSelector=spec.nodeName=node-7")), "{decoded:?}");
    let watches: Vec<&String> = decoded.iter().filter(|r| r.contains("watch=true")).collect();
    assert!(watches[0].contains("resourceVersion=100"), "{watches:?}");
    assert!(watches[1].contains("resourceVersion=200"), "the watch after the relist resumes from the new list: {watches:?}");
    assert_eq!(decoded.iter().filter(|r| !r.contains("watch=true")).count(), 2, "one list at the start, one after the 410: {decoded:?}");
    assert!(seen.authorization.iter().all(|a| a == "Bearer s3cr3t") && !seen.authorization.is_empty());
}

/// Mistyped options are refused by `-t` with the closest known name, inside `multiline` too.
#[test]
fn mistyped_options_are_refused_with_a_suggestion() {
    for (input, expected) in [
        ("paths => [\"/x/*.log\"]", "did you mean `path`?"),
        ("multiline => { \"patern\" => \"^\\s\" \"what\" => \"previous\" }", "did you mean `pattern`?"),
        ("multiline => { \"pattern\" => \"^\\s\" \"what\" => \"later\" }", "must be previous or next"),
        ("start_position => \"middle\"", "expected one of beginning, end"),
    ] {
        let config = format!("input {{ kubernetes {{ {input} }} }} output {{ null {{}} }}");
        let out = sluice().args(["-t", "-e", &config]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{input}: accepted");
        assert!(text.contains(expected), "{input}: {text}");
    }
}

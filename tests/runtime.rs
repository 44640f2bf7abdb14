//! The runtime end to end, through the real binary and real sockets: nothing accepted is lost,
//! backpressure reaches the client, shutdown drains, reload keeps a running pipeline when the
//! new config is broken.

mod common;
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

fn start(config: &str, data: &std::path::Path, extra: &[&str]) -> Child {
    let mut args = vec!["-e", config, "--path.data", data.to_str().unwrap(), "--log.level", "warn"];
    args.extend_from_slice(extra);
    sluice().args(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start sluice")
}

fn stop(mut child: Child) -> String {
    signal(&child, "TERM");
    let out = wait_output(child_take(&mut child), Duration::from_secs(60));
    assert!(out.status.success(), "sluice exited with {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn child_take(c: &mut Child) -> Child {
    std::mem::replace(c, std::process::Command::new("true").spawn().unwrap())
}

/// 1,000,000 json_lines events, 1% malformed, over 8 concurrent connections: exactly 1,000,000
/// events reach the file, and exactly the malformed ones are tagged `_jsonparsefailure` with
/// their raw text kept.
#[test]
fn a_million_events_over_eight_connections_arrive_exactly_once() {
    let dir = temp_dir();
    let port = free_port();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
           output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let child = start(&config, dir.path(), &[]);
    wait_listening(port, Duration::from_secs(30));
    const CONNECTIONS: usize = 8;
    const PER_CONNECTION: usize = 125_000;
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut buf = Vec::with_capacity(1 << 20);
                for i in 0..PER_CONNECTION {
                    if i % 100 == 7 {
                        writeln!(buf, "{{\"conn\":{c},\"seq\":{i},broken").unwrap();
                    } else {
                        writeln!(buf, r#"{{"conn":{c},"seq":{i},"message":"GET /index.html HTTP/1.1 200 {i}","level":"INFO","fields":{{"service":"application"}}}}"#).unwrap();
                    }
                    if buf.len() > 1 << 20 {
                        s.write_all(&buf).unwrap();
                        buf.clear();
                    }
                }
                s.write_all(&buf).unwrap();
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let total = CONNECTIONS * PER_CONNECTION;
    eventually(Duration::from_secs(120), "all events in the file", || count_lines(&out) >= total);
    stop(child);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut seen = vec![vec![false; PER_CONNECTION]; CONNECTIONS];
    let (mut good, mut bad) = (0, 0);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let tagged = v["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "_jsonparsefailure"));
        let (c, i) = if tagged {
            bad += 1;
            // The raw text is kept: recover conn and seq from it with a plain reading.
            let msg = v["message"].as_str().unwrap();
            let c: usize = msg.split("\"conn\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
            let i: usize = msg.split("\"seq\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
            assert_eq!(i % 100, 7, "only malformed lines are tagged");
            (c, i)
        } else {
            good += 1;
            (v["conn"].as_u64().unwrap() as usize, v["seq"].as_u64().unwrap() as usize)
        };
        assert!(!seen[c][i], "duplicate event conn={c} seq={i}");
        seen[c][i] = true;
    }
    assert_eq!(good + bad, total);
    assert_eq!(bad, total / 100);
}

/// A client that disconnects in the middle of a line has the partial line flushed as an event;
/// an over-long line is cut at max_line_bytes and tagged; invalid UTF-8 is kept.
#[test]
fn partial_long_and_invalid_lines_are_kept() {
    let dir = temp_dir();
    let port = free_port();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" max_line_bytes => 16 }} }}
           output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let child = start(&config, dir.path(), &["-w", "1"]);
    wait_listening(port, Duration::from_secs(30));
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"short\n0123456789abcdefOVERFLOW\ncaf\xe9\nno newline at the end").unwrap();
    }
    eventually(Duration::from_secs(20), "four events", || count_lines(&out) >= 4);
    stop(child);
    let events = read_jsonl(&out);
    let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["short", "0123456789abcdef", "caf\u{fffd}", "no newline at th"]);
    assert!(events[1]["tags"].as_array().unwrap().iter().any(|t| t == "_line_truncated"));
    assert!(events[0].get("tags").is_none());
    assert_eq!(events[0]["host"], "127.0.0.1");
    assert!(events[0]["port"].as_u64().is_some());
}

/// Lines are decoded by the pipeline workers; the counts still follow the events, not the
/// lines: a JSON array of three objects is three events, blank lines are none, a malformed line
/// is one tagged event — and the pipeline's in/out counters and the input's out counter say so.
#[test]
fn json_lines_counts_follow_events_not_lines() {
    let dir = temp_dir();
    let (port, api) = (free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ tcp {{ id => "in" port => {port} host => "127.0.0.1" codec => json_lines add_field => {{ "via" => "tcp" }} }} }}
           output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let api_port = api.to_string();
    let child = start(&config, dir.path(), &["--api.http.port", &api_port, "-w", "2", "-b", "2"]);
    wait_listening(port, Duration::from_secs(30));
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"[{\"n\":1},{\"n\":2},{\"n\":3}]\n\n   \n\n{\"n\":4}\n{broken\n{\"n\":5}").unwrap();
    }
    eventually(Duration::from_secs(20), "six events", || count_lines(&out) >= 6);
    let (_, stats) = http_get(api, "/_node/stats");
    let stats: Value = serde_json::from_str(&stats).unwrap();
    stop(child);
    let events = read_jsonl(&out);
    assert_eq!(events.len(), 6, "{events:?}");
    let mut numbers: Vec<u64> = events.iter().filter_map(|e| e["n"].as_u64()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
    let broken: Vec<&Value> = events.iter().filter(|e| e["message"] == "{broken").collect();
    assert_eq!(broken.len(), 1);
    assert!(broken[0]["tags"].as_array().unwrap().iter().any(|t| t == "_jsonparsefailure"));
    assert!(events.iter().all(|e| e["via"] == "tcp" && e["host"] == "127.0.0.1"), "{events:?}");
    let pipeline = &stats["pipelines"]["main"];
    assert_eq!(pipeline["events"]["in"], 6, "{pipeline}");
    assert_eq!(pipeline["events"]["out"], 6, "{pipeline}");
    let inputs = pipeline["plugins"]["inputs"].as_array().unwrap();
    let input = inputs.iter().find(|p| p["id"] == "in").unwrap();
    assert_eq!(input["events"]["out"], 6, "{input}");
}

/// SIGTERM drains: every event the client managed to send is in the output when the process
/// exits, and it exits 0.
#[test]
fn sigterm_drains_in_flight_events() {
    let dir = temp_dir();
    let port = free_port();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
           filter {{ mutate {{ add_field => {{ "seen" => "yes" }} }} }}
           output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let child = start(&config, dir.path(), &["-b", "1000", "-u", "2000"]);
    wait_listening(port, Duration::from_secs(30));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..5000 {
        writeln!(s, r#"{{"i":{i}}}"#).unwrap();
    }
    s.flush().unwrap();
    drop(s);
    // Give the input a moment to read, then stop while batches are still being formed
    // (batch.delay is 2 s, so events are still in flight).
    std::thread::sleep(Duration::from_millis(300));
    stop(child);
    let events = read_jsonl(&out);
    assert_eq!(events.len(), 5000);
    assert!(events.iter().all(|e| e["seen"] == "yes"));
}

/// A full queue stops reads: with the output blocked (a FIFO nobody reads) the client's writes
/// stall instead of events being dropped; once the output drains, every event arrives.
#[test]
fn backpressure_reaches_the_client_and_nothing_is_dropped() {
    let dir = temp_dir();
    let port = free_port();
    let fifo = dir.path().join("out.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
           output {{ file {{ path => "{}" }} }}"#,
        fifo.display()
    );
    let child = start(&config, dir.path(), &["-w", "1", "-b", "10"]);
    wait_listening(port, Duration::from_secs(30));
    const TOTAL: usize = 200_000;
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(200));
        for i in 0..TOTAL {
            s.write_all(line.as_bytes()).unwrap();
            if i % 1000 == 0 {
                let _ = tx.send(i);
            }
        }
        let _ = tx.send(TOTAL);
    });
    // Nobody reads the FIFO yet: the sender must stall well before it has sent everything.
    std::thread::sleep(Duration::from_secs(3));
    let progress = rx.try_iter().last().unwrap_or(0);
    assert!(progress < TOTAL, "the client was never slowed down");
    // Now drain the FIFO and count.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let counter = std::thread::spawn(move || {
        let mut count = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while count < TOTAL {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            count += buf[..n].iter().filter(|b| **b == b'\n').count();
        }
        count
    });
    sender.join().unwrap();
    assert_eq!(counter.join().unwrap(), TOTAL);
    stop(child);
}

/// A generator with a count finishes by itself; the pipeline drains and the process exits 0.
#[test]
fn finite_inputs_end_the_process() {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ generator {{ count => 1000 lines => ["one", "two"] }} }} output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let child = sluice().args(["-e", &config, "--path.data", dir.path().to_str().unwrap()]).stderr(Stdio::piped()).spawn().unwrap();
    let res = wait_output(child, Duration::from_secs(30));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let events = read_jsonl(&out);
    assert_eq!(events.len(), 2000);
    assert_eq!(events.iter().filter(|e| e["message"] == "two").count(), 1000);
    assert_eq!(events.iter().map(|e| e["sequence"].as_u64().unwrap()).max(), Some(999));
}

/// Reload: SIGHUP (and -r) pick up a changed config; a broken one is rejected and the running
/// pipeline keeps working.
#[test]
fn reload_applies_good_configs_and_keeps_running_on_bad_ones() {
    let dir = temp_dir();
    let port = free_port();
    let out_a = dir.path().join("a.jsonl");
    let out_b = dir.path().join("b.jsonl");
    let conf = dir.path().join("p.conf");
    let config = |out: &std::path::Path, tag: &str| {
        format!(
            r#"input {{ tcp {{ port => {port} host => "127.0.0.1" }} }}
               filter {{ mutate {{ add_tag => ["{tag}"] }} }}
               output {{ file {{ path => "{}" }} }}"#,
            out.display()
        )
    };
    std::fs::write(&conf, config(&out_a, "a")).unwrap();
    let child = sluice()
        .args(["-f", conf.to_str().unwrap(), "--path.data", dir.path().to_str().unwrap(), "-r", "--config.reload.interval", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let send = |msg: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        writeln!(s, "{msg}").unwrap();
    };
    wait_listening(port, Duration::from_secs(30));
    send("first");
    eventually(Duration::from_secs(10), "first event in a", || count_lines(&out_a) == 1);

    std::fs::write(&conf, config(&out_b, "b")).unwrap();
    eventually(Duration::from_secs(20), "reloaded pipeline writes to b", || {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = writeln!(s, "probe");
        }
        std::thread::sleep(Duration::from_millis(200));
        count_lines(&out_b) > 0
    });

    // A broken config: rejected, the pipeline writing to b keeps running.
    std::fs::write(&conf, "input { tcp { port => }").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let before = count_lines(&out_b);
    send("after broken reload");
    eventually(Duration::from_secs(10), "pipeline still running after a bad reload", || count_lines(&out_b) > before);

    // SIGHUP also reloads.
    std::fs::write(&conf, config(&out_a, "hup")).unwrap();
    signal(&child, "HUP");
    eventually(Duration::from_secs(20), "SIGHUP reload writes to a again", || {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = writeln!(s, "probe2");
        }
        std::thread::sleep(Duration::from_millis(200));
        read_jsonl(&out_a).iter().any(|e| e["tags"][0] == "hup")
    });
    let log = stop(child);
    assert!(log.contains("Reload rejected"), "the rejected reload is logged: {log}");
}

/// pipelines.yml runs several pipelines in one process, each with its own settings; the
/// process exits when all of them have finished.
#[test]
fn several_pipelines_run_in_one_process() {
    let dir = temp_dir();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    write(dir.path(), "a.conf", &format!(r#"input {{ generator {{ count => 300 }} }} output {{ file {{ path => "{}" }} }}"#, a.display()));
    write(
        dir.path(),
        "settings/pipelines.yml",
        &format!(
            "- pipeline.id: first\n  path.config: \"{}/a.conf\"\n  pipeline.workers: 1\n- pipeline.id: second\n  config.string: 'input {{ generator {{ count => 70 message => \"b\" }} }} output {{ file {{ path => \"{}\" }} }}'\n  pipeline.batch.size: 7\n",
            dir.path().display(),
            b.display()
        ),
    );
    let settings = dir.path().join("settings");
    let api = free_port().to_string();
    let child = sluice()
        .args(["--path.settings", settings.to_str().unwrap(), "--path.data", dir.path().to_str().unwrap(), "--api.http.port", &api])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let res = wait_output(child, Duration::from_secs(30));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(count_lines(&a), 300);
    let b_events = read_jsonl(&b);
    assert_eq!(b_events.len(), 70);
    assert!(b_events.iter().all(|e| e["message"] == "b"));
}

//! Load generator for the end-to-end benchmarks: sends `--events` newline-delimited JSON events
//! (about 250 bytes each, each distinct) over `--connections` TCP connections as fast as the
//! receiver accepts them, then prints the elapsed time. The payload is built before the clock
//! starts, so the sender costs little more than the write system calls.
//!
//! `cargo run --release --example blast -- --port 5000 --events 2000000 --connections 8`
//!
//! With `--lines FILE` it replays the lines of a file instead (a real corpus), raw, or wrapped
//! as `{"fields":{"service":NAME},"message":LINE}` with `--wrap-service NAME`.
//!
//! `--format rfc5424` sends RFC 5424 syslog messages of about the same size instead (a message
//! id, one structured-data element), newline-terminated, or with `--framing octet-counted` as
//! RFC 6587 octet counting (`<length> <message>`).

use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

/// One event line of about 250 bytes, shaped like an application log event.
pub fn line(conn: usize, seq: usize) -> String {
    format!(
        concat!(
            r#"{{"@timestamp":"2024-05-01T12:{:02}:{:02}.{:03}Z","level":"{}","logger":"com.example.orders.OrderService","#,
            r#""thread":"http-nio-8080-exec-{}","message":"order {} processed for customer {} in {} ms","#,
            r#""fields":{{"service":"application","conn":{}}},"seq":{}}}"#,
            "\n"
        ),
        seq / 60 % 60,
        seq % 60,
        seq % 1000,
        if seq % 50 == 0 { "ERROR" } else { "INFO" },
        seq % 200,
        seq,
        seq % 9973,
        seq % 700,
        conn,
        seq
    )
}

/// One RFC 5424 message of about 250 bytes, without framing.
pub fn syslog_line(conn: usize, seq: usize) -> String {
    format!(
        concat!(
            r#"<{}>1 2024-05-01T12:{:02}:{:02}.{:03}Z app-{}.example.com orders {} ORD{} "#,
            r#"[meta@32473 conn="{}" seq="{}" thread="http-nio-8080-exec-{}"] "#,
            "order {} processed for customer {} in {} ms by com.example.orders.OrderService"
        ),
        if seq % 50 == 0 { 131 } else { 134 },
        seq / 60 % 60,
        seq % 60,
        seq % 1000,
        conn,
        1000 + conn,
        seq % 10,
        conn,
        seq,
        seq % 200,
        seq,
        seq % 9973,
        seq % 700
    )
}

/// Where each message of `buf` starts, and where the last one ends.
fn message_starts(buf: &[u8], octet_counted: bool) -> Vec<usize> {
    if !octet_counted {
        return std::iter::once(0).chain(buf.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    }
    let mut starts = vec![0];
    let mut i = 0;
    while i < buf.len() {
        let digits = buf[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let len: usize = std::str::from_utf8(&buf[i..i + digits]).ok().and_then(|d| d.parse().ok()).expect("a length prefix");
        i += digits + 1 + len;
        starts.push(i);
    }
    starts
}

fn main() {
    let host = arg("--host", "127.0.0.1");
    let port: u16 = arg("--port", "5000").parse().expect("--port");
    let events: usize = arg("--events", "1000000").parse().expect("--events");
    let connections: usize = arg("--connections", "8").parse().expect("--connections");
    let per = events / connections;
    let corpus = std::env::args().any(|a| a == "--lines").then(|| {
        let path = arg("--lines", "");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let service = std::env::args().any(|a| a == "--wrap-service").then(|| arg("--wrap-service", "apache"));
        let mut buf = Vec::with_capacity(text.len() * 2);
        for l in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match &service {
                Some(svc) => {
                    let msg = serde_json::to_string(&String::from_utf8_lossy(l)).expect("a string serialises");
                    buf.extend_from_slice(format!(r#"{{"fields":{{"service":"{svc}"}},"message":{msg}}}"#).as_bytes());
                }
                None => buf.extend_from_slice(l),
            }
            buf.push(b'\n');
        }
        buf
    });
    let format = arg("--format", "json");
    assert!(format == "json" || format == "rfc5424", "--format json|rfc5424");
    let octet_counted = corpus.is_none() && format == "rfc5424" && arg("--framing", "newline") == "octet-counted";
    // A buffer of distinct lines per connection, reused round after round.
    let pieces: Vec<Vec<u8>> = (0..connections)
        .map(|c| match &corpus {
            Some(buf) => buf.clone(),
            None if format == "rfc5424" => {
                let mut buf = Vec::with_capacity(4096 * 260);
                for s in 0..4096 {
                    let m = syslog_line(c, s);
                    if octet_counted {
                        buf.extend_from_slice(format!("{} ", m.len()).as_bytes());
                    }
                    buf.extend_from_slice(m.as_bytes());
                    if !octet_counted {
                        buf.push(b'\n');
                    }
                }
                buf
            }
            None => {
                let mut buf = Vec::with_capacity(4096 * 260);
                for s in 0..4096 {
                    buf.extend_from_slice(line(c, s).as_bytes());
                }
                buf
            }
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = pieces
        .into_iter()
        .enumerate()
        .map(|(c, buf)| {
            let host = host.clone();
            let count = if c == connections - 1 { events - per * (connections - 1) } else { per };
            std::thread::spawn(move || {
                let mut s = TcpStream::connect((host.as_str(), port)).expect("connect");
                let mut sent = 0;
                // Offsets of message starts, to send whole messages only.
                let starts = message_starts(&buf, octet_counted);
                let lines_in_buf = starts.len() - 1;
                while sent < count {
                    let n = (count - sent).min(lines_in_buf);
                    s.write_all(&buf[..starts[n]]).expect("write");
                    sent += n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender thread");
    }
    let secs = start.elapsed().as_secs_f64();
    println!("sent {events} events in {secs:.3} s ({:.0} events/s)", events as f64 / secs);
}

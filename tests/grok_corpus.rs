//! The grok library against real logs: the corpus in `../shared/corpus` (beside the repository).
//!
//! Each case runs one library pattern over every line of a file and compares what it captured
//! with a second, plain reading of the same line written here by hand — string splitting and
//! scanning that follow each format's documented layout, not copies of the patterns. A line the
//! plain reader rejects must not match, and the test states which lines those are and why (an
//! indented continuation line of a multi-line record, a different layout...). The corpus is
//! outside the repository; when it is absent the tests say so and pass.

use serde_json::{json, Value};
use sluice::filters::grok::{compile_pattern, library, CompiledGrok, EcsMode};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

type Fields = BTreeMap<String, Value>;
type Reader = fn(&str) -> Result<Fields, String>;
/// Which lines of a file must fail, and why.
type MustFail = fn(usize, &str) -> Option<&'static str>;

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} is absent; the corpus tests are skipped", dir.display());
        None
    }
}

/// What one file should give: the pattern, the plain reader, and which lines must fail.
struct Case {
    file: &'static str,
    pattern: &'static str,
    mode: EcsMode,
    read: Reader,
    /// For a line (1-based number, text) that must not match: why. Written from looking at the
    /// file, independently of both the pattern and the reader.
    must_fail: MustFail,
}

fn grok_fields(g: &CompiledGrok, line: &str) -> Option<Fields> {
    let caps = g.captures(line)?;
    let mut out = Fields::new();
    for (k, v) in caps {
        match out.remove(&k) {
            None => out.insert(k, v),
            Some(Value::Array(mut l)) => {
                l.push(v);
                out.insert(k, Value::Array(l))
            }
            Some(first) => out.insert(k, Value::Array(vec![first, v])),
        };
    }
    Some(out)
}

/// Run a case; returns how many lines matched.
fn run(root: &std::path::Path, case: &Case) -> usize {
    let path = root.join(case.file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8_lossy(&bytes);
    let grok = compile_pattern(case.pattern, library(case.mode)).unwrap_or_else(|e| panic!("{}: {e}", case.pattern));
    let mut problems = Vec::new();
    let mut matched = 0;
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        // A final newline ends the last line; it does not start an empty one.
        if line.is_empty() && i + 1 == text.split('\n').count() && text.ends_with('\n') {
            continue;
        }
        let got = grok_fields(&grok, line);
        let plain = (case.read)(line);
        let want_fail = (case.must_fail)(n, line);
        match (&got, &plain, want_fail) {
            (Some(g), Ok(p), None) => {
                matched += 1;
                for (k, v) in p {
                    if g.get(k) != Some(v) {
                        problems.push(format!("line {n}: {k}: grok {:?}, plain reading {v:?}\n  {line}", g.get(k)));
                    }
                }
            }
            (None, Err(_), Some(_)) => {}
            (None, Err(why), None) => {
                problems.push(format!("line {n}: fails ({why}) but is not listed as failing\n  {line}"))
            }
            (_, _, Some(why)) => problems.push(format!(
                "line {n} is listed as failing ({why}), but grok {} and the plain reading {}\n  {line}",
                if got.is_some() { "matched" } else { "did not match" },
                match &plain {
                    Ok(_) => "accepts it".to_string(),
                    Err(e) => format!("rejects it ({e})"),
                }
            )),
            (Some(_), Err(why), None) => {
                problems.push(format!("line {n}: grok matched, plain reading rejects it: {why}\n  {line}"))
            }
            (None, Ok(_), None) => {
                problems.push(format!("line {n}: grok did not match, plain reading accepts it\n  {line}"))
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} with {} ({:?}): {} problem(s)\n{}",
        case.file,
        case.pattern,
        case.mode,
        problems.len(),
        problems.join("\n")
    );
    matched
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

// ---------------------------------------------------------------------------------------------
// Plain readers: small scanners, each following one format's documented layout.
// ---------------------------------------------------------------------------------------------

fn is_ip(t: &str) -> bool {
    t.parse::<IpAddr>().is_ok()
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(t: &str) -> bool {
    let t = t.strip_suffix('.').unwrap_or(t);
    !t.is_empty()
        && t.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_host(t: &str) -> bool {
    is_ip(t) || is_hostname(t)
}

fn is_user(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

fn digits(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

fn int(t: &str) -> bool {
    digits(t.strip_prefix('-').unwrap_or(t))
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `hh:mm:ss` with an optional fraction.
fn is_clock(t: &str) -> bool {
    let mut parts = t.splitn(3, ':');
    let (Some(h), Some(m), Some(sec)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let sec_whole = sec.split(['.', ',']).next().unwrap_or("");
    digits(h) && h.len() <= 2 && digits(m) && m.len() == 2 && digits(sec_whole) && sec_whole.len() <= 2
}

/// `dd/Mon/yyyy:hh:mm:ss +zzzz`
fn is_httpdate(t: &str) -> bool {
    let Some((date, zone)) = t.split_once(' ') else { return false };
    let mut p = date.splitn(3, '/');
    let (Some(d), Some(mon), Some(rest)) = (p.next(), p.next(), p.next()) else { return false };
    let Some((year, clock)) = rest.split_once(':') else { return false };
    digits(d) && MONTHS.contains(&mon) && digits(year) && is_clock(clock) && int(zone.trim_start_matches('+'))
}

/// `yyyy-mm-dd[T ]hh:mm[:ss[.frac]][Z|±hh[:]mm]` (only the `T` form when it is one token).
fn iso_timestamp_len(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    let ok = b.len() >= 16
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b[10] == b'T' || b[10] == b' ')
        && b[11..13].iter().all(u8::is_ascii_digit)
        && b[13] == b':'
        && b[14..16].iter().all(u8::is_ascii_digit);
    if !ok {
        return None;
    }
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        i += 1;
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1 + b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
    }
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(b'+' | b'-') => {
            let d = b[i + 1..].iter().take_while(|c| c.is_ascii_digit() || **c == b':').count();
            i += 1 + d;
        }
        _ => {}
    }
    Some(i)
}

/// The text of a double-quoted field starting at `t[0] == '"'`, honouring backslash escapes:
/// (the field with its quotes, the rest after it).
fn quoted(t: &str) -> Option<(&str, &str)> {
    if !t.starts_with('"') {
        return None;
    }
    let b = t.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some((&t[..=i], &t[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// Apache/nginx common and combined access logs (`%h %l %u %t "%r" %>s %b "%{Referer}i"
/// "%{User-agent}i"`). Grok's search is unanchored, so anything before the client (a virtual
/// host, an X-Forwarded-For list) is skipped: the client is the third token before ` [`.
fn read_access(line: &str, combined: bool, ecs: bool) -> Result<Fields, String> {
    let open = line.find(" [").ok_or("no ` [` before a timestamp")?;
    let head: Vec<&str> = line[..open].split(' ').collect();
    if head.len() < 3 {
        return Err("fewer than three tokens before the timestamp".into());
    }
    let (client, ident, auth) = (head[head.len() - 3], head[head.len() - 2], head[head.len() - 1]);
    if !is_host(client) {
        return Err(format!("client `{client}` is not an address or host name"));
    }
    if !is_user(ident) || !is_user(auth) {
        return Err("ident/auth are not user names".into());
    }
    let rest = &line[open + 2..];
    let close = rest.find(']').ok_or("timestamp not closed")?;
    let timestamp = &rest[..close];
    if !is_httpdate(timestamp) {
        return Err(format!("`{timestamp}` is not an HTTP date"));
    }
    let rest = rest[close + 1..].strip_prefix(' ').ok_or("no space after the timestamp")?;
    let (request_q, rest) = quoted(rest).ok_or("request is not quoted")?;
    let request = &request_q[1..request_q.len() - 1];
    let mut parts = rest.strip_prefix(' ').ok_or("no space after the request")?.splitn(3, ' ');
    let status = parts.next().unwrap_or("");
    let bytes = parts.next().unwrap_or("");
    let after = parts.next();
    if !(digits(status) || status == "-") || !(digits(bytes) || bytes == "-") {
        return Err("status/bytes are not numbers".into());
    }
    let mut f = Fields::new();
    let words: Vec<&str> = request.split(' ').collect();
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let (verb, path, version) = match words.as_slice() {
        [v, p] if word(v) && !p.is_empty() => (Some(*v), Some(*p), None),
        [v, p, h] if word(v) && !p.is_empty() && h.starts_with("HTTP/") => (Some(*v), Some(*p), Some(&h[5..])),
        _ => (None, None, None),
    };
    if ecs {
        f.insert("[source][address]".into(), s(client));
        f.insert("timestamp".into(), s(timestamp));
        if let (Some(v), Some(p)) = (verb, path) {
            f.insert("[http][request][method]".into(), s(v));
            f.insert("[url][original]".into(), s(p));
        }
        if let Some(h) = version {
            f.insert("[http][version]".into(), s(h));
        }
        if digits(status) {
            f.insert("[http][response][status_code]".into(), json!(status.parse::<i64>().unwrap()));
        }
        if digits(bytes) {
            f.insert("[http][response][body][bytes]".into(), json!(bytes.parse::<i64>().unwrap()));
        }
    } else {
        for (k, v) in [("clientip", client), ("ident", ident), ("auth", auth), ("timestamp", timestamp)] {
            f.insert(k.into(), s(v));
        }
        match (verb, path) {
            (Some(v), Some(p)) => {
                f.insert("verb".into(), s(v));
                f.insert("request".into(), s(p));
            }
            _ if !request.is_empty() => {
                f.insert("rawrequest".into(), s(request));
            }
            _ => {}
        }
        if let Some(h) = version {
            f.insert("httpversion".into(), s(h));
        }
        if digits(status) {
            f.insert("response".into(), s(status));
        }
        if digits(bytes) {
            f.insert("bytes".into(), s(bytes));
        }
    }
    if combined {
        let rest = after.ok_or("no referrer")?;
        let (referrer, rest) = quoted(rest).ok_or("referrer is not quoted")?;
        let (agent, _) =
            quoted(rest.strip_prefix(' ').ok_or("no agent")?).ok_or("user agent is not a closed quoted string")?;
        if ecs {
            for (k, v) in [("[http][request][referrer]", referrer), ("[user_agent][original]", agent)] {
                let inner = &v[1..v.len() - 1];
                if inner != "-" && !inner.is_empty() {
                    f.insert(k.into(), s(inner));
                }
            }
        } else {
            f.insert("referrer".into(), s(referrer));
            f.insert("agent".into(), s(agent));
        }
    }
    Ok(f)
}

/// A syslog header as Linux and macOS write it: `Mmm dd hh:mm:ss host prog[pid]: message`, or
/// an ISO-8601 timestamp in place of the first three fields (rsyslog's high-precision format).
/// `base`: SYSLOGBASE, which needs the program and stops after its colon.
fn read_syslog(line: &str, base: bool) -> Result<Fields, String> {
    let mut f = Fields::new();
    let rest =
        if let Some(n) = iso_timestamp_len(line).filter(|n| line.as_bytes().get(*n) == Some(&b' ')).filter(|_| !base) {
            f.insert("timestamp8601".into(), s(&line[..n]));
            &line[n + 1..]
        } else {
            let month = line.get(..3).ok_or("too short")?;
            if !MONTHS.contains(&month) || line.as_bytes().get(3) != Some(&b' ') {
                return Err("no syslog timestamp at the start (a continuation line of a multi-line record?)".into());
            }
            let after_month = line[4..].trim_start_matches(' ');
            let (day, r) = after_month.split_once(' ').ok_or("no day")?;
            let (clock, r) = r.split_once(' ').ok_or("no time")?;
            if !digits(day) || !is_clock(clock) {
                return Err("bad day or time".into());
            }
            f.insert("timestamp".into(), s(&line[..line.len() - r.len() - 1]));
            r
        };
    let (host, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !is_host(host) {
        return Err(format!("`{host}` is not a host name"));
    }
    f.insert("logsource".into(), s(host));
    // The program: the first word, ending in `:`, optionally with `[pid]` before the colon.
    let first = rest.split(' ').next().unwrap_or("");
    let program = first.strip_suffix(':').and_then(|p| match p.split_once('[') {
        Some((name, pid)) => {
            let pid = pid.strip_suffix(']')?;
            (!name.contains(']') && digits(pid) && !pid.starts_with('0')).then_some((name, Some(pid)))
        }
        None => (!p.contains(']')).then_some((p, None)),
    });
    let program = program.filter(|(name, _)| !name.is_empty() && name.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let message_after_program = rest.len() > first.len();
    match program {
        Some((name, pid)) if base || message_after_program => {
            f.insert("program".into(), s(name));
            if let Some(p) = pid {
                f.insert("pid".into(), s(p));
            }
            if !base {
                f.insert("message".into(), s(&rest[first.len() + 1..]));
            }
        }
        _ if base => return Err("no `program:` after the host".into()),
        _ => {
            f.insert("message".into(), s(rest));
        }
    }
    Ok(f)
}

/// Apache error logs: 2.2 `[date] [level] [client ip] message`, 2.4 `[date] [module:level]
/// [pid N:tid M] [client ip:port] CODE: message`.
fn read_httpd_error(line: &str) -> Result<Fields, String> {
    let rest = line.strip_prefix('[').ok_or("does not start with `[date]` (not an Apache error log line)")?;
    let close = rest.find(']').ok_or("date not closed")?;
    let date = &rest[..close];
    let p: Vec<&str> = date.split(' ').collect();
    if p.len() != 5 || !MONTHS.contains(&p[1]) || !is_clock(p[3]) || !digits(p[4]) {
        return Err(format!("`{date}` is not an Apache date"));
    }
    let mut f = Fields::new();
    f.insert("timestamp".into(), s(date));
    let rest = rest[close + 1..].strip_prefix(" [").ok_or("no level")?;
    let close = rest.find(']').ok_or("level not closed")?;
    let level = &rest[..close];
    let mut rest = &rest[close + 1..];
    let take_client = |rest: &mut &str, f: &mut Fields, with_port: bool| {
        if let Some(r) = rest.strip_prefix(" [client ") {
            if let Some(end) = r.find(']') {
                let addr = &r[..end];
                let (ip, port) = match addr.rsplit_once(':') {
                    Some((ip, port)) if with_port && digits(port) && is_ip(ip) => (ip, Some(port)),
                    _ => (addr, None),
                };
                f.insert("clientip".into(), s(ip));
                if let Some(port) = port {
                    f.insert("clientport".into(), s(port));
                }
                *rest = &r[end + 1..];
            }
        }
    };
    match level.split_once(':') {
        None => {
            f.insert("loglevel".into(), s(level));
            take_client(&mut rest, &mut f, false);
            f.insert("message".into(), s(rest.strip_prefix(' ').unwrap_or(rest)));
        }
        Some((module, level)) => {
            f.insert("module".into(), s(module));
            f.insert("loglevel".into(), s(level));
            let r = rest.strip_prefix(" [pid ").ok_or("no pid")?;
            let end = r.find(']').ok_or("pid not closed")?;
            let (pid, tid) = match r[..end].split_once(":tid ") {
                Some((p, t)) => (p, Some(t)),
                None => (&r[..end], None),
            };
            f.insert("pid".into(), s(pid));
            if let Some(t) = tid {
                f.insert("tid".into(), s(t));
            }
            rest = &r[end + 1..];
            take_client(&mut rest, &mut f, true);
            let rest = rest.strip_prefix(' ').ok_or("nothing after the header")?;
            // An error code (`AH00094:`) ends at the first colon followed by a space.
            match rest.find(": ") {
                Some(i) => {
                    f.insert("errorcode".into(), s(&rest[..i]));
                    f.insert("message".into(), s(&rest[i + 2..]));
                }
                None => {
                    f.insert("message".into(), s(rest));
                }
            }
        }
    }
    Ok(f)
}

/// HAProxy logs through syslog: `Mmm dd hh:mm:ss host haproxy[pid]: ` then the HTTP or TCP
/// log format (haproxy configuration manual, "Log formats").
fn read_haproxy(line: &str, http: bool) -> Result<Fields, String> {
    let header = read_syslog(line, false)?;
    let body = header.get("message").and_then(Value::as_str).ok_or("no message")?.to_string();
    let mut f = Fields::new();
    f.insert("syslog_timestamp".into(), header["timestamp"].clone());
    f.insert("syslog_server".into(), header["logsource"].clone());
    f.insert("program".into(), header["program"].clone());
    f.insert("pid".into(), header["pid"].clone());
    let mut it = body.splitn(if http { 13 } else { 10 }, ' ');
    let mut next = || it.next().unwrap_or("");
    let client = next();
    let (ip, port) = client.rsplit_once(':').ok_or("no client address")?;
    if !is_ip(ip) {
        return Err(format!(
            "client address is `{ip}`, not an IP (not the standard {} log format)",
            if http { "HTTP" } else { "TCP" }
        ));
    }
    f.insert("client_ip".into(), s(ip));
    f.insert("client_port".into(), s(port));
    let date = next().strip_prefix('[').and_then(|d| d.strip_suffix(']')).ok_or("no [accept date]")?;
    f.insert("accept_date".into(), s(date));
    f.insert("frontend_name".into(), s(next()));
    let (backend, server) = next().rsplit_once('/').ok_or("no backend/server")?;
    f.insert("backend_name".into(), s(backend));
    f.insert("server_name".into(), s(server));
    let timers: Vec<&str> = next().split('/').collect();
    let timer_names: &[&str] = if http {
        &["time_request", "time_queue", "time_backend_connect", "time_backend_response", "time_duration"]
    } else {
        &["time_queue", "time_backend_connect", "time_duration"]
    };
    if timers.len() != timer_names.len() || !timers[..timers.len() - 1].iter().all(|t| int(t)) {
        return Err("timers do not fit the format (an extra field before them?)".into());
    }
    for (k, v) in timer_names.iter().zip(&timers) {
        f.insert((*k).into(), s(v));
    }
    if http {
        let status = next();
        if !int(status) {
            return Err("no status code".into());
        }
        f.insert("http_status_code".into(), s(status));
    }
    f.insert("bytes_read".into(), s(next()));
    if http {
        f.insert("captured_request_cookie".into(), s(next()));
        f.insert("captured_response_cookie".into(), s(next()));
    }
    f.insert("termination_state".into(), s(next()));
    let conns: Vec<&str> = next().split('/').collect();
    if conns.len() != 5 {
        return Err("connection counters do not fit".into());
    }
    for (k, v) in ["actconn", "feconn", "beconn", "srvconn", "retries"].iter().zip(&conns) {
        f.insert((*k).into(), s(v));
    }
    let queues: Vec<&str> = next().split('/').collect();
    if queues.len() != 2 {
        return Err("queue counters do not fit".into());
    }
    f.insert("srv_queue".into(), s(queues[0]));
    f.insert("backend_queue".into(), s(queues[1]));
    if http {
        let mut rest = next();
        for key in ["captured_request_headers", "captured_response_headers"] {
            if let Some(r) = rest.strip_prefix('{') {
                let end = r.find('}').ok_or("header capture not closed")?;
                f.insert(key.into(), s(&r[..end]));
                rest = r[end + 1..].strip_prefix(' ').unwrap_or(&r[end + 1..]);
            }
        }
        let request = rest.strip_prefix('"').ok_or("request is not quoted")?;
        let request = request.strip_suffix('"').unwrap_or(request);
        let parts: Vec<&str> = request.split(' ').collect();
        if let [verb, uri, version] = parts.as_slice() {
            f.insert("http_verb".into(), s(verb));
            f.insert("http_request".into(), s(uri));
            f.insert("http_version".into(), s(version.strip_prefix("HTTP/").ok_or("no HTTP version")?));
        }
    } else if it.next().is_some() {
        return Err("text after the queue counters".into());
    }
    Ok(f)
}

/// PostgreSQL's stderr log with the common prefixes: `%m [%p] `, `%t [%p-%l] `, optionally
/// followed by `%u@%d `; then `LEVEL:  message`.
fn read_postgres(line: &str) -> Result<Fields, String> {
    let n =
        iso_timestamp_len(line).ok_or("no timestamp at the start (a continuation line of a multi-line statement?)")?;
    let mut f = Fields::new();
    f.insert("timestamp".into(), s(&line[..n]));
    let mut rest = line[n..].strip_prefix(' ').ok_or("nothing after the timestamp")?;
    let mut tok = rest.split(' ').next().unwrap_or("");
    if (2..=5).contains(&tok.len()) && tok.bytes().all(|b| b.is_ascii_uppercase()) && !tok.ends_with(':') {
        f.insert("timezone".into(), s(tok));
        rest = &rest[tok.len() + 1..];
        tok = rest.split(' ').next().unwrap_or("");
    }
    if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let (pid, session) = match inner.split_once('-') {
            Some((p, l)) => (p, Some(l)),
            None => (inner, None),
        };
        f.insert("pid".into(), s(pid));
        if let Some(l) = session {
            f.insert("session_line".into(), s(l));
        }
        rest = &rest[tok.len() + 1..];
        tok = rest.split(' ').next().unwrap_or("");
    }
    if let Some((user, db)) = tok.split_once('@') {
        f.insert("user".into(), s(user));
        f.insert("database".into(), s(db));
        rest = &rest[tok.len() + 1..];
    }
    let (level, message) = rest.split_once(':').ok_or("no `LEVEL:`")?;
    const LEVELS: [&str; 14] = [
        "DEBUG1",
        "INFO",
        "NOTICE",
        "WARNING",
        "ERROR",
        "LOG",
        "FATAL",
        "PANIC",
        "DETAIL",
        "HINT",
        "STATEMENT",
        "QUERY",
        "CONTEXT",
        "LOCATION",
    ];
    if !LEVELS.contains(&level) {
        return Err(format!("`{level}` is not a PostgreSQL severity"));
    }
    f.insert("level".into(), s(level));
    let message = message.strip_prefix(' ').ok_or("no space after the severity")?.trim_start_matches(' ');
    f.insert("message".into(), s(message));
    Ok(f)
}

/// Redis server logs: `[pid] dd Mon hh:mm:ss[.ms] L msg` (2.x) or `pid:R dd Mon [yyyy ]hh:mm:ss.ms L msg`.
fn read_redis(line: &str) -> Result<Fields, String> {
    let mut f = Fields::new();
    let rest = if let Some(r) = line.strip_prefix('[') {
        let (pid, r) = r.split_once("] ").ok_or("pid not closed")?;
        if !digits(pid) {
            return Err("pid is not a number".into());
        }
        f.insert("pid".into(), s(pid));
        r
    } else {
        let (head, r) = line.split_once(' ').ok_or("no header (a start-up banner line?)")?;
        let (pid, role) = head.split_once(':').ok_or("no `pid:role` (a start-up banner line?)")?;
        if !digits(pid) || role.is_empty() || !role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err("no `pid:role` (a signal-handler line or a banner line)".into());
        }
        f.insert("pid".into(), s(pid));
        f.insert("role".into(), s(role));
        r
    };
    // `dd Mon hh:mm:ss` or, from 5.0 on, `dd Mon yyyy hh:mm:ss`; then the level mark.
    let words: Vec<&str> = rest.split(' ').collect();
    let ts_len = match words.as_slice() {
        [d, m, y, c, ..] if digits(d) && MONTHS.contains(m) && digits(y) && is_clock(c) => 4,
        [d, m, c, ..] if digits(d) && MONTHS.contains(m) && is_clock(c) => 3,
        _ => return Err("no `dd Mon hh:mm:ss` timestamp".into()),
    };
    let level = words.get(ts_len).copied().unwrap_or("");
    if !matches!(level, "." | "-" | "*" | "#") || words.len() < ts_len + 2 {
        return Err("no level mark and message after the timestamp".into());
    }
    f.insert("timestamp".into(), s(&words[..ts_len].join(" ")));
    f.insert("level".into(), s(level));
    let message = words[ts_len + 1..].join(" ");
    let message = message.as_str();
    f.insert("message".into(), s(message));
    Ok(f)
}

/// MongoDB 3.x text logs: `ISO-timestamp S COMPONENT  [context] message`.
fn read_mongo3(line: &str) -> Result<Fields, String> {
    let n = iso_timestamp_len(line).ok_or("no ISO-8601 timestamp at the start (a JSON log line?)")?;
    let mut f = Fields::new();
    f.insert("timestamp".into(), s(&line[..n]));
    let rest = line[n..].strip_prefix(' ').ok_or("no severity")?;
    let (sev, rest) = rest.split_once(' ').ok_or("no component")?;
    if sev.len() != 1 {
        return Err("severity is not one letter".into());
    }
    f.insert("severity".into(), s(sev));
    let (component, rest) = rest.split_once(' ').ok_or("no message")?;
    f.insert("component".into(), s(component));
    let rest = rest.trim_start_matches(' ');
    if let Some(r) = rest.strip_prefix('[') {
        let end = r.find("] ").ok_or("context not closed")?;
        f.insert("context".into(), s(&r[..end]));
        f.insert("message".into(), s(&r[end + 2..]));
    } else {
        f.insert("message".into(), s(rest));
    }
    Ok(f)
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

fn never(_: usize, _: &str) -> Option<&'static str> {
    None
}

fn indented_or_empty(_: usize, l: &str) -> Option<&'static str> {
    if l.is_empty() {
        Some("empty line")
    } else if l.starts_with([' ', '\t']) {
        Some("indented continuation line of a multi-line record")
    } else {
        None
    }
}

/// Every line of the 10,000-line Apache sample: one fails, its user agent is never closed.
#[test]
fn apache_combined_sample_every_line() {
    let Some(root) = corpus() else { return };
    let fail = |n: usize, _: &str| (n == 8899).then_some("the user-agent field has no closing quote");
    for (mode, ecs) in [(EcsMode::Disabled, false), (EcsMode::V1, true)] {
        let read: Reader = if ecs { |l| read_access(l, true, true) } else { |l| read_access(l, true, false) };
        let matched = run(
            &root,
            &Case {
                file: "elastic-examples/apache_logs",
                pattern: "%{COMBINEDAPACHELOG}",
                mode,
                read,
                must_fail: fail,
            },
        );
        assert_eq!(matched, 9_999);
    }
}

/// The Apache and nginx access samples of the Filebeat modules, with COMBINEDAPACHELOG (and
/// COMMONAPACHELOG for the common-format file).
#[test]
fn apache_and_nginx_access_samples() {
    let Some(root) = corpus() else { return };
    let combined: Reader = |l| read_access(l, true, false);
    let common: Reader = |l| read_access(l, false, false);
    let cases = [
        Case {
            file: "elastic-beats/apache-access/darwin-2.4.23.log",
            pattern: "%{COMMONAPACHELOG}",
            mode: EcsMode::Disabled,
            read: common,
            must_fail: never,
        },
        Case {
            file: "elastic-beats/apache-access/ssl-request.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: |_, _| {
                Some("mod_ssl request log: `[time] client protocol cipher \"request\" bytes`, another layout")
            },
        },
        Case {
            file: "elastic-beats/apache-access/test.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: |n, _| matches!(n, 1 | 3).then_some("common log format: no referrer and user agent"),
        },
        Case {
            file: "elastic-beats/apache-access/test-vhost.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: never,
        },
        Case {
            file: "elastic-beats/nginx_access.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: never,
        },
        Case {
            file: "elastic-beats/nginx_test.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: never,
        },
        Case {
            file: "elastic-beats/nginx-access/test-with-host.log",
            pattern: "%{COMBINEDAPACHELOG}",
            mode: EcsMode::Disabled,
            read: combined,
            must_fail: |n, _| (n == 8).then_some("the client is `unix:` (a Unix-socket peer), not an address"),
        },
    ];
    for case in &cases {
        run(&root, case);
    }
}

/// The Apache error samples with HTTPD_ERRORLOG; nginx's error log is another layout.
#[test]
fn apache_and_nginx_error_samples() {
    let Some(root) = corpus() else { return };
    for file in [
        "elastic-beats/apache-error/test.log",
        "elastic-beats/apache-error/ubuntu-2.2.22.log",
        "elastic-beats/apache-error/sublevel.log",
    ] {
        run(
            &root,
            &Case {
                file,
                pattern: "^%{HTTPD_ERRORLOG}",
                mode: EcsMode::Disabled,
                read: read_httpd_error,
                must_fail: |_, l| l.is_empty().then_some("empty line"),
            },
        );
    }
    run(
        &root,
        &Case {
            file: "elastic-beats/nginx-error/error.log",
            pattern: "^%{HTTPD_ERRORLOG}",
            mode: EcsMode::Disabled,
            read: read_httpd_error,
            must_fail: |_, _| Some("nginx error log: `yyyy/mm/dd hh:mm:ss [level] pid#tid: ...`, not Apache's layout"),
        },
    );
}

/// The syslog samples with SYSLOGLINE, and the auth logs (1,000 lines of RHEL 7 `secure`)
/// with SYSLOGBASE as well.
#[test]
fn syslog_and_auth_samples() {
    let Some(root) = corpus() else { return };
    let line: Reader = |l| read_syslog(l, false);
    let base: Reader = |l| read_syslog(l, true);
    let files: [(&str, MustFail); 9] = [
        ("elastic-beats/system-syslog/darwin-syslog-sample.log", |n, l| {
            indented_or_empty(n, l).or((n == 21).then_some("`--- last message repeated 1 time ---` has no host"))
        }),
        ("elastic-beats/system-syslog/darwin-syslog.log", indented_or_empty),
        ("elastic-beats/system-syslog/iso8601_timestamp_multiline_syslog.log", indented_or_empty),
        ("elastic-beats/system-syslog/suse-syslog.log", never),
        ("elastic-beats/system-syslog/test-syslog.log", |n, _| {
            (n == 2).then_some("continuation line `syslog` without a header")
        }),
        ("elastic-beats/system-syslog/tz-offset.log", never),
        ("elastic-beats/system-auth/secure-rhel7.log", never),
        ("elastic-beats/system-auth/test.log", never),
        ("elastic-beats/system-auth/timestamp.log", never),
    ];
    for (file, must_fail) in files {
        let matched =
            run(&root, &Case { file, pattern: "^%{SYSLOGLINE}", mode: EcsMode::Disabled, read: line, must_fail });
        if file.ends_with("secure-rhel7.log") {
            assert_eq!(matched, 1000);
        }
    }
    for file in ["elastic-beats/system-auth/secure-rhel7.log", "elastic-beats/system-auth/test.log"] {
        run(&root, &Case { file, pattern: "^%{SYSLOGBASE}", mode: EcsMode::Disabled, read: base, must_fail: never });
    }
    // The same reading under ECS names: the host and process nest, the pid is a number, and
    // both timestamp forms land in `timestamp`.
    let ecs: Reader = |l| {
        let legacy = read_syslog(l, false)?;
        let mut f = Fields::new();
        for (k, v) in legacy {
            match k.as_str() {
                "timestamp" | "timestamp8601" => f.insert("timestamp".into(), v),
                "logsource" => f.insert("[host][hostname]".into(), v),
                "program" => f.insert("[process][name]".into(), v),
                "pid" => f.insert("[process][pid]".into(), json!(v.as_str().and_then(|p| p.parse::<i64>().ok()))),
                _ => f.insert(k, v),
            };
        }
        Ok(f)
    };
    for file in [
        "elastic-beats/system-auth/secure-rhel7.log",
        "elastic-beats/system-auth/timestamp.log",
        "elastic-beats/system-syslog/tz-offset.log",
    ] {
        run(&root, &Case { file, pattern: "^%{SYSLOGLINE}", mode: EcsMode::V1, read: ecs, must_fail: never });
    }
    run(
        &root,
        &Case {
            file: "elastic-beats/system-auth/timestamp.log",
            pattern: "^%{SYSLOGBASE}",
            mode: EcsMode::Disabled,
            read: base,
            must_fail: |_, _| Some("ISO-8601 timestamp: SYSLOGBASE reads only the BSD `Mmm dd hh:mm:ss` form"),
        },
    );
}

/// HAProxy HTTP and TCP logs.
#[test]
fn haproxy_samples() {
    let Some(root) = corpus() else { return };
    let http: Reader = |l| read_haproxy(l, true);
    let tcp: Reader = |l| read_haproxy(l, false);
    run(
        &root,
        &Case {
            file: "elastic-beats/haproxy-log/haproxy.log",
            pattern: "%{HAPROXYHTTP}",
            mode: EcsMode::Disabled,
            read: http,
            must_fail: |n, _| (n >= 2).then_some("custom log-format: client `-:port` and a host name after the server"),
        },
    );
    run(
        &root,
        &Case {
            file: "elastic-beats/haproxy-log/httplog-no-headers.log",
            pattern: "%{HAPROXYHTTP}",
            mode: EcsMode::Disabled,
            read: http,
            must_fail: |_, l| l.is_empty().then_some("empty line"),
        },
    );
    run(
        &root,
        &Case {
            file: "elastic-beats/haproxy-log/tcplog.log",
            pattern: "%{HAPROXYTCP}",
            mode: EcsMode::Disabled,
            read: tcp,
            must_fail: never,
        },
    );
    for (pattern, read) in [("%{HAPROXYHTTP}", http), ("%{HAPROXYTCP}", tcp)] {
        run(
            &root,
            &Case {
                file: "elastic-beats/haproxy-log/default.log",
                pattern,
                mode: EcsMode::Disabled,
                read,
                must_fail: |_, _| Some("a `Connect from` notice, neither the HTTP nor the TCP log format"),
            },
        );
    }
}

/// PostgreSQL stderr logs with POSTGRESQL_LOG (the csvlog files are CSV, for the csv filter).
#[test]
fn postgresql_samples() {
    let Some(root) = corpus() else { return };
    let files = [
        "postgresql-10-default.log",
        "postgresql-10-min-duration-statement.log",
        "postgresql-11.4.log",
        "postgresql-12-default.log",
        "postgresql-13-default.log",
        "postgresql-13-log-statement-all.log",
        "postgresql-9-log-statement-all.log",
        "postgresql-9.5-multi-core.log",
        "postgresql-9.6-debian-with-slowlog.log",
        "postgresql-9.6-new-timestamp.log",
        "postgresql-query-steps-slowlog.log",
        "postgresql-ubuntu-9.5.log",
    ];
    let mut matched = 0;
    for f in files {
        let file: &'static str = Box::leak(format!("elastic-beats/postgresql-log/{f}").into_boxed_str());
        matched += run(
            &root,
            &Case {
                file,
                pattern: "^%{POSTGRESQL_LOG}",
                mode: EcsMode::Disabled,
                read: read_postgres,
                must_fail: indented_or_empty,
            },
        );
    }
    assert!(matched > 250, "{matched}");
}

/// Redis logs of 2.x, 3.x and 5.x with REDISLOGLINE; Logstash's REDISLOG reads the 2.x notice
/// lines only.
#[test]
fn redis_samples() {
    let Some(root) = corpus() else { return };
    let banner = |n: usize, l: &str| {
        if l.trim().is_empty() {
            Some("empty line")
        } else if (2..=18).contains(&n) || (29..=45).contains(&n) {
            Some("ASCII-art start-up banner (two start-ups)")
        } else if l.contains(":signal-handler") {
            Some("signal-handler line: `pid:signal-handler (epoch)`, no role or date")
        } else {
            None
        }
    };
    run(
        &root,
        &Case {
            file: "elastic-beats/redis-log/redis-darwin-3.0.2.log",
            pattern: "^%{REDISLOGLINE}",
            mode: EcsMode::Disabled,
            read: read_redis,
            must_fail: banner,
        },
    );
    run(
        &root,
        &Case {
            file: "elastic-beats/redis-log/redis-windows-2.4.6.log",
            pattern: "^%{REDISLOGLINE}",
            mode: EcsMode::Disabled,
            read: read_redis,
            must_fail: never,
        },
    );
    run(
        &root,
        &Case {
            file: "elastic-beats/redis-log/redis-5.0.3.log",
            pattern: "^%{REDISLOGLINE}",
            mode: EcsMode::Disabled,
            read: read_redis,
            must_fail: never,
        },
    );
    run(
        &root,
        &Case {
            file: "elastic-beats/redis-log/test.log",
            pattern: "^%{REDISLOGLINE}",
            mode: EcsMode::Disabled,
            read: read_redis,
            must_fail: |n, _| match n {
                2 => Some("Redis 1.x layout: no pid"),
                4 => Some("signal-handler line: `pid:signal-handler (epoch)`, no role or date"),
                _ => None,
            },
        },
    );
    // REDISLOG: the `[pid] date *` header of 2.x notice lines, nothing else.
    let redislog: Reader = |l| {
        let f = read_redis(l)?;
        if f.contains_key("role")
            || f["level"] != json!("*")
            || f["timestamp"].as_str().is_some_and(|t| t.split(' ').count() != 3)
        {
            return Err("not a 2.x notice line".into());
        }
        Ok(Fields::from([("pid".to_string(), f["pid"].clone()), ("timestamp".to_string(), f["timestamp"].clone())]))
    };
    run(
        &root,
        &Case {
            file: "elastic-beats/redis-log/redis-windows-2.4.6.log",
            pattern: "^%{REDISLOG}",
            mode: EcsMode::Disabled,
            read: redislog,
            must_fail: |_, l| (!l.contains(" * ")).then_some("level is not `*` (notice)"),
        },
    );
}

/// MongoDB 3.2 text logs with MONGO3_LOG; the 4.4 logs are JSON (for the json filter).
#[test]
fn mongodb_samples() {
    let Some(root) = corpus() else { return };
    run(
        &root,
        &Case {
            file: "elastic-beats/mongodb-log/mongodb-debian-3.2.11.log",
            pattern: "^%{MONGO3_LOG}",
            mode: EcsMode::Disabled,
            read: read_mongo3,
            must_fail: never,
        },
    );
    for file in [
        "elastic-beats/mongodb-log/mongodb-debian-4.4.4-json.log",
        "elastic-beats/mongodb-log/mongodb-ubuntu-4.4.4-json.log",
    ] {
        run(
            &root,
            &Case {
                file,
                pattern: "^%{MONGO3_LOG}",
                mode: EcsMode::Disabled,
                read: read_mongo3,
                must_fail: |_, _| Some("MongoDB 4.4 structured JSON log"),
            },
        );
    }
}

/// Grok matches an expression piece by piece where it can (src/filters/grok/sequence.rs); that
/// path must give exactly the captures the whole regex gives. Every pattern of both libraries
/// against a sample of every corpus file: the captures (or no match) must equal the `regex`
/// crate's own reading of the full expression.
#[test]
fn piecewise_matching_agrees_with_the_whole_regex_on_the_corpus() {
    use sluice::filters::grok::library::{builtin_files, parse};
    use sluice::filters::grok::MatchResult;
    let Some(root) = corpus() else { return };
    fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), out);
            }
        } else if p.extension().is_none_or(|e| e == "log") {
            out.push(p.to_path_buf());
        }
    }
    let mut files = Vec::new();
    walk(&root.join("elastic-beats"), &mut files);
    files.push(root.join("elastic-examples/apache_logs"));
    let mut lines: Vec<String> = Vec::new();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            lines.extend(text.lines().filter(|l| l.is_ascii()).take(150).map(String::from));
        }
    }
    let (mut pairs, mut matched) = (0usize, 0usize);
    for mode in [EcsMode::Disabled, EcsMode::V1] {
        for (_, text) in builtin_files(mode) {
            for (name, _, _) in parse(text, "library").unwrap() {
                let Ok(grok) = compile_pattern(&format!("%{{{name}}}"), library(mode)) else { continue };
                if grok.uses_backtracking() {
                    continue;
                }
                let whole = regex::bytes::RegexBuilder::new(grok.regex_source()).unicode(false).build().unwrap();
                let names: Vec<String> = (0..grok.capture_specs().len()).map(|k| format!("g{k}")).collect();
                for line in &lines {
                    let expected: Option<Vec<Option<&str>>> = whole.captures(line.as_bytes()).map(|caps| {
                        names.iter().map(|n| caps.name(n).map(|m| std::str::from_utf8(m.as_bytes()).unwrap())).collect()
                    });
                    let mut got = Vec::new();
                    let result = grok.match_spans(line, |_, v| got.push(v));
                    let got = (result == MatchResult::Matched).then_some(got);
                    assert_eq!(got, expected, "{name} ({mode:?}) on {line:?}");
                    pairs += 1;
                    matched += usize::from(expected.is_some());
                }
            }
        }
    }
    eprintln!("{pairs} pattern/line pairs, {matched} matching: piecewise and whole agree");
    assert!(matched > 10_000, "too few matches ({matched}) for the comparison to mean much");
}

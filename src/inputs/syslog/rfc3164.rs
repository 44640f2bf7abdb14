//! RFC 3164 ("BSD syslog") messages: `<PRI>TIMESTAMP HOSTNAME TAG[PID]: MSG`.
//!
//! What Logstash's syslog input accepts, read by a hand-written scanner instead of a grok
//! expression: the timestamp is `Mmm dd hh:mm:ss` (one or two spaces before a one-digit day, an
//! optional fraction) or ISO8601; an old-style `<facility.priority>` after it is skipped; then the
//! hostname, then the tag (`program`, or `program[pid]`) and its colon, then the message after one
//! space. Beyond Logstash, a message without a hostname (what many devices and local loggers
//! send: `<13>Oct 11 22:14:15 su: ...`) is recognised by its first word being a tag, and `<0>`
//! is a priority like any other.

use super::rfc5424::scan_priority;
use super::time::{scan_rfc3164, scan_rfc3339, MonthNames, Zone};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub priority: u8,
    /// The timestamp as written.
    pub timestamp: &'a str,
    /// Written as ISO8601 rather than `Mmm dd hh:mm:ss`.
    pub iso8601: bool,
    /// The instant it stands for; `None` when it names no real time (`Feb 30`).
    pub time: Option<DateTime<Utc>>,
    pub hostname: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<&'a str>,
    /// MSG (CONTENT), as bytes: RFC 3164 promises no encoding.
    pub msg: &'a [u8],
}

/// Why a line is not an RFC 3164 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Priority,
    /// No timestamp after `<PRI>`.
    Timestamp,
    /// Nothing after the timestamp.
    NoHostname,
}

/// What reading a 3164 timestamp needs besides the line.
pub struct TimeContext<'c> {
    pub zone: &'c Zone,
    pub months: &'c MonthNames,
    pub now: DateTime<Utc>,
}

pub fn parse<'a>(line: &'a [u8], ctx: &TimeContext<'_>) -> Result<Message<'a>, Error> {
    let (priority, mut i) = scan_priority(line).ok_or(Error::Priority)?;
    let ts_start = i;
    let (time, ts_len, iso8601) = match scan_rfc3339(&line[i..], ctx.zone) {
        Ok((time, len)) => (time, len, true),
        Err(_) => {
            let (time, len) = scan_rfc3164(&line[i..], ctx.months, ctx.zone, ctx.now).map_err(|_| Error::Timestamp)?;
            (time, len, false)
        }
    };
    i += ts_len;
    // Both scanners read ASCII only.
    let timestamp = std::str::from_utf8(&line[ts_start..i]).map_err(|_| Error::Timestamp)?;
    if line.get(i) != Some(&b' ') {
        return Err(Error::NoHostname);
    }
    skip_spaces(line, &mut i);
    // An old `<facility.priority>` some relays put after the timestamp; its numbers repeat PRI.
    if line.get(i) == Some(&b'<') {
        if let Some(end) = facility_priority_end(&line[i..]) {
            i += end;
            skip_spaces(line, &mut i);
        }
    }
    if i >= line.len() {
        return Err(Error::NoHostname);
    }

    let mut hostname = None;
    let mut first = word(line, i);
    if tag(first).is_none() {
        hostname = std::str::from_utf8(first).ok();
        if hostname.is_none() {
            return Err(Error::NoHostname);
        }
        i += first.len();
        if line.get(i) == Some(&b' ') {
            i += 1;
        }
        first = word(line, i);
    }
    let (program, pid) = match tag(first) {
        Some((program, pid)) => {
            i += first.len();
            if line.get(i) == Some(&b' ') {
                i += 1;
            }
            (Some(program), pid)
        }
        None => (None, None),
    };
    Ok(Message { priority, timestamp, iso8601, time, hostname, program, pid, msg: line.get(i..).unwrap_or(&[]) })
}

fn skip_spaces(b: &[u8], i: &mut usize) {
    while b.get(*i) == Some(&b' ') {
        *i += 1;
    }
}

fn word(b: &[u8], i: usize) -> &[u8] {
    let rest = b.get(i..).unwrap_or(&[]);
    let len = rest.iter().position(|c| *c == b' ').unwrap_or(rest.len());
    &rest[..len]
}

/// `<n.n>`: its length.
fn facility_priority_end(b: &[u8]) -> Option<usize> {
    let close = b.iter().position(|c| *c == b'>')?;
    let inner = &b[1..close];
    let dot = inner.iter().position(|c| *c == b'.')?;
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    (digits(&inner[..dot]) && digits(&inner[dot + 1..])).then_some(close + 1)
}

/// A tag word: `program:` or `program[pid]:`, where program is printable ASCII without
/// brackets and pid is digits (what grok's SYSLOGPROG accepts).
fn tag(w: &[u8]) -> Option<(&str, Option<&str>)> {
    let body = w.strip_suffix(b":")?;
    let (program, pid) = match body.strip_suffix(b"]") {
        Some(inner) => {
            let open = inner.iter().position(|c| *c == b'[')?;
            let pid = &inner[open + 1..];
            if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
                return None;
            }
            (&inner[..open], Some(pid))
        }
        None => (body, None),
    };
    if program.is_empty() || !program.iter().all(|c| c.is_ascii_graphic() && *c != b'[' && *c != b']') {
        return None;
    }
    // Checked to be ASCII above.
    let program = std::str::from_utf8(program).ok()?;
    let pid = pid.and_then(|p| std::str::from_utf8(p).ok());
    Some((program, pid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn p(line: &[u8]) -> Result<Message<'_>, Error> {
        let zone = Zone::Named(Tz::UTC);
        let ctx = TimeContext { zone: &zone, months: &MonthNames::English, now: Utc.with_ymd_and_hms(2003, 10, 20, 0, 0, 0).unwrap() };
        parse(line, &ctx)
    }

    #[test]
    fn rfc_example_with_a_tag() {
        let m = p(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8").unwrap();
        assert_eq!(m.priority, 34);
        assert_eq!(m.timestamp, "Oct 11 22:14:15");
        assert!(!m.iso8601);
        assert_eq!(m.time, Some(Utc.with_ymd_and_hms(2003, 10, 11, 22, 14, 15).unwrap()));
        assert_eq!((m.hostname, m.program, m.pid), (Some("mymachine"), Some("su"), None));
        assert_eq!(m.msg, b"'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn single_digit_day_pid_and_ip_hostname() {
        let m = p(b"<13>Oct  1 02:03:04 10.0.0.1 sshd[4242]: Accepted publickey for root").unwrap();
        assert_eq!(m.timestamp, "Oct  1 02:03:04");
        assert_eq!(m.time, Some(Utc.with_ymd_and_hms(2003, 10, 1, 2, 3, 4).unwrap()));
        assert_eq!((m.hostname, m.program, m.pid), (Some("10.0.0.1"), Some("sshd"), Some("4242")));
        assert_eq!(m.msg, b"Accepted publickey for root");
        let m = p(b"<13>Oct 1 02:03:04 fe80::1 kernel: x").unwrap();
        assert_eq!((m.hostname, m.program), (Some("fe80::1"), Some("kernel")));
    }

    #[test]
    fn no_tag_means_the_rest_is_the_message() {
        let m = p(b"<13>Oct 11 22:14:15 host just some text: with a colon").unwrap();
        assert_eq!((m.hostname, m.program), (Some("host"), None));
        assert_eq!(m.msg, b"just some text: with a colon");
        // A bracketed non-number is not a pid, so not a tag either.
        let m = p(b"<13>Oct 11 22:14:15 host prog[abc]: x").unwrap();
        assert_eq!((m.program, m.msg), (None, &b"prog[abc]: x"[..]));
    }

    #[test]
    fn missing_hostname_is_recognised_by_the_tag() {
        let m = p(b"<13>Oct 11 22:14:15 su: 'su root' failed").unwrap();
        assert_eq!((m.hostname, m.program, m.pid), (None, Some("su"), None));
        assert_eq!(m.msg, b"'su root' failed");
        let m = p(b"<13>Oct 11 22:14:15 cron[99]: job").unwrap();
        assert_eq!((m.hostname, m.program, m.pid), (None, Some("cron"), Some("99")));
    }

    #[test]
    fn iso8601_timestamp_and_facility_priority() {
        let m = p(b"<13>2003-10-11T22:14:15.5+02:00 <1.5> host app: m").unwrap();
        assert!(m.iso8601);
        assert_eq!(m.timestamp, "2003-10-11T22:14:15.5+02:00");
        assert_eq!(m.time, Some(Utc.with_ymd_and_hms(2003, 10, 11, 20, 14, 15).unwrap() + chrono::Duration::milliseconds(500)));
        assert_eq!((m.hostname, m.program, m.msg), (Some("host"), Some("app"), &b"m"[..]));
    }

    #[test]
    fn tag_with_nothing_after_and_program_with_colons() {
        let m = p(b"<13>Oct 11 22:14:15 host app:").unwrap();
        assert_eq!((m.program, m.msg), (Some("app"), &b""[..]));
        let m = p(b"<13>Oct 11 22:14:15 host a:b: m").unwrap();
        assert_eq!((m.program, m.msg), (Some("a:b"), &b"m"[..]));
    }

    #[test]
    fn bad_dates_still_parse_the_structure() {
        let m = p(b"<13>Feb 30 22:14:15 host app: m").unwrap();
        assert_eq!(m.time, None);
        assert_eq!(m.hostname, Some("host"));
    }

    #[test]
    fn non_utf8_message_is_kept_as_bytes() {
        let m = p(b"<13>Oct 11 22:14:15 host app: caf\xe9").unwrap();
        assert_eq!(m.msg, b"caf\xe9");
        // A hostname that is not text cannot be a hostname.
        assert_eq!(p(b"<13>Oct 11 22:14:15 h\xe9st app: x").unwrap_err(), Error::NoHostname);
    }

    #[test]
    fn what_is_not_3164() {
        assert_eq!(p(b"Oct 11 22:14:15 host app: no pri").unwrap_err(), Error::Priority);
        assert_eq!(p(b"<13>").unwrap_err(), Error::Timestamp);
        assert_eq!(p(b"<13>hello world").unwrap_err(), Error::Timestamp);
        assert_eq!(p(b"<13>Oct 11 22:14:15").unwrap_err(), Error::NoHostname);
        assert_eq!(p(b"<13>Oct 11 22:14:15 ").unwrap_err(), Error::NoHostname);
        assert_eq!(p(b"<999>Oct 11 22:14:15 host app: m").unwrap_err(), Error::Priority);
    }
}

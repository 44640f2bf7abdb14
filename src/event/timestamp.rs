//! `@timestamp` as text: written the way Logstash 7 writes it (UTC, milliseconds, `Z`), read from
//! any ISO8601 form an upstream shipper may send.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

/// `2024-02-29T13:05:09.123Z`, appended to `out` without going through a formatter.
pub fn write_iso8601(t: DateTime<Utc>, out: &mut Vec<u8>) {
    let d = t.date_naive();
    let tm = t.time();
    let year = d.year();
    if !(0..=9999).contains(&year) {
        // Out of the four-digit range: let chrono spell it (rare enough not to matter).
        out.extend_from_slice(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).as_bytes());
        return;
    }
    let mut buf = [0u8; 24];
    let put = |buf: &mut [u8], at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut buf, 0, year as u32, 4);
    buf[4] = b'-';
    put(&mut buf, 5, d.month(), 2);
    buf[7] = b'-';
    put(&mut buf, 8, d.day(), 2);
    buf[10] = b'T';
    put(&mut buf, 11, tm.hour(), 2);
    buf[13] = b':';
    put(&mut buf, 14, tm.minute(), 2);
    buf[16] = b':';
    // A leap second shows as nanosecond >= 1e9; clamp it into the same second.
    put(&mut buf, 17, tm.second(), 2);
    buf[19] = b'.';
    put(&mut buf, 20, (tm.nanosecond() % 1_000_000_000) / 1_000_000, 3);
    buf[23] = b'Z';
    out.extend_from_slice(&buf);
}

pub fn to_iso8601(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(24);
    write_iso8601(t, &mut out);
    // Only ASCII digits and separators were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Read an ISO8601 timestamp: `T` or space between date and time, optional fraction (`.` or
/// `,`), and `Z`, `+hh:mm`, `+hhmm`, `+hh` or no zone (taken as UTC).
pub fn parse_iso8601(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    if b.len() == 10 {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let rest = &s[11..];
    // Split the zone off the end.
    let (time_text, offset_secs) = split_zone(rest)?;
    let time_text = time_text.replace(',', ".");
    let time = ["%H:%M:%S%.f", "%H:%M", "%H%M%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(&time_text, f).ok())?;
    let naive = NaiveDateTime::new(date, time);
    Some((naive - chrono::Duration::seconds(offset_secs as i64)).and_utc())
}

fn split_zone(rest: &str) -> Option<(&str, i32)> {
    if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        return Some((t, 0));
    }
    if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, zone) = rest.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (h, m) = match digits.len() {
            2 => (digits.parse::<i32>().ok()?, 0),
            4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
            _ => return None,
        };
        return Some((t, sign * (h * 3600 + m * 60)));
    }
    Some((rest, 0))
}

/// The machine's zone, which Logstash's JVM would use by default for times written without one:
/// `TZ`, else `/etc/timezone`, else where `/etc/localtime` points into the zone database; UTC
/// when none names a zone. Read once per process.
pub fn machine_zone() -> chrono_tz::Tz {
    use std::str::FromStr;
    static ZONE: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();
    *ZONE.get_or_init(|| {
        let from_env = std::env::var("TZ").ok().map(|v| v.trim_start_matches(':').to_string());
        let from_file = || std::fs::read_to_string("/etc/timezone").ok().map(|s| s.trim().to_string());
        let from_link = || {
            let target = std::fs::read_link("/etc/localtime").ok()?;
            let text = target.to_string_lossy().into_owned();
            text.split_once("zoneinfo/").map(|(_, id)| id.to_string())
        };
        let zone = [from_env, from_file(), from_link()]
            .into_iter()
            .flatten()
            .find_map(|id| chrono_tz::Tz::from_str(&id).ok())
            .unwrap_or(chrono_tz::Tz::UTC);
        tracing::debug!(zone = zone.name(), "Times without a zone will be read in the machine's zone.");
        zone
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn writes_millisecond_utc() {
        let t = Utc.with_ymd_and_hms(2024, 2, 29, 13, 5, 9).unwrap() + chrono::Duration::milliseconds(7);
        assert_eq!(to_iso8601(t), "2024-02-29T13:05:09.007Z");
    }

    #[test]
    fn reads_the_forms_shippers_send() {
        let expect = Utc.with_ymd_and_hms(2024, 2, 29, 12, 5, 9).unwrap();
        for s in [
            "2024-02-29T12:05:09Z",
            "2024-02-29T12:05:09.000Z",
            "2024-02-29T13:05:09+01:00",
            "2024-02-29T13:05:09+0100",
            "2024-02-29T13:05:09,000+01",
            "2024-02-29 12:05:09",
            "2024-02-29T07:05:09-05:00",
        ] {
            assert_eq!(parse_iso8601(s), Some(expect), "{s}");
        }
        assert_eq!(parse_iso8601("2024-02-29"), Some(Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap()));
        for bad in ["", "yesterday", "2024-13-01T00:00:00Z", "2024-02-29X12:00", "2024-02-29T25:00:00Z"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}

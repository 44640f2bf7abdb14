//! Syslog timestamps: RFC3164's `Mmm dd hh:mm:ss` (no year, no zone) and RFC3339 / ISO8601.
//!
//! A 3164 timestamp is local time in the sender's zone, which the message does not say: the
//! `timezone` option names it (the machine's zone by default, as Logstash's JVM would use). Its
//! year is the one of last year, this year and next year that puts the instant nearest to now,
//! so a December message read on the 1st of January lands in December of the year before. Month
//! names are English unless `locale` names another language. The scanners here work on bytes
//! and build the date from its numbers; no format string is interpreted per message.

use crate::event::joda::{JodaFormat, Locale};
use chrono::{DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// The zone a timestamp without an offset is read in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    Offset(FixedOffset),
}

impl Zone {
    /// An IANA id (`Europe/Paris`, `UTC`), `Z`, or a fixed offset (`+01:00`, `+0100`, `+01`,
    /// optionally after `UTC` or `GMT`).
    pub fn parse(text: &str) -> Option<Zone> {
        if let Ok(tz) = Tz::from_str(text) {
            return Some(Zone::Named(tz));
        }
        if text == "Z" {
            return Some(Zone::Named(Tz::UTC));
        }
        let offset = text.strip_prefix("UTC").or_else(|| text.strip_prefix("GMT")).unwrap_or(text);
        let east = parse_offset(offset.as_bytes())?;
        FixedOffset::east_opt(east).map(Zone::Offset)
    }

    /// The machine's zone: `TZ`, else `/etc/timezone`, else where `/etc/localtime` points into
    /// the zone database; UTC when none names a zone.
    pub fn machine() -> Zone {
        Zone::Named(crate::event::timestamp::machine_zone())
    }

    /// A local time as an instant. In an autumn overlap the earlier instant wins; a local time in
    /// a spring gap does not exist and gives `None`.
    pub fn to_utc(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Named(tz) => match tz.from_local_datetime(&local) {
                LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
                LocalResult::None => None,
            },
            Zone::Offset(off) => off.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Now, as a local time in this zone (for picking a 3164 timestamp's year).
    fn local_now(&self, now: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => now.with_timezone(tz).naive_local(),
            Zone::Offset(off) => now.with_timezone(off).naive_local(),
        }
    }
}

/// `±HH`, `±HHmm` or `±HH:mm` in seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i32> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let d = &b[1..];
    let (h, m) = match d.len() {
        2 => (two(d, 0)?, 0),
        4 => (two(d, 0)?, two(d, 2)?),
        5 if d[2] == b':' => (two(d, 0)?, two(d, 3)?),
        _ => return None,
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

fn digit(b: &[u8], i: usize) -> Option<u32> {
    let c = *b.get(i)?;
    c.is_ascii_digit().then(|| u32::from(c - b'0'))
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    Some(digit(b, i)? * 10 + digit(b, i + 1)?)
}

/// The text is not shaped like the timestamp looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotATimestamp;

/// An RFC3339 / ISO8601 date-time at the start of `b`: `YYYY-MM-DD`, `T` (or `t`, or a space
/// when `space_separator`), `hh:mm:ss`, an optional fraction (`.` or `,`, up to nine digits kept),
/// and an optional `Z` or `±hh:mm` / `±hhmm` / `±hh` offset; without one the time is local to
/// `zone`. Returns the instant (`None` when the fields do not form a real time) and the length of
/// the text read; `Err` when the text is not shaped like a timestamp at all.
pub fn scan_rfc3339(b: &[u8], zone: &Zone) -> Result<(Option<DateTime<Utc>>, usize), NotATimestamp> {
    let year = digit(b, 0).zip(digit(b, 1)).zip(digit(b, 2)).zip(digit(b, 3)).map(|(((a, b), c), d)| a * 1000 + b * 100 + c * 10 + d);
    let (Some(year), Some(b'-'), Some(month), Some(b'-'), Some(day)) = (year, b.get(4), two(b, 5), b.get(7), two(b, 8)) else {
        return Err(NotATimestamp);
    };
    if !matches!(b.get(10), Some(b'T' | b't')) {
        return Err(NotATimestamp);
    }
    let (Some(hour), Some(b':'), Some(minute), Some(b':'), Some(second)) = (two(b, 11), b.get(13), two(b, 14), b.get(16), two(b, 17)) else {
        return Err(NotATimestamp);
    };
    let mut i = 19;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(b, i + 1).is_some() {
        i += 1;
        let mut scale = 100_000_000;
        while let Some(d) = digit(b, i) {
            nanos += d * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            Some(0)
        }
        Some(b'+' | b'-') => {
            // The longest offset form that fits: ±hh:mm, ±hhmm, ±hh.
            let mut found = None;
            for len in [6, 5, 3] {
                if let Some(text) = b.get(i..i + len) {
                    if let Some(secs) = parse_offset(text) {
                        found = Some((secs, len));
                        break;
                    }
                }
            }
            let (secs, len) = found.ok_or(NotATimestamp)?;
            i += len;
            Some(secs)
        }
        _ => None,
    };
    // A leap second is read as the last second of its minute, as Joda does not represent it.
    let second = second.min(59);
    let local =
        NaiveDate::from_ymd_opt(year as i32, month, day).zip(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)).map(|(d, t)| d.and_time(t));
    let instant = local.and_then(|local| match offset {
        Some(secs) => FixedOffset::east_opt(secs)?.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc)),
        None => zone.to_utc(local),
    });
    Ok((instant, i))
}

/// Month names for 3164 timestamps: English by a fast table, another language through the
/// shared Joda month-name tables.
#[derive(Debug, Clone)]
pub enum MonthNames {
    English,
    Other(JodaFormat),
}

impl MonthNames {
    /// `None` for a locale tag whose language has no month names here.
    pub fn for_locale(tag: Option<&str>) -> Option<MonthNames> {
        match tag {
            None => Some(MonthNames::English),
            Some(tag) => match Locale::from_tag(tag)? {
                Locale::En => Some(MonthNames::English),
                other => JodaFormat::compile_in("MMM", other).ok().map(MonthNames::Other),
            },
        }
    }

    /// The month (1-12) a name token stands for.
    fn month(&self, token: &[u8]) -> Option<u32> {
        match self {
            MonthNames::English => english_month(token),
            MonthNames::Other(f) => {
                let text = std::str::from_utf8(token).ok()?;
                // Read in UTC, a lone month name lands on the 1st of that month at midnight.
                let now = Utc::now();
                f.parse(text, Tz::UTC, now).ok().map(|t| t.month()).or_else(|| english_month(token))
            }
        }
    }
}

fn english_month(t: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] = [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    if t.len() != 3 {
        return None;
    }
    let lower = [t[0].to_ascii_lowercase(), t[1].to_ascii_lowercase(), t[2].to_ascii_lowercase()];
    NAMES.iter().position(|n| **n == lower).map(|i| i as u32 + 1)
}

/// A 3164 timestamp at the start of `b`: a month name, spaces, a one- or two-digit day, a space,
/// `hh:mm:ss` and an optional fraction. Returns the instant (`None` when the numbers do not form a
/// real local time, such as `Feb 30`) and the length read; `Err` when it is not one.
pub fn scan_rfc3164(b: &[u8], names: &MonthNames, zone: &Zone, now: DateTime<Utc>) -> Result<(Option<DateTime<Utc>>, usize), NotATimestamp> {
    let name_len = b.iter().position(|c| *c == b' ').ok_or(NotATimestamp)?;
    if name_len == 0 || name_len > 12 {
        return Err(NotATimestamp);
    }
    let month = names.month(&b[..name_len]).ok_or(NotATimestamp)?;
    let mut i = name_len;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let mut day = digit(b, i).ok_or(NotATimestamp)?;
    i += 1;
    if let Some(d) = digit(b, i) {
        day = day * 10 + d;
        i += 1;
    }
    if b.get(i) != Some(&b' ') {
        return Err(NotATimestamp);
    }
    i += 1;
    let (Some(hour), Some(b':'), Some(minute), Some(b':'), Some(second)) = (two(b, i), b.get(i + 2), two(b, i + 3), b.get(i + 5), two(b, i + 6))
    else {
        return Err(NotATimestamp);
    };
    i += 8;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && digit(b, i + 1).is_some() {
        i += 1;
        let mut scale = 100_000_000;
        while let Some(d) = digit(b, i) {
            nanos += d * scale;
            scale /= 10;
            i += 1;
        }
    }
    let Some(time) = NaiveTime::from_hms_nano_opt(hour, minute, second.min(59), nanos) else {
        return Ok((None, i));
    };
    Ok((nearest_year(month, day, time, zone, now), i))
}

/// Of last year, this year and next year (in the zone's local calendar), the date that puts the
/// instant nearest to now. A 29 February exists only in leap years and is looked for there.
fn nearest_year(month: u32, day: u32, time: NaiveTime, zone: &Zone, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let year = zone.local_now(now).year();
    let mut best: Option<(i64, DateTime<Utc>)> = None;
    for y in [year - 1, year, year + 1] {
        let Some(instant) = NaiveDate::from_ymd_opt(y, month, day).and_then(|d| zone.to_utc(d.and_time(time))) else { continue };
        let distance = (instant - now).num_seconds().abs();
        if best.map_or(true, |(b, _)| distance < b) {
            best = Some((distance, instant));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    #[test]
    fn rfc3339_forms() {
        let z = Zone::Named(Tz::UTC);
        let (t, n) = scan_rfc3339(b"2003-10-11T22:14:15.003Z rest", &z).unwrap();
        assert_eq!(t.unwrap(), utc(2003, 10, 11, 22, 14, 15) + chrono::Duration::milliseconds(3));
        assert_eq!(n, 24);
        // RFC 5424's example with an offset and microseconds.
        let (t, n) = scan_rfc3339(b"2003-08-24T05:14:15.000003-07:00", &z).unwrap();
        assert_eq!(t.unwrap(), utc(2003, 8, 24, 12, 14, 15) + chrono::Duration::microseconds(3));
        assert_eq!(n, 32);
        let (t, _) = scan_rfc3339(b"2024-02-29T13:05:09+0100", &z).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 2, 29, 12, 5, 9));
        // No offset: local to the zone given.
        let paris = Zone::parse("Europe/Paris").unwrap();
        let (t, _) = scan_rfc3339(b"2024-07-01T12:00:00", &paris).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 7, 1, 10, 0, 0));
        // Shaped like a timestamp but not a real date: recognised, no instant.
        assert_eq!(scan_rfc3339(b"2023-02-29T00:00:00Z", &z).unwrap().0, None);
        for bad in [&b"2003-10-11 22:14:15Z"[..], b"20031011T221415Z", b"-", b"2003-10-11T22:14", b""] {
            assert!(scan_rfc3339(bad, &z).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rfc3164_year_is_the_nearest_to_now() {
        let z = Zone::Named(Tz::UTC);
        let en = MonthNames::English;
        // Read on New Year's Day: a December timestamp is last year's, a January one this year's.
        let now = utc(2025, 1, 1, 0, 0, 30);
        let (t, n) = scan_rfc3164(b"Dec 31 23:59:58 host", &en, &z, now).unwrap();
        assert_eq!((t.unwrap(), n), (utc(2024, 12, 31, 23, 59, 58), 15));
        let (t, _) = scan_rfc3164(b"Jan  1 00:00:10 host", &en, &z, now).unwrap();
        assert_eq!(t.unwrap(), utc(2025, 1, 1, 0, 0, 10));
        // Read on New Year's Eve: a clock slightly ahead sends January of next year.
        let now = utc(2024, 12, 31, 23, 59, 59);
        let (t, _) = scan_rfc3164(b"Jan  1 00:00:01 x", &en, &z, now).unwrap();
        assert_eq!(t.unwrap(), utc(2025, 1, 1, 0, 0, 1));
        // 29 February: only leap years have it.
        let now = utc(2025, 3, 10, 0, 0, 0);
        let (t, _) = scan_rfc3164(b"Feb 29 12:00:00 x", &en, &z, now).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 2, 29, 12, 0, 0));
        // A day no month has: recognised as a timestamp, but no instant.
        assert_eq!(scan_rfc3164(b"Feb 30 12:00:00 x", &en, &z, now).unwrap().0, None);
    }

    #[test]
    fn rfc3164_zone_fraction_and_locale() {
        let now = utc(2024, 6, 15, 12, 0, 0);
        let ny = Zone::parse("America/New_York").unwrap();
        let (t, n) = scan_rfc3164(b"Jun 15 08:00:00.250 h", &MonthNames::English, &ny, now).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 6, 15, 12, 0, 0) + chrono::Duration::milliseconds(250));
        assert_eq!(n, 19);
        let plus2 = Zone::parse("+02:00").unwrap();
        let (t, _) = scan_rfc3164(b"jun 15 14:00:00 h", &MonthNames::English, &plus2, now).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 6, 15, 12, 0, 0));
        let fr = MonthNames::for_locale(Some("fr_FR.UTF-8")).unwrap();
        let (t, _) = scan_rfc3164(b"juin 15 12:00:00 h", &fr, &Zone::Named(Tz::UTC), now).unwrap();
        assert_eq!(t.unwrap(), utc(2024, 6, 15, 12, 0, 0));
        assert!(MonthNames::for_locale(Some("xx")).is_none());
        for bad in [&b"Jun 15 8:00:00 h"[..], b"Foo 15 08:00:00 h", b"Jun 123 08:00:00", b"Jun15 08:00:00"] {
            assert!(scan_rfc3164(bad, &MonthNames::English, &ny, now).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn zones() {
        assert_eq!(Zone::parse("UTC"), Some(Zone::Named(Tz::UTC)));
        assert_eq!(Zone::parse("+01:00"), Some(Zone::Offset(FixedOffset::east_opt(3600).unwrap())));
        assert_eq!(Zone::parse("GMT-0530"), Some(Zone::Offset(FixedOffset::west_opt(5 * 3600 + 1800).unwrap())));
        assert_eq!(Zone::parse("Mars/Olympus"), None);
    }
}

//! Index name patterns of the cleanup job: `logs-*-%{+YYYY.MM.dd}`.
//!
//! A pattern is the index option of an output, read as a glob: `*` stands for any text, a field
//! reference such as `%{[fields][service]}` too (so the output's own `index` can be given as it
//! is), and at most one date part `%{+FORMAT}` (a Joda-Time pattern, as the output formats it in
//! UTC) stands for the date the index holds. Matching an index name gives that date back, read by
//! the same Joda format: a name whose date part does not read as a date does not match, so a
//! pattern never reaches `logs-apache-notadate`.
//!
//! An index covers a period (a day for `YYYY.MM.dd`, a month for `YYYY.MM`): the period ends at
//! the next instant the format would print differently, found by stepping forward by a minute,
//! hour, day, week, month and year. The cleanup ages an index by that end, the newest data it can
//! hold, so a monthly index is never deleted while its month still runs.

use crate::event::joda::{JodaError, JodaFormat};
use chrono::{DateTime, Months, Utc};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatternError {
    #[error("index pattern `{0}` is empty")]
    Empty(String),
    #[error("index pattern `{pattern}` has more than one date part (`%{{+...}}`); give one")]
    TwoDates { pattern: String },
    #[error("index pattern `{pattern}`: `%{{` without a closing `}}`")]
    Unclosed { pattern: String },
    #[error("index pattern `{pattern}`: bad date format `{format}`: {message}")]
    Date { pattern: String, format: String, message: String },
    #[error("index pattern `{pattern}`: `%{{+%s}}` (epoch seconds) cannot name a daily index; use a date format such as %{{+YYYY.MM.dd}}")]
    Epoch { pattern: String },
    #[error("index pattern `{0}` cannot be turned into a matcher")]
    Regex(String),
}

/// One `--index` pattern, compiled.
#[derive(Debug, Clone)]
pub struct IndexPattern {
    source: String,
    regex: regex::Regex,
    date: Option<JodaFormat>,
}

/// The period an index name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    /// The first instant after the period; the newest data the index can hold is older.
    pub end: DateTime<Utc>,
}

/// What a matching name says about its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameDate {
    /// The pattern has a date part, and this is the period it reads.
    Dated { text: String, period: Period },
    /// The pattern has no date part: the age comes from the index's creation date.
    Undated,
}

impl IndexPattern {
    pub fn parse(pattern: &str) -> Result<IndexPattern, PatternError> {
        if pattern.trim().is_empty() {
            return Err(PatternError::Empty(pattern.to_string()));
        }
        let mut re = String::from("^");
        let mut date = None;
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("%{") {
                let close = after.find('}').ok_or_else(|| PatternError::Unclosed { pattern: pattern.to_string() })?;
                let inner = &after[..close];
                rest = &after[close + 1..];
                match inner.strip_prefix('+') {
                    Some("%s") => return Err(PatternError::Epoch { pattern: pattern.to_string() }),
                    Some(format) => {
                        if date.is_some() {
                            return Err(PatternError::TwoDates { pattern: pattern.to_string() });
                        }
                        let f = JodaFormat::compile(format).map_err(|e: JodaError| PatternError::Date {
                            pattern: pattern.to_string(),
                            format: format.to_string(),
                            message: e.to_string(),
                        })?;
                        re.push_str("(?P<date>");
                        re.push_str(&date_shape(&f));
                        re.push(')');
                        date = Some(f);
                    }
                    // A field reference: whatever the events held, at least one character.
                    None => re.push_str(".+"),
                }
                continue;
            }
            let mut chars = rest.chars();
            let c = chars.next().unwrap_or_default();
            rest = chars.as_str();
            match c {
                '*' => re.push_str(".*"),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push('$');
        let regex = regex::Regex::new(&re).map_err(|_| PatternError::Regex(pattern.to_string()))?;
        Ok(IndexPattern { source: pattern.to_string(), regex, date })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn has_date(&self) -> bool {
        self.date.is_some()
    }

    /// Whether the pattern names indices starting with a dot (hidden and system indices are
    /// only ever matched by a pattern that asks for them so).
    pub fn names_dot_indices(&self) -> bool {
        self.source.starts_with('.')
    }

    /// `None` when the name does not match, or its date part does not read as a date.
    pub fn matches(&self, name: &str, now: DateTime<Utc>) -> Option<NameDate> {
        let caps = self.regex.captures(name)?;
        let Some(format) = &self.date else { return Some(NameDate::Undated) };
        let text = caps.name("date")?.as_str();
        let start = format.parse(text, chrono_tz::UTC, now).ok()?;
        Some(NameDate::Dated { text: text.to_string(), period: Period { start, end: period_end(format, start) } })
    }
}

/// A regex for the text a date format prints: runs of digits and of letters may be of any
/// length (`d` prints 1 or 2 digits, `MMM` a month name), everything else as written. The date
/// read from it is then checked by parsing, so the shape only needs to be loose, not exact.
fn date_shape(f: &JodaFormat) -> String {
    let mut sample = String::new();
    // Two-digit day, month, hour, minute and second, so that no field prints as one digit.
    let at = DateTime::parse_from_rfc3339("2000-11-22T13:44:55.666Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    f.format_utc(at, &mut sample);
    let mut re = String::new();
    let mut last: Option<&str> = None;
    for c in sample.chars() {
        let class = if c.is_ascii_digit() {
            Some("[0-9]+")
        } else if c.is_alphabetic() {
            Some("\\p{L}+")
        } else {
            None
        };
        match class {
            Some(cl) if last == Some(cl) => {}
            Some(cl) => re.push_str(cl),
            None => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        last = class;
    }
    re
}

/// The first instant after `start` that the format prints differently.
fn period_end(format: &JodaFormat, start: DateTime<Utc>) -> DateTime<Utc> {
    let text = |t: DateTime<Utc>| {
        let mut s = String::new();
        format.format_utc(t, &mut s);
        s
    };
    let shown = text(start);
    let steps = [
        start.checked_add_signed(chrono::Duration::minutes(1)),
        start.checked_add_signed(chrono::Duration::hours(1)),
        start.checked_add_signed(chrono::Duration::days(1)),
        start.checked_add_signed(chrono::Duration::days(7)),
        start.checked_add_months(Months::new(1)),
        start.checked_add_months(Months::new(12)),
    ];
    steps.into_iter().flatten().find(|t| text(*t) != shown).unwrap_or(start)
}

/// `7d`, `36h`, `90m`: the largest unit that divides the duration.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `12.3mb`: sizes as `--max-size` takes them (powers of 1024).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["b", "kb", "mb", "gb", "tb"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}b")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc(2024, 5, 10, 1, 30)
    }

    fn dated(p: &str, name: &str) -> Option<(String, DateTime<Utc>, DateTime<Utc>)> {
        match IndexPattern::parse(p).unwrap().matches(name, now())? {
            NameDate::Dated { text, period } => Some((text, period.start, period.end)),
            NameDate::Undated => panic!("{p} has a date part"),
        }
    }

    #[test]
    fn the_date_is_read_from_the_name_by_the_joda_format() {
        let p = "logs-*-%{+YYYY.MM.dd}";
        assert_eq!(dated(p, "logs-apache-2024.05.01"), Some(("2024.05.01".into(), utc(2024, 5, 1, 0, 0), utc(2024, 5, 2, 0, 0))));
        // The glob may hold dashes itself.
        assert_eq!(dated(p, "logs-my-app-2023.12.31").map(|d| d.2), Some(utc(2024, 1, 1, 0, 0)));
        // February 29th exists in 2024 only.
        assert_eq!(dated(p, "logs-a-2024.02.29").map(|d| d.1), Some(utc(2024, 2, 29, 0, 0)));
        assert_eq!(dated(p, "logs-a-2023.02.29"), None);
        assert_eq!(dated(p, "logs-apache-notadate"), None);
        assert_eq!(dated(p, "logs-apache-2024.13.01"), None);
        assert_eq!(dated(p, "logs-2024.05.01"), None, "the `-*-` part needs its two dashes");
        assert_eq!(dated(p, "other-2020.01.01"), None);
        assert_eq!(dated(p, "xlogs-a-2024.05.01"), None, "anchored at the start");
        assert_eq!(dated(p, "logs-a-2024.05.01-restored"), None, "anchored at the end");
    }

    #[test]
    fn a_field_reference_matches_like_a_star_and_other_formats_read_too() {
        let p = "logs-%{[fields][service]}-%{+YYYY.MM.dd}";
        assert_eq!(dated(p, "logs-nginx-2024.05.03").map(|d| d.1), Some(utc(2024, 5, 3, 0, 0)));
        assert_eq!(dated(p, "logs--2024.05.03"), None, "a reference stands for at least one character");
        assert_eq!(dated("errors-%{+YYYY.MM.dd}", "errors-2024.05.03").map(|d| d.1), Some(utc(2024, 5, 3, 0, 0)));
        assert_eq!(dated("app-%{+yyyyMMdd}", "app-20240503").map(|d| d.1), Some(utc(2024, 5, 3, 0, 0)));
        // A month: from the 1st to the 1st of the next month.
        assert_eq!(dated("m-%{+YYYY.MM}", "m-2024.02").map(|d| (d.1, d.2)), Some((utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0))));
        // An hour.
        assert_eq!(dated("h-%{+YYYY.MM.dd.HH}", "h-2024.05.03.07").map(|d| (d.1, d.2)), Some((utc(2024, 5, 3, 7, 0), utc(2024, 5, 3, 8, 0))));
        // Month names.
        assert_eq!(dated("n-%{+dd-MMM-yyyy}", "n-03-May-2024").map(|d| d.1), Some(utc(2024, 5, 3, 0, 0)));
        // Data stream backing indices: text after the date.
        assert_eq!(dated(".ds-logs-*-%{+yyyy.MM.dd}-*", ".ds-logs-x-2024.05.03-000001").map(|d| d.1), Some(utc(2024, 5, 3, 0, 0)));
    }

    #[test]
    fn patterns_without_a_date_match_as_globs() {
        let p = IndexPattern::parse("audit-*").unwrap();
        assert!(!p.has_date());
        assert_eq!(p.matches("audit-2", now()), Some(NameDate::Undated));
        assert_eq!(p.matches("audit", now()), None);
        assert_eq!(p.matches("audit-a.b+c", now()), Some(NameDate::Undated), "regex characters in names are literal");
        let dots = IndexPattern::parse("a.b").unwrap();
        assert_eq!(dots.matches("axb", now()), None);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(matches!(IndexPattern::parse(""), Err(PatternError::Empty(_))));
        assert!(matches!(IndexPattern::parse("a-%{+YYYY}-%{+MM}"), Err(PatternError::TwoDates { .. })));
        assert!(matches!(IndexPattern::parse("a-%{+YYYY"), Err(PatternError::Unclosed { .. })));
        assert!(matches!(IndexPattern::parse("a-%{+%s}"), Err(PatternError::Epoch { .. })));
    }

    #[test]
    fn durations_and_sizes_print_in_their_largest_unit() {
        assert_eq!(human_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(human_duration(Duration::from_secs(36 * 3_600)), "36h");
        assert_eq!(human_duration(Duration::from_secs(90)), "90s");
        assert_eq!(human_bytes(512), "512b");
        assert_eq!(human_bytes(200 * 1024 * 1024 * 1024), "200.0gb");
        assert_eq!(human_bytes(1536 * 1024), "1.5mb");
    }
}

//! The `date` filter: read a date out of a field and make it the event's `@timestamp` (or write
//! it, as ISO8601 text, to another field).
//!
//! `match` names the field, then the formats to try in order: Joda-Time patterns, or Logstash's
//! `ISO8601`, `UNIX`, `UNIX_MS` and `TAI64N`. Every format is compiled once, when the config is;
//! the per-event path only walks compiled formats. A text without its own zone is read in
//! `timezone` (an IANA id, a fixed offset such as `+01:00`, or a `%{field}` template rendered per
//! event), else in the machine's zone, as Logstash reads it in the JVM's default zone. The
//! result keeps millisecond precision, as Logstash's timestamps do. An absent field leaves the
//! event alone; a value no format reads tags it with `tag_on_failure` (`_dateparsefailure`).
//! Parsing itself lives in `event::joda`; this module only chooses what to parse and where the
//! result goes.

use super::{Filter, Outcome};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::{did_you_mean, ConfigError};
use crate::event::joda::{DateFormat, JodaParseError};
use crate::event::{timestamp, Event, FieldRef, Template, Value};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;
use std::str::FromStr;

/// The failure reason counted by the core, and the default failure tag.
pub const DATE_PARSE_FAILURE: &str = "_dateparsefailure";

pub struct Date {
    source: FieldRef,
    /// Tried in the order `match` lists them; the first that reads the value wins.
    formats: Vec<DateFormat>,
    zone: ZoneSetting,
    /// `None` writes `@timestamp` itself; a field gets the ISO8601 text.
    target: Option<FieldRef>,
    tag_on_failure: Vec<String>,
}

/// A zone a text without its own offset is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Named(Tz),
    /// East of UTC, in seconds. Only offsets that no `Etc/GMT±h` zone spells (`+05:30`) stay
    /// here: the date formats take named zones, so these are applied by hand.
    Offset(i32),
}

enum ZoneSetting {
    Static(Zone),
    /// `timezone => "%{tz}"`: rendered and resolved for each event.
    PerEvent(Template),
}

/// Why a value could not be turned into a timestamp.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum DateError {
    #[error(transparent)]
    Parse(#[from] JodaParseError),
    #[error("`{0}` is not a time zone")]
    UnknownZone(String),
    #[error("a {0} holds no date")]
    NotADate(&'static str),
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    let matches = args.string_list("match")?;
    let match_span = args.span_of("match");
    let Some((field, specs)) = matches.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        return Err(match args.has("match") {
            true => ConfigError::at(match_span, "`match` needs a field name and at least one date format, like match => [\"timestamp\", \"ISO8601\"]"),
            false => args.error("filter `date` requires the option `match`, like match => [\"timestamp\", \"ISO8601\"]"),
        });
    };
    let source = FieldRef::parse(field).map_err(|e| ConfigError::at(match_span, e.to_string()))?;

    let locale = args.string("locale")?;
    let locale_span = args.span_of("locale");
    let mut formats = Vec::with_capacity(specs.len());
    for spec in specs {
        let compiled = match &locale {
            Some(tag) => DateFormat::compile_with_locale(spec, tag),
            None => DateFormat::compile(spec),
        };
        formats.push(compiled.map_err(|e| {
            let span = match e {
                crate::event::joda::JodaError::UnknownLocale(_) => locale_span,
                _ => match_span,
            };
            ConfigError::at(span, format!("bad date format `{spec}`: {e}"))
        })?);
    }

    let zone = match args.string("timezone")? {
        None => ZoneSetting::Static(Zone::Named(crate::event::timestamp::machine_zone())),
        Some(text) if text.contains("%{") => {
            let template = Template::parse(&text).map_err(|e| ConfigError::at(args.span_of("timezone"), e.to_string()))?;
            ZoneSetting::PerEvent(template)
        }
        Some(text) => ZoneSetting::Static(parse_zone(&text).ok_or_else(|| {
            let err = ConfigError::at(
                args.span_of("timezone"),
                format!("`{text}` is not a time zone; use an IANA id such as Europe/Paris, or an offset such as +01:00"),
            );
            match suggest_zone(&text) {
                Some(m) => err.with_help(format!("did you mean `{m}`?")),
                None => err,
            }
        })?),
    };

    let target = match args.field_ref("target")? {
        None | Some(FieldRef::Timestamp) => None,
        Some(r) => Some(r),
    };
    let mut tag_on_failure = args.string_list("tag_on_failure")?;
    if !args.has("tag_on_failure") {
        tag_on_failure.push(DATE_PARSE_FAILURE.to_string());
    }
    Ok(Box::new(Date { source, formats, zone, target, tag_on_failure }))
}

impl Filter for Date {
    fn filter(&self, event: &mut Event) -> Outcome {
        let parsed = {
            let Some(value) = event.get(&self.source) else { return Outcome::NotMatched };
            // Logstash reads the first element of a list.
            let value = match value.as_ref() {
                Value::Array(items) => match items.first() {
                    Some(first) => Cow::Owned(first.clone()),
                    None => return Outcome::NotMatched,
                },
                _ => value,
            };
            if value.is_null() {
                return Outcome::NotMatched;
            }
            self.zone(event).and_then(|zone| self.parse(&value, zone))
        };
        match parsed {
            Ok(t) => {
                let t = truncate_to_millis(t);
                match &self.target {
                    None => event.set_timestamp(t),
                    Some(target) => {
                        if event.set(target, Value::String(timestamp::to_iso8601(t))).is_err() {
                            return self.fail(event);
                        }
                    }
                }
                Outcome::Matched
            }
            Err(e) => {
                tracing::debug!(field = %self.source, error = %e, "The date filter could not read the field.");
                self.fail(event)
            }
        }
    }
}

impl Date {
    fn fail(&self, event: &mut Event) -> Outcome {
        for t in &self.tag_on_failure {
            event.add_tag(t);
        }
        Outcome::Failed(DATE_PARSE_FAILURE)
    }

    fn zone(&self, event: &Event) -> Result<Zone, DateError> {
        match &self.zone {
            ZoneSetting::Static(z) => Ok(*z),
            ZoneSetting::PerEvent(t) => {
                let text = t.render(event);
                parse_zone(&text).ok_or_else(|| DateError::UnknownZone(text.into_owned()))
            }
        }
    }

    /// The first format that reads the value wins; the error reported is the last one's.
    fn parse(&self, value: &Value, zone: Zone) -> Result<DateTime<Utc>, DateError> {
        let now = Utc::now();
        let mut last = DateError::NotADate(crate::event::type_name(value));
        for f in &self.formats {
            let attempt = match value {
                Value::String(text) => parse_text(f, text, zone, now),
                Value::Number(n) => match (f, n.as_i64(), n.as_f64()) {
                    (DateFormat::Unix | DateFormat::UnixMs, Some(i), _) => f.parse_i64(i).map_err(DateError::from),
                    (DateFormat::Unix | DateFormat::UnixMs, None, Some(x)) => f.parse_f64(x).map_err(DateError::from),
                    // A pattern such as `yyyy` may still read a number's digits.
                    _ => parse_text(f, &n.to_string(), zone, now),
                },
                other => Err(DateError::NotADate(crate::event::type_name(other))),
            };
            match attempt {
                Ok(t) => return Ok(t),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn parse_text(f: &DateFormat, text: &str, zone: Zone, now: DateTime<Utc>) -> Result<DateTime<Utc>, DateError> {
    match zone {
        Zone::Named(tz) => Ok(f.parse(text, tz, now)?),
        Zone::Offset(east) => {
            // Read the text in two zones an hour apart: if both agree the text carried its own
            // zone (or needs none); otherwise it is local time, and the offset applies.
            let in_utc = f.parse(text, Tz::UTC, now)?;
            let probe = f.parse(text, Tz::Etc__GMTMinus1, now)?;
            if in_utc == probe {
                Ok(in_utc)
            } else {
                Ok(in_utc - TimeDelta::seconds(i64::from(east)))
            }
        }
    }
}

/// Logstash 7 timestamps hold milliseconds; anything finer is dropped, not rounded.
fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    let extra = t.nanosecond() % 1_000_000;
    t - TimeDelta::nanoseconds(i64::from(extra))
}

/// An IANA id (`Europe/Paris`, `UTC`), `Z`, or a fixed offset: `+01:00`, `+0100`, `+01`,
/// optionally after `UTC` or `GMT` (`UTC+01:00`), as Joda-Time accepts them.
fn parse_zone(text: &str) -> Option<Zone> {
    if let Ok(tz) = Tz::from_str(text) {
        return Some(Zone::Named(tz));
    }
    if text == "Z" {
        return Some(Zone::Named(Tz::UTC));
    }
    let offset = text.strip_prefix("UTC").or_else(|| text.strip_prefix("GMT")).unwrap_or(text);
    let east = parse_offset(offset)?;
    if east % 3600 == 0 {
        let hours = east / 3600;
        // The `Etc/GMT` zones count the other way round: Etc/GMT-1 is one hour east.
        let id = match hours {
            0 => "UTC".to_string(),
            h if h > 0 => format!("Etc/GMT-{h}"),
            h => format!("Etc/GMT+{}", -h),
        };
        if let Ok(tz) = Tz::from_str(&id) {
            return Some(Zone::Named(tz));
        }
    }
    Some(Zone::Offset(east))
}

/// `±HH`, `±HHmm`, `±HH:mm` (hours up to 18, as Java allows) in seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 if !rest.contains(':') => (digits.parse::<i32>().ok()?, 0),
        4 if rest.len() == 4 || rest.as_bytes().get(2) == Some(&b':') => {
            (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?)
        }
        _ => return None,
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// A zone id differing only in case, or close enough to be a typo.
fn suggest_zone(text: &str) -> Option<&'static str> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    names().find(|n| n.eq_ignore_ascii_case(text)).or_else(|| did_you_mean(text, names()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_and_offsets() {
        assert_eq!(parse_zone("Europe/Paris"), Some(Zone::Named(chrono_tz::Europe::Paris)));
        assert_eq!(parse_zone("UTC"), Some(Zone::Named(Tz::UTC)));
        assert_eq!(parse_zone("Z"), Some(Zone::Named(Tz::UTC)));
        assert_eq!(parse_zone("+01:00"), Some(Zone::Named(Tz::Etc__GMTMinus1)));
        assert_eq!(parse_zone("-0500"), Some(Zone::Named(Tz::Etc__GMTPlus5)));
        assert_eq!(parse_zone("+00:00"), Some(Zone::Named(Tz::UTC)));
        assert_eq!(parse_zone("UTC+02"), Some(Zone::Named(Tz::Etc__GMTMinus2)));
        assert_eq!(parse_zone("+05:30"), Some(Zone::Offset(5 * 3600 + 1800)));
        assert_eq!(parse_zone("-03:30"), Some(Zone::Offset(-(3 * 3600 + 1800))));
        for bad in ["", "Mars/Olympus", "+25:00", "+1:3", "+01:00:00", "01:00", "europe/paris"] {
            assert_eq!(parse_zone(bad), None, "{bad}");
        }
        assert_eq!(suggest_zone("europe/paris"), Some("Europe/Paris"));
    }

    #[test]
    fn fixed_half_hour_offsets_apply_only_to_zoneless_text() {
        let f = DateFormat::compile("yyyy-MM-dd HH:mm:ss").unwrap();
        let now = Utc::now();
        let india = Zone::Offset(5 * 3600 + 1800);
        // 12:00 at +05:30 is 06:30 UTC.
        let t = parse_text(&f, "2024-03-01 12:00:00", india, now).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T06:30:00+00:00");
        // Text with its own offset ignores the setting.
        let iso = DateFormat::compile("ISO8601").unwrap();
        let t = parse_text(&iso, "2024-03-01T12:00:00+01:00", india, now).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-01T11:00:00+00:00");
    }

    #[test]
    fn milliseconds_are_kept_finer_digits_dropped() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_987_654).unwrap();
        assert_eq!(truncate_to_millis(t).timestamp_subsec_nanos(), 123_000_000);
        let before_epoch = DateTime::from_timestamp(-2, 999_999_999).unwrap();
        assert_eq!(truncate_to_millis(before_epoch).timestamp_millis(), -1001);
    }
}

//! An event as Loki sees it: the label set of its stream, a timestamp, a line, and structured
//! metadata.
//!
//! Label and metadata templates are compiled with the config; rendering one event allocates its
//! line and, per label set, one canonical stream key (`{a="x", b="y"}`, names sorted, values
//! escaped as Prometheus label values), which is both what Loki parses and what entries are
//! grouped by. A label whose template refers to a field the event lacks is left out of the set
//! (rather than sending the `%{...}` text, which would be a stream nobody asked for), and an empty
//! value is left out too, as Loki does.

use crate::event::{Event, FieldRef, Template, Value};
use std::fmt::Write;

/// How an event becomes a log line (`format`).
#[derive(Debug, Clone)]
pub enum LineFormat {
    /// The `message_field` as it is (a string), its JSON text (anything else), or the whole event
    /// as JSON when the event has no such field.
    Message(FieldRef),
    /// The whole event as JSON, as the other outputs send it (without `@metadata`).
    Json,
    /// The event's fields as `key=value` pairs, nested keys joined with dots. `@timestamp` is
    /// the entry's own timestamp and is not repeated in the line.
    Logfmt,
}

/// One label or structured metadata pair: a fixed name and a template for the value.
#[derive(Debug, Clone)]
pub struct Pair {
    pub name: String,
    pub value: Template,
}

/// One entry, owned, ready to be grouped into streams and encoded.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The canonical label set, `{a="x", b="y"}`.
    pub stream: String,
    /// Nanoseconds since the epoch.
    pub timestamp_ns: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    /// What Loki's rate limits count for the entry: the line and its structured metadata.
    pub fn size(&self) -> usize {
        self.line.len() + self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }
}

/// Compiled label and line settings.
#[derive(Debug, Clone)]
pub struct Formatter {
    /// Sorted by name, so that every stream key is written in one canonical order.
    pub labels: Vec<Pair>,
    pub metadata: Vec<Pair>,
    pub format: LineFormat,
}

/// The value a folded label gets once `max_streams` is reached.
pub const OVERFLOW_VALUE: &str = "sluice_overflow";

impl Formatter {
    pub fn new(mut labels: Vec<Pair>, metadata: Vec<Pair>, format: LineFormat) -> Formatter {
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Formatter { labels, metadata, format }
    }

    /// The stream key of an event; `fold` replaces the values of templated labels with
    /// `OVERFLOW_VALUE` (fixed labels keep theirs).
    pub fn stream_key(&self, event: &Event, fold: bool) -> String {
        let mut key = String::with_capacity(64);
        key.push('{');
        let mut first = true;
        for pair in &self.labels {
            let value = match (fold, pair.value.as_static()) {
                (_, Some(s)) => std::borrow::Cow::Borrowed(s),
                (true, None) => std::borrow::Cow::Borrowed(OVERFLOW_VALUE),
                (false, None) => pair.value.render(event),
            };
            if value.is_empty() || unresolved(&value) {
                continue;
            }
            if !first {
                key.push_str(", ");
            }
            first = false;
            key.push_str(&pair.name);
            key.push_str("=\"");
            escape_label_value(&value, &mut key);
            key.push('"');
        }
        if first {
            // Loki needs at least one label; an event whose every label is missing still goes out.
            key.push_str("job=\"sluice\"");
        }
        key.push('}');
        key
    }

    pub fn line(&self, event: &Event) -> String {
        match &self.format {
            LineFormat::Message(field) => match event.get_value(field) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => json_line(event),
                Some(other) => other.to_string(),
            },
            LineFormat::Json => json_line(event),
            LineFormat::Logfmt => {
                let mut out = String::with_capacity(128);
                for (k, v) in event.fields() {
                    logfmt_value(k, v, &mut out);
                }
                out
            }
        }
    }

    pub fn metadata(&self, event: &Event) -> Vec<(String, String)> {
        self.metadata
            .iter()
            .filter_map(|p| {
                let v = p.value.render(event);
                (!v.is_empty() && !unresolved(&v)).then(|| (p.name.clone(), v.into_owned()))
            })
            .collect()
    }
}

/// A rendered template still holding a `%{...}` reference: the field was missing.
fn unresolved(s: &str) -> bool {
    s.contains("%{")
}

fn json_line(event: &Event) -> String {
    let mut buf = Vec::with_capacity(256);
    event.write_json(&mut buf);
    // write_json writes valid UTF-8 (serde_json output and ASCII framing).
    String::from_utf8(buf).unwrap_or_default()
}

/// A Prometheus label value inside double quotes: backslash, quote and newline escaped.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Append ` key=value` pairs for one field, flattening hashes with dotted keys.
fn logfmt_value(key: &str, v: &Value, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, inner) in m {
                logfmt_value(&format!("{key}.{k}"), inner, out);
            }
        }
        _ => {
            if !out.is_empty() {
                out.push(' ');
            }
            logfmt_text(key, out);
            out.push('=');
            match v {
                Value::String(s) => logfmt_text(s, out),
                Value::Null => {}
                other => logfmt_text(&other.to_string(), out),
            }
        }
    }
}

/// Bare when it can be, quoted (with `\"`, `\\`, `\n`... escaped) when it holds a space, `=`,
/// a quote or a control character, or is empty.
fn logfmt_text(s: &str, out: &mut String) {
    let bare = !s.is_empty() && s.chars().all(|c| c > ' ' && c != '=' && c != '"' && c != '\\' && c != '\u{7f}');
    if bare {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Label names Loki (Prometheus) accepts; names starting with `__` are reserved.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Why a label template probably makes a new stream for (nearly) every event, if it does: it
/// refers to the message, a timestamp, or an id.
pub fn high_cardinality_hint(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap_or(after.len());
        let inner = after[..end].trim();
        rest = &after[end..];
        if inner.starts_with('+') || inner.starts_with('{') {
            return Some("a date format".into());
        }
        let last = inner.rsplit('[').next().unwrap_or(inner).trim_end_matches(']').to_ascii_lowercase();
        let risky = last == "message"
            || last.contains("timestamp")
            || last == "id"
            || last.ends_with("_id")
            || last.ends_with("uuid")
            || last.ends_with(".id");
        if risky {
            return Some(format!("the field `{inner}`"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        let serde_json::Value::Object(m) = v else { panic!() };
        Event::from_map(m, chrono::Utc::now())
    }

    fn pair(name: &str, t: &str) -> Pair {
        Pair { name: name.into(), value: Template::parse(t).unwrap() }
    }

    #[test]
    fn stream_keys_are_sorted_escaped_and_skip_missing_fields() {
        let f = Formatter::new(
            vec![pair("service", "%{[fields][service]}"), pair("host", "%{[host][name]}"), pair("app", "web")],
            vec![],
            LineFormat::Json,
        );
        let e = event(json!({"fields": {"service": "a\"b\\c\nd"}}));
        assert_eq!(f.stream_key(&e, false), r#"{app="web", service="a\"b\\c\nd"}"#);
        assert_eq!(f.stream_key(&e, true), r#"{app="web", host="sluice_overflow", service="sluice_overflow"}"#);
        let none = Formatter::new(vec![pair("host", "%{h}")], vec![], LineFormat::Json);
        assert_eq!(none.stream_key(&event(json!({})), false), r#"{job="sluice"}"#);
    }

    #[test]
    fn logfmt_flattens_and_quotes() {
        let f = Formatter::new(vec![], vec![], LineFormat::Logfmt);
        let e = event(json!({"msg": "hello world", "n": 3, "ok": true, "user": {"name": "bob", "q": "a=b"}, "empty": "", "t": ["x"]}));
        // Fields in the event's own order (sorted by name here), `@version` added by the event.
        assert_eq!(f.line(&e), r#"@version=1 empty="" msg="hello world" n=3 ok=true t="[\"x\"]" user.name=bob user.q="a=b""#);
    }

    #[test]
    fn message_format_falls_back_to_json_without_the_field() {
        let f = Formatter::new(vec![], vec![], LineFormat::Message(FieldRef::parse("message").unwrap()));
        assert_eq!(f.line(&event(json!({"message": "raw text"}))), "raw text");
        assert!(f.line(&event(json!({"other": 1}))).contains("\"other\":1"));
    }

    #[test]
    fn label_names_and_cardinality_hints() {
        assert!(valid_label_name("service") && valid_label_name("_x1"));
        assert!(!valid_label_name("1a") && !valid_label_name("a-b") && !valid_label_name("__name__") && !valid_label_name(""));
        assert!(high_cardinality_hint("%{[fields][service]}").is_none());
        assert!(high_cardinality_hint("%{message}").is_some());
        assert!(high_cardinality_hint("%{[event][id]}").is_some());
        assert!(high_cardinality_hint("%{request_id}").is_some());
        assert!(high_cardinality_hint("%{+HH:mm}").is_some());
    }
}

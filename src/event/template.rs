//! sprintf templates: `logs-%{[fields][service]}-%{+YYYY.MM.dd}`.
//!
//! A template is split once, at compile time, into literal text, field references and date
//! formats; rendering walks the parts and appends to one buffer. As in Logstash, a reference to a
//! missing field is left in the output as written (`%{[fields][service]}`), dates are the event's
//! `@timestamp` in UTC, `%{+%s}` is epoch seconds, arrays render comma-joined and hashes as JSON.

use super::joda::{JodaError, JodaFormat};
use super::{Event, FieldRef, FieldRefError, Value};
use std::borrow::Cow;
use std::fmt::Write;

#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    /// The reference and the text as written, used when the field is missing.
    Field(FieldRef, String),
    Date(JodaFormat),
    EpochSeconds,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("in `{template}`: {source}")]
    Field { template: String, source: FieldRefError },
    #[error("in `{template}`: bad date format `{format}`: {source}")]
    Date { template: String, format: String, source: JodaError },
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            let after = &rest[start + 2..];
            // `%{{java-time pattern}}` closes with `}}`.
            let (inner, consumed) = if let Some(body) = after.strip_prefix('{') {
                match body.find("}}") {
                    Some(end) => (&after[..end + 1], end + 3),
                    None => break,
                }
            } else {
                match after.find('}') {
                    Some(end) => (&after[..end], end + 1),
                    None => break,
                }
            };
            literal.push_str(&rest[..start]);
            let raw = &rest[start..start + 2 + consumed];
            let part = if let Some(format) = inner.strip_prefix('+') {
                if format == "%s" {
                    Part::EpochSeconds
                } else {
                    Part::Date(JodaFormat::compile(format).map_err(|source| TemplateError::Date {
                        template: text.to_string(),
                        format: format.to_string(),
                        source,
                    })?)
                }
            } else if let Some(format) = inner.strip_prefix('{') {
                Part::Date(JodaFormat::compile(format).map_err(|source| TemplateError::Date {
                    template: text.to_string(),
                    format: format.to_string(),
                    source,
                })?)
            } else {
                let r = FieldRef::parse(inner.trim())
                    .map_err(|source| TemplateError::Field { template: text.to_string(), source })?;
                Part::Field(r, raw.to_string())
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &rest[start + 2 + consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { source: text.to_string(), parts })
    }

    /// The text the template was written as.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Some(text) when the template has no references: callers can skip rendering.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// True when the template is exactly one field reference (`%{message}`): callers can then
    /// copy the value with its type instead of a string.
    pub fn single_field(&self) -> Option<&FieldRef> {
        match self.parts.as_slice() {
            [Part::Field(r, _)] => Some(r),
            _ => None,
        }
    }

    pub fn render(&self, event: &Event) -> Cow<'_, str> {
        if let Some(s) = self.as_static() {
            return Cow::Borrowed(s);
        }
        let mut out = String::with_capacity(self.source.len() + 16);
        self.render_into(event, &mut out);
        Cow::Owned(out)
    }

    pub fn render_into(&self, event: &Event, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(r, raw) => match event.get(r) {
                    Some(v) if !v.is_null() => write_value(&v, out),
                    _ => out.push_str(raw),
                },
                Part::Date(f) => f.format_utc(event.timestamp(), out),
                Part::EpochSeconds => {
                    let _ = write!(out, "{}", event.timestamp().timestamp());
                }
            }
        }
    }
}

/// A value as sprintf shows it.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
        }
        Value::Object(_) => out.push_str(&v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn event() -> Event {
        let Value::Object(m) = json!({
            "@timestamp": "2024-02-29T23:59:58Z",
            "fields": {"service": "apache"},
            "list": ["a", 1, true],
            "obj": {"k": "v"},
            "n": 3.5,
            "nothing": null,
        }) else {
            unreachable!()
        };
        Event::from_map(m, Utc::now())
    }

    #[test]
    fn index_names_render_from_fields_and_utc_date() {
        let t = Template::parse("logs-%{[fields][service]}-%{+YYYY.MM.dd}").unwrap();
        assert_eq!(t.render(&event()), "logs-apache-2024.02.29");
    }

    #[test]
    fn missing_and_null_fields_stay_as_written() {
        let t = Template::parse("x-%{[fields][nope]}-%{nothing}").unwrap();
        assert_eq!(t.render(&event()), "x-%{[fields][nope]}-%{nothing}");
    }

    #[test]
    fn values_render_like_logstash() {
        let e = event();
        assert_eq!(Template::parse("%{list}").unwrap().render(&e), "a,1,true");
        assert_eq!(Template::parse("%{obj}").unwrap().render(&e), r#"{"k":"v"}"#);
        assert_eq!(Template::parse("%{n}").unwrap().render(&e), "3.5");
        let epoch = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap().timestamp();
        assert_eq!(Template::parse("%{+%s}").unwrap().render(&e), epoch.to_string());
        assert_eq!(Template::parse("%{@timestamp}").unwrap().render(&e), "2024-02-29T23:59:58.000Z");
    }

    #[test]
    fn static_and_unterminated_text() {
        let t = Template::parse("plain").unwrap();
        assert_eq!(t.as_static(), Some("plain"));
        let t = Template::parse("50%{ not closed").unwrap();
        assert_eq!(t.render(&event()), "50%{ not closed");
        assert!(Template::parse("%{[bad}").is_err());
    }
}

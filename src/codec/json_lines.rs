//! The `json_lines` codec: one JSON document per line.
//!
//! A line that is not JSON is not lost: it becomes an event whose `message` is the raw line,
//! tagged `_jsonparsefailure`, as Logstash does. A JSON array of objects gives one event each;
//! blank lines (keep-alives some shippers send) give none.

use super::{JSON_PARSE_FAILURE_TAG, LINE_TRUNCATED_TAG};
use crate::event::{Event, Fields, Value};
use chrono::{DateTime, Utc};

pub fn decode_line(line: &[u8], truncated: bool, now: DateTime<Utc>, out: &mut Vec<Event>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let start = out.len();
    decode_document(line, now, out);
    if truncated {
        for e in &mut out[start..] {
            e.add_tag(LINE_TRUNCATED_TAG);
        }
    }
}

/// One JSON text to events; shared with the `json` codec and filter.
pub fn decode_document(text: &[u8], now: DateTime<Utc>, out: &mut Vec<Event>) {
    // The common case first: an object, deserialised straight into the event's fields.
    if let Ok(map) = serde_json::from_slice::<Fields>(text) {
        out.push(Event::from_map(map, now));
        return;
    }
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Array(items)) if items.iter().all(Value::is_object) => {
            for item in items {
                if let Value::Object(m) = item {
                    out.push(Event::from_map(m, now));
                }
            }
        }
        _ => out.push(failure_event(text, now)),
    }
}

pub fn failure_event(text: &[u8], now: DateTime<Utc>) -> Event {
    let mut e = Event::with_message(String::from_utf8_lossy(text).into_owned(), now);
    e.add_tag(JSON_PARSE_FAILURE_TAG);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(line: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_line(line.as_bytes(), false, Utc::now(), &mut out);
        out
    }

    #[test]
    fn objects_become_events() {
        let e = decode(r#"{"level":"ERROR","n":1,"nested":{"a":[1,2]}}"#);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].fields()["level"], json!("ERROR"));
        assert_eq!(e[0].fields()["nested"], json!({"a": [1, 2]}));
    }

    #[test]
    fn malformed_lines_keep_their_text_and_are_tagged() {
        let e = decode(r#"{"level": "ERROR", oops}"#);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].fields()["message"], json!(r#"{"level": "ERROR", oops}"#));
        assert!(e[0].has_tag(JSON_PARSE_FAILURE_TAG));
        let e = decode("42");
        assert!(e[0].has_tag(JSON_PARSE_FAILURE_TAG));
    }

    #[test]
    fn arrays_of_objects_and_blank_lines() {
        assert_eq!(decode(r#"[{"a":1},{"a":2}]"#).len(), 2);
        assert!(decode("   ").is_empty());
    }
}

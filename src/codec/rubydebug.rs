//! The `rubydebug` codec: events as Logstash's stdout shows them (Ruby's awesome_print layout).
//!
//! Keys sorted and right-aligned, strings quoted, `@timestamp` bare, arrays with `[i]` indices,
//! nested hashes indented by four spaces. `@metadata` is shown only with `metadata => true`.

use crate::event::{timestamp, Event, Value};

pub fn write(event: &Event, metadata: bool, out: &mut Vec<u8>) {
    let mut entries: Vec<(&str, Item)> = event.fields().iter().map(|(k, v)| (k.as_str(), Item::Value(v))).collect();
    entries.push(("@timestamp", Item::Timestamp(event)));
    let meta;
    if metadata {
        meta = Value::Object(event.metadata().clone());
        entries.push(("@metadata", Item::Value(&meta)));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    write_hash(&entries, 0, out);
    out.push(b'\n');
}

enum Item<'a> {
    Value(&'a Value),
    Timestamp(&'a Event),
}

fn indent(level: usize, out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(b' ', level * 4));
}

fn write_hash(entries: &[(&str, Item)], level: usize, out: &mut Vec<u8>) {
    if entries.is_empty() {
        out.extend_from_slice(b"{}");
        return;
    }
    out.extend_from_slice(b"{\n");
    let quoted: Vec<String> = entries.iter().map(|(k, _)| inspect(k)).collect();
    let width = quoted.iter().map(|q| q.chars().count()).max().unwrap_or(0);
    for (i, ((_, item), key)) in entries.iter().zip(&quoted).enumerate() {
        indent(level + 1, out);
        out.extend(std::iter::repeat_n(b' ', width - key.chars().count()));
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b" => ");
        match item {
            Item::Value(v) => write_value(v, level + 1, out),
            Item::Timestamp(e) => timestamp::write_iso8601(e.timestamp(), out),
        }
        if i + 1 < entries.len() {
            out.push(b',');
        }
        out.push(b'\n');
    }
    indent(level, out);
    out.push(b'}');
}

fn write_value(v: &Value, level: usize, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"nil"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => out.extend_from_slice(inspect(s).as_bytes()),
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Array(items) => {
            out.extend_from_slice(b"[\n");
            let width = (items.len() - 1).to_string().len();
            for (i, item) in items.iter().enumerate() {
                indent(level + 1, out);
                let idx = i.to_string();
                out.extend(std::iter::repeat_n(b' ', width - idx.len()));
                out.extend_from_slice(format!("[{idx}] ").as_bytes());
                write_value(item, level + 1, out);
                if i + 1 < items.len() {
                    out.push(b',');
                }
                out.push(b'\n');
            }
            indent(level, out);
            out.push(b']');
        }
        Value::Object(m) => {
            let mut entries: Vec<(&str, Item)> = m.iter().map(|(k, v)| (k.as_str(), Item::Value(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            write_hash(&entries, level, out);
        }
    }
}

/// A string as Ruby's `inspect` shows it.
fn inspect(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            '\u{1b}' => q.push_str("\\e"),
            '#' => q.push('#'),
            c if c.is_control() => q.push_str(&format!("\\u{:04X}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn awesome_print_layout() {
        let Value::Object(m) = json!({
            "@timestamp": "2024-02-29T13:05:09.123Z",
            "message": "say \"hi\"",
            "tags": ["error"],
            "fields": {"service": "apache"},
            "n": 2,
            "@metadata": {"secret": 1}
        }) else { unreachable!() };
        let e = Event::from_map(m, chrono::Utc::now());
        let mut out = Vec::new();
        write(&e, false, &mut out);
        let want = r#"{
    "@timestamp" => 2024-02-29T13:05:09.123Z,
      "@version" => "1",
        "fields" => {
        "service" => "apache"
    },
       "message" => "say \"hi\"",
             "n" => 2,
          "tags" => [
        [0] "error"
    ]
}
"#;
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

//! The event: what flows from inputs through filters to outputs.
//!
//! An event has three stores, as in Logstash: `@timestamp` (kept typed, so index names and date
//! comparisons never re-parse it), `@metadata` (travels with the event, is readable by filters and
//! conditionals, and is never serialised by an output), and the ordinary fields — [`Fields`], in
//! the order they arrived, holding `tags` and `@version` too. Values are `serde_json::Value`;
//! nested hashes are its (key-ordered) maps.

mod field_ref;
mod fields;
pub mod joda;
mod template;
pub mod timestamp;

pub use field_ref::{FieldRef, FieldRefError, Segment};
pub use fields::{Entry, Fields};
pub use serde_json::Value;
pub use template::{write_value as template_value, Template, TemplateError};

use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// The ordered field map.
pub type Map = serde_json::Map<String, Value>;

/// Tag added when an event arrives with an `@timestamp` that is not a timestamp; the bad value is
/// kept in `_@timestamp`, as Logstash does.
pub const TIMESTAMP_PARSE_FAILURE: &str = "_timestampparsefailure";

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    fields: Fields,
    timestamp: DateTime<Utc>,
    metadata: Map,
}

/// Why a value could not be written at a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("cannot set `{path}`: `{at}` holds a {found}, not a hash")]
    NotAContainer { path: String, at: String, found: &'static str },
    #[error("cannot set `{path}`: index {index} is outside the array")]
    IndexOutOfRange { path: String, index: isize },
    #[error("cannot set @timestamp to {0}: not an ISO8601 timestamp")]
    BadTimestamp(String),
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// A new event stamped now, with `@version` "1" as every Logstash event has.
    pub fn new() -> Event {
        Event::at(Utc::now())
    }

    /// A new event with a given timestamp (inputs stamp a whole read with one clock call).
    pub fn at(timestamp: DateTime<Utc>) -> Event {
        let mut fields = Fields::with_capacity(8);
        fields.insert("@version".to_string(), Value::String("1".to_string()));
        Event { fields, timestamp, metadata: Map::new() }
    }

    /// An event holding `message`, as the line and plain codecs make.
    pub fn with_message(message: String, timestamp: DateTime<Utc>) -> Event {
        let mut e = Event::at(timestamp);
        e.fields.insert("message".to_string(), Value::String(message));
        e
    }

    /// Build an event from a decoded JSON object, as the json codecs do: `@timestamp` is parsed
    /// (a bad one is kept in `_@timestamp` and tagged), `@metadata` goes to the metadata store,
    /// and `@version` defaults to "1".
    pub fn from_map(fields: impl Into<Fields>, now: DateTime<Utc>) -> Event {
        let mut fields = fields.into();
        // Most documents hold none of the three special keys: one scan for a leading '@'.
        if !fields.keys().any(|k| k.starts_with('@')) {
            fields.insert_first("@version".to_string(), Value::String("1".to_string()));
            return Event { fields, timestamp: now, metadata: Map::new() };
        }
        let mut timestamp = now;
        let mut bad_timestamp = None;
        if let Some(ts) = fields.remove("@timestamp") {
            match ts.as_str().and_then(timestamp::parse_iso8601) {
                Some(t) => timestamp = t,
                None => bad_timestamp = Some(ts),
            }
        }
        let metadata = match fields.remove("@metadata") {
            Some(Value::Object(m)) => m,
            Some(other) => {
                // A non-hash @metadata cannot be a metadata store; keep it visible, not lost.
                fields.insert("_@metadata".to_string(), other);
                Map::new()
            }
            None => Map::new(),
        };
        if !fields.contains_key("@version") {
            fields.insert_first("@version".to_string(), Value::String("1".to_string()));
        }
        let mut e = Event { fields, timestamp, metadata };
        if let Some(bad) = bad_timestamp {
            e.fields.insert("_@timestamp".to_string(), bad);
            e.add_tag(TIMESTAMP_PARSE_FAILURE);
        }
        e
    }

    pub fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }

    pub fn set_timestamp(&mut self, t: DateTime<Utc>) {
        self.timestamp = t;
    }

    /// The ordinary fields (no `@timestamp`, no `@metadata`).
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut Fields {
        &mut self.fields
    }

    pub fn metadata(&self) -> &Map {
        &self.metadata
    }

    pub fn metadata_mut(&mut self) -> &mut Map {
        &mut self.metadata
    }

    /// The value at a reference. `@timestamp` is rendered as its ISO8601 string.
    pub fn get(&self, r: &FieldRef) -> Option<Cow<'_, Value>> {
        match r {
            FieldRef::Timestamp => Some(Cow::Owned(Value::String(timestamp::to_iso8601(self.timestamp)))),
            FieldRef::Metadata(path) if path.is_empty() => Some(Cow::Owned(Value::Object(self.metadata.clone()))),
            FieldRef::Metadata(path) => lookup(&self.metadata, path).map(Cow::Borrowed),
            FieldRef::Field(path) => lookup_fields(&self.fields, path).map(Cow::Borrowed),
        }
    }

    /// Borrow a value without the timestamp special case: `None` for `@timestamp` and for the
    /// whole metadata hash. This is the fast path filters use for ordinary fields.
    pub fn get_value(&self, r: &FieldRef) -> Option<&Value> {
        match r {
            FieldRef::Timestamp => None,
            FieldRef::Metadata(path) if path.is_empty() => None,
            FieldRef::Metadata(path) => lookup(&self.metadata, path),
            FieldRef::Field(path) => lookup_fields(&self.fields, path),
        }
    }

    pub fn get_mut(&mut self, r: &FieldRef) -> Option<&mut Value> {
        match r {
            FieldRef::Timestamp => None,
            FieldRef::Metadata(path) if path.is_empty() => None,
            FieldRef::Metadata(path) => lookup_mut(&mut self.metadata, path),
            FieldRef::Field(path) => {
                let (first, rest) = path.split_first()?;
                descend_mut(self.fields.get_mut(&first.key)?, rest)
            }
        }
    }

    pub fn contains(&self, r: &FieldRef) -> bool {
        match r {
            FieldRef::Timestamp => true,
            FieldRef::Metadata(path) if path.is_empty() => true,
            _ => self.get_value(r).is_some(),
        }
    }

    /// Write a value, creating intermediate hashes. Setting `@timestamp` parses an ISO8601
    /// string; setting `[@metadata]` replaces the whole store with a hash.
    pub fn set(&mut self, r: &FieldRef, value: Value) -> Result<(), SetError> {
        match r {
            FieldRef::Timestamp => {
                let parsed = value.as_str().and_then(timestamp::parse_iso8601);
                match parsed {
                    Some(t) => {
                        self.timestamp = t;
                        Ok(())
                    }
                    None => Err(SetError::BadTimestamp(value.to_string())),
                }
            }
            FieldRef::Metadata(path) if path.is_empty() => match value {
                Value::Object(m) => {
                    self.metadata = m;
                    Ok(())
                }
                other => Err(SetError::NotAContainer {
                    path: r.to_string(),
                    at: "[@metadata]".to_string(),
                    found: type_name(&other),
                }),
            },
            FieldRef::Metadata(path) => insert(&mut self.metadata, path, value, r),
            FieldRef::Field(path) => insert_fields(&mut self.fields, path, value, r),
        }
    }

    pub fn remove(&mut self, r: &FieldRef) -> Option<Value> {
        match r {
            FieldRef::Timestamp => None,
            FieldRef::Metadata(path) if path.is_empty() => {
                Some(Value::Object(std::mem::take(&mut self.metadata)))
            }
            FieldRef::Metadata(path) => remove(&mut self.metadata, path),
            FieldRef::Field(path) => {
                let (last, parents) = path.split_last()?;
                let Some((first, between)) = parents.split_first() else { return self.fields.remove(&last.key) };
                remove_from(descend_mut(self.fields.get_mut(&first.key)?, between)?, last)
            }
        }
    }

    /// Add a tag unless present. A scalar `tags` becomes an array holding it, as Logstash does.
    pub fn add_tag(&mut self, tag: &str) {
        let tags = self.fields.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        match tags {
            Value::Array(list) => {
                if !list.iter().any(|t| t.as_str() == Some(tag)) {
                    list.push(Value::String(tag.to_string()));
                }
            }
            Value::Null => *tags = Value::Array(vec![Value::String(tag.to_string())]),
            other => {
                let previous = std::mem::take(other);
                if previous.as_str() != Some(tag) {
                    *other = Value::Array(vec![previous, Value::String(tag.to_string())]);
                } else {
                    *other = Value::Array(vec![previous]);
                }
            }
        }
    }

    pub fn remove_tag(&mut self, tag: &str) {
        match self.fields.get_mut("tags") {
            Some(Value::Array(list)) => list.retain(|t| t.as_str() != Some(tag)),
            Some(Value::String(s)) if s == tag => {
                self.fields.insert("tags".to_string(), Value::Array(Vec::new()));
            }
            _ => {}
        }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        match self.fields.get("tags") {
            Some(Value::Array(list)) => list.iter().any(|t| t.as_str() == Some(tag)),
            Some(Value::String(s)) => s == tag,
            _ => false,
        }
    }

    /// The event as outputs send it: `@timestamp` first, then the fields; never `@metadata`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        timestamp::write_iso8601(self.timestamp, out);
        out.push(b'"');
        for (k, v) in &self.fields {
            out.push(b',');
            write_json_str(k, out);
            out.push(b':');
            write_json_value(v, out);
        }
        out.push(b'}');
    }

    /// The event as one JSON value (with `@timestamp` as a string, without `@metadata`).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("@timestamp".to_string(), Value::String(timestamp::to_iso8601(self.timestamp)));
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// The name of a value's type, as error messages say it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "hash",
    }
}

pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's writer never fails on a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

pub fn write_json_value(v: &Value, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, v);
}

fn resolve_index(len: usize, index: isize) -> Option<usize> {
    let i = if index < 0 { len as isize + index } else { index };
    (0..len as isize).contains(&i).then_some(i as usize)
}

fn step<'a>(v: &'a Value, seg: &Segment) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(&*seg.key),
        Value::Array(a) => a.get(resolve_index(a.len(), seg.index?)?),
        _ => None,
    }
}

fn step_mut<'a>(v: &'a mut Value, seg: &Segment) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(&*seg.key),
        Value::Array(a) => {
            let i = resolve_index(a.len(), seg.index?)?;
            a.get_mut(i)
        }
        _ => None,
    }
}

fn lookup<'a>(root: &'a Map, path: &[Segment]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    descend(root.get(&*first.key)?, rest)
}

fn lookup_fields<'a>(root: &'a Fields, path: &[Segment]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    descend(root.get(&first.key)?, rest)
}

fn descend<'a>(mut v: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    for seg in path {
        v = step(v, seg)?;
    }
    Some(v)
}

fn lookup_mut<'a>(root: &'a mut Map, path: &[Segment]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    descend_mut(root.get_mut(&*first.key)?, rest)
}

fn descend_mut<'a>(mut v: &'a mut Value, path: &[Segment]) -> Option<&'a mut Value> {
    for seg in path {
        v = step_mut(v, seg)?;
    }
    Some(v)
}

/// `insert` for the top level: the first step is in the fields, the rest in nested hashes.
fn insert_fields(root: &mut Fields, path: &[Segment], value: Value, r: &FieldRef) -> Result<(), SetError> {
    let Some((first, rest)) = path.split_first() else { return Ok(()) };
    if rest.is_empty() {
        root.insert(first.key.to_string(), value);
        return Ok(());
    }
    let slot = root.entry(&first.key).or_insert_with(|| Value::Object(Map::new()));
    insert_below(slot, &first.key, rest, value, r)
}

fn insert(root: &mut Map, path: &[Segment], value: Value, r: &FieldRef) -> Result<(), SetError> {
    let Some((first, rest)) = path.split_first() else { return Ok(()) };
    if rest.is_empty() {
        root.insert(first.key.to_string(), value);
        return Ok(());
    }
    let slot = root.entry(&*first.key).or_insert_with(|| Value::Object(Map::new()));
    insert_below(slot, &first.key, rest, value, r)
}

/// Write `value` at `rest` below `slot`, the value at `key` (an empty hash when it was just
/// made): a null becomes a hash, an array is entered by index, anything else is an error.
fn insert_below(slot: &mut Value, key: &str, rest: &[Segment], value: Value, r: &FieldRef) -> Result<(), SetError> {
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => insert(m, rest, value, r),
        // `[list][0][x]`: descend into an existing element.
        Value::Array(a) => insert_into_array(a, rest, value, r),
        other => Err(SetError::NotAContainer { path: r.to_string(), at: key.to_string(), found: type_name(other) }),
    }
}

fn insert_into_array(a: &mut [Value], path: &[Segment], value: Value, r: &FieldRef) -> Result<(), SetError> {
    let (seg, rest) = path.split_first().ok_or_else(|| SetError::NotAContainer {
        path: r.to_string(),
        at: String::new(),
        found: "array",
    })?;
    let Some(index) = seg.index else {
        return Err(SetError::NotAContainer { path: r.to_string(), at: seg.key.to_string(), found: "array" });
    };
    let i = resolve_index(a.len(), index).ok_or(SetError::IndexOutOfRange { path: r.to_string(), index })?;
    if rest.is_empty() {
        a[i] = value;
        return Ok(());
    }
    match &mut a[i] {
        Value::Object(m) => insert(m, rest, value, r),
        Value::Array(inner) => insert_into_array(inner, rest, value, r),
        other => Err(SetError::NotAContainer { path: r.to_string(), at: seg.key.to_string(), found: type_name(other) }),
    }
}

fn remove(root: &mut Map, path: &[Segment]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    if parents.is_empty() {
        return root.remove(&*last.key);
    }
    remove_from(lookup_mut(root, parents)?, last)
}

fn remove_from(parent: &mut Value, last: &Segment) -> Option<Value> {
    match parent {
        Value::Object(m) => m.remove(&*last.key),
        Value::Array(a) => {
            let i = resolve_index(a.len(), last.index?)?;
            Some(a.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(s: &str) -> FieldRef {
        FieldRef::parse(s).unwrap()
    }

    fn event(v: Value) -> Event {
        let Value::Object(m) = v else { panic!("not an object") };
        Event::from_map(m, Utc::now())
    }

    #[test]
    fn new_events_carry_version_one() {
        assert_eq!(Event::new().fields()["@version"], json!("1"));
    }

    #[test]
    fn nested_get_set_remove() {
        let mut e = Event::new();
        e.set(&r("[a][b][c]"), json!(1)).unwrap();
        assert_eq!(e.fields()["a"], json!({"b": {"c": 1}}));
        assert_eq!(e.get_value(&r("[a][b][c]")), Some(&json!(1)));
        assert_eq!(e.remove(&r("[a][b]")), Some(json!({"c": 1})));
        assert_eq!(e.fields()["a"], json!({}));
    }

    #[test]
    fn setting_below_a_scalar_is_an_error_not_a_silent_overwrite() {
        let mut e = event(json!({"a": "text"}));
        let err = e.set(&r("[a][b]"), json!(1)).unwrap_err();
        assert!(matches!(err, SetError::NotAContainer { found: "string", .. }), "{err}");
        assert_eq!(e.fields()["a"], json!("text"));
    }

    #[test]
    fn array_elements_by_index() {
        let mut e = event(json!({"list": [10, {"x": 1}, 30]}));
        assert_eq!(e.get_value(&r("[list][0]")), Some(&json!(10)));
        assert_eq!(e.get_value(&r("[list][-1]")), Some(&json!(30)));
        assert_eq!(e.get_value(&r("[list][1][x]")), Some(&json!(1)));
        assert_eq!(e.get_value(&r("[list][3]")), None);
        e.set(&r("[list][1][x]"), json!(2)).unwrap();
        assert_eq!(e.get_value(&r("[list][1][x]")), Some(&json!(2)));
        e.set(&r("[list][0]"), json!("ten")).unwrap();
        assert_eq!(e.fields()["list"][0], json!("ten"));
        assert_eq!(e.remove(&r("[list][0]")), Some(json!("ten")));
        assert_eq!(e.fields()["list"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn metadata_is_separate_and_never_serialised() {
        let mut e = event(json!({"message": "m", "@metadata": {"beat": "filebeat"}}));
        assert_eq!(e.get_value(&r("[@metadata][beat]")), Some(&json!("filebeat")));
        e.set(&r("[@metadata][index]"), json!("x")).unwrap();
        let mut out = Vec::new();
        e.write_json(&mut out);
        let parsed: Value = serde_json::from_slice(&out).unwrap();
        assert!(parsed.get("@metadata").is_none());
        assert_eq!(parsed["message"], json!("m"));
    }

    #[test]
    fn timestamp_from_json_is_parsed_and_bad_ones_are_kept_and_tagged() {
        let e = event(json!({"@timestamp": "2024-02-29T13:05:09.123Z"}));
        assert_eq!(e.timestamp().to_rfc3339(), "2024-02-29T13:05:09.123+00:00");
        let e = event(json!({"@timestamp": "yesterday"}));
        assert!(e.has_tag(TIMESTAMP_PARSE_FAILURE));
        assert_eq!(e.fields()["_@timestamp"], json!("yesterday"));
    }

    /// The special keys are found whatever other keys the document has, before or after them
    /// in key order, and a document without them still gets `@version`.
    #[test]
    fn special_keys_are_taken_out_among_ordinary_ones() {
        let e = event(json!({"!": 1, "zz": 2, "@timestamp": "2024-02-29T13:05:09Z", "@metadata": {"k": "v"}, "@version": "2"}));
        assert_eq!(e.timestamp().to_rfc3339(), "2024-02-29T13:05:09+00:00");
        assert_eq!(e.metadata().get("k"), Some(&json!("v")));
        assert_eq!(e.fields().len(), 3, "{:?}", e.fields());
        assert_eq!(e.fields()["@version"], json!("2"));
        let e = event(json!({"zz": 2, "@timestamp": "2024-02-29T13:05:09Z"}));
        assert_eq!(e.timestamp().to_rfc3339(), "2024-02-29T13:05:09+00:00");
        assert!(e.fields().get("@timestamp").is_none());
        let e = event(json!({"message": "m", "@zz": 1}));
        assert_eq!(e.fields()["@version"], json!("1"));
        assert_eq!(e.fields().len(), 3);
    }

    #[test]
    fn json_output_is_valid_and_starts_with_timestamp() {
        let e = event(json!({"@timestamp": "2024-02-29T13:05:09Z", "a": {"b": [1, "x\"y"]}, "n": 1.5}));
        let mut out = Vec::new();
        e.write_json(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"@timestamp":"2024-02-29T13:05:09.000Z","#), "{text}");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["a"], json!({"b": [1, "x\"y"]}));
        assert_eq!(parsed["n"], json!(1.5));
        assert_eq!(parsed["@version"], json!("1"));
    }

    #[test]
    fn tags_add_once_and_remove() {
        let mut e = Event::new();
        e.add_tag("a");
        e.add_tag("a");
        e.add_tag("b");
        assert_eq!(e.fields()["tags"], json!(["a", "b"]));
        e.remove_tag("a");
        assert_eq!(e.fields()["tags"], json!(["b"]));
        let mut e = event(json!({"tags": "solo"}));
        e.add_tag("x");
        assert_eq!(e.fields()["tags"], json!(["solo", "x"]));
        assert!(e.has_tag("solo"));
    }

    #[test]
    fn setting_timestamp_parses_iso8601() {
        let mut e = Event::new();
        e.set(&FieldRef::Timestamp, json!("2020-01-02T03:04:05.678+01:00")).unwrap();
        assert_eq!(e.timestamp().to_rfc3339(), "2020-01-02T02:04:05.678+00:00");
        assert!(e.set(&FieldRef::Timestamp, json!(12)).is_err());
    }
}

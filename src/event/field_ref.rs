//! Field references: `message`, `[fields][service]`, `[@metadata][beat]`, `[tags][0]`.
//!
//! A reference is parsed once, when the config is compiled, into a `FieldRef` that says which of
//! the event's three stores it addresses (`@timestamp`, `@metadata` or the ordinary fields) and
//! the path inside it. The per-event path never looks at the text again.

use std::fmt;

/// One step of a path: a key, or, when the text is an integer, also an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub key: Box<str>,
    /// `[list][0]` and `[list][-1]` address array elements; on a hash the same text is a key.
    pub index: Option<isize>,
}

impl Segment {
    fn new(key: &str) -> Segment {
        Segment { key: key.into(), index: key.parse().ok() }
    }
}

/// Which store of the event a reference points into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    /// `[@timestamp]`: kept typed on the event, not in the field map.
    Timestamp,
    /// `[@metadata]...`: travels with the event but is never sent by an output. An empty path is
    /// the whole metadata hash.
    Metadata(Vec<Segment>),
    /// Any other field; the path is never empty.
    Field(Vec<Segment>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid field reference `{text}`: {reason}")]
pub struct FieldRefError {
    pub text: String,
    pub reason: &'static str,
}

impl FieldRef {
    /// Parse a reference as Logstash does: a bare name is one top-level field (it may contain
    /// dots or spaces: `foo.bar` is a field literally named so), a bracketed form is a path.
    pub fn parse(text: &str) -> Result<FieldRef, FieldRefError> {
        let err = |reason| FieldRefError { text: text.to_string(), reason };
        if text.is_empty() {
            return Err(err("it is empty"));
        }
        let segments = if text.starts_with('[') {
            let mut segments = Vec::new();
            let mut rest = text;
            while !rest.is_empty() {
                let Some(inner) = rest.strip_prefix('[') else {
                    return Err(err("text outside brackets after the first `[`"));
                };
                let Some(close) = inner.find(']') else {
                    return Err(err("a `[` is never closed"));
                };
                let key = &inner[..close];
                if key.is_empty() {
                    return Err(err("it has an empty `[]` segment"));
                }
                if key.contains('[') {
                    return Err(err("brackets are nested"));
                }
                segments.push(Segment::new(key));
                rest = &inner[close + 1..];
            }
            segments
        } else {
            if text.contains('[') || text.contains(']') {
                return Err(err("brackets must enclose every segment, as in `[a][b]`"));
            }
            vec![Segment::new(text)]
        };
        Ok(match segments[0].key.as_ref() {
            "@timestamp" if segments.len() == 1 => FieldRef::Timestamp,
            "@timestamp" => return Err(err("@timestamp has no sub-fields")),
            "@metadata" => FieldRef::Metadata(segments[1..].to_vec()),
            _ => FieldRef::Field(segments),
        })
    }

    /// A reference to a single top-level field, built without parsing (for names fixed in code).
    pub fn top(name: &str) -> FieldRef {
        match name {
            "@timestamp" => FieldRef::Timestamp,
            "@metadata" => FieldRef::Metadata(Vec::new()),
            _ => FieldRef::Field(vec![Segment::new(name)]),
        }
    }

    /// True for `[tags]`, which several filters treat specially.
    pub fn is_top(&self, name: &str) -> bool {
        matches!(self, FieldRef::Field(p) if p.len() == 1 && &*p[0].key == name)
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = match self {
            FieldRef::Timestamp => return f.write_str("[@timestamp]"),
            FieldRef::Metadata(p) => {
                f.write_str("[@metadata]")?;
                p
            }
            FieldRef::Field(p) => p,
        };
        for s in path {
            write!(f, "[{}]", s.key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(r: &FieldRef) -> Vec<&str> {
        match r {
            FieldRef::Timestamp => vec!["@timestamp"],
            FieldRef::Metadata(p) | FieldRef::Field(p) => p.iter().map(|s| &*s.key).collect(),
        }
    }

    #[test]
    fn bare_names_are_one_top_level_field_even_with_dots() {
        let r = FieldRef::parse("host.name").unwrap();
        assert_eq!(keys(&r), ["host.name"]);
    }

    #[test]
    fn bracketed_paths_split_into_segments() {
        let r = FieldRef::parse("[fields][service]").unwrap();
        assert_eq!(keys(&r), ["fields", "service"]);
        assert!(matches!(r, FieldRef::Field(_)));
    }

    #[test]
    fn timestamp_and_metadata_are_their_own_stores() {
        assert_eq!(FieldRef::parse("@timestamp").unwrap(), FieldRef::Timestamp);
        assert_eq!(FieldRef::parse("[@timestamp]").unwrap(), FieldRef::Timestamp);
        let m = FieldRef::parse("[@metadata][beat]").unwrap();
        assert!(matches!(&m, FieldRef::Metadata(p) if p.len() == 1 && &*p[0].key == "beat"));
        assert_eq!(FieldRef::parse("[@metadata]").unwrap(), FieldRef::Metadata(vec![]));
    }

    #[test]
    fn numeric_segments_can_index_arrays() {
        let r = FieldRef::parse("[list][-1]").unwrap();
        let FieldRef::Field(p) = r else { panic!() };
        assert_eq!(p[1].index, Some(-1));
        assert_eq!(p[0].index, None);
    }

    #[test]
    fn malformed_references_are_errors() {
        for bad in ["", "[a", "[a]b", "[]", "a[b]", "[a[b]]", "[@timestamp][x]"] {
            assert!(FieldRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["[a][b]", "[@metadata][x]", "[@timestamp]", "[message]"] {
            assert_eq!(FieldRef::parse(text).unwrap().to_string(), text);
        }
    }
}

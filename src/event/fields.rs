//! The top level of an event's fields.
//!
//! A vector of (key, value) in the order the fields arrived, searched from the front. An event's
//! top level is small (a dozen or two fields) and filters touch it several times per event:
//! grok stores each capture there, conditionals and geoip read it, outputs walk it. For that size
//! a scan is cheaper than a B-tree's ordered string comparisons, an insert is a push, and the
//! level is two allocations to free. The scan reads a second, dense vector of 8-byte tags (a
//! key's first seven bytes and its length), so a search touches a few cache lines and compares
//! whole keys only where a tag matches. Nested hashes stay `serde_json` maps.
//!
//! Keys are unique: `insert` replaces a field where it stands.

use super::{Map, Value};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;

#[derive(Clone, Default)]
pub struct Fields {
    entries: Vec<(String, Value)>,
    /// `tag(key)` of each entry, in the same order.
    tags: Vec<u64>,
}

/// A key's first seven bytes and its length (mod 256): equal keys have equal tags.
fn tag(key: &str) -> u64 {
    let b = key.as_bytes();
    let mut head = [0u8; 8];
    let n = b.len().min(7);
    head[..n].copy_from_slice(&b[..n]);
    head[7] = b.len() as u8;
    u64::from_le_bytes(head)
}

/// A place in [`Fields`] for a key, found with one scan (see [`Fields::entry`]).
pub enum Entry<'a, 'k> {
    Vacant(VacantEntry<'a, 'k>),
    Occupied(&'a mut Value),
}

pub struct VacantEntry<'a, 'k> {
    fields: &'a mut Fields,
    key: &'k str,
    tag: u64,
}

impl<'a> VacantEntry<'a, '_> {
    pub fn insert(self, value: Value) -> &'a mut Value {
        self.fields.push(self.key.to_string(), self.tag, value)
    }
}

impl<'a> Entry<'a, '_> {
    pub fn or_insert_with(self, make: impl FnOnce() -> Value) -> &'a mut Value {
        match self {
            Entry::Vacant(v) => v.insert(make()),
            Entry::Occupied(v) => v,
        }
    }
}

impl Fields {
    pub fn new() -> Fields {
        Fields { entries: Vec::new(), tags: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Fields {
        Fields { entries: Vec::with_capacity(n), tags: Vec::with_capacity(n) }
    }

    /// Room for `n` more fields.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
        self.tags.reserve(n);
    }

    fn from_entries(entries: Vec<(String, Value)>) -> Fields {
        let tags = entries.iter().map(|(k, _)| tag(k)).collect();
        Fields { entries, tags }
    }

    fn push(&mut self, key: String, tag: u64, value: Value) -> &mut Value {
        self.tags.push(tag);
        self.entries.push((key, value));
        &mut self.entries.last_mut().expect("just pushed").1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.tags.clear();
    }

    fn position_tagged(&self, key: &str, tag: u64) -> Option<usize> {
        let mut from = 0;
        while let Some(i) = self.tags[from..].iter().position(|&t| t == tag) {
            let i = from + i;
            if self.entries[i].0 == key {
                return Some(i);
            }
            from = i + 1;
        }
        None
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.position_tagged(key, tag(key))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Set a field; an existing one is replaced where it stands and its value returned.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        let t = tag(&key);
        match self.position_tagged(&key, t) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.push(key, t, value);
                None
            }
        }
    }

    /// Put a field that is not there yet in front of the others.
    pub(super) fn insert_first(&mut self, key: String, value: Value) {
        debug_assert!(!self.contains_key(&key));
        self.tags.insert(0, tag(&key));
        self.entries.insert(0, (key, value));
    }

    /// Remove a field, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        self.tags.remove(i);
        Some(self.entries.remove(i).1)
    }

    /// The field for `key`, or the place to put it; the key is copied only when inserted.
    pub fn entry<'k>(&mut self, key: &'k str) -> Entry<'_, 'k> {
        let t = tag(key);
        match self.position_tagged(key, t) {
            Some(i) => Entry::Occupied(&mut self.entries[i].1),
            None => Entry::Vacant(VacantEntry { fields: self, key, tag: t }),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn into_map(self) -> Map {
        self.entries.into_iter().collect()
    }

    /// Fields from a JSON object's entries in document order. A document may repeat a key: the
    /// last value counts, at the place of the first (as `serde_json` reads it).
    fn from_document(entries: Vec<(String, Value)>) -> Fields {
        let n = entries.len();
        if n <= 32 {
            let mut fields = Fields::with_capacity(n);
            for (k, v) in entries {
                fields.insert(k, v);
            }
            return fields;
        }
        // Longer documents: a hash set instead of n² comparisons.
        let unique = {
            let mut seen = std::collections::HashSet::with_capacity(n);
            entries.iter().all(|(k, _)| seen.insert(k.as_str()))
        };
        if unique {
            return Fields::from_entries(entries);
        }
        let mut out: Vec<(String, Value)> = Vec::with_capacity(n);
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(n);
        for (k, v) in entries {
            match at.get(&k) {
                Some(&i) => out[i].1 = v,
                None => {
                    at.insert(k.clone(), out.len());
                    out.push((k, v));
                }
            }
        }
        Fields::from_entries(out)
    }
}

pub struct Iter<'a>(std::slice::Iter<'a, (String, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Fields {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Fields {
        Fields::from_document(iter.into_iter().collect())
    }
}

impl From<Map> for Fields {
    fn from(m: Map) -> Fields {
        // A map's keys are unique already.
        Fields::from_entries(m.into_iter().collect())
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;

    /// The field's value; panics when there is none (as indexing a map does).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or_else(|| panic!("no field `{key}`"))
    }
}

/// Equal when they hold the same fields, whatever their order.
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A JSON object read straight into fields, in document order.
impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields, A::Error> {
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(8).min(64));
                while let Some(entry) = access.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Fields::from_document(entries))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insert_replaces_in_place_and_remove_keeps_order() {
        let mut f = Fields::new();
        f.insert("b".into(), json!(1));
        f.insert("a".into(), json!(2));
        f.insert("c".into(), json!(3));
        assert_eq!(f.insert("a".into(), json!(20)), Some(json!(2)));
        assert_eq!(f.keys().map(String::as_str).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(f.remove("b"), Some(json!(1)));
        assert_eq!(f.remove("b"), None);
        assert_eq!(f.keys().map(String::as_str).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(f["a"], json!(20));
    }

    /// Keys that share a tag (first seven bytes and length) are still told apart.
    #[test]
    fn keys_with_equal_tags_stay_distinct() {
        let mut f = Fields::new();
        f.insert("message_a".into(), json!(1));
        f.insert("message_b".into(), json!(2));
        f.insert("m".into(), json!(3));
        assert_eq!(tag("message_a"), tag("message_b"));
        assert_eq!(f.get("message_b"), Some(&json!(2)));
        assert_eq!(f.get("message_a"), Some(&json!(1)));
        assert_eq!(f.get("message_c"), None);
        assert_eq!(f.remove("message_a"), Some(json!(1)));
        assert_eq!(f.get("message_b"), Some(&json!(2)));
        assert_eq!(f.get("m"), Some(&json!(3)));
        // A key longer than 255 bytes shares its length byte with a shorter one.
        let long = "x".repeat(263);
        f.insert(long.clone(), json!(4));
        f.insert("xxxxxxx".into(), json!(5));
        assert_eq!(f.get(&long), Some(&json!(4)));
        assert_eq!(f.get("xxxxxxx"), Some(&json!(5)));
    }

    #[test]
    fn entry_finds_or_makes_room() {
        let mut f = Fields::new();
        *f.entry("n").or_insert_with(|| json!(0)) = json!(1);
        match f.entry("n") {
            Entry::Occupied(v) => *v = json!(2),
            Entry::Vacant(_) => panic!("n is there"),
        }
        assert_eq!(f.get("n"), Some(&json!(2)));
        assert_eq!(f.len(), 1);
    }

    /// A document that repeats a key keeps the last value, as serde_json's map does, for short
    /// and long documents alike.
    #[test]
    fn repeated_keys_keep_the_last_value() {
        let f: Fields = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f["a"], json!(3));
        let mut text = String::from("{");
        for i in 0..100 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"k7\":\"last\"}");
        let f: Fields = serde_json::from_str(&text).unwrap();
        let m: Map = serde_json::from_str(&text).unwrap();
        assert_eq!(f.len(), m.len());
        assert_eq!(f.clone().into_map(), m);
        assert_eq!(f["k7"], json!("last"));
    }

    #[test]
    fn equality_ignores_order_and_round_trips_through_json() {
        let a: Fields = serde_json::from_str(r#"{"x":1,"y":{"z":[1,2]}}"#).unwrap();
        let b: Fields = serde_json::from_str(r#"{"y":{"z":[1,2]},"x":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, serde_json::from_str::<Fields>(r#"{"x":1}"#).unwrap());
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"x":1,"y":{"z":[1,2]}}"#);
        assert!(serde_json::from_str::<Fields>("[1]").is_err());
    }
}

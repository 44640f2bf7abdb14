//! Typed access to a plugin block's options.
//!
//! A plugin's builder asks for each option it knows by name and type; every name asked for is
//! recorded, so whatever the block holds that nobody asked for is an unknown option, reported
//! with the closest known name. Repeated options merge as Logstash merges them — hashes merge,
//! arrays concatenate — and a repeated scalar is an error. `${VAR}` substitution happens here, on
//! the string values, so every span still points into the text as written.

use super::ast::{self, Span, ValueKind};
use super::env;
use super::error::{did_you_mean, ConfigError};
use crate::event::{FieldRef, Template};

/// The environment lookup used for `${VAR}`; tests pass their own.
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

pub struct Args<'a> {
    /// `input`, `filter`, `output` or `codec`.
    kind: &'static str,
    plugin: &'a ast::Plugin,
    entries: Vec<Entry<'a>>,
    known: Vec<&'static str>,
    env: &'a EnvLookup,
}

struct Entry<'a> {
    name: &'a str,
    name_span: Span,
    values: Vec<&'a ast::Value>,
    used: bool,
}

/// A hash value: a string, or a list of strings (`add_field => { "a" => ["x", "y"] }`).
#[derive(Debug, Clone, PartialEq)]
pub enum HashValue {
    One(String),
    Many(Vec<String>),
}

impl<'a> Args<'a> {
    pub fn new(kind: &'static str, plugin: &'a ast::Plugin, env: &'a EnvLookup) -> Args<'a> {
        let mut entries: Vec<Entry<'a>> = Vec::new();
        for attr in &plugin.attributes {
            match entries.iter_mut().find(|e| e.name == attr.name) {
                Some(e) => e.values.push(&attr.value),
                None => entries.push(Entry {
                    name: &attr.name,
                    name_span: attr.name_span,
                    values: vec![&attr.value],
                    used: false,
                }),
            }
        }
        Args { kind, plugin, entries, known: Vec::new(), env }
    }

    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }

    pub fn plugin_span(&self) -> Span {
        self.plugin.name_span
    }

    pub fn env(&self) -> &'a EnvLookup {
        self.env
    }

    /// An error about the plugin block as a whole.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.plugin.name_span, message)
    }

    fn take(&mut self, name: &'static str) -> Option<&Entry<'a>> {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        let e = self.entries.iter_mut().find(|e| e.name == name)?;
        e.used = true;
        Some(e)
    }

    fn take_one(&mut self, name: &'static str) -> Result<Option<&'a ast::Value>, ConfigError> {
        let Some(e) = self.take(name) else { return Ok(None) };
        if e.values.len() > 1 {
            return Err(ConfigError::at(e.values[1].span, format!("option `{name}` is given more than once")));
        }
        Ok(Some(e.values[0]))
    }

    /// The raw AST value of an option (for codecs and other structured options).
    pub fn raw(&mut self, name: &'static str) -> Result<Option<&'a ast::Value>, ConfigError> {
        self.take_one(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    pub fn string(&mut self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let env = self.env;
        self.take_one(name)?.map(|v| scalar_string(v, name, env)).transpose()
    }

    pub fn string_or(&mut self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn required_string(&mut self, name: &'static str) -> Result<String, ConfigError> {
        match self.string(name)? {
            Some(s) => Ok(s),
            None => Err(self.error(format!("{} `{}` requires the option `{name}`", self.kind, self.plugin.name))),
        }
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, name: &'static str, allowed: &[&'static str], default: &'static str) -> Result<&'static str, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(default) };
        let s = scalar_string(v, name, self.env)?;
        allowed.iter().find(|a| **a == s).copied().ok_or_else(|| {
            let err = ConfigError::at(v.span, format!("`{s}` is not a valid value for `{name}`; expected one of {}", allowed.join(", ")));
            match did_you_mean(&s, allowed.iter().copied()) {
                Some(m) => err.with_help(format!("did you mean `{m}`?")),
                None => err,
            }
        })
    }

    pub fn bool(&mut self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(default) };
        match scalar_string(v, name, self.env)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ConfigError::at(v.span, format!("option `{name}` must be true or false, not `{other}`"))),
        }
    }

    pub fn number(&mut self, name: &'static str) -> Result<Option<f64>, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(None) };
        let s = scalar_string(v, name, self.env)?;
        s.trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ConfigError::at(v.span, format!("option `{name}` must be a number, not `{s}`")))
    }

    /// A whole number within `min..=max`.
    pub fn integer(&mut self, name: &'static str, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(default) };
        let s = scalar_string(v, name, self.env)?;
        let n: i64 = s
            .trim()
            .parse()
            .map_err(|_| ConfigError::at(v.span, format!("option `{name}` must be a whole number, not `{s}`")))?;
        if n < min || n > max {
            return Err(ConfigError::at(v.span, format!("option `{name}` must be between {min} and {max}, not {n}")));
        }
        Ok(n)
    }

    /// A list of strings; a single string counts as a list of one. Repeated options concatenate.
    pub fn string_list(&mut self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        let env = self.env;
        let Some(e) = self.take(name) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for v in e.values.clone() {
            match &v.kind {
                ValueKind::Array(items) => {
                    for item in items {
                        out.push(scalar_string(item, name, env)?);
                    }
                }
                _ => out.push(scalar_string(v, name, env)?),
            }
        }
        Ok(out)
    }

    /// A hash; repeated options merge, a key given twice is an error at the second one.
    /// Logstash also accepts an array of alternating keys and values; so does this.
    pub fn hash(&mut self, name: &'static str) -> Result<Vec<(String, HashValue)>, ConfigError> {
        let mut out: Vec<(String, HashValue)> = Vec::new();
        for entry in self.hash_entries(name)? {
            if out.iter().any(|(k, _)| *k == entry.key) {
                return Err(duplicate_key(&entry, name));
            }
            out.push((entry.key, entry.value));
        }
        Ok(out)
    }

    /// A hash whose values are lists, for options where one key may name several values (grok's
    /// `match`: a field and the patterns tried on it, in order). Besides the hash forms
    /// (`{ "k" => "v" }`, `{ "k" => ["v1", "v2"] }`) it reads Logstash's older array of
    /// alternating keys and values, `["k", "v1", "k", "v2"]`, as Logstash does: a key given
    /// again there adds its values to the first one's. Order is kept, of keys and of values. A
    /// key a hash gives twice (in one hash or across repeated options) is still an error, as in
    /// `hash`: Logstash's compiler rejects it too.
    pub fn hash_of_lists(&mut self, name: &'static str) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        // The bool says whether the key came from the pairs form, the only one that may repeat.
        let mut out: Vec<(String, Vec<String>, bool)> = Vec::new();
        for entry in self.hash_entries(name)? {
            match out.iter_mut().find(|(k, _, _)| *k == entry.key) {
                Some((_, values, true)) if entry.from_pairs => values.extend(entry.value.into_list()),
                Some(_) => return Err(duplicate_key(&entry, name)),
                None => out.push((entry.key, entry.value.into_list(), entry.from_pairs)),
            }
        }
        Ok(out.into_iter().map(|(k, values, _)| (k, values)).collect())
    }

    /// Every key and value of a hash option in the order written, repeats included, from
    /// either form; what a repeated key means is up to the caller.
    fn hash_entries(&mut self, name: &'static str) -> Result<Vec<HashEntry>, ConfigError> {
        let env = self.env;
        let Some(e) = self.take(name) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for v in e.values.clone() {
            match &v.kind {
                ValueKind::Hash(entries) => {
                    for he in entries {
                        let key = env::substitute(&he.key, env).map_err(|err| ConfigError::at(he.key_span, err.to_string()))?;
                        out.push(HashEntry { key, key_span: he.key_span, value: hash_value(&he.value, name, env)?, from_pairs: false });
                    }
                }
                ValueKind::Array(items) => {
                    for (key, value) in pairs(items, v.span, name)? {
                        let (key_span, key) = (key.span, scalar_string(key, name, env)?);
                        out.push(HashEntry { key, key_span, value: hash_value(value, name, env)?, from_pairs: true });
                    }
                }
                _ => return Err(not_a_hash(v.span, name)),
            }
        }
        Ok(out)
    }

    pub fn field_ref(&mut self, name: &'static str) -> Result<Option<FieldRef>, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(None) };
        let s = scalar_string(v, name, self.env)?;
        FieldRef::parse(&s).map(Some).map_err(|e| ConfigError::at(v.span, e.to_string()))
    }

    pub fn template(&mut self, name: &'static str) -> Result<Option<Template>, ConfigError> {
        let Some(v) = self.take_one(name)? else { return Ok(None) };
        let s = scalar_string(v, name, self.env)?;
        Template::parse(&s).map(Some).map_err(|e| ConfigError::at(v.span, e.to_string()))
    }

    /// The span of an option's value, for errors a builder finds after reading it.
    pub fn span_of(&self, name: &str) -> Span {
        self.entries.iter().find(|e| e.name == name).map(|e| e.values[0].span).unwrap_or(self.plugin.name_span)
    }

    /// Options in the block that the builder never asked for.
    pub fn unknown(&self) -> Vec<ConfigError> {
        self.entries
            .iter()
            .filter(|e| !e.used)
            .map(|e| {
                let err = ConfigError::at(
                    e.name_span,
                    format!("unknown option `{}` for {} plugin `{}`", e.name, self.kind, self.plugin.name),
                );
                match did_you_mean(e.name, self.known.iter().copied()) {
                    Some(m) => err.with_help(format!("did you mean `{m}`?")),
                    None => err,
                }
            })
            .collect()
    }
}

/// A scalar as text: strings (with `${VAR}` substituted), numbers and barewords as written.
pub fn scalar_string(v: &ast::Value, name: &str, env: &EnvLookup) -> Result<String, ConfigError> {
    match &v.kind {
        ValueKind::String(s) => env::substitute(s, env).map_err(|e| ConfigError::at(v.span, e.to_string())),
        ValueKind::Number(s) | ValueKind::Bareword(s) => Ok(s.clone()),
        ValueKind::Array(items) if items.len() == 1 => scalar_string(&items[0], name, env),
        ValueKind::Array(_) => Err(ConfigError::at(v.span, format!("option `{name}` takes a single value, not a list"))),
        ValueKind::Hash(_) => Err(ConfigError::at(v.span, format!("option `{name}` takes a single value, not a hash"))),
        ValueKind::Plugin(p) => Err(ConfigError::at(v.span, format!("option `{name}` takes a value, not a plugin block `{}`", p.name))),
    }
}

/// One key and its value as written in a hash option.
struct HashEntry {
    key: String,
    key_span: Span,
    value: HashValue,
    /// Given in the array form `["key", "value", ...]` rather than as a hash.
    from_pairs: bool,
}

fn duplicate_key(entry: &HashEntry, name: &str) -> ConfigError {
    ConfigError::at(entry.key_span, format!("duplicate key `{}` in option `{name}`", entry.key))
}

impl HashValue {
    /// The value as a list: one string is a list of one.
    pub fn into_list(self) -> Vec<String> {
        match self {
            HashValue::One(s) => vec![s],
            HashValue::Many(list) => list,
        }
    }
}

/// The array form of a hash option, `["key", "value", ...]`, as (key, value) pairs. An odd
/// count is an error at the array, as in Logstash ("must contain an even number of items").
fn pairs<'v>(items: &'v [ast::Value], span: Span, name: &str) -> Result<Vec<(&'v ast::Value, &'v ast::Value)>, ConfigError> {
    if items.len() % 2 == 1 {
        return Err(ConfigError::at(
            span,
            format!(
                "option `{name}` given as a list must hold pairs of key and value, like [\"key\", \"value\"], but it has {} items",
                items.len()
            ),
        ));
    }
    Ok(items.chunks(2).map(|pair| (&pair[0], &pair[1])).collect())
}

fn not_a_hash(span: Span, name: &str) -> ConfigError {
    ConfigError::at(span, format!("option `{name}` must be a hash, like {name} => {{ \"key\" => \"value\" }}"))
}

fn hash_value(v: &ast::Value, name: &str, env: &EnvLookup) -> Result<HashValue, ConfigError> {
    match &v.kind {
        ValueKind::Array(items) => Ok(HashValue::Many(items.iter().map(|i| scalar_string(i, name, env)).collect::<Result<_, _>>()?)),
        _ => Ok(HashValue::One(scalar_string(v, name, env)?)),
    }
}

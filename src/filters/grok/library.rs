//! Pattern libraries: named grok expressions, from the files built into the binary, from
//! `patterns_dir`, and from `pattern_definitions`.
//!
//! The file format is Logstash's: one `NAME expression` per line (the name is letters, digits
//! and `_`, then whitespace, then the expression to the end of the line), `#` comments, blank
//! lines; a later definition of a name replaces an earlier one. The built-in library lives in
//! `grok-patterns/` (see its README): `common/` holds what both naming modes share, `legacy/`
//! and `ecs-v1/` the patterns whose captures are named differently in each mode. It is compiled
//! into the binary so `sluice -t` needs no files on disk. A filter's own definitions are a
//! layer over the built-in library, so building one never copies it.

use super::{EcsMode, GrokError};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

/// One named expression and where it came from.
#[derive(Debug, Clone)]
pub struct Definition {
    pub pattern: String,
    /// `common/httpd`, `ecs-v1/httpd`, a file path, or `pattern_definitions`.
    pub source: String,
}

/// A set of named expressions, possibly layered over a built-in library.
#[derive(Debug, Clone, Default)]
pub struct PatternLibrary {
    defs: HashMap<String, Definition>,
    /// Names in the order they were first defined here (for stable listings).
    order: Vec<String>,
    base: Option<&'static PatternLibrary>,
}

/// The families shipped in `grok-patterns/`, named like Logstash's files.
pub const FAMILIES: &[&str] = &[
    "grok-patterns",
    "httpd",
    "linux-syslog",
    "java",
    "haproxy",
    "postgresql",
    "redis",
    "mongodb",
    "aws",
    "bind",
    "squid",
    "exim",
    "rails",
    "ruby",
    "maven",
    "mcollective",
    "junos",
    "firewalls",
    "bacula",
];

macro_rules! pattern_file {
    ($dir:literal, $family:literal) => {
        (
            concat!($dir, "/", $family),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/grok-patterns/", $dir, "/", $family)),
        )
    };
}

/// Definitions both modes share.
const COMMON: &[(&str, &str)] = &[
    pattern_file!("common", "grok-patterns"),
    pattern_file!("common", "httpd"),
    pattern_file!("common", "linux-syslog"),
    pattern_file!("common", "java"),
    pattern_file!("common", "postgresql"),
    pattern_file!("common", "redis"),
    pattern_file!("common", "mongodb"),
    pattern_file!("common", "aws"),
    pattern_file!("common", "bind"),
    pattern_file!("common", "exim"),
    pattern_file!("common", "rails"),
    pattern_file!("common", "ruby"),
    pattern_file!("common", "maven"),
    pattern_file!("common", "junos"),
    pattern_file!("common", "firewalls"),
    pattern_file!("common", "bacula"),
];

/// Definitions whose captures carry Logstash's legacy field names.
const LEGACY: &[(&str, &str)] = &[
    pattern_file!("legacy", "grok-patterns"),
    pattern_file!("legacy", "httpd"),
    pattern_file!("legacy", "linux-syslog"),
    pattern_file!("legacy", "java"),
    pattern_file!("legacy", "haproxy"),
    pattern_file!("legacy", "postgresql"),
    pattern_file!("legacy", "redis"),
    pattern_file!("legacy", "mongodb"),
    pattern_file!("legacy", "aws"),
    pattern_file!("legacy", "bind"),
    pattern_file!("legacy", "squid"),
    pattern_file!("legacy", "exim"),
    pattern_file!("legacy", "rails"),
    pattern_file!("legacy", "ruby"),
    pattern_file!("legacy", "mcollective"),
    pattern_file!("legacy", "junos"),
    pattern_file!("legacy", "firewalls"),
    pattern_file!("legacy", "bacula"),
];

/// Definitions whose captures carry Elastic Common Schema field names.
const ECS_V1: &[(&str, &str)] = &[
    pattern_file!("ecs-v1", "grok-patterns"),
    pattern_file!("ecs-v1", "httpd"),
    pattern_file!("ecs-v1", "linux-syslog"),
    pattern_file!("ecs-v1", "java"),
    pattern_file!("ecs-v1", "haproxy"),
    pattern_file!("ecs-v1", "postgresql"),
    pattern_file!("ecs-v1", "redis"),
    pattern_file!("ecs-v1", "mongodb"),
    pattern_file!("ecs-v1", "aws"),
    pattern_file!("ecs-v1", "bind"),
    pattern_file!("ecs-v1", "squid"),
    pattern_file!("ecs-v1", "exim"),
    pattern_file!("ecs-v1", "rails"),
    pattern_file!("ecs-v1", "ruby"),
    pattern_file!("ecs-v1", "mcollective"),
    pattern_file!("ecs-v1", "junos"),
    pattern_file!("ecs-v1", "firewalls"),
    pattern_file!("ecs-v1", "bacula"),
];

/// The built-in library for a naming mode (v1 and v8 share the ECS names).
pub fn builtin(mode: EcsMode) -> &'static PatternLibrary {
    static LEGACY_LIB: OnceLock<PatternLibrary> = OnceLock::new();
    static ECS_LIB: OnceLock<PatternLibrary> = OnceLock::new();
    let (cell, files) = match mode {
        EcsMode::Disabled => (&LEGACY_LIB, LEGACY),
        EcsMode::V1 | EcsMode::V8 => (&ECS_LIB, ECS_V1),
    };
    cell.get_or_init(|| {
        let mut lib = PatternLibrary::empty();
        for (source, text) in COMMON.iter().chain(files) {
            // The built-in files are checked by the tests; a malformed line cannot ship, and
            // if one did it would be skipped here rather than take the process down.
            if let Ok(defs) = parse(text, source) {
                for (name, pattern, _) in defs {
                    lib.insert(&name, &pattern, source);
                }
            }
        }
        lib
    })
}

/// The built-in files as (source, text), for the tests that check them.
pub fn builtin_files(mode: EcsMode) -> Vec<(&'static str, &'static str)> {
    let files = match mode {
        EcsMode::Disabled => LEGACY,
        EcsMode::V1 | EcsMode::V8 => ECS_V1,
    };
    COMMON.iter().chain(files).copied().collect()
}

/// Parse a pattern file into (name, expression, line number) triples.
pub fn parse(text: &str, source: &str) -> Result<Vec<(String, String, usize)>, GrokError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let name_len = trimmed.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
        let (name, rest) = trimmed.split_at(name_len);
        let pattern = rest.trim_start_matches([' ', '\t']);
        if name.is_empty() || pattern.len() == rest.len() || pattern.is_empty() {
            return Err(GrokError::PatternFile {
                source_name: source.to_string(),
                line: n + 1,
                message:
                    "expected `NAME expression` (a name of letters, digits and `_`, whitespace, then the expression)"
                        .to_string(),
            });
        }
        out.push((name.to_string(), pattern.to_string(), n + 1));
    }
    Ok(out)
}

impl PatternLibrary {
    pub fn empty() -> PatternLibrary {
        PatternLibrary::default()
    }

    /// An empty layer over a built-in library: what it defines wins over the base.
    pub fn layered_over(base: &'static PatternLibrary) -> PatternLibrary {
        PatternLibrary { base: Some(base), ..PatternLibrary::default() }
    }

    pub fn insert(&mut self, name: &str, pattern: &str, source: &str) {
        if !self.defs.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.defs.insert(name.to_string(), Definition { pattern: pattern.to_string(), source: source.to_string() });
    }

    /// Add every definition in a pattern file's text.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<(), GrokError> {
        for (name, pattern, _) in parse(text, source)? {
            self.insert(&name, &pattern, source);
        }
        Ok(())
    }

    pub fn add_file(&mut self, path: &Path) -> Result<(), GrokError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GrokError::Io { path: path.display().to_string(), message: e.to_string() })?;
        self.add_text(&text, &path.display().to_string())
    }

    /// The expression a name stands for.
    pub fn definition(&self, name: &str) -> Option<&str> {
        self.entry(name).map(|d| d.pattern.as_str())
    }

    /// The definition with its origin.
    pub fn entry(&self, name: &str) -> Option<&Definition> {
        self.defs.get(name).or_else(|| self.base.and_then(|b| b.entry(name)))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.order.iter().map(String::as_str).collect();
        if let Some(base) = self.base {
            names.extend(base.names().into_iter().filter(|n| !self.defs.contains_key(*n)));
        }
        names.sort_unstable();
        names
    }

    pub fn len(&self) -> usize {
        self.names().len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty() && self.base.map_or(true, |b| b.is_empty())
    }

    /// The defined name closest to a mistyped one.
    pub fn suggest(&self, name: &str) -> Option<String> {
        let names = self.names();
        crate::config::error::did_you_mean(name, names.iter().copied()).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_parse_as_name_whitespace_expression() {
        let defs = parse("# comment\n\nA  x y \nB\t%{A}|z\r\n  # indented comment\n", "t").unwrap();
        let got: Vec<_> = defs.iter().map(|(n, p, l)| (n.as_str(), p.as_str(), *l)).collect();
        assert_eq!(got, [("A", "x y ", 3), ("B", "%{A}|z", 4)]);
        assert!(matches!(parse("lonely\n", "f"), Err(GrokError::PatternFile { line: 1, .. })));
        assert!(matches!(parse("bad-name x\n", "f"), Err(GrokError::PatternFile { line: 1, .. })));
    }

    #[test]
    fn a_layer_overrides_its_base_without_copying_it() {
        let base: &'static PatternLibrary = Box::leak(Box::new({
            let mut l = PatternLibrary::empty();
            l.insert("A", "a", "base");
            l.insert("B", "b", "base");
            l
        }));
        let mut layer = PatternLibrary::layered_over(base);
        layer.insert("B", "bee", "mine");
        layer.insert("C", "c", "mine");
        assert_eq!(layer.definition("A"), Some("a"));
        assert_eq!(layer.definition("B"), Some("bee"));
        assert_eq!(layer.names(), ["A", "B", "C"]);
    }
}

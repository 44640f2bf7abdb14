//! The `grok` filter: match text fields against named-pattern expressions and turn the named
//! captures into fields, as Logstash's grok filter does.
//!
//! This module is the plugin (options, the per-event matching and how captures land on the
//! event) and the library API the `sluice grok` debugger builds on (`library`,
//! `compile_pattern`, `longest_matching_prefix`). Expansion and regex compilation live in
//! `compile`, pattern files in `library`; the patterns themselves in `grok-patterns/`.
//!
//! Semantics follow Logstash's: `match` maps a field to one expression or a list tried in
//! order — as a hash, or in the older array form `["message", "p1", "message", "p2"]`, pairs
//! of field and expression where a field given again adds expressions to its list. The first
//! match wins unless `break_on_match => false`, and with `true` the first field that matched
//! ends the filter. A capture into a field that already holds a string turns
//! it into an array (or appends to an array) unless the field is listed in `overwrite`; a field
//! holding anything else is left alone. Empty captures are dropped unless
//! `keep_empty_captures`. An array source is matched element by element, a non-string value as
//! its text, and an absent field as the empty string — so an event without the field fails and
//! is tagged, as in Logstash. Expressions run on the `regex` crate in linear time, so there is
//! no per-match timeout; an expression needing look-around runs under a backtrack limit and
//! going over it is reported like Logstash's timeout (`tag_on_timeout`).

pub mod compile;
pub mod library;
mod sequence;

pub use compile::{
    convert, longest_matching_prefix, CaptureSpec, CompiledGrok, Conversion, ExpandOptions, MatchResult, PrefixMatch,
};
pub use library::{Definition, PatternLibrary};

use super::{Filter, Outcome};
use crate::config::args::{Args, HashValue};
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Entry, Event, FieldRef, Segment, Value};
use std::path::Path;

/// The tag for an event no expression matched.
pub const GROK_PARSE_FAILURE: &str = "_grokparsefailure";
/// The tag for an event whose backtracking expression went over its step limit.
pub const GROK_TIMEOUT: &str = "_groktimeout";

/// Which field names the built-in patterns capture into (`ecs_compatibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsMode {
    /// Logstash's legacy names: `clientip`, `verb`, `response`...
    Disabled,
    /// Elastic Common Schema names: `[source][address]`, `[http][request][method]`...
    V1,
    /// Same pattern names and fields as v1.
    V8,
}

impl EcsMode {
    pub fn parse(setting: &str) -> Option<EcsMode> {
        match setting {
            "disabled" => Some(EcsMode::Disabled),
            "v1" => Some(EcsMode::V1),
            "v8" => Some(EcsMode::V8),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GrokError {
    #[error("pattern %{{{name}}} is not defined{}", suggestion.as_ref().map(|s| format!(" (did you mean %{{{s}}}?)")).unwrap_or_default())]
    UnknownPattern { name: String, suggestion: Option<String> },
    #[error("pattern %{{{}}} refers to itself: {}", path[0], path.join(" → "))]
    Cycle { path: Vec<String> },
    #[error("bad pattern reference `{text}`: {reason}")]
    BadReference { text: String, reason: &'static str },
    #[error("capture name `{name}` is not a valid field reference: {reason}")]
    BadFieldName { name: String, reason: &'static str },
    #[error("in `{pattern}`: {message}")]
    Syntax { pattern: String, message: String },
    #[error("`{pattern}` does not compile: {message}")]
    Regex { pattern: String, message: String },
    #[error("{source_name}:{line}: {message}")]
    PatternFile { source_name: String, line: usize, message: String },
    #[error("cannot read pattern file {path}: {message}")]
    Io { path: String, message: String },
}

/// The built-in pattern library for a naming mode.
pub fn library(ecs: EcsMode) -> &'static PatternLibrary {
    library::builtin(ecs)
}

/// Compile one expression against a library, with Logstash's defaults
/// (`named_captures_only => true`).
pub fn compile_pattern(pattern: &str, library: &PatternLibrary) -> Result<CompiledGrok, GrokError> {
    CompiledGrok::new(pattern, library, ExpandOptions::default())
}

/// Where a capture lands, resolved at build time.
struct Slot {
    field: FieldRef,
    overwrite: bool,
    conversion: Conversion,
}

struct Expression {
    grok: CompiledGrok,
    /// Parallel to `grok.capture_specs()`.
    slots: Vec<Slot>,
}

struct SourceField {
    field: FieldRef,
    expressions: Vec<Expression>,
}

pub struct Grok {
    sources: Vec<SourceField>,
    break_on_match: bool,
    keep_empty_captures: bool,
    tag_on_failure: Vec<String>,
    tag_on_timeout: String,
    /// The most captures one source field's expressions can yield: the per-event buffer size.
    max_captures: usize,
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    let match_span = args.span_of("match");
    let matches = args.hash_of_lists("match")?;
    if matches.is_empty() {
        return Err(args.error(
            "filter `grok` requires the option `match`, like match => { \"message\" => \"%{COMBINEDAPACHELOG}\" }",
        ));
    }
    let patterns_dir_span = args.span_of("patterns_dir");
    let patterns_dir = args.string_list("patterns_dir")?;
    let files_glob = args.string_or("patterns_files_glob", "*")?;
    let definitions_span = args.span_of("pattern_definitions");
    let definitions = args.hash("pattern_definitions")?;
    let break_on_match = args.bool("break_on_match", true)?;
    let named_captures_only = args.bool("named_captures_only", true)?;
    let keep_empty_captures = args.bool("keep_empty_captures", false)?;
    let overwrite_names = args.string_list("overwrite")?;
    let mut tag_on_failure = args.string_list("tag_on_failure")?;
    if !args.has("tag_on_failure") {
        tag_on_failure.push(GROK_PARSE_FAILURE.to_string());
    }
    let tag_on_timeout = args.string_or("tag_on_timeout", GROK_TIMEOUT)?;
    let timeout_millis = args.integer("timeout_millis", 30_000, 0, i64::MAX)?;
    let _ = args.choice("timeout_scope", &["pattern", "event"], "pattern")?;
    let default_ecs = match ctx.ecs_compatibility.as_str() {
        "v1" => "v1",
        "v8" => "v8",
        _ => "disabled",
    };
    let ecs = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], default_ecs)?;
    let target = args.field_ref("target")?;
    let ecs = EcsMode::parse(ecs).unwrap_or(EcsMode::Disabled);
    if args.has("timeout_millis") {
        tracing::debug!(
            timeout_millis,
            "grok expressions run in linear time and cannot run away; timeout_millis is accepted and not needed"
        );
    }

    let mut lib = PatternLibrary::layered_over(library(ecs));
    for dir in &patterns_dir {
        // Logstash loads nothing from a directory that is not there, without complaint; a
        // pattern that needed it then fails as undefined. Say so, and go on the same way.
        let files = pattern_files(dir, &files_glob).unwrap_or_else(|m| {
            ctx.warn(ConfigError::at(patterns_dir_span, m));
            Vec::new()
        });
        for file in files {
            lib.add_file(&file).map_err(|e| ConfigError::at(patterns_dir_span, e.to_string()))?;
        }
    }
    for (name, value) in definitions {
        let HashValue::One(pattern) = value else {
            return Err(ConfigError::at(
                definitions_span,
                format!("pattern_definitions: `{name}` must be one expression, not a list"),
            ));
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::at(
                definitions_span,
                format!("pattern_definitions: `{name}` is not a pattern name (letters, digits and `_`)"),
            ));
        }
        lib.insert(&name, &pattern, "pattern_definitions");
    }

    let overwrite: Vec<FieldRef> = overwrite_names
        .iter()
        .map(|n| FieldRef::parse(n).map_err(|e| ConfigError::at(args.span_of("overwrite"), e.to_string())))
        .collect::<Result<_, _>>()?;
    let options = ExpandOptions { named_captures_only };
    let mut sources = Vec::new();
    for (field_name, patterns) in matches {
        let field = FieldRef::parse(&field_name).map_err(|e| ConfigError::at(match_span, e.to_string()))?;
        let mut expressions = Vec::new();
        for pattern in patterns {
            let grok = CompiledGrok::new(&pattern, &lib, options)
                .map_err(|e| ConfigError::at(match_span, format!("grok pattern for `{field_name}`: {e}")))?;
            for note in grok.notes() {
                ctx.warn(ConfigError::at(match_span, format!("grok pattern for `{field_name}`: {note}")));
            }
            if grok.uses_backtracking() {
                ctx.warn(ConfigError::at(
                    match_span,
                    format!(
                        "grok pattern for `{field_name}` uses look-around or backreferences, so it runs on a backtracking \
                         engine (limited to {} steps a match, then tagged `{tag_on_timeout}`) instead of in linear time",
                        compile::BACKTRACK_LIMIT
                    ),
                ));
            }
            let slots = grok
                .capture_specs()
                .iter()
                .map(|spec| Slot {
                    field: under_target(target.as_ref(), &spec.field),
                    overwrite: overwrite.contains(&spec.field),
                    conversion: spec.conversion,
                })
                .collect();
            expressions.push(Expression { grok, slots });
        }
        // Repeated `match` options for the same field add expressions to it.
        match sources.iter_mut().find(|s: &&mut SourceField| s.field == field) {
            Some(existing) => existing.expressions.extend(expressions),
            None => sources.push(SourceField { field, expressions }),
        }
    }
    let max_captures =
        sources.iter().map(|s| s.expressions.iter().map(|e| e.slots.len()).sum::<usize>()).max().unwrap_or(0);
    Ok(Box::new(Grok { sources, break_on_match, keep_empty_captures, tag_on_failure, tag_on_timeout, max_captures }))
}

/// The files a `patterns_dir` entry names: every file in a directory matching the glob, or the
/// files a path or glob names directly.
fn pattern_files(entry: &str, files_glob: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let path = Path::new(entry);
    let glob_text =
        if path.is_dir() { path.join(files_glob).to_string_lossy().into_owned() } else { entry.to_string() };
    let mut files: Vec<_> = glob::glob(&glob_text)
        .map_err(|e| format!("patterns_dir `{entry}`: bad glob: {e}"))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() && !path.is_dir() {
        return Err(format!("patterns_dir `{entry}` does not exist or names no pattern file"));
    }
    files.sort();
    Ok(files)
}

fn under_target(target: Option<&FieldRef>, field: &FieldRef) -> FieldRef {
    match (target, field) {
        (Some(FieldRef::Field(base) | FieldRef::Metadata(base)), FieldRef::Field(path) | FieldRef::Metadata(path)) => {
            let mut segments: Vec<Segment> = base.clone();
            segments.extend(path.iter().cloned());
            match target {
                Some(FieldRef::Metadata(_)) => FieldRef::Metadata(segments),
                _ => FieldRef::Field(segments),
            }
        }
        _ => field.clone(),
    }
}

/// A value's text as grok matches it (Ruby's `to_s` for scalars; JSON text for containers).
fn text_of(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        Value::Null => std::borrow::Cow::Borrowed(""),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// What one source field's matching produced.
#[derive(Default)]
struct FieldOutcome {
    matched: bool,
    timed_out: bool,
}

impl Grok {
    /// Try a source's expressions on one text, collecting captures as (expression, slot, value).
    fn match_text(
        &self,
        source: &SourceField,
        text: &str,
        found: &mut Vec<(usize, usize, Value)>,
        out: &mut FieldOutcome,
    ) {
        for (e, expr) in source.expressions.iter().enumerate() {
            let mut slot_index = 0usize;
            let keep_empty = self.keep_empty_captures;
            let result = expr.grok.match_spans(text, |_, value| {
                let slot = slot_index;
                slot_index += 1;
                match value {
                    Some(v) if !v.is_empty() || keep_empty => {
                        found.push((e, slot, convert(v, expr.slots[slot].conversion)))
                    }
                    None if keep_empty => found.push((e, slot, Value::Null)),
                    _ => {}
                }
            });
            match result {
                MatchResult::Matched => {
                    out.matched = true;
                    if self.break_on_match {
                        break;
                    }
                }
                MatchResult::TimedOut => out.timed_out = true,
                MatchResult::NoMatch => {}
            }
        }
    }

    fn apply(&self, event: &mut Event, source: &SourceField, found: Vec<(usize, usize, Value)>) {
        event.fields_mut().reserve(found.len());
        for (e, s, value) in found {
            let slot = &source.expressions[e].slots[s];
            store(event, slot, value);
        }
    }
}

/// Put one capture on the event, the way Logstash's grok does.
fn store(event: &mut Event, slot: &Slot, value: Value) {
    // The common case, a top-level field: one map lookup instead of a lookup and an insert.
    if let FieldRef::Field(path) = &slot.field {
        if let [segment] = path.as_slice() {
            match event.fields_mut().entry(&*segment.key) {
                Entry::Vacant(e) => {
                    e.insert(value);
                }
                Entry::Occupied(existing) => merge(existing, value, slot),
            }
            return;
        }
    }
    match event.get_mut(&slot.field) {
        Some(existing) => merge(existing, value, slot),
        None => {
            if let Err(e) = event.set(&slot.field, value) {
                tracing::debug!(field = %slot.field, error = %e, "grok capture not stored");
            }
        }
    }
}

/// A capture into a field that already has a value: replace it (`overwrite`, or a null),
/// append to an array, turn a string into an array; leave anything else alone.
fn merge(existing: &mut Value, value: Value, slot: &Slot) {
    match existing {
        _ if slot.overwrite => *existing = value,
        Value::Null => *existing = value,
        Value::Array(list) => list.push(value),
        Value::String(_) => {
            let previous = std::mem::take(existing);
            *existing = Value::Array(vec![previous, value]);
        }
        _ => tracing::debug!(field = %slot.field, "grok capture not stored: the field holds a non-string value"),
    }
}

impl Filter for Grok {
    fn filter(&self, event: &mut Event) -> Outcome {
        let mut matched = false;
        let mut timed_out = false;
        let mut found = Vec::with_capacity(self.max_captures);
        for source in &self.sources {
            let mut outcome = FieldOutcome::default();
            found.clear();
            // `get` renders `@timestamp` as its ISO-8601 text; other fields are borrowed.
            match event.get(&source.field).as_deref() {
                Some(Value::Array(items)) => {
                    for item in items {
                        self.match_text(source, &text_of(item), &mut found, &mut outcome);
                    }
                }
                Some(value) => self.match_text(source, &text_of(value), &mut found, &mut outcome),
                None => self.match_text(source, "", &mut found, &mut outcome),
            }
            timed_out |= outcome.timed_out;
            if !found.is_empty() {
                self.apply(event, source, std::mem::take(&mut found));
            }
            if outcome.matched {
                matched = true;
                if self.break_on_match {
                    break;
                }
            }
        }
        if matched {
            Outcome::Matched
        } else if timed_out {
            event.add_tag(&self.tag_on_timeout);
            Outcome::Failed(GROK_TIMEOUT)
        } else {
            for tag in &self.tag_on_failure {
                event.add_tag(tag);
            }
            Outcome::Failed(GROK_PARSE_FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_libraries_load_and_differ_only_in_capture_names() {
        let legacy = library(EcsMode::Disabled);
        let ecs = library(EcsMode::V1);
        assert!(legacy.len() > 150, "{}", legacy.len());
        assert!(std::ptr::eq(ecs, library(EcsMode::V8)));
        let g = compile_pattern("%{COMBINEDAPACHELOG}", legacy).unwrap();
        let line = r#"1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 12 "-" "curl/7""#;
        let caps = g.captures(line).unwrap();
        assert!(caps.contains(&("clientip".to_string(), Value::from("1.2.3.4"))));
        let g = compile_pattern("%{COMBINEDAPACHELOG}", ecs).unwrap();
        let caps = g.captures(line).unwrap();
        assert!(caps.contains(&("[http][response][status_code]".to_string(), Value::from(200))));
    }

    #[test]
    fn captures_into_existing_strings_become_arrays_unless_overwritten() {
        let mut e = Event::new();
        e.set(&FieldRef::top("a"), Value::from("old")).unwrap();
        let slot = Slot { field: FieldRef::top("a"), overwrite: false, conversion: Conversion::Text };
        store(&mut e, &slot, Value::from("new"));
        store(&mut e, &slot, Value::from("newer"));
        assert_eq!(e.get_value(&FieldRef::top("a")), Some(&serde_json::json!(["old", "new", "newer"])));
        let slot = Slot { field: FieldRef::top("a"), overwrite: true, conversion: Conversion::Text };
        store(&mut e, &slot, Value::from("only"));
        assert_eq!(e.get_value(&FieldRef::top("a")), Some(&Value::from("only")));
        e.set(&FieldRef::top("n"), Value::from(5)).unwrap();
        let slot = Slot { field: FieldRef::top("n"), overwrite: false, conversion: Conversion::Text };
        store(&mut e, &slot, Value::from("x"));
        assert_eq!(e.get_value(&FieldRef::top("n")), Some(&Value::from(5)));
    }
}

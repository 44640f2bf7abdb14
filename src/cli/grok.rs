//! `sluice grok`: a grok debugger on the command line, what Kibana's Grok Debugger does without
//! Kibana.
//!
//! Given an expression and lines (files or stdin) it prints one JSON object per line: the
//! captures when the line matches, and for a line that does not, the longest prefix of the
//! expression that still matches its start, what that prefix matched, and where the rest of the
//! expression begins — usually enough to see which piece is wrong. `--list` prints the pattern
//! library. Exit status: 0 when every line matched, 1 when some did not, 2 on a bad expression.

use crate::event::{Event, FieldRef, Value};
use crate::filters::grok::compile::{longest_matching_prefix, CompiledGrok, ExpandOptions};
use crate::filters::grok::library::{builtin, PatternLibrary};
use crate::filters::grok::EcsMode;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct GrokArgs {
    /// The grok expression, e.g. '%{COMBINEDAPACHELOG}' (not needed with --list).
    pub pattern: Option<String>,
    /// Files to read lines from; standard input when none.
    pub files: Vec<PathBuf>,
    /// Print the pattern library (or one pattern's definition with a name as PATTERN).
    #[arg(long)]
    pub list: bool,
    /// Capture names of the built-in patterns: disabled (legacy), v1 or v8.
    #[arg(long, default_value = "disabled", value_name = "MODE")]
    pub ecs_compatibility: String,
    /// More pattern files, as the filter's `patterns_dir` (repeatable).
    #[arg(long = "patterns-dir", value_name = "DIR")]
    pub patterns_dir: Vec<PathBuf>,
    /// An extra pattern, as the filter's `pattern_definitions`: NAME=EXPRESSION (repeatable).
    #[arg(long = "define", value_name = "NAME=EXPRESSION")]
    pub define: Vec<String>,
    /// Also print the regular expression the grok expression expands to.
    #[arg(long)]
    pub explain: bool,
}

/// Run the debugger, writing to `out`; returns the process exit status.
pub fn run(args: &GrokArgs, input: &mut dyn BufRead, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match run_inner(args, input, out) {
        Ok(all_matched) => u8::from(!all_matched),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            2
        }
    }
}

fn library(args: &GrokArgs) -> Result<PatternLibrary, String> {
    let mode = EcsMode::parse(&args.ecs_compatibility)
        .ok_or_else(|| format!("--ecs-compatibility must be disabled, v1 or v8, not `{}`", args.ecs_compatibility))?;
    let mut lib = PatternLibrary::layered_over(builtin(mode));
    for dir in &args.patterns_dir {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read patterns directory {}: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            lib.add_file(&f).map_err(|e| e.to_string())?;
        }
    }
    for d in &args.define {
        let (name, expr) = d.split_once('=').ok_or_else(|| format!("--define takes NAME=EXPRESSION, not `{d}`"))?;
        lib.insert(name.trim(), expr, "--define");
    }
    Ok(lib)
}

fn run_inner(args: &GrokArgs, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<bool, String> {
    let lib = library(args)?;
    let io = |e: std::io::Error| e.to_string();
    if args.list {
        match &args.pattern {
            Some(name) => {
                let def = lib.definition(name).ok_or_else(|| match lib.suggest(name) {
                    Some(s) => format!("no pattern named `{name}`; did you mean `{s}`?"),
                    None => format!("no pattern named `{name}`"),
                })?;
                writeln!(out, "{name} {def}").map_err(io)?;
            }
            None => {
                for name in lib.names() {
                    writeln!(out, "{name} {}", lib.definition(name).unwrap_or_default()).map_err(io)?;
                }
            }
        }
        return Ok(true);
    }
    let pattern = args.pattern.as_deref().ok_or("give a grok expression, e.g. sluice grok '%{COMBINEDAPACHELOG}' access.log")?;
    let grok = CompiledGrok::new(pattern, &lib, ExpandOptions::default()).map_err(|e| e.to_string())?;
    if args.explain {
        writeln!(out, "{}", serde_json::json!({ "pattern": pattern, "regex": grok.regex_source() })).map_err(io)?;
    }
    let mut all_matched = true;
    let mut each_line = |number: usize, line: &str, out: &mut dyn Write| -> Result<(), String> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let record = match grok.captures(line) {
            Some(captures) => serde_json::json!({ "line": number, "matched": true, "captures": nest(captures) }),
            None => {
                all_matched = false;
                match prefix_through_single_references(pattern, line, &lib)? {
                    Some(p) => serde_json::json!({
                        "line": number,
                        "matched": false,
                        "text": line,
                        "longest_matching_prefix": p.pattern,
                        "prefix_matched_text": p.matched_text,
                        "unmatched_text": &line[p.matched_text.len().min(line.len())..],
                        "rest_of_pattern": p.rest_of_pattern,
                        "captures": nest(p.captures),
                    }),
                    None => serde_json::json!({
                        "line": number, "matched": false, "text": line, "longest_matching_prefix": null,
                    }),
                }
            }
        };
        writeln!(out, "{record}").map_err(|e| e.to_string())
    };
    let mut number = 0;
    if args.files.is_empty() {
        for line in input.lines() {
            number += 1;
            each_line(number, &line.map_err(io)?, out)?;
        }
    } else {
        for f in &args.files {
            let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            for line in String::from_utf8_lossy(&bytes).lines() {
                number += 1;
                each_line(number, line, out)?;
            }
        }
    }
    Ok(all_matched)
}

/// The longest matching prefix, found in the expression with its composite patterns written
/// out (`%{COMBINEDAPACHELOG}` becomes `%{IPORHOST:clientip} %{HTTPDUSER:ident} ...`), so the
/// answer points at the piece that fails rather than at the whole reference.
fn prefix_through_single_references(
    pattern: &str,
    line: &str,
    lib: &PatternLibrary,
) -> Result<Option<crate::filters::grok::compile::PrefixMatch>, String> {
    let flat = inline_composites(pattern, lib);
    longest_matching_prefix(&flat, line, lib).map_err(|e| e.to_string())
}

/// Replace references to patterns that are themselves made of references by their definition,
/// until only leaf patterns (`%{IP}`, `%{NUMBER}`...) remain. A definition with a top-level `|`
/// is wrapped in a group so the alternation keeps its meaning.
fn inline_composites(pattern: &str, lib: &PatternLibrary) -> String {
    let mut text = pattern.to_string();
    for _ in 0..16 {
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        let mut changed = false;
        while let Some(start) = rest.find("%{") {
            let Some(len) = rest[start..].find('}') else { break };
            let inner = &rest[start + 2..start + len];
            let name = inner.split(':').next().unwrap_or(inner);
            out.push_str(&rest[..start]);
            match lib.definition(name).filter(|d| d.contains("%{") && !inner.contains(':')) {
                Some(def) if has_top_level_bar(def) => out.push_str(&format!("(?:{def})")),
                Some(def) => out.push_str(def),
                None => out.push_str(&rest[start..start + len + 1]),
            }
            changed |= lib.definition(name).is_some_and(|d| d.contains("%{") && !inner.contains(':'));
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        text = out;
        if !changed {
            break;
        }
    }
    text
}

fn has_top_level_bar(def: &str) -> bool {
    let mut depth = 0i32;
    let mut escaped = false;
    for c in def.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' => depth -= 1,
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// Captures as the nested object they would make on an event (`[http][version]` nests).
fn nest(captures: Vec<(String, Value)>) -> Value {
    let mut e = Event::new();
    e.fields_mut().clear();
    for (name, value) in captures {
        let r = FieldRef::parse(&name).unwrap_or_else(|_| FieldRef::top(&name));
        // A capture below a scalar one cannot nest; keep it flat rather than lose it.
        if e.set(&r, value.clone()).is_err() {
            e.fields_mut().insert(name, value);
        }
    }
    Value::Object(std::mem::take(e.fields_mut()).into_map())
}

//! From a grok expression to a compiled regex and the side table of what each capture means.
//!
//! A grok expression is a regex in Oniguruma's dialect (what Logstash's patterns are written
//! in) with `%{SYNTAX}`, `%{SYNTAX:semantic}` and `%{SYNTAX:semantic:int|float}` references and
//! inline `(?<name>...)` groups whose names may be field references (`[a][b]`). This module
//! expands the references recursively (a cycle is an error that names the path), renames every
//! capturing group to a generated `gN` (grok names are not valid regex group names), keeps a
//! table from `gN` to the field and conversion, and rewrites the Oniguruma constructs that the
//! `regex` crate spells differently: `\d \w \s \h` are ASCII classes, `(?m)` is dot-all,
//! atomic groups and possessive quantifiers become plain ones (a linear-time engine has no
//! backtracking for them to limit), `\<` is a literal. Look-around and backreferences cannot be
//! matched in linear time; an expression that uses them is compiled with `fancy-regex` under a
//! backtrack limit instead, and says so.
//!
//! `^` and `$` match at line boundaries, as in Ruby. Log lines rarely hold a newline and are
//! nearly always ASCII, so each expression is compiled first for that case — single-line (where
//! `^` is a real anchor and a line that cannot match fails fast) and byte-oriented (a smaller
//! automaton, so the fast capture engine applies to long lines) — and, on first need, for text
//! with newlines or other characters, where `.` is one character as in Oniguruma.

use super::library::PatternLibrary;
use super::sequence::Sequence;
use super::GrokError;
use crate::event::{FieldRef, Value};
use parking_lot::Mutex;
use std::sync::OnceLock;

/// How many backtracking steps a look-around expression may take on one input before it is
/// given up on (reported as a timeout, as Logstash tags `_groktimeout`).
pub const BACKTRACK_LIMIT: usize = 1_000_000;
/// Room for the largest library patterns (the Cisco and HAProxy ones expand to a few thousand
/// states); the default 10 MiB is enough for them, this leaves headroom for user expressions.
const REGEX_SIZE_LIMIT: usize = 64 << 20;
const DFA_SIZE_LIMIT: usize = 8 << 20;

/// What a capture's text becomes on the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Text,
    /// `:int` — the leading integer, as Ruby's `to_i` reads it (0 when there is none).
    Int,
    /// `:float` — the leading number, as Ruby's `to_f` reads it.
    Float,
}

/// One capturing group of a compiled expression.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// The name as written: `clientip`, `[http][version]`, or the pattern name for an unnamed
    /// `%{WORD}` when `named_captures_only` is off.
    pub name: String,
    pub field: FieldRef,
    pub conversion: Conversion,
}

/// Options that change how an expression expands.
#[derive(Debug, Clone, Copy)]
pub struct ExpandOptions {
    /// Only `%{X:name}` and `(?<name>...)` capture; with `false` a bare `%{X}` captures into `X`.
    pub named_captures_only: bool,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions { named_captures_only: true }
    }
}

/// The result of expanding an expression: regex text and what each `gN` group is.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub regex: String,
    pub captures: Vec<CaptureSpec>,
    /// It uses look-around or backreferences: only a backtracking engine can run it.
    pub needs_backtracking: bool,
    /// Things worth telling whoever wrote the expression (an unknown `:type`...).
    pub notes: Vec<String>,
}

/// Which regex dialect the output is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The `regex` crate: no look-around, ASCII word boundaries spelled `(?-u:\b)`.
    Linear,
    /// `fancy-regex`: keeps atomic groups, plain `\b`.
    Backtracking,
}

/// Expand an expression against a library.
pub fn expand(pattern: &str, library: &PatternLibrary, options: ExpandOptions) -> Result<Expanded, GrokError> {
    let mut linear = Expander::new(library, options, Target::Linear);
    linear.translate(pattern)?;
    if !linear.needs_backtracking {
        return Ok(Expanded {
            regex: linear.out,
            captures: linear.captures,
            needs_backtracking: false,
            notes: linear.notes,
        });
    }
    let mut fancy = Expander::new(library, options, Target::Backtracking);
    fancy.translate(pattern)?;
    Ok(Expanded { regex: fancy.out, captures: fancy.captures, needs_backtracking: true, notes: fancy.notes })
}

struct Expander<'a> {
    library: &'a PatternLibrary,
    options: ExpandOptions,
    target: Target,
    out: String,
    captures: Vec<CaptureSpec>,
    /// Pattern names being expanded, outermost first: a name met again here is a cycle.
    stack: Vec<String>,
    needs_backtracking: bool,
    /// Numbered backreferences need the plain groups kept as capturing groups.
    numbered_backrefs: bool,
    notes: Vec<String>,
}

impl<'a> Expander<'a> {
    fn new(library: &'a PatternLibrary, options: ExpandOptions, target: Target) -> Expander<'a> {
        Expander {
            library,
            options,
            target,
            out: String::new(),
            captures: Vec::new(),
            stack: Vec::new(),
            needs_backtracking: false,
            numbered_backrefs: false,
            notes: Vec::new(),
        }
    }

    fn translate(&mut self, text: &str) -> Result<(), GrokError> {
        if self.stack.is_empty() {
            self.numbered_backrefs = has_numbered_backref(text);
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        // Depth of character-class brackets: `[a[b]]` nests in both dialects.
        let mut class_depth = 0usize;
        while i < bytes.len() {
            let c = bytes[i];
            if class_depth == 0 && c == b'%' && bytes.get(i + 1) == Some(&b'{') {
                i = self.reference(text, i)?;
                continue;
            }
            match c {
                b'\\' => i = self.escape(text, i, class_depth > 0)?,
                b'[' if class_depth == 0 => {
                    class_depth = 1;
                    self.out.push('[');
                    i += 1;
                    if bytes.get(i) == Some(&b'^') {
                        self.out.push('^');
                        i += 1;
                    }
                    // A `]` first in a class is a literal in both dialects; spell it escaped.
                    if bytes.get(i) == Some(&b']') {
                        self.out.push_str("\\]");
                        i += 1;
                    }
                }
                b'[' => {
                    if bytes.get(i + 1) == Some(&b':') {
                        // POSIX class `[:alpha:]`: same spelling in both dialects.
                        match text[i..].find(":]") {
                            Some(end) => {
                                self.out.push_str(&text[i..i + end + 2]);
                                i += end + 2;
                            }
                            None => {
                                self.out.push_str("\\[");
                                i += 1;
                            }
                        }
                    } else {
                        class_depth += 1;
                        self.out.push('[');
                        i += 1;
                        if bytes.get(i) == Some(&b'^') {
                            self.out.push('^');
                            i += 1;
                        }
                    }
                }
                b']' if class_depth > 0 => {
                    class_depth -= 1;
                    self.out.push(']');
                    i += 1;
                }
                b'-' | b'~' if class_depth > 0 && bytes.get(i + 1) == Some(&c) => {
                    // `--` and `~~` are set operations to the `regex` crate, literals to Oniguruma.
                    self.out.push('\\');
                    self.out.push(c as char);
                    self.out.push('\\');
                    self.out.push(c as char);
                    i += 2;
                }
                _ if class_depth > 0 => {
                    let ch = next_char(text, i);
                    self.out.push(ch);
                    i += ch.len_utf8();
                }
                b'(' => i = self.group(text, i)?,
                b'{' => i = self.brace(text, i),
                b'}' => {
                    self.out.push_str("\\}");
                    i += 1;
                }
                b'*' | b'+' | b'?' => {
                    self.out.push(c as char);
                    i += 1;
                    i = self.quantifier_suffix(bytes, i);
                }
                _ => {
                    let ch = next_char(text, i);
                    self.out.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        if class_depth > 0 {
            return Err(GrokError::Syntax {
                pattern: text.to_string(),
                message: "a `[` character class is never closed".into(),
            });
        }
        Ok(())
    }

    /// After a quantifier: keep a lazy `?`, drop a possessive `+`.
    fn quantifier_suffix(&mut self, bytes: &[u8], mut i: usize) -> usize {
        match bytes.get(i) {
            Some(b'?') => {
                self.out.push('?');
                i += 1;
            }
            Some(b'+') => i += 1,
            _ => {}
        }
        i
    }

    /// `{` outside a class: a counted repetition if it reads as one, otherwise a literal brace
    /// (Oniguruma's reading; the `regex` crate would reject it).
    fn brace(&mut self, text: &str, i: usize) -> usize {
        let rest = &text[i + 1..];
        if let Some(close) = rest.find('}') {
            let inner = &rest[..close];
            let valid = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
            let form = match inner.split_once(',') {
                None if valid(inner) => Some(format!("{{{inner}}}")),
                Some((a, b)) if valid(a) && b.is_empty() => Some(format!("{{{a},}}")),
                Some((a, b)) if valid(a) && valid(b) => Some(format!("{{{a},{b}}}")),
                Some((a, b)) if a.is_empty() && valid(b) => Some(format!("{{0,{b}}}")),
                _ => None,
            };
            if let Some(q) = form {
                self.out.push_str(&q);
                let after = i + 1 + close + 1;
                return if text.as_bytes().get(after) == Some(&b'?') {
                    self.out.push('?');
                    after + 1
                } else {
                    after
                };
            }
        }
        self.out.push_str("\\{");
        i + 1
    }

    /// `%{NAME}`, `%{NAME:semantic}`, `%{NAME:semantic:type}`.
    fn reference(&mut self, text: &str, start: usize) -> Result<usize, GrokError> {
        let body_start = start + 2;
        let Some(len) = text[body_start..].find('}') else {
            return Err(GrokError::BadReference { text: text[start..].to_string(), reason: "it has no closing `}`" });
        };
        let body = &text[body_start..body_start + len];
        let end = body_start + len + 1;
        let (name, rest) = match body.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (body, None),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(GrokError::BadReference {
                text: text[start..end].to_string(),
                reason: "a pattern name is letters, digits and `_`",
            });
        }
        let (semantic, conversion) = match rest {
            None => (None, Conversion::Text),
            Some(r) => match r.rsplit_once(':') {
                // A semantic may itself hold `:` only inside brackets; the last `:` before a
                // known type name is the type separator.
                Some((sem, "int")) => (Some(sem), Conversion::Int),
                Some((sem, "float")) => (Some(sem), Conversion::Float),
                // Logstash leaves a value of any other type a string; so does this, and says so.
                Some((sem, ty)) if !sem.contains('[') || sem.ends_with(']') => {
                    self.notes.push(format!(
                        "`{}`: grok converts only to `int` or `float`; `{ty}` leaves the value a string",
                        &text[start..end]
                    ));
                    (Some(sem), Conversion::Text)
                }
                _ => (Some(r), Conversion::Text),
            },
        };
        let library: &'a PatternLibrary = self.library;
        let Some(definition) = library.definition(name) else {
            return Err(GrokError::UnknownPattern { name: name.to_string(), suggestion: self.library.suggest(name) });
        };
        if let Some(pos) = self.stack.iter().position(|n| n == name) {
            let mut path: Vec<String> = self.stack[pos..].to_vec();
            path.push(name.to_string());
            return Err(GrokError::Cycle { path });
        }
        let capture_name = match semantic {
            Some("") => {
                return Err(GrokError::BadReference {
                    text: text[start..end].to_string(),
                    reason: "the field name after `:` is empty",
                })
            }
            Some(s) => Some(s),
            None if !self.options.named_captures_only => Some(name),
            None => None,
        };
        match capture_name {
            Some(field_name) => {
                let index = self.push_capture(field_name, conversion)?;
                self.out.push_str(&format!("(?P<g{index}>"));
            }
            None => self.out.push_str("(?:"),
        }
        self.stack.push(name.to_string());
        self.translate(definition)?;
        self.stack.pop();
        self.out.push(')');
        Ok(end)
    }

    fn push_capture(&mut self, name: &str, conversion: Conversion) -> Result<usize, GrokError> {
        let field =
            FieldRef::parse(name).map_err(|e| GrokError::BadFieldName { name: name.to_string(), reason: e.reason })?;
        self.captures.push(CaptureSpec { name: name.to_string(), field, conversion });
        Ok(self.captures.len() - 1)
    }

    /// A `(` outside a class: the group kinds of Oniguruma, mapped.
    fn group(&mut self, text: &str, i: usize) -> Result<usize, GrokError> {
        let rest = &text[i..];
        let named = |open: &str, close: char| -> Option<(&str, usize)> {
            let r = rest.strip_prefix(open)?;
            let end = r.find(close)?;
            Some((&r[..end], open.len() + end + 1))
        };
        if !rest.starts_with("(?<=") && !rest.starts_with("(?<!") {
            let inline = named("(?<", '>').or_else(|| named("(?P<", '>')).or_else(|| named("(?'", '\''));
            if let Some((name, consumed)) = inline {
                if name.is_empty() {
                    return Err(GrokError::Syntax {
                        pattern: text.to_string(),
                        message: "a named group has an empty name".into(),
                    });
                }
                let index = self.push_capture(name, Conversion::Text)?;
                self.out.push_str(&format!("(?P<g{index}>"));
                return Ok(i + consumed);
            }
        }
        for look in ["(?=", "(?!", "(?<=", "(?<!"] {
            if rest.starts_with(look) {
                self.needs_backtracking = true;
                self.out.push_str(look);
                return Ok(i + look.len());
            }
        }
        if rest.starts_with("(?>") {
            self.out.push_str(if self.target == Target::Backtracking { "(?>" } else { "(?:" });
            return Ok(i + 3);
        }
        if rest.starts_with("(?#") {
            let end = rest.find(')').map(|e| i + e + 1).unwrap_or(text.len());
            return Ok(end);
        }
        if let Some(flags) = rest.strip_prefix("(?") {
            // Inline flags `(?imx-imx)` or `(?imx-imx:...)`; Ruby's `m` is dot-all (`s` here).
            let len = flags.find([')', ':']).unwrap_or(flags.len());
            let spec = &flags[..len];
            if spec.bytes().all(|b| matches!(b, b'i' | b'm' | b'x' | b'-')) && len < flags.len() {
                self.out.push_str("(?");
                for ch in spec.chars() {
                    self.out.push(if ch == 'm' { 's' } else { ch });
                }
                let close = flags.as_bytes()[len] as char;
                self.out.push(close);
                return Ok(i + 2 + len + 1);
            }
            if flags.starts_with(':') {
                self.out.push_str("(?:");
                return Ok(i + 3);
            }
            return Err(GrokError::Syntax {
                pattern: text.to_string(),
                message: format!("unsupported group syntax `{}`", &rest[..rest.len().min(6)]),
            });
        }
        // A plain group: grok only turns named groups into fields, so it needs no capture slot
        // (fewer slots make matching faster), unless a `\1` refers to it.
        self.out.push_str(if self.numbered_backrefs { "(" } else { "(?:" });
        Ok(i + 1)
    }

    /// A backslash escape at `i`; returns the index after it.
    fn escape(&mut self, text: &str, i: usize, in_class: bool) -> Result<usize, GrokError> {
        let Some(c) = text[i + 1..].chars().next() else {
            return Err(GrokError::Syntax { pattern: text.to_string(), message: "it ends with a lone `\\`".into() });
        };
        let after = i + 1 + c.len_utf8();
        let class = |inside: &str, outside: &str| if in_class { inside.to_string() } else { outside.to_string() };
        let piece = match c {
            'd' => class("0-9", "[0-9]"),
            'D' => "[^0-9]".to_string(),
            'w' => class("0-9A-Za-z_", "[0-9A-Za-z_]"),
            'W' => "[^0-9A-Za-z_]".to_string(),
            's' => class("\\t\\n\\x0B\\x0C\\r ", "[\\t\\n\\x0B\\x0C\\r ]"),
            'S' => "[^\\t\\n\\x0B\\x0C\\r ]".to_string(),
            'h' => class("0-9A-Fa-f", "[0-9A-Fa-f]"),
            'H' => "[^0-9A-Fa-f]".to_string(),
            'b' if in_class => "\\x08".to_string(),
            'b' if self.target == Target::Linear => "(?-u:\\b)".to_string(),
            'B' if self.target == Target::Linear => "(?-u:\\B)".to_string(),
            'b' | 'B' | 'A' | 'z' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' => format!("\\{c}"),
            'Z' => "(?:\\n?\\z)".to_string(),
            'e' => "\\x1B".to_string(),
            '0' => "\\x00".to_string(),
            'x' | 'u' | 'p' | 'P' => {
                // Hex, Unicode and property escapes are spelled the same; copy with their
                // argument (`{...}` or a fixed number of characters).
                let rest = &text[after..];
                let arg_len = if rest.starts_with('{') {
                    rest.find('}').map(|e| e + 1).unwrap_or(0)
                } else {
                    match c {
                        'x' => rest.bytes().take(2).take_while(u8::is_ascii_hexdigit).count(),
                        'u' => rest.bytes().take(4).take_while(u8::is_ascii_hexdigit).count(),
                        _ => rest.chars().next().map(char::len_utf8).unwrap_or(0),
                    }
                };
                self.out.push('\\');
                self.out.push(c);
                self.out.push_str(&rest[..arg_len]);
                return Ok(after + arg_len);
            }
            '1'..='9' => {
                self.needs_backtracking = true;
                format!("\\{c}")
            }
            'k' => {
                // `\k<name>`: refer to the generated name of that inline group.
                self.needs_backtracking = true;
                let rest = &text[after..];
                if let Some(r) = rest.strip_prefix('<') {
                    if let Some(end) = r.find('>') {
                        let name = &r[..end];
                        let target = match self.captures.iter().position(|cap| cap.name == name) {
                            Some(index) => format!("g{index}"),
                            None => name.to_string(),
                        };
                        self.out.push_str(&format!("\\k<{target}>"));
                        return Ok(after + 1 + end + 1);
                    }
                }
                return Err(GrokError::Syntax {
                    pattern: text.to_string(),
                    message: "`\\k` must be followed by `<name>`".into(),
                });
            }
            'Q' => {
                let rest = &text[after..];
                let end = rest.find("\\E").unwrap_or(rest.len());
                self.out.push_str(&regex::escape(&rest[..end]));
                return Ok((after + end + 2).min(text.len()));
            }
            'E' => String::new(),
            'G' | 'K' | 'R' | 'X' | 'g' => {
                return Err(GrokError::Syntax {
                    pattern: text.to_string(),
                    message: format!("`\\{c}` is not supported"),
                })
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(GrokError::Syntax { pattern: text.to_string(), message: format!("unknown escape `\\{c}`") })
            }
            // `\<` and `\>` are word boundaries to the `regex` crate but literals to Oniguruma;
            // any other escaped symbol is that symbol.
            c if in_class => {
                if matches!(c, '[' | ']' | '\\' | '-' | '^' | '&' | '~') {
                    format!("\\{c}")
                } else {
                    c.to_string()
                }
            }
            c => regex::escape(c.encode_utf8(&mut [0; 4])),
        };
        self.out.push_str(&piece);
        Ok(after)
    }
}

fn next_char(text: &str, i: usize) -> char {
    text[i..].chars().next().unwrap_or('\u{FFFD}')
}

/// Whether an expression (before expansion) uses `\1`..`\9` outside a class.
fn has_numbered_backref(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            if (b'1'..=b'9').contains(&b[i + 1]) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// A compiled grok expression, ready to match.
pub struct CompiledGrok {
    pattern: String,
    expanded: Expanded,
    matcher: Matcher,
    /// For capture `i` of `expanded.captures`, its group index in the regex.
    group_index: Vec<usize>,
}

enum Matcher {
    Linear {
        /// The expression compiled four ways, by `variant_index`: for ASCII text or not, and for
        /// text with or without a newline. Log lines are nearly always ASCII and single-line, so
        /// that variant is built at once (and reports compile errors); the others on first use.
        variants: [OnceLock<Result<LinearVariant, String>>; 4],
    },
    Backtracking {
        regex: fancy_regex::Regex,
    },
}

struct LinearVariant {
    regex: regex::bytes::Regex,
    /// The piece-by-piece fast path (ASCII single-line variant only), when the expression cuts.
    sequence: Option<Sequence>,
    /// Capture-position buffers reused across events (one per concurrent caller).
    locations: Mutex<Vec<regex::bytes::CaptureLocations>>,
}

/// Which variant suits a text: bit 0 for a newline, bit 1 for non-ASCII bytes.
fn variant_index(text: &str) -> usize {
    let b = text.as_bytes();
    usize::from(memchr::memchr(b'\n', b).is_some()) | (usize::from(!b.is_ascii()) << 1)
}

/// The outcome of one match attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchResult {
    Matched,
    NoMatch,
    /// A backtracking expression went over its step limit.
    TimedOut,
}

impl std::fmt::Debug for CompiledGrok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledGrok").field("pattern", &self.pattern).field("regex", &self.expanded.regex).finish()
    }
}

/// Compile for the `regex` crate, byte-oriented. For ASCII text Unicode is off: `.` and
/// negated classes are then one state each instead of a UTF-8 automaton, which keeps the
/// automaton small enough for the fast capture engines on long lines, and for ASCII text the two
/// readings agree. Text with other characters gets the Unicode reading (a `.` is a character),
/// as does an expression that needs Unicode (`\p{L}`).
fn linear_regex(source: &str, variant: usize) -> Result<regex::bytes::Regex, String> {
    let build = |unicode: bool| {
        regex::bytes::RegexBuilder::new(source)
            .unicode(unicode)
            .multi_line(variant & 1 == 1)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
    };
    let unicode = variant & 2 == 2;
    build(unicode).or_else(|e| if unicode { Err(e) } else { build(true) }).map_err(|e| e.to_string())
}

/// `text[s..e]`, widened to character boundaries should a byte-oriented match have split one.
fn span(text: &str, mut s: usize, mut e: usize) -> &str {
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    while !text.is_char_boundary(e) {
        e += 1;
    }
    &text[s..e]
}

impl CompiledGrok {
    pub fn new(pattern: &str, library: &PatternLibrary, options: ExpandOptions) -> Result<CompiledGrok, GrokError> {
        let expanded = expand(pattern, library, options)?;
        let regex_error = |message: String| GrokError::Regex { pattern: pattern.to_string(), message };
        let (matcher, names): (Matcher, Vec<Option<String>>) = if expanded.needs_backtracking {
            let regex = fancy_regex::RegexBuilder::new(&expanded.regex)
                .multi_line(true)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(REGEX_SIZE_LIMIT)
                .delegate_dfa_size_limit(DFA_SIZE_LIMIT)
                .build()
                .map_err(|e| regex_error(e.to_string()))?;
            let names = regex.capture_names().map(|n| n.map(str::to_string)).collect();
            (Matcher::Backtracking { regex }, names)
        } else {
            let first = linear_regex(&expanded.regex, 0).map_err(regex_error)?;
            let names = first.capture_names().map(|n| n.map(str::to_string)).collect();
            let variants: [OnceLock<Result<LinearVariant, String>>; 4] = Default::default();
            let sequence = Sequence::new(&expanded.regex, expanded.captures.len());
            let _ = variants[0].set(Ok(LinearVariant { regex: first, sequence, locations: Mutex::new(Vec::new()) }));
            (Matcher::Linear { variants }, names)
        };
        let group_index = (0..expanded.captures.len())
            .map(|i| {
                let want = format!("g{i}");
                names.iter().position(|n| n.as_deref() == Some(want.as_str())).unwrap_or(0)
            })
            .collect();
        Ok(CompiledGrok { pattern: pattern.to_string(), expanded, matcher, group_index })
    }

    /// The expression as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The regex it expanded to (with generated group names).
    pub fn regex_source(&self) -> &str {
        &self.expanded.regex
    }

    /// The capture table, in group order.
    pub fn capture_specs(&self) -> &[CaptureSpec] {
        &self.expanded.captures
    }

    /// Remarks on the expression that are not errors (an unknown `:type` conversion...).
    pub fn notes(&self) -> &[String] {
        &self.expanded.notes
    }

    /// Whether it runs on the backtracking engine (it uses look-around or backreferences).
    pub fn uses_backtracking(&self) -> bool {
        self.expanded.needs_backtracking
    }

    /// Where the first match ends, if there is one.
    pub fn match_end(&self, text: &str) -> Option<usize> {
        match &self.matcher {
            Matcher::Linear { .. } => {
                let variant = self.linear(text)?;
                variant.regex.find(text.as_bytes()).map(|m| {
                    let mut end = m.end();
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    end
                })
            }
            Matcher::Backtracking { regex } => regex.find(text).ok().flatten().map(|m| m.end()),
        }
    }

    /// The linear-engine variant for a text, built on first need. `None` only if a variant
    /// that the first one proves compilable fails to build, which the regex crate does not do.
    fn linear(&self, text: &str) -> Option<&LinearVariant> {
        let Matcher::Linear { variants } = &self.matcher else { return None };
        let index = variant_index(text);
        variants[index]
            .get_or_init(|| {
                linear_regex(&self.expanded.regex, index)
                    .map(|regex| LinearVariant { regex, sequence: None, locations: Mutex::new(Vec::new()) })
            })
            .as_ref()
            .ok()
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.match_spans(text, |_, _| {}) == MatchResult::Matched
    }

    /// Match `text` and call `each` with every capture (in group order) and its text, or
    /// `None` for a group that took no part in the match. This is the per-event path: it
    /// allocates nothing itself.
    pub fn match_spans<'t>(&self, text: &'t str, mut each: impl FnMut(&CaptureSpec, Option<&'t str>)) -> MatchResult {
        match &self.matcher {
            Matcher::Linear { .. } => {
                let Some(variant) = self.linear(text) else { return MatchResult::NoMatch };
                if let Some(sequence) = &variant.sequence {
                    let done = sequence.run(text.as_bytes(), |slots| {
                        for (spec, slot) in self.expanded.captures.iter().zip(slots) {
                            each(spec, slot.map(|(s, e)| span(text, s, e)));
                        }
                    });
                    if done.is_some() {
                        return MatchResult::Matched;
                    }
                }
                let mut locs = variant.locations.lock().pop().unwrap_or_else(|| variant.regex.capture_locations());
                let matched = variant.regex.captures_read(&mut locs, text.as_bytes()).is_some();
                if matched {
                    for (spec, &group) in self.expanded.captures.iter().zip(&self.group_index) {
                        each(spec, locs.get(group).map(|(s, e)| span(text, s, e)));
                    }
                }
                variant.locations.lock().push(locs);
                if matched {
                    MatchResult::Matched
                } else {
                    MatchResult::NoMatch
                }
            }
            Matcher::Backtracking { regex } => match regex.captures(text) {
                Ok(Some(caps)) => {
                    for (spec, &group) in self.expanded.captures.iter().zip(&self.group_index) {
                        each(spec, caps.get(group).map(|m| &text[m.start()..m.end()]));
                    }
                    MatchResult::Matched
                }
                Ok(None) => MatchResult::NoMatch,
                Err(_) => MatchResult::TimedOut,
            },
        }
    }

    /// The fields a match yields, as the filter would set them by default: empty and absent
    /// captures are left out, `:int`/`:float` are converted. `None` when it does not match.
    pub fn captures(&self, text: &str) -> Option<Vec<(String, Value)>> {
        self.captures_with(text, false)
    }

    /// Like `captures`; with `keep_empty` also the empty ones (and `null` for groups that took
    /// no part), as `keep_empty_captures => true` does.
    pub fn captures_with(&self, text: &str, keep_empty: bool) -> Option<Vec<(String, Value)>> {
        let mut out = Vec::new();
        let result = self.match_spans(text, |spec, value| match value {
            Some(v) if !v.is_empty() || keep_empty => out.push((spec.name.clone(), convert(v, spec.conversion))),
            None if keep_empty => out.push((spec.name.clone(), Value::Null)),
            _ => {}
        });
        (result == MatchResult::Matched).then_some(out)
    }
}

/// A capture's text as the value it becomes.
pub fn convert(text: &str, conversion: Conversion) -> Value {
    match conversion {
        Conversion::Text => Value::String(text.to_string()),
        Conversion::Int => Value::from(ruby_to_i(text)),
        Conversion::Float => {
            let f = ruby_to_f(text);
            if f.is_finite() {
                Value::from(f)
            } else {
                Value::Null
            }
        }
    }
}

/// The leading integer of a string, 0 when there is none (saturating on overflow).
fn ruby_to_i(text: &str) -> i64 {
    let t = text.trim_start();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => n = n.saturating_mul(10).saturating_add(i64::from(b - b'0')),
            b'_' => {}
            _ => break,
        }
    }
    if negative {
        -n
    } else {
        n
    }
}

/// The leading decimal number of a string, 0.0 when there is none.
fn ruby_to_f(text: &str) -> f64 {
    let t = text.trim_start().as_bytes();
    let mut end = 0;
    if matches!(t.first(), Some(b'-' | b'+')) {
        end = 1;
    }
    let digits = |from: usize| t[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let int_digits = digits(end);
    end += int_digits;
    if t.get(end) == Some(&b'.') && t.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1 + digits(end + 1);
    }
    if int_digits > 0 && matches!(t.get(end), Some(b'e' | b'E')) {
        let mut exp = end + 1;
        if matches!(t.get(exp), Some(b'-' | b'+')) {
            exp += 1;
        }
        let n = digits(exp);
        if n > 0 {
            end = exp + n;
        }
    }
    std::str::from_utf8(&t[..end]).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0)
}

/// One piece of an expression at its top level, for cutting it into prefixes.
fn top_level_pieces(pattern: &str) -> Vec<usize> {
    // Returns the end offsets of the pieces: a `%{...}` reference, a group, a class, an escape,
    // or one character, each with any quantifier that follows it.
    let b = pattern.as_bytes();
    let mut ends = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i] == b'%' && b.get(i + 1) == Some(&b'{') {
            i = pattern[i..].find('}').map(|e| i + e + 1).unwrap_or(b.len());
        } else if b[i] == b'(' {
            let mut depth = 0usize;
            let mut in_class = false;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 1,
                    b'[' if !in_class => in_class = true,
                    b']' if in_class => in_class = false,
                    b'(' if !in_class => depth += 1,
                    b')' if !in_class => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i = i.min(b.len());
        } else if b[i] == b'[' {
            i += 1;
            if b.get(i) == Some(&b'^') {
                i += 1;
            }
            if b.get(i) == Some(&b']') {
                i += 1;
            }
            while i < b.len() && b[i] != b']' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else if b[i] == b'\\' {
            i = (i + 1 + next_char(pattern, (i + 1).min(b.len() - 1)).len_utf8()).min(b.len());
        } else {
            i += next_char(pattern, i).len_utf8();
        }
        // Quantifiers stick to the piece before them.
        loop {
            match b.get(i) {
                Some(b'*' | b'+' | b'?') => i += 1,
                Some(b'{') => match pattern[i..].find('}') {
                    Some(e) if pattern[i + 1..i + e].bytes().all(|c| c.is_ascii_digit() || c == b',') && e > 1 => {
                        i += e + 1
                    }
                    _ => break,
                },
                _ => break,
            }
        }
        if i > start {
            ends.push(i);
        }
    }
    ends
}

/// What `longest_matching_prefix` found.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixMatch {
    /// The longest prefix of the expression that matches at the start of the line.
    pub pattern: String,
    /// The part of the expression after it (where matching stopped).
    pub rest_of_pattern: String,
    /// The text that prefix matched.
    pub matched_text: String,
    /// The fields that prefix captured.
    pub captures: Vec<(String, Value)>,
}

/// The longest prefix of `pattern` — cut between top-level `%{...}` references, groups and
/// literal characters — that matches at the start of `line`. `Ok(None)` when not even the first
/// piece matches. This is what a grok debugger shows for a line that does not match.
pub fn longest_matching_prefix(
    pattern: &str,
    line: &str,
    library: &PatternLibrary,
) -> Result<Option<PrefixMatch>, GrokError> {
    // Errors in the whole expression (unknown pattern...) are the first thing to report.
    CompiledGrok::new(pattern, library, ExpandOptions::default())?;
    let ends = top_level_pieces(pattern);
    // Longest first; a prefix ending in a bare `|` would match the empty string and say
    // nothing, so it is skipped, as is one that does not compile on its own.
    for &end in ends.iter().rev() {
        let prefix = &pattern[..end];
        if prefix.ends_with('|') && !prefix.ends_with("\\|") {
            continue;
        }
        let Ok(compiled) = CompiledGrok::new(&format!("\\A(?:{prefix})"), library, ExpandOptions::default()) else {
            continue;
        };
        let Some(matched_to) = compiled.match_end(line) else { continue };
        let captures = compiled.captures(line).unwrap_or_default();
        return Ok(Some(PrefixMatch {
            pattern: prefix.to_string(),
            rest_of_pattern: pattern[end..].to_string(),
            matched_text: line[..matched_to].to_string(),
            captures,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(defs: &[(&str, &str)]) -> PatternLibrary {
        let mut l = PatternLibrary::empty();
        for (n, p) in defs {
            l.insert(n, p, "test");
        }
        l
    }

    #[test]
    fn references_expand_into_generated_groups_with_a_side_table() {
        let l = lib(&[("WORD", r"\b\w+\b"), ("NUM", r"[0-9]+")]);
        let e = expand("%{WORD:verb} %{NUM:[http][status]:int} %{WORD}", &l, ExpandOptions::default()).unwrap();
        assert_eq!(e.regex, r"(?P<g0>(?-u:\b)[0-9A-Za-z_]+(?-u:\b)) (?P<g1>[0-9]+) (?:(?-u:\b)[0-9A-Za-z_]+(?-u:\b))");
        assert_eq!(e.captures.len(), 2);
        assert_eq!(e.captures[0].name, "verb");
        assert_eq!(e.captures[1].field.to_string(), "[http][status]");
        assert_eq!(e.captures[1].conversion, Conversion::Int);
        assert!(!e.needs_backtracking);
    }

    #[test]
    fn unnamed_references_capture_under_their_pattern_name_when_asked() {
        let l = lib(&[("WORD", r"\w+")]);
        let e = expand("%{WORD} %{WORD:x}", &l, ExpandOptions { named_captures_only: false }).unwrap();
        let names: Vec<_> = e.captures.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["WORD", "x"]);
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let l = lib(&[("A", "a%{B}"), ("B", "b%{C}"), ("C", "%{A}")]);
        match expand("x%{A}", &l, ExpandOptions::default()) {
            Err(GrokError::Cycle { path }) => assert_eq!(path, ["A", "B", "C", "A"]),
            other => panic!("{other:?}"),
        }
        let l = lib(&[("SELF", "%{SELF}")]);
        assert!(matches!(expand("%{SELF}", &l, ExpandOptions::default()), Err(GrokError::Cycle { .. })));
    }

    #[test]
    fn oniguruma_spellings_are_translated() {
        let l = PatternLibrary::empty();
        let t = |p: &str| expand(p, &l, ExpandOptions::default()).unwrap().regex;
        assert_eq!(t(r"(?>a+)b++c?+"), "(?:a+)b+c?");
        assert_eq!(t(r"\<x\>"), "<x>");
        assert_eq!(t(r"a{,3}{x}"), r"a{0,3}\{x\}");
        assert_eq!(t(r"(?m)."), "(?s).");
        assert_eq!(t(r"[\w.-]"), "[0-9A-Za-z_.-]");
        assert_eq!(t(r"(a|b)"), "(?:a|b)");
        assert_eq!(t(r"\/\:"), "/:");
        assert!(expand(r"(?<=a)b", &l, ExpandOptions::default()).unwrap().needs_backtracking);
        assert!(expand(r"(a)\1", &l, ExpandOptions::default()).unwrap().needs_backtracking);
    }

    #[test]
    fn inline_named_groups_may_be_field_references() {
        let l = PatternLibrary::empty();
        let e = expand(r"(?<[a][b]>x+)(?<plain>y)", &l, ExpandOptions::default()).unwrap();
        assert_eq!(e.regex, "(?P<g0>x+)(?P<g1>y)");
        assert_eq!(e.captures[0].field.to_string(), "[a][b]");
    }

    #[test]
    fn unknown_patterns_suggest_a_close_name() {
        let l = lib(&[("IPORHOST", "x")]);
        match expand("%{IPORHOTS}", &l, ExpandOptions::default()) {
            Err(GrokError::UnknownPattern { name, suggestion }) => {
                assert_eq!(name, "IPORHOTS");
                assert_eq!(suggestion.as_deref(), Some("IPORHOST"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conversions_read_leading_numbers_like_ruby() {
        assert_eq!(ruby_to_i("42"), 42);
        assert_eq!(ruby_to_i("-7abc"), -7);
        assert_eq!(ruby_to_i("12.9"), 12);
        assert_eq!(ruby_to_i("x"), 0);
        assert_eq!(ruby_to_f("3.25"), 3.25);
        assert_eq!(ruby_to_f("1e3ms"), 1000.0);
        assert_eq!(ruby_to_f("-.5"), -0.5);
        assert_eq!(ruby_to_f("abc"), 0.0);
    }

    #[test]
    fn lookaround_expressions_run_on_the_backtracking_engine() {
        let l = PatternLibrary::empty();
        let g = CompiledGrok::new(r"(?<word>\w+)(?= end)", &l, ExpandOptions::default()).unwrap();
        assert!(g.uses_backtracking());
        assert_eq!(g.captures("foo end"), Some(vec![("word".to_string(), Value::from("foo"))]));
        assert_eq!(g.captures("foo"), None);
    }

    #[test]
    fn anchors_match_at_line_boundaries_as_in_ruby() {
        let l = PatternLibrary::empty();
        let g = CompiledGrok::new(r"^(?<n>[0-9]+)$", &l, ExpandOptions::default()).unwrap();
        assert_eq!(g.captures("abc\n123\nxyz"), Some(vec![("n".to_string(), Value::from("123"))]));
        assert_eq!(g.captures("123"), Some(vec![("n".to_string(), Value::from("123"))]));
        assert_eq!(g.captures("a123"), None);
    }

    #[test]
    fn non_ascii_text_is_read_by_characters() {
        let l = lib(&[("GREEDYDATA", ".*")]);
        let g = CompiledGrok::new(r"^(?<two>.{2}) %{GREEDYDATA:rest}$", &l, ExpandOptions::default()).unwrap();
        assert_eq!(
            g.captures("éa ünïcödé ✓"),
            Some(vec![("two".into(), Value::from("éa")), ("rest".into(), Value::from("ünïcödé ✓"))])
        );
        assert_eq!(
            g.captures("ab plain"),
            Some(vec![("two".into(), Value::from("ab")), ("rest".into(), Value::from("plain"))])
        );
        let g = CompiledGrok::new(r"(?<word>\w+)", &l, ExpandOptions::default()).unwrap();
        // `\w` is ASCII, as in Oniguruma's Ruby syntax.
        assert_eq!(g.captures("ééabc"), Some(vec![("word".into(), Value::from("abc"))]));
    }

    #[test]
    fn the_longest_matching_prefix_stops_where_the_line_diverges() {
        let l = lib(&[("INT", "[0-9]+"), ("WORD", "[a-z]+")]);
        let m = longest_matching_prefix("%{INT:a} %{WORD:b} %{INT:c}", "12 abc xyz", &l).unwrap().unwrap();
        assert_eq!(m.pattern, "%{INT:a} %{WORD:b} ");
        assert_eq!(m.rest_of_pattern, "%{INT:c}");
        assert_eq!(m.matched_text, "12 abc ");
        assert_eq!(m.captures.len(), 2);
        assert_eq!(longest_matching_prefix("%{INT:a}", "abc", &l).unwrap(), None);
    }
}

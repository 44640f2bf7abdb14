//! Parser for the Logstash pipeline configuration language (LSCL), producing `ast::Config`.
//! It follows Logstash's `lscl_grammar.treetop` rule for rule (one nom function per rule, named
//! after it) and gives every node the byte span it came from. Errors are reported the way a PEG
//! parser should report them: at the furthest position any alternative reached, listing everything
//! that would have been accepted there, with a few targeted diagnostics (unterminated strings,
//! commas between attributes, `else` without `if`, unclosed blocks...) that say what to fix.
//!
//! Grammar decisions that differ from, or go beyond, the treetop grammar are marked `DECISION:`.

use std::cell::{Cell, RefCell};

use nom::branch::alt;
use nom::combinator::{cut, map, opt};
use nom::multi::many0;
use nom::sequence::{preceded, terminated};
use nom::{IResult, InputLength};

use super::ast::{
    Attribute, BoolOp, Branch, CompareOp, Condition, Config, HashEntry, Plugin, PluginKind, Rvalue,
    RvalueKind, Section, Span, Statement, Value, ValueKind,
};
use super::source::SourceMap;

/// Settings that change how the text is read, mirroring `logstash.yml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// `config.support_escapes`. Checked against Logstash (`compiler/lscl.rb`, class `String`, and
    /// `config/string_escape.rb`): when false (the default) a quoted string's value is the text
    /// between the quotes exactly as written, so in `"a\"b"` the value is `a\"b`, backslash kept;
    /// the grammar alone makes `\"` (resp. `\'`) not end the string. When true, `\"` `\'` `\\` `\n`
    /// `\r` `\t` `\0` are translated and any other backslash sequence is kept as written. Logstash
    /// applies this to values, hash keys and condition strings, not to plugin or attribute names.
    pub support_escapes: bool,
}

/// Why the text is not a valid config. `offset` is a byte offset into the parsed text; give it to
/// `SourceMap::render` together with `message` for a file:line:column report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct ParseError {
    /// Where the parse stopped: the furthest position reached, or the start of the offending token.
    pub offset: usize,
    /// What would have been accepted at `offset`, e.g. "`=>`", "`}`", "a value".
    pub expected: Vec<String>,
    /// One line for a person, e.g. "expected `=>`, found `{`".
    pub message: String,
    /// Where the block that is probably missing its closing delimiter was opened, when known.
    pub opened_at: Option<usize>,
}

/// Parses one config text with default options (`config.support_escapes: false`).
pub fn parse(text: &str) -> Result<Config, ParseError> {
    parse_with(text, ParseOptions::default())
}

/// Parses one config text as a single source. Line numbers inside messages count from its start.
pub fn parse_with(text: &str, opts: ParseOptions) -> Result<Config, ParseError> {
    let describe = |offset: usize| format!("line {}", line_of(text, offset));
    parse_region(text, 0, text.len(), opts, &describe)
}

/// Parses each file of `map` on its own, the way Logstash 6+ does (`LogStash::Compiler.
/// compile_sources` parses every source separately and then merges the sections), so a block can
/// neither start in one file and end in another nor hide a missing `}` behind the next file.
/// Spans are offsets into `map.text()`, sections come in file order.
pub fn parse_sources(map: &SourceMap, opts: ParseOptions) -> Result<Config, ParseError> {
    let text = map.text();
    let describe = |offset: usize| format!("line {}", map.locate(offset).line);
    let mut sections = Vec::new();
    for range in map.file_ranges() {
        sections.extend(parse_region(text, range.start, range.end, opts, &describe)?.sections);
    }
    Ok(Config { sections })
}

fn parse_region(
    text: &str,
    start: usize,
    end: usize,
    opts: ParseOptions,
    describe: &dyn Fn(usize) -> String,
) -> Result<Config, ParseError> {
    let region = text.get(..end).unwrap_or(text);
    let state = State {
        opts,
        depth: Cell::new(0),
        furthest: RefCell::new(Furthest::default()),
    };
    let input = In {
        text: region,
        pos: start.min(region.len()),
        st: &state,
    };
    match config(input) {
        Ok((_, sections)) => Ok(Config { sections }),
        Err(nom::Err::Failure(Fail(Some(hard)))) => Err(hard.into_error(describe)),
        Err(_) => Err(state.report(region, describe)),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

// ---------------------------------------------------------------------------------------------
// Parser plumbing: input type, error type, furthest-failure bookkeeping.

/// Deepest nesting of blocks, arrays, hashes and parentheses accepted. Real configs stay far below;
/// the limit exists so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

/// The input every rule receives: the text, a cursor and the shared parse state. Carrying the
/// state in the input (rather than in a global) keeps rules plain nom functions.
#[derive(Clone, Copy)]
struct In<'a> {
    text: &'a str,
    pos: usize,
    st: &'a State,
}

impl<'a> In<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }
    fn bytes(&self) -> &'a [u8] {
        self.rest().as_bytes()
    }
    fn peek(&self) -> Option<u8> {
        self.bytes().first().copied()
    }
    fn peek_at(&self, n: usize) -> Option<u8> {
        self.bytes().get(n).copied()
    }
    /// Callers only advance over complete characters, so `pos` stays on a char boundary.
    fn advance(self, n: usize) -> Self {
        In {
            pos: self.pos + n,
            ..self
        }
    }
    fn span_to(&self, end: In<'_>) -> Span {
        Span {
            start: self.pos,
            end: end.pos,
        }
    }
}

impl InputLength for In<'_> {
    fn input_len(&self) -> usize {
        self.text.len().saturating_sub(self.pos)
    }
}

type PResult<'a, O> = IResult<In<'a>, O, Fail>;

/// nom's error value. A soft failure (`None`) carries nothing: what was expected is recorded in
/// `State::furthest` as it happens, because nom drops the error of the alternative that went
/// furthest as soon as another alternative or `many0` backtracks past it. A hard failure carries a
/// diagnosis that is certain (an unterminated string cannot be anything else) and is reported as is.
#[derive(Debug)]
struct Fail(Option<Box<Hard>>);

#[derive(Debug)]
struct Hard {
    pos: usize,
    message: String,
    expected: Vec<String>,
    /// When set, `message` is completed with "expected `}` to close the block opened at ...".
    unclosed: Option<usize>,
}

impl Hard {
    fn into_error(self, describe: &dyn Fn(usize) -> String) -> ParseError {
        let message = match self.unclosed {
            Some(open) => format!(
                "{}: expected `}}` to close the block opened at {}",
                self.message,
                describe(open)
            ),
            None => self.message,
        };
        ParseError {
            offset: self.pos,
            expected: self.expected,
            message,
            opened_at: self.unclosed,
        }
    }
}

impl<'a> nom::error::ParseError<In<'a>> for Fail {
    fn from_error_kind(_: In<'a>, _: nom::error::ErrorKind) -> Self {
        Fail(None)
    }
    fn append(_: In<'a>, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
    fn or(self, other: Self) -> Self {
        if self.0.is_some() { self } else { other }
    }
}

fn soft<'a, O>() -> PResult<'a, O> {
    Err(nom::Err::Error(Fail(None)))
}

fn hard<'a, O>(pos: usize, message: String, expected: &[&str]) -> PResult<'a, O> {
    let expected = expected.iter().map(|s| s.to_string()).collect();
    Err(nom::Err::Failure(Fail(Some(Box::new(Hard {
        pos,
        message,
        expected,
        unclosed: None,
    })))))
}

/// One thing that would have been accepted: a literal token (shown in backticks) or a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Tok(&'static str),
    Label(&'static str),
}

impl Expect {
    fn render(self) -> String {
        match self {
            Expect::Tok(t) => format!("`{t}`"),
            Expect::Label(l) => l.to_string(),
        }
    }
}

const A_VALUE: &[Expect] = &[Expect::Label("a value")];
const A_CONDITION: &[Expect] = &[Expect::Label("a condition")];
const A_HASH_KEY: &[Expect] = &[Expect::Label("a hash key")];
const AN_ATTRIBUTE: &[Expect] = &[Expect::Label("a setting name")];
const A_STATEMENT: &[Expect] = &[Expect::Tok("if"), Expect::Label("a plugin name")];
const A_BOOL_OP: &[Expect] = &[Expect::Label(
    "a boolean operator (`and`, `or`, `xor`, `nand`)",
)];
const A_COMPARE_OP: &[Expect] = &[Expect::Label("a comparison operator")];
const A_REGEX_RHS: &[Expect] = &[
    Expect::Label("a regular expression"),
    Expect::Label("a string"),
];
const AFTER_NOT: &[Expect] = &[Expect::Tok("("), Expect::Label("a field reference")];
const AFTER_ELSE: &[Expect] = &[Expect::Tok("if"), Expect::Tok("{")];

struct State {
    opts: ParseOptions,
    depth: Cell<usize>,
    furthest: RefCell<Furthest>,
}

/// The furthest position where something failed and everything that was expected there.
#[derive(Default)]
struct Furthest {
    pos: usize,
    expected: Vec<Expect>,
    hints: Vec<String>,
    /// (offset of the opening delimiter, closing token, what it opened) for the innermost
    /// construct whose closing delimiter was expected at `pos`.
    opener: Option<(usize, &'static str, &'static str)>,
}

impl Furthest {
    /// Moves the frontier forward if `pos` is beyond it; true when `pos` is the frontier.
    fn reach(&mut self, pos: usize) -> bool {
        if pos > self.pos {
            self.pos = pos;
            self.expected.clear();
            self.hints.clear();
            self.opener = None;
        }
        pos == self.pos
    }
    fn add(&mut self, e: Expect) {
        if !self.expected.contains(&e) {
            self.expected.push(e);
        }
    }
}

impl State {
    fn record(&self, pos: usize, e: Expect) {
        let mut f = self.furthest.borrow_mut();
        if f.reach(pos) {
            f.add(e);
        }
    }

    fn record_closer(&self, pos: usize, tok: &'static str, open: usize, what: &'static str) {
        let mut f = self.furthest.borrow_mut();
        if f.reach(pos) {
            f.add(Expect::Tok(tok));
            // The first closer recorded at a position belongs to the innermost open construct.
            if f.opener.is_none() {
                f.opener = Some((open, tok, what));
            }
        }
    }

    fn hint(&self, pos: usize, hint: String) {
        let mut f = self.furthest.borrow_mut();
        if f.reach(pos) && !f.hints.contains(&hint) {
            f.hints.push(hint);
        }
    }

    fn mark(&self) -> (usize, usize) {
        let f = self.furthest.borrow();
        (f.pos, f.expected.len())
    }

    /// Replaces what sub-rules recorded at `pos` since `mark` by `labels`, so a failed value
    /// reads "expected a value" instead of listing every kind of value.
    fn relabel(&self, pos: usize, mark: (usize, usize), labels: &[Expect]) {
        let mut f = self.furthest.borrow_mut();
        if f.pos > pos {
            return; // a sub-rule got further; its expectations are more precise
        }
        if f.pos == pos {
            if mark.0 == pos {
                f.expected.truncate(mark.1);
            } else {
                f.expected.clear();
            }
        }
        f.reach(pos);
        for &l in labels {
            f.add(l);
        }
    }

    fn report(&self, text: &str, describe: &dyn Fn(usize) -> String) -> ParseError {
        let f = self.furthest.borrow();
        let expected: Vec<String> = f.expected.iter().map(|e| e.render()).collect();
        let mut message = if f.pos >= text.len() {
            match f.opener {
                Some((open, tok, what)) => format!(
                    "unexpected end of input: expected `{tok}` to close the {what} opened at {}",
                    describe(open)
                ),
                None => format!("unexpected end of input: {}", expected_phrase(&expected)),
            }
        } else {
            format!(
                "{}, found {}",
                expected_phrase(&expected),
                found_at(text, f.pos)
            )
        };
        for h in &f.hints {
            message.push_str("; ");
            message.push_str(h);
        }
        let opened_at = if f.pos >= text.len() {
            f.opener.map(|o| o.0)
        } else {
            None
        };
        ParseError {
            offset: f.pos,
            expected,
            message,
            opened_at,
        }
    }
}

fn expected_phrase(expected: &[String]) -> String {
    match expected {
        [] => "syntax error".to_string(),
        [one] => format!("expected {one}"),
        many => format!("expected one of {}", many.join(", ")),
    }
}

fn found_at(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    match rest.chars().next() {
        None => "end of input".to_string(),
        Some(c) if is_name_char(c) => {
            let word: String = rest
                .chars()
                .take_while(|&c| is_name_char(c))
                .take(32)
                .collect();
            format!("`{word}`")
        }
        Some(c) if "=!<>~".contains(c) => {
            let op: String = rest
                .chars()
                .take_while(|&c| "=!<>~".contains(c))
                .take(3)
                .collect();
            format!("`{op}`")
        }
        Some(c) => format!("`{}`", c.escape_debug()),
    }
}

/// Runs `p`; if it fails without getting past its starting point, what it expected there is
/// summarised by `labels`.
fn labeled<'a, O, P>(labels: &'static [Expect], mut p: P) -> impl FnMut(In<'a>) -> PResult<'a, O>
where
    P: FnMut(In<'a>) -> PResult<'a, O>,
{
    move |i: In<'a>| {
        let mark = i.st.mark();
        match p(i) {
            Err(nom::Err::Error(e)) => {
                i.st.relabel(i.pos, mark, labels);
                Err(nom::Err::Error(e))
            }
            other => other,
        }
    }
}

/// Counts nesting so that absurdly deep input fails cleanly instead of overflowing the stack.
fn nested<'a, O>(i: In<'a>, f: impl FnOnce(In<'a>) -> PResult<'a, O>) -> PResult<'a, O> {
    let depth = i.st.depth.get();
    if depth >= MAX_DEPTH {
        return hard(
            i.pos,
            format!("nesting is deeper than {MAX_DEPTH} levels"),
            &[],
        );
    }
    i.st.depth.set(depth + 1);
    let result = f(i);
    i.st.depth.set(depth);
    result
}

// ---------------------------------------------------------------------------------------------
// Lexical rules.

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    is_word_byte(b) || b == b'-'
}

/// `_`: spaces, tabs, CR, LF and `#` comments up to the end of the line. DECISION: a comment
/// may end the input without a newline (treetop's `comment` rule demands one); a UTF-8 byte-order
/// mark counts as whitespace, since editors on Windows add one and nobody can see it.
fn ws(i: In<'_>) -> PResult<'_, ()> {
    let b = i.bytes();
    let mut n = 0;
    loop {
        match b.get(n) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => n += 1,
            Some(b'#') => {
                n += b[n..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len() - n, |k| k + 1);
            }
            Some(0xEF) if b[n..].starts_with(&[0xEF, 0xBB, 0xBF]) => n += 3,
            _ => break,
        }
    }
    Ok((i.advance(n), ()))
}

/// A literal punctuation token.
fn token<'a>(tok: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Span> {
    move |i: In<'a>| {
        if i.rest().starts_with(tok) {
            let j = i.advance(tok.len());
            Ok((j, i.span_to(j)))
        } else {
            i.st.record(i.pos, Expect::Tok(tok));
            soft()
        }
    }
}

/// True when `kw` starts here as a whole word (`iffy` is not `if`).
fn keyword_here(i: In<'_>, kw: &str) -> bool {
    i.rest().starts_with(kw) && !i.peek_at(kw.len()).is_some_and(is_name_byte)
}

/// A keyword: the word followed by a word boundary.
fn keyword<'a>(kw: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Span> {
    move |i: In<'a>| {
        if keyword_here(i, kw) {
            let j = i.advance(kw.len());
            Ok((j, i.span_to(j)))
        } else {
            i.st.record(i.pos, Expect::Tok(kw));
            soft()
        }
    }
}

/// The closing delimiter of something opened at `open`; remembers the opener so that running out
/// of input can be reported as "expected `}` to close the block opened at line N".
fn close<'a>(
    open: usize,
    tok: &'static str,
    what: &'static str,
) -> impl Fn(In<'a>) -> PResult<'a, ()> {
    move |i: In<'a>| {
        if i.rest().starts_with(tok) {
            Ok((i.advance(tok.len()), ()))
        } else {
            i.st.record_closer(i.pos, tok, open, what);
            soft()
        }
    }
}

/// `[A-Za-z0-9_-]+ / string`: plugin names and setting names. A quoted name is taken without
/// its quotes and without escape processing (as Logstash does for setting names).
fn name(i: In<'_>) -> PResult<'_, (String, Span)> {
    let n = i.bytes().iter().take_while(|&&b| is_name_byte(b)).count();
    if n > 0 {
        let j = i.advance(n);
        return Ok((j, (i.rest()[..n].to_string(), i.span_to(j))));
    }
    map(string_raw, |(raw, span)| (raw.to_string(), span))(i)
}

/// `[A-Za-z_][A-Za-z0-9_]+`: at least two characters.
fn bareword(i: In<'_>) -> PResult<'_, (&str, Span)> {
    let b = i.bytes();
    match b.first() {
        Some(&c) if c.is_ascii_alphabetic() || c == b'_' => {
            let n = 1 + b[1..].iter().take_while(|&&c| is_word_byte(c)).count();
            if n >= 2 {
                let j = i.advance(n);
                Ok((j, (&i.rest()[..n], i.span_to(j))))
            } else {
                let c = c as char;
                i.st.hint(
                    i.pos,
                    format!("a bareword needs at least two characters, quote it: \"{c}\""),
                );
                soft()
            }
        }
        _ => soft(),
    }
}

/// `-?[0-9]+(\.[0-9]*)?`, kept as written.
fn number(i: In<'_>) -> PResult<'_, (&str, Span)> {
    let b = i.bytes();
    let mut n = usize::from(b.first() == Some(&b'-'));
    let digits = b[n..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return soft();
    }
    n += digits;
    if b.get(n) == Some(&b'.') {
        n += 1;
        n += b[n..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    let j = i.advance(n);
    Ok((j, (&i.rest()[..n], i.span_to(j))))
}

/// `'"' ( '\"' / !'"' . )* '"'`; returns the text between the quotes, untouched.
fn double_quoted_string(i: In<'_>) -> PResult<'_, (&str, Span)> {
    quoted(i, b'"')
}

/// `"'" ( "\'" / !"'" . )* "'"`; returns the text between the quotes, untouched.
fn single_quoted_string(i: In<'_>) -> PResult<'_, (&str, Span)> {
    quoted(i, b'\'')
}

fn quoted(i: In<'_>, q: u8) -> PResult<'_, (&str, Span)> {
    let b = i.bytes();
    if b.first() != Some(&q) {
        return soft();
    }
    // Byte scanning is safe for UTF-8: quote and backslash bytes never occur inside a multi-byte
    // character, so every stop is on a char boundary.
    let mut n = 1;
    loop {
        match b.get(n) {
            None => {
                let qc = q as char;
                let mut message = format!("unterminated string: this `{qc}` is never closed");
                if i.rest().contains(&format!("\\{qc}")) {
                    message.push_str(&format!(
                        " (a backslash before `{qc}` keeps the string open, so a value cannot end with a backslash)"
                    ));
                }
                let closing = if q == b'"' { "`\"`" } else { "`'`" };
                return hard(i.pos, message, &[closing]);
            }
            Some(b'\\') if b.get(n + 1) == Some(&q) => n += 2,
            Some(&c) if c == q => break,
            Some(_) => n += 1,
        }
    }
    let j = i.advance(n + 1);
    Ok((j, (&i.rest()[1..n], i.span_to(j))))
}

/// `double_quoted_string / single_quoted_string`, raw.
fn string_raw(i: In<'_>) -> PResult<'_, (&str, Span)> {
    alt((double_quoted_string, single_quoted_string))(i)
}

/// A string value, escapes processed according to `ParseOptions::support_escapes`.
fn string(i: In<'_>) -> PResult<'_, (String, Span)> {
    let support = i.st.opts.support_escapes;
    map(string_raw, move |(raw, span)| {
        (unescape(raw, support), span)
    })(i)
}

/// Logstash's `StringEscape.process_escapes`: `\\.` is replaced when it is a known escape and
/// kept as written otherwise (`.` does not match a newline there, so `\` + newline is kept too).
fn unescape(raw: &str, support_escapes: bool) -> String {
    if !support_escapes || !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let translated = match chars.peek() {
            Some(&e @ ('"' | '\'' | '\\')) => Some(e),
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('t') => Some('\t'),
            Some('0') => Some('\0'),
            _ => None,
        };
        match translated {
            Some(t) => {
                out.push(t);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `'/' ( '\/' / !'/' . )* '/'`. DECISION: per the AST contract the pattern has `\/` turned into
/// `/` (Logstash passes `\/` through to a regex engine that accepts it; Rust's may not).
fn regexp(i: In<'_>) -> PResult<'_, (String, Span)> {
    let b = i.bytes();
    if b.first() != Some(&b'/') {
        return soft();
    }
    let rest = i.rest();
    let mut pattern = String::new();
    let mut n = 1;
    let mut copied = 1;
    loop {
        match b.get(n) {
            None => {
                return hard(
                    i.pos,
                    "unterminated regular expression: this / is never closed".to_string(),
                    &["`/`"],
                );
            }
            Some(b'\\') if b.get(n + 1) == Some(&b'/') => {
                pattern.push_str(&rest[copied..n]);
                pattern.push('/');
                n += 2;
                copied = n;
            }
            Some(b'/') => break,
            Some(_) => n += 1,
        }
    }
    pattern.push_str(&rest[copied..n]);
    let j = i.advance(n + 1);
    Ok((j, (pattern, i.span_to(j))))
}

/// `selector_element+` with `selector_element = "[" [^\]\[,]+ "]"`, kept as written.
/// As in Logstash's grammar `[` is excluded inside an element too, so `[a[b]` is not a selector;
/// note that `["x"]` IS a selector (Logstash reads it so), not a one-element array.
fn selector(i: In<'_>) -> PResult<'_, (String, Span)> {
    let b = i.bytes();
    let mut n = 0;
    while b.get(n) == Some(&b'[') {
        let k = n
            + 1
            + b[n + 1..]
                .iter()
                .take_while(|&&c| !matches!(c, b']' | b'[' | b','))
                .count();
        if k > n + 1 && b.get(k) == Some(&b']') {
            n = k + 1;
            continue;
        }
        // `[name` followed by anything but `,` (which makes it an array) is a selector whose `]`
        // is missing; say so if nothing gets further.
        if k > n + 1 && b.get(k) != Some(&b',') {
            i.st.record_closer(i.pos + k, "]", i.pos + n, "field reference");
        }
        break;
    }
    if n == 0 {
        return soft();
    }
    let j = i.advance(n);
    Ok((j, (i.rest()[..n].to_string(), i.span_to(j))))
}

// ---------------------------------------------------------------------------------------------
// Structure: config, sections, plugins, values.

/// `config: _ plugin_section (_ plugin_section)* _` (zero sections allowed).
fn config(i: In<'_>) -> PResult<'_, Vec<Section>> {
    let (i, _) = ws(i)?;
    let (i, sections) = many0(terminated(plugin_section, ws))(i)?;
    if i.input_len() > 0 {
        // plugin_section recorded what it wanted here (or further on).
        if i.peek() == Some(b'}') {
            i.st.hint(i.pos, "this `}` has no matching `{`".to_string());
        }
        return soft();
    }
    Ok((i, sections))
}

/// `plugin_type: "input" / "filter" / "output"`.
fn plugin_type(i: In<'_>) -> PResult<'_, PluginKind> {
    alt((
        map(keyword("input"), |_| PluginKind::Input),
        map(keyword("filter"), |_| PluginKind::Filter),
        map(keyword("output"), |_| PluginKind::Output),
    ))(i)
}

/// `plugin_section: plugin_type _ "{" _ (branch_or_plugin _)* "}"`.
fn plugin_section(i: In<'_>) -> PResult<'_, Section> {
    let start = i;
    let (i, kind) = plugin_type(i)?;
    let (i, body) = cut(|i| {
        let (i, _) = ws(i)?;
        let (i, open) = token("{")(i)?;
        block_body(open.start)(i)
    })(i)?;
    Ok((
        i,
        Section {
            kind,
            body,
            span: start.span_to(i),
        },
    ))
}

/// `_ (branch_or_plugin _)* "}"`: the inside of a section, `if`, `else if` or `else` block.
fn block_body<'a>(open: usize) -> impl FnMut(In<'a>) -> PResult<'a, Vec<Statement>> {
    move |i: In<'a>| {
        nested(i, |i| {
            let (i, _) = ws(i)?;
            let (i, body) = many0(terminated(branch_or_plugin(open), ws))(i)?;
            let (i, _) = close(open, "}", "block")(i)?;
            Ok((i, body))
        })
    }
}

/// `branch_or_plugin: branch / plugin`, plus diagnoses for words that cannot start a statement.
fn branch_or_plugin<'a>(open: usize) -> impl FnMut(In<'a>) -> PResult<'a, Statement> {
    move |i: In<'a>| {
        if keyword_here(i, "if") {
            return map(branch, Statement::Branch)(i);
        }
        // DECISION: treetop would read these as plugin names; no such plugins exist, and the
        // person almost certainly meant something else, so say what.
        if keyword_here(i, "else") {
            return hard(
                i.pos,
                "`else` without a preceding `if` block".to_string(),
                &[],
            );
        }
        for bad in ["elsif", "elseif", "elif"] {
            if keyword_here(i, bad) {
                return hard(
                    i.pos,
                    format!("`{bad}` is not a keyword; write `else if`"),
                    &[],
                );
            }
        }
        for section in ["input", "filter", "output"] {
            if keyword_here(i, section) {
                let (j, _) = ws(i.advance(section.len()))?;
                if j.peek() == Some(b'{') {
                    let message =
                        format!("`{section}` cannot start a section inside another block");
                    let hard = Hard {
                        pos: i.pos,
                        message,
                        expected: vec!["`}`".to_string()],
                        unclosed: Some(open),
                    };
                    return Err(nom::Err::Failure(Fail(Some(Box::new(hard)))));
                }
            }
        }
        map(labeled(A_STATEMENT, plugin), Statement::Plugin)(i)
    }
}

/// `plugin: name _ "{" _ (attribute (_ attribute)*)? _ "}"`.
fn plugin(i: In<'_>) -> PResult<'_, Plugin> {
    let start = i;
    let (i, (name, name_span)) = name(i)?;
    let (i, _) = ws(i)?;
    if i.peek() != Some(b'{') {
        i.st.record(i.pos, Expect::Tok("{"));
        return soft();
    }
    plugin_block(start, name, name_span)(i)
}

/// A plugin written as a value (`codec => json_lines { charset => "UTF-8" }`). Unlike `plugin`,
/// a missing `{` here is not worth reporting: the word is then simply a bareword value.
fn codec_plugin(i: In<'_>) -> PResult<'_, Plugin> {
    let start = i;
    let (i, (name, name_span)) = name(i)?;
    let (i, _) = ws(i)?;
    if i.peek() != Some(b'{') {
        return soft();
    }
    plugin_block(start, name, name_span)(i)
}

/// The `{ attributes }` part of a plugin; committed once the `{` is there.
fn plugin_block<'a>(
    start: In<'a>,
    name: String,
    name_span: Span,
) -> impl FnOnce(In<'a>) -> PResult<'a, Plugin> {
    move |i: In<'a>| {
        let (i, open) = token("{")(i)?;
        let (i, attributes) = cut(|i| {
            nested(i, |i| {
                let (i, _) = ws(i)?;
                // DECISION: attributes may follow each other with no whitespace at all
                // (`a => 1 b => 2` and `a => "x"b => 2`); treetop wants whitespace there.
                let (i, attributes) = many0(terminated(attribute, ws))(i)?;
                if i.peek() == Some(b',') {
                    return hard(
                        i.pos,
                        "unexpected `,`: settings in a plugin block are separated by whitespace, not commas".to_string(),
                        &["`}`", "a setting name"],
                    );
                }
                if keyword_here(i, "if") {
                    return hard(
                        i.pos,
                        "conditionals are not allowed inside a plugin block; put the `if` around the plugin".to_string(),
                        &["`}`", "a setting name"],
                    );
                }
                let (i, _) = close(open.start, "}", "block")(i)?;
                Ok((i, attributes))
            })
        })(i)?;
        Ok((
            i,
            Plugin {
                name,
                name_span,
                attributes,
                span: start.span_to(i),
            },
        ))
    }
}

/// `attribute: name _ "=>" _ value`.
fn attribute(i: In<'_>) -> PResult<'_, Attribute> {
    let (i, (name, name_span)) = labeled(AN_ATTRIBUTE, name)(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = token("=>")(i)?;
    let (i, _) = ws(i)?;
    let (i, value) = cut(labeled(A_VALUE, value))(i)?;
    Ok((
        i,
        Attribute {
            name,
            name_span,
            value,
        },
    ))
}

/// `value: plugin / bareword / string / number / array / hash`.
fn value(i: In<'_>) -> PResult<'_, Value> {
    alt((
        map(codec_plugin, |p| Value {
            span: p.span,
            kind: ValueKind::Plugin(p),
        }),
        map(bareword, |(w, span)| Value {
            kind: ValueKind::Bareword(w.to_string()),
            span,
        }),
        map(string, |(s, span)| Value {
            kind: ValueKind::String(s),
            span,
        }),
        map(number, |(n, span)| Value {
            kind: ValueKind::Number(n.to_string()),
            span,
        }),
        array,
        hash,
    ))(i)
}

/// `array: "[" _ (value (_ "," _ value)*)? _ "]"`. A trailing comma is an error, as in Logstash.
fn array(i: In<'_>) -> PResult<'_, Value> {
    let start = i;
    let (i, open) = token("[")(i)?;
    nested(i, |i| {
        let (mut i, _) = ws(i)?;
        let mut items = Vec::new();
        if let (j, Some(first)) = opt(labeled(A_VALUE, value))(i)? {
            items.push(first);
            i = j;
            loop {
                let (j, _) = ws(i)?;
                let Ok((k, comma)) = token(",")(j) else { break };
                let (k, _) = ws(k)?;
                if k.peek() == Some(b']') {
                    return hard(
                        comma.start,
                        "trailing `,` in an array: remove it, Logstash does not accept it"
                            .to_string(),
                        &["a value"],
                    );
                }
                let (k, item) = cut(labeled(A_VALUE, value))(k)?;
                items.push(item);
                i = k;
            }
        }
        let (i, _) = ws(i)?;
        let (i, _) = close(open.start, "]", "array")(i)?;
        Ok((
            i,
            Value {
                kind: ValueKind::Array(items),
                span: start.span_to(i),
            },
        ))
    })
}

/// `hash: "{" _ hashentries? _ "}"`, `hashentries: hashentry (_ hashentry)*`.
fn hash(i: In<'_>) -> PResult<'_, Value> {
    let start = i;
    let (i, open) = token("{")(i)?;
    nested(i, |i| {
        let (i, _) = ws(i)?;
        let (i, entries) = many0(terminated(hashentry, ws))(i)?;
        if i.peek() == Some(b',') {
            return hard(
                i.pos,
                "unexpected `,`: hash entries are separated by whitespace, not commas".to_string(),
                &["`}`", "a hash key"],
            );
        }
        let (i, _) = close(open.start, "}", "hash")(i)?;
        Ok((
            i,
            Value {
                kind: ValueKind::Hash(entries),
                span: start.span_to(i),
            },
        ))
    })
}

/// `hashentry: (number / bareword / string) _ "=>" _ value`.
fn hashentry(i: In<'_>) -> PResult<'_, HashEntry> {
    let (i, (key, key_span)) = labeled(
        A_HASH_KEY,
        alt((
            map(number, |(n, span)| (n.to_string(), span)),
            map(bareword, |(w, span)| (w.to_string(), span)),
            string,
        )),
    )(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = token("=>")(i)?;
    let (i, _) = ws(i)?;
    let (i, value) = cut(labeled(A_VALUE, value))(i)?;
    Ok((
        i,
        HashEntry {
            key,
            key_span,
            value,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Conditionals.

/// `branch: if (_ else_if)* (_ else)?`.
fn branch(i: In<'_>) -> PResult<'_, Branch> {
    let start = i;
    let (i, _) = keyword("if")(i)?;
    let (mut i, first) = cut(if_body)(i)?;
    let mut cases = vec![first];
    let mut otherwise = None;
    loop {
        let (j, _) = ws(i)?;
        if !keyword_here(j, "else") {
            j.st.record(j.pos, Expect::Tok("else"));
            break;
        }
        let (j, _) = keyword("else")(j)?;
        let (j, clause) = cut(preceded(
            ws,
            labeled(
                AFTER_ELSE,
                alt((
                    map(else_if, ElseClause::ElseIf),
                    map(else_block, ElseClause::Else),
                )),
            ),
        ))(j)?;
        i = j;
        match clause {
            ElseClause::ElseIf(case) => cases.push(case),
            ElseClause::Else(body) => {
                otherwise = Some(body);
                break;
            }
        }
    }
    Ok((
        i,
        Branch {
            cases,
            otherwise,
            span: start.span_to(i),
        },
    ))
}

enum ElseClause {
    ElseIf((Condition, Vec<Statement>)),
    Else(Vec<Statement>),
}

/// `if` after its keyword: `_ condition _ "{" _ (branch_or_plugin _)* "}"`.
fn if_body(i: In<'_>) -> PResult<'_, (Condition, Vec<Statement>)> {
    let (i, _) = ws(i)?;
    let (i, cond) = condition(i)?;
    let (i, _) = ws(i)?;
    let (i, open) = token("{")(i)?;
    let (i, body) = block_body(open.start)(i)?;
    Ok((i, (cond, body)))
}

/// `else_if: "else" _ "if" _ condition _ "{" ... "}"`, from `if` on.
fn else_if(i: In<'_>) -> PResult<'_, (Condition, Vec<Statement>)> {
    let (i, _) = keyword("if")(i)?;
    cut(if_body)(i)
}

/// `else: "else" _ "{" ... "}"`, from `{` on.
fn else_block(i: In<'_>) -> PResult<'_, Vec<Statement>> {
    let (i, open) = token("{")(i)?;
    block_body(open.start)(i)
}

/// Boolean operators from loosest to tightest binding.
const PRECEDENCE: [BoolOp; 4] = [BoolOp::Or, BoolOp::Xor, BoolOp::Nand, BoolOp::And];

/// `condition: expression (_ boolean_operator _ expression)*`, built as a tree by precedence
/// climbing: `and` binds tightest, then `nand`, `xor`, `or`; each level is left-associative.
fn condition(i: In<'_>) -> PResult<'_, Condition> {
    bool_level(i, 0)
}

fn bool_level(i: In<'_>, level: usize) -> PResult<'_, Condition> {
    let (mut i, mut lhs) = bool_operand(i, level)?;
    loop {
        let (j, _) = ws(i)?;
        match labeled(A_BOOL_OP, boolean_operator)(j) {
            Ok((k, op)) if PRECEDENCE.get(level) == Some(&op) => {
                let (k, _) = ws(k)?;
                let (k, rhs) = cut(|k| bool_operand(k, level))(k)?;
                lhs = Condition::Bool(op, Box::new(lhs), Box::new(rhs));
                i = k;
            }
            Ok(_) | Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    Ok((i, lhs))
}

fn bool_operand(i: In<'_>, level: usize) -> PResult<'_, Condition> {
    if level + 1 < PRECEDENCE.len() {
        bool_level(i, level + 1)
    } else {
        labeled(A_CONDITION, expression)(i)
    }
}

/// `boolean_operator: "and" / "or" / "xor" / "nand"` (whole words).
fn boolean_operator(i: In<'_>) -> PResult<'_, BoolOp> {
    alt((
        map(keyword("and"), |_| BoolOp::And),
        map(keyword("or"), |_| BoolOp::Or),
        map(keyword("xor"), |_| BoolOp::Xor),
        map(keyword("nand"), |_| BoolOp::Nand),
    ))(i)
}

/// `expression: "(" _ condition _ ")" / negative_expression / in_expression / not_in_expression
/// / compare_expression / regexp_expression / rvalue`. The last five all begin with an rvalue,
/// so it is parsed once and the operator after it picks the alternative: the same language as
/// the ordered choice, without parsing the left side up to five times.
fn expression(i: In<'_>) -> PResult<'_, Condition> {
    match i.peek() {
        Some(b'(') => paren_condition(i),
        Some(b'!') if !matches!(i.peek_at(1), Some(b'=' | b'~')) => negative_expression(i),
        _ => {
            let (i, lhs) = rvalue(i)?;
            let (i, tail) = opt(preceded(
                ws,
                labeled(
                    A_COMPARE_OP,
                    alt((
                        compare_expression,
                        regexp_expression,
                        not_in_expression,
                        in_expression,
                    )),
                ),
            ))(i)?;
            let cond = match tail {
                None => Condition::Truthy(lhs),
                Some(Tail::Compare(op, rhs)) => Condition::Compare(lhs, op, rhs),
                Some(Tail::Match(negated, rhs)) => Condition::Match { lhs, negated, rhs },
                Some(Tail::In(negated, haystack)) => Condition::In {
                    needle: lhs,
                    negated,
                    haystack,
                },
            };
            Ok((i, cond))
        }
    }
}

/// `"(" _ condition _ ")"`.
fn paren_condition(i: In<'_>) -> PResult<'_, Condition> {
    let (i, open) = token("(")(i)?;
    let open = open.start;
    cut(move |i| {
        nested(i, move |i| {
            let (i, _) = ws(i)?;
            let (i, cond) = condition(i)?;
            let (i, _) = ws(i)?;
            let (i, _) = close(open, ")", "parenthesis")(i)?;
            Ok((i, cond))
        })
    })(i)
}

/// `negative_expression: "!" _ "(" _ condition _ ")" / "!" _ selector`.
fn negative_expression(i: In<'_>) -> PResult<'_, Condition> {
    let (i, _) = token("!")(i)?;
    let (i, _) = ws(i)?;
    let (i, inner) = cut(labeled(
        AFTER_NOT,
        alt((
            paren_condition,
            map(selector, |(text, span)| {
                Condition::Truthy(Rvalue {
                    kind: RvalueKind::Selector(text),
                    span,
                })
            }),
        )),
    ))(i)?;
    if matches!(inner, Condition::Truthy(_)) {
        let (j, _) = ws(i)?;
        if operator_ahead(j) {
            j.st.hint(
                j.pos,
                "`!` negates only the field reference right after it; to negate a comparison write `!(...)`"
                    .to_string(),
            );
        }
    }
    Ok((i, Condition::Not(Box::new(inner))))
}

fn operator_ahead(i: In<'_>) -> bool {
    let r = i.rest();
    ["==", "!=", "<", ">", "=~", "!~"]
        .iter()
        .any(|op| r.starts_with(op))
        || keyword_here(i, "in")
        || keyword_here(i, "not")
}

/// What follows the left rvalue of a comparison, regexp match or membership test.
enum Tail {
    Compare(CompareOp, Rvalue),
    Match(bool, Rvalue),
    In(bool, Rvalue),
}

/// `compare_expression: rvalue _ compare_operator _ rvalue`, from the operator on (see `expression`).
fn compare_expression(i: In<'_>) -> PResult<'_, Tail> {
    let (i, op) = compare_operator(i)?;
    let (i, _) = ws(i)?;
    let (i, rhs) = cut(labeled(A_VALUE, rvalue))(i)?;
    Ok((i, Tail::Compare(op, rhs)))
}

/// `compare_operator: "==" / "!=" / "<=" / ">=" / "<" / ">"`.
fn compare_operator(i: In<'_>) -> PResult<'_, CompareOp> {
    const OPS: [(&str, CompareOp); 6] = [
        ("==", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<=", CompareOp::Le),
        (">=", CompareOp::Ge),
        ("<", CompareOp::Lt),
        (">", CompareOp::Gt),
    ];
    for (tok, op) in OPS {
        if i.rest().starts_with(tok) {
            return Ok((i.advance(tok.len()), op));
        }
    }
    if i.peek() == Some(b'=') && !matches!(i.peek_at(1), Some(b'=' | b'~')) {
        i.st.hint(
            i.pos,
            "`=` is not an operator: use `==` to compare or `=~` to match a regular expression"
                .to_string(),
        );
    }
    soft()
}

/// `regexp_expression: rvalue _ regexp_operator _ (string / regexp)`, from the operator on.
fn regexp_expression(i: In<'_>) -> PResult<'_, Tail> {
    let (i, negated) = regexp_operator(i)?;
    let (i, _) = ws(i)?;
    let (i, rhs) = cut(labeled(
        A_REGEX_RHS,
        alt((
            map(regexp, |(p, span)| Rvalue {
                kind: RvalueKind::Regex(p),
                span,
            }),
            map(string, |(s, span)| Rvalue {
                kind: RvalueKind::String(s),
                span,
            }),
        )),
    ))(i)?;
    Ok((i, Tail::Match(negated, rhs)))
}

/// `regexp_operator: "=~" / "!~"`; true for the negated form.
fn regexp_operator(i: In<'_>) -> PResult<'_, bool> {
    let r = i.rest();
    if r.starts_with("=~") {
        Ok((i.advance(2), false))
    } else if r.starts_with("!~") {
        Ok((i.advance(2), true))
    } else {
        soft()
    }
}

/// `in_expression: rvalue _ in_operator _ rvalue`, from the operator on.
fn in_expression(i: In<'_>) -> PResult<'_, Tail> {
    let (i, _) = in_operator(i)?;
    let (i, _) = ws(i)?;
    let (i, haystack) = cut(labeled(A_VALUE, rvalue))(i)?;
    Ok((i, Tail::In(false, haystack)))
}

/// `not_in_expression: rvalue _ not_in_operator _ rvalue`, from the operator on.
fn not_in_expression(i: In<'_>) -> PResult<'_, Tail> {
    let (i, _) = not_in_operator(i)?;
    let (i, _) = ws(i)?;
    let (i, haystack) = cut(labeled(A_VALUE, rvalue))(i)?;
    Ok((i, Tail::In(true, haystack)))
}

/// `in_operator: "in"`.
fn in_operator(i: In<'_>) -> PResult<'_, Span> {
    keyword("in")(i)
}

/// `not_in_operator: "not " _ "in"`. DECISION: any whitespace (or comment) separates the words,
/// not only a literal space.
fn not_in_operator(i: In<'_>) -> PResult<'_, Span> {
    let start = i;
    let (i, _) = keyword("not")(i)?;
    let (i, _) = cut(|i| {
        let (i, _) = ws(i)?;
        keyword("in")(i)
    })(i)?;
    Ok((i, start.span_to(i)))
}

/// `rvalue: string / number / selector / array / regexp`. Logstash's `method_call` alternative
/// is not supported (Logstash itself never implemented it).
fn rvalue(i: In<'_>) -> PResult<'_, Rvalue> {
    alt((
        map(string, |(s, span)| Rvalue {
            kind: RvalueKind::String(s),
            span,
        }),
        map(number, |(n, span)| Rvalue {
            kind: RvalueKind::Number(n.to_string()),
            span,
        }),
        map(selector, |(s, span)| Rvalue {
            kind: RvalueKind::Selector(s),
            span,
        }),
        rvalue_array,
        map(regexp, |(p, span)| Rvalue {
            kind: RvalueKind::Regex(p),
            span,
        }),
    ))(i)
}

/// An array in a condition. Logstash parses it with the value `array` rule; its barewords are
/// plain strings there, so they become `RvalueKind::String`. Hashes and plugin blocks have no
/// rvalue form.
fn rvalue_array(i: In<'_>) -> PResult<'_, Rvalue> {
    let (j, value) = array(i)?;
    match to_rvalue(value) {
        Ok(r) => Ok((j, r)),
        Err(span) => hard(
            span.start,
            "a hash or plugin block cannot be used in a condition".to_string(),
            &["a string", "a number", "an array"],
        ),
    }
}

fn to_rvalue(v: Value) -> Result<Rvalue, Span> {
    let kind = match v.kind {
        ValueKind::String(s) | ValueKind::Bareword(s) => RvalueKind::String(s),
        ValueKind::Number(n) => RvalueKind::Number(n),
        ValueKind::Array(items) => {
            RvalueKind::Array(items.into_iter().map(to_rvalue).collect::<Result<_, _>>()?)
        }
        ValueKind::Hash(_) | ValueKind::Plugin(_) => return Err(v.span),
    };
    Ok(Rvalue { kind, span: v.span })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::Location;
    use std::time::{Duration, Instant};

    /// The reference pipeline, with the kind of comments real files carry.
    const REFERENCE: &str = r#"# Pipeline principal
input {
  beats { port => 5044 }
  # Logs systèmes via syslog
  syslog { port => 5514 }
  tcp { port => 5000 codec => json_lines }
}
filter {
  if [fields][service] == "apache" {
    grok { match => { "message" => "%{COMBINEDAPACHELOG}" } }
    date { match => [ "timestamp", "dd/MMM/yyyy:HH:mm:ss Z" ] }
    mutate {
      convert => { "response" => "integer" }
      convert => { "bytes" => "integer" }
    }
  }
  if [fields][service] == "application" {
    json { source => "message" }
    if [level] == "ERROR" { mutate { add_tag => [ "error" ] } }
  }
  if [clientip] { geoip { source => "clientip" target => "geoip" } }
}
output {
  elasticsearch { hosts => ["localhost:9200"] index => "logs-%{[fields][service]}-%{+YYYY.MM.dd}" }
  if "error" in [tags] { elasticsearch { hosts => ["localhost:9200"] index => "errors-%{+YYYY.MM.dd}" } }
  stdout { codec => rubydebug }
}
"#;

    fn ok(text: &str) -> Config {
        ok_with(text, ParseOptions::default())
    }

    fn ok_with(text: &str, opts: ParseOptions) -> Config {
        match parse_with(text, opts) {
            Ok(config) => config,
            Err(e) => panic!(
                "{}",
                SourceMap::single("test.conf", text).render(e.offset, &e.message)
            ),
        }
    }

    /// The error and where it points.
    fn err(text: &str) -> (ParseError, Location) {
        match parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => {
                let loc = SourceMap::single("test.conf", text).locate(e.offset);
                (e, loc)
            }
        }
    }

    fn at(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    fn plugin(s: &Statement) -> &Plugin {
        match s {
            Statement::Plugin(p) => p,
            other => panic!("expected a plugin, got {other:?}"),
        }
    }

    fn branch(s: &Statement) -> &Branch {
        match s {
            Statement::Branch(b) => b,
            other => panic!("expected a branch, got {other:?}"),
        }
    }

    fn attr<'c>(p: &'c Plugin, name: &str) -> &'c ValueKind {
        match p.attributes.iter().find(|a| a.name == name) {
            Some(a) => &a.value.kind,
            None => panic!("no attribute {name} in {p:?}"),
        }
    }

    fn s(v: &str) -> ValueKind {
        ValueKind::String(v.to_string())
    }

    /// The value of `v => VALUE` inside a filter plugin.
    fn value_of(value: &str, opts: ParseOptions) -> ValueKind {
        let text = format!("filter {{ p {{ v => {value} }} }}");
        let config = ok_with(&text, opts);
        plugin(&config.sections[0].body[0]).attributes[0]
            .value
            .kind
            .clone()
    }

    fn show_rv(r: &Rvalue) -> String {
        match &r.kind {
            RvalueKind::String(s) => format!("{s:?}"),
            RvalueKind::Number(n) => n.clone(),
            RvalueKind::Selector(s) => s.clone(),
            RvalueKind::Regex(p) => format!("/{p}/"),
            RvalueKind::Array(items) => {
                format!(
                    "[{}]",
                    items.iter().map(show_rv).collect::<Vec<_>>().join(", ")
                )
            }
        }
    }

    /// A condition as an s-expression, so tree shapes can be written down in tests.
    fn show(c: &Condition) -> String {
        match c {
            Condition::Bool(op, l, r) => {
                let op = match op {
                    BoolOp::And => "and",
                    BoolOp::Or => "or",
                    BoolOp::Xor => "xor",
                    BoolOp::Nand => "nand",
                };
                format!("({op} {} {})", show(l), show(r))
            }
            Condition::Not(c) => format!("(! {})", show(c)),
            Condition::Compare(l, op, r) => {
                let op = match op {
                    CompareOp::Eq => "==",
                    CompareOp::Ne => "!=",
                    CompareOp::Lt => "<",
                    CompareOp::Gt => ">",
                    CompareOp::Le => "<=",
                    CompareOp::Ge => ">=",
                };
                format!("({op} {} {})", show_rv(l), show_rv(r))
            }
            Condition::Match { lhs, negated, rhs } => {
                format!(
                    "({} {} {})",
                    if *negated { "!~" } else { "=~" },
                    show_rv(lhs),
                    show_rv(rhs)
                )
            }
            Condition::In {
                needle,
                negated,
                haystack,
            } => {
                format!(
                    "({} {} {})",
                    if *negated { "not-in" } else { "in" },
                    show_rv(needle),
                    show_rv(haystack)
                )
            }
            Condition::Truthy(r) => show_rv(r),
        }
    }

    /// The condition of `if CONDITION { }`.
    fn cond(condition: &str) -> String {
        let config = ok(&format!("filter {{ if {condition} {{ }} }}"));
        show(&branch(&config.sections[0].body[0]).cases[0].0)
    }

    // ---- the reference config -------------------------------------------------------------

    #[test]
    fn reference_config_sections_and_plugins() {
        let config = ok(REFERENCE);
        let kinds: Vec<_> = config.sections.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [PluginKind::Input, PluginKind::Filter, PluginKind::Output]
        );

        let input = &config.sections[0];
        let names: Vec<_> = input.body.iter().map(|s| plugin(s).name.as_str()).collect();
        assert_eq!(names, ["beats", "syslog", "tcp"]);
        let tcp = plugin(&input.body[2]);
        assert_eq!(attr(tcp, "port"), &ValueKind::Number("5000".into()));
        assert_eq!(
            attr(tcp, "codec"),
            &ValueKind::Bareword("json_lines".into())
        );

        let output = &config.sections[2];
        let stdout = plugin(&output.body[2]);
        assert_eq!(stdout.name, "stdout");
        assert_eq!(
            attr(stdout, "codec"),
            &ValueKind::Bareword("rubydebug".into())
        );
        let es = plugin(&output.body[0]);
        assert_eq!(
            attr(es, "hosts"),
            &ValueKind::Array(vec![Value {
                kind: s("localhost:9200"),
                span: span_of(REFERENCE, "\"localhost:9200\"", 0),
            }])
        );
        assert_eq!(
            attr(es, "index"),
            &s("logs-%{[fields][service]}-%{+YYYY.MM.dd}")
        );
        let errors = branch(&output.body[1]);
        assert_eq!(show(&errors.cases[0].0), r#"(in "error" [tags])"#);
        assert_eq!(
            attr(plugin(&errors.cases[0].1[0]), "index"),
            &s("errors-%{+YYYY.MM.dd}")
        );
    }

    /// Span of the `nth` occurrence of `needle` in `text`.
    fn span_of(text: &str, needle: &str, nth: usize) -> Span {
        let start = text.match_indices(needle).nth(nth).map(|(i, _)| i).unwrap();
        Span {
            start,
            end: start + needle.len(),
        }
    }

    #[test]
    fn reference_config_filter_branches() {
        let config = ok(REFERENCE);
        let filter = &config.sections[1].body;
        assert_eq!(filter.len(), 3);

        let apache = branch(&filter[0]);
        assert_eq!(apache.cases.len(), 1);
        assert_eq!(apache.otherwise, None);
        assert_eq!(
            show(&apache.cases[0].0),
            r#"(== [fields][service] "apache")"#
        );
        let body = &apache.cases[0].1;
        let names: Vec<_> = body.iter().map(|s| plugin(s).name.as_str()).collect();
        assert_eq!(names, ["grok", "date", "mutate"]);

        let ValueKind::Hash(entries) = attr(plugin(&body[0]), "match") else {
            panic!("grok match is a hash")
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key, "message");
        assert_eq!(at(REFERENCE, entries[0].key_span), "\"message\"");
        assert_eq!(entries[0].value.kind, s("%{COMBINEDAPACHELOG}"));

        let ValueKind::Array(items) = attr(plugin(&body[1]), "match") else {
            panic!("date match is an array")
        };
        let items: Vec<_> = items.iter().map(|v| v.kind.clone()).collect();
        assert_eq!(items, [s("timestamp"), s("dd/MMM/yyyy:HH:mm:ss Z")]);

        // Repeated settings are kept, in order, for the compiler to merge or reject.
        let mutate = plugin(&body[2]);
        assert_eq!(mutate.attributes.len(), 2);
        assert!(mutate.attributes.iter().all(|a| a.name == "convert"));
        let ValueKind::Hash(second) = &mutate.attributes[1].value.kind else {
            panic!()
        };
        assert_eq!(
            (second[0].key.as_str(), &second[0].value.kind),
            ("bytes", &s("integer"))
        );

        let application = branch(&filter[1]);
        assert_eq!(
            show(&application.cases[0].0),
            r#"(== [fields][service] "application")"#
        );
        let nested = branch(&application.cases[0].1[1]);
        assert_eq!(show(&nested.cases[0].0), r#"(== [level] "ERROR")"#);
        let add_tag = attr(plugin(&nested.cases[0].1[0]), "add_tag");
        assert!(matches!(add_tag, ValueKind::Array(v) if v.len() == 1 && v[0].kind == s("error")));

        let geo = branch(&filter[2]);
        assert_eq!(show(&geo.cases[0].0), "[clientip]");
        let geoip = plugin(&geo.cases[0].1[0]);
        assert_eq!(attr(geoip, "source"), &s("clientip"));
        assert_eq!(attr(geoip, "target"), &s("geoip"));
    }

    #[test]
    fn reference_config_spans_point_at_the_source() {
        let config = ok(REFERENCE);
        let input = &config.sections[0];
        assert!(at(REFERENCE, input.span).starts_with("input {\n  beats"));
        assert!(at(REFERENCE, input.span).ends_with("json_lines }\n}"));

        let beats = plugin(&input.body[0]);
        assert_eq!(at(REFERENCE, beats.span), "beats { port => 5044 }");
        assert_eq!(at(REFERENCE, beats.name_span), "beats");
        assert_eq!(at(REFERENCE, beats.attributes[0].name_span), "port");
        assert_eq!(at(REFERENCE, beats.attributes[0].value.span), "5044");

        let apache = branch(&config.sections[1].body[0]);
        assert!(at(REFERENCE, apache.span).starts_with("if [fields][service] == \"apache\" {"));
        assert!(at(REFERENCE, apache.span).ends_with("}\n    }\n  }"));
        let Condition::Compare(lhs, _, rhs) = &apache.cases[0].0 else {
            panic!()
        };
        assert_eq!(at(REFERENCE, lhs.span), "[fields][service]");
        assert_eq!(at(REFERENCE, rhs.span), "\"apache\"");

        let grok = plugin(&apache.cases[0].1[0]);
        assert_eq!(grok.name_span, span_of(REFERENCE, "grok", 0));
        assert_eq!(
            at(REFERENCE, grok.span),
            r#"grok { match => { "message" => "%{COMBINEDAPACHELOG}" } }"#
        );
        assert_eq!(
            at(REFERENCE, grok.attributes[0].value.span),
            r#"{ "message" => "%{COMBINEDAPACHELOG}" }"#
        );

        let output = &config.sections[2];
        assert!(at(REFERENCE, output.span).starts_with("output {"));
        assert_eq!(output.span.end, REFERENCE.trim_end().len());
    }

    // ---- structure ------------------------------------------------------------------------

    #[test]
    fn empty_and_comment_only_configs_have_no_sections() {
        for text in [
            "",
            "   \n\t\r\n",
            "# only a comment",
            "# one\n# two\n\n   # three\n",
        ] {
            assert_eq!(ok(text).sections, vec![], "{text:?}");
        }
    }

    #[test]
    fn the_same_section_may_appear_many_times() {
        let config = ok("filter { a1 {} } output { o {} } filter { a2 {} } input{i{}}");
        let kinds: Vec<_> = config.sections.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                PluginKind::Filter,
                PluginKind::Output,
                PluginKind::Filter,
                PluginKind::Input
            ]
        );
    }

    #[test]
    fn plugin_names_follow_the_name_rule() {
        let config =
            ok("filter { x {} my-plugin_2 {} 42 {} \"quoted name\" {} iffy {} elsewhere {} }");
        let names: Vec<_> = config.sections[0]
            .body
            .iter()
            .map(|s| plugin(s).name.as_str())
            .collect();
        // One-character and digit names are valid grammar; unknown plugins are the compiler's call.
        assert_eq!(
            names,
            ["x", "my-plugin_2", "42", "quoted name", "iffy", "elsewhere"]
        );
    }

    #[test]
    fn setting_names_may_be_quoted_or_contain_dashes() {
        let config = ok(r#"filter { p { "quoted" => 1 with-dash => 2 } }"#);
        let p = plugin(&config.sections[0].body[0]);
        let names: Vec<_> = p.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["quoted", "with-dash"]);
        assert_eq!(
            at(
                &format!(r#"filter {{ p {{ "quoted" => 1 with-dash => 2 }} }}"#),
                p.attributes[0].name_span
            ),
            "\"quoted\""
        );
    }

    #[test]
    fn settings_are_separated_by_whitespace_or_comments() {
        let text = "filter {\n  p { a => 1\n b => \"x\"\tc => [1] # note\n d => { kk => vv } }\n}";
        let config = ok(text);
        let p = plugin(&config.sections[0].body[0]);
        let names: Vec<_> = p.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn barewords_strings_and_numbers() {
        let o = ParseOptions::default();
        assert_eq!(value_of("true", o), ValueKind::Bareword("true".into()));
        assert_eq!(
            value_of("json_lines", o),
            ValueKind::Bareword("json_lines".into())
        );
        assert_eq!(value_of("_x", o), ValueKind::Bareword("_x".into()));
        assert_eq!(value_of("\"double\"", o), s("double"));
        assert_eq!(value_of("'single'", o), s("single"));
        assert_eq!(value_of("\"\"", o), s(""));
        assert_eq!(value_of("\"multi\nline\"", o), s("multi\nline"));
        assert_eq!(value_of("\"it's\"", o), s("it's"));
        assert_eq!(value_of("'say \"hi\"'", o), s("say \"hi\""));
        for n in ["0", "5044", "-1", "3.5", "-0.25", "5."] {
            assert_eq!(value_of(n, o), ValueKind::Number(n.into()), "{n}");
        }
    }

    #[test]
    fn strings_keep_backslashes_by_default() {
        // config.support_escapes: false (Logstash's default): the text between the quotes, as
        // written; only `\"` / `\'` stop the quote from ending the string.
        let o = ParseOptions::default();
        assert_eq!(value_of(r#""a\"b""#, o), s(r#"a\"b"#));
        assert_eq!(value_of(r"'it\'s'", o), s(r"it\'s"));
        assert_eq!(value_of(r#""\d+\.\d+""#, o), s(r"\d+\.\d+"));
        assert_eq!(value_of(r#""tab\there\n""#, o), s(r"tab\there\n"));
    }

    #[test]
    fn strings_translate_escapes_when_supported() {
        let o = ParseOptions {
            support_escapes: true,
        };
        assert_eq!(value_of(r#""a\"b""#, o), s("a\"b"));
        assert_eq!(value_of(r"'it\'s'", o), s("it's"));
        assert_eq!(value_of(r#""a\\b""#, o), s(r"a\b"));
        assert_eq!(
            value_of(r#""tab\there\nnl\rcr\0nul""#, o),
            s("tab\there\nnl\rcr\0nul")
        );
        // Unknown escapes are kept as written, and `\\n` is a backslash followed by `n`.
        assert_eq!(value_of(r#""\d+ \q \\n""#, o), s(r"\d+ \q \n"));
        assert_eq!(value_of(r#""single 'q' \' ok""#, o), s("single 'q' ' ok"));
    }

    #[test]
    fn a_string_cannot_end_with_a_backslash() {
        // As in Logstash's grammar: `\"` never closes a string, whatever precedes the backslash.
        let (e, _) = err("filter { p { path => \"C:\\logs\\\" } }");
        assert!(e.message.contains("unterminated string"), "{}", e.message);
        assert!(e.message.contains("backslash"), "{}", e.message);
    }

    #[test]
    fn arrays_and_hashes_nest() {
        let text = r#"filter { p { v => [ 1, "two", three, [ 4, [] ], { kk => [5] } ] h => { "a" => { b_ => { 1 => x2 } } 'c' => [ ] -1 => 2.5 } } }"#;
        let config = ok(text);
        let p = plugin(&config.sections[0].body[0]);
        let ValueKind::Array(items) = attr(p, "v") else {
            panic!()
        };
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].kind, ValueKind::Number("1".into()));
        assert_eq!(items[1].kind, s("two"));
        assert_eq!(items[2].kind, ValueKind::Bareword("three".into()));
        let ValueKind::Array(inner) = &items[3].kind else {
            panic!()
        };
        assert_eq!(inner[1].kind, ValueKind::Array(vec![]));
        let ValueKind::Hash(h) = &items[4].kind else {
            panic!()
        };
        assert_eq!(h[0].key, "kk");

        let ValueKind::Hash(h) = attr(p, "h") else {
            panic!()
        };
        let keys: Vec<_> = h.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c", "-1"]);
        let ValueKind::Hash(a) = &h[0].value.kind else {
            panic!()
        };
        let ValueKind::Hash(b) = &a[0].value.kind else {
            panic!()
        };
        assert_eq!(
            (b[0].key.as_str(), &b[0].value.kind),
            ("1", &ValueKind::Bareword("x2".into()))
        );
        assert_eq!(h[2].value.kind, ValueKind::Number("2.5".into()));
        assert_eq!(at(text, h[2].key_span), "-1");
    }

    #[test]
    fn hash_keys_are_unescaped_like_values() {
        let text = r#"filter { p { h => { "a\tb" => 1 } } }"#;
        let config = ok_with(
            text,
            ParseOptions {
                support_escapes: true,
            },
        );
        let ValueKind::Hash(h) = attr(plugin(&config.sections[0].body[0]), "h") else {
            panic!()
        };
        assert_eq!(h[0].key, "a\tb");
    }

    #[test]
    fn duplicate_hash_keys_are_kept() {
        let config = ok(r#"filter { p { h => { "a" => 1 "a" => 2 } } }"#);
        let ValueKind::Hash(h) = attr(plugin(&config.sections[0].body[0]), "h") else {
            panic!()
        };
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn codec_plugins_as_values() {
        let text = r#"input { tcp { codec => json_lines { charset => "UTF-8" } port => 1 } stdin { codec => plain } }"#;
        let config = ok(text);
        let tcp = plugin(&config.sections[0].body[0]);
        let ValueKind::Plugin(codec) = attr(tcp, "codec") else {
            panic!("codec block is a plugin")
        };
        assert_eq!(codec.name, "json_lines");
        assert_eq!(attr(codec, "charset"), &s("UTF-8"));
        assert_eq!(at(text, codec.span), r#"json_lines { charset => "UTF-8" }"#);
        assert_eq!(at(text, tcp.attributes[0].value.span), at(text, codec.span));
        assert_eq!(attr(tcp, "port"), &ValueKind::Number("1".into()));
        let stdin = plugin(&config.sections[0].body[1]);
        assert_eq!(attr(stdin, "codec"), &ValueKind::Bareword("plain".into()));
        // A codec block with no settings, on the next line.
        let config = ok("output { stdout { codec => rubydebug\n{\n}\n} }");
        let ValueKind::Plugin(c) = attr(plugin(&config.sections[0].body[0]), "codec") else {
            panic!()
        };
        assert_eq!((c.name.as_str(), c.attributes.len()), ("rubydebug", 0));
    }

    #[test]
    fn comments_everywhere() {
        let text = "# head\ninput # after keyword\n{ # after brace\n  # alone\n  stdin # after name\n  { # after plugin brace\n    a # after setting name\n    => # after arrow\n    1 # after value\n    # between settings\n    b => [ # in array\n      1, # after item\n      2 # last\n    ] # after array\n    c => { # in hash\n      kk # key\n      => v1 # value\n    }\n  } # after plugin\n  if # after if\n  [x] # after condition\n  { # in if\n  } # end if\n  else # after else\n  { } # end else\n} # trailing comment without newline";
        let config = ok(text);
        assert_eq!(config.sections.len(), 1);
        let stdin = plugin(&config.sections[0].body[0]);
        let names: Vec<_> = stdin.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let b = branch(&config.sections[0].body[1]);
        assert_eq!(b.otherwise, Some(vec![]));
        // `#` inside strings is not a comment.
        assert_eq!(
            value_of("\"# not a comment\"", ParseOptions::default()),
            s("# not a comment")
        );
    }

    #[test]
    fn crlf_and_byte_order_mark() {
        let config = ok("\u{feff}input {\r\n  stdin {\r\n    a => 1\r\n  }\r\n}\r\n");
        assert_eq!(config.sections.len(), 1);
    }

    // ---- conditionals ---------------------------------------------------------------------

    #[test]
    fn if_else_if_else() {
        let text = "filter {\n  if [a] == 1 { x1 {} } else if [b] { x2 {} } else if [c] != 'c' { } else { x3 {} x4 {} }\n  after {}\n}";
        let config = ok(text);
        let body = &config.sections[0].body;
        assert_eq!(body.len(), 2);
        let b = branch(&body[0]);
        let conds: Vec<_> = b.cases.iter().map(|(c, _)| show(c)).collect();
        assert_eq!(conds, ["(== [a] 1)", "[b]", "(!= [c] \"c\")"]);
        assert_eq!(plugin(&b.cases[0].1[0]).name, "x1");
        assert_eq!(b.cases[2].1, vec![]);
        let otherwise: Vec<_> = b
            .otherwise
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| plugin(s).name.as_str())
            .collect();
        assert_eq!(otherwise, ["x3", "x4"]);
        assert!(at(text, b.span).starts_with("if [a]"));
        assert!(at(text, b.span).ends_with("x4 {} }"));
        assert_eq!(plugin(&body[1]).name, "after");
    }

    #[test]
    fn branches_nest_and_keywords_need_a_word_boundary() {
        let config = ok("filter { if[a]{ if [b] { if [c] { deep {} } } } iffy { } }");
        let outer = branch(&config.sections[0].body[0]);
        let middle = branch(&outer.cases[0].1[0]);
        let inner = branch(&middle.cases[0].1[0]);
        assert_eq!(plugin(&inner.cases[0].1[0]).name, "deep");
        assert_eq!(plugin(&config.sections[0].body[1]).name, "iffy");
    }

    #[test]
    fn comparison_operators() {
        assert_eq!(cond("[a] == 1"), "(== [a] 1)");
        assert_eq!(cond("[a] != 'x'"), "(!= [a] \"x\")");
        assert_eq!(cond("[a] < 1"), "(< [a] 1)");
        assert_eq!(cond("[a]>-1.5"), "(> [a] -1.5)");
        assert_eq!(cond("[a] <= [b]"), "(<= [a] [b])");
        assert_eq!(cond("[a] >= 10"), "(>= [a] 10)");
        assert_eq!(cond("\"x\" == [a][b]"), "(== \"x\" [a][b])");
    }

    #[test]
    fn regexp_matches() {
        assert_eq!(cond("[message] =~ /^ERROR/"), "(=~ [message] /^ERROR/)");
        assert_eq!(cond("[message] !~ /a b/"), "(!~ [message] /a b/)");
        assert_eq!(
            cond("[path] =~ /\\/var\\/log\\//"),
            "(=~ [path] //var/log//)"
        );
        assert_eq!(cond(r"[m] =~ /\d+\.\w/"), r"(=~ [m] /\d+\.\w/)");
        assert_eq!(cond("[message] =~ \"^ERROR\""), "(=~ [message] \"^ERROR\")");
    }

    #[test]
    fn in_and_not_in() {
        assert_eq!(cond("\"error\" in [tags]"), "(in \"error\" [tags])");
        assert_eq!(cond("[a] not in [b]"), "(not-in [a] [b])");
        assert_eq!(cond("[a] not\n  in [b]"), "(not-in [a] [b])");
        assert_eq!(
            cond("[level] in [\"ERROR\", \"WARN\"]"),
            "(in [level] [\"ERROR\", \"WARN\"])"
        );
        assert_eq!(
            cond("[n] in [1, [2, 3], word]"),
            "(in [n] [1, [2, 3], \"word\"])"
        );
        assert_eq!(cond("[a] in []"), "(in [a] [])");
        // As in Logstash, `["x"]` is a field reference (selector), not a one-element array.
        assert_eq!(cond("[a] in [\"x\"]"), "(in [a] [\"x\"])");
        let config = ok("filter { if [a] in [\"x\"] { } }");
        let Condition::In { haystack, .. } = &branch(&config.sections[0].body[0]).cases[0].0 else {
            panic!()
        };
        assert_eq!(haystack.kind, RvalueKind::Selector("[\"x\"]".into()));
    }

    #[test]
    fn selectors_are_kept_as_written() {
        assert_eq!(cond("[@metadata][x]"), "[@metadata][x]");
        assert_eq!(cond("[fields][service name]"), "[fields][service name]");
        assert_eq!(cond("[tags]"), "[tags]");
    }

    #[test]
    fn truthiness_of_any_rvalue() {
        assert_eq!(cond("\"x\""), "\"x\"");
        assert_eq!(cond("1"), "1");
        assert_eq!(cond("/re/"), "/re/");
    }

    #[test]
    fn negation() {
        assert_eq!(cond("![a]"), "(! [a])");
        assert_eq!(cond("! [a][b]"), "(! [a][b])");
        assert_eq!(cond("!([a] == 1)"), "(! (== [a] 1))");
        assert_eq!(cond("!([a] and [b]) or [c]"), "(or (! (and [a] [b])) [c])");
        assert_eq!(cond("[a] and ![b]"), "(and [a] (! [b]))");
    }

    #[test]
    fn boolean_precedence_and_associativity() {
        assert_eq!(cond("[a] or [b] and [c]"), "(or [a] (and [b] [c]))");
        assert_eq!(cond("[a] and [b] or [c]"), "(or (and [a] [b]) [c])");
        assert_eq!(cond("[a] or [b] or [c]"), "(or (or [a] [b]) [c])");
        assert_eq!(cond("[a] and [b] and [c]"), "(and (and [a] [b]) [c])");
        assert_eq!(cond("([a] or [b]) and [c]"), "(and (or [a] [b]) [c])");
        assert_eq!(cond("[a] xor [b] and [c]"), "(xor [a] (and [b] [c]))");
        assert_eq!(cond("[a] or [b] xor [c]"), "(or [a] (xor [b] [c]))");
        assert_eq!(cond("[a] xor [b] nand [c]"), "(xor [a] (nand [b] [c]))");
        assert_eq!(cond("[a] nand [b] and [c]"), "(nand [a] (and [b] [c]))");
        assert_eq!(
            cond("[a] or [b] xor [c] nand [d] and [e]"),
            "(or [a] (xor [b] (nand [c] (and [d] [e]))))"
        );
        assert_eq!(
            cond("[a] and [b] nand [c] xor [d] or [e]"),
            "(or (xor (nand (and [a] [b]) [c]) [d]) [e])"
        );
        assert_eq!(
            cond("[a] == 1 and \"x\" in [t] or [m] =~ /y/ and [b] not in [c]"),
            "(or (and (== [a] 1) (in \"x\" [t])) (and (=~ [m] /y/) (not-in [b] [c])))"
        );
        assert_eq!(cond("(((([a]))))"), "[a]");
        assert_eq!(cond("[a]and[b]"), "(and [a] [b])");
        assert_eq!(cond("[order] or [android]"), "(or [order] [android])");
    }

    // ---- errors ---------------------------------------------------------------------------

    fn assert_error(text: &str, line: usize, column: usize, needles: &[&str]) -> ParseError {
        let (e, loc) = err(text);
        let rendered = SourceMap::single("test.conf", text).render(e.offset, &e.message);
        assert_eq!((loc.line, loc.column), (line, column), "\n{rendered}");
        for needle in needles {
            assert!(
                e.message.contains(needle),
                "message lacks {needle:?}:\n{rendered}"
            );
        }
        e
    }

    #[test]
    fn forgotten_closing_brace_at_end_of_file() {
        let text = "filter {\n  mutate {\n    add_tag => [\"x\"]\n  }\n";
        let e = assert_error(
            text,
            5,
            1,
            &[
                "unexpected end of input",
                "expected `}` to close the block opened at line 1",
            ],
        );
        assert_eq!(e.opened_at, Some(7));
        assert!(e.expected.contains(&"`}`".to_string()));
        let text = "filter {\n  if [a] {\n    mutate {\n      add_tag => [\"x\"]\n    }";
        assert_error(
            text,
            5,
            6,
            &["expected `}` to close the block opened at line 2"],
        );
        let text = "filter { p { v => [1, 2\n";
        assert_error(
            text,
            2,
            1,
            &["expected `]` to close the array opened at line 1"],
        );
        let text = "filter { if ([a] and [b] { } }";
        assert_error(text, 1, 26, &["`)`"]);
    }

    #[test]
    fn forgotten_arrow() {
        let text =
            "filter {\n  grok {\n    match { \"message\" => \"%{COMBINEDAPACHELOG}\" }\n  }\n}\n";
        let e = assert_error(text, 3, 11, &["expected `=>`, found `{`"]);
        assert_eq!(e.expected, ["`=>`"]);
        let text = "input { tcp { port = 5000 } }";
        assert_error(text, 1, 20, &["expected `=>`, found `=`"]);
    }

    #[test]
    fn stray_comma_between_settings() {
        let text = "input {\n  tcp { port => 5000, codec => json_lines }\n}";
        let e = assert_error(text, 2, 21, &["`,`", "separated by whitespace"]);
        assert!(e.expected.contains(&"`}`".to_string()));
        let text = "filter { mutate { add_field => { \"a\" => \"1\", \"b\" => \"2\" } } }";
        assert_error(
            text,
            1,
            44,
            &["`,`", "hash entries are separated by whitespace"],
        );
    }

    #[test]
    fn stray_comma_in_arrays_and_between_plugins() {
        let text = "filter { mutate { add_tag => [\"a\", \"b\", ] } }";
        assert_error(text, 1, 39, &["trailing `,`"]);
        let text = "input { beats { port => 5044 }, stdin { } }";
        assert_error(text, 1, 31, &["expected one of", "`}`", "found `,`"]);
        let text = "filter { p { v => [1 2] } }";
        assert_error(text, 1, 22, &["`,`", "`]`", "found `2`"]);
    }

    #[test]
    fn unterminated_string_points_at_its_opening_quote() {
        let text = "filter {\n  mutate { add_tag => \"oops }\n}\n\noutput { stdout {} }\n";
        let e = assert_error(text, 2, 23, &["unterminated string"]);
        assert_eq!(e.expected, ["`\"`"]);
        assert_error(
            "filter { if [a] == 'x { } }",
            1,
            20,
            &["unterminated string"],
        );
        assert_error(
            "filter { if [a] =~ /x { } }",
            1,
            20,
            &["unterminated regular expression"],
        );
    }

    #[test]
    fn else_without_if() {
        let text = "filter {\n  mutate { }\n  else { drop { } }\n}";
        assert_error(text, 3, 3, &["`else` without a preceding `if`"]);
        let text = "filter {\n  if [a] { } else { } else { }\n}";
        assert_error(text, 2, 23, &["`else` without a preceding `if`"]);
        assert_error("filter { if [a] { } elsif [b] { } }", 1, 21, &["`else if`"]);
    }

    #[test]
    fn one_character_values() {
        // `x { }` is a (so far unknown) plugin named `x`, but `x` alone is no value.
        let text = "output {\n  stdout { codec => x }\n}";
        let e = assert_error(
            text,
            2,
            21,
            &[
                "expected a value",
                "found `x`",
                "at least two characters",
                "\"x\"",
            ],
        );
        assert_eq!(e.expected, ["a value"]);
        assert_error(
            "filter { p { h => { a => 1 } } }",
            1,
            21,
            &["a hash key", "at least two characters"],
        );
    }

    #[test]
    fn unknown_section_and_stray_braces() {
        let e = assert_error(
            "inptu {\n}\n",
            1,
            1,
            &["expected one of `input`, `filter`, `output`, found `inptu`"],
        );
        assert_eq!(e.expected, ["`input`", "`filter`", "`output`"]);
        assert_error(
            "filter { }\n}\n",
            2,
            1,
            &[
                "expected one of `input`, `filter`, `output`, found `}`",
                "no matching `{`",
            ],
        );
        assert_error("filters { }", 1, 1, &["found `filters`"]);
        assert_error("input stdin { }", 1, 7, &["expected `{`, found `stdin`"]);
    }

    #[test]
    fn a_section_opened_inside_another() {
        let text = "filter {\n  mutate {\n    add_tag => [\"x\"]\n\n}\noutput {\n  stdout { }\n}\n";
        let e = assert_error(
            text,
            6,
            1,
            &[
                "`output` cannot start a section inside another block",
                "expected `}` to close the block opened at line 1",
            ],
        );
        assert_eq!(e.opened_at, Some(7));
    }

    #[test]
    fn conditionals_inside_a_plugin() {
        let text = "filter {\n  mutate {\n    if [a] { add_tag => [\"x\"] }\n  }\n}";
        assert_error(
            text,
            3,
            5,
            &["conditionals are not allowed inside a plugin block"],
        );
    }

    #[test]
    fn statements_and_plugin_names() {
        let e = assert_error("filter { mutate }", 1, 17, &["expected `{`, found `}`"]);
        assert_eq!(e.expected, ["`{`"]);
        let e = assert_error("filter { => }", 1, 10, &["found `=>`"]);
        assert_eq!(e.expected, ["`if`", "a plugin name", "`}`"]);
    }

    #[test]
    fn condition_errors() {
        let e = assert_error(
            "filter { if [a] = \"x\" { } }",
            1,
            17,
            &["found `=`", "use `==`"],
        );
        assert!(e.expected.contains(&"`{`".to_string()), "{:?}", e.expected);
        assert_error(
            "filter { if { } }",
            1,
            13,
            &["expected a condition, found `{`"],
        );
        assert_error(
            "filter { if [a] and { } }",
            1,
            21,
            &["expected a condition"],
        );
        assert_error("filter { if [a] == { } }", 1, 20, &["expected a value"]);
        assert_error(
            "filter { if [a] =~ [b] { } }",
            1,
            20,
            &["a regular expression", "a string"],
        );
        assert_error("filter { if [a] not [b] { } }", 1, 21, &["expected `in`"]);
        assert_error(
            "filter { if ![a] == 1 { } }",
            1,
            18,
            &["`!` negates only the field reference"],
        );
        assert_error(
            "filter { if !\"x\" { } }",
            1,
            14,
            &["`(`", "a field reference"],
        );
        assert_error(
            "filter { if [a] in [1, { kk => vv }] { } }",
            1,
            24,
            &["cannot be used in a condition"],
        );
        assert_error(
            "filter { if [a { } }",
            1,
            21,
            &["expected `]` to close the field reference opened at line 1"],
        );
        assert_error(
            "filter { if [a] { } else [b] { } }",
            1,
            26,
            &["expected one of `if`, `{`"],
        );
    }

    #[test]
    fn columns_in_messages_count_characters() {
        let text = "filter {\n  mutate { add_tag => [\"élève\"] , }\n}";
        assert_error(text, 2, 33, &["`,`"]);
    }

    #[test]
    fn parse_error_display_includes_the_message() {
        let e = parse("filter {").unwrap_err();
        assert_eq!(e.to_string(), format!("{} (at byte 8)", e.message));
    }

    // ---- several files --------------------------------------------------------------------

    #[test]
    fn several_files_parse_into_one_config_with_offsets_into_the_joined_text() {
        let map = SourceMap::new([
            ("01-input.conf", "input { beats { port => 5044 } }"),
            ("02-filter.conf", "# Logs systèmes\nfilter { mutate { } }\n"),
            ("03-output.conf", "output { stdout { } }"),
        ]);
        let config = parse_sources(&map, ParseOptions::default()).unwrap();
        assert_eq!(config.sections.len(), 3);
        let mutate = plugin(&config.sections[1].body[0]);
        assert_eq!(
            &map.text()[mutate.name_span.start..mutate.name_span.end],
            "mutate"
        );
        let loc = map.locate(mutate.name_span.start);
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("02-filter.conf", 2, 10)
        );
        // The joined text is itself a valid config too.
        assert_eq!(parse(map.text()).unwrap(), config);
    }

    #[test]
    fn an_error_in_the_second_file_is_located_in_that_file() {
        let map = SourceMap::new([
            (
                "/etc/sluice/conf.d/01-input.conf",
                "input {\n  beats { port => 5044 }\n}\n",
            ),
            (
                "/etc/sluice/conf.d/02-filter.conf",
                "# Logs systèmes via syslog\nfilter {\n  grok {\n    match { \"message\" => \"x\" }\n  }\n}\n",
            ),
        ]);
        let e = parse_sources(&map, ParseOptions::default()).unwrap_err();
        assert_eq!(
            map.render(e.offset, &e.message),
            "/etc/sluice/conf.d/02-filter.conf:4:11: expected `=>`, found `{`\n  |\n4 |     match { \"message\" => \"x\" }\n  |           ^"
        );
    }

    #[test]
    fn each_file_must_be_complete_on_its_own() {
        let map = SourceMap::new([
            ("01-a.conf", "filter {\n  mutate { }\n"),
            ("02-b.conf", "}\n"),
        ]);
        let e = parse_sources(&map, ParseOptions::default()).unwrap_err();
        let loc = map.locate(e.offset);
        assert_eq!(loc.file, "01-a.conf");
        assert!(
            e.message
                .contains("expected `}` to close the block opened at line 1"),
            "{}",
            e.message
        );
        assert_eq!(map.locate(e.opened_at.unwrap()).file, "01-a.conf");
        // The joined text happens to balance.
        assert!(parse(map.text()).is_ok());
    }

    // ---- robustness -----------------------------------------------------------------------

    fn generated_config(blocks: usize) -> String {
        let mut text = String::from("input {\n  beats { port => 5044 }\n}\nfilter {\n");
        for n in 0..blocks {
            text.push_str(&format!(
                "  # block {n}\n  if [fields][service] == \"svc{n}\" and ([level] in [\"ERROR\", \"WARN\"] or [code] >= {n}) {{\n    grok {{\n      match => {{ \"message\" => \"%{{COMBINEDAPACHELOG}} {n}\" }}\n      tag_on_failure => [ \"_grok{n}\", \"x\" ]\n    }}\n    mutate {{ add_field => {{ \"n\" => {n} \"s\" => 'v' }} }}\n  }} else if [message] =~ /^x{n}/ {{\n    drop {{ }}\n  }} else {{\n    noop {{ codec => plain {{ charset => \"UTF-8\" }} }}\n  }}\n"
            ));
        }
        text.push_str("}\noutput {\n  stdout { codec => rubydebug }\n}\n");
        text
    }

    #[test]
    fn a_two_thousand_line_config_parses_quickly() {
        let text = generated_config(170);
        assert!(
            text.lines().count() >= 2000,
            "{} lines",
            text.lines().count()
        );
        let started = Instant::now();
        let config = ok(&text);
        let elapsed = started.elapsed();
        assert_eq!(config.sections[1].body.len(), 170);
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        // The same config with an error at the very end must fail just as fast.
        let broken = &text[..text.len() - 3];
        let started = Instant::now();
        assert!(parse(broken).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn pathological_inputs_fail_cleanly() {
        let long_chain = format!(
            "filter {{ if [a0]{} {{ }} }}",
            (1..2000)
                .map(|n| format!(" and [a{n}]"))
                .collect::<String>()
        );
        let started = Instant::now();
        assert!(parse(&long_chain).is_ok());
        for text in [
            "[".repeat(100_000),
            format!("filter {{ p {{ v => {} }} }}", "[".repeat(100_000)),
            format!("filter {{ if {} [a] }}", "(".repeat(100_000)),
            format!("filter {{ {} }}", "if [a] { ".repeat(10_000)),
            format!("filter {{ p {{ v => {} }} }}", "{ k => ".repeat(10_000)),
            format!("filter {{ if {} }}", "!(".repeat(10_000)),
            "\"".repeat(100_001),
            format!("filter {{ if [a] {} }}", "and ".repeat(10_000)),
        ] {
            assert!(parse(&text).is_err());
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let e = parse(&format!(
            "filter {{ p {{ v => {}1{} }} }}",
            "[".repeat(500),
            "]".repeat(500)
        ))
        .unwrap_err();
        assert!(e.message.contains("nesting"), "{}", e.message);
    }

    #[test]
    fn nesting_up_to_the_limit_is_fine() {
        // section + plugin + arrays = MAX_DEPTH
        let depth = MAX_DEPTH - 2;
        ok(&format!(
            "filter {{ p {{ v => {}1{} }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ));
        let ifs = MAX_DEPTH - 1;
        ok(&format!(
            "filter {{ {} {} }}",
            "if [a] {".repeat(ifs),
            "}".repeat(ifs)
        ));
        let codecs = MAX_DEPTH - 2;
        ok(&format!("filter {{ p {{ {} }} }}", "codec => cc { ".repeat(codecs) + &"} ".repeat(codecs)));
        let hashes = MAX_DEPTH - 2;
        ok(&format!("filter {{ p {{ v => {} }} }}", "{ kk => ".repeat(hashes) + "1" + &" }".repeat(hashes)));
        let mixed = (MAX_DEPTH - 2) / 4;
        let open = "[ { kk => pp { vv => ".repeat(mixed);
        ok(&format!("filter {{ if [a] {{ p {{ v => {open}1{} }} }} }}", " } } ]".repeat(mixed)));
        let parens = MAX_DEPTH - 1; // the filter section is one level
        assert_eq!(
            cond(&format!("{}[a]{}", "(".repeat(parens), ")".repeat(parens))),
            "[a]"
        );
    }

    #[test]
    fn no_prefix_of_the_reference_config_panics() {
        let mut oks = 0;
        for (end, _) in REFERENCE.char_indices() {
            for text in [&REFERENCE[..end], &REFERENCE[end..]] {
                match parse(text) {
                    Ok(_) => oks += 1,
                    Err(e) => assert!(e.offset <= text.len() && !e.message.is_empty()),
                }
            }
        }
        assert!(oks > 0);
    }

    #[test]
    fn random_mutations_do_not_panic() {
        // A small LCG keeps this deterministic without a dependency.
        let mut seed: u64 = 0x5eed;
        let mut next = move |bound: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % bound.max(1)
        };
        let alphabet: Vec<char> = "{}[](),=>~!<\"'/\\#\n abc_-01.è".chars().collect();
        let original: Vec<char> = REFERENCE.chars().collect();
        for _ in 0..1500 {
            let mut chars = original.clone();
            for _ in 0..1 + next(4) {
                let at = next(chars.len());
                match next(3) {
                    0 => chars[at] = alphabet[next(alphabet.len())],
                    1 => chars.insert(at, alphabet[next(alphabet.len())]),
                    _ => {
                        chars.remove(at);
                    }
                }
            }
            let text: String = chars.into_iter().collect();
            if let Err(e) = parse(&text) {
                assert!(e.offset <= text.len());
                let _ = SourceMap::single("m.conf", &text).render(e.offset, &e.message);
            }
        }
    }
}

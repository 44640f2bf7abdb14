//! A faster way to the same captures: match an expression piece by piece.
//!
//! Most grok expressions are a chain of fields and separators (`%{IPORHOST:clientip}
//! %{HTTPDUSER:ident} ... %{QS:agent}`). Resolving the capture positions of the whole chain at
//! once is the regex engine's slowest step: its capture engines (bounded backtracker, PikeVM)
//! walk the full automaton — IPv6 alone is hundreds of states — over the whole line. This
//! module cuts the expression's top-level concatenation into pieces of one field each (with the
//! literal text around it, so a lazy `%{DATA}` keeps the separator that ends it) and matches
//! them one after the other, each anchored where the previous one ended. A piece that is just a
//! group around a pattern, between fixed literals, needs no capture engine at all: the forward
//! DFA's match end gives the group's end.
//!
//! Why the result is the one the whole expression gives: a backtracking reading of a
//! concatenation tries the first piece's matches in priority order and, for each, the rest. If
//! each piece's preferred match (its leftmost-first anchored match) lets the next piece match,
//! the first complete path found is made of those preferred matches — which is what this
//! module computes. And a match found at offset 0 is the leftmost one. When a piece fails, the
//! whole expression might still match by a less preferred choice earlier on, so the caller falls
//! back to the full regex: this path only ever answers "matched, with these captures".

use std::cell::RefCell;
use thread_local::ThreadLocal;
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::{Class, Hir, HirKind};

/// Capture positions per grok capture (indexed like the capture table: group `gK` is slot K).
pub type Slots = Vec<Option<(usize, usize)>>;

/// How deep alternations are cut into their own pieces (an alternation inside a branch...).
const MAX_DEPTH: usize = 3;

/// A piece whose fully built DFA stays under this size is searched with it: no cache to
/// consult, no strategy to pick, one table walk. Larger ones (an IPv6 alternative, say) keep the
/// lazily built DFA of the regex engine.
const DENSE_DFA_LIMIT: usize = 256 * 1024;

pub struct Sequence {
    pieces: Vec<Piece>,
    /// Every regex of the pieces, those of nested branches included; pieces name theirs by index.
    regexes: Vec<meta::Regex>,
    /// The same regexes as anchored dense DFAs, where they are small enough.
    dense: Vec<Option<dense::DFA<Vec<u32>>>>,
    slots: usize,
    /// Per-thread scratch, reused across events. Each worker keeps its own, so the lazy DFAs'
    /// transition tables stay in the cache of the core that fills them instead of passing
    /// between workers (a shared pool hands each worker the other's scratch half the time).
    scratch: ThreadLocal<RefCell<Scratch>>,
}

struct Scratch {
    /// Capture buffers and search caches, one per regex. Kept here rather than left to each
    /// regex's internal pool, whose fast path serves only the first thread that used it: every
    /// other worker would lock a shared stack twice per piece and per event.
    captures: Vec<Captures>,
    caches: Vec<meta::Cache>,
    slots: Slots,
}

enum Piece {
    /// `literal* (?<gK> pattern-without-groups ) literal*`: the group spans from the end of the
    /// leading literals to the match end less the trailing ones.
    Single { regex: usize, slot: usize, lead: usize, trail: usize },
    /// `literal* (?<gK> [class]{min,} ) literal*`, the trailing literal not starting with a byte
    /// of the class: the group is the longest run of class bytes, found by a table scan. (A DFA
    /// finds the same end, but a greedy run is in a matching state at every byte, which takes
    /// its search off its fast loop for the whole run.)
    Run(Box<Run>),
    /// Only literals and assertions, or a pattern without groups.
    Plain { regex: usize },
    /// `literal* (?:A|B|...) literal*`, an optional part being the alternation of itself and
    /// nothing: the branches in order (the first that matches is the one a backtracking reading
    /// takes), each cut into pieces of its own (with the literals around it). When a branch's
    /// pieces match, it is taken; when they fail, the DFA checks the branch whole: no match sends
    /// the search to the next branch, a match (by a path the pieces do not take) to the whole
    /// regex.
    Branches(Vec<Branch>),
    /// Anything else: run the capture engine on this piece and map its groups to slots.
    Groups { regex: usize, map: Vec<(usize, usize)> },
}

struct Run {
    slot: usize,
    lead: Vec<u8>,
    class: [bool; 256],
    min: usize,
    trail: Vec<u8>,
}

impl Run {
    /// For `literal* (?<gK> [class]{min,} ) literal*` (greedy, unbounded, a byte class) whose
    /// trailing literal cannot continue the run; `None` for anything else.
    fn of(items: &[Hir]) -> Option<Run> {
        let (mut lead, mut trail) = (Vec::new(), Vec::new());
        let mut run: Option<(usize, [bool; 256], usize)> = None;
        for item in items {
            match item.kind() {
                HirKind::Literal(literal) if run.is_none() => lead.extend_from_slice(&literal.0),
                HirKind::Literal(literal) => trail.extend_from_slice(&literal.0),
                HirKind::Capture(group) if run.is_none() => {
                    let slot = slot_named(group.name.as_deref()?)?;
                    let HirKind::Repetition(rep) = group.sub.kind() else { return None };
                    if !rep.greedy || rep.max.is_some() {
                        return None;
                    }
                    let HirKind::Class(class) = rep.sub.kind() else { return None };
                    run = Some((slot, byte_table(class)?, rep.min as usize));
                }
                _ => return None,
            }
        }
        let (slot, class, min) = run?;
        if trail.first().is_some_and(|&b| class[usize::from(b)]) {
            return None;
        }
        Some(Run { slot, lead, class, min, trail })
    }

    /// Where the piece ends when it matches at `at`, with the group's span.
    fn at(&self, text: &[u8], at: usize) -> Option<(usize, (usize, usize))> {
        let start = at + self.lead.len();
        if !text[at..].starts_with(&self.lead) {
            return None;
        }
        let end = start + text[start..].iter().take_while(|&&b| self.class[usize::from(b)]).count();
        if end - start < self.min || !text[end..].starts_with(&self.trail) {
            return None;
        }
        Some((end + self.trail.len(), (start, end)))
    }
}

/// The slot of capture group `gK`.
fn slot_named(name: &str) -> Option<usize> {
    name.strip_prefix('g')?.parse().ok()
}

/// Which bytes a class holds; `None` for a class of characters beyond ASCII.
fn byte_table(class: &Class) -> Option<[bool; 256]> {
    let mut table = [false; 256];
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                table[usize::from(r.start())..=usize::from(r.end())].fill(true);
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (start, end) = (u8::try_from(r.start()).ok()?, u8::try_from(r.end()).ok()?);
                if !end.is_ascii() {
                    return None;
                }
                table[usize::from(start)..=usize::from(end)].fill(true);
            }
        }
    }
    Some(table)
}

struct Branch {
    check: usize,
    pieces: Vec<Piece>,
    /// The slots its pieces write, cleared when they fail part-way.
    slots: Vec<usize>,
}

/// Every slot `pieces` may write.
fn slots_of(pieces: &[Piece], out: &mut Vec<usize>) {
    for piece in pieces {
        match piece {
            Piece::Single { slot, .. } => out.push(*slot),
            Piece::Run(run) => out.push(run.slot),
            Piece::Plain { .. } => {}
            Piece::Branches(branches) => branches.iter().for_each(|b| out.extend_from_slice(&b.slots)),
            Piece::Groups { map, .. } => out.extend(map.iter().map(|&(_, slot)| slot)),
        }
    }
}

struct Builder {
    config: syntax::Config,
    regexes: Vec<meta::Regex>,
    dense: Vec<Option<dense::DFA<Vec<u32>>>>,
    slots: usize,
}

impl Builder {
    /// Compile `items` as one regex; `searched` when only where its match ends is asked (a
    /// piece whose groups the capture engine resolves needs no DFA).
    fn compile(&mut self, items: &[Hir], searched: bool) -> Option<usize> {
        // The printed form of an HIR parses back to the same HIR; the capture groups keep their
        // `gK` names, which is how their slots are found.
        let text = Hir::concat(items.to_vec()).to_string();
        let regex = meta::Regex::builder().syntax(self.config).build(&text).ok()?;
        let dense = if searched {
            dense::Builder::new()
                .syntax(self.config)
                .configure(
                    dense::DFA::config()
                        .start_kind(StartKind::Anchored)
                        .dfa_size_limit(Some(DENSE_DFA_LIMIT))
                        .determinize_size_limit(Some(4 * DENSE_DFA_LIMIT)),
                )
                .build(&text)
                .ok()
        } else {
            None
        };
        self.regexes.push(regex);
        self.dense.push(dense);
        Some(self.regexes.len() - 1)
    }

    /// A concatenation's pieces: one field each, with the literals that follow it.
    fn cut(&mut self, hir: Hir, depth: usize) -> Option<Vec<Piece>> {
        let items: Vec<Hir> = match hir.kind() {
            HirKind::Concat(items) => items.clone(),
            _ => vec![hir],
        };
        let mut groups: Vec<Vec<Hir>> = Vec::new();
        let mut current: Vec<Hir> = Vec::new();
        let mut has_field = false;
        for item in items {
            let fixed = is_fixed(&item);
            if !fixed && has_field {
                groups.push(std::mem::take(&mut current));
                has_field = false;
            }
            has_field |= !fixed;
            current.push(item);
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups.into_iter().map(|items| self.piece(items, depth)).collect()
    }

    fn piece(&mut self, items: Vec<Hir>, depth: usize) -> Option<Piece> {
        if let Some(run) = Run::of(&items) {
            return (run.slot < self.slots).then(|| Piece::Run(Box::new(run)));
        }
        if let Some((slot, lead, trail)) = single(&items) {
            if slot >= self.slots {
                return None;
            }
            return Some(Piece::Single { regex: self.compile(&items, true)?, slot, lead, trail });
        }
        if depth < MAX_DEPTH {
            if let Some(branches) = branches(&items) {
                let mut out = Vec::with_capacity(branches.len());
                for whole in branches {
                    let check = self.compile(&whole, true)?;
                    let pieces = self.cut(Hir::concat(whole), depth + 1)?;
                    let mut slots = Vec::new();
                    slots_of(&pieces, &mut slots);
                    out.push(Branch { check, pieces, slots });
                }
                return Some(Piece::Branches(out));
            }
        }
        let plain = items.iter().all(|item| item.properties().explicit_captures_len() == 0);
        let regex = self.compile(&items, plain)?;
        let names = self.regexes[regex].group_info().pattern_names(regex_automata::PatternID::ZERO);
        let map: Vec<(usize, usize)> =
            names.enumerate().filter_map(|(i, name)| Some((i, slot_named(name?)?))).collect();
        if map.iter().any(|&(_, slot)| slot >= self.slots) {
            return None;
        }
        Some(if map.is_empty() { Piece::Plain { regex } } else { Piece::Groups { regex, map } })
    }
}

impl Sequence {
    /// Cut `source` (an expanded grok regex whose capture groups are named `g0`, `g1`, ... and
    /// compiled byte-oriented without Unicode, single-line) into pieces. `None` when cutting
    /// would not help (a single piece that needs the capture engine anyway) or the expression
    /// is not of a form this handles.
    pub fn new(source: &str, slots: usize) -> Option<Sequence> {
        let config = syntax::Config::new().unicode(false).utf8(false);
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(source).ok()?;
        let mut builder = Builder { config, regexes: Vec::new(), dense: Vec::new(), slots };
        let pieces = builder.cut(hir, 0)?;
        let worth_it = pieces.len() > 1 || pieces.iter().all(|p| !matches!(p, Piece::Groups { .. }));
        worth_it.then(|| Sequence { pieces, regexes: builder.regexes, dense: builder.dense, slots, scratch: ThreadLocal::new() })
    }

    /// Match `text` from offset 0, piece by piece, and hand the capture positions to `found`.
    /// `None` means "ask the full regex" (not "no match").
    pub fn run<R>(&self, text: &[u8], found: impl FnOnce(&Slots) -> R) -> Option<R> {
        let cell = self.scratch.get_or(|| RefCell::new(self.new_scratch()));
        // A re-entrant call on this thread (none today) would find the scratch in use: give it a
        // fresh one rather than fail.
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            let mut fresh = self.new_scratch();
            return self.run_pieces(&self.pieces, text, 0, &mut fresh).map(|_| found(&fresh.slots));
        };
        scratch.slots.clear();
        scratch.slots.resize(self.slots, None);
        let result = self.run_pieces(&self.pieces, text, 0, &mut scratch);
        result.map(|_| found(&scratch.slots))
    }

    fn new_scratch(&self) -> Scratch {
        Scratch {
            captures: self.regexes.iter().map(|r| r.create_captures()).collect(),
            caches: self.regexes.iter().map(|r| r.create_cache()).collect(),
            slots: vec![None; self.slots],
        }
    }

    /// Where regex `i`'s leftmost-first match from the (anchored) start of `input` ends.
    fn end(&self, i: usize, input: &Input<'_>, scratch: &mut Scratch) -> Option<usize> {
        match &self.dense[i] {
            // An anchored search of an anchored DFA cannot fail to start; a quit byte cannot
            // occur (none is configured).
            Some(dfa) => dfa.try_search_fwd(input).ok()?.map(|h| h.offset()),
            None => self.regexes[i].search_half_with(&mut scratch.caches[i], input).map(|h| h.offset()),
        }
    }

    /// Match `pieces` one after the other from `at`; where they end, or `None` for "unknown".
    fn run_pieces(&self, pieces: &[Piece], text: &[u8], mut at: usize, scratch: &mut Scratch) -> Option<usize> {
        for piece in pieces {
            let input = Input::new(text).span(at..text.len()).anchored(Anchored::Yes);
            match piece {
                Piece::Single { regex, slot, lead, trail } => {
                    let end = self.end(*regex, &input, scratch)?;
                    scratch.slots[*slot] = Some((at + lead, end - trail));
                    at = end;
                }
                Piece::Run(run) => {
                    let (end, span) = run.at(text, at)?;
                    scratch.slots[run.slot] = Some(span);
                    at = end;
                }
                Piece::Plain { regex } => {
                    at = self.end(*regex, &input, scratch)?;
                }
                Piece::Branches(branches) => {
                    let mut taken = None;
                    for branch in branches {
                        // The branch's own pieces first: when they match, they took the path a
                        // backtracking reading of the branch prefers, so it ends where they do.
                        if let Some(end) = self.run_pieces(&branch.pieces, text, at, scratch) {
                            taken = Some(end);
                            break;
                        }
                        for &slot in &branch.slots {
                            scratch.slots[slot] = None;
                        }
                        // They failed: either the branch does not match here (try the next one)
                        // or it matches only by a path they do not take (ask the whole regex).
                        if self.end(branch.check, &input, scratch).is_some() {
                            return None;
                        }
                    }
                    at = taken?;
                }
                Piece::Groups { regex, map } => {
                    let caps = &mut scratch.captures[*regex];
                    self.regexes[*regex].search_captures_with(&mut scratch.caches[*regex], &input, caps);
                    let whole = caps.get_match()?;
                    for &(group, slot) in map {
                        if let Some(span) = caps.get_group(group) {
                            scratch.slots[slot] = Some((span.start, span.end));
                        }
                    }
                    at = whole.end();
                }
            }
        }
        Some(at)
    }
}

fn is_fixed(item: &Hir) -> bool {
    matches!(item.kind(), HirKind::Literal(_) | HirKind::Look(_) | HirKind::Empty)
}

/// For `fixed* (A|B|...) fixed*` (or `fixed* (X)? fixed*`, read as `(X|)`, and `(X)??` as
/// `(|X)`), each branch with the fixed items around it, in the order they are tried.
fn branches(items: &[Hir]) -> Option<Vec<Vec<Hir>>> {
    let mut fields = items.iter().enumerate().filter(|(_, item)| !is_fixed(item));
    let (at, field) = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    let alternatives: Vec<Hir> = match field.kind() {
        HirKind::Alternation(alternatives) => alternatives.clone(),
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let sub = (*r.sub).clone();
            if r.greedy {
                vec![sub, Hir::empty()]
            } else {
                vec![Hir::empty(), sub]
            }
        }
        _ => return None,
    };
    Some(
        alternatives
            .into_iter()
            .map(|alternative| {
                let mut whole = items[..at].to_vec();
                whole.push(alternative);
                whole.extend_from_slice(&items[at + 1..]);
                whole
            })
            .collect(),
    )
}

/// `(slot, lead, trail)` for `literal* (?<gK> no-groups ) literal*`; `None` for other pieces.
fn single(items: &[Hir]) -> Option<(usize, usize, usize)> {
    let (mut lead, mut trail) = (0, 0);
    let mut slot = None;
    for item in items {
        match item.kind() {
            HirKind::Literal(literal) if slot.is_none() => lead += literal.0.len(),
            HirKind::Literal(literal) => trail += literal.0.len(),
            HirKind::Look(_) | HirKind::Empty => {}
            HirKind::Capture(group) if slot.is_none() && group.sub.properties().explicit_captures_len() == 0 => {
                slot = Some(slot_named(group.name.as_deref()?)?);
            }
            _ => return None,
        }
    }
    slot.map(|slot| (slot, lead, trail))
}

#[cfg(test)]
mod tests {
    use crate::filters::grok::{compile_pattern, library, EcsMode};

    /// The piece-by-piece path and the whole regex agree on every capture, for expressions
    /// with lazy fields, alternations, optional parts and fields that can swallow separators.
    #[test]
    fn pieces_give_the_captures_the_whole_regex_gives() {
        let cases: &[(&str, &[&str])] = &[
            (
                "%{COMBINEDAPACHELOG}",
                &[
                    r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#,
                    r#"2001:db8::1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 - "-" "curl/7.1""#,
                    r#"host.example.com - a@b.c [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-""#,
                    r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GARBAGE REQUEST LINE" 400 12 "x \"quoted\" y" "agent""#,
                    "not an access log line at all",
                ],
            ),
            ("%{SYSLOGLINE}", &["Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2", "Mar  1 09:00:00 host cron: job started", "Mar  1 09:00:00 host : odd"]),
            ("%{DATA:a}: %{DATA:b}: %{GREEDYDATA:c}", &["x: y: z", "a:b: c: d: e", "no separators"]),
            ("%{WORD:w}(?: %{NUMBER:n:int})? %{WORD:last}", &["abc 12 end", "abc end", "abc 12x end"]),
            ("%{IPORHOST:h}(?::%{POSINT:p})? %{GREEDYDATA:rest}", &["example.org:8080 hello", "10.1.2.3 hi", "::1 x"]),
            ("^%{INT:a} %{INT:b}$", &["1 2", "1 2 3", " 1 2"]),
            ("%{NOTSPACE:a} +%{NOTSPACE:b}", &["x    y", "x"]),
            ("(?:%{WORD:a}|%{NUMBER:b})x %{WORD:c}", &["12x y", "abx y", "1.5x y", "x y", "-x y"]),
            ("(?:%{DATA:a}-)?%{WORD:b}$", &["x-y", "y", "a-b-c", "a-", "-b"]),
            ("%{WORD:w}(?: %{WORD:o})?? end", &["a end", "a b end", "a b c end"]),
            ("(?:(?:%{INT:i}|%{WORD:w})/)?%{GREEDYDATA:rest}", &["12/x", "ab/x", "/x", "x"]),
            ("%{WORD:a}(?: (?:%{INT:n}|-))? %{WORD:z}", &["a 1 z", "a - z", "a z", "a q z"]),
            // Runs of one class found by a table scan, with and without a closing literal, and
            // fields whose closing literal could continue the run (left to the DFA).
            ("%{NOTSPACE:a}", &["", " x", "abc def", "abc"]),
            ("\\[%{NOTSPACE:a}\\] %{GREEDYDATA:rest}", &["[x] y", "[x]] y", "[] y", "[x y"]),
            ("%{GREEDYDATA:a}x", &["axbx", "nothing", "x"]),
            ("(?<a>[0-9]{2,})-(?<b>[a-z]*)$", &["12-ab", "1-ab", "123-", "12-ab1"]),
        ];
        for (pattern, lines) in cases {
            let grok = compile_pattern(pattern, library(EcsMode::Disabled)).unwrap();
            let whole = regex::bytes::RegexBuilder::new(grok.regex_source()).unicode(false).build().unwrap();
            for line in *lines {
                let expected: Option<Vec<Option<String>>> = whole.captures(line.as_bytes()).map(|caps| {
                    (0..grok.capture_specs().len())
                        .map(|k| caps.name(&format!("g{k}")).map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned()))
                        .collect()
                });
                let mut got = Vec::new();
                let matched = grok.match_spans(line, |_, v| got.push(v.map(str::to_string)));
                let got = (matched == crate::filters::grok::MatchResult::Matched).then_some(got);
                assert_eq!(got, expected, "{pattern} on {line:?}");
            }
        }
    }

    /// The reference expression is cut into one piece per field, and its alternations (the
    /// request line, the `-` or number fields, the optional HTTP version) into branches, so no
    /// piece needs the capture engine.
    #[test]
    fn the_apache_expression_is_cut_into_one_piece_per_field() {
        fn capture_engines(pieces: &[super::Piece]) -> usize {
            pieces
                .iter()
                .map(|piece| match piece {
                    super::Piece::Groups { .. } => 1,
                    super::Piece::Branches(branches) => branches.iter().map(|b| capture_engines(&b.pieces)).sum(),
                    _ => 0,
                })
                .sum()
        }
        let grok = compile_pattern("%{COMBINEDAPACHELOG}", library(EcsMode::Disabled)).unwrap();
        let sequence = super::Sequence::new(grok.regex_source(), grok.capture_specs().len()).unwrap();
        assert_eq!(sequence.pieces.len(), 9);
        assert_eq!(capture_engines(&sequence.pieces), 0, "every field is located by DFA scans alone");
    }
}

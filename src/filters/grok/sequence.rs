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

use parking_lot::Mutex;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::{Hir, HirKind};

/// Capture positions per grok capture (indexed like the capture table: group `gK` is slot K).
pub type Slots = Vec<Option<(usize, usize)>>;

pub struct Sequence {
    pieces: Vec<Piece>,
    slots: usize,
    /// Per-caller scratch, reused across events.
    scratch: Mutex<Vec<Scratch>>,
}

struct Scratch {
    captures: Vec<Captures>,
    /// One search cache per piece. Kept here rather than left to each regex's internal pool,
    /// whose fast path serves only the first thread that used it: every other worker would
    /// lock a shared stack twice per piece and per event.
    caches: Vec<meta::Cache>,
    slots: Slots,
}

struct Piece {
    regex: meta::Regex,
    shape: Shape,
}

enum Shape {
    /// `literal* (?<gK> pattern-without-groups ) literal*`: the group spans from the end of the
    /// leading literals to the match end less the trailing ones.
    Single { slot: usize, lead: usize, trail: usize },
    /// Anything else: run the capture engine on this piece and map its groups to slots.
    Groups { map: Vec<(usize, usize)> },
    /// Only literals and assertions.
    Plain,
}

impl Sequence {
    /// Cut `source` (an expanded grok regex whose capture groups are named `g0`, `g1`, ... and
    /// compiled byte-oriented without Unicode, single-line) into pieces. `None` when cutting
    /// would not help (a single piece that needs the capture engine anyway) or the expression
    /// is not of a form this handles.
    pub fn new(source: &str, slots: usize) -> Option<Sequence> {
        let config = syntax::Config::new().unicode(false).utf8(false);
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(source).ok()?;
        let items: Vec<Hir> = match hir.kind() {
            HirKind::Concat(items) => items.clone(),
            _ => vec![hir],
        };
        let mut groups: Vec<Vec<Hir>> = Vec::new();
        let mut current: Vec<Hir> = Vec::new();
        let mut has_field = false;
        for item in items {
            let fixed = matches!(item.kind(), HirKind::Literal(_) | HirKind::Look(_) | HirKind::Empty);
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
        let mut pieces = Vec::with_capacity(groups.len());
        for items in groups {
            let shape = shape_of(&items);
            // The printed form of an HIR parses back to the same HIR; the capture groups keep
            // their `gK` names, which is how their slots are found below.
            let text = Hir::concat(items).to_string();
            let regex = meta::Regex::builder().syntax(config).build(&text).ok()?;
            let shape = match shape {
                Some(single) => single,
                None => {
                    let names = regex.group_info().pattern_names(regex_automata::PatternID::ZERO);
                    let map: Vec<(usize, usize)> = names
                        .enumerate()
                        .filter_map(|(i, name)| Some((i, name?.strip_prefix('g')?.parse().ok()?)))
                        .collect();
                    if map.is_empty() {
                        Shape::Plain
                    } else {
                        Shape::Groups { map }
                    }
                }
            };
            if let Shape::Single { slot, .. } = shape {
                if slot >= slots {
                    return None;
                }
            }
            pieces.push(Piece { regex, shape });
        }
        let worth_it = pieces.len() > 1 || pieces.iter().all(|p| !matches!(p.shape, Shape::Groups { .. }));
        worth_it.then(|| Sequence { pieces, slots, scratch: Mutex::new(Vec::new()) })
    }

    /// Match `text` from offset 0, piece by piece, and hand the capture positions to `found`.
    /// `None` means "ask the full regex" (not "no match").
    pub fn run<R>(&self, text: &[u8], found: impl FnOnce(&Slots) -> R) -> Option<R> {
        let mut scratch = self.scratch.lock().pop().unwrap_or_else(|| Scratch {
            captures: self.pieces.iter().map(|p| p.regex.create_captures()).collect(),
            caches: self.pieces.iter().map(|p| p.regex.create_cache()).collect(),
            slots: Vec::with_capacity(self.slots),
        });
        scratch.slots.clear();
        scratch.slots.resize(self.slots, None);
        let Scratch { captures, caches, slots } = &mut scratch;
        let result = self.run_with(text, slots, captures, caches).then(|| found(slots));
        self.scratch.lock().push(scratch);
        result
    }

    fn run_with(&self, text: &[u8], slots: &mut Slots, buffers: &mut [Captures], caches: &mut [meta::Cache]) -> bool {
        let mut at = 0;
        for ((piece, caps), cache) in self.pieces.iter().zip(buffers.iter_mut()).zip(caches.iter_mut()) {
            let input = Input::new(text).span(at..text.len()).anchored(Anchored::Yes);
            match &piece.shape {
                Shape::Single { slot, lead, trail } => {
                    let Some(half) = piece.regex.search_half_with(cache, &input) else { return false };
                    let end = half.offset();
                    slots[*slot] = Some((at + lead, end - trail));
                    at = end;
                }
                Shape::Plain => {
                    let Some(half) = piece.regex.search_half_with(cache, &input) else { return false };
                    at = half.offset();
                }
                Shape::Groups { map } => {
                    piece.regex.search_captures_with(cache, &input, caps);
                    let Some(whole) = caps.get_match() else { return false };
                    for &(group, slot) in map {
                        if let Some(span) = caps.get_group(group) {
                            if let Some(out) = slots.get_mut(slot) {
                                *out = Some((span.start, span.end));
                            }
                        }
                    }
                    at = whole.end();
                }
            }
        }
        true
    }
}

/// `Single` for `literal* (?<gK> no-groups ) literal*`; `None` for other pieces.
fn shape_of(items: &[Hir]) -> Option<Shape> {
    let (mut lead, mut trail) = (0, 0);
    let mut slot = None;
    for item in items {
        match item.kind() {
            HirKind::Literal(literal) if slot.is_none() => lead += literal.0.len(),
            HirKind::Literal(literal) => trail += literal.0.len(),
            HirKind::Look(_) | HirKind::Empty => {}
            HirKind::Capture(group) if slot.is_none() && group.sub.properties().explicit_captures_len() == 0 => {
                let Some(index) = group.name.as_deref().and_then(|n| n.strip_prefix('g')?.parse::<usize>().ok()) else {
                    return None;
                };
                slot = Some(index);
            }
            _ => return None,
        }
    }
    slot.map(|slot| Shape::Single { slot, lead, trail })
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

    /// The reference expression is cut into its fields, so the fast path is what runs.
    #[test]
    fn the_apache_expression_is_cut_into_one_piece_per_field() {
        let grok = compile_pattern("%{COMBINEDAPACHELOG}", library(EcsMode::Disabled)).unwrap();
        let sequence = super::Sequence::new(grok.regex_source(), grok.capture_specs().len()).unwrap();
        assert_eq!(sequence.pieces.len(), 9);
        let singles = sequence.pieces.iter().filter(|p| matches!(p.shape, super::Shape::Single { .. })).count();
        assert_eq!(singles, 6, "clientip, ident, auth, timestamp, referrer, agent need no capture engine");
    }
}

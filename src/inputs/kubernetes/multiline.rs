//! Joining several log lines into one event (a Java stack trace, a Python traceback).
//!
//! The rule is the multiline codec's: a line that matches `pattern` (or does not, with
//! `negate => true`) belongs to the `previous` line's event, or to the `next` line's. Lines are
//! grouped per stream of a container, after the runtime's split lines have been joined, and
//! joined with `\n`. A group is let go when the rule ends it, when it reaches `max_lines`
//! (tagged `multiline_codec_max_lines_reached`), or when no line has come for `timeout`.

use super::format::{Line, Stream};
use regex::Regex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Previous,
    Next,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: Regex,
    pub negate: bool,
    pub what: What,
    pub max_lines: usize,
    pub timeout: Duration,
}

#[derive(Debug)]
struct Group {
    line: Line,
    last: Instant,
}

#[derive(Debug)]
pub struct Multiline {
    held: [Option<Group>; 2],
}

impl Multiline {
    pub fn new() -> Multiline {
        Multiline { held: [None, None] }
    }

    pub fn push(&mut self, rule: &Rule, line: Line, now: Instant, out: &mut Vec<Line>) {
        let slot = &mut self.held[slot_of(line.stream)];
        let matched = rule.pattern.is_match(&line.text) != rule.negate;
        match rule.what {
            What::Previous => {
                if matched {
                    if let Some(g) = slot.as_mut() {
                        append(g, line, now);
                    } else {
                        // Nothing before it to join: it starts a group of its own.
                        *slot = Some(Group { line, last: now });
                    }
                } else {
                    if let Some(g) = slot.take() {
                        out.push(g.line);
                    }
                    *slot = Some(Group { line, last: now });
                }
            }
            What::Next => {
                match slot.as_mut() {
                    Some(g) => append(g, line, now),
                    None => *slot = Some(Group { line, last: now }),
                }
                if !matched {
                    if let Some(g) = slot.take() {
                        out.push(g.line);
                    }
                }
            }
        }
        if let Some(g) = slot.as_mut() {
            if g.line.lines >= rule.max_lines {
                g.line.max_lines_reached = true;
                if let Some(g) = slot.take() {
                    out.push(g.line);
                }
            }
        }
    }

    /// Let go of groups no line has joined for the rule's timeout (all of them with `all`).
    pub fn flush(&mut self, rule: &Rule, now: Instant, all: bool, out: &mut Vec<Line>) {
        let mut due: Vec<Line> = Vec::new();
        for slot in self.held.iter_mut() {
            if slot.as_ref().is_some_and(|g| all || now.duration_since(g.last) >= rule.timeout) {
                if let Some(g) = slot.take() {
                    due.push(g.line);
                }
            }
        }
        due.sort_by_key(|l| l.offset);
        out.extend(due);
    }

    pub fn held_from(&self) -> Option<u64> {
        self.held.iter().flatten().map(|g| g.line.offset).min()
    }

    pub fn clear(&mut self) {
        self.held = [None, None];
    }
}

fn slot_of(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn append(g: &mut Group, line: Line, now: Instant) {
    g.line.text.push('\n');
    g.line.text.push_str(&line.text);
    g.line.lines += 1;
    g.line.split |= line.split;
    g.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, offset: u64) -> Line {
        Line { stream: Stream::Stdout, malformed: false, time: None, ..Line::raw(text.to_string(), offset) }
    }

    fn rule(pattern: &str, negate: bool, what: What, max_lines: usize) -> Rule {
        Rule { pattern: Regex::new(pattern).unwrap(), negate, what, max_lines, timeout: Duration::from_secs(5) }
    }

    fn run(rule: &Rule, lines: &[&str]) -> (Vec<(String, u64)>, Multiline) {
        let mut m = Multiline::new();
        let mut out = Vec::new();
        let now = Instant::now();
        for (i, l) in lines.iter().enumerate() {
            m.push(rule, line(l, i as u64 * 100), now, &mut out);
        }
        (out.into_iter().map(|l| (l.text, l.offset)).collect(), m)
    }

    #[test]
    fn indented_lines_join_the_previous_one() {
        let r = rule(r"^\s", false, What::Previous, 500);
        let (out, m) = run(&r, &["Exception in thread main", "\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)", "next event", "\tat x"]);
        assert_eq!(out, vec![("Exception in thread main\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)".to_string(), 0)]);
        assert_eq!(m.held_from(), Some(300));
    }

    #[test]
    fn negated_start_pattern() {
        // Every event starts with a date; anything else continues it.
        let r = rule(r"^\d{4}-", true, What::Previous, 500);
        let (out, _) = run(&r, &["2024-01-01 a", "b", "2024-01-01 c"]);
        assert_eq!(out, vec![("2024-01-01 a\nb".to_string(), 0)]);
    }

    #[test]
    fn continuation_marks_join_the_next_line() {
        let r = rule(r"\\$", false, What::Next, 500);
        let (out, m) = run(&r, &["one \\", "two \\", "three", "four"]);
        assert_eq!(out, vec![("one \\\ntwo \\\nthree".to_string(), 0), ("four".to_string(), 300)]);
        assert_eq!(m.held_from(), None);
    }

    #[test]
    fn max_lines_and_timeout_let_groups_go() {
        let r = rule(r"^\s", false, What::Previous, 2);
        let mut m = Multiline::new();
        let mut out = Vec::new();
        let t0 = Instant::now();
        for (i, l) in ["a", " b", " c"].iter().enumerate() {
            m.push(&r, line(l, i as u64), t0, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert!(out[0].max_lines_reached);
        assert_eq!(out[0].text, "a\n b");
        m.flush(&r, t0 + Duration::from_secs(1), false, &mut out);
        assert_eq!(out.len(), 1);
        m.flush(&r, t0 + Duration::from_secs(5), false, &mut out);
        assert_eq!(out[1].text, " c");
    }
}

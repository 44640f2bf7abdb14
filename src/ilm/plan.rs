//! What the cleanup should do, decided from a listing of the indices and the time: a pure
//! function, so the rules can be read and tested without a cluster.
//!
//! Only indices a pattern matches are considered. Hidden and dot-prefixed indices (system
//! indices, data stream backing indices) are left out unless the pattern itself starts with a
//! dot, and the write index of an alias or a data stream is never acted on. Then, in order:
//! 1. **age**: an index whose newest data (the end of the period its name reads, or its creation
//!    date when the pattern has no date part) is at least `older_than` old is deleted;
//! 2. **size budget**: while the indices left hold more than `max_size` (their store size,
//!    replicas included, as `_cat/indices` reports it), the oldest is deleted — never one of the
//!    newest date, so the index being written survives any budget;
//! 3. **merge**: an open index left whose newest data is at least `force_merge_after` old and
//!    that has more than one segment per primary shard is merged down to one.

use super::pattern::{human_bytes, human_duration, IndexPattern, NameDate};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One index as the cluster lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    pub name: String,
    /// Closed indices can be deleted, not merged; they hold no store size in the listing.
    pub open: bool,
    /// `index.hidden`.
    pub hidden: bool,
    pub created: Option<DateTime<Utc>>,
    /// Store size in bytes, replicas included.
    pub store_bytes: u64,
    pub primaries: u64,
    /// Segments of the primary shards.
    pub primary_segments: u64,
    /// The alias or data stream this index is the write index of.
    pub write_index_of: Option<String>,
}

/// The retention rules of one run.
#[derive(Debug, Clone)]
pub struct Rules {
    pub patterns: Vec<IndexPattern>,
    pub older_than: Option<Duration>,
    pub max_size: Option<u64>,
    pub force_merge_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Delete,
    ForceMerge,
}

impl ActionKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::Delete => "delete",
            ActionKind::ForceMerge => "force_merge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `dated`: the date text of the name, or the creation date.
    Age {
        dated: String,
        older_than: Duration,
    },
    /// `total`: what the indices still held before this one went.
    SizeBudget {
        total: u64,
        budget: u64,
    },
    Merge {
        segments: u64,
        primaries: u64,
        older_than: Duration,
    },
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Age { dated, older_than } => write!(f, "age: {dated}, past the {} retention", human_duration(*older_than)),
            Reason::SizeBudget { total, budget } => {
                write!(f, "size budget: the matching indices hold {}, over {}", human_bytes(*total), human_bytes(*budget))
            }
            Reason::Merge { segments, primaries, older_than } => write!(
                f,
                "merge: {segments} segments in {primaries} primary shard{}, older than {}",
                if *primaries == 1 { "" } else { "s" },
                human_duration(*older_than)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    pub index: String,
    pub reason: Reason,
}

/// An index a rule would have acted on, left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub index: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Deletions first (by age, then by size), then merges; oldest first within each.
    pub actions: Vec<Action>,
    pub kept: Vec<Kept>,
}

/// A matching index with what its name says.
struct Candidate<'a> {
    info: &'a IndexInfo,
    /// When its period starts (creation date for undated patterns): the order of "oldest".
    start: DateTime<Utc>,
    /// The newest data it can hold.
    end: DateTime<Utc>,
    dated: String,
}

pub fn plan(indices: &[IndexInfo], rules: &Rules, now: DateTime<Utc>) -> Plan {
    let mut out = Plan::default();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for info in indices {
        let concealed = info.hidden || info.name.starts_with('.');
        let found = rules.patterns.iter().filter(|p| !concealed || p.names_dot_indices()).find_map(|p| p.matches(&info.name, now));
        let candidate = match found {
            None => continue,
            Some(NameDate::Dated { text, period }) => Candidate { info, start: period.start, end: period.end, dated: format!("dated {text}") },
            Some(NameDate::Undated) => match info.created {
                Some(c) => Candidate { info, start: c, end: c, dated: format!("created {}", c.format("%Y-%m-%dT%H:%M:%SZ")) },
                // No date to go by: nothing can be said of its age.
                None => continue,
            },
        };
        candidates.push(candidate);
    }
    candidates.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.info.name.cmp(&b.info.name)));
    let old = |c: &Candidate<'_>, age: Duration| chrono::Duration::from_std(age).is_ok_and(|age| c.end <= now - age);
    // A write index a rule reaches is reported once, whichever rules reach it.
    let keep_writer = |c: &Candidate<'_>, out: &mut Plan| match &c.info.write_index_of {
        Some(of) => {
            if !out.kept.iter().any(|k| k.index == c.info.name) {
                out.kept.push(Kept { index: c.info.name.clone(), why: format!("it is the write index of {of}") });
            }
            true
        }
        None => false,
    };

    let mut left: Vec<Candidate<'_>> = Vec::new();
    for c in candidates {
        match rules.older_than {
            Some(age) if old(&c, age) && !keep_writer(&c, &mut out) => out.actions.push(Action {
                kind: ActionKind::Delete,
                index: c.info.name.clone(),
                reason: Reason::Age { dated: c.dated.clone(), older_than: age },
            }),
            _ => left.push(c),
        }
    }

    if let Some(budget) = rules.max_size {
        let mut total: u64 = left.iter().map(|c| c.info.store_bytes).sum();
        let newest = left.iter().map(|c| c.start).max();
        let mut gone = vec![false; left.len()];
        for (i, c) in left.iter().enumerate() {
            if total <= budget || Some(c.start) == newest {
                break;
            }
            if keep_writer(c, &mut out) {
                continue;
            }
            out.actions.push(Action { kind: ActionKind::Delete, index: c.info.name.clone(), reason: Reason::SizeBudget { total, budget } });
            total -= c.info.store_bytes;
            gone[i] = true;
        }
        let mut i = 0;
        left.retain(|_| {
            i += 1;
            !gone[i - 1]
        });
    }

    if let Some(age) = rules.force_merge_after {
        for c in &left {
            let i = c.info;
            if i.open && i.primary_segments > i.primaries && old(c, age) && !keep_writer(c, &mut out) {
                out.actions.push(Action {
                    kind: ActionKind::ForceMerge,
                    index: i.name.clone(),
                    reason: Reason::Merge { segments: i.primary_segments, primaries: i.primaries, older_than: age },
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const DAY: u64 = 86_400;
    const MB: u64 = 1024 * 1024;

    fn index(name: &str, mb: u64) -> IndexInfo {
        IndexInfo { name: name.into(), open: true, hidden: false, created: None, store_bytes: mb * MB, primaries: 1, primary_segments: 1, write_index_of: None }
    }

    fn rules(patterns: &[&str]) -> Rules {
        Rules { patterns: patterns.iter().map(|p| IndexPattern::parse(p).unwrap()).collect(), older_than: None, max_size: None, force_merge_after: None }
    }

    /// 01:30 UTC on 10 May 2024, when the daily job runs.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 10, 1, 30, 0).unwrap()
    }

    fn names(p: &Plan, kind: ActionKind) -> Vec<&str> {
        p.actions.iter().filter(|a| a.kind == kind).map(|a| a.index.as_str()).collect()
    }

    /// With 7 days: the index of 2 May ends at 3 May 00:00, 7 d 1 h 30 before now, so it goes;
    /// the one of 3 May ends at 4 May 00:00, 6 d 1 h 30 before now, and stays.
    #[test]
    fn age_deletes_indices_whose_whole_day_is_past_the_retention() {
        let indices = [
            index("logs-apache-2024.05.10", 1),
            index("logs-apache-2024.05.03", 1),
            index("logs-apache-2024.05.02", 1),
            index("logs-apache-2024.04.10", 1),
            index("errors-2024.05.01", 1),
            index("errors-2024.05.09", 1),
            index("other-2020.01.01", 1),
            index("logs-apache-notadate", 1),
            index("logs-2020.01.01", 1),
        ];
        let mut r = rules(&["logs-*-%{+YYYY.MM.dd}", "errors-%{+YYYY.MM.dd}"]);
        r.older_than = Some(Duration::from_secs(7 * DAY));
        let p = plan(&indices, &r, now());
        // Oldest first.
        assert_eq!(names(&p, ActionKind::Delete), vec!["logs-apache-2024.04.10", "errors-2024.05.01", "logs-apache-2024.05.02"]);
        assert_eq!(p.actions[0].reason, Reason::Age { dated: "dated 2024.04.10".into(), older_than: Duration::from_secs(7 * DAY) });
        assert_eq!(p.actions[0].reason.to_string(), "age: dated 2024.04.10, past the 7d retention");
        assert!(p.kept.is_empty());
    }

    /// The boundary: at exactly 00:00 on 10 May, the index of 2 May ended exactly 7 days ago.
    #[test]
    fn an_index_goes_when_its_end_is_exactly_the_retention_ago() {
        let mut r = rules(&["l-%{+YYYY.MM.dd}"]);
        r.older_than = Some(Duration::from_secs(7 * DAY));
        let midnight = Utc.with_ymd_and_hms(2024, 5, 10, 0, 0, 0).unwrap();
        let p = plan(&[index("l-2024.05.02", 1), index("l-2024.05.03", 1)], &r, midnight);
        assert_eq!(names(&p, ActionKind::Delete), vec!["l-2024.05.02"]);
        let p = plan(&[index("l-2024.05.02", 1)], &r, midnight - chrono::Duration::seconds(1));
        assert!(p.actions.is_empty());
    }

    #[test]
    fn hidden_dot_and_write_indices_are_left_alone() {
        let mut hidden = index("logs-x-2024.01.01", 1);
        hidden.hidden = true;
        let mut writer = index("logs-y-2024.01.01", 1);
        writer.write_index_of = Some("alias logs-y".into());
        let indices = [hidden, writer, index(".logs-z-2024.01.01", 1), index(".ds-logs-w-2024.01.01-000001", 1)];
        let mut r = rules(&["*logs-*-%{+YYYY.MM.dd}"]);
        r.older_than = Some(Duration::from_secs(DAY));
        r.max_size = Some(1);
        r.force_merge_after = Some(Duration::from_secs(DAY));
        let p = plan(&indices, &r, now());
        assert!(p.actions.is_empty(), "{p:?}");
        assert_eq!(p.kept, vec![Kept { index: "logs-y-2024.01.01".into(), why: "it is the write index of alias logs-y".into() }]);
        // A pattern that names dot indices itself reaches the backing index.
        let mut r = rules(&[".ds-logs-*-%{+yyyy.MM.dd}-*"]);
        r.older_than = Some(Duration::from_secs(DAY));
        assert_eq!(names(&plan(&indices, &r, now()), ActionKind::Delete), vec![".ds-logs-w-2024.01.01-000001"]);
    }

    #[test]
    fn undated_patterns_go_by_the_creation_date() {
        let mut a = index("audit-1", 1);
        a.created = Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
        let mut b = index("audit-2", 1);
        b.created = Some(Utc.with_ymd_and_hms(2024, 5, 8, 12, 0, 0).unwrap());
        let unknown = index("audit-3", 1);
        let mut r = rules(&["audit-*"]);
        r.older_than = Some(Duration::from_secs(7 * DAY));
        let p = plan(&[a, b, unknown], &r, now());
        assert_eq!(names(&p, ActionKind::Delete), vec!["audit-1"]);
        assert_eq!(p.actions[0].reason.to_string(), "age: created 2024-05-01T12:00:00Z, past the 7d retention");
    }

    /// Five days of 100, 120, 80, 60 and 50 MB (oldest first), total 410 MB, budget 200 MB:
    /// 410 - 100 = 310, - 120 = 190 ≤ 200, so the two oldest go and three remain.
    #[test]
    fn the_size_budget_deletes_the_oldest_until_under_it() {
        let indices = [
            index("l-2024.05.05", 100),
            index("l-2024.05.06", 120),
            index("l-2024.05.07", 80),
            index("l-2024.05.08", 60),
            index("l-2024.05.09", 50),
            index("unrelated-2024.01.01", 10_000),
        ];
        let mut r = rules(&["l-%{+YYYY.MM.dd}"]);
        r.max_size = Some(200 * MB);
        let p = plan(&indices, &r, now());
        assert_eq!(names(&p, ActionKind::Delete), vec!["l-2024.05.05", "l-2024.05.06"]);
        assert_eq!(p.actions[0].reason, Reason::SizeBudget { total: 410 * MB, budget: 200 * MB });
        assert_eq!(p.actions[1].reason, Reason::SizeBudget { total: 310 * MB, budget: 200 * MB });
        assert_eq!(p.actions[1].reason.to_string(), "size budget: the matching indices hold 310.0mb, over 200.0mb");
    }

    /// After the age rule (which takes the 1st) the budget counts only what is left; a budget
    /// smaller than the newest day deletes everything but the newest day, both services of it.
    #[test]
    fn the_size_budget_never_deletes_the_newest_day_and_comes_after_age() {
        let indices = [index("l-a-2024.05.01", 500), index("l-a-2024.05.08", 100), index("l-a-2024.05.09", 100), index("l-b-2024.05.09", 100)];
        let mut r = rules(&["l-*-%{+YYYY.MM.dd}"]);
        r.older_than = Some(Duration::from_secs(7 * DAY));
        r.max_size = Some(MB);
        let p = plan(&indices, &r, now());
        assert_eq!(p.actions.len(), 2);
        assert_eq!(p.actions[0].index, "l-a-2024.05.01");
        assert!(matches!(p.actions[0].reason, Reason::Age { .. }));
        assert_eq!(
            p.actions[1],
            Action { kind: ActionKind::Delete, index: "l-a-2024.05.08".into(), reason: Reason::SizeBudget { total: 300 * MB, budget: MB } }
        );
    }

    #[test]
    fn merges_take_old_open_indices_with_more_than_a_segment_per_shard() {
        let seg = |name: &str, primaries: u64, segments: u64, open: bool| IndexInfo { primaries, primary_segments: segments, open, ..index(name, 1) };
        let indices = [
            seg("l-2024.05.01", 1, 4, true),  // merged
            seg("l-2024.05.02", 2, 2, true),  // one per shard already
            seg("l-2024.05.03", 1, 3, false), // closed
            seg("l-2024.05.07", 2, 9, true),  // ended 8 May 00:00, 2 d 1 h 30 ago: merged
            seg("l-2024.05.08", 1, 9, true),  // ended 9 May 00:00, 1 d 1 h 30 ago: too young
            seg("l-2024.04.01", 1, 9, true),  // deleted by age, so not merged
        ];
        let mut r = rules(&["l-%{+YYYY.MM.dd}"]);
        r.older_than = Some(Duration::from_secs(30 * DAY));
        r.force_merge_after = Some(Duration::from_secs(2 * DAY));
        let p = plan(&indices, &r, now());
        assert_eq!(names(&p, ActionKind::Delete), vec!["l-2024.04.01"]);
        assert_eq!(names(&p, ActionKind::ForceMerge), vec!["l-2024.05.01", "l-2024.05.07"]);
        assert_eq!(p.actions[2].reason.to_string(), "merge: 9 segments in 2 primary shards, older than 2d");
    }
}

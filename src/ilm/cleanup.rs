//! One cleanup run: list the indices, plan (`plan`), act, and report every action as it
//! settles, to the command line (a line each) or to the daemon's log and metrics.
//!
//! Deletions go in batches of names (`cluster::delete_batches`); when a batch fails, its
//! indices are deleted one by one, so one index the cluster refuses (a write index it protects
//! itself, a closed index under a policy) does not hold back the others, and the failure names
//! the index. Merges go one index at a time, oldest first. A failed action does not stop the run.

use super::cluster::{delete_batches, Cluster, ClusterError, MAX_DELETE_PATH};
use super::plan::{self, Action, ActionKind, Kept};
use super::CleanupConfig;
use chrono::{DateTime, Utc};

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Dry run: planned, not done.
    Planned,
    Succeeded,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    pub done: Done,
}

impl Outcome {
    /// The line the command prints: `deleted logs-a-2024.05.01 (age: dated 2024.05.01, past
    /// the 7d retention)`, `would delete ...` in a dry run, `failed to delete ...: error`.
    pub fn line(&self) -> String {
        let (did, would, failed) = match self.action.kind {
            ActionKind::Delete => ("deleted", "would delete", "failed to delete"),
            ActionKind::ForceMerge => ("force-merged", "would force-merge", "failed to force-merge"),
        };
        let (a, r) = (&self.action.index, &self.action.reason);
        match &self.done {
            Done::Planned => format!("{would} {a} ({r})"),
            Done::Succeeded => format!("{did} {a} ({r})"),
            Done::Failed(e) => format!("{failed} {a} ({r}): {e}"),
        }
    }
}

/// What a run did, for its summary.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Indices the cluster listed.
    pub listed: usize,
    pub outcomes: Vec<Outcome>,
    pub kept: Vec<Kept>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o.done, Done::Failed(_))).count()
    }

    pub fn count(&self, kind: ActionKind) -> usize {
        self.outcomes.iter().filter(|o| o.action.kind == kind && o.done == Done::Succeeded).count()
    }

    pub fn summary(&self, dry_run: bool) -> String {
        if dry_run {
            return format!("dry run: {} of {} indices would be acted on; nothing was changed", self.outcomes.len(), self.listed);
        }
        format!(
            "{} indices listed: {} deleted, {} force-merged, {} failed",
            self.listed,
            self.count(ActionKind::Delete),
            self.count(ActionKind::ForceMerge),
            self.failed()
        )
    }
}

/// Run once. `report` sees each action as it settles. An error means the cluster could not be
/// listed, and nothing was done.
pub async fn run(cluster: &Cluster, config: &CleanupConfig, now: DateTime<Utc>, report: &mut (dyn FnMut(&Outcome) + Send)) -> Result<Report, ClusterError> {
    let indices = cluster.indices().await?;
    let plan = plan::plan(&indices, &config.rules, now);
    let mut out = Report { listed: indices.len(), outcomes: Vec::new(), kept: plan.kept };
    let mut settle = |action: &Action, done: Done, out: &mut Report| {
        let o = Outcome { action: action.clone(), done };
        report(&o);
        out.outcomes.push(o);
    };
    if config.dry_run {
        for a in &plan.actions {
            settle(a, Done::Planned, &mut out);
        }
        return Ok(out);
    }
    let deletes: Vec<&Action> = plan.actions.iter().filter(|a| a.kind == ActionKind::Delete).collect();
    let names: Vec<&str> = deletes.iter().map(|a| a.index.as_str()).collect();
    let mut next = 0;
    for batch in delete_batches(&names, MAX_DELETE_PATH) {
        let actions = &deletes[next..next + batch.len()];
        next += batch.len();
        match cluster.delete(&batch).await {
            Ok(()) => actions.iter().for_each(|a| settle(a, Done::Succeeded, &mut out)),
            Err(e) if batch.len() == 1 => settle(actions[0], Done::Failed(e.to_string()), &mut out),
            Err(_) => {
                for a in actions {
                    let done = match cluster.delete(&[a.index.as_str()]).await {
                        Ok(()) => Done::Succeeded,
                        Err(e) => Done::Failed(e.to_string()),
                    };
                    settle(a, done, &mut out);
                }
            }
        }
    }
    for a in plan.actions.iter().filter(|a| a.kind == ActionKind::ForceMerge) {
        let done = match cluster.force_merge(&a.index).await {
            Ok(()) => Done::Succeeded,
            Err(e) => Done::Failed(e.to_string()),
        };
        settle(a, done, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ilm::plan::Reason;
    use std::time::Duration;

    #[test]
    fn lines_say_what_was_done_and_why() {
        let action = Action {
            kind: ActionKind::Delete,
            index: "logs-a-2024.05.01".into(),
            reason: Reason::Age { dated: "dated 2024.05.01".into(), older_than: Duration::from_secs(7 * 86_400) },
        };
        let o = |done| Outcome { action: action.clone(), done }.line();
        assert_eq!(o(Done::Succeeded), "deleted logs-a-2024.05.01 (age: dated 2024.05.01, past the 7d retention)");
        assert_eq!(o(Done::Planned), "would delete logs-a-2024.05.01 (age: dated 2024.05.01, past the 7d retention)");
        assert_eq!(o(Done::Failed("boom".into())), "failed to delete logs-a-2024.05.01 (age: dated 2024.05.01, past the 7d retention): boom");
        let merge = Outcome {
            action: Action {
                kind: ActionKind::ForceMerge,
                index: "x".into(),
                reason: Reason::Merge { segments: 3, primaries: 1, older_than: Duration::from_secs(2 * 86_400) },
            },
            done: Done::Succeeded,
        };
        assert_eq!(merge.line(), "force-merged x (merge: 3 segments in 1 primary shard, older than 2d)");
    }
}

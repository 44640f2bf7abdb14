//! The cleanup as part of the daemon, when sluice.yml asks for it:
//!
//! ```yaml
//! ilm.cleanup.enabled: true
//! ilm.cleanup.hosts: ["http://es1:9200", "http://es2:9200"]
//! ilm.cleanup.index: ["logs-*-%{+YYYY.MM.dd}", "errors-%{+YYYY.MM.dd}"]
//! ilm.cleanup.older_than: 7d
//! ilm.cleanup.interval: 1d        # or ilm.cleanup.schedule: "01:30" (daily, UTC)
//! ```
//!
//! With an interval, the first run is at start-up and the next ones an interval apart; with a
//! daily time, at that time. A run that fails (cluster unreachable, an action refused) is logged
//! and counted, and the next run comes as planned: the pipelines never depend on it. Each action
//! is logged and counted in `sluice_ilm_actions_total{action, result}`, each run in
//! `sluice_ilm_runs_total{result}`. The settings are read at start-up; changing them takes a
//! restart, not a reload.

use super::cleanup::{self, Done, Outcome};
use super::cluster::Cluster;
use super::{CleanupConfig, Connection};
use crate::config::settings::{parse_duration, Settings};
use crate::metrics::Registry;
use chrono::{DateTime, NaiveTime, Utc};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// At start-up, then every interval.
    Every(Duration),
    /// Every day at this time, UTC.
    DailyAt(NaiveTime),
}

impl When {
    /// How long to wait for the next run; `first` is the run at start-up.
    pub fn wait(&self, now: DateTime<Utc>, first: bool) -> Duration {
        match self {
            When::Every(_) if first => Duration::ZERO,
            When::Every(d) => *d,
            When::DailyAt(t) => {
                let today = now.date_naive().and_time(*t).and_utc();
                let next = if today > now { today } else { today + chrono::Duration::days(1) };
                (next - now).to_std().unwrap_or_default()
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct CleanupJob {
    pub config: CleanupConfig,
    pub when: When,
}

impl CleanupJob {
    /// The job sluice.yml describes; `None` unless `ilm.cleanup.enabled` is true.
    pub fn from_settings(s: &Settings) -> Result<Option<CleanupJob>, String> {
        let err = |e: crate::config::settings::SettingsError| e.to_string();
        let bad = |key: &str, message: String| format!("{}: setting `{key}`: {message}", s.origin);
        if s.bool("ilm.cleanup.enabled").map_err(err)? != Some(true) {
            return Ok(None);
        }
        let when = match (s.get("ilm.cleanup.interval"), s.get("ilm.cleanup.schedule")) {
            (Some(_), Some(_)) => return Err(bad("ilm.cleanup.schedule", "give either ilm.cleanup.interval or ilm.cleanup.schedule, not both".into())),
            (Some(i), None) => When::Every(
                parse_duration(i, Duration::from_secs(1))
                    .filter(|d| *d >= Duration::from_secs(1))
                    .ok_or_else(|| bad("ilm.cleanup.interval", format!("expected a duration such as 1d or 6h, got `{i}`")))?,
            ),
            (None, Some(t)) => When::DailyAt(
                NaiveTime::parse_from_str(t.trim(), "%H:%M")
                    .map_err(|_| bad("ilm.cleanup.schedule", format!("expected a time of day such as 01:30 (UTC), got `{t}`")))?,
            ),
            (None, None) => When::Every(Duration::from_secs(86_400)),
        };
        let list = |key: &str| s.get(key).map(|v| v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect::<Vec<_>>());
        let verify = match s.get("ilm.cleanup.ssl_verification_mode").unwrap_or("full") {
            "full" => true,
            "none" => false,
            other => return Err(bad("ilm.cleanup.ssl_verification_mode", format!("expected full or none, got `{other}`"))),
        };
        let connection = Connection {
            hosts: list("ilm.cleanup.hosts").unwrap_or_else(|| vec!["http://localhost:9200".into()]),
            user: s.get("ilm.cleanup.user").map(String::from),
            password: s.get("ilm.cleanup.password").map(String::from),
            api_key: s.get("ilm.cleanup.api_key").map(String::from),
            ca_files: list("ilm.cleanup.ssl_certificate_authorities").unwrap_or_default().into_iter().map(Into::into).collect(),
            verify,
            timeout: s.duration("ilm.cleanup.timeout", Duration::from_secs(1)).map_err(err)?.unwrap_or(Duration::from_secs(60)),
        };
        connection.resolve().map_err(|e| bad("ilm.cleanup.hosts", e))?;
        let rules = super::rules(
            &list("ilm.cleanup.index").unwrap_or_default(),
            s.get("ilm.cleanup.older_than"),
            s.get("ilm.cleanup.max_size"),
            s.get("ilm.cleanup.force_merge_after"),
            &|n| format!("ilm.cleanup.{n}"),
        )
        .map_err(|e| format!("{}: {e}", s.origin))?;
        let dry_run = s.bool("ilm.cleanup.dry_run").map_err(err)?.unwrap_or(false);
        Ok(Some(CleanupJob { config: CleanupConfig { connection, rules, dry_run }, when }))
    }

    /// Run on schedule until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let cluster = match self.config.connection.resolve().and_then(|(bases, client)| Cluster::new(bases, &client)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "Index cleanup cannot start; the pipelines run without it.");
                return;
            }
        };
        tracing::info!(schedule = ?self.when, dry_run = self.config.dry_run, "Index cleanup scheduled.");
        let mut first = true;
        loop {
            let wait = self.when.wait(Utc::now(), first);
            first = false;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let mut settled = |o: &Outcome| IlmActionSettled { outcome: o }.emit();
            let run = cleanup::run(&cluster, &self.config, Utc::now(), &mut settled);
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = run => r,
            };
            match result {
                Ok(report) => {
                    for k in &report.kept {
                        tracing::info!(index = %k.index, "Index cleanup left an index matching its rules alone: {}.", k.why);
                    }
                    let ok = report.failed() == 0;
                    Registry::global().count_ilm_run(if ok { "success" } else { "failure" });
                    if ok {
                        tracing::info!(summary = %report.summary(self.config.dry_run), "Index cleanup done.");
                    } else {
                        tracing::error!(summary = %report.summary(self.config.dry_run), "Index cleanup done with failures; the next run tries again.");
                    }
                }
                Err(e) => {
                    Registry::global().count_ilm_run("failure");
                    tracing::error!(error = %e, "Index cleanup failed; the next run tries again.");
                }
            }
        }
    }
}

/// One action of a scheduled cleanup settled: logged and counted.
pub struct IlmActionSettled<'a> {
    pub outcome: &'a Outcome,
}

impl IlmActionSettled<'_> {
    pub fn emit(self) {
        let o = self.outcome;
        let action = o.action.kind.label();
        match &o.done {
            Done::Planned => tracing::info!(index = %o.action.index, action, "Index cleanup (dry run): {}.", o.line()),
            Done::Succeeded => {
                tracing::info!(index = %o.action.index, action, "Index cleanup: {}.", o.line());
                Registry::global().count_ilm_action(action, "success");
            }
            Done::Failed(e) => {
                tracing::error!(index = %o.action.index, action, error = %e, "Index cleanup action failed.");
                Registry::global().count_ilm_action(action, "failure");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn settings(yaml: &str) -> Result<Option<CleanupJob>, String> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, yaml.as_bytes()).unwrap();
        let s = Settings::load(f.path(), &|_| None).map_err(|e| e.to_string())?;
        CleanupJob::from_settings(&s)
    }

    #[test]
    fn flat_and_nested_settings_give_the_same_job() {
        let flat = settings(
            "ilm.cleanup.enabled: true\nilm.cleanup.hosts: [\"http://a:9200\", \"b:9201\"]\nilm.cleanup.index: [\"logs-*-%{+YYYY.MM.dd}\", \"errors-%{+YYYY.MM.dd}\"]\nilm.cleanup.older_than: 7d\nilm.cleanup.interval: 6h\n",
        )
        .unwrap()
        .unwrap();
        let nested = settings(
            "ilm:\n  cleanup:\n    enabled: true\n    hosts:\n      - http://a:9200\n      - b:9201\n    index: [\"logs-*-%{+YYYY.MM.dd}\", \"errors-%{+YYYY.MM.dd}\"]\n    older_than: 7d\n    interval: 6h\n",
        )
        .unwrap()
        .unwrap();
        for job in [&flat, &nested] {
            assert_eq!(job.when, When::Every(Duration::from_secs(6 * 3600)));
            assert_eq!(job.config.connection.resolve().unwrap().0, vec!["http://a:9200", "http://b:9201"]);
            assert_eq!(job.config.rules.patterns.iter().map(|p| p.source()).collect::<Vec<_>>(), vec!["logs-*-%{+YYYY.MM.dd}", "errors-%{+YYYY.MM.dd}"]);
            assert_eq!(job.config.rules.older_than, Some(Duration::from_secs(7 * 86_400)));
        }
    }

    #[test]
    fn disabled_unless_enabled_and_errors_name_the_setting() {
        assert!(settings("ilm.cleanup.older_than: 7d\n").unwrap().is_none());
        assert!(settings("ilm.cleanup.enabled: false\nilm.cleanup.index: x-*\n").unwrap().is_none());
        let e = settings("ilm.cleanup.enabled: true\nilm.cleanup.index: x-*\n").unwrap_err();
        assert!(e.contains("ilm.cleanup.older_than"), "{e}");
        let e = settings("ilm.cleanup.enabled: true\nilm.cleanup.index: x-*\nilm.cleanup.older_than: 1d\nilm.cleanup.schedule: 25:00\n").unwrap_err();
        assert!(e.contains("ilm.cleanup.schedule") && e.contains("01:30"), "{e}");
        let e = settings("ilm.cleanup.enabeld: true\n").unwrap_err();
        assert!(e.contains("did you mean `ilm.cleanup.enabled`"), "{e}");
    }

    #[test]
    fn a_daily_time_waits_for_its_next_occurrence() {
        let at = When::DailyAt(NaiveTime::from_hms_opt(1, 30, 0).unwrap());
        let t = |h, m| Utc.with_ymd_and_hms(2024, 5, 10, h, m, 0).unwrap();
        assert_eq!(at.wait(t(0, 30), true), Duration::from_secs(3600));
        // Just past it: tomorrow, 23 h 59 min later.
        assert_eq!(at.wait(t(1, 31), true), Duration::from_secs(23 * 3600 + 59 * 60));
        assert_eq!(at.wait(t(1, 30), false), Duration::from_secs(86_400));
        let every = When::Every(Duration::from_secs(60));
        assert_eq!(every.wait(t(0, 0), true), Duration::ZERO);
        assert_eq!(every.wait(t(0, 0), false), Duration::from_secs(60));
    }
}

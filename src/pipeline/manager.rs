//! Runs a set of pipelines: starts them, reloads them on SIGHUP or when their files change, and
//! stops them on SIGTERM/SIGINT.
//!
//! A reload re-reads the settings and every pipeline's files. A pipeline whose config or
//! settings changed is compiled first; if that fails the running one is left untouched and the
//! errors are logged. Otherwise the old one is stopped (draining what it holds) and the new one
//! started. The process ends when every pipeline has finished by itself (all inputs done) — unless
//! automatic reload is on — or after a stop signal once everything has drained.
//!
//! Beside the pipelines it runs the scheduled index cleanup (`ilm::schedule`) when the settings
//! ask for it: a task of its own whose failures are logged and counted, never fatal to the
//! pipelines, and which stops with them.

use super::{PipelineSettings, RunningPipeline};
use crate::config::compile::{BuildContext, Plan};
use crate::config::source::SourceMap;
use crate::config::{self, ConfigSource};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything needed to build one pipeline.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub settings: PipelineSettings,
    pub source: ConfigSource,
    pub support_escapes: bool,
    pub path_data: PathBuf,
    pub ecs_compatibility: String,
    /// `geoip.database.path`.
    pub geoip_database: Option<PathBuf>,
    /// `dead_letter_queue.*` and `path.dead_letter_queue`.
    pub dead_letter_queue: crate::queue::dlq::DlqSettings,
}

/// A spec with its files read, ready to compile.
pub struct LoadedSpec {
    pub spec: PipelineSpec,
    pub sources: SourceMap,
}

impl LoadedSpec {
    pub fn load(spec: PipelineSpec) -> Result<LoadedSpec, String> {
        let sources = config::load_sources(&spec.source).map_err(|e| format!("pipeline `{}`: {e}", spec.settings.id))?;
        Ok(LoadedSpec { spec, sources })
    }

    /// What a reload compares: the text and the settings.
    fn fingerprint(&self) -> String {
        format!("{:?}|{}|{:?}", self.spec, self.sources.text(), self.sources.files().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
    }

    pub fn compile(&self) -> Result<Plan, Vec<String>> {
        let mut ctx = BuildContext::new(&self.spec.settings.id, self.spec.path_data.clone());
        ctx.ecs_compatibility = self.spec.ecs_compatibility.clone();
        ctx.geoip_database = self.spec.geoip_database.clone();
        ctx.dead_letter_queue = self.spec.dead_letter_queue.clone();
        let env = |k: &str| std::env::var(k).ok();
        config::check(&self.sources, &ctx, self.spec.support_escapes, &env)
    }

    /// Render compile warnings for the log or `-t`.
    pub fn render_warnings(&self, plan: &Plan) -> Vec<String> {
        plan.warnings.iter().map(|w| config::render(&self.sources, w)).collect()
    }
}

/// Reads the current set of pipeline specs (settings files and flags), for start and reload.
pub type SpecSource = Box<dyn Fn() -> Result<Vec<PipelineSpec>, String> + Send>;

pub struct Manager {
    specs: SpecSource,
    auto_reload: Option<Duration>,
    running: BTreeMap<String, (String, RunningPipeline)>,
    /// Fingerprints of configs a reload rejected, so a broken file is reported once, not on
    /// every poll.
    rejected: BTreeMap<String, String>,
    /// The index cleanup to run on schedule, from the settings.
    ilm_cleanup: Option<crate::ilm::schedule::CleanupJob>,
}

impl Manager {
    pub fn new(specs: SpecSource, auto_reload: Option<Duration>) -> Manager {
        Manager { specs, auto_reload, running: BTreeMap::new(), rejected: BTreeMap::new(), ilm_cleanup: None }
    }

    /// Run this index cleanup on its schedule while the pipelines run.
    pub fn with_ilm_cleanup(mut self, job: Option<crate::ilm::schedule::CleanupJob>) -> Manager {
        self.ilm_cleanup = job;
        self
    }

    /// Start every pipeline; the first config error stops start-up (nothing runs half-built).
    pub fn start(&mut self, loaded: Vec<LoadedSpec>) -> Result<(), Vec<String>> {
        let mut plans = Vec::new();
        for l in &loaded {
            let plan = l.compile()?;
            for w in l.render_warnings(&plan) {
                tracing::warn!("{w}");
            }
            plans.push(plan);
        }
        for (l, plan) in loaded.into_iter().zip(plans) {
            let fp = l.fingerprint();
            let running = RunningPipeline::start(plan, &l.spec.settings);
            self.running.insert(l.spec.settings.id.clone(), (fp, running));
        }
        Ok(())
    }

    /// Re-read and apply configuration; failures leave running pipelines as they are.
    pub async fn reload(&mut self) {
        let specs = match (self.specs)() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "Reload failed: cannot read settings; pipelines left as they were.");
                return;
            }
        };
        let mut wanted = BTreeMap::new();
        for spec in specs {
            let id = spec.settings.id.clone();
            // `None`: the files could not be read; the running pipeline is kept as it is.
            let loaded = LoadedSpec::load(spec)
                .map_err(|e| tracing::error!(pipeline = %id, error = %e, "Reload failed for this pipeline; it keeps running as it was."))
                .ok();
            wanted.insert(id, loaded);
        }
        // Stop pipelines that are gone.
        let gone: Vec<String> = self.running.keys().filter(|id| !wanted.contains_key(*id)).cloned().collect();
        for id in gone {
            if let Some((_, p)) = self.running.remove(&id) {
                tracing::info!(pipeline = %id, "Pipeline removed from the configuration; stopping it.");
                p.stop();
                p.wait().await;
            }
        }
        for (id, loaded) in wanted {
            let Some(loaded) = loaded else { continue };
            let fp = loaded.fingerprint();
            if self.running.get(&id).is_some_and(|(old, _)| *old == fp) || self.rejected.get(&id) == Some(&fp) {
                continue;
            }
            let plan = match loaded.compile() {
                Ok(p) => p,
                Err(errors) => {
                    for e in errors {
                        tracing::error!(pipeline = %id, "Reload rejected, the running pipeline is unchanged:\n{e}");
                    }
                    crate::metrics::Registry::global().count_reload(&id, false);
                    // Not retried until the files change again.
                    self.rejected.insert(id, fp);
                    continue;
                }
            };
            self.rejected.remove(&id);
            let reloaded = self.running.contains_key(&id);
            if let Some((_, old)) = self.running.remove(&id) {
                tracing::info!(pipeline = %id, "Configuration changed; restarting the pipeline.");
                old.stop();
                old.wait().await;
            }
            let running = RunningPipeline::start(plan, &loaded.spec.settings);
            if reloaded {
                crate::metrics::Registry::global().count_reload(&id, true);
            }
            self.running.insert(id, (fp, running));
        }
    }

    /// Supervise until every pipeline is done, or a stop signal has drained them.
    pub async fn run(mut self) {
        let stop_cleanup = tokio_util::sync::CancellationToken::new();
        if let Some(job) = self.ilm_cleanup.take() {
            tokio::spawn(job.run(stop_cleanup.clone()));
        }
        self.supervise().await;
        stop_cleanup.cancel();
    }

    async fn supervise(&mut self) {
        let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate());
        let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt());
        let mut sighup = signal(tokio::signal::unix::SignalKind::hangup());
        let mut stops = 0;
        let poll = self.auto_reload.unwrap_or(Duration::from_secs(3600));
        let mut reload_tick = tokio::time::interval(poll);
        reload_tick.tick().await;
        loop {
            let all_done = !self.running.is_empty() && self.running.values().all(|(_, p)| p.is_finished());
            if all_done && (self.auto_reload.is_none() || stops > 0) {
                return;
            }
            if self.running.is_empty() && stops > 0 {
                return;
            }
            tokio::select! {
                _ = recv(&mut sigterm) => stops = self.stop_signal(stops + 1),
                _ = recv(&mut sigint) => stops = self.stop_signal(stops + 1),
                _ = recv(&mut sighup), if stops == 0 => {
                    tracing::info!("SIGHUP received; reloading the configuration.");
                    self.reload().await;
                }
                _ = reload_tick.tick(), if self.auto_reload.is_some() && stops == 0 => self.reload().await,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    fn stop_signal(&mut self, n: u32) -> u32 {
        match n {
            1 => {
                tracing::info!("Stop requested; draining in-flight events. Send the signal again to stop without waiting for failing outputs.");
                for (_, p) in self.running.values() {
                    p.stop();
                }
            }
            2 => {
                tracing::warn!("Second stop request; abandoning undelivered events (they stay unacknowledged).");
                for (_, p) in self.running.values() {
                    p.abort();
                }
            }
            _ => {
                tracing::error!("Third stop request; exiting now.");
                std::process::exit(1);
            }
        }
        n
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

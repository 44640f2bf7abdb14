//! Internal telemetry: the counters every pipeline and plugin keeps, in one shape.
//!
//! Counting lives in the core, not in plugins: the pipeline counts what each input handed over,
//! what each filter saw and let through, and what each output confirmed, so no plugin can forget
//! a counter. Plugins report only what they alone can know (a parse failure, a truncated line)
//! through a typed internal event whose `emit()` both logs and counts, once per batch where it can.
//! The registry is what the HTTP metrics API reads; nothing here formats for Prometheus.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub mod api;
pub mod process;
pub mod prometheus;

/// Counters of one plugin instance.
#[derive(Debug)]
pub struct PluginMetrics {
    /// The `id` option, or a generated one (`<name>_<n>` in section order).
    pub id: String,
    /// `input`, `filter`, `output` or `codec`.
    pub kind: &'static str,
    /// The plugin's name (`tcp`, `mutate`...).
    pub name: &'static str,
    events_in: AtomicU64,
    events_out: AtomicU64,
    /// Wall time spent inside the plugin, in nanoseconds (filters and outputs).
    duration_ns: AtomicU64,
    /// Events that went wrong, by a reason from a small fixed vocabulary (`_jsonparsefailure`,
    /// `line_truncated`, `dropped`...).
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Gauges a plugin maintains (open connections...).
    gauges: Mutex<BTreeMap<&'static str, i64>>,
    /// Requests a network output made, by outcome (`200`, `429`, `connection_error`...).
    requests: Mutex<BTreeMap<&'static str, u64>>,
}

impl PluginMetrics {
    pub fn new(id: String, kind: &'static str, name: &'static str) -> Arc<PluginMetrics> {
        Arc::new(PluginMetrics {
            id,
            kind,
            name,
            events_in: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            duration_ns: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            gauges: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn add_in(&self, n: u64) {
        self.events_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_out(&self, n: u64) {
        self.events_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_duration(&self, d: Duration) {
        self.duration_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn events_in(&self) -> u64 {
        self.events_in.load(Ordering::Relaxed)
    }

    pub fn events_out(&self) -> u64 {
        self.events_out.load(Ordering::Relaxed)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.duration_ns.load(Ordering::Relaxed))
    }

    /// Count events under a failure reason. Prefer an internal event (below), which also logs.
    pub fn add_failure(&self, reason: &'static str, n: u64) {
        if n > 0 {
            *self.failures.lock().entry(reason).or_insert(0) += n;
        }
    }

    pub fn failures(&self) -> BTreeMap<&'static str, u64> {
        self.failures.lock().clone()
    }

    pub fn failure_count(&self, reason: &str) -> u64 {
        self.failures.lock().get(reason).copied().unwrap_or(0)
    }

    pub fn gauge_add(&self, name: &'static str, delta: i64) {
        *self.gauges.lock().entry(name).or_insert(0) += delta;
    }

    pub fn gauges(&self) -> BTreeMap<&'static str, i64> {
        self.gauges.lock().clone()
    }

    pub fn add_request(&self, status: &'static str, n: u64) {
        if n > 0 {
            *self.requests.lock().entry(status).or_insert(0) += n;
        }
    }

    pub fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests.lock().clone()
    }
}

/// Counters of one pipeline.
#[derive(Debug)]
pub struct PipelineMetrics {
    pub id: String,
    /// Events the inputs handed to the queue.
    events_in: AtomicU64,
    /// Events that came out of the filter stage (after drops, plus any a filter created).
    events_filtered: AtomicU64,
    /// Events every output they were routed to has confirmed.
    events_out: AtomicU64,
    /// Events a `drop` filter or a filter failure removed on purpose.
    events_dropped: AtomicU64,
    /// Events waiting in the queue or in a worker's batch.
    queue_events: AtomicI64,
    pub queue_capacity: AtomicU64,
    /// Batch processing time, bucketed (seconds): filters + outputs for one batch.
    batch_latency: Histogram,
    plugins: Mutex<Vec<Arc<PluginMetrics>>>,
}

impl PipelineMetrics {
    pub fn new(id: &str) -> Arc<PipelineMetrics> {
        Arc::new(PipelineMetrics {
            id: id.to_string(),
            events_in: AtomicU64::new(0),
            events_filtered: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            queue_events: AtomicI64::new(0),
            queue_capacity: AtomicU64::new(0),
            batch_latency: Histogram::new(&BATCH_LATENCY_BUCKETS),
            plugins: Mutex::new(Vec::new()),
        })
    }

    pub fn plugin(&self, id: String, kind: &'static str, name: &'static str) -> Arc<PluginMetrics> {
        let m = PluginMetrics::new(id, kind, name);
        self.plugins.lock().push(m.clone());
        m
    }

    pub fn plugins(&self) -> Vec<Arc<PluginMetrics>> {
        self.plugins.lock().clone()
    }

    pub fn add_in(&self, n: u64) {
        self.events_in.fetch_add(n, Ordering::Relaxed);
        self.queue_events.fetch_add(n as i64, Ordering::Relaxed);
    }

    pub fn add_filtered(&self, n: u64) {
        self.events_filtered.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_out(&self, n: u64) {
        self.events_out.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_dropped(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Events left the queue for good (processed and acknowledged).
    pub fn queue_release(&self, n: u64) {
        self.queue_events.fetch_sub(n as i64, Ordering::Relaxed);
    }

    pub fn observe_batch(&self, d: Duration) {
        self.batch_latency.observe(d.as_secs_f64());
    }

    pub fn events_in(&self) -> u64 {
        self.events_in.load(Ordering::Relaxed)
    }
    pub fn events_filtered(&self) -> u64 {
        self.events_filtered.load(Ordering::Relaxed)
    }
    pub fn events_out(&self) -> u64 {
        self.events_out.load(Ordering::Relaxed)
    }
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }
    pub fn queue_events(&self) -> i64 {
        self.queue_events.load(Ordering::Relaxed)
    }
    pub fn batch_latency(&self) -> HistogramSnapshot {
        self.batch_latency.snapshot()
    }
}

pub const BATCH_LATENCY_BUCKETS: [f64; 12] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A fixed-bucket histogram with atomic counts; cheap enough to observe once per batch.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((v * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// Every pipeline this process runs, for the metrics API.
#[derive(Debug, Default)]
pub struct Registry {
    pipelines: Mutex<Vec<Arc<PipelineMetrics>>>,
    /// Reload outcomes per pipeline: (successes, failures).
    reloads: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Pipelines that are running (started and not yet stopped), for readiness.
    running: Mutex<BTreeMap<String, bool>>,
    /// Actions of the scheduled index cleanup: (action, result) → count.
    ilm_actions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Runs of the scheduled index cleanup, by result.
    ilm_runs: Mutex<BTreeMap<&'static str, u64>>,
}

impl Registry {
    pub fn global() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::default)
    }

    /// Register a pipeline's counters; a reloaded pipeline replaces the one with its id.
    pub fn register(&self, m: Arc<PipelineMetrics>) {
        let mut list = self.pipelines.lock();
        list.retain(|p| p.id != m.id);
        list.push(m);
    }

    pub fn pipelines(&self) -> Vec<Arc<PipelineMetrics>> {
        self.pipelines.lock().clone()
    }

    pub fn count_reload(&self, pipeline: &str, ok: bool) {
        let mut r = self.reloads.lock();
        let e = r.entry(pipeline.to_string()).or_default();
        if ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }

    /// (pipeline, "success" | "failure", count) for every pipeline that was ever reloaded.
    pub fn reloads(&self) -> Vec<(String, &'static str, u64)> {
        self.reloads
            .lock()
            .iter()
            .flat_map(|(p, (ok, failed))| [(p.clone(), "success", *ok), (p.clone(), "failure", *failed)])
            .collect()
    }

    pub fn reload_counts(&self, pipeline: &str) -> (u64, u64) {
        self.reloads.lock().get(pipeline).copied().unwrap_or_default()
    }

    pub fn set_running(&self, pipeline: &str, running: bool) {
        self.running.lock().insert(pipeline.to_string(), running);
    }

    pub fn count_ilm_action(&self, action: &'static str, result: &'static str) {
        *self.ilm_actions.lock().entry((action, result)).or_insert(0) += 1;
    }

    /// (action, result, count).
    pub fn ilm_actions(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.ilm_actions.lock().iter().map(|((a, r), n)| (*a, *r, *n)).collect()
    }

    pub fn count_ilm_run(&self, result: &'static str) {
        *self.ilm_runs.lock().entry(result).or_insert(0) += 1;
    }

    pub fn ilm_runs(&self) -> Vec<(&'static str, u64)> {
        self.ilm_runs.lock().iter().map(|(r, n)| (*r, *n)).collect()
    }

    /// Ready when at least one pipeline is registered and every registered one is running.
    pub fn ready(&self) -> bool {
        let r = self.running.lock();
        !r.is_empty() && r.values().all(|v| *v)
    }
}

/// Internal events: one struct per thing that happens, whose `emit()` logs and counts.
pub mod events {
    use super::PluginMetrics;

    /// Events a plugin could not process as intended and passed on tagged (or dropped).
    pub struct EventsFailed<'a> {
        pub plugin: &'a PluginMetrics,
        pub reason: &'static str,
        pub count: u64,
    }

    impl EventsFailed<'_> {
        pub fn emit(self) {
            if self.count == 0 {
                return;
            }
            tracing::debug!(
                plugin_id = %self.plugin.id,
                plugin = self.plugin.name,
                reason = self.reason,
                count = self.count,
                "Events failed processing."
            );
            self.plugin.add_failure(self.reason, self.count);
        }
    }

    /// An output could not deliver a batch and will try it again.
    pub struct OutputRetry<'a> {
        pub plugin: &'a PluginMetrics,
        pub count: u64,
        pub error: &'a dyn std::fmt::Display,
        pub delay: std::time::Duration,
    }

    impl OutputRetry<'_> {
        pub fn emit(self) {
            tracing::warn!(
                plugin_id = %self.plugin.id,
                plugin = self.plugin.name,
                events = self.count,
                error = %self.error,
                retry_in_ms = self.delay.as_millis() as u64,
                "Output failed to deliver a batch; retrying."
            );
            self.plugin.add_failure("retry", 1);
        }
    }
}

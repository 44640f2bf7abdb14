//! The `/metrics` exposition: the counters of `Registry`, encoded by `prometheus-client` as a
//! collector read on each scrape (the counters themselves stay plain atomics on the hot path).
//!
//! Names follow Prometheus conventions: a `sluice_` prefix, base units, and counters that the
//! encoder suffixes with `_total`.

use super::{process, PluginMetrics, Registry};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::fmt::Error;

#[derive(Debug)]
pub struct SluiceCollector;

type Labels<'a> = Vec<(&'static str, &'a str)>;

fn counter_family<'a, T>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    items: &'a [T],
    sample: impl Fn(&'a T) -> Vec<(Labels<'a>, u64)>,
) -> Result<(), Error> {
    let samples: Vec<(Labels<'a>, u64)> = items.iter().flat_map(sample).collect();
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in &samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge_family<'a, T>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    items: &'a [T],
    sample: impl Fn(&'a T) -> Vec<(Labels<'a>, i64)>,
) -> Result<(), Error> {
    let samples: Vec<(Labels<'a>, i64)> = items.iter().flat_map(sample).collect();
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in &samples {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn plain_gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), Error> {
    let m: MetricEncoder = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

impl Collector for SluiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let registry = Registry::global();
        let pipelines = registry.pipelines();

        {
            let mut info = encoder.encode_descriptor("sluice_build", "Version of the running sluice.", None, MetricType::Info)?;
            info.encode_info(&vec![("version", env!("CARGO_PKG_VERSION"))])?;
        }

        counter_family(&mut encoder, "sluice_events_in", "Events the inputs handed to the pipeline.", &pipelines, |p| {
            vec![(pipeline_labels(p), p.events_in())]
        })?;
        counter_family(&mut encoder, "sluice_events_filtered", "Events that came out of the filters.", &pipelines, |p| {
            vec![(pipeline_labels(p), p.events_filtered())]
        })?;
        counter_family(&mut encoder, "sluice_events_out", "Events every output they were routed to has accepted.", &pipelines, |p| {
            vec![(pipeline_labels(p), p.events_out())]
        })?;
        counter_family(&mut encoder, "sluice_events_dropped", "Events removed on purpose (drop filter).", &pipelines, |p| {
            vec![(pipeline_labels(p), p.events_dropped())]
        })?;
        gauge_family(&mut encoder, "sluice_queue_events", "Events waiting in the queue or in a worker's batch.", &pipelines, |p| {
            vec![(vec![("pipeline", p.id.as_str())], p.queue_events())]
        })?;
        gauge_family(&mut encoder, "sluice_queue_capacity_events", "The most events the queue holds.", &pipelines, |p| {
            vec![(vec![("pipeline", p.id.as_str())], p.queue_capacity.load(std::sync::atomic::Ordering::Relaxed) as i64)]
        })?;
        let reloads: Vec<(String, &'static str, u64)> = registry.reloads();
        counter_family(&mut encoder, "sluice_config_reloads", "Configuration reloads by result.", &reloads, |(p, result, n)| {
            vec![(vec![("pipeline", p.as_str()), ("result", *result)], *n)]
        })?;

        let ilm_actions = registry.ilm_actions();
        counter_family(&mut encoder, "sluice_ilm_actions", "Actions of the scheduled index cleanup, by action and result.", &ilm_actions, |(a, r, n)| {
            vec![(vec![("action", *a), ("result", *r)], *n)]
        })?;
        let ilm_runs = registry.ilm_runs();
        counter_family(&mut encoder, "sluice_ilm_runs", "Runs of the scheduled index cleanup, by result.", &ilm_runs, |(r, n)| {
            vec![(vec![("result", *r)], *n)]
        })?;

        if !pipelines.is_empty() {
            let mut family = encoder.encode_descriptor(
                "sluice_batch_duration_seconds",
                "Time to run one batch through filters and outputs.",
                None,
                MetricType::Histogram,
            )?;
            for p in &pipelines {
                let snap = p.batch_latency();
                // The encoder accumulates the per-bucket counts itself.
                let buckets: Vec<(f64, u64)> =
                    snap.counts.iter().enumerate().map(|(i, c)| (snap.bounds.get(i).copied().unwrap_or(f64::INFINITY), *c)).collect();
                let labels = vec![("pipeline", p.id.as_str())];
                family.encode_family(&labels)?.encode_histogram::<Labels>(snap.sum, snap.count, &buckets, None)?;
            }
        }

        let plugins: Vec<(String, std::sync::Arc<PluginMetrics>)> =
            pipelines.iter().flat_map(|p| p.plugins().into_iter().map(|m| (p.id.clone(), m))).collect();
        let labels = plugin_labels;
        counter_family(&mut encoder, "sluice_plugin_events_in", "Events a plugin received.", &plugins, |x| vec![(labels(x), x.1.events_in())])?;
        counter_family(&mut encoder, "sluice_plugin_events_out", "Events a plugin passed on.", &plugins, |x| vec![(labels(x), x.1.events_out())])?;
        counter_family(&mut encoder, "sluice_plugin_failures", "Events a plugin could not process as intended, by reason.", &plugins, |x| {
            x.1.failures()
                .into_iter()
                .map(|(reason, n)| {
                    let mut l = labels(x);
                    l.push(("reason", reason));
                    (l, n)
                })
                .collect()
        })?;
        counter_family(&mut encoder, "sluice_output_requests", "Requests an output sent, by response status.", &plugins, |x| {
            x.1.requests()
                .into_iter()
                .map(|(status, n)| (vec![("pipeline", x.0.as_str()), ("plugin_id", x.1.id.as_str()), ("status", status)], n))
                .collect()
        })?;
        gauge_family(&mut encoder, "sluice_input_connections", "Open client connections of an input.", &plugins, |x| {
            x.1.gauges().get("connections").map(|v| vec![(vec![("pipeline", x.0.as_str()), ("plugin_id", x.1.id.as_str())], *v)]).unwrap_or_default()
        })?;
        // Each is shown for the plugins it concerns, zero included, so rates start from zero.
        let concerns_output = |m: &PluginMetrics| m.kind == "output";
        let receives_udp = |m: &PluginMetrics| m.kind == "input" && matches!(m.name, "syslog" | "udp");
        let families: [(&str, &str, &str, &dyn Fn(&PluginMetrics) -> bool); 3] = [
            ("sluice_output_retries", "Output calls that failed and were retried.", "retry", &concerns_output),
            ("sluice_dead_letter_events", "Events written to the dead letter queue.", "dead_letter", &concerns_output),
            ("sluice_udp_dropped", "UDP datagrams lost to a full socket buffer.", "udp_dropped", &receives_udp),
        ];
        for (name, help, counter, concerns) in families {
            counter_family(&mut encoder, name, help, &plugins, |x| {
                let n = x.1.failure_count(counter);
                if n == 0 && !concerns(&x.1) {
                    return Vec::new();
                }
                vec![(vec![("pipeline", x.0.as_str()), ("plugin_id", x.1.id.as_str())], n)]
            })?;
        }

        let proc = process::sample();
        {
            let m = encoder.encode_descriptor("process_cpu_seconds", "User and system CPU time spent, in seconds.", None, MetricType::Counter)?;
            ConstCounter::new(proc.cpu_seconds).encode(m)?;
        }
        plain_gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory size in bytes.", proc.resident_bytes as f64)?;
        plain_gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory size in bytes.", proc.virtual_bytes as f64)?;
        plain_gauge(&mut encoder, "process_open_fds", "Open file descriptors.", proc.open_fds as f64)?;
        plain_gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors.", proc.max_fds as f64)?;
        plain_gauge(&mut encoder, "process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", proc.start_time_seconds)?;
        Ok(())
    }
}

fn pipeline_labels(p: &std::sync::Arc<super::PipelineMetrics>) -> Labels<'_> {
    vec![("pipeline", p.id.as_str())]
}

fn plugin_labels(x: &(String, std::sync::Arc<PluginMetrics>)) -> Labels<'_> {
    vec![("pipeline", x.0.as_str()), ("plugin_id", x.1.id.as_str()), ("plugin", x.1.name), ("kind", x.1.kind)]
}

/// The whole exposition, in the OpenMetrics text format.
pub fn render() -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(SluiceCollector));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The exposition in the classic Prometheus text format (0.0.4), for clients that do not ask for
/// OpenMetrics (promtool, curl, older scrapers). Derived from the OpenMetrics text: counter
/// families take their `_total` sample name, `info` families become `_info` gauges, and the
/// `# UNIT` and `# EOF` lines, which 0.0.4 does not have, are dropped.
pub fn render_text() -> String {
    to_text_format(&render())
}

fn to_text_format(openmetrics: &str) -> String {
    let mut types = std::collections::HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                types.insert(name.to_string(), kind.to_string());
            }
        }
    }
    let renamed = |name: &str| match types.get(name).map(String::as_str) {
        Some("counter") => (format!("{name}_total"), "counter"),
        Some("info") => (format!("{name}_info"), "gauge"),
        Some("histogram") => (name.to_string(), "histogram"),
        Some("gauge") => (name.to_string(), "gauge"),
        _ => (name.to_string(), "untyped"),
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {} {help}\n", renamed(name).0));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_once(' ').map(|(n, _)| n).unwrap_or(rest);
            let (name, kind) = renamed(name);
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_text_format;

    #[test]
    fn openmetrics_becomes_the_classic_text_format() {
        let om = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total{p=\"x\"} 3\n# HELP b Build.\n# TYPE b info\nb_info{version=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\n# UNIT g bytes\ng 2\n# EOF\n";
        let want = "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total{p=\"x\"} 3\n# HELP b_info Build.\n# TYPE b_info gauge\nb_info{version=\"1\"} 1\n# HELP g G.\n# TYPE g gauge\ng 2\n";
        assert_eq!(to_text_format(om), want);
    }
}

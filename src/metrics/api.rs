//! The HTTP API on port 9600, as Logstash's: `/metrics` (Prometheus/OpenMetrics), `/` and
//! `/_node/stats` (Logstash's JSON shape where it maps), `/health` (liveness: the process
//! answers) and `/ready` (readiness: every pipeline is running).

use super::{process, Registry};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub host: String,
    /// A port or a range (`9600-9700`): the first free one is used, as Logstash does.
    pub ports: (u16, u16),
    pub node_name: String,
}

pub fn parse_ports(spec: &str) -> Option<(u16, u16)> {
    match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => spec.trim().parse().ok().map(|p| (p, p)),
    }
}

/// Bind and serve until `shutdown`; returns the address bound.
pub async fn serve(settings: ApiSettings, shutdown: CancellationToken) -> std::io::Result<SocketAddr> {
    let mut last_err = None;
    for port in settings.ports.0..=settings.ports.1 {
        match tokio::net::TcpListener::bind((settings.host.as_str(), port)).await {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                let node = settings.node_name.clone();
                let app = router(node, addr);
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
                });
                tracing::info!(address = %addr, "HTTP API listening.");
                return Ok(addr);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no port to bind")))
}

fn router(node: String, addr: SocketAddr) -> Router {
    let n1 = node.clone();
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/ready", get(ready))
        .route("/", get(move || async move { Json(root(&n1, addr)) }))
        .route("/_node/stats", get(move || async move { Json(node_stats(&node, addr)) }))
        .route("/_node/stats/pipelines", get(|| async { Json(json!({ "pipelines": pipelines() })) }))
        .route("/_node/stats/process", get(|| async { Json(json!({ "process": process_stats() })) }))
}

/// OpenMetrics to clients that ask for it (Prometheus does), the classic text format otherwise.
async fn metrics(headers: axum::http::HeaderMap) -> impl IntoResponse {
    let wants_openmetrics =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/openmetrics-text"));
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], super::prometheus::render())
    } else {
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], super::prometheus::render_text())
    }
}

async fn ready() -> impl IntoResponse {
    if Registry::global().ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

fn root(node: &str, addr: SocketAddr) -> Value {
    json!({
        "host": crate::util::hostname(),
        "version": env!("CARGO_PKG_VERSION"),
        "http_address": addr.to_string(),
        "name": node,
        "status": if Registry::global().ready() { "green" } else { "yellow" },
    })
}

fn node_stats(node: &str, addr: SocketAddr) -> Value {
    let mut v = root(node, addr);
    v["pipelines"] = pipelines();
    v["process"] = process_stats();
    let (i, f, o) = Registry::global().pipelines().iter().fold((0, 0, 0), |(i, f, o), p| {
        (i + p.events_in(), f + p.events_filtered(), o + p.events_out())
    });
    v["events"] = json!({ "in": i, "filtered": f, "out": o });
    v
}

fn pipelines() -> Value {
    let mut out = serde_json::Map::new();
    for p in Registry::global().pipelines() {
        let mut plugins = json!({ "inputs": [], "filters": [], "outputs": [] });
        for m in p.plugins() {
            let key = match m.kind {
                "input" => "inputs",
                "filter" => "filters",
                _ => "outputs",
            };
            let events = if m.kind == "input" {
                json!({ "out": m.events_out() })
            } else {
                json!({ "in": m.events_in(), "out": m.events_out(), "duration_in_millis": m.duration().as_millis() as u64 })
            };
            let failures: serde_json::Map<String, Value> = m.failures().into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            if let Some(list) = plugins[key].as_array_mut() {
                list.push(json!({ "id": m.id, "name": m.name, "events": events, "failures": failures }));
            }
        }
        let (ok, failed) = Registry::global().reload_counts(&p.id);
        let latency = p.batch_latency();
        out.insert(
            p.id.clone(),
            json!({
                "events": {
                    "in": p.events_in(),
                    "filtered": p.events_filtered(),
                    "out": p.events_out(),
                    "dropped": p.events_dropped(),
                    "duration_in_millis": (latency.sum * 1000.0) as u64,
                },
                "plugins": plugins,
                "reloads": { "successes": ok, "failures": failed },
                "queue": {
                    "type": "memory",
                    "events_count": p.queue_events(),
                    "capacity": { "max_queue_events": p.queue_capacity.load(std::sync::atomic::Ordering::Relaxed) },
                },
            }),
        );
    }
    Value::Object(out)
}

fn process_stats() -> Value {
    let s = process::sample();
    json!({
        "open_file_descriptors": s.open_fds,
        "max_file_descriptors": s.max_fds,
        "cpu": { "total_in_millis": (s.cpu_seconds * 1000.0) as u64 },
        "mem": { "total_virtual_in_bytes": s.virtual_bytes, "resident_in_bytes": s.resident_bytes },
    })
}

//! The `loki` output: events to Loki's push API, nothing acknowledged before Loki has it.
//!
//! A call to `receive` renders its events once (`entry`: stream labels, line, structured
//! metadata), hands them to a gathering point shared by the output's callers, and waits. When no
//! push is in flight, they go out at once: the worker's batch is the batch, and waiting would
//! only hold back the worker (and, through the queue, the inputs that could have added more).
//! While a push is in flight, later callers gather until it ends, until `batch_size` bytes are
//! gathered, or until `batch_wait` has passed since the first of them arrived, whichever comes
//! first; so a busy output makes fewer, larger pushes. The caller that goes first then groups the
//! entries by stream, orders each stream by time, cuts them
//! into pushes of at most `batch_size` (`push`), waits out the rate limits (`rate`), and sends
//! them (protobuf and snappy by default, JSON on request). Every caller learns what became of
//! its own events: accepted; rejected for good (a 4xx other than 429: out of order, too old, line
//! too long...), counted by reason and written to the dead letter queue by the caller itself; or,
//! while Loki cannot take a push yet (429, 5xx, a lost connection), retried after a jittered
//! exponential wait (the Elasticsearch output's `Backoff`), at least as long as a `Retry-After`
//! answer asks.
//!
//! As in the Elasticsearch output, when nothing of a batch has been settled after
//! `GIVE_UP_WITHOUT_PROGRESS`, the callers get an error and the workers retry their calls
//! themselves; once part of a batch is settled, the rest is retried inside for as long as it takes.
//!
//! Loki keeps a stream per distinct label set, and streams are expensive; `max_streams` caps the
//! label sets one output creates within an hour. Past it, the events of a new label set are sent
//! with their templated label values replaced by `sluice_overflow` (fixed labels are kept), which
//! is logged and counted (`stream_folded`). A 400 can come after Loki took part of a push (it
//! stores the valid entries and names the others); the whole push goes to the dead letter queue,
//! so a replay may repeat some lines.

mod entry;
mod events;
mod push;
mod rate;

pub use entry::{Entry, Formatter, LineFormat, Pair};
pub use push::{Encoding, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};

use super::http::{self, dead_letter, error_chain, retry::Backoff, ClientSettings};
use super::{Output, OutputError};
use crate::config::args::{Args, HashValue};
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, FieldRef, Template};
use crate::metrics::PluginMetrics;
use crate::queue::dlq::DeadLetterQueue;
use base64::Engine;
use events::{PushRejected, PushRetried, RejectReason, StreamsFolded};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A batch that has settled nothing retries inside for this long, then hands the retry to the
/// workers (see the module comment).
const GIVE_UP_WITHOUT_PROGRESS: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is not believed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// A label set not seen for this long no longer counts against `max_streams` (Loki flushes an
/// idle stream's chunk after 30 minutes by default).
const STREAM_IDLE: Duration = Duration::from_secs(3600);

/// The options, as read from the plugin block.
#[derive(Debug, Clone)]
pub struct LokiConfig {
    /// `url`: the push endpoint, `http://loki:3100/loki/api/v1/push`.
    pub url: String,
    pub formatter: Formatter,
    /// `max_streams`: distinct label sets kept per output within an hour before folding.
    pub max_streams: usize,
    pub client: ClientSettings,
    pub encoding: Encoding,
    /// `batch_size`: bytes of lines and metadata per push.
    pub batch_size: usize,
    /// `batch_wait`: how long the first events of a batch wait for company.
    pub batch_wait: Duration,
    pub retry_initial_interval: Duration,
    pub retry_max_interval: Duration,
    /// `rate_limit` / `stream_rate_limit`: bytes per second, 0 for none.
    pub rate_limit: u64,
    pub stream_rate_limit: u64,
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigError> {
    let config = LokiConfig::from_args(args, ctx)?;
    let dlq = DeadLetterQueue::for_pipeline(&ctx.dead_letter_queue, &ctx.path_data, &ctx.pipeline_id);
    let out = Loki::new(config, dlq).map_err(|e| args.error(e))?;
    Ok(Box::new(out))
}

/// A hash option of `name => sprintf` pairs, names checked as Loki label names.
fn pairs(args: &mut Args, option: &'static str) -> Result<Vec<Pair>, ConfigError> {
    let mut out = Vec::new();
    for (name, value) in args.hash(option)? {
        let HashValue::One(value) = value else {
            return Err(ConfigError::at(args.span_of(option), format!("`{name}` in `{option}` must be a single value")));
        };
        if !entry::valid_label_name(&name) {
            return Err(ConfigError::at(
                args.span_of(option),
                format!("`{name}` is not a valid Loki label name (letters, digits and `_`, not starting with a digit or `__`)"),
            ));
        }
        let value = Template::parse(&value).map_err(|e| ConfigError::at(args.span_of(option), e.to_string()))?;
        out.push(Pair { name, value });
    }
    Ok(out)
}

impl LokiConfig {
    pub fn from_args(args: &mut Args, ctx: &BuildContext) -> Result<LokiConfig, ConfigError> {
        let url = args.required_string("url")?;
        let parsed = reqwest::Url::parse(&url).map_err(|e| ConfigError::at(args.span_of("url"), format!("`{url}` is not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::at(args.span_of("url"), format!("`{url}` is not an http or https URL")));
        }
        let mut labels = pairs(args, "labels")?;
        if labels.is_empty() && !args.has("labels") {
            labels = vec![
                Pair { name: "job".into(), value: Template::parse("sluice").expect("a valid default") },
                Pair { name: "pipeline".into(), value: Template::parse(&ctx.pipeline_id).map_err(|e| args.error(e.to_string()))? },
            ];
        }
        for l in &labels {
            if let Some(why) = entry::high_cardinality_hint(l.value.source()) {
                ctx.warn(
                    ConfigError::at(args.span_of("labels"), format!("the Loki label `{}` uses {why}, which likely differs for every event", l.name))
                        .with_help("each distinct label set is a Loki stream; put such values in the line or in `structured_metadata`"),
                );
            }
        }
        let metadata = pairs(args, "structured_metadata")?;
        let format = match args.choice("format", &["message", "json", "logfmt"], "message")? {
            "json" => LineFormat::Json,
            "logfmt" => LineFormat::Logfmt,
            _ => LineFormat::Message(args.field_ref("message_field")?.unwrap_or_else(|| FieldRef::top("message"))),
        };
        let _ = args.field_ref("message_field")?;
        let max_streams = args.integer("max_streams", 1000, 1, 1_000_000)? as usize;
        let encoding = match args.choice("encoding", &["protobuf", "json"], "protobuf")? {
            "json" => Encoding::Json,
            _ => Encoding::Protobuf,
        };
        let batch_size = args.integer("batch_size", 1024 * 1024, 1024, 64 * 1024 * 1024)? as usize;
        let batch_wait = args.number("batch_wait")?.unwrap_or(1.0);
        if !(0.0..=60.0).contains(&batch_wait) {
            return Err(ConfigError::at(args.span_of("batch_wait"), "batch_wait must be between 0 and 60 seconds"));
        }
        let initial = args.integer("retry_initial_interval", 1, 1, 3600)?;
        let max = args.integer("retry_max_interval", 64, 1, 86_400)?;
        if max < initial {
            return Err(ConfigError::at(
                args.span_of("retry_max_interval"),
                format!("retry_max_interval ({max}) is shorter than retry_initial_interval ({initial})"),
            ));
        }
        let rate_limit = args.integer("rate_limit", 4 * 1024 * 1024, 0, i64::MAX)? as u64;
        let stream_rate_limit = args.integer("stream_rate_limit", 3 * 1024 * 1024, 0, i64::MAX)? as u64;

        let ca_files = args.string_list("ssl_certificate_authorities")?.into_iter().map(Into::into).collect();
        let verify = args.choice("ssl_verification_mode", &["full", "none"], "full")? == "full";
        let user = args.string("user")?;
        let password = args.string("password")?;
        let bearer = args.string("bearer_token")?;
        let authorization = match (user, password, bearer) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(ConfigError::at(args.span_of("bearer_token"), "give either `user`/`password` or `bearer_token`, not both"))
            }
            (Some(u), p, None) => Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.unwrap_or_default())))),
            (None, Some(_), None) => return Err(ConfigError::at(args.span_of("password"), "`password` needs `user`")),
            (None, None, Some(t)) => Some(format!("Bearer {t}")),
            (None, None, None) => None,
        };
        let mut custom_headers = Vec::new();
        if let Some(tenant) = args.string("tenant_id")? {
            custom_headers.push(("X-Scope-OrgID".to_string(), tenant));
        }
        let timeout = Duration::from_secs(args.integer("timeout", 60, 1, 3600)? as u64);

        Ok(LokiConfig {
            url,
            formatter: Formatter::new(labels, metadata, format),
            max_streams,
            client: ClientSettings { timeout, ca_files, verify, authorization, custom_headers },
            encoding,
            batch_size,
            batch_wait: Duration::from_secs_f64(batch_wait),
            retry_initial_interval: Duration::from_secs(initial as u64),
            retry_max_interval: Duration::from_secs(max as u64),
            rate_limit,
            stream_rate_limit,
        })
    }
}

pub struct Loki {
    url: String,
    client: reqwest::Client,
    formatter: Formatter,
    encoding: Encoding,
    batch_size: usize,
    batch_wait: Duration,
    backoff: Backoff,
    give_up_without_progress: Duration,
    limiter: rate::RateLimiter,
    streams: StreamGuard,
    gather: Gather,
    dlq: Option<Arc<DeadLetterQueue>>,
    /// The output's counters, handed over by the compiler (`bind`); private ones until then.
    metrics: OnceLock<Arc<PluginMetrics>>,
}

/// The label sets an output has created lately, to cap them (`max_streams`).
struct StreamGuard {
    max: usize,
    seen: Mutex<HashMap<String, Instant>>,
    last_warning: Mutex<Option<Instant>>,
}

/// One caller's events, waiting to be pushed, and what became of them.
struct Contribution {
    /// Taken by the caller that pushes the batch.
    entries: Mutex<Vec<Entry>>,
    /// Set by that caller: the events (by index) to dead-letter with their reason, or an error
    /// when nothing was delivered and the call must be retried whole.
    outcome: Mutex<Option<Result<Vec<(usize, String)>, String>>>,
}

/// Where the output's callers meet to make larger pushes (see the module comment).
#[derive(Default)]
struct Gather {
    state: Mutex<GatherState>,
    changed: Condvar,
}

#[derive(Default)]
struct GatherState {
    open: Vec<Arc<Contribution>>,
    open_bytes: usize,
    opened_at: Option<Instant>,
    /// Batches being pushed right now.
    pushing: usize,
}

/// What became of one push.
enum PushOutcome {
    Accepted,
    /// A 4xx other than 429: never sent again.
    Rejected { status: u16, message: String },
    /// Not delivered: send again, not sooner than `after` when Loki said so.
    Retry { error: String, after: Option<Duration> },
}

impl Loki {
    pub fn new(config: LokiConfig, dlq: Option<Arc<DeadLetterQueue>>) -> Result<Loki, String> {
        Ok(Loki {
            client: http::build_client(&config.client)?,
            url: config.url,
            formatter: config.formatter,
            encoding: config.encoding,
            batch_size: config.batch_size,
            batch_wait: config.batch_wait,
            backoff: Backoff::new(config.retry_initial_interval, config.retry_max_interval),
            give_up_without_progress: GIVE_UP_WITHOUT_PROGRESS,
            limiter: rate::RateLimiter::new(config.rate_limit, config.stream_rate_limit),
            streams: StreamGuard { max: config.max_streams, seen: Mutex::new(HashMap::new()), last_warning: Mutex::new(None) },
            gather: Gather::default(),
            dlq,
            metrics: OnceLock::new(),
        })
    }

    fn metrics(&self) -> &PluginMetrics {
        self.metrics.get_or_init(|| PluginMetrics::new("loki".into(), "output", "loki"))
    }

    /// Render the events, folding label sets past `max_streams`.
    fn entries(&self, events: &[&Event]) -> Vec<Entry> {
        let now = Instant::now();
        let mut folded = 0u64;
        let mut example = String::new();
        let mut seen = self.streams.seen.lock();
        let entries = events
            .iter()
            .map(|event| {
                let mut stream = self.formatter.stream_key(event, false);
                if let Some(t) = seen.get_mut(&stream) {
                    *t = now;
                } else {
                    if seen.len() >= self.streams.max {
                        seen.retain(|_, t| now.duration_since(*t) < STREAM_IDLE);
                    }
                    if seen.len() < self.streams.max {
                        seen.insert(stream.clone(), now);
                    } else {
                        folded += 1;
                        if example.is_empty() {
                            example = stream;
                        }
                        stream = self.formatter.stream_key(event, true);
                    }
                }
                let timestamp_ns = event.timestamp().timestamp_nanos_opt().unwrap_or(0);
                Entry { stream, timestamp_ns, line: self.formatter.line(event), metadata: self.formatter.metadata(event) }
            })
            .collect();
        drop(seen);
        if folded > 0 {
            let mut last = self.streams.last_warning.lock();
            let log = last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
            if log {
                *last = Some(now);
            }
            StreamsFolded { plugin: self.metrics(), count: folded, max_streams: self.streams.max, example: &example, log }.emit();
        }
        entries
    }

    /// Add one call's entries to the batch and wait until the batch has been pushed; this caller
    /// may be the one that pushes it.
    fn gather_and_wait(&self, entries: Vec<Entry>) -> Result<Vec<(usize, String)>, String> {
        let bytes: usize = entries.iter().map(Entry::size).sum();
        let mine = Arc::new(Contribution { entries: Mutex::new(entries), outcome: Mutex::new(None) });
        let mut st = self.gather.state.lock();
        st.opened_at.get_or_insert_with(Instant::now);
        st.open_bytes += bytes;
        st.open.push(mine.clone());
        loop {
            if let Some(outcome) = mine.outcome.lock().take() {
                return outcome;
            }
            let still_open = st.open.iter().any(|c| Arc::ptr_eq(c, &mine));
            if !still_open {
                // Another caller is pushing it.
                self.gather.changed.wait(&mut st);
                continue;
            }
            let deadline = st.opened_at.unwrap_or_else(Instant::now) + self.batch_wait;
            if st.open_bytes >= self.batch_size || st.pushing == 0 || Instant::now() >= deadline {
                let batch = std::mem::take(&mut st.open);
                st.open_bytes = 0;
                st.opened_at = None;
                st.pushing += 1;
                MutexGuard::unlocked(&mut st, || self.push_batch(&batch));
                st.pushing -= 1;
                self.gather.changed.notify_all();
                continue;
            }
            self.gather.changed.wait_until(&mut st, deadline);
        }
    }

    /// Push the gathered contributions and tell each what became of its events.
    fn push_batch(&self, batch: &[Arc<Contribution>]) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut origin: Vec<(usize, usize)> = Vec::new();
        for (c, contribution) in batch.iter().enumerate() {
            let mine = std::mem::take(&mut *contribution.entries.lock());
            origin.extend((0..mine.len()).map(|i| (c, i)));
            entries.extend(mine);
        }
        let mut dead: Vec<Vec<(usize, String)>> = vec![Vec::new(); batch.len()];
        let result = self.push_entries(&entries, |plan, reason| {
            for i in plan.entries() {
                let (c, e) = origin[i];
                dead[c].push((e, reason.to_string()));
            }
        });
        for (contribution, dead) in batch.iter().zip(dead) {
            *contribution.outcome.lock() = Some(match &result {
                Ok(()) => Ok(dead),
                Err(e) => Err(e.clone()),
            });
        }
    }

    /// Send every push until each is accepted or rejected for good; `rejected` hears of each
    /// push refused with its dead letter reason. An error only when nothing was settled within
    /// `give_up_without_progress`.
    fn push_entries(&self, entries: &[Entry], mut rejected: impl FnMut(&push::Plan, &str)) -> Result<(), String> {
        let plans = push::plan(entries, self.batch_size);
        let mut bodies: Vec<Option<bytes::Bytes>> = vec![None; plans.len()];
        let mut pending: Vec<usize> = (0..plans.len()).collect();
        let started = Instant::now();
        let mut progressed = false;
        loop {
            let mut retry = Vec::new();
            let mut last_error = String::new();
            let mut retry_after = Duration::ZERO;
            for &p in &pending {
                let plan = &plans[p];
                let body = match &bodies[p] {
                    Some(b) => b.clone(),
                    None => {
                        let b = bytes::Bytes::from(push::encode(entries, plan, self.encoding)?);
                        bodies[p] = Some(b.clone());
                        b
                    }
                };
                let per_stream = plan.streams.iter().map(|(s, idx)| (s.as_str(), idx.iter().map(|&i| entries[i].size()).sum::<usize>()));
                let wait = self.limiter.reserve(plan.entries().map(|i| entries[i].size()).sum(), per_stream, Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                match self.send(body) {
                    PushOutcome::Accepted => progressed = true,
                    PushOutcome::Rejected { status, message } => {
                        progressed = true;
                        let count = plan.entries().count() as u64;
                        let reason = RejectReason::classify(status, &message);
                        PushRejected { plugin: self.metrics(), count, status, reason, message: &message }.emit();
                        rejected(plan, &format!("Could not push the event to Loki. status: {status}, reason: {}, error: {message}", reason.as_str()));
                    }
                    PushOutcome::Retry { error, after } => {
                        retry_after = retry_after.max(after.unwrap_or_default());
                        last_error = error;
                        retry.push(p);
                    }
                }
            }
            if retry.is_empty() {
                self.backoff.succeeded();
                return Ok(());
            }
            let count = retry.iter().map(|&p| plans[p].entries().count() as u64).sum();
            let hand_over = !progressed && started.elapsed() >= self.give_up_without_progress;
            let wait = (!hand_over).then(|| self.backoff.failed().max(retry_after));
            PushRetried { plugin: self.metrics(), count, error: &last_error, wait }.emit();
            match wait {
                None => return Err(last_error),
                Some(wait) => std::thread::sleep(wait),
            }
            pending = retry;
        }
    }

    fn send(&self, body: bytes::Bytes) -> PushOutcome {
        let rt = match http::runtime() {
            Ok(rt) => rt,
            Err(e) => return PushOutcome::Retry { error: e, after: None },
        };
        let request = self.client.post(&self.url).header(reqwest::header::CONTENT_TYPE, self.encoding.content_type()).body(body);
        let answer = rt.block_on(async {
            let r = request.send().await?;
            let status = r.status().as_u16();
            let after = r.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            let text = r.bytes().await?;
            Ok::<_, reqwest::Error>((status, after, text))
        });
        let metrics = self.metrics();
        match answer {
            Err(e) => {
                metrics.add_request(if e.is_timeout() { "timeout" } else { "connection_error" }, 1);
                PushOutcome::Retry { error: format!("push to {} failed: {}", self.url, error_chain(&e)), after: None }
            }
            Ok((status, after, text)) => {
                metrics.add_request(http::status_label(status), 1);
                let message = String::from_utf8_lossy(&text[..text.len().min(1000)]).trim().to_string();
                match status {
                    200..=299 => PushOutcome::Accepted,
                    // Credentials, a wrong path or tenant: fixable by an operator, not by the event.
                    408 | 429 | 401 | 403 | 404 | 500..=599 => PushOutcome::Retry {
                        error: format!("{} answered the push with status {status}: {message}", self.url),
                        after: after.map(|a| a.min(MAX_RETRY_AFTER)),
                    },
                    _ => PushOutcome::Rejected { status, message },
                }
            }
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_millis(ms.max(0) as u64))
}

impl Output for Loki {
    fn bind(&self, metrics: &Arc<PluginMetrics>) {
        let _ = self.metrics.set(metrics.clone());
    }

    fn receive(&self, events: &[&Event]) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        let entries = self.entries(events);
        let dead = self.gather_and_wait(entries)?;
        let by = dead_letter::Rejecter { plugin: self.metrics(), plugin_type: "loki", server: "Loki" };
        Ok(dead_letter::write(self.dlq.as_deref(), by, events, &dead)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&later).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}

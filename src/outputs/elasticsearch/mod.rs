//! The `elasticsearch` output: events to Elasticsearch's `_bulk` API, nothing acknowledged before
//! the cluster has it.
//!
//! A call to `receive` formats the worker's events once (`bulk`), sends them in requests bounded
//! by `bulk_max_bytes` and `bulk_max_events` (gzip-compressed at `compression_level`), reads the
//! answer item by item (`response`), and loops until every event is settled: accepted, a
//! duplicate (409), or written to the dead letter queue (a 4xx such as a mapping conflict). Only
//! the items answered 429 or 5xx, and whole requests that failed (connection lost, 429/5xx for the
//! request), are sent again, after a jittered exponential wait (`retry`). Hosts are used in turn
//! and a dead one is skipped until a background health check sees it back (`hosts`). Before the
//! first request, the index template and ILM policy are installed (`template`).
//!
//! When a call has settled nothing yet and its retries have lasted `GIVE_UP_WITHOUT_PROGRESS`,
//! it returns an error instead: the worker then retries the whole call itself (nothing can be
//! duplicated, nothing was accepted) and can notice a second stop request in between. Once part
//! of a call is settled, the rest is retried inside the call for as long as it takes, so an
//! accepted event is never sent twice because its neighbours were not.

mod bulk;
mod events;
pub mod hosts;
mod response;
pub mod template;

pub use bulk::{Action, ActionKind, Formatted, Item, ItemSpec};
pub use response::{classify, BulkItemOutcome};

use super::http::{dead_letter, error_chain, retry};
use super::{Output, OutputError};
use crate::config::args::{Args, HashValue};
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, Template};
use crate::metrics::PluginMetrics;
use crate::queue::dlq::DeadLetterQueue;
use hosts::{ClientSettings, HostPool};
use parking_lot::Mutex;
use response::ResponseError;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use template::{IlmMode, TemplatePlan};

/// A call that has settled nothing retries inside for this long, then hands the retry to the
/// worker (see the module comment).
const GIVE_UP_WITHOUT_PROGRESS: Duration = Duration::from_secs(30);

/// The options, as read from the plugin block.
#[derive(Debug, Clone)]
pub struct ElasticsearchConfig {
    /// `hosts`: `host:port`, or URLs with scheme and path. Default `127.0.0.1:9200`.
    pub hosts: Vec<String>,
    /// `index` (sprintf). Default `logs-%{+YYYY.MM.dd}`: a daily index from each event's
    /// own `@timestamp`, in UTC.
    pub index: Template,
    /// `action`: index, create, update, delete, or a sprintf choosing one per event.
    pub action: Action,
    pub document_id: Option<Template>,
    pub routing: Option<Template>,
    /// `pipeline`: the ingest pipeline to run the document through.
    pub pipeline: Option<Template>,
    pub doc_as_upsert: bool,
    pub retry_on_conflict: u32,
    /// `path`: a prefix for every URL (Elasticsearch behind a proxy path).
    pub path: String,
    /// `parameters`: extra query parameters on bulk requests.
    pub parameters: Vec<(String, String)>,
    pub client: ClientSettings,
    /// TLS is on (`ssl_enabled`, or an https host).
    pub ssl: Option<bool>,
    /// 0 sends requests uncompressed; 1-9 gzip levels.
    pub compression_level: u32,
    pub bulk_max_bytes: usize,
    pub bulk_max_events: usize,
    pub retry_initial_interval: Duration,
    pub retry_max_interval: Duration,
    /// Item statuses sent to the dead letter queue besides 4xx (usually 5xx a cluster returns
    /// for a document it will never take).
    pub dlq_custom_codes: Vec<u16>,
    pub resurrect_delay: Duration,
    pub healthcheck_path: String,
    /// `None` when `manage_template` is false or no template pattern can be derived.
    pub template: Option<TemplatePlan>,
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigError> {
    let config = ElasticsearchConfig::from_args(args, ctx)?;
    let dlq = DeadLetterQueue::for_pipeline(&ctx.dead_letter_queue, &ctx.path_data, &ctx.pipeline_id);
    let out = Elasticsearch::new(config, dlq).map_err(|e| args.error(e))?;
    Ok(Box::new(out))
}

impl ElasticsearchConfig {
    pub fn from_args(args: &mut Args, ctx: &BuildContext) -> Result<ElasticsearchConfig, ConfigError> {
        let mut hosts = args.string_list("hosts")?;
        if hosts.is_empty() {
            hosts.push("127.0.0.1:9200".into());
        }
        let index = args.template("index")?.unwrap_or_else(|| Template::parse("logs-%{+YYYY.MM.dd}").expect("a valid default"));
        let action = match args.string("action")? {
            None => Action::Fixed(ActionKind::Index),
            Some(a) if a.contains("%{") => Action::PerEvent(Template::parse(&a).map_err(|e| ConfigError::at(args.span_of("action"), e.to_string()))?),
            Some(a) => Action::Fixed(ActionKind::parse(&a).ok_or_else(|| {
                let err = ConfigError::at(
                    args.span_of("action"),
                    format!("`{a}` is not a valid action; expected index, create, update, delete or a %{{field}} reference"),
                );
                match crate::config::error::did_you_mean(&a, ["index", "create", "update", "delete"]) {
                    Some(m) => err.with_help(format!("did you mean `{m}`?")),
                    None => err,
                }
            })?),
        };
        let document_id = args.template("document_id")?;
        if let Action::Fixed(kind) = action {
            if kind.needs_id() && document_id.is_none() {
                return Err(ConfigError::at(args.span_of("action"), format!("action `{}` needs the option `document_id`", kind.name())));
            }
        }
        let routing = args.template("routing")?;
        let pipeline = args.template("pipeline")?;
        let doc_as_upsert = args.bool("doc_as_upsert", false)?;
        let retry_on_conflict = args.integer("retry_on_conflict", 1, 0, 1000)? as u32;
        let path = args.string_or("path", "")?;
        let parameters = args
            .hash("parameters")?
            .into_iter()
            .map(|(k, v)| match v {
                HashValue::One(v) => Ok((k, v)),
                HashValue::Many(_) => Err(ConfigError::at(args.span_of("parameters"), format!("parameter `{k}` must be a single value"))),
            })
            .collect::<Result<Vec<_>, _>>()?;

        // TLS: Logstash 8 names first, the Logstash 7 ones (`ssl`, `cacert`,
        // `ssl_certificate_verification`) still accepted.
        let ssl = match (args.has("ssl_enabled"), args.has("ssl")) {
            (true, _) => Some(args.bool("ssl_enabled", false)?),
            (false, true) => Some(args.bool("ssl", false)?),
            _ => {
                let _ = args.bool("ssl_enabled", false)?;
                let _ = args.bool("ssl", false)?;
                None
            }
        };
        let mut ca_files: Vec<std::path::PathBuf> = args.string_list("ssl_certificate_authorities")?.into_iter().map(Into::into).collect();
        ca_files.extend(args.string("cacert")?.map(Into::into));
        let mode = args.choice("ssl_verification_mode", &["full", "none"], "full")?;
        let verify = mode == "full" && args.bool("ssl_certificate_verification", true)?;

        let user = args.string("user")?;
        let password = args.string("password")?;
        let api_key = args.string("api_key")?;
        let cloud_auth = args.string("cloud_auth")?;
        if args.string("cloud_id")?.is_some() {
            return Err(ConfigError::at(
                args.span_of("cloud_id"),
                "cloud_id is not supported; give the deployment's Elasticsearch endpoint in `hosts`",
            ));
        }
        let basic = match (user, password, cloud_auth) {
            (Some(u), p, None) => Some(format!("{u}:{}", p.unwrap_or_default())),
            (None, Some(_), None) => return Err(ConfigError::at(args.span_of("password"), "`password` needs `user`")),
            (None, None, Some(ca)) => Some(ca),
            (Some(_), _, Some(_)) => {
                return Err(ConfigError::at(args.span_of("cloud_auth"), "give either `user`/`password` or `cloud_auth`, not both"))
            }
            (None, Some(_), Some(_)) => return Err(ConfigError::at(args.span_of("cloud_auth"), "give either `password` or `cloud_auth`, not both")),
            (None, None, None) => None,
        };
        let authorization = match (basic, api_key) {
            (Some(_), Some(_)) => return Err(ConfigError::at(args.span_of("api_key"), "give either `api_key` or `user`/`password`, not both")),
            (Some(b), None) => Some(hosts::basic_authorization(&b)),
            (None, Some(k)) => {
                let tls = ssl == Some(true) || hosts.iter().any(|h| h.trim_start().starts_with("https://"));
                if !tls {
                    return Err(ConfigError::at(args.span_of("api_key"), "`api_key` needs TLS: set ssl_enabled => true or use https:// hosts"));
                }
                Some(hosts::api_key_authorization(&k))
            }
            (None, None) => None,
        };
        let custom_headers = args
            .hash("custom_headers")?
            .into_iter()
            .map(|(k, v)| match v {
                HashValue::One(v) => Ok((k, v)),
                HashValue::Many(v) => Ok((k, v.join(","))),
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let timeout = Duration::from_secs(args.integer("timeout", 60, 1, 3600)? as u64);

        let http_compression = args.has("http_compression").then(|| args.bool("http_compression", false)).transpose()?;
        let _ = args.bool("http_compression", false)?;
        let compression_level = match (args.has("compression_level"), http_compression) {
            (true, _) | (false, None) => args.integer("compression_level", 1, 0, 9)? as u32,
            (false, Some(on)) => {
                let _ = args.integer("compression_level", 1, 0, 9)?;
                u32::from(on)
            }
        };
        let bulk_max_bytes = args.integer("bulk_max_bytes", 20 * 1024 * 1024, 1024, 1024 * 1024 * 1024)? as usize;
        let bulk_max_events = args.integer("bulk_max_events", 10_000, 1, 1_000_000)? as usize;

        let initial = args.integer("retry_initial_interval", 2, 1, 3600)?;
        let max = args.integer("retry_max_interval", 64, 1, 86_400)?;
        if max < initial {
            return Err(ConfigError::at(
                args.span_of("retry_max_interval"),
                format!("retry_max_interval ({max}) is shorter than retry_initial_interval ({initial})"),
            ));
        }
        let mut dlq_custom_codes = Vec::new();
        for c in args.string_list("dlq_custom_codes")? {
            let code: u16 = c
                .trim()
                .parse()
                .ok()
                .filter(|n| (100..=599).contains(n))
                .ok_or_else(|| ConfigError::at(args.span_of("dlq_custom_codes"), format!("`{c}` is not an HTTP status code")))?;
            if (200..=299).contains(&code) || code == 409 {
                return Err(ConfigError::at(
                    args.span_of("dlq_custom_codes"),
                    format!("status {code} cannot go to the dead letter queue: it means {}", if code == 409 { "a duplicate" } else { "success" }),
                ));
            }
            dlq_custom_codes.push(code);
        }
        let resurrect_delay = Duration::from_secs(args.integer("resurrect_delay", 5, 1, 3600)? as u64);
        let healthcheck_path = format!("/{}", args.string_or("healthcheck_path", "/")?.trim_start_matches('/'));
        if args.bool("sniffing", false)? {
            return Err(ConfigError::at(args.span_of("sniffing"), "sniffing is not supported; list the nodes in `hosts`"));
        }
        let _ = args.string("sniffing_path")?;
        let _ = args.integer("sniffing_delay", 5, 0, 86_400)?;
        let _ = args.integer("pool_max", 1000, 1, 100_000)?;
        let _ = args.integer("pool_max_per_route", 100, 1, 100_000)?;
        let _ = args.integer("validate_after_inactivity", 10_000, 0, i64::MAX)?;
        let _ = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], "disabled")?;
        let _ = args.string_list("failure_type_logging_whitelist")?;
        let _ = args.string_list("silence_errors_in_log")?;
        if args.choice("data_stream", &["auto", "true", "false"], "auto")? == "true" {
            return Err(ConfigError::at(args.span_of("data_stream"), "data streams are not supported yet; write to indices with `index`"));
        }
        for unsupported in ["ilm_rollover_alias", "ilm_pattern"] {
            if args.string(unsupported)?.is_some() {
                return Err(ConfigError::at(
                    args.span_of(unsupported),
                    format!(
                        "`{unsupported}` is not supported: events go to the index the `index` option names; the ILM policy applies to those indices"
                    ),
                ));
            }
        }

        let manage_template = args.bool("manage_template", true)?;
        let template_file = args.string("template")?;
        let template_name = args.string("template_name")?;
        let overwrite = args.bool("template_overwrite", false)?;
        if args.choice("template_api", &["auto", "composable", "legacy"], "auto")? == "legacy" {
            return Err(ConfigError::at(args.span_of("template_api"), "only composable index templates are installed (Elasticsearch 7.8 and later)"));
        }
        let ilm = match args.choice("ilm_enabled", &["auto", "true", "false"], "auto")? {
            "true" => IlmMode::On,
            "false" => IlmMode::Off,
            _ => IlmMode::Auto,
        };
        let ilm_policy = args.string_or("ilm_policy", template::DEFAULT_ILM_POLICY)?;
        let template = if !manage_template {
            None
        } else {
            let custom = match &template_file {
                None => None,
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| ConfigError::at(args.span_of("template"), format!("cannot read the index template {p}: {e}")))?;
                    Some(
                        serde_json::from_str::<serde_json::Value>(&text)
                            .map_err(|e| ConfigError::at(args.span_of("template"), format!("the index template {p} is not valid JSON: {e}")))?,
                    )
                }
            };
            match template::pattern_for(index.source()) {
                Some(pattern) => Some(TemplatePlan {
                    name: template_name.unwrap_or_else(|| template::default_name(&pattern)),
                    pattern,
                    custom,
                    overwrite,
                    ilm,
                    ilm_policy,
                }),
                None if custom.is_some() => Some(TemplatePlan {
                    name: template_name.unwrap_or_else(|| "sluice".into()),
                    pattern: String::new(),
                    custom,
                    overwrite,
                    ilm,
                    ilm_policy,
                }),
                None => {
                    ctx.warn(
                        ConfigError::at(
                            args.span_of("index"),
                            "no index template installed: the index name starts with a reference, so no pattern can be derived",
                        )
                        .with_help("give a `template` file, or set manage_template => false"),
                    );
                    None
                }
            }
        };

        Ok(ElasticsearchConfig {
            hosts,
            index,
            action,
            document_id,
            routing,
            pipeline,
            doc_as_upsert,
            retry_on_conflict,
            path,
            parameters,
            client: ClientSettings { timeout, ca_files, verify, authorization, custom_headers },
            ssl,
            compression_level,
            bulk_max_bytes,
            bulk_max_events,
            retry_initial_interval: Duration::from_secs(initial as u64),
            retry_max_interval: Duration::from_secs(max as u64),
            dlq_custom_codes,
            resurrect_delay,
            healthcheck_path,
            template,
        })
    }
}

pub struct Elasticsearch {
    spec: ItemSpec,
    pool: Arc<HostPool>,
    /// `?a=b` for the bulk URL, built once.
    bulk_query: String,
    compression_level: u32,
    bulk_max_bytes: usize,
    bulk_max_events: usize,
    backoff: retry::Backoff,
    give_up_without_progress: Duration,
    dlq_custom_codes: Vec<u16>,
    dlq: Option<Arc<DeadLetterQueue>>,
    template: Option<TemplatePlan>,
    template_done: AtomicBool,
    /// One worker installs the template; the others wait for it rather than racing.
    template_lock: Mutex<()>,
    /// The output's counters, handed over by the compiler (`bind`); private ones until then.
    metrics: OnceLock<Arc<PluginMetrics>>,
}

/// Why a request has to be sent again.
#[derive(Debug)]
enum SendError {
    /// Not delivered (connection, timeout, 429/5xx for the whole request...): send again later.
    Retry(String),
    /// 413: the request is larger than the cluster's `http.max_content_length`.
    TooLarge,
}

/// What a round of requests settled, counted once per round.
#[derive(Default)]
struct Tally {
    duplicates: u64,
    /// Items to send again, by the status they were answered.
    retried: Vec<(u16, u64)>,
}

impl Tally {
    fn retry(&mut self, status: u16) {
        match self.retried.iter_mut().find(|(s, _)| *s == status) {
            Some(e) => e.1 += 1,
            None => self.retried.push((status, 1)),
        }
    }
}

impl Elasticsearch {
    pub fn new(config: ElasticsearchConfig, dlq: Option<Arc<DeadLetterQueue>>) -> Result<Elasticsearch, String> {
        let bases =
            config.hosts.iter().map(|h| hosts::parse_host(h, config.ssl, &config.path).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        let client = hosts::build_client(&config.client)?;
        let pool = HostPool::new(bases, client, config.healthcheck_path.clone(), config.resurrect_delay);
        let mut bulk_query = String::new();
        for (i, (k, v)) in config.parameters.iter().enumerate() {
            bulk_query.push(if i == 0 { '?' } else { '&' });
            bulk_query.push_str(&url_encode(k));
            bulk_query.push('=');
            bulk_query.push_str(&url_encode(v));
        }
        Ok(Elasticsearch {
            spec: ItemSpec {
                action: config.action,
                index: config.index,
                document_id: config.document_id,
                routing: config.routing,
                pipeline: config.pipeline,
                doc_as_upsert: config.doc_as_upsert,
                retry_on_conflict: config.retry_on_conflict,
            },
            pool,
            bulk_query,
            compression_level: config.compression_level,
            bulk_max_bytes: config.bulk_max_bytes,
            bulk_max_events: config.bulk_max_events,
            backoff: retry::Backoff::new(config.retry_initial_interval, config.retry_max_interval),
            give_up_without_progress: GIVE_UP_WITHOUT_PROGRESS,
            dlq_custom_codes: config.dlq_custom_codes,
            dlq,
            template: config.template,
            template_done: AtomicBool::new(false),
            template_lock: Mutex::new(()),
            metrics: OnceLock::new(),
        })
    }

    fn metrics(&self) -> &PluginMetrics {
        self.metrics.get_or_init(|| PluginMetrics::new("elasticsearch".into(), "output", "elasticsearch"))
    }

    /// Install the template before anything is indexed: mappings apply when an index is created.
    fn ensure_template(&self) -> Result<(), OutputError> {
        let Some(plan) = &self.template else { return Ok(()) };
        if self.template_done.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = self.template_lock.lock();
        if self.template_done.load(Ordering::Acquire) {
            return Ok(());
        }
        let rt = hosts::runtime()?;
        let mut candidates = self.pool.live();
        if candidates.is_empty() {
            candidates = self.pool.all().to_vec();
        }
        let mut last = String::new();
        for host in candidates {
            match rt.block_on(template::install(&self.pool.client, &host, plan)) {
                Ok(()) => {
                    self.template_done.store(true, Ordering::Release);
                    return Ok(());
                }
                Err(template::InstallError::Unreachable { host: h, source }) => {
                    if source.is_connect() {
                        self.pool.mark_dead(&host, &source.to_string());
                    }
                    last = format!("cannot reach {h}: {source}");
                }
                Err(e @ template::InstallError::Refused { .. }) => {
                    tracing::error!(error = %e, "Index template not installed; indexing goes on without it.");
                    self.template_done.store(true, Ordering::Release);
                    return Ok(());
                }
            }
        }
        Err(format!("cannot install the index template before indexing: {last}").into())
    }

    /// Send one bulk request, failing over to the next live host on a connection error.
    fn send_bulk(&self, f: &Formatted, which: &[usize]) -> Result<Vec<BulkItemOutcome>, SendError> {
        let rt = hosts::runtime().map_err(SendError::Retry)?;
        let raw = bulk::body(f, which);
        let (payload, gzip) = if self.compression_level > 0 {
            match gzip(&raw, self.compression_level) {
                Ok(z) => (z, true),
                Err(_) => (raw, false),
            }
        } else {
            (raw, false)
        };
        let payload = bytes::Bytes::from(payload);
        let kinds: Vec<ActionKind> = which.iter().map(|&i| f.items[i].kind).collect();
        let live = self.pool.live();
        if live.is_empty() {
            return Err(SendError::Retry("every Elasticsearch host is marked dead; waiting for one to answer its health check".into()));
        }
        let mut last = String::new();
        for host in live {
            let url = format!("{}{}", host.url("/_bulk"), self.bulk_query);
            let mut req = self.pool.client.post(&url).header(reqwest::header::CONTENT_TYPE, "application/x-ndjson").body(payload.clone());
            if gzip {
                req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            }
            let answer = rt.block_on(async {
                let r = req.send().await?;
                let status = r.status().as_u16();
                let body = r.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            });
            match answer {
                Err(e) if e.is_connect() => {
                    self.metrics().add_request("connection_error", 1);
                    self.pool.mark_dead(&host, &e.to_string());
                    last = format!("cannot connect to {}: {}", host.base, error_chain(&e));
                }
                Err(e) => {
                    self.metrics().add_request(if e.is_timeout() { "timeout" } else { "connection_error" }, 1);
                    return Err(SendError::Retry(format!("bulk request to {} failed: {}", host.base, error_chain(&e))));
                }
                Ok((200, body)) => {
                    self.metrics().add_request("200", 1);
                    return response::outcomes(&body, &kinds, &self.dlq_custom_codes)
                        .map_err(|e: ResponseError| SendError::Retry(format!("{}: {e}", host.base)));
                }
                Ok((413, _)) => {
                    self.metrics().add_request("413", 1);
                    return Err(SendError::TooLarge);
                }
                Ok((status, body)) => {
                    self.metrics().add_request(response::status_label(status), 1);
                    let text = String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned();
                    return Err(SendError::Retry(format!("{} answered the bulk request with status {status}: {text}", host.base)));
                }
            }
        }
        Err(SendError::Retry(last))
    }

    /// Put rejected events in the dead letter queue; Ok once they are on disk (or counted as
    /// dropped when the queue is disabled or full).
    fn dead_letter(&self, events: &[&Event], dead: &[(usize, String)]) -> Result<(), OutputError> {
        let by = dead_letter::Rejecter { plugin: self.metrics(), plugin_type: "elasticsearch", server: "Elasticsearch" };
        Ok(dead_letter::write(self.dlq.as_deref(), by, events, dead)?)
    }

    fn dead_letter_reason(&self, event: &Event, kind: ActionKind, status: u16, error: &str) -> String {
        format!(
            "Could not index event to Elasticsearch. status: {status}, action: {}, index: {}, error: {error}",
            kind.name(),
            self.spec.index_of(event)
        )
    }
}

impl Output for Elasticsearch {
    fn bind(&self, metrics: &Arc<PluginMetrics>) {
        let _ = self.metrics.set(metrics.clone());
    }

    fn receive(&self, events: &[&Event]) -> Result<(), OutputError> {
        if events.is_empty() {
            return Ok(());
        }
        self.ensure_template()?;
        let f = self.spec.format(events);
        let mut dead: Vec<(usize, String)> = f.invalid.iter().map(|(i, r)| (*i, format!("Could not index event to Elasticsearch: {r}"))).collect();
        let mut progressed = !dead.is_empty();
        let mut pending: Vec<usize> = (0..f.items.len()).collect();
        let mut max_bytes = self.bulk_max_bytes;
        let started = Instant::now();
        let mut tally = Tally::default();
        loop {
            let mut retry: Vec<usize> = Vec::new();
            let mut failure: Option<String> = None;
            for request in bulk::split(&f.items, &pending, max_bytes, self.bulk_max_events) {
                match self.send_bulk(&f, &request) {
                    Ok(outcomes) => {
                        for (&i, outcome) in request.iter().zip(outcomes) {
                            match outcome {
                                BulkItemOutcome::Accepted => {}
                                BulkItemOutcome::Duplicate => tally.duplicates += 1,
                                BulkItemOutcome::RetryLater { status } => {
                                    tally.retry(status);
                                    retry.push(i);
                                }
                                BulkItemOutcome::DeadLetter { status, error } => {
                                    let item = &f.items[i];
                                    dead.push((item.event, self.dead_letter_reason(events[item.event], item.kind, status, &error)));
                                }
                            }
                        }
                    }
                    Err(SendError::TooLarge) if request.len() > 1 => {
                        // Smaller requests next round; the cluster said how big is too big.
                        let size: usize = request.iter().map(|&i| f.items[i].bytes.len()).sum();
                        max_bytes = max_bytes.min(size / 2).max(1);
                        failure = Some(format!("bulk request of {size} bytes too large for the cluster; splitting it"));
                        retry.extend(request);
                    }
                    Err(SendError::TooLarge) => {
                        let item = &f.items[request[0]];
                        let reason = self.dead_letter_reason(
                            events[item.event],
                            item.kind,
                            413,
                            "document larger than the cluster accepts (http.max_content_length)",
                        );
                        dead.push((item.event, reason));
                    }
                    Err(SendError::Retry(msg)) => {
                        failure = Some(msg);
                        retry.extend(request);
                    }
                }
            }
            let settled = pending.len() - retry.len();
            progressed |= settled > 0;
            self.dead_letter(events, &dead)?;
            dead.clear();
            events::DuplicatesSkipped { plugin: self.metrics(), count: std::mem::take(&mut tally.duplicates) }.emit();
            if retry.is_empty() {
                self.backoff.succeeded();
                return Ok(());
            }
            let reason = failure.unwrap_or_else(|| format!("{} items answered 429 or 5xx", retry.len()));
            let hand_over = !progressed && started.elapsed() >= self.give_up_without_progress;
            let wait = (!hand_over).then(|| self.backoff.failed());
            events::BulkItemsRetried { plugin: self.metrics(), count: retry.len() as u64, by_status: &tally.retried, error: &reason, wait }.emit();
            tally.retried.clear();
            match wait {
                // Nothing settled yet: the worker retries the whole call (see the module comment).
                None => return Err(reason.into()),
                Some(wait) => std::thread::sleep(wait),
            }
            pending = retry;
        }
    }
}

fn gzip(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), flate2::Compression::new(level));
    enc.write_all(data)?;
    enc.finish()
}

/// Percent-encodes everything but unreserved characters (query values, index names in paths).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
impl Elasticsearch {
    /// Tests shorten the time a call retries on its own before handing over to the worker.
    pub fn set_give_up_without_progress(&mut self, d: Duration) {
        self.give_up_without_progress = d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_decompress_to_the_original() {
        use std::io::Read;
        let body = b"{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n".repeat(100);
        let z = gzip(&body, 1).unwrap();
        assert!(z.len() < body.len() / 5);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn query_parameters_are_escaped() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}

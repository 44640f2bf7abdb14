//! The `kubernetes` input: a node's container log files, tailed, decoded and labelled with
//! their pod, for the DaemonSet that runs one sluice per node.
//!
//! # Layout
//! - `mod.rs` (here): the options, and the loop that discovers files, reads them, sends events
//!   and keeps the checkpoints.
//! - `path.rs`: the `path`/`exclude` globs, file identity, and the metadata a path carries.
//! - `tailer.rs`: one open file — reading by handle, truncation, what is held back.
//! - `format.rs`: the CRI and docker json-file line formats and joining split lines.
//! - `multiline.rs`: the `multiline` rule (stack traces).
//! - `checkpoint.rs`: read offsets advanced on acknowledgement, saved under `path.data`.
//! - `api.rs`: labels, annotations, node and owner from the API server (list + watch cache).
//!
//! One task does the reading: it rescans the globs every `discover_interval`, reads every
//! open file until it has nothing new, then waits `stat_interval`. Reads are plain blocking
//! reads of local files a bounded amount at a time (they come from the page cache; a slow disk
//! would hold up only this input's task). While the queue is full, sending waits and reading
//! stops: backpressure reaches the files, which simply wait on disk.
//!
//! Rotation: the kubelet renames `0.log` to `0.log.<time>`, the runtime opens a new `0.log`,
//! and the old one is later gzipped. A file is followed by its handle, so the renamed one is
//! read to its end and then closed; the new `0.log` has another inode and is read from its start.
//! A file deleted while open is also read to its end. Compressed files are never read.
//!
//! Shutdown: reading stops, lines still held (an unfinished split line, a multiline group) are
//! not sent — the checkpoint stops before them, so the next run reads them again — and the
//! input waits for what it sent to be acknowledged before writing the checkpoints a last time.

mod api;
mod checkpoint;
mod format;
mod multiline;
mod path;
mod tailer;

use super::{BoxFuture, EventSink, Input, InputContext, InputError};
use crate::config::args::{Args, HashValue};
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, Map, Value};
use crate::metrics::events::EventsFailed;
use crate::metrics::PluginMetrics;
use checkpoint::Progress;
use format::Line;
use multiline::{Rule, What};
use path::{FileId, Found, Selection};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tailer::Tailer;
use tokio::task::JoinSet;

/// How long a closed file is remembered (see `Run::finished`).
const FORGET_FINISHED: Duration = Duration::from_secs(3600);
/// The most events handed over under one acknowledgement.
const MAX_CHUNK: usize = 1024;
/// The most read from one file before the others get their turn.
const READ_CHUNK: usize = 256 * 1024;
/// Tag of an event that is a piece of a line longer than `max_bytes`.
pub const LINE_SPLIT_TAG: &str = "_line_split";
/// Tag of a line that is in neither runtime format (kept whole in `message`).
pub const PARSE_FAILURE_TAG: &str = "_container_log_parse_failure";

pub struct Kubernetes {
    selection: Selection,
    /// `start_position => end`: files found at the first start, without a checkpoint, are read
    /// from their end. Files that appear later are always read from their start.
    start_at_end: bool,
    discover_interval: Duration,
    stat_interval: Duration,
    checkpoint_interval: Duration,
    max_bytes: usize,
    multiline: Option<Rule>,
    api: Option<ApiOptions>,
    store: PathBuf,
}

struct ApiOptions {
    kubeconfig: Option<PathBuf>,
    node: String,
    dedot: bool,
    annotations: bool,
}

fn seconds(args: &mut Args, name: &'static str, default: f64) -> Result<Duration, ConfigError> {
    let v = args.number(name)?.unwrap_or(default);
    if !(0.01..=86_400.0).contains(&v) {
        return Err(ConfigError::at(args.span_of(name), format!("option `{name}` must be between 0.01 and 86400 seconds, not {v}")));
    }
    Ok(Duration::from_secs_f64(v))
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let mut include = args.string_list("path")?;
    if include.is_empty() {
        include.push("/var/log/containers/*.log".to_string());
    }
    let mut exclude = Vec::new();
    let exclude_span = args.span_of("exclude");
    for e in args.string_list("exclude")? {
        exclude.push(glob::Pattern::new(&e).map_err(|err| ConfigError::at(exclude_span, format!("`{e}` is not a valid glob: {err}")))?);
    }
    let start_at_end = args.choice("start_position", &["beginning", "end"], "beginning")? == "end";
    let discover_interval = seconds(args, "discover_interval", 10.0)?;
    let stat_interval = seconds(args, "stat_interval", 0.25)?;
    let checkpoint_interval = seconds(args, "checkpoint_interval", 1.0)?;
    let max_bytes = args.integer("max_bytes", 10 << 20, 1, 1 << 30)? as usize;
    let multiline = multiline_rule(args)?;

    let use_api = args.bool("kubernetes_api", false)?;
    let kubeconfig = args.string("kubeconfig")?.map(PathBuf::from);
    let node_span = args.span_of("node_name");
    let node = args.string("node_name")?;
    let dedot = args.bool("labels_dedot", true)?;
    let annotations = args.bool("include_annotations", true)?;
    let api = if use_api {
        let node = match node.filter(|n| !n.is_empty()) {
            Some(n) => n,
            None => match std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()) {
                Some(n) => n,
                None => {
                    let host = crate::util::hostname().to_string();
                    ctx.warn(ConfigError::at(node_span, format!("neither `node_name` nor NODE_NAME is set; asking the API server for the pods of node `{host}` (this host's name)")));
                    host
                }
            },
        };
        Some(ApiOptions { kubeconfig, node, dedot, annotations })
    } else {
        if kubeconfig.is_some() || node.is_some() {
            ctx.warn(ConfigError::at(args.span_of(if kubeconfig.is_some() { "kubeconfig" } else { "node_name" }), "`kubeconfig` and `node_name` are used only with `kubernetes_api => true`"));
        }
        None
    };
    let store = ctx.path_data.join("kubernetes").join(&ctx.pipeline_id).join("checkpoints.json");
    Ok(Box::new(Kubernetes {
        selection: Selection { include, exclude },
        start_at_end,
        discover_interval,
        stat_interval,
        checkpoint_interval,
        max_bytes,
        multiline,
        api,
        store,
    }))
}

/// `multiline => { "pattern" => "^\s" "negate" => false "what" => "previous" "max_lines" => 500 "timeout" => 5 }`
/// (the multiline codec's names; Filebeat's `match => after|before` is taken for `what`).
fn multiline_rule(args: &mut Args) -> Result<Option<Rule>, ConfigError> {
    if !args.has("multiline") {
        return Ok(None);
    }
    let span = args.span_of("multiline");
    let mut pattern = None;
    let mut negate = false;
    let mut what = None;
    let mut max_lines = 500usize;
    let mut timeout = Duration::from_secs(5);
    const KEYS: &[&str] = &["pattern", "negate", "what", "match", "max_lines", "timeout"];
    for (key, value) in args.hash("multiline")? {
        let HashValue::One(v) = value else {
            return Err(ConfigError::at(span, format!("`multiline` `{key}` takes one value")));
        };
        match key.as_str() {
            "pattern" => pattern = Some(regex::Regex::new(&v).map_err(|e| ConfigError::at(span, format!("`multiline` pattern `{v}`: {e}")))?),
            "negate" => {
                negate = match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ConfigError::at(span, format!("`multiline` negate must be true or false, not `{v}`"))),
                }
            }
            "what" | "match" => {
                what = Some(match v.as_str() {
                    "previous" | "after" => What::Previous,
                    "next" | "before" => What::Next,
                    _ => return Err(ConfigError::at(span, format!("`multiline` {key} must be previous or next (after or before), not `{v}`"))),
                })
            }
            "max_lines" => max_lines = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::at(span, format!("`multiline` max_lines must be a positive whole number, not `{v}`")))?,
            "timeout" => {
                let s: f64 = v.parse().ok().filter(|s: &f64| *s > 0.0 && *s <= 86_400.0).ok_or_else(|| ConfigError::at(span, format!("`multiline` timeout must be a number of seconds, not `{v}`")))?;
                timeout = Duration::from_secs_f64(s);
            }
            other => {
                let err = ConfigError::at(span, format!("unknown `multiline` setting `{other}`"));
                return Err(match crate::config::error::did_you_mean(other, KEYS.iter().copied()) {
                    Some(m) => err.with_help(format!("did you mean `{m}`?")),
                    None => err,
                });
            }
        }
    }
    let pattern = pattern.ok_or_else(|| ConfigError::at(span, "`multiline` needs a `pattern`"))?;
    let what = what.ok_or_else(|| ConfigError::at(span, "`multiline` needs `what => previous` or `what => next`"))?;
    Ok(Some(Rule { pattern, negate, what, max_lines, timeout }))
}

impl Input for Kubernetes {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let InputContext { sink, shutdown, metrics } = ctx;
            let cache = match &self.api {
                None => None,
                Some(opts) => {
                    let endpoint = match &opts.kubeconfig {
                        Some(p) => api::Endpoint::kubeconfig(p),
                        None => api::Endpoint::in_cluster(),
                    };
                    match endpoint {
                        Ok(endpoint) => {
                            tracing::info!(server = endpoint.server(), node = %opts.node, "kubernetes input: watching this node's pods.");
                            let cache = Arc::new(api::PodCache::default());
                            tokio::spawn(api::maintain(endpoint, opts.node.clone(), cache.clone(), opts.dedot, opts.annotations, shutdown.clone()));
                            Some(cache)
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "kubernetes input: no API server; events carry the metadata of their file paths only.");
                            None
                        }
                    }
                }
            };
            let mut run = Run {
                cfg: &self,
                sink: Some(sink),
                metrics,
                progress: Arc::new(Progress::default()),
                files: BTreeMap::new(),
                acks: JoinSet::new(),
                cache,
                finished: HashMap::new(),
            };
            run.start();
            tracing::info!(paths = ?self.selection.include, files = run.files.len(), plugin_id = %run.metrics.id, "kubernetes input started.");
            let mut next_discover = Instant::now() + self.discover_interval;
            let mut next_checkpoint = Instant::now() + self.checkpoint_interval;
            loop {
                let now = Instant::now();
                if now >= next_discover {
                    run.discover();
                    next_discover = now + self.discover_interval;
                }
                let busy = match run.read_all().await {
                    Ok(b) => b,
                    Err(_) => break, // the pipeline is gone
                };
                while run.acks.try_join_next().is_some() {}
                if Instant::now() >= next_checkpoint {
                    run.save();
                    next_checkpoint = Instant::now() + self.checkpoint_interval;
                }
                if shutdown.is_cancelled() {
                    break;
                }
                if !busy {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.stat_interval) => {}
                    }
                } else {
                    // Let the ack tasks and the rest of the runtime in between reads.
                    tokio::task::yield_now().await;
                }
            }
            // Nothing more will be sent: what was is still acknowledged as the pipeline drains.
            run.sink = None;
            while run.acks.join_next().await.is_some() {}
            run.progress.mark_dirty();
            run.save();
            tracing::info!(plugin_id = %run.metrics.id, "kubernetes input stopped; checkpoints saved.");
            Ok(())
        })
    }
}

/// The state of one run of the input.
struct Run<'a> {
    cfg: &'a Kubernetes,
    sink: Option<EventSink>,
    metrics: Arc<PluginMetrics>,
    progress: Arc<Progress>,
    files: BTreeMap<FileId, Tailer>,
    /// One task per chunk sent, waiting for its acknowledgement.
    acks: JoinSet<()>,
    cache: Option<Arc<api::PodCache>>,
    /// Files read to their end and closed, with where they ended: should a glob find one
    /// again, it is not read twice.
    finished: HashMap<FileId, (u64, Vec<u8>, Instant)>,
}

impl Run<'_> {
    /// The first scan: resume from the checkpoints, and finish rotated files they still name.
    fn start(&mut self) {
        let saved = checkpoint::load(&self.cfg.store);
        let found = self.cfg.selection.scan();
        for f in found {
            match saved.get(&f.id) {
                Some(entry) => self.open(f, entry.offset, &checkpoint::head_of(entry), false),
                None => self.open(f, 0, &[], self.cfg.start_at_end),
            }
        }
        // A file the checkpoints name that the globs no longer find was rotated (renamed) while
        // sluice was away, before it was read to its end: look for it next to where it was.
        for (id, entry) in &saved {
            if self.files.contains_key(id) {
                continue;
            }
            for candidate in path::rotated_siblings(&entry.resolved) {
                let Ok(meta) = std::fs::metadata(&candidate) else { continue };
                if FileId::of(&meta) != *id {
                    continue;
                }
                let found = Found { id: *id, path: entry.path.clone(), resolved: candidate.clone() };
                self.open(found, entry.offset, &checkpoint::head_of(entry), false);
                if let Some(t) = self.files.get_mut(id) {
                    t.detached = true;
                    tracing::info!(path = %candidate.display(), offset = entry.offset, "kubernetes input: finishing a rotated file.");
                }
            }
        }
        // The entries for files that are gone are dropped with this save.
        self.progress.mark_dirty();
        self.save();
    }

    fn open(&mut self, f: Found, offset: u64, head: &[u8], at_end: bool) {
        match Tailer::open(f.id, f.path.clone(), f.resolved.clone(), offset, head, self.cfg.max_bytes) {
            Ok(mut t) => {
                let offset = if at_end { t.end_of_last_line().unwrap_or(offset) } else { t.reported };
                tracing::debug!(path = %f.path.display(), resolved = %f.resolved.display(), offset, "kubernetes input: following a file.");
                self.progress.track(f.id, &f.path, &f.resolved, offset);
                if !t.head.is_empty() {
                    t.head_saved = t.head.len();
                    self.progress.set_head(f.id, &t.head);
                }
                self.metrics.gauge_add("files", 1);
                self.files.insert(f.id, t);
            }
            Err(e) => tracing::debug!(path = %f.path.display(), error = %e, "kubernetes input: cannot open a log file; trying again at the next scan."),
        }
    }

    /// Rescan: new files are read from their start; files whose path now leads elsewhere (or
    /// nowhere) are detached, to be read to their end and closed.
    fn discover(&mut self) {
        let found = self.cfg.selection.scan();
        let by_path: HashMap<&PathBuf, FileId> = found.iter().map(|f| (&f.path, f.id)).collect();
        let ids: HashSet<FileId> = found.iter().map(|f| f.id).collect();
        for t in self.files.values_mut() {
            // Still matched under another name (a glob that also takes rotated files): it may
            // still grow, so it stays open as it is.
            if !t.detached && by_path.get(&t.path) != Some(&t.id) && !ids.contains(&t.id) {
                tracing::debug!(path = %t.path.display(), file = %t.resolved.display(), "kubernetes input: file rotated or removed; reading it to its end.");
                t.detached = true;
            }
        }
        let now = Instant::now();
        self.finished.retain(|_, (_, _, at)| now.duration_since(*at) < FORGET_FINISHED);
        for f in found {
            if !self.files.contains_key(&f.id) {
                // A file read to its end and closed, matched again: only what was added since.
                let (offset, head) = self.finished.remove(&f.id).map_or((0, Vec::new()), |(o, h, _)| (o, h));
                self.open(f, offset, &head, false);
            }
        }
    }

    /// One round over every file: read what is new, send it. Rotated files first, so that a
    /// container's old lines go out before its new ones. True when anything was read.
    async fn read_all(&mut self) -> Result<bool, ()> {
        let mut ids: Vec<(bool, FileId)> = self.files.iter().map(|(id, t)| (!t.detached, *id)).collect();
        ids.sort();
        let mut busy = false;
        let now = Instant::now();
        for (_, id) in ids {
            let mut lines = Vec::new();
            let Some(t) = self.files.get_mut(&id) else { continue };
            let rule = self.cfg.multiline.as_ref();
            let mut done = false;
            match t.read(READ_CHUNK, rule, now, &mut lines) {
                Ok(0) => {
                    if t.detached {
                        t.flush_all(rule, now, &mut lines);
                        done = true;
                    } else {
                        match t.check_truncated() {
                            Ok(true) => {
                                tracing::info!(path = %t.path.display(), "kubernetes input: file truncated; reading it again from the start.");
                                self.progress.truncated(id);
                            }
                            Ok(false) => {}
                            Err(e) => tracing::debug!(path = %t.path.display(), error = %e, "kubernetes input: cannot stat an open file."),
                        }
                        if let Some(rule) = rule {
                            t.flush_due(rule, now, &mut lines);
                        }
                    }
                }
                Ok(_) => {
                    busy = true;
                    if t.head.len() != t.head_saved {
                        t.head_saved = t.head.len();
                        self.progress.set_head(id, &t.head);
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %t.path.display(), error = %e, "kubernetes input: reading a log file failed; closing it.");
                    done = true;
                }
            }
            self.send(id, lines).await?;
            if done {
                if let Some(t) = self.files.get(&id) {
                    self.finished.insert(id, (t.safe_offset(), t.head.clone(), Instant::now()));
                }
                self.files.remove(&id);
                self.progress.finish(id);
                self.metrics.gauge_add("files", -1);
            }
        }
        Ok(busy)
    }

    /// Turn a file's lines into events and hand them over, with the offset the file's
    /// checkpoint may take once they are acknowledged.
    async fn send(&mut self, id: FileId, lines: Vec<Line>) -> Result<(), ()> {
        let Some(t) = self.files.get_mut(&id) else { return Ok(()) };
        let safe = t.safe_offset();
        if lines.is_empty() {
            if safe != t.reported {
                t.reported = safe;
                self.progress.skipped(id, safe);
            }
            return Ok(());
        }
        let fields = file_fields(t, self.cache.as_deref());
        let now = chrono::Utc::now();
        let path = Value::from(t.path.to_string_lossy().into_owned());
        // Where the checkpoint may go once the chunk ending before event `i` is acknowledged:
        // before the earliest line of the events after it (lines are not quite in file order —
        // a multiline group goes out after lines of the other stream that followed its start).
        let mut resume_at = vec![safe; lines.len() + 1];
        for i in (0..lines.len()).rev() {
            resume_at[i] = resume_at[i + 1].min(lines[i].offset);
        }
        let mut split = 0;
        let mut malformed = 0;
        let mut events: Vec<Event> = lines
            .into_iter()
            .map(|l| {
                split += u64::from(l.split);
                malformed += u64::from(l.malformed);
                event(l, &fields, &path, now)
            })
            .collect();
        if split > 0 {
            EventsFailed { plugin: &self.metrics, reason: LINE_SPLIT_TAG, count: split }.emit();
        }
        if malformed > 0 {
            EventsFailed { plugin: &self.metrics, reason: PARSE_FAILURE_TAG, count: malformed }.emit();
        }
        t.reported = safe;
        let Some(sink) = &self.sink else { return Err(()) };
        // Chunks of a quarter of the queue at most, so that the workers share them and the
        // next chunk finds room while one is being delivered.
        let chunk = (sink.capacity() / 4).clamp(1, MAX_CHUNK);
        let mut start = 0;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(chunk));
            let taken = std::mem::replace(&mut events, rest);
            start += taken.len();
            let wait = sink.send_acked(taken).await.map_err(|_| ())?;
            let seq = self.progress.sent(id, resume_at[start]);
            let progress = self.progress.clone();
            self.acks.spawn(async move {
                let ok = wait.await.is_ok();
                progress.acked(id, seq, ok);
            });
        }
        Ok(())
    }

    fn save(&self) {
        if let Some(entries) = self.progress.take_dirty() {
            if let Err(e) = checkpoint::save(&self.cfg.store, entries) {
                // Not fatal: the previous checkpoints stay, and the next save tries again.
                self.progress.mark_dirty();
                tracing::warn!(path = %self.cfg.store.display(), error = %e, "kubernetes input: cannot save checkpoints.");
            }
        }
    }
}

/// The fields every event of a file shares (`[kubernetes]`, `[container]`), rebuilt when the
/// pod cache changes.
fn file_fields(t: &mut Tailer, cache: Option<&api::PodCache>) -> Map {
    let version = cache.map_or(0, |c| c.version());
    if let Some((v, f)) = &t.fields {
        if *v == version {
            return f.clone();
        }
    }
    let m = &t.meta;
    let mut k = Map::new();
    let mut container = Map::new();
    if let Some(ns) = &m.namespace {
        k.insert("namespace".into(), Value::from(ns.as_str()));
    }
    let mut pod = Map::new();
    if let Some(n) = &m.pod_name {
        pod.insert("name".into(), Value::from(n.as_str()));
    }
    if let Some(u) = &m.pod_uid {
        pod.insert("uid".into(), Value::from(u.as_str()));
    }
    if let Some(c) = &m.container_id {
        container.insert("id".into(), Value::from(c.as_str()));
    }
    let info = cache.and_then(|c| c.get(m.pod_uid.as_deref(), m.namespace.as_deref(), m.pod_name.as_deref()));
    if let Some(info) = &info {
        pod.entry("uid").or_insert_with(|| Value::from(info.uid.as_str()));
        if let Some(Value::Object(p)) = info.kubernetes.get("pod") {
            for (key, v) in p {
                pod.insert(key.clone(), v.clone());
            }
        }
    }
    if !pod.is_empty() {
        k.insert("pod".into(), Value::Object(pod));
    }
    if let Some(c) = &m.container_name {
        k.insert("container".into(), serde_json::json!({ "name": c }));
    }
    if let Some(info) = &info {
        for (key, v) in &info.kubernetes {
            if key != "pod" {
                k.insert(key.clone(), v.clone());
            }
        }
        if let Some(c) = m.container_name.as_ref().and_then(|c| info.containers.get(c)) {
            for (key, v) in c {
                // The file name's id is the one this file belongs to (a restarted container
                // has a new id in the API while its old file is still being read).
                if key == "id" && container.contains_key("id") {
                    continue;
                }
                container.insert(key.clone(), v.clone());
            }
        }
    }
    let mut fields = Map::new();
    if !k.is_empty() {
        fields.insert("kubernetes".into(), Value::Object(k));
    }
    if !container.is_empty() {
        fields.insert("container".into(), Value::Object(container));
    }
    t.fields = Some((version, fields.clone()));
    fields
}

fn event(l: Line, fields: &Map, path: &Value, now: chrono::DateTime<chrono::Utc>) -> Event {
    let mut e = Event::with_message(l.text, l.time.unwrap_or(now));
    let f = e.fields_mut();
    if !l.malformed {
        f.insert("stream".into(), Value::from(l.stream.as_str()));
    }
    let mut log = Map::new();
    log.insert("file".into(), serde_json::json!({ "path": path }));
    log.insert("offset".into(), Value::from(l.offset));
    f.insert("log".into(), Value::Object(log));
    for (k, v) in fields {
        f.insert(k.clone(), v.clone());
    }
    if l.malformed {
        e.add_tag(PARSE_FAILURE_TAG);
    }
    if l.split {
        e.add_tag(LINE_SPLIT_TAG);
    }
    if l.lines > 1 {
        e.add_tag("multiline");
    }
    if l.max_lines_reached {
        e.add_tag("multiline_codec_max_lines_reached");
    }
    e
}

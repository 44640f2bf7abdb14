//! The `dead_letter_queue` input: replays what an output put in a pipeline's dead letter queue.
//!
//! It reads `<path>/<pipeline_id>/` from its last committed position, follows new entries as they
//! are written, and hands each event on as it was rejected, with
//! `[@metadata][dead_letter_queue]` holding `reason`, `plugin_id`, `plugin_type` and
//! `entry_time`, as Logstash's input does. With `commit_offsets` the position is saved under
//! `path.data` only once the events before it are acknowledged (every output has them), so a
//! restart neither loses nor, beyond what was in flight, repeats entries. `start_timestamp` skips
//! entries written before it.

use super::{BoxFuture, Input, InputContext, InputError};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::timestamp;
use crate::pipeline::ack::AckWait;
use crate::queue::dlq::{Position, Reader};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait before looking for new entries when the queue had none.
const POLL: Duration = Duration::from_millis(250);
const BATCH: usize = 512;

pub struct DeadLetterQueueInput {
    /// The queue's directory: `<path>/<pipeline_id>`.
    dir: PathBuf,
    commit_offsets: bool,
    /// Where the read position is kept.
    offset_file: PathBuf,
    start_timestamp: Option<DateTime<Utc>>,
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let path = args.required_string("path")?;
    let pipeline_id = args.string_or("pipeline_id", "main")?;
    let commit_offsets = args.bool("commit_offsets", true)?;
    let start_timestamp = match args.string("start_timestamp")? {
        None => None,
        Some(s) => Some(timestamp::parse_iso8601(&s).ok_or_else(|| {
            ConfigError::at(args.span_of("start_timestamp"), format!("start_timestamp `{s}` is not an ISO8601 time like 2024-05-01T00:00:00Z"))
        })?),
    };
    let offset_file = match args.string("sincedb_path")? {
        Some(p) => PathBuf::from(p),
        None => ctx.path_data.join("plugins").join("inputs").join("dead_letter_queue").join(&pipeline_id).join("offset.json"),
    };
    if args.bool("clean_consumed", false)? {
        return Err(ConfigError::at(
            args.span_of("clean_consumed"),
            "clean_consumed is not supported yet; the queue is bounded by dead_letter_queue.max_bytes",
        ));
    }
    codec_ignored(args)?;
    Ok(Box::new(DeadLetterQueueInput { dir: Path::new(&path).join(&pipeline_id), commit_offsets, offset_file, start_timestamp }))
}

/// Logstash's input takes a `codec` it never uses (entries are events already).
fn codec_ignored(args: &mut Args) -> Result<(), ConfigError> {
    args.raw("codec").map(|_| ())
}

fn load_offset(path: &Path) -> Position {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "Unreadable dead letter queue offset; reading from the start.");
            Position::default()
        }),
        Err(_) => Position::default(),
    }
}

/// Replace the offset file atomically: a crash leaves the old position or the new, never half.
fn save_offset(path: &Path, pos: Position) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&pos).unwrap_or_default())?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Input for DeadLetterQueueInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let start = if self.commit_offsets { load_offset(&self.offset_file) } else { Position::default() };
            tracing::info!(dir = %self.dir.display(), segment = start.segment, offset = start.offset, plugin_id = %ctx.metrics.id, "Reading the dead letter queue.");
            let mut reader = Some(Reader::new(self.dir.clone(), start));

            // Positions are committed in order, each once its events are acknowledged.
            let (commits, mut pending) = mpsc::unbounded_channel::<(AckWait, Position)>();
            let offset_file = self.offset_file.clone();
            let committer = self.commit_offsets.then(|| {
                tokio::spawn(async move {
                    while let Some((wait, pos)) = pending.recv().await {
                        if wait.await.is_err() {
                            // Not delivered: stop here, the next run reads these entries again.
                            break;
                        }
                        // Commit after a run of acknowledgements, not after every batch.
                        if pending.is_empty() {
                            let file = offset_file.clone();
                            let saved = tokio::task::spawn_blocking(move || save_offset(&file, pos)).await;
                            if let Ok(Err(e)) = saved {
                                tracing::warn!(path = %offset_file.display(), error = %e, "Cannot save the dead letter queue position.");
                            }
                        }
                    }
                })
            });

            loop {
                if ctx.shutdown.is_cancelled() {
                    break;
                }
                let Some(mut r) = reader.take() else { break };
                let (r, read) = tokio::task::spawn_blocking(move || {
                    let got = r.read(BATCH);
                    (r, got)
                })
                .await?;
                reader = Some(r);
                let entries = match read {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "Cannot read the dead letter queue; trying again.");
                        Vec::new()
                    }
                };
                let Some(last) = entries.last().map(|(_, p)| *p) else {
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => break,
                        _ = tokio::time::sleep(POLL) => continue,
                    }
                };
                let events: Vec<_> = entries
                    .into_iter()
                    .filter(|(entry, _)| match self.start_timestamp {
                        Some(from) => entry.entry_time().map_or(true, |t| t >= from),
                        None => true,
                    })
                    .map(|(entry, _)| entry.into_event())
                    .collect();
                if self.commit_offsets {
                    match ctx.sink.send_acked(events).await {
                        Ok(wait) => {
                            let _ = commits.send((wait, last));
                        }
                        Err(_) => break,
                    }
                } else if ctx.sink.send(events).await.is_err() {
                    break;
                }
            }
            drop(commits);
            if let Some(c) = committer {
                let _ = c.await;
            }
            Ok(())
        })
    }
}

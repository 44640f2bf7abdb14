//! The `file` output: events appended to files named by a sprintf path (`json_lines` by default).
//!
//! A batch is grouped by rendered path, encoded, written and flushed before `receive` returns, so
//! an acknowledgement means the bytes are in the OS. Open files are kept and closed after
//! `stale_cleanup_interval` without writes. A rendered path that would climb out of the path's
//! fixed directory (a field holding `../`) goes to `filename_failure` in that directory instead,
//! so event data cannot choose where on disk sluice writes.

use super::{Output, OutputError};
use crate::codec::Codec;
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, Template};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

pub struct FileOutput {
    path: Template,
    /// The directory part of `path` before its first `%{`: rendered paths must stay below it.
    fixed_dir: PathBuf,
    failure_path: PathBuf,
    codec: Codec,
    overwrite: bool,
    create_if_deleted: bool,
    stale_after: Duration,
    open: Mutex<OpenFiles>,
}

#[derive(Default)]
struct OpenFiles {
    files: HashMap<PathBuf, (File, Instant)>,
    last_sweep: Option<Instant>,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigError> {
    let Some(path) = args.template("path")? else {
        return Err(args.error("output `file` requires the option `path`"));
    };
    let source = path.source().to_string();
    if !Path::new(&source).is_absolute() && !source.starts_with("%{") {
        // Logstash accepts relative paths; they resolve against the working directory.
        tracing::debug!(path = %source, "file output path is relative to the working directory.");
    }
    let fixed = &source[..source.find("%{").unwrap_or(source.len())];
    let fixed_dir = match fixed.rfind('/') {
        Some(i) => PathBuf::from(&fixed[..=i]),
        None => PathBuf::from("."),
    };
    let failure_name = args.string_or("filename_failure", "_filepath_failures")?;
    let overwrite = args.choice("write_behavior", &["append", "overwrite"], "append")? == "overwrite";
    let create_if_deleted = args.bool("create_if_deleted", true)?;
    let stale = args.integer("stale_cleanup_interval", 10, 1, 86_400)?;
    let _ = args.integer("flush_interval", 2, 0, 86_400)?;
    if args.bool("gzip", false)? {
        return Err(ConfigError::at(args.span_of("gzip"), "gzip is not supported by the file output yet"));
    }
    let _ = args.string("file_mode")?;
    let _ = args.string("dir_mode")?;
    let codec = Codec::from_args(args, "json_lines")?;
    Ok(Box::new(FileOutput {
        path,
        failure_path: fixed_dir.join(failure_name),
        fixed_dir,
        codec,
        overwrite,
        create_if_deleted,
        stale_after: Duration::from_secs(stale as u64),
        open: Mutex::new(OpenFiles::default()),
    }))
}

impl FileOutput {
    fn target(&self, event: &Event) -> PathBuf {
        let rendered = PathBuf::from(self.path.render(event).as_ref());
        if self.path.as_static().is_some() {
            return rendered;
        }
        let climbs = rendered.components().any(|c| matches!(c, Component::ParentDir));
        if climbs || !rendered.starts_with(&self.fixed_dir) && self.fixed_dir != Path::new(".") {
            tracing::warn!(path = %rendered.display(), "file output path leaves its directory; writing to the failure file.");
            return self.failure_path.clone();
        }
        rendered
    }

    fn open(&self, path: &Path) -> std::io::Result<File> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut opts = OpenOptions::new();
        if self.overwrite {
            opts.write(true).create(true).truncate(true);
        } else {
            opts.append(true).create(true);
        }
        opts.open(path)
    }
}

impl Output for FileOutput {
    fn receive(&self, events: &[&Event]) -> Result<(), OutputError> {
        // Group by path, keeping each file's events in order.
        let mut groups: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        for e in events {
            let path = match (self.path.as_static(), groups.first()) {
                (Some(_), Some((p, _))) => p.clone(),
                _ => self.target(e),
            };
            let i = match groups.iter().position(|(p, _)| *p == path) {
                Some(i) => i,
                None => {
                    groups.push((path, Vec::with_capacity(events.len() * 256)));
                    groups.len() - 1
                }
            };
            self.codec.encode(e, &mut groups[i].1);
        }
        let mut open = self.open.lock();
        let now = Instant::now();
        for (path, bytes) in groups {
            if self.create_if_deleted && open.files.contains_key(&path) && !path.exists() {
                open.files.remove(&path);
            }
            if !open.files.contains_key(&path) {
                let f = self.open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                open.files.insert(path.clone(), (f, now));
            }
            let entry = open.files.get_mut(&path).expect("inserted above");
            if let Err(e) = entry.0.write_all(&bytes) {
                // Drop the handle so the retry reopens the file.
                open.files.remove(&path);
                return Err(format!("cannot write {}: {e}", path.display()).into());
            }
            entry.1 = now;
        }
        let sweep_due = open.last_sweep.is_none_or(|t| now.duration_since(t) >= self.stale_after);
        if sweep_due {
            let stale_after = self.stale_after;
            open.files.retain(|_, (_, used)| now.duration_since(*used) < stale_after);
            open.last_sweep = Some(now);
        }
        Ok(())
    }

    fn close(&self) -> Result<(), OutputError> {
        let mut open = self.open.lock();
        for (_, (f, _)) in open.files.drain() {
            f.sync_data()?;
        }
        Ok(())
    }
}

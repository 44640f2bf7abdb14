//! The dead letter queue: events an output rejected for good, kept on disk to be looked at and
//! replayed (by the `dead_letter_queue` input) instead of lost.
//!
//! One directory per pipeline, `<path.dead_letter_queue>/<pipeline id>/` (by default under
//! `path.data`), holding numbered segment files of JSON lines. Each line is one entry: the event
//! (with its `@timestamp` and `@metadata`), the id and type of the plugin that rejected it, the
//! reason and when it was written. A write is one `write` of whole lines followed by `fdatasync`,
//! so an output may count an event as safe once `write` returned. The queue is bounded by
//! `dead_letter_queue.max_bytes`: when full, `drop_newer` refuses new entries and `drop_older`
//! deletes the oldest segments; both are reported to the caller, which counts them.
//!
//! Outputs of a pipeline share one writer, looked up by directory in a process-wide table, so
//! two outputs (or a pipeline and its reloaded successor) never append to the same file at once.
//! The reader tails the segments: a line without its newline yet is left for the next read,
//! unless a newer segment exists, in which case it is the torn tail of a crashed write.

use crate::config::settings::Settings;
use crate::event::timestamp;
use crate::event::{Event, Map, Value};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

/// A segment is closed and a new one started past this size.
pub const SEGMENT_MAX_BYTES: u64 = 10 * 1024 * 1024;
const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".jsonl";

/// What to do when the queue is full (`dead_letter_queue.storage_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoragePolicy {
    /// Refuse new entries (Logstash's default).
    DropNewer,
    /// Delete the oldest segments to make room.
    DropOlder,
}

/// The `dead_letter_queue.*` settings of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqSettings {
    /// `dead_letter_queue.enable`. On by default: a rejected event is kept rather than lost.
    pub enabled: bool,
    /// `dead_letter_queue.max_bytes`: the most the pipeline's segments may hold together.
    pub max_bytes: u64,
    pub storage_policy: StoragePolicy,
    /// `path.dead_letter_queue`; `None` means `<path.data>/dead_letter_queue`.
    pub path: Option<PathBuf>,
}

impl Default for DlqSettings {
    fn default() -> Self {
        DlqSettings { enabled: true, max_bytes: 1024 * 1024 * 1024, storage_policy: StoragePolicy::DropNewer, path: None }
    }
}

impl DlqSettings {
    /// Read the settings from sluice.yml / pipelines.yml values.
    pub fn from_settings(s: &Settings) -> Result<DlqSettings, String> {
        let mut d = DlqSettings::default();
        if let Some(e) = s.bool("dead_letter_queue.enable").map_err(|e| e.to_string())? {
            d.enabled = e;
        }
        if let Some(b) = s.bytes("dead_letter_queue.max_bytes").map_err(|e| e.to_string())? {
            d.max_bytes = b;
        }
        d.storage_policy = match s.get("dead_letter_queue.storage_policy").unwrap_or("drop_newer") {
            "drop_newer" => StoragePolicy::DropNewer,
            "drop_older" => StoragePolicy::DropOlder,
            other => return Err(format!("dead_letter_queue.storage_policy must be drop_newer or drop_older, not `{other}`")),
        };
        d.path = s.get("path.dead_letter_queue").filter(|p| !p.is_empty()).map(PathBuf::from);
        Ok(d)
    }

    /// The directory of one pipeline's queue.
    pub fn dir(&self, path_data: &Path, pipeline_id: &str) -> PathBuf {
        match &self.path {
            Some(p) => p.join(pipeline_id),
            None => path_data.join("dead_letter_queue").join(pipeline_id),
        }
    }
}

/// One event to put in the queue.
pub struct DeadLetter<'a> {
    pub event: &'a Event,
    pub reason: String,
    pub plugin_id: &'a str,
    pub plugin_type: &'a str,
}

/// What became of a write.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Entries now on disk.
    pub written: u64,
    /// Entries refused because the queue was full (`drop_newer`, or one entry larger than the queue).
    pub refused: u64,
    /// Older entries deleted to make room (`drop_older`).
    pub evicted: u64,
}

/// The writer of one pipeline's queue.
pub struct DeadLetterQueue {
    dir: PathBuf,
    max_bytes: u64,
    policy: StoragePolicy,
    segment_max_bytes: u64,
    state: Mutex<WriterState>,
}

#[derive(Default)]
struct WriterState {
    scanned: bool,
    /// Segments on disk, oldest first, with their sizes.
    segments: Vec<(u64, u64)>,
    /// The open segment (the last of `segments`), if one was opened by this writer.
    current: Option<File>,
    total_bytes: u64,
    /// The number the next segment gets: never reused, so a reader's position stays meaningful
    /// even after every segment was deleted.
    next_segment: u64,
}

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterQueue").field("dir", &self.dir).finish()
    }
}

impl DeadLetterQueue {
    /// The shared writer of a pipeline, or `None` when the queue is disabled. Nothing touches the
    /// disk until the first write, so `-t` leaves no trace.
    pub fn for_pipeline(settings: &DlqSettings, path_data: &Path, pipeline_id: &str) -> Option<Arc<DeadLetterQueue>> {
        if !settings.enabled {
            return None;
        }
        let dir = settings.dir(path_data, pipeline_id);
        static WRITERS: OnceLock<Mutex<HashMap<PathBuf, Weak<DeadLetterQueue>>>> = OnceLock::new();
        let mut writers = WRITERS.get_or_init(Default::default).lock();
        writers.retain(|_, w| w.strong_count() > 0);
        if let Some(w) = writers.get(&dir).and_then(Weak::upgrade) {
            return Some(w);
        }
        let w = Arc::new(DeadLetterQueue::new(dir.clone(), settings.max_bytes, settings.storage_policy));
        writers.insert(dir, Arc::downgrade(&w));
        Some(w)
    }

    /// A writer of its own (tests, tools); outputs use `for_pipeline`.
    pub fn new(dir: PathBuf, max_bytes: u64, policy: StoragePolicy) -> DeadLetterQueue {
        DeadLetterQueue { dir, max_bytes, policy, segment_max_bytes: SEGMENT_MAX_BYTES, state: Mutex::new(WriterState::default()) }
    }

    pub fn with_segment_max_bytes(mut self, n: u64) -> DeadLetterQueue {
        self.segment_max_bytes = n.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append entries and make them durable before returning.
    pub fn write(&self, entries: &[DeadLetter<'_>]) -> std::io::Result<WriteOutcome> {
        let now = chrono::Utc::now();
        let lines: Vec<Vec<u8>> = entries.iter().map(|e| encode(e, now)).collect();
        let mut outcome = WriteOutcome::default();
        let mut st = self.state.lock();
        st.scan(&self.dir)?;
        let mut buf = Vec::new();
        for line in lines {
            let need = line.len() as u64;
            if st.total_bytes + buf.len() as u64 + need > self.max_bytes && self.policy == StoragePolicy::DropOlder {
                outcome.evicted += st.evict(&self.dir, self.max_bytes.saturating_sub(buf.len() as u64 + need))?;
            }
            if st.total_bytes + buf.len() as u64 + need > self.max_bytes {
                outcome.refused += 1;
                continue;
            }
            buf.extend_from_slice(&line);
            outcome.written += 1;
        }
        if !buf.is_empty() {
            st.append(&self.dir, &buf, self.segment_max_bytes)?;
        }
        Ok(outcome)
    }

    /// Bytes the segments hold now.
    pub fn size(&self) -> std::io::Result<u64> {
        let mut st = self.state.lock();
        st.scan(&self.dir)?;
        Ok(st.total_bytes)
    }
}

impl WriterState {
    fn scan(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.scanned {
            return Ok(());
        }
        self.segments = list_segments(dir)?.into_iter().map(|n| (n, std::fs::metadata(segment_path(dir, n)).map(|m| m.len()).unwrap_or(0))).collect();
        self.total_bytes = self.segments.iter().map(|(_, s)| s).sum();
        self.next_segment = self.segments.last().map(|s| s.0 + 1).unwrap_or(1);
        self.scanned = true;
        Ok(())
    }

    /// Delete oldest segments until at most `target` bytes remain; returns the entries deleted.
    fn evict(&mut self, dir: &Path, target: u64) -> std::io::Result<u64> {
        let mut evicted = 0;
        while self.total_bytes > target && !self.segments.is_empty() {
            let (n, size) = self.segments.remove(0);
            if self.segments.is_empty() {
                // The segment being written: later writes start a new one.
                self.current = None;
            }
            let path = segment_path(dir, n);
            evicted += std::fs::read(&path).map(|b| memchr::memchr_iter(b'\n', &b).count() as u64).unwrap_or(0);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.total_bytes -= size;
            tracing::warn!(segment = %path.display(), entries = evicted, "Dead letter queue full; deleted its oldest segment (drop_older).");
        }
        Ok(evicted)
    }

    fn append(&mut self, dir: &Path, buf: &[u8], segment_max: u64) -> std::io::Result<()> {
        let last_size = self.segments.last().map(|s| s.1).unwrap_or(0);
        if self.current.is_none() || last_size + buf.len() as u64 > segment_max && last_size > 0 {
            // Always a new segment when (re)opening: a segment left by an earlier run may end in a
            // torn line, and appending after it would glue two entries together.
            std::fs::create_dir_all(dir)?;
            let n = self.next_segment;
            self.next_segment += 1;
            let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, n))?;
            // The new name must survive a crash too.
            File::open(dir)?.sync_all()?;
            self.segments.push((n, 0));
            self.current = Some(file);
        }
        let Some(file) = self.current.as_mut() else { unreachable!("opened above") };
        if let Err(e) = file.write_all(buf).and_then(|_| file.sync_data()) {
            // The file may now end in a partial line; the next write starts a new segment.
            self.current = None;
            if let Ok(m) = std::fs::metadata(segment_path(dir, self.segments.last().map(|s| s.0).unwrap_or(0))) {
                let last = self.segments.last_mut().expect("pushed above");
                self.total_bytes = self.total_bytes - last.1 + m.len();
                last.1 = m.len();
            }
            return Err(e);
        }
        let last = self.segments.last_mut().expect("pushed above");
        last.1 += buf.len() as u64;
        self.total_bytes += buf.len() as u64;
        Ok(())
    }
}

fn encode(e: &DeadLetter<'_>, now: DateTime<Utc>) -> Vec<u8> {
    let mut event = match e.event.to_value() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if !e.event.metadata().is_empty() {
        event.insert("@metadata".to_string(), Value::Object(e.event.metadata().clone()));
    }
    let entry = serde_json::json!({
        "entry_time": timestamp::to_iso8601(now),
        "plugin_type": e.plugin_type,
        "plugin_id": e.plugin_id,
        "reason": e.reason,
        "event": Value::Object(event),
    });
    let mut line = serde_json::to_vec(&entry).unwrap_or_default();
    line.push(b'\n');
    line
}

pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{n:010}{SEGMENT_SUFFIX}"))
}

/// Segment numbers in the directory, oldest first; none when it does not exist yet.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<u64> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(SEGMENT_PREFIX)?.strip_suffix(SEGMENT_SUFFIX)?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Where a reader is: the segment and the byte offset after the last entry it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// One entry read back.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Entry {
    pub entry_time: String,
    pub plugin_type: String,
    pub plugin_id: String,
    pub reason: String,
    pub event: Map,
}

impl Entry {
    /// The event as it was rejected, with `[@metadata][dead_letter_queue]` telling why.
    pub fn into_event(self) -> Event {
        let mut e = Event::from_map(self.event, Utc::now());
        let mut info = Map::new();
        info.insert("entry_time".into(), Value::String(self.entry_time));
        info.insert("plugin_id".into(), Value::String(self.plugin_id));
        info.insert("plugin_type".into(), Value::String(self.plugin_type));
        info.insert("reason".into(), Value::String(self.reason));
        e.metadata_mut().insert("dead_letter_queue".into(), Value::Object(info));
        e
    }

    pub fn entry_time(&self) -> Option<DateTime<Utc>> {
        timestamp::parse_iso8601(&self.entry_time)
    }
}

/// Reads a queue's entries in order, from a position, following new writes.
pub struct Reader {
    dir: PathBuf,
    pos: Position,
    file: Option<File>,
    /// Bytes read past `pos` that do not end a line yet.
    pending: Vec<u8>,
}

impl Reader {
    pub fn new(dir: PathBuf, pos: Position) -> Reader {
        Reader { dir, pos, file: None, pending: Vec::new() }
    }

    pub fn position(&self) -> Position {
        self.pos
    }

    /// Up to `max` entries, each with the position just after it. Empty: nothing new yet.
    pub fn read(&mut self, max: usize) -> std::io::Result<Vec<(Entry, Position)>> {
        let mut out = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        while out.len() < max {
            if self.file.is_none() && !self.open_next()? {
                break;
            }
            // Complete lines already buffered first.
            while out.len() < max {
                let Some(nl) = memchr::memchr(b'\n', &self.pending) else { break };
                let line: Vec<u8> = self.pending.drain(..=nl).collect();
                self.pos.offset += line.len() as u64;
                match serde_json::from_slice::<Entry>(&line[..line.len() - 1]) {
                    Ok(entry) => out.push((entry, self.pos)),
                    Err(e) => tracing::warn!(
                        segment = %segment_path(&self.dir, self.pos.segment).display(),
                        error = %e,
                        "Skipping an unreadable dead letter queue entry."
                    ),
                }
            }
            if out.len() >= max {
                break;
            }
            let Some(file) = self.file.as_mut() else { break };
            let n = file.read(&mut chunk)?;
            if n > 0 {
                self.pending.extend_from_slice(&chunk[..n]);
                continue;
            }
            // End of this segment: move on only once a newer one exists (the writer has left it).
            let newer = list_segments(&self.dir)?.into_iter().find(|s| *s > self.pos.segment);
            match newer {
                Some(next) => {
                    if !self.pending.is_empty() {
                        tracing::warn!(bytes = self.pending.len(), "Skipping the torn end of a dead letter queue segment.");
                    }
                    self.pending.clear();
                    self.file = None;
                    self.pos = Position { segment: next, offset: 0 };
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Open the segment at or after the position; false when there is none yet.
    fn open_next(&mut self) -> std::io::Result<bool> {
        for n in list_segments(&self.dir)? {
            if n < self.pos.segment {
                continue;
            }
            if n > self.pos.segment {
                self.pos = Position { segment: n, offset: 0 };
            }
            match File::open(segment_path(&self.dir, n)) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(self.pos.offset))?;
                    self.pending.clear();
                    self.file = Some(f);
                    return Ok(true);
                }
                // Deleted (drop_older) between listing and opening: try the next one.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(n: u64) -> Event {
        let Value::Object(m) = json!({"@timestamp": "2024-05-01T10:00:00.000Z", "n": n, "@metadata": {"k": "v"}}) else { unreachable!() };
        Event::from_map(m, Utc::now())
    }

    fn letters(events: &[Event]) -> Vec<DeadLetter<'_>> {
        events
            .iter()
            .map(|e| DeadLetter { event: e, reason: format!("bad {}", e.fields()["n"]), plugin_id: "es_1", plugin_type: "elasticsearch" })
            .collect()
    }

    #[test]
    fn entries_round_trip_with_their_reason_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::new(dir.path().join("main"), 1 << 20, StoragePolicy::DropNewer);
        let events: Vec<Event> = (0..3).map(event).collect();
        assert_eq!(q.write(&letters(&events)).unwrap(), WriteOutcome { written: 3, refused: 0, evicted: 0 });
        let text = std::fs::read_to_string(segment_path(&dir.path().join("main"), 1)).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["reason"], "bad 0");
        assert_eq!(first["plugin_id"], "es_1");
        assert_eq!(first["event"]["@timestamp"], "2024-05-01T10:00:00.000Z");
        assert_eq!(first["event"]["@metadata"]["k"], "v");

        let mut r = Reader::new(dir.path().join("main"), Position::default());
        let got = r.read(10).unwrap();
        assert_eq!(got.len(), 3);
        let e = got[2].0.clone().into_event();
        assert_eq!(e.fields()["n"], 2);
        assert_eq!(e.metadata()["k"], "v");
        assert_eq!(e.metadata()["dead_letter_queue"]["reason"], "bad 2");
        assert_eq!(e.metadata()["dead_letter_queue"]["plugin_type"], "elasticsearch");
        assert_eq!(got[2].1, Position { segment: 1, offset: text.len() as u64 });
        assert!(r.read(10).unwrap().is_empty());
    }

    #[test]
    fn reader_tails_across_segments_and_resumes_from_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::new(dir.path().to_path_buf(), 1 << 20, StoragePolicy::DropNewer).with_segment_max_bytes(300);
        let mut r = Reader::new(dir.path().to_path_buf(), Position::default());
        assert!(r.read(10).unwrap().is_empty(), "no segment yet");
        let events: Vec<Event> = (0..10).map(event).collect();
        for e in events.chunks(2) {
            q.write(&letters(e)).unwrap();
        }
        assert!(list_segments(dir.path()).unwrap().len() > 1);
        let first = r.read(4).unwrap();
        assert_eq!(first.iter().map(|(e, _)| e.event["n"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        let mut again = Reader::new(dir.path().to_path_buf(), first[3].1);
        let rest = again.read(100).unwrap();
        assert_eq!(rest.iter().map(|(e, _)| e.event["n"].as_u64().unwrap()).collect::<Vec<_>>(), (4..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_line_waits_in_the_newest_segment_and_is_skipped_once_a_newer_one_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            segment_path(dir.path(), 1),
            b"{\"entry_time\":\"x\",\"plugin_type\":\"t\",\"plugin_id\":\"i\",\"reason\":\"r\",\"event\":{}}\n{\"entry_ti",
        )
        .unwrap();
        let mut r = Reader::new(dir.path().to_path_buf(), Position::default());
        assert_eq!(r.read(10).unwrap().len(), 1);
        // A writer opening after a crash starts segment 2.
        let q = DeadLetterQueue::new(dir.path().to_path_buf(), 1 << 20, StoragePolicy::DropNewer);
        let events = vec![event(7)];
        q.write(&letters(&events)).unwrap();
        assert_eq!(list_segments(dir.path()).unwrap(), vec![1, 2]);
        let got = r.read(10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.event["n"], 7);
    }

    #[test]
    fn drop_newer_refuses_what_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (0..10).map(event).collect();
        let one = encode(&letters(&events[..1])[0], Utc::now()).len() as u64;
        let q = DeadLetterQueue::new(dir.path().to_path_buf(), one * 3 + one / 2, StoragePolicy::DropNewer);
        let out = q.write(&letters(&events[..5])).unwrap();
        assert_eq!((out.written, out.refused), (3, 2));
        assert_eq!(q.write(&letters(&events[5..])).unwrap().refused, 5);
        assert!(q.size().unwrap() <= one * 3 + one / 2);
    }

    #[test]
    fn drop_older_deletes_the_oldest_segments() {
        let dir = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (0..10).map(event).collect();
        let one = encode(&letters(&events[..1])[0], Utc::now()).len() as u64;
        // Two entries per segment, room for four.
        let q = DeadLetterQueue::new(dir.path().to_path_buf(), one * 4 + 10, StoragePolicy::DropOlder).with_segment_max_bytes(one * 2);
        let mut evicted = 0;
        for pair in events.chunks(2) {
            let out = q.write(&letters(pair)).unwrap();
            assert_eq!(out.written, 2);
            evicted += out.evicted;
        }
        assert_eq!(evicted, 6);
        let left: Vec<u64> = Reader::new(dir.path().to_path_buf(), Position::default())
            .read(100)
            .unwrap()
            .iter()
            .map(|(e, _)| e.event["n"].as_u64().unwrap())
            .collect();
        assert_eq!(left, vec![6, 7, 8, 9]);
    }

    #[test]
    fn settings_are_read_with_logstash_names() {
        let mut s = Settings::default();
        s.set("dead_letter_queue.max_bytes", "2mb");
        s.set("dead_letter_queue.storage_policy", "drop_older");
        s.set("dead_letter_queue.enable", "false");
        let d = DlqSettings::from_settings(&s).unwrap();
        assert_eq!((d.enabled, d.max_bytes, d.storage_policy), (false, 2 * 1024 * 1024, StoragePolicy::DropOlder));
        s.set("dead_letter_queue.storage_policy", "drop_oldest");
        assert!(DlqSettings::from_settings(&s).is_err());
        assert_eq!(DlqSettings::default().dir(Path::new("/d"), "main"), PathBuf::from("/d/dead_letter_queue/main"));
    }
}

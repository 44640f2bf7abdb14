//! How far each file has been read *and delivered*, kept across restarts.
//!
//! Every chunk of events a file sends carries the offset up to which the file is then fully
//! accounted for: every line before it is in this chunk or an earlier one (lines still held by
//! the joiner or a multiline group are not, so the offset stops at the first of them). A file's
//! checkpoint advances to a chunk's offset only once that chunk and every earlier chunk of the
//! file are acknowledged by the outputs. Chunks the pipeline gave up on stop the file's
//! checkpoint where it is: after a restart those lines are read again (at-least-once for what was
//! never acknowledged, exactly-once for what was).
//!
//! The store is one JSON file, `<path.data>/kubernetes/<pipeline id>/checkpoints.json`,
//! replaced atomically (written aside, synced, renamed) every `checkpoint_interval` when
//! something moved, and once more at shutdown. Files are keyed by device and inode, with the
//! path as it was matched and as resolved, so a renamed (rotated) file is still recognised,
//! and with the file's first bytes, so a new file that got a deleted file's inode is not.

use super::path::FileId;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub dev: u64,
    pub inode: u64,
    pub path: PathBuf,
    pub resolved: PathBuf,
    pub offset: u64,
    /// The file's first bytes, base64: an inode reused by a new file does not match them.
    #[serde(default)]
    pub head: String,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct StoreFile {
    version: u32,
    files: Vec<Entry>,
}

pub fn load(path: &Path) -> HashMap<FileId, Entry> {
    let parsed: StoreFile = match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "Unreadable kubernetes input checkpoints; starting without them.");
                StoreFile::default()
            }
        },
        Err(_) => StoreFile::default(),
    };
    parsed.files.into_iter().map(|e| (FileId { dev: e.dev, inode: e.inode }, e)).collect()
}

/// The first bytes recorded for a file, decoded (empty when none were).
pub fn head_of(e: &Entry) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(&e.head).unwrap_or_default()
}

/// Replace the store atomically: a crash leaves the old checkpoints or the new, never half.
pub fn save(path: &Path, entries: Vec<Entry>) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let body = serde_json::to_vec_pretty(&StoreFile { version: 1, files: entries }).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&body)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    // The rename itself must reach the disk for the new checkpoints to survive a power loss.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Acknowledgement state of every file being read; shared with the tasks awaiting acks.
#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<ProgressInner>,
}

#[derive(Debug, Default)]
struct ProgressInner {
    files: HashMap<FileId, FileProgress>,
    /// Something changed since the store was last written.
    dirty: bool,
}

#[derive(Debug)]
struct FileProgress {
    path: PathBuf,
    resolved: PathBuf,
    /// Checkpoint: every line before it is acknowledged.
    acked: u64,
    next_seq: u64,
    /// Chunks sent and not yet acknowledged in order: seq → (offset, acknowledged yet).
    in_flight: BTreeMap<u64, (u64, bool)>,
    /// Read to its end after a rotation or deletion: forgotten once everything is acknowledged.
    finished: bool,
    /// A chunk was given up by the pipeline: the checkpoint stays where it is.
    stuck: bool,
    head: String,
}

impl Progress {
    /// Start tracking a file whose checkpoint is `offset`.
    pub fn track(&self, id: FileId, path: &Path, resolved: &Path, offset: u64) {
        let mut g = self.inner.lock();
        g.files.insert(
            id,
            FileProgress {
                path: path.to_path_buf(),
                resolved: resolved.to_path_buf(),
                acked: offset,
                next_seq: 0,
                in_flight: BTreeMap::new(),
                finished: false,
                stuck: false,
                head: String::new(),
            },
        );
        g.dirty = true;
    }

    /// A chunk up to `offset` was handed over: its sequence number, to report its ack with.
    pub fn sent(&self, id: FileId, offset: u64) -> u64 {
        let mut g = self.inner.lock();
        let Some(f) = g.files.get_mut(&id) else { return 0 };
        let seq = f.next_seq;
        f.next_seq += 1;
        f.in_flight.insert(seq, (offset, false));
        seq
    }

    /// Lines up to `offset` produced no event (blank, or the file was truncated): nothing to
    /// wait for beyond the chunks already in flight.
    pub fn skipped(&self, id: FileId, offset: u64) {
        let seq = self.sent(id, offset);
        self.acked(id, seq, true);
    }

    /// The chunk `seq` of a file was acknowledged (`ok`) or given up.
    pub fn acked(&self, id: FileId, seq: u64, ok: bool) {
        let mut g = self.inner.lock();
        let Some(f) = g.files.get_mut(&id) else { return };
        if !ok {
            f.stuck = true;
            return;
        }
        if let Some(c) = f.in_flight.get_mut(&seq) {
            c.1 = true;
        }
        let mut moved = false;
        while let Some(entry) = f.in_flight.first_entry() {
            if !entry.get().1 || f.stuck {
                break;
            }
            let (offset, _) = entry.remove();
            f.acked = offset;
            moved = true;
        }
        let forget = f.finished && f.in_flight.is_empty();
        if forget {
            g.files.remove(&id);
        }
        g.dirty |= moved || forget;
    }

    /// The file's first bytes are now known (or known further).
    pub fn set_head(&self, id: FileId, head: &[u8]) {
        use base64::Engine;
        let mut g = self.inner.lock();
        if let Some(f) = g.files.get_mut(&id) {
            f.head = base64::engine::general_purpose::STANDARD.encode(head);
            g.dirty = true;
        }
    }

    /// The file was copy-truncated: what is in flight no longer describes it.
    pub fn truncated(&self, id: FileId) {
        let mut g = self.inner.lock();
        if let Some(f) = g.files.get_mut(&id) {
            f.in_flight.clear();
            f.acked = 0;
            f.stuck = false;
            f.head.clear();
        }
        g.dirty = true;
    }

    /// The file was read to its end for the last time.
    pub fn finish(&self, id: FileId) {
        let mut g = self.inner.lock();
        let forget = match g.files.get_mut(&id) {
            Some(f) => {
                f.finished = true;
                f.in_flight.is_empty()
            }
            None => false,
        };
        if forget {
            g.files.remove(&id);
            g.dirty = true;
        }
    }

    /// The entries to write, if anything changed since the last call.
    pub fn take_dirty(&self) -> Option<Vec<Entry>> {
        let mut g = self.inner.lock();
        if !g.dirty {
            return None;
        }
        g.dirty = false;
        let mut entries: Vec<Entry> = g
            .files
            .iter()
            .map(|(id, f)| Entry {
                dev: id.dev,
                inode: id.inode,
                path: f.path.clone(),
                resolved: f.resolved.clone(),
                offset: f.acked,
                head: f.head.clone(),
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path).then(a.inode.cmp(&b.inode)));
        Some(entries)
    }

    pub fn mark_dirty(&self) {
        self.inner.lock().dirty = true;
    }

    #[cfg(test)]
    fn offset(&self, id: FileId) -> Option<u64> {
        self.inner.lock().files.get(&id).map(|f| f.acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: FileId = FileId { dev: 1, inode: 2 };

    #[test]
    fn the_checkpoint_waits_for_every_earlier_chunk() {
        let p = Progress::default();
        p.track(ID, Path::new("/a"), Path::new("/b"), 10);
        let s1 = p.sent(ID, 100);
        let s2 = p.sent(ID, 200);
        p.acked(ID, s2, true);
        assert_eq!(p.offset(ID), Some(10));
        p.acked(ID, s1, true);
        assert_eq!(p.offset(ID), Some(200));
    }

    #[test]
    fn a_chunk_given_up_stops_the_file_where_it_is() {
        let p = Progress::default();
        p.track(ID, Path::new("/a"), Path::new("/b"), 0);
        let s1 = p.sent(ID, 100);
        let s2 = p.sent(ID, 200);
        p.acked(ID, s1, false);
        p.acked(ID, s2, true);
        assert_eq!(p.offset(ID), Some(0));
    }

    #[test]
    fn finished_files_are_forgotten_once_delivered() {
        let p = Progress::default();
        p.track(ID, Path::new("/a"), Path::new("/b"), 0);
        let s = p.sent(ID, 100);
        p.finish(ID);
        assert_eq!(p.offset(ID), Some(0));
        p.acked(ID, s, true);
        assert_eq!(p.offset(ID), None);
        assert_eq!(p.take_dirty(), Some(vec![]));
    }

    #[test]
    fn the_store_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/checkpoints.json");
        let e = Entry { dev: 1, inode: 2, path: "/a".into(), resolved: "/b".into(), offset: 42, head: "MjAyNg==".into() };
        save(&path, vec![e.clone()]).unwrap();
        assert_eq!(load(&path).get(&ID), Some(&e));
    }
}

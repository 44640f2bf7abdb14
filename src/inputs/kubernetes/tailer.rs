//! One open log file: bytes in, whole lines of each stream out.
//!
//! A tailer holds its file by handle, so a file renamed by rotation or deleted with its pod is
//! still read to its end through it. What it has read but not yet turned into lines (an
//! incomplete last line, pieces of a split line, a multiline group) stays in the tailer, and
//! `safe_offset` says where in the file the first of that begins: the furthest a checkpoint
//! may go. A file that became shorter than what was read was truncated in place (copytruncate)
//! and is read again from its start.
//!
//! A file's first bytes (`HEAD_BYTES` of them) are its fingerprint: inodes are reused once a
//! file is deleted, and a checkpoint must never send a new file's reading to an old file's offset.

use super::format::{self, Format, Joiner, Line};
use super::multiline::{Multiline, Rule};
use super::path::{FileId, PathMeta};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Instant;

/// How many of a file's first bytes identify it with its inode. A CRI line starts with a time
/// in nanoseconds, a docker line holds its text first: 64 bytes tell two files apart.
pub const HEAD_BYTES: usize = 64;

/// The first bytes of an open file (fewer if it is shorter).
pub fn read_head(file: &File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; HEAD_BYTES];
    let mut got = 0;
    while got < HEAD_BYTES {
        match file.read_at(&mut head[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    head.truncate(got);
    Ok(head)
}

pub struct Tailer {
    pub id: FileId,
    /// As discovery matched it: what `[log][file][path]` says.
    pub path: PathBuf,
    pub resolved: PathBuf,
    pub meta: PathMeta,
    /// The path no longer leads to this file (renamed or deleted): read to the end, then closed.
    pub detached: bool,
    /// The offset last reported to the checkpoints.
    pub reported: u64,
    /// The pod cache version the event fields were built from, and those fields.
    pub fields: Option<(u64, crate::event::Map)>,
    /// The file's first bytes, once read (see `HEAD_BYTES`).
    pub head: Vec<u8>,
    /// How many of them the checkpoints have.
    pub head_saved: usize,
    file: File,
    /// The file offset of `buf[0]`.
    buf_start: u64,
    buf: Vec<u8>,
    format: Option<Format>,
    joiner: Joiner,
    multiline: Multiline,
    max_bytes: usize,
}

impl Tailer {
    /// Open the file `resolved` names, checking it is still the file `id` (it may have been
    /// rotated between discovery and now), and position at `offset`.
    /// `head` is the file's first bytes as recorded with `offset`: if the file does not begin
    /// with them, it is another file on a reused inode, read from its start.
    pub fn open(id: FileId, path: PathBuf, resolved: PathBuf, offset: u64, head: &[u8], max_bytes: usize) -> std::io::Result<Tailer> {
        let mut file = File::open(&resolved)?;
        let meta = file.metadata()?;
        if FileId::of(&meta) != id {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "the file was replaced while being opened"));
        }
        let mut offset = offset;
        let head_now = read_head(&file)?;
        if offset > 0 && !head_now.starts_with(head) {
            tracing::info!(path = %path.display(), "kubernetes input: a new file has the inode of one read before; reading it from its start.");
            offset = 0;
        }
        // A checkpoint past the end: the file was truncated while sluice was away.
        let offset = if offset > meta.len() { 0 } else { offset };
        file.seek(SeekFrom::Start(offset))?;
        let meta_from_path = super::path::metadata(&path, &resolved);
        Ok(Tailer {
            id,
            path,
            resolved,
            meta: meta_from_path,
            detached: false,
            reported: offset,
            fields: None,
            head: head_now,
            head_saved: 0,
            file,
            buf_start: offset,
            buf: Vec::new(),
            format: None,
            joiner: Joiner::new(max_bytes),
            multiline: Multiline::new(),
            max_bytes,
        })
    }

    /// The offset just after the last whole line at or before the end of the file: where
    /// `start_position => end` begins, so that it never starts in the middle of a line.
    pub fn end_of_last_line(&mut self) -> std::io::Result<u64> {
        let len = self.file.metadata()?.len();
        let from = len.saturating_sub(64 * 1024);
        self.file.seek(SeekFrom::Start(from))?;
        let mut tail = Vec::new();
        (&mut self.file).take(len - from).read_to_end(&mut tail)?;
        let at = match memchr::memrchr(b'\n', &tail) {
            Some(i) => from + i as u64 + 1,
            None => from,
        };
        self.file.seek(SeekFrom::Start(at))?;
        self.buf_start = at;
        self.reported = at;
        Ok(at)
    }

    /// Read once, at most `max` bytes; the lines that are complete go to `out`. Returns the
    /// number of bytes read (0 at the end of the file).
    pub fn read(&mut self, max: usize, rule: Option<&Rule>, now: Instant, out: &mut Vec<Line>) -> std::io::Result<usize> {
        let had = self.buf.len();
        self.buf.resize(had + max, 0);
        let n = match self.file.read(&mut self.buf[had..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(had);
                return Err(e);
            }
        };
        self.buf.truncate(had + n);
        if n == 0 {
            return Ok(0);
        }
        if self.head.len() < HEAD_BYTES {
            self.head = read_head(&self.file)?;
        }
        let mut joined = Vec::new();
        let mut consumed = 0;
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(nl) = memchr::memchr(b'\n', &buf[consumed..]) {
            let line = &buf[consumed..consumed + nl];
            let offset = self.buf_start + consumed as u64;
            consumed += nl + 1;
            self.decode(line, offset, &mut joined);
        }
        // A "line" far longer than any runtime writes: not a log file in either format. Pass it
        // on in pieces rather than buffer without bound.
        if buf.len() - consumed > self.max_bytes + 64 * 1024 {
            let offset = self.buf_start + consumed as u64;
            let mut l = Line::raw(String::from_utf8_lossy(&buf[consumed..]).into_owned(), offset);
            l.split = true;
            joined.push(l);
            consumed = buf.len();
        }
        buf.drain(..consumed);
        self.buf = buf;
        self.buf_start += consumed as u64;
        self.group(joined, rule, now, out);
        Ok(n)
    }

    fn decode(&mut self, line: &[u8], offset: u64, joined: &mut Vec<Line>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        let format = *self.format.get_or_insert_with(|| Format::detect(line));
        match format::parse(format, line) {
            Ok(piece) => self.joiner.push(piece, offset, joined),
            Err(e) => {
                tracing::debug!(path = %self.path.display(), offset, error = %e, "kubernetes input: a line in neither runtime format; passing it on as it is.");
                joined.push(Line::raw(String::from_utf8_lossy(line).into_owned(), offset));
            }
        }
    }

    fn group(&mut self, joined: Vec<Line>, rule: Option<&Rule>, now: Instant, out: &mut Vec<Line>) {
        match rule {
            None => out.extend(joined),
            Some(rule) => {
                for l in joined {
                    if l.malformed {
                        out.push(l);
                    } else {
                        self.multiline.push(rule, l, now, out);
                    }
                }
            }
        }
    }

    /// Multiline groups that waited long enough.
    pub fn flush_due(&mut self, rule: &Rule, now: Instant, out: &mut Vec<Line>) {
        self.multiline.flush(rule, now, false, out);
    }

    /// Everything held, for a file that will not grow any more.
    pub fn flush_all(&mut self, rule: Option<&Rule>, now: Instant, out: &mut Vec<Line>) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let mut joined = Vec::new();
            self.decode(&rest, self.buf_start, &mut joined);
            self.buf_start += rest.len() as u64;
            self.group(joined, rule, now, out);
        }
        let mut pieces = Vec::new();
        self.joiner.flush(&mut pieces);
        self.group(pieces, rule, now, out);
        if let Some(rule) = rule {
            self.multiline.flush(rule, now, true, out);
        }
    }

    /// Where the first byte not yet accounted for by an emitted line is.
    pub fn safe_offset(&self) -> u64 {
        [Some(self.buf_start), self.joiner.held_from(), self.multiline.held_from()].into_iter().flatten().min().unwrap_or(self.buf_start)
    }

    /// Whether the file is now shorter than what was read (copytruncate); if so, start over.
    pub fn check_truncated(&mut self) -> std::io::Result<bool> {
        let len = self.file.metadata()?.len();
        if len >= self.buf_start + self.buf.len() as u64 {
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.buf.clear();
        self.buf_start = 0;
        self.reported = 0;
        self.head.clear();
        self.head_saved = 0;
        self.joiner.clear();
        self.multiline.clear();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn id_of(p: &std::path::Path) -> FileId {
        FileId::of(&std::fs::metadata(p).unwrap())
    }

    #[test]
    fn partial_lines_wait_and_the_safe_offset_stays_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let first = "2024-01-01T00:00:00Z stdout P abc\n";
        std::fs::write(&p, first).unwrap();
        let mut t = Tailer::open(id_of(&p), p.clone(), p.clone(), 0, &[], 1 << 20).unwrap();
        let mut out = Vec::new();
        t.read(1 << 16, None, Instant::now(), &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(t.safe_offset(), 0);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        // The end of the line, and half of the next one.
        write!(f, "2024-01-01T00:00:01Z stdout F def\n2024-01-01T00:00:02Z std").unwrap();
        t.read(1 << 16, None, Instant::now(), &mut out).unwrap();
        assert_eq!(out.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), vec!["abcdef"]);
        assert_eq!(t.safe_offset(), (first.len() + "2024-01-01T00:00:01Z stdout F def\n".len()) as u64);
    }

    #[test]
    fn a_checkpoint_is_not_applied_to_another_file_on_the_same_inode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let old = "2024-01-01T00:00:00.000000001Z stdout F the old file's first line\n";
        std::fs::write(&p, format!("{old}2024-01-01T00:00:00Z stdout F x\n")).unwrap();
        let f = File::open(&p).unwrap();
        let head = read_head(&f).unwrap();
        assert_eq!(head, old.as_bytes()[..HEAD_BYTES].to_vec());
        // The same file: the offset holds.
        let t = Tailer::open(id_of(&p), p.clone(), p.clone(), old.len() as u64, &head, 1 << 20).unwrap();
        assert_eq!(t.safe_offset(), old.len() as u64);
        // Rewritten in place (the same inode, other content): from the start.
        std::fs::write(&p, "2024-01-02T00:00:00.000000001Z stdout F a new file, longer than the old offset\n").unwrap();
        let t = Tailer::open(id_of(&p), p.clone(), p.clone(), old.len() as u64, &head, 1 << 20).unwrap();
        assert_eq!(t.safe_offset(), 0);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        std::fs::write(&p, "2024-01-01T00:00:00Z stdout F one\n2024-01-01T00:00:00Z stdout F two\n").unwrap();
        let mut t = Tailer::open(id_of(&p), p.clone(), p.clone(), 0, &[], 1 << 20).unwrap();
        let mut out = Vec::new();
        t.read(1 << 16, None, Instant::now(), &mut out).unwrap();
        std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(0).unwrap();
        assert!(t.check_truncated().unwrap());
        std::fs::write(&p, "2024-01-01T00:00:00Z stdout F three\n").unwrap();
        t.read(1 << 16, None, Instant::now(), &mut out).unwrap();
        assert_eq!(out.iter().map(|l| (l.text.as_str(), l.offset)).collect::<Vec<_>>(), vec![("one", 0), ("two", 34), ("three", 0)]);
    }
}

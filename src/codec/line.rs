//! The `line` codec and the line framer shared by every newline-delimited codec.
//!
//! The framer cuts a byte stream at a delimiter. A line longer than `max_line_bytes` is cut at the
//! limit: its first `max_line_bytes` become the event (tagged `_line_truncated`) and the rest, up
//! to the next delimiter, is skipped, so one runaway line can neither exhaust memory nor be lost
//! without a trace.

use super::LINE_TRUNCATED_TAG;
use crate::event::Event;
use bytes::BytesMut;
use chrono::{DateTime, Utc};

#[derive(Debug)]
pub struct LineFramer {
    delimiter: Vec<u8>,
    max: usize,
    /// Inside the tail of an over-long line: skip to the next delimiter.
    discarding: bool,
    /// Where to resume searching for the delimiter in the buffer (bytes already scanned).
    scanned: usize,
    truncated: u64,
}

pub struct Frame {
    pub bytes: BytesMut,
    pub truncated: bool,
}

impl LineFramer {
    pub fn new(delimiter: Vec<u8>, max_line_bytes: usize) -> LineFramer {
        LineFramer { delimiter, max: max_line_bytes.max(1), discarding: false, scanned: 0, truncated: 0 }
    }

    fn find(&self, hay: &[u8]) -> Option<usize> {
        if self.delimiter.len() == 1 {
            memchr::memchr(self.delimiter[0], hay)
        } else {
            memchr::memmem::find(hay, &self.delimiter)
        }
    }

    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            // Resume the search where the last one stopped, backing up for a split delimiter.
            let from = self.scanned.saturating_sub(self.delimiter.len() - 1).min(buf.len());
            match self.find(&buf[from..]) {
                Some(i) => {
                    let end = from + i;
                    self.scanned = 0;
                    let mut line = buf.split_to(end + self.delimiter.len());
                    line.truncate(end);
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    if line.len() > self.max {
                        line.truncate(self.max);
                        self.truncated += 1;
                        return Some(Frame { bytes: line, truncated: true });
                    }
                    return Some(Frame { bytes: line, truncated: false });
                }
                None => {
                    if self.discarding {
                        buf.clear();
                        self.scanned = 0;
                        return None;
                    }
                    if buf.len() > self.max {
                        let mut line = buf.split_to(self.max);
                        line.truncate(self.max);
                        buf.clear();
                        self.discarding = true;
                        self.scanned = 0;
                        self.truncated += 1;
                        return Some(Frame { bytes: line, truncated: true });
                    }
                    self.scanned = buf.len();
                    return None;
                }
            }
        }
    }

    /// The stream ended: the bytes after the last delimiter are a line too.
    pub fn take_rest(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        self.scanned = 0;
        if self.discarding {
            self.discarding = false;
            buf.clear();
            return None;
        }
        if buf.is_empty() {
            return None;
        }
        let mut line = buf.split();
        let truncated = line.len() > self.max;
        if truncated {
            line.truncate(self.max);
            self.truncated += 1;
        }
        Some(Frame { bytes: line, truncated })
    }

    pub fn truncated_lines(&self) -> u64 {
        self.truncated
    }
}

/// A line as an event: the text (invalid UTF-8 replaced, never dropped) in `message`.
pub fn event_from_frame(bytes: &[u8], truncated: bool, now: DateTime<Utc>) -> Event {
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    let mut e = Event::with_message(text, now);
    if truncated {
        e.add_tag(LINE_TRUNCATED_TAG);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut LineFramer, input: &[&[u8]]) -> Vec<(String, bool)> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input {
            buf.extend_from_slice(piece);
            while let Some(f) = framer.next_frame(&mut buf) {
                out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
            }
        }
        if let Some(f) = framer.take_rest(&mut buf) {
            out.push((String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated));
        }
        out
    }

    #[test]
    fn splits_across_reads_and_keeps_the_unterminated_tail() {
        let mut f = LineFramer::new(b"\n".to_vec(), 100);
        let got = frames(&mut f, &[b"one\ntw", b"o\n", b"\nthree"]);
        let want: Vec<(String, bool)> =
            [("one", false), ("two", false), ("", false), ("three", false)].iter().map(|(s, t)| (s.to_string(), *t)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn multi_byte_delimiter_split_between_reads() {
        let mut f = LineFramer::new(b"\r\n".to_vec(), 100);
        let got = frames(&mut f, &[b"a\r", b"\nb\r\n"]);
        assert_eq!(got, vec![("a".to_string(), false), ("b".to_string(), false)]);
    }

    #[test]
    fn long_lines_are_cut_at_the_limit_and_the_rest_skipped() {
        let mut f = LineFramer::new(b"\n".to_vec(), 4);
        // Over-long line delivered whole, then one that overflows before its newline arrives.
        let got = frames(&mut f, &[b"abcdefgh\nok\n", b"123456", b"789\nlast\n"]);
        assert_eq!(
            got,
            vec![
                ("abcd".to_string(), true),
                ("ok".to_string(), false),
                ("1234".to_string(), true),
                ("last".to_string(), false)
            ]
        );
        assert_eq!(f.truncated_lines(), 2);
    }

    #[test]
    fn invalid_utf8_is_kept_lossily() {
        let e = event_from_frame(b"caf\xe9", false, Utc::now());
        assert_eq!(e.fields()["message"], "caf\u{fffd}");
    }
}

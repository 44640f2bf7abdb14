//! The two on-disk formats container runtimes write, and joining the pieces of a long line.
//!
//! - **CRI** (containerd, CRI-O): `<RFC3339Nano time> <stdout|stderr> <tag> <text>\n`, where the
//!   tag's first `:`-separated part is `P` for a piece of a line the runtime split (16 KiB by
//!   default) and `F` for the piece that ends it.
//! - **docker json-file**: `{"log":"text\n","stream":"stdout","time":"..."}` per line; a piece
//!   of a split line is one whose `log` does not end in `\n`.
//!
//! A file's format is told from its first line and kept. Pieces are joined per stream (stdout
//! and stderr interleave in one file) up to `max_bytes`; a longer line is cut into pieces of at
//! most `max_bytes`, each marked `split`, so memory stays bounded and nothing is dropped. A line
//! that is in neither format is passed on whole, marked `malformed`, rather than lost.

use crate::event::timestamp::parse_iso8601;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cri,
    Docker,
}

impl Format {
    /// The format a file's first line is in: docker's lines are JSON objects, CRI's start with a time.
    pub fn detect(first_line: &[u8]) -> Format {
        if first_line.first() == Some(&b'{') {
            Format::Docker
        } else {
            Format::Cri
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn parse(s: &str) -> Option<Stream> {
        match s {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One physical line of a runtime log file, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub time: Option<DateTime<Utc>>,
    pub stream: Stream,
    /// More of the same line follows in a later piece.
    pub partial: bool,
    pub text: String,
}

/// Why a line could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("a CRI log line needs four space-separated parts: time, stream, tag, text")]
    CriFields,
    #[error("`{0}` is not a stream name (stdout or stderr)")]
    Stream(String),
    #[error("`{0}` is not an RFC 3339 time")]
    Time(String),
    #[error("not a docker json-file line: {0}")]
    Docker(String),
}

/// Decode one line (without its `\n`) in the given format.
pub fn parse(format: Format, line: &[u8]) -> Result<Piece, FormatError> {
    match format {
        Format::Cri => parse_cri(line),
        Format::Docker => parse_docker(line),
    }
}

pub fn parse_cri(line: &[u8]) -> Result<Piece, FormatError> {
    let line = String::from_utf8_lossy(line);
    let mut parts = line.splitn(4, ' ');
    let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(FormatError::CriFields);
    };
    // An empty line written by the container is `... stdout F ` or, from some runtimes, without
    // the last space.
    let text = parts.next().unwrap_or("");
    let time = parse_iso8601(time).ok_or_else(|| FormatError::Time(time.to_string()))?;
    let stream = Stream::parse(stream).ok_or_else(|| FormatError::Stream(stream.to_string()))?;
    let partial = tag.split(':').next() == Some("P");
    Ok(Piece { time: Some(time), stream, partial, text: text.to_string() })
}

#[derive(serde::Deserialize)]
struct DockerLine {
    log: String,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    time: Option<String>,
}

pub fn parse_docker(line: &[u8]) -> Result<Piece, FormatError> {
    let d: DockerLine = serde_json::from_slice(line).map_err(|e| FormatError::Docker(e.to_string()))?;
    let stream = match d.stream.as_deref() {
        None => Stream::Stdout,
        Some(s) => Stream::parse(s).ok_or_else(|| FormatError::Stream(s.to_string()))?,
    };
    let time = match d.time.as_deref() {
        None => None,
        Some(t) => Some(parse_iso8601(t).ok_or_else(|| FormatError::Time(t.to_string()))?),
    };
    let mut text = d.log;
    let partial = !text.ends_with('\n');
    if !partial {
        text.pop();
    }
    Ok(Piece { time, stream, partial, text })
}

/// A whole line (or a capped piece of one) of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub time: Option<DateTime<Utc>>,
    pub stream: Stream,
    pub text: String,
    /// Offset in the file of the first byte of the first physical line this came from.
    pub offset: u64,
    /// A piece of a line longer than `max_bytes`.
    pub split: bool,
    /// Not in the file's format; `text` is the raw line.
    pub malformed: bool,
    /// Lines a multiline rule joined into this one (1 when none).
    pub lines: usize,
    /// The multiline rule's `max_lines` cut this event.
    pub max_lines_reached: bool,
}

impl Line {
    pub fn raw(text: String, offset: u64) -> Line {
        Line { time: None, stream: Stream::Stdout, text, offset, split: false, malformed: true, lines: 1, max_lines_reached: false }
    }
}

/// Joins partial pieces per stream.
#[derive(Debug)]
pub struct Joiner {
    max_bytes: usize,
    /// The line being assembled for stdout and for stderr.
    held: [Option<Line>; 2],
}

impl Joiner {
    pub fn new(max_bytes: usize) -> Joiner {
        Joiner { max_bytes: max_bytes.max(1), held: [None, None] }
    }

    /// Add the piece found at `offset`; whole lines go to `out`.
    pub fn push(&mut self, piece: Piece, offset: u64, out: &mut Vec<Line>) {
        let slot = &mut self.held[piece.stream.index()];
        let mut line = match slot.take() {
            Some(l) => l,
            None => Line {
                time: piece.time,
                stream: piece.stream,
                text: String::new(),
                offset,
                split: false,
                malformed: false,
                lines: 1,
                max_lines_reached: false,
            },
        };
        let mut rest = piece.text.as_str();
        while line.text.len() + rest.len() > self.max_bytes {
            let room = self.max_bytes - line.text.len();
            let mut cut = room.min(rest.len());
            while cut > 0 && !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 && line.text.is_empty() {
                // A single character wider than the cap: take it whole rather than loop.
                cut = rest.char_indices().nth(1).map_or(rest.len(), |(i, _)| i);
            }
            line.text.push_str(&rest[..cut]);
            rest = &rest[cut..];
            line.split = true;
            let next = Line { text: String::new(), offset, time: piece.time, ..line.clone() };
            out.push(std::mem::replace(&mut line, next));
        }
        line.text.push_str(rest);
        if piece.partial {
            *slot = Some(line);
        } else {
            if line.split && line.text.is_empty() {
                // The cut fell exactly at the end: the last piece is already out.
                return;
            }
            out.push(line);
        }
    }

    /// The offset of the earliest byte still held (a checkpoint must not pass it).
    pub fn held_from(&self) -> Option<u64> {
        self.held.iter().flatten().map(|l| l.offset).min()
    }

    /// Give up what is held (a file that ended with a partial line).
    pub fn flush(&mut self, out: &mut Vec<Line>) {
        let mut held: Vec<Line> = self.held.iter_mut().filter_map(Option::take).collect();
        held.sort_by_key(|l| l.offset);
        out.extend(held);
    }

    pub fn clear(&mut self) {
        self.held = [None, None];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64, nanos: u32) -> Option<DateTime<Utc>> {
        Some(Utc.timestamp_opt(s, nanos).unwrap())
    }

    #[test]
    fn cri_lines_as_containerd_writes_them() {
        // 2016-10-06T00:17:09.669794202Z is 1475713029 s after the epoch.
        let p = parse_cri(b"2016-10-06T00:17:09.669794202Z stdout F The content of the log entry 1").unwrap();
        assert_eq!(p, Piece { time: at(1475713029, 669794202), stream: Stream::Stdout, partial: false, text: "The content of the log entry 1".into() });
        let p = parse_cri(b"2016-10-06T00:17:10.113242941Z stderr P First piece").unwrap();
        assert_eq!((p.stream, p.partial, p.text.as_str()), (Stream::Stderr, true, "First piece"));
        // Spaces inside the text are kept; an empty line has an empty text, with or without the space.
        assert_eq!(parse_cri(b"2016-10-06T00:17:10Z stdout F  two  spaces ").unwrap().text, " two  spaces ");
        assert_eq!(parse_cri(b"2016-10-06T00:17:10Z stdout F ").unwrap().text, "");
        assert_eq!(parse_cri(b"2016-10-06T00:17:10Z stdout F").unwrap().text, "");
        // A time with an offset, and a tag with more parts after the first.
        let p = parse_cri(b"2016-10-06T02:17:10.5+02:00 stdout F:x hi").unwrap();
        assert_eq!((p.time, p.partial), (at(1475713030, 500_000_000), false));
    }

    #[test]
    fn cri_lines_that_are_not() {
        assert_eq!(parse_cri(b"hello"), Err(FormatError::CriFields));
        assert_eq!(parse_cri(b"2016-10-06T00:17:10Z stdin F x"), Err(FormatError::Stream("stdin".into())));
        assert_eq!(parse_cri(b"yesterday stdout F x"), Err(FormatError::Time("yesterday".into())));
    }

    #[test]
    fn docker_json_file_lines() {
        let p = parse_docker(br#"{"log":"hello \"world\"\n","stream":"stderr","time":"2019-04-30T13:01:02.123456789Z"}"#).unwrap();
        assert_eq!(p, Piece { time: at(1556629262, 123456789), stream: Stream::Stderr, partial: false, text: "hello \"world\"".into() });
        let p = parse_docker(br#"{"log":"no newline yet","stream":"stdout","time":"2019-04-30T13:01:02Z"}"#).unwrap();
        assert!(p.partial);
        assert!(matches!(parse_docker(b"{\"stream\":\"stdout\"}"), Err(FormatError::Docker(_))));
        assert_eq!(Format::detect(br#"{"log":"x"}"#), Format::Docker);
        assert_eq!(Format::detect(b"2016-10-06T00:17:10Z stdout F x"), Format::Cri);
    }

    fn piece(stream: Stream, partial: bool, text: &str) -> Piece {
        Piece { time: at(1, 0), stream, partial, text: text.into() }
    }

    #[test]
    fn pieces_join_per_stream_and_keep_the_first_offset() {
        let mut j = Joiner::new(1 << 20);
        let mut out = Vec::new();
        j.push(piece(Stream::Stdout, true, "ab"), 0, &mut out);
        j.push(piece(Stream::Stderr, false, "err"), 10, &mut out);
        assert_eq!(j.held_from(), Some(0));
        j.push(piece(Stream::Stdout, true, "cd"), 20, &mut out);
        j.push(piece(Stream::Stdout, false, "ef"), 30, &mut out);
        let got: Vec<(&str, &str, u64)> = out.iter().map(|l| (l.stream.as_str(), l.text.as_str(), l.offset)).collect();
        assert_eq!(got, vec![("stderr", "err", 10), ("stdout", "abcdef", 0)]);
        assert_eq!(j.held_from(), None);
    }

    #[test]
    fn lines_over_the_cap_are_cut_into_marked_pieces() {
        let mut j = Joiner::new(4);
        let mut out = Vec::new();
        j.push(piece(Stream::Stdout, true, "abc"), 0, &mut out);
        j.push(piece(Stream::Stdout, true, "defgh"), 5, &mut out);
        j.push(piece(Stream::Stdout, false, "ij"), 9, &mut out);
        let got: Vec<(&str, bool)> = out.iter().map(|l| (l.text.as_str(), l.split)).collect();
        assert_eq!(got, vec![("abcd", true), ("efgh", true), ("ij", true)]);
        // Exactly at the cap: no empty last piece.
        let mut out = Vec::new();
        j.push(piece(Stream::Stdout, false, "wxyz1234"), 0, &mut out);
        let got: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, vec!["wxyz", "1234"]);
        // Never inside a UTF-8 character.
        let mut out = Vec::new();
        j.push(piece(Stream::Stdout, false, "aéé"), 0, &mut out);
        let got: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(got, vec!["aé", "é"]);
    }
}

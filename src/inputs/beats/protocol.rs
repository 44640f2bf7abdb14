//! Lumberjack frames on the wire: parsing what a Beat sends, encoding what the server answers.
//!
//! Every frame starts with a version byte (`'1'` or `'2'`) and a frame type byte, followed by
//! big-endian unsigned 32-bit fields:
//!
//! | type | payload                                                          | sent by |
//! |------|------------------------------------------------------------------|---------|
//! | `W`  | window size: how many data frames the client sends before waiting | client  |
//! | `J`  | sequence number, payload length, a JSON document (v2)            | client  |
//! | `D`  | sequence number, pair count, then per pair key length, key, value length, value (v1) | client |
//! | `C`  | payload length, a zlib stream that inflates to further whole frames | client |
//! | `A`  | the sequence number of the last event the server has taken care of | server |
//!
//! This module is pure: it looks at bytes and says "here is a frame and its length", "I need more
//! bytes" or "this is not Lumberjack", and it inflates compressed payloads under a size cap so a
//! few kilobytes cannot expand into gigabytes. It keeps no state between frames; the window
//! bookkeeping lives in `connection.rs`. Length fields are checked against the limits before a
//! single byte of the frame is buffered, so a peer cannot make the server allocate what it
//! announces.

use flate2::{Decompress, FlushDecompress, Status};

pub const VERSION_1: u8 = b'1';
pub const VERSION_2: u8 = b'2';

const FRAME_WINDOW: u8 = b'W';
const FRAME_JSON: u8 = b'J';
const FRAME_DATA: u8 = b'D';
const FRAME_COMPRESSED: u8 = b'C';
const FRAME_ACK: u8 = b'A';

/// The most key/value pairs a v1 data frame may hold. logstash-forwarder sends a handful; the
/// cap keeps re-walking a frame that arrives in pieces cheap.
pub const MAX_V1_PAIRS: u32 = 8192;

/// How large a peer may make things before its connection is closed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest frame payload: one JSON document, one v1 data frame, one compressed frame
    /// before inflating, and what one compressed frame may inflate to.
    pub max_frame_bytes: usize,
    /// The most events one window may announce.
    pub max_window_size: u32,
    /// The most payload bytes one window may carry in total (after inflating).
    pub max_window_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_frame_bytes: 64 << 20, max_window_size: 100_000, max_window_bytes: 256 << 20 }
    }
}

/// One frame, borrowing its payload from the buffer it was parsed from.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Window { version: u8, size: u32 },
    Json { version: u8, seq: u32, payload: &'a [u8] },
    Data { version: u8, seq: u32, pairs: Pairs<'a> },
    Compressed { version: u8, payload: &'a [u8] },
}

/// What the parser found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole frame and how many bytes it took.
    Frame(Frame<'a>, usize),
    /// Not enough bytes yet; the frame needs at least this many in total.
    Incomplete(usize),
}

/// Why a connection's byte stream is not acceptable Lumberjack. Each maps to a metric reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unsupported protocol version byte {0:#04x} (expected '1' or '2')")]
    BadVersion(u8),
    #[error("unknown frame type {0:#04x}")]
    UnknownFrameType(u8),
    #[error("the server does not accept frame type 'A' from a client")]
    UnexpectedAck,
    #[error("{what} of {len} bytes is over the limit of {limit} bytes")]
    FrameTooLarge { what: &'static str, len: u64, limit: usize },
    #[error("a window of {size} events is over the limit of {limit}")]
    WindowTooLarge { size: u32, limit: u32 },
    #[error("the window's payloads add up to more than {limit} bytes")]
    WindowBytesTooLarge { limit: usize },
    #[error("a JSON frame with an empty payload")]
    EmptyPayload,
    #[error("a v1 data frame with no key/value pairs")]
    NoPairs,
    #[error("a v1 data frame with {0} key/value pairs (at most {MAX_V1_PAIRS})")]
    TooManyPairs(u32),
    #[error("a data frame arrived outside any window (no 'W' frame before it)")]
    DataOutsideWindow,
    #[error("the compressed payload is not a valid zlib stream: {0}")]
    BadCompression(String),
    #[error("the compressed payload inflates to more than {limit} bytes")]
    DecompressionLimit { limit: usize },
    #[error("the compressed payload ends in the middle of a frame")]
    TruncatedCompressed,
    #[error("compressed frames nested more than {0} deep")]
    NestedTooDeep(usize),
}

impl ProtocolError {
    /// The failure reason the plugin's metrics count this under.
    pub fn reason(&self) -> &'static str {
        match self {
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::WindowTooLarge { .. }
            | ProtocolError::WindowBytesTooLarge { .. }
            | ProtocolError::TooManyPairs(_) => "frame_too_large",
            ProtocolError::DecompressionLimit { .. } => "decompression_limit",
            _ => "protocol_error",
        }
    }
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn check_len(what: &'static str, len: u64, limit: usize) -> Result<usize, ProtocolError> {
    if len > limit as u64 {
        return Err(ProtocolError::FrameTooLarge { what, len, limit });
    }
    Ok(len as usize)
}

/// Parse the frame at the start of `buf`.
pub fn parse_frame<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ProtocolError> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete(1));
    }
    let version = buf[0];
    if version != VERSION_1 && version != VERSION_2 {
        return Err(ProtocolError::BadVersion(version));
    }
    if buf.len() < 2 {
        return Ok(Parsed::Incomplete(2));
    }
    match buf[1] {
        FRAME_WINDOW => {
            if buf.len() < 6 {
                return Ok(Parsed::Incomplete(6));
            }
            let size = u32_at(buf, 2);
            if size > limits.max_window_size {
                return Err(ProtocolError::WindowTooLarge { size, limit: limits.max_window_size });
            }
            Ok(Parsed::Frame(Frame::Window { version, size }, 6))
        }
        FRAME_JSON => {
            if buf.len() < 10 {
                return Ok(Parsed::Incomplete(10));
            }
            let seq = u32_at(buf, 2);
            let len = check_len("a JSON frame", u64::from(u32_at(buf, 6)), limits.max_frame_bytes)?;
            if len == 0 {
                return Err(ProtocolError::EmptyPayload);
            }
            let total = 10 + len;
            if buf.len() < total {
                return Ok(Parsed::Incomplete(total));
            }
            Ok(Parsed::Frame(Frame::Json { version, seq, payload: &buf[10..total] }, total))
        }
        FRAME_COMPRESSED => {
            if buf.len() < 6 {
                return Ok(Parsed::Incomplete(6));
            }
            let len = check_len("a compressed frame", u64::from(u32_at(buf, 2)), limits.max_frame_bytes)?;
            let total = 6 + len;
            if buf.len() < total {
                return Ok(Parsed::Incomplete(total));
            }
            Ok(Parsed::Frame(Frame::Compressed { version, payload: &buf[6..total] }, total))
        }
        FRAME_DATA => parse_data(buf, version, limits),
        FRAME_ACK => Err(ProtocolError::UnexpectedAck),
        other => Err(ProtocolError::UnknownFrameType(other)),
    }
}

/// A v1 data frame has no overall length: walk its pairs to find where it ends, checking each
/// length as it comes so a frame cannot claim more than the limit.
fn parse_data<'a>(buf: &'a [u8], version: u8, limits: &Limits) -> Result<Parsed<'a>, ProtocolError> {
    if buf.len() < 10 {
        return Ok(Parsed::Incomplete(10));
    }
    let seq = u32_at(buf, 2);
    let count = u32_at(buf, 6);
    if count == 0 {
        return Err(ProtocolError::NoPairs);
    }
    if count > MAX_V1_PAIRS {
        return Err(ProtocolError::TooManyPairs(count));
    }
    // Each pair takes at least its two length fields.
    check_len("a v1 data frame", u64::from(count) * 8, limits.max_frame_bytes)?;
    let mut at = 10usize;
    for _ in 0..count * 2 {
        if buf.len() < at + 4 {
            return Ok(Parsed::Incomplete(at + 4));
        }
        let len = u32_at(buf, at) as u64;
        let end = check_len("a v1 data frame", (at - 10) as u64 + 4 + len, limits.max_frame_bytes)? + 10;
        at = end;
    }
    if buf.len() < at {
        return Ok(Parsed::Incomplete(at));
    }
    Ok(Parsed::Frame(Frame::Data { version, seq, pairs: Pairs { count, body: &buf[10..at] } }, at))
}

/// The key/value pairs of a v1 data frame, already bounds-checked by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pairs<'a> {
    count: u32,
    body: &'a [u8],
}

impl<'a> Pairs<'a> {
    pub fn iter(&self) -> PairsIter<'a> {
        PairsIter { rest: self.body, left: self.count }
    }
}

pub struct PairsIter<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> PairsIter<'a> {
    fn take(&mut self) -> Option<&'a [u8]> {
        if self.rest.len() < 4 {
            return None;
        }
        let len = u32_at(self.rest, 0) as usize;
        let bytes = self.rest.get(4..4 + len)?;
        self.rest = &self.rest[4 + len..];
        Some(bytes)
    }
}

impl<'a> Iterator for PairsIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.take()?;
        let value = self.take()?;
        Some((key, value))
    }
}

/// Inflate a compressed frame's zlib payload, refusing to produce more than `limit` bytes.
///
/// Inflating in steps with a growing buffer means a bomb costs at most `limit` bytes of memory
/// and the time to produce them, never what the stream would expand to. Bytes after the end of
/// the zlib stream are ignored, as Elastic's own server does.
pub fn inflate(payload: &[u8], limit: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut z = Decompress::new(true);
    // Room for one byte past the limit, so "over the limit" is seen rather than guessed.
    let ceiling = limit.saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(payload.len().saturating_mul(4).clamp(1024, ceiling));
    loop {
        if out.len() == out.capacity() {
            let grow = out.capacity().max(1024).min(ceiling - out.len());
            out.reserve_exact(grow);
        }
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let rest = payload.get(in_before as usize..).unwrap_or_default();
        let status = z
            .decompress_vec(rest, &mut out, FlushDecompress::None)
            .map_err(|e| ProtocolError::BadCompression(e.to_string()))?;
        if out.len() > limit {
            return Err(ProtocolError::DecompressionLimit { limit });
        }
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                if z.total_in() == in_before && z.total_out() == out_before {
                    // No progress with room left to write: the input ended before the stream did.
                    return Err(ProtocolError::BadCompression("the zlib stream is incomplete".into()));
                }
            }
        }
    }
}

/// The ACK frame for `seq` in the protocol version of the window it answers.
pub fn ack_frame(version: u8, seq: u32) -> [u8; 6] {
    let s = seq.to_be_bytes();
    [version, FRAME_ACK, s[0], s[1], s[2], s[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::ZlibEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn limits() -> Limits {
        Limits { max_frame_bytes: 1024, max_window_size: 100, max_window_bytes: 4096 }
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn window_frame_is_six_bytes() {
        let buf = [b'2', b'W', 0, 0, 0, 0x40, 0xff];
        assert_eq!(parse_frame(&buf, &limits()).unwrap(), Parsed::Frame(Frame::Window { version: b'2', size: 64 }, 6));
        assert_eq!(parse_frame(&buf[..4], &limits()).unwrap(), Parsed::Incomplete(6));
    }

    #[test]
    fn json_frame_borrows_its_payload() {
        let mut buf = vec![b'2', b'J', 0, 0, 0, 7, 0, 0, 0, 2];
        buf.extend_from_slice(b"{}rest");
        match parse_frame(&buf, &limits()).unwrap() {
            Parsed::Frame(Frame::Json { version, seq, payload }, used) => {
                assert_eq!((version, seq, payload, used), (b'2', 7, &b"{}"[..], 12));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_frames_say_how_much_they_need() {
        let buf = [b'2', b'J', 0, 0, 0, 1, 0, 0, 0, 20, b'{'];
        assert_eq!(parse_frame(&buf, &limits()).unwrap(), Parsed::Incomplete(30));
        assert_eq!(parse_frame(&buf[..5], &limits()).unwrap(), Parsed::Incomplete(10));
        assert_eq!(parse_frame(&buf[..1], &limits()).unwrap(), Parsed::Incomplete(2));
    }

    #[test]
    fn oversized_lengths_are_refused_before_buffering() {
        let buf = [b'2', b'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(parse_frame(&buf, &limits()), Err(ProtocolError::FrameTooLarge { len: 4294967295, .. })));
        let buf = [b'2', b'C', 0, 0, 0x04, 0x01];
        assert!(matches!(parse_frame(&buf, &limits()), Err(ProtocolError::FrameTooLarge { len: 1025, .. })));
        let buf = [b'2', b'W', 0, 0, 0, 101];
        assert_eq!(parse_frame(&buf, &limits()), Err(ProtocolError::WindowTooLarge { size: 101, limit: 100 }));
    }

    #[test]
    fn bad_version_and_frame_type_are_errors() {
        assert_eq!(parse_frame(b"3W", &limits()), Err(ProtocolError::BadVersion(b'3')));
        assert_eq!(parse_frame(b"GET / HTTP/1.1", &limits()), Err(ProtocolError::BadVersion(b'G')));
        assert_eq!(parse_frame(b"2X", &limits()), Err(ProtocolError::UnknownFrameType(b'X')));
        assert_eq!(parse_frame(b"2A\0\0\0\0", &limits()), Err(ProtocolError::UnexpectedAck));
        assert_eq!(parse_frame(b"2J\0\0\0\x01\0\0\0\0", &limits()), Err(ProtocolError::EmptyPayload));
    }

    #[test]
    fn v1_data_frame_pairs() {
        // 1D, seq 5, two pairs: line=hello, host=h1
        let mut buf = vec![b'1', b'D', 0, 0, 0, 5, 0, 0, 0, 2];
        for s in ["line", "hello", "host", "h1"] {
            buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        let total = buf.len();
        buf.extend_from_slice(b"1W");
        match parse_frame(&buf, &limits()).unwrap() {
            Parsed::Frame(Frame::Data { version, seq, pairs }, used) => {
                assert_eq!((version, seq, used), (b'1', 5, total));
                let got: Vec<(&[u8], &[u8])> = pairs.iter().collect();
                assert_eq!(got, vec![(&b"line"[..], &b"hello"[..]), (&b"host"[..], &b"h1"[..])]);
            }
            other => panic!("{other:?}"),
        }
        // Cut anywhere inside, it is incomplete, never an error.
        for cut in 0..total {
            assert!(matches!(parse_frame(&buf[..cut], &limits()), Ok(Parsed::Incomplete(n)) if n > cut), "cut at {cut}");
        }
        assert_eq!(parse_frame(b"1D\0\0\0\x01\0\0\0\0", &limits()), Err(ProtocolError::NoPairs));
        assert_eq!(parse_frame(b"1D\0\0\0\x01\0\0\x20\x01", &limits()), Err(ProtocolError::TooManyPairs(8193)));
    }

    #[test]
    fn inflate_round_trips_and_caps_output() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = zlib(&data);
        assert_eq!(inflate(&z, 40_000).unwrap(), data);
        assert_eq!(inflate(&z, 39_999), Err(ProtocolError::DecompressionLimit { limit: 39_999 }));
        // A bomb: 50 MB of zeros in a few kilobytes, refused at a 1 MB cap.
        let bomb = zlib(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100_000);
        assert_eq!(inflate(&bomb, 1 << 20), Err(ProtocolError::DecompressionLimit { limit: 1 << 20 }));
    }

    #[test]
    fn inflate_rejects_garbage_and_truncated_streams() {
        assert!(matches!(inflate(b"definitely not zlib", 1024), Err(ProtocolError::BadCompression(_))));
        let z = zlib(b"hello hello hello hello");
        assert!(matches!(inflate(&z[..z.len() - 3], 1024), Err(ProtocolError::BadCompression(_))));
        assert!(matches!(inflate(&[], 1024), Err(ProtocolError::BadCompression(_))));
    }

    #[test]
    fn ack_frames() {
        assert_eq!(ack_frame(b'2', 2048), [b'2', b'A', 0, 0, 8, 0]);
        assert_eq!(ack_frame(b'1', 1), [b'1', b'A', 0, 0, 0, 1]);
    }
}

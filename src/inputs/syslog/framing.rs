//! Syslog over a stream (RFC 6587): where one message ends and the next begins.
//!
//! Two framings exist and a sender uses one per connection, so the first byte of a connection
//! decides: a digit means octet counting (`<length> <message>`, the framing RFC 5425 requires
//! over TLS and rsyslog's `TCP_Framing="octet-counted"` sends), anything else means
//! non-transparent framing, where a trailer ends each message: LF, also NUL (some senders use it),
//! and a CR before either is dropped. Empty messages between trailers are skipped.
//!
//! A message longer than `max_message_bytes` is cut there: its start becomes the message (and
//! the input tags it) and the rest is skipped, so one runaway sender cannot exhaust memory. An
//! octet-counted stream that stops making sense (no length where one must be) falls back to
//! trailers for the rest of the connection rather than dropping it. When the connection ends,
//! an unterminated last message is returned as well.

use bytes::BytesMut;

/// The longest length prefix read: ten digits is already more than any limit.
const MAX_LENGTH_DIGITS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    OctetCounting,
    Trailer,
}

#[derive(Debug)]
pub struct Framer {
    framing: Option<Framing>,
    max: usize,
    /// Octet counting: bytes of an over-long message still to skip.
    skip: usize,
    /// Trailers: inside the tail of an over-long message, skipping to the next trailer.
    discarding: bool,
    /// Trailers: bytes of the buffer already searched for a trailer.
    scanned: usize,
    /// The stream switched from octet counting to trailers; reported once.
    pub fell_back: bool,
}

#[derive(Debug)]
pub struct Frame {
    pub bytes: BytesMut,
    pub truncated: bool,
}

impl Framer {
    pub fn new(max_message_bytes: usize) -> Framer {
        Framer { framing: None, max: max_message_bytes.max(1), skip: 0, discarding: false, scanned: 0, fell_back: false }
    }

    /// The framing the connection uses, once its first byte has arrived.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// The next complete message in `buf`, removing it (and its framing) from the buffer.
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            if buf.is_empty() {
                return None;
            }
            let framing = *self.framing.get_or_insert(if buf[0].is_ascii_digit() { Framing::OctetCounting } else { Framing::Trailer });
            let step = match framing {
                Framing::OctetCounting => self.octet_counted(buf),
                Framing::Trailer => self.trailer(buf),
            };
            match step {
                Step::Frame(f) => return Some(f),
                Step::NeedMore => return None,
                Step::Again => continue,
            }
        }
    }

    /// The connection ended: what is left in the buffer is the last message.
    pub fn finish(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        self.scanned = 0;
        if self.discarding || self.skip > 0 {
            self.discarding = false;
            self.skip = 0;
            buf.clear();
            return None;
        }
        if self.framing == Some(Framing::OctetCounting) {
            // A message cut short by the disconnect: whatever followed its length prefix.
            if let Some((len, digits)) = length_prefix(buf) {
                let mut frame = buf.split();
                let _ = frame.split_to(digits + 1);
                let truncated = frame.len() > self.max;
                frame.truncate(self.max.min(len));
                trim_trailers(&mut frame);
                return (!frame.is_empty()).then_some(Frame { bytes: frame, truncated });
            }
        }
        let mut frame = buf.split();
        let truncated = frame.len() > self.max;
        frame.truncate(self.max);
        trim_trailers(&mut frame);
        (!frame.is_empty()).then_some(Frame { bytes: frame, truncated })
    }

    fn octet_counted(&mut self, buf: &mut BytesMut) -> Step {
        if self.skip > 0 {
            let n = self.skip.min(buf.len());
            let _ = buf.split_to(n);
            self.skip -= n;
            return if self.skip == 0 { Step::Again } else { Step::NeedMore };
        }
        // Tolerate a trailer after a counted message (some senders add one).
        if matches!(buf[0], b'\n' | b'\r' | 0 | b' ') {
            let _ = buf.split_to(1);
            return Step::Again;
        }
        let digits = buf.iter().take(MAX_LENGTH_DIGITS + 1).take_while(|c| c.is_ascii_digit()).count();
        if digits == buf.len() && digits <= MAX_LENGTH_DIGITS {
            return Step::NeedMore;
        }
        let Some((len, digits)) = length_prefix(buf) else {
            self.framing = Some(Framing::Trailer);
            self.fell_back = true;
            return Step::Again;
        };
        if len <= self.max {
            if buf.len() < digits + 1 + len {
                // Room for the whole message, so the next reads need not grow the buffer again.
                buf.reserve(digits + 1 + len - buf.len());
                return Step::NeedMore;
            }
            let _ = buf.split_to(digits + 1);
            let mut frame = buf.split_to(len);
            trim_trailers(&mut frame);
            return if frame.is_empty() { Step::Again } else { Step::Frame(Frame { bytes: frame, truncated: false }) };
        }
        // Over-long: keep the first `max` bytes once they are here, skip the rest as it comes.
        if buf.len() < digits + 1 + self.max {
            return Step::NeedMore;
        }
        let _ = buf.split_to(digits + 1);
        let mut frame = buf.split_to(self.max);
        self.skip = len - self.max;
        trim_trailers(&mut frame);
        Step::Frame(Frame { bytes: frame, truncated: true })
    }

    fn trailer(&mut self, buf: &mut BytesMut) -> Step {
        let from = self.scanned.min(buf.len());
        match memchr::memchr2(b'\n', 0, &buf[from..]) {
            Some(at) => {
                let end = from + at;
                self.scanned = 0;
                let mut frame = buf.split_to(end + 1);
                frame.truncate(end);
                if self.discarding {
                    self.discarding = false;
                    return Step::Again;
                }
                trim_trailers(&mut frame);
                let truncated = frame.len() > self.max;
                frame.truncate(self.max);
                if frame.is_empty() {
                    return Step::Again;
                }
                Step::Frame(Frame { bytes: frame, truncated })
            }
            None if self.discarding => {
                buf.clear();
                self.scanned = 0;
                Step::NeedMore
            }
            None if buf.len() > self.max => {
                let mut frame = buf.split_to(self.max);
                buf.clear();
                self.discarding = true;
                self.scanned = 0;
                trim_trailers(&mut frame);
                Step::Frame(Frame { bytes: frame, truncated: true })
            }
            None => {
                self.scanned = buf.len();
                Step::NeedMore
            }
        }
    }
}

enum Step {
    Frame(Frame),
    NeedMore,
    Again,
}

/// `<digits> ` at the start of `buf`: the length and the number of digits. A length of zero or
/// with a leading zero is not one the RFC allows.
fn length_prefix(buf: &[u8]) -> Option<(usize, usize)> {
    let digits = buf.iter().take(MAX_LENGTH_DIGITS + 1).take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_LENGTH_DIGITS || buf[0] == b'0' || buf.get(digits) != Some(&b' ') {
        return None;
    }
    let len = buf[..digits].iter().fold(0usize, |n, c| n.saturating_mul(10).saturating_add(usize::from(c - b'0')));
    Some((len, digits))
}

/// Drop the LF, CR and NUL bytes that end a message (UDP datagrams carry them too).
pub fn trim_trailers(frame: &mut BytesMut) {
    let keep = frame.iter().rposition(|c| !matches!(c, b'\n' | b'\r' | 0)).map_or(0, |i| i + 1);
    frame.truncate(keep);
}

/// The same for a borrowed datagram.
pub fn trimmed(b: &[u8]) -> &[u8] {
    let keep = b.iter().rposition(|c| !matches!(c, b'\n' | b'\r' | 0)).map_or(0, |i| i + 1);
    &b[..keep]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pieces` one read at a time, then end the stream; the frames as (text, truncated).
    fn run(max: usize, pieces: &[&[u8]]) -> (Vec<(String, bool)>, Option<Framing>) {
        let mut f = Framer::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for p in pieces {
            buf.extend_from_slice(p);
            while let Some(fr) = f.next_frame(&mut buf) {
                out.push((String::from_utf8_lossy(&fr.bytes).into_owned(), fr.truncated));
            }
        }
        if let Some(fr) = f.finish(&mut buf) {
            out.push((String::from_utf8_lossy(&fr.bytes).into_owned(), fr.truncated));
        }
        (out, f.framing())
    }

    fn texts(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(s, t)| (s.to_string(), *t)).collect()
    }

    #[test]
    fn trailers_lf_crlf_and_nul() {
        let (got, framing) = run(100, &[b"<13>a\n<13>b\r\n<13>c\0<13>", b"d\n\n\r\n<13>e"]);
        assert_eq!(framing, Some(Framing::Trailer));
        assert_eq!(got, texts(&[("<13>a", false), ("<13>b", false), ("<13>c", false), ("<13>d", false), ("<13>e", false)]));
    }

    #[test]
    fn octet_counting_split_anywhere() {
        let stream = b"5 <13>a11 <13>b\nc d e7 <13>xyz";
        // Every way of cutting the stream in two gives the same messages.
        for cut in 0..=stream.len() {
            let (got, framing) = run(100, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(framing, Some(Framing::OctetCounting), "cut at {cut}");
            assert_eq!(got, texts(&[("<13>a", false), ("<13>b\nc d e", false), ("<13>xyz", false)]), "cut at {cut}");
        }
    }

    #[test]
    fn octet_counting_tolerates_trailers_between_messages() {
        let (got, _) = run(100, &[b"3 abc\n3 def\r\n"]);
        assert_eq!(got, texts(&[("abc", false), ("def", false)]));
    }

    #[test]
    fn over_long_messages_are_cut_and_the_rest_skipped() {
        let (got, _) = run(4, &[b"abcdefgh\nok\n", b"123456", b"789\nlast"]);
        assert_eq!(got, texts(&[("abcd", true), ("ok", false), ("1234", true), ("last", false)]));
        let (got, _) = run(4, &[b"10 0123456789", b"3 abc"]);
        assert_eq!(got, texts(&[("0123", true), ("abc", false)]));
        let (got, _) = run(4, &[b"10 01234", b"56789", b"2 ok"]);
        assert_eq!(got, texts(&[("0123", true), ("ok", false)]));
    }

    #[test]
    fn a_partial_last_message_is_flushed() {
        let (got, _) = run(100, &[b"<13>a\n<13>partial"]);
        assert_eq!(got, texts(&[("<13>a", false), ("<13>partial", false)]));
        let (got, _) = run(100, &[b"5 <13>a20 <13>cut short"]);
        assert_eq!(got, texts(&[("<13>a", false), ("<13>cut short", false)]));
    }

    #[test]
    fn garbage_in_an_octet_counted_stream_falls_back_to_trailers() {
        let mut f = Framer::new(100);
        let mut buf = BytesMut::from(&b"3 abcnot a length\nnext\n"[..]);
        let mut got = Vec::new();
        while let Some(fr) = f.next_frame(&mut buf) {
            got.push(String::from_utf8_lossy(&fr.bytes).into_owned());
        }
        assert_eq!(got, vec!["abc", "not a length", "next"]);
        assert!(f.fell_back);
        assert_eq!(f.framing(), Some(Framing::Trailer));
    }

    #[test]
    fn trimming() {
        assert_eq!(trimmed(b"<13>x\r\n\0"), b"<13>x");
        assert_eq!(trimmed(b"\n"), b"");
    }
}

//! The `json` codec on a stream: one JSON document after another, however the bytes arrive.
//!
//! Documents may span reads and lines (pretty-printed JSON). Text that is not JSON is cut at the
//! next newline and kept as a `_jsonparsefailure` event, so one bad document cannot wedge the
//! stream; a document still incomplete beyond the size limit is treated the same way.

use super::json_lines::{decode_document, failure_event};
use crate::event::{Event, Value};
use bytes::{Buf, BytesMut};
use chrono::{DateTime, Utc};

#[derive(Debug)]
pub struct JsonStream {
    max: usize,
}

impl JsonStream {
    pub fn new(max: usize) -> JsonStream {
        JsonStream { max: max.max(1) }
    }

    pub fn decode(&mut self, buf: &mut BytesMut, now: DateTime<Utc>, out: &mut Vec<Event>, at_end: bool) {
        loop {
            let skip = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            buf.advance(skip);
            if buf.is_empty() {
                return;
            }
            let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
            match stream.next() {
                Some(Ok(_)) => {
                    let end = stream.byte_offset();
                    let doc = buf.split_to(end);
                    decode_document(&doc, now, out);
                }
                Some(Err(e)) if e.is_eof() && !at_end && buf.len() <= self.max => return,
                Some(Err(_)) | None => {
                    // Not JSON (or never completed): keep the text up to the next newline.
                    let end = memchr::memchr(b'\n', buf).map(|i| i + 1).unwrap_or(buf.len());
                    if end == buf.len() && !at_end && buf.len() <= self.max && memchr::memchr(b'\n', buf).is_none() {
                        return;
                    }
                    let bad = buf.split_to(end);
                    out.push(failure_event(bad.trim_ascii_end(), now));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_across_reads_and_lines() {
        let mut j = JsonStream::new(1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in ["{\"a\":", "1}{\"a\"", ":\n 2} not json\n{\"a\":3}"] {
            buf.extend_from_slice(piece.as_bytes());
            j.decode(&mut buf, Utc::now(), &mut out, false);
        }
        j.decode(&mut buf, Utc::now(), &mut out, true);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].fields()["a"], json!(1));
        assert_eq!(out[1].fields()["a"], json!(2));
        assert_eq!(out[2].fields()["message"], json!("not json"));
        assert!(out[2].has_tag(super::super::JSON_PARSE_FAILURE_TAG));
        assert_eq!(out[3].fields()["a"], json!(3));
    }
}

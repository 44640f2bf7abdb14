//! Codecs: bytes to events at an input, events to bytes at an output.
//!
//! A codec block (`codec => json_lines` or `codec => line { format => "%{message}" }`) compiles
//! into a `Codec`. Inputs ask it for a `Decoder` per connection (decoders keep the partial line
//! between reads); outputs call `encode` per event. The set of codecs is closed, so they are an
//! enum rather than trait objects: the per-event call is a match, not a virtual call.

pub mod dots;
pub mod json;
pub mod json_lines;
pub mod line;
pub mod plain;
pub mod rubydebug;

use crate::config::args::{Args, EnvLookup};
use crate::config::ast::{self, ValueKind};
use crate::config::error::{did_you_mean, ConfigError};
use crate::event::{Event, Template};
use bytes::BytesMut;
use chrono::{DateTime, Utc};

pub use line::LineFramer;

/// Tag on an event whose line was longer than `max_line_bytes` and was cut.
pub const LINE_TRUNCATED_TAG: &str = "_line_truncated";
/// Tag on an event whose text was not valid JSON; the text is kept in `message`.
pub const JSON_PARSE_FAILURE_TAG: &str = "_jsonparsefailure";

pub const CODECS: &[&str] = &["line", "plain", "json", "json_lines", "rubydebug", "dots"];

#[derive(Debug, Clone)]
pub enum Codec {
    Line { delimiter: Vec<u8>, format: Option<Template> },
    Plain { format: Option<Template> },
    Json,
    JsonLines { delimiter: Vec<u8> },
    Rubydebug { metadata: bool },
    Dots,
}

/// How a decoder frames its input; the input plugin decides the limits.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Longest line kept whole; longer ones are cut and tagged `_line_truncated`.
    pub max_line_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_line_bytes: 20 * 1024 * 1024 }
    }
}

impl Codec {
    /// Read the `codec` option of a plugin block, with the plugin's default codec.
    pub fn from_args(args: &mut Args, default: &str) -> Result<Codec, ConfigError> {
        let env = args.env();
        match args.raw("codec")? {
            None => Codec::named(default, None, env),
            Some(v) => match &v.kind {
                ValueKind::Bareword(name) | ValueKind::String(name) => Codec::named(name, Some(v), env),
                ValueKind::Plugin(p) => Codec::build(p, env),
                _ => Err(ConfigError::at(v.span, "`codec` takes a codec name, like codec => json_lines")),
            },
        }
    }

    fn named(name: &str, at: Option<&ast::Value>, env: &EnvLookup) -> Result<Codec, ConfigError> {
        let plugin = ast::Plugin {
            name: name.to_string(),
            name_span: at.map(|v| v.span).unwrap_or_default(),
            attributes: Vec::new(),
            span: at.map(|v| v.span).unwrap_or_default(),
        };
        Codec::build(&plugin, env)
    }

    fn build(p: &ast::Plugin, env: &EnvLookup) -> Result<Codec, ConfigError> {
        let mut args = Args::new("codec", p, env);
        let codec = match p.name.as_str() {
            "line" => Codec::Line {
                delimiter: args.string_or("delimiter", "\n")?.into_bytes(),
                format: args.template("format")?,
            },
            "plain" => Codec::Plain { format: args.template("format")? },
            "json" => {
                let _ = args.string("charset")?;
                Codec::Json
            }
            "json_lines" => {
                let _ = args.string("charset")?;
                Codec::JsonLines { delimiter: args.string_or("delimiter", "\n")?.into_bytes() }
            }
            "rubydebug" => Codec::Rubydebug { metadata: args.bool("metadata", false)? },
            "dots" => Codec::Dots,
            other => {
                let err = ConfigError::at(p.name_span, format!("unknown codec `{other}`"));
                return Err(match did_you_mean(other, CODECS.iter().copied()) {
                    Some(m) => err.with_help(format!("did you mean `{m}`?")),
                    None => err.with_help(format!("known codecs: {}", CODECS.join(", "))),
                });
            }
        };
        if let Some(e) = args.unknown().into_iter().next() {
            return Err(e);
        }
        if let Codec::Line { delimiter, .. } | Codec::JsonLines { delimiter } = &codec {
            if delimiter.is_empty() {
                return Err(ConfigError::at(p.name_span, "`delimiter` must not be empty"));
            }
        }
        Ok(codec)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Codec::Line { .. } => "line",
            Codec::Plain { .. } => "plain",
            Codec::Json => "json",
            Codec::JsonLines { .. } => "json_lines",
            Codec::Rubydebug { .. } => "rubydebug",
            Codec::Dots => "dots",
        }
    }

    /// A decoder for one stream (a connection, a file, stdin).
    pub fn decoder(&self, limits: DecodeLimits) -> Decoder {
        let kind = match self {
            Codec::Line { delimiter, .. } => DecoderKind::Line(LineFramer::new(delimiter.clone(), limits.max_line_bytes)),
            Codec::JsonLines { delimiter } => DecoderKind::JsonLines(LineFramer::new(delimiter.clone(), limits.max_line_bytes)),
            Codec::Json => DecoderKind::Json(json::JsonStream::new(limits.max_line_bytes)),
            // plain, rubydebug and dots decode a stream as its text, in the pieces it arrives in.
            Codec::Plain { .. } | Codec::Rubydebug { .. } | Codec::Dots => DecoderKind::Plain,
        };
        Decoder { kind }
    }

    /// Append one event's bytes.
    pub fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        match self {
            Codec::Line { delimiter, format } => {
                plain::write_formatted(event, format.as_ref(), out);
                out.extend_from_slice(delimiter);
            }
            Codec::Plain { format } => plain::write_formatted(event, format.as_ref(), out),
            Codec::Json => event.write_json(out),
            Codec::JsonLines { delimiter } => {
                event.write_json(out);
                out.extend_from_slice(delimiter);
            }
            Codec::Rubydebug { metadata } => rubydebug::write(event, *metadata, out),
            Codec::Dots => out.push(b'.'),
        }
    }
}

/// What [`Decoder::decode_or_frame`] took from a stream: events, or, for the line codecs,
/// complete frames whose decoding is left to the pipeline worker that takes them.
pub enum Decoded {
    Events(Vec<Event>),
    Frames(Frames),
}

/// Complete lines taken off a stream, decoded later with the time they were read.
pub struct Frames {
    json: bool,
    frames: Vec<line::Frame>,
    now: DateTime<Utc>,
}

impl Frames {
    /// How many lines (for the line codecs, about as many events).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn decode(self, out: &mut Vec<Event>) {
        out.reserve(self.frames.len());
        for frame in self.frames {
            if self.json {
                json_lines::decode_line(&frame.bytes, frame.truncated, self.now, out);
            } else {
                out.push(line::event_from_frame(&frame.bytes, frame.truncated, self.now));
            }
        }
    }
}

/// Per-stream decoding state.
#[derive(Debug)]
pub struct Decoder {
    kind: DecoderKind,
}

#[derive(Debug)]
enum DecoderKind {
    Line(LineFramer),
    JsonLines(LineFramer),
    Json(json::JsonStream),
    Plain,
}

impl Decoder {
    /// Decode every complete event in `buf`, leaving an incomplete tail in it.
    pub fn decode(&mut self, buf: &mut BytesMut, now: DateTime<Utc>, out: &mut Vec<Event>) {
        match &mut self.kind {
            DecoderKind::Line(f) => {
                while let Some(frame) = f.next_frame(buf) {
                    out.push(line::event_from_frame(&frame.bytes, frame.truncated, now));
                }
            }
            DecoderKind::JsonLines(f) => {
                while let Some(frame) = f.next_frame(buf) {
                    json_lines::decode_line(&frame.bytes, frame.truncated, now, out);
                }
            }
            DecoderKind::Json(j) => j.decode(buf, now, out, false),
            DecoderKind::Plain => {
                if !buf.is_empty() {
                    let bytes = buf.split();
                    out.push(Event::with_message(String::from_utf8_lossy(&bytes).into_owned(), now));
                }
            }
        }
    }

    /// The stream ended: whatever is left (a line without its newline) becomes events.
    pub fn flush(&mut self, buf: &mut BytesMut, now: DateTime<Utc>, out: &mut Vec<Event>) {
        self.decode(buf, now, out);
        match &mut self.kind {
            DecoderKind::Line(f) => {
                if let Some(frame) = f.take_rest(buf) {
                    out.push(line::event_from_frame(&frame.bytes, frame.truncated, now));
                }
            }
            DecoderKind::JsonLines(f) => {
                if let Some(frame) = f.take_rest(buf) {
                    json_lines::decode_line(&frame.bytes, frame.truncated, now, out);
                }
            }
            DecoderKind::Json(j) => j.decode(buf, now, out, true),
            DecoderKind::Plain => {}
        }
    }

    /// As `decode` (or `flush` when `at_end`), except that the line codecs only cut the lines
    /// and leave decoding them to whoever takes the [`Frames`].
    pub fn decode_or_frame(&mut self, buf: &mut BytesMut, now: DateTime<Utc>, at_end: bool) -> Decoded {
        let (f, json) = match &mut self.kind {
            DecoderKind::Line(f) => (f, false),
            DecoderKind::JsonLines(f) => (f, true),
            _ => {
                let mut events = Vec::new();
                if at_end {
                    self.flush(buf, now, &mut events);
                } else {
                    self.decode(buf, now, &mut events);
                }
                return Decoded::Events(events);
            }
        };
        let mut frames = Vec::new();
        while let Some(frame) = f.next_frame(buf) {
            frames.push(frame);
        }
        if at_end {
            frames.extend(f.take_rest(buf));
        }
        Decoded::Frames(Frames { json, frames, now })
    }

    /// Bytes dropped so far because lines were longer than the limit.
    pub fn truncated_lines(&self) -> u64 {
        match &self.kind {
            DecoderKind::Line(f) | DecoderKind::JsonLines(f) => f.truncated_lines(),
            _ => 0,
        }
    }
}

//! The `syslog` input: RFC 3164 and RFC 5424 messages over UDP and TCP on one port, as
//! Logstash's syslog input listens on both, with TLS (RFC 5425) on the TCP side when asked.
//!
//! Layout:
//! - `mod.rs`: the options, and what UDP and TCP share (turning a message into events, counting
//!   what went wrong).
//! - `decode.rs`: format detection and the event's fields (legacy or ECS names).
//! - `rfc3164.rs`, `rfc5424.rs`, `time.rs`: the parsers, hand-written scanners over bytes.
//! - `framing.rs`: where messages end on a stream (octet counting or trailers, per connection).
//! - `udp.rs`: one datagram, one message; a large socket buffer; kernel drops counted.
//! - `tcp.rs`: connections, PROXY protocol v1, backpressure; `tls.rs`: the rustls acceptor.
//!
//! sluice parses syslog with its own parsers rather than with grok: `grok_pattern` is accepted
//! only with Logstash's default value, and a custom one is a config error (use a `grok` filter
//! on `message` instead). `syslog_field` names where a non-default codec leaves the text.
//! UDP has no backpressure: when the pipeline is slower than the senders the socket buffer
//! fills and the kernel drops datagrams, which are counted (`sluice_udp_dropped_total`). TCP
//! connections stop being read while the queue is full, so their senders wait instead.

mod decode;
mod framing;
pub mod rfc3164;
pub mod rfc5424;
mod tcp;
pub mod time;
mod tls;
mod udp;

use super::{BoxFuture, Input, InputContext, InputError};
use crate::codec::{Codec, DecodeLimits, LINE_TRUNCATED_TAG};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, FieldRef, Value};
use crate::metrics::events::EventsFailed;
use crate::metrics::PluginMetrics;
use bytes::BytesMut;
use chrono::{DateTime, Utc};
use decode::{Decoder, Outcome, DATE_FAILURE_TAG, PARSE_FAILURE_TAG};
use std::sync::Arc;
use time::{MonthNames, Zone};

pub use decode::LOGSTASH_PARSE_FAILURE_TAG;

pub(super) const DEFAULT_FACILITY_LABELS: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP",
    "NTP",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
pub(super) const DEFAULT_SEVERITY_LABELS: [&str; 8] = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];

/// The grok patterns Logstash's syslog input uses by default (legacy and ECS); giving one of
/// them explicitly asks for nothing the built-in parser does not do.
const LOGSTASH_DEFAULT_PATTERNS: [&str; 3] =
    ["<%{POSINT:priority}>%{SYSLOGLINE}", "<%{POSINT:[log][syslog][priority]:int}>%{SYSLOGLINE}", "<%{POSINT:[log][syslog][priority]}>%{SYSLOGLINE}"];

pub struct Syslog {
    /// Address to listen on (UDP and TCP).
    host: String,
    port: u16,
    /// SO_RCVBUF asked for on the UDP socket.
    receive_buffer_bytes: usize,
    shared: Arc<Shared>,
}

/// What every connection and the UDP reader use.
pub(crate) struct Shared {
    decoder: Decoder,
    source: Source,
    /// Longest message kept whole; longer ones are cut and tagged `_line_truncated`.
    max_message_bytes: usize,
    /// Read a PROXY protocol v1 header at the start of each TCP connection.
    proxy_protocol: bool,
    tcp_keep_alive: bool,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Where the syslog text of a message is.
enum Source {
    /// The message itself (codec `plain` or `line`): parsed straight from the received bytes.
    Raw,
    /// Another codec decodes the message first; the text is then in `field`.
    Codec { codec: Codec, field: FieldRef },
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let host = args.string_or("host", "0.0.0.0")?;
    let port = args.integer("port", 514, 0, 65535)? as u16;
    let proxy_protocol = args.bool("proxy_protocol", false)?;
    let use_labels = args.bool("use_labels", true)?;
    let labels = |given: Vec<String>, default: &[&str]| -> Vec<Value> {
        if given.is_empty() {
            default.iter().map(|s| Value::String((*s).to_string())).collect()
        } else {
            given.into_iter().map(Value::String).collect()
        }
    };
    let facility_labels = labels(args.string_list("facility_labels")?, &DEFAULT_FACILITY_LABELS);
    let severity_labels = labels(args.string_list("severity_labels")?, &DEFAULT_SEVERITY_LABELS);
    let zone = match args.string("timezone")? {
        None => Zone::machine(),
        Some(text) => Zone::parse(&text).ok_or_else(|| {
            ConfigError::at(args.span_of("timezone"), format!("unknown time zone `{text}`"))
                .with_help("use an IANA zone id such as Europe/Paris, or an offset such as +01:00")
        })?,
    };
    let locale = args.string("locale")?;
    let months = match MonthNames::for_locale(locale.as_deref()) {
        Some(m) => m,
        None => {
            ctx.warn(ConfigError::at(
                args.span_of("locale"),
                format!("no month names known for locale `{}`; RFC 3164 timestamps will be read with English names", locale.as_deref().unwrap_or("")),
            ));
            MonthNames::English
        }
    };
    if let Some(pattern) = args.string("grok_pattern")? {
        if !LOGSTASH_DEFAULT_PATTERNS.contains(&pattern.as_str()) {
            return Err(ConfigError::at(
                args.span_of("grok_pattern"),
                "the syslog input parses RFC 3164 and RFC 5424 with its own parser and does not take a custom `grok_pattern`",
            )
            .with_help("remove it and match `message` with a grok filter, or parse the raw line with a tcp/udp input and grok"));
        }
    }
    let syslog_field = args.string_or("syslog_field", "message")?;
    let field = FieldRef::parse(&syslog_field).map_err(|e| ConfigError::at(args.span_of("syslog_field"), e.to_string()))?;
    let ecs = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], ecs_default(ctx))? != "disabled";
    let service_type = args.string_or("service_type", "system")?;
    let max_message_bytes = args.integer("max_message_bytes", 1024 * 1024, 64, i64::from(u32::MAX))? as usize;
    let receive_buffer_bytes = args.integer("receive_buffer_bytes", 8 * 1024 * 1024, 4096, i64::from(i32::MAX))? as usize;
    let tcp_keep_alive = args.bool("tcp_keep_alive", false)?;
    let tls = tls::from_args(args)?;
    let codec = Codec::from_args(args, "plain")?;
    let source = match &codec {
        Codec::Plain { format: None } | Codec::Line { format: None, .. } if syslog_field == "message" => Source::Raw,
        _ => Source::Codec { codec, field },
    };
    let decoder = Decoder {
        ecs,
        use_labels,
        facility_labels,
        severity_labels,
        service_type: (ecs && !service_type.is_empty()).then_some(Value::String(service_type)),
        zone,
        months,
    };
    let shared = Shared { decoder, source, max_message_bytes, proxy_protocol, tcp_keep_alive, tls };
    Ok(Box::new(Syslog { host, port, receive_buffer_bytes, shared: Arc::new(shared) }))
}

fn ecs_default(ctx: &BuildContext) -> &'static str {
    match ctx.ecs_compatibility.as_str() {
        "v1" => "v1",
        "v8" => "v8",
        _ => "disabled",
    }
}

impl Input for Syslog {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let udp = udp::Udp { host: self.host.clone(), port: self.port, receive_buffer_bytes: self.receive_buffer_bytes };
            let tcp = tcp::Tcp { host: self.host.clone(), port: self.port };
            tokio::join!(
                udp.run(self.shared.clone(), ctx.sink.clone(), ctx.metrics.clone(), ctx.shutdown.clone()),
                tcp.run(self.shared.clone(), ctx.sink.clone(), ctx.metrics.clone(), ctx.shutdown.clone()),
            );
            Ok(())
        })
    }
}

/// What went wrong in one batch of messages, counted once per batch.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    unparsed: u64,
    bad_dates: u64,
    truncated: u64,
}

impl Failures {
    fn emit(&mut self, metrics: &PluginMetrics) {
        EventsFailed { plugin: metrics, reason: PARSE_FAILURE_TAG, count: self.unparsed }.emit();
        EventsFailed { plugin: metrics, reason: DATE_FAILURE_TAG, count: self.bad_dates }.emit();
        EventsFailed { plugin: metrics, reason: LINE_TRUNCATED_TAG, count: self.truncated }.emit();
        *self = Failures::default();
    }
}

impl Shared {
    /// One received message (framing removed) as events: one with the plain codec, what the
    /// codec makes of it otherwise.
    fn decode(&self, message: &[u8], truncated: bool, peer: &Value, now: DateTime<Utc>, out: &mut Vec<Event>, failures: &mut Failures) {
        let first = out.len();
        match &self.source {
            Source::Raw => {
                let (event, outcome) = self.decoder.event(message, peer, now);
                count(outcome, failures);
                out.push(event);
            }
            Source::Codec { codec, field } => {
                let mut decoder = codec.decoder(DecodeLimits { max_line_bytes: self.max_message_bytes });
                let mut buf = BytesMut::from(message);
                decoder.flush(&mut buf, now, out);
                for event in &mut out[first..] {
                    let text = match event.get_value(field) {
                        Some(Value::String(s)) => Some(s.clone()),
                        _ => None,
                    };
                    let outcome = match text {
                        Some(text) => self.decoder.fill(event, text.as_bytes(), peer, now),
                        None => self.decoder.fill_missing(event, peer),
                    };
                    count(outcome, failures);
                }
            }
        }
        if truncated {
            failures.truncated += 1;
            for event in &mut out[first..] {
                event.add_tag(LINE_TRUNCATED_TAG);
            }
        }
    }
}

fn count(outcome: Outcome, failures: &mut Failures) {
    match outcome {
        Outcome::Parsed => {}
        Outcome::BadDate => failures.bad_dates += 1,
        Outcome::Unparsed => failures.unparsed += 1,
    }
}


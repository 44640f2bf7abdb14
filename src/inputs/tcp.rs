//! The `tcp` input in server mode: many clients, each decoded by its own codec state.
//!
//! Each connection is a task that reads, decodes and queues; while the queue is full it does not
//! read, so the client's TCP window closes instead of events being dropped. A client that goes
//! away in the middle of a line has that partial line flushed as an event. Events carry the
//! client's address in `host` and its port in `port`, as Logstash's tcp input sets them.

use super::{BoxFuture, EventSink, Input, InputContext, InputError};
use crate::codec::{Codec, DecodeLimits, Decoded, LINE_TRUNCATED_TAG};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Value;
use crate::metrics::events::EventsFailed;
use crate::metrics::PluginMetrics;
use bytes::BytesMut;
use chrono::Utc;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Tcp {
    host: String,
    port: u16,
    codec: Codec,
    limits: DecodeLimits,
    keep_alive: bool,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let host = args.string_or("host", "0.0.0.0")?;
    let port = args.integer("port", -1, 0, 65535)?;
    if port < 0 {
        return Err(args.error("input `tcp` requires the option `port`"));
    }
    let mode = args.choice("mode", &["server", "client"], "server")?;
    if mode == "client" {
        return Err(ConfigError::at(args.span_of("mode"), "the tcp input supports mode => server only"));
    }
    if args.bool("ssl_enabled", false)? || args.bool("ssl_enable", false)? {
        return Err(ConfigError::at(args.span_of("ssl_enabled"), "TLS on the tcp input is not supported yet; terminate TLS in front of it"));
    }
    let max_line_bytes = args.integer("max_line_bytes", 20 * 1024 * 1024, 1, i64::from(u32::MAX))? as usize;
    let keep_alive = args.bool("tcp_keep_alive", false)?;
    let _ = args.bool("dns_reverse_lookup_enabled", true)?;
    let _ = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], "disabled")?;
    let codec = Codec::from_args(args, "line")?;
    Ok(Box::new(Tcp { host, port: port as u16, codec, limits: DecodeLimits { max_line_bytes }, keep_alive }))
}

impl Input for Tcp {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let this = Arc::new(*self);
            let listener = match super::retry_bind("tcp input", &this.host, this.port, &ctx.shutdown, || TcpListener::bind((this.host.as_str(), this.port))).await {
                Some(l) => l,
                None => return Ok(()),
            };
            tracing::info!(address = %listener.local_addr()?, plugin_id = %ctx.metrics.id, "tcp input listening.");
            let InputContext { sink, shutdown, metrics } = ctx;
            super::serve_connections("tcp input", listener, &metrics, &shutdown, |stream, peer| {
                if this.keep_alive {
                    let _ = socket2_keepalive(&stream);
                }
                let conn = Connection { tcp: this.clone(), sink: sink.clone(), metrics: metrics.clone(), shutdown: shutdown.clone() };
                conn.serve(stream, peer)
            })
            .await;
            Ok(())
        })
    }
}


/// `host` and `port` of the client, unless the event brought its own.
fn stamp_peer(e: &mut crate::event::Event, host: &Value, port: &Value) {
    let f = e.fields_mut();
    f.entry("host").or_insert_with(|| host.clone());
    f.entry("port").or_insert_with(|| port.clone());
}

fn socket2_keepalive(stream: &TcpStream) -> std::io::Result<()> {
    // tokio exposes keepalive only through socket2; SO_KEEPALIVE alone is what Logstash sets.
    let sock = socket2::SockRef::from(stream);
    sock.set_keepalive(true)
}

struct Connection {
    tcp: Arc<Tcp>,
    sink: EventSink,
    metrics: Arc<PluginMetrics>,
    shutdown: CancellationToken,
}

impl Connection {
    async fn serve(self, mut stream: TcpStream, peer: SocketAddr) {
        tracing::debug!(%peer, "tcp connection opened.");
        let host = Value::String(peer.ip().to_string());
        let port = Value::from(peer.port());
        let mut decoder = self.tcp.codec.decoder(self.tcp.limits);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut truncated_before = 0;
        loop {
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            let read = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => Ok(0),
                r = stream.read_buf(&mut buf) => r,
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "tcp connection failed; flushing what it sent.");
                    0
                }
            };
            // The line codecs' lines are decoded by the worker that filters them (see
            // `queue::memory`); other codecs decode here.
            let sent = match decoder.decode_or_frame(&mut buf, Utc::now(), n == 0) {
                Decoded::Events(mut events) => {
                    for e in &mut events {
                        stamp_peer(e, &host, &port);
                    }
                    self.sink.send(events).await
                }
                Decoded::Frames(frames) if frames.is_empty() => Ok(()),
                Decoded::Frames(frames) => {
                    let (host, port) = (host.clone(), port.clone());
                    self.sink
                        .send_deferred(frames.len(), move |out| {
                            let start = out.len();
                            frames.decode(out);
                            for e in &mut out[start..] {
                                stamp_peer(e, &host, &port);
                            }
                        })
                        .await
                }
            };
            let truncated = decoder.truncated_lines();
            if truncated > truncated_before {
                EventsFailed { plugin: &self.metrics, reason: LINE_TRUNCATED_TAG, count: truncated - truncated_before }.emit();
                truncated_before = truncated;
            }
            if sent.is_err() || n == 0 {
                break;
            }
        }
        tracing::debug!(%peer, "tcp connection closed.");
    }
}

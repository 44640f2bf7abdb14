//! Syslog over TCP (and TLS): a task per connection that reads, frames, parses and queues.
//!
//! While the queue is full a connection is not read, so its sender's TCP window closes: the
//! backpressure reaches the sender and nothing is dropped. With `proxy_protocol`, each
//! connection must open with a PROXY protocol v1 line (as HAProxy and load balancers send it),
//! whose source address then stands for the sender; it is read before any TLS handshake. When a
//! sender disconnects in the middle of a message, what arrived of it is still an event.

use super::framing::{Framer, Framing};
use super::{Failures, Shared};
use crate::event::Value;
use crate::inputs::EventSink;
use crate::metrics::PluginMetrics;
use bytes::BytesMut;
use chrono::Utc;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The longest PROXY v1 line the protocol allows, CRLF included.
const PROXY_V1_MAX: usize = 107;
/// How long a client may take to send its PROXY line or finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Tcp {
    pub host: String,
    pub port: u16,
}

impl Tcp {
    pub async fn run(self, shared: Arc<Shared>, sink: EventSink, metrics: Arc<PluginMetrics>, shutdown: CancellationToken) {
        let listener = crate::inputs::retry_bind("syslog input (TCP)", &self.host, self.port, &shutdown, || TcpListener::bind((self.host.as_str(), self.port))).await;
        let Some(listener) = listener else { return };
        match listener.local_addr() {
            Ok(addr) => tracing::info!(address = %addr, plugin_id = %metrics.id, tls = shared.tls.is_some(), "syslog input listening on TCP."),
            Err(e) => tracing::debug!(error = %e, "TCP listener has no local address."),
        }
        crate::inputs::serve_connections("syslog input (TCP)", listener, &metrics, &shutdown, |stream, peer| {
            let conn = Connection { shared: shared.clone(), sink: sink.clone(), metrics: metrics.clone(), shutdown: shutdown.clone() };
            conn.start(stream, peer)
        })
        .await;
    }
}

struct Connection {
    shared: Arc<Shared>,
    sink: EventSink,
    metrics: Arc<PluginMetrics>,
    shutdown: CancellationToken,
}

impl Connection {
    async fn start(self, stream: TcpStream, peer: SocketAddr) {
        if self.shared.tcp_keep_alive {
            // SO_KEEPALIVE alone, as Logstash sets it.
            let _ = socket2::SockRef::from(&stream).set_keepalive(true);
        }
        let mut sender = peer.ip().to_string();
        if self.shared.proxy_protocol {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_proxy_header(&stream)).await {
                Ok(Ok(Some(source))) => sender = source,
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "syslog connection closed: no valid PROXY protocol header.");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "syslog connection closed: no PROXY protocol header in time.");
                    return;
                }
            }
        }
        let host = Value::String(sender);
        match self.shared.tls.clone() {
            Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => self.serve(tls, peer, host).await,
                Ok(Err(e)) => tracing::warn!(%peer, error = %e, "syslog TLS handshake failed."),
                Err(_) => tracing::warn!(%peer, "syslog TLS handshake timed out."),
            },
            None => self.serve(stream, peer, host).await,
        }
    }

    async fn serve<S: AsyncRead + Unpin>(self, mut stream: S, peer: SocketAddr, host: Value) {
        tracing::debug!(%peer, "syslog connection opened.");
        let mut framer = Framer::new(self.shared.max_message_bytes);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut failures = Failures::default();
        let mut warned_fallback = false;
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
                    tracing::debug!(%peer, error = %e, "syslog connection failed; keeping what it sent.");
                    0
                }
            };
            let now = Utc::now();
            let mut events = Vec::new();
            while let Some(frame) = framer.next_frame(&mut buf) {
                self.shared.decode(&frame.bytes, frame.truncated, &host, now, &mut events, &mut failures);
            }
            if n == 0 {
                if let Some(frame) = framer.finish(&mut buf) {
                    self.shared.decode(&frame.bytes, frame.truncated, &host, now, &mut events, &mut failures);
                }
            }
            if framer.fell_back && !warned_fallback {
                warned_fallback = true;
                tracing::warn!(%peer, "syslog connection sent text where an octet count was expected; reading it as newline-delimited from here on.");
            }
            failures.emit(&self.metrics);
            if self.sink.send(events).await.is_err() || n == 0 {
                break;
            }
        }
        tracing::debug!(%peer, framing = ?framer.framing().unwrap_or(Framing::Trailer), "syslog connection closed.");
    }
}

/// Read a PROXY protocol v1 line off the stream (and nothing after it): the source address it
/// names, or `None` for `PROXY UNKNOWN` (the sender's own address then stands).
async fn read_proxy_header(stream: &TcpStream) -> std::io::Result<Option<String>> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut peek = [0u8; PROXY_V1_MAX];
    // Look without consuming until the whole line is there, then take exactly the line, so the
    // bytes after it stay in the socket for TLS or the framer.
    let line_len = loop {
        stream.readable().await?;
        let n = stream.peek(&mut peek).await?;
        if n == 0 {
            return Err(invalid("the connection closed before the PROXY header"));
        }
        if let Some(lf) = peek[..n].iter().position(|c| *c == b'\n') {
            break lf + 1;
        }
        if n == PROXY_V1_MAX {
            return Err(invalid("the PROXY header is longer than the protocol allows"));
        }
        if !b"PROXY ".starts_with(&peek[..n.min(6)]) {
            return Err(invalid("the connection does not start with `PROXY `"));
        }
        // Part of the line is here; wait a little for the rest rather than spin on peek.
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut line = vec![0u8; line_len];
    let mut taken = 0;
    while taken < line_len {
        stream.readable().await?;
        match stream.try_read(&mut line[taken..]) {
            Ok(0) => return Err(invalid("the connection closed inside the PROXY header")),
            Ok(n) => taken += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    parse_proxy_v1(&line).map_err(invalid)
}

/// `PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\r\n`, or
/// `PROXY UNKNOWN ...`: the source address.
fn parse_proxy_v1(line: &[u8]) -> Result<Option<String>, &'static str> {
    let text = std::str::from_utf8(line).map_err(|_| "the PROXY header is not text")?;
    let text = text.strip_suffix('\n').ok_or("the PROXY header does not end the line")?;
    let text = text.strip_suffix('\r').unwrap_or(text);
    let mut words = text.split(' ');
    if words.next() != Some("PROXY") {
        return Err("the connection does not start with `PROXY `");
    }
    match words.next() {
        Some("UNKNOWN") => Ok(None),
        Some(proto @ ("TCP4" | "TCP6")) => {
            let source = words.next().ok_or("the PROXY header has no source address")?;
            let ip: std::net::IpAddr = source.parse().map_err(|_| "the PROXY header's source is not an IP address")?;
            if (proto == "TCP4") != ip.is_ipv4() {
                return Err("the PROXY header's source address does not match its protocol");
            }
            let rest: Vec<&str> = words.collect();
            if rest.len() != 3 {
                return Err("the PROXY header does not have a destination and two ports");
            }
            Ok(Some(ip.to_string()))
        }
        _ => Err("the PROXY header names no known protocol"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_v1_lines() {
        assert_eq!(parse_proxy_v1(b"PROXY TCP4 192.0.2.10 192.0.2.1 56324 514\r\n"), Ok(Some("192.0.2.10".to_string())));
        assert_eq!(parse_proxy_v1(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"), Ok(Some("2001:db8::1".to_string())));
        assert_eq!(parse_proxy_v1(b"PROXY UNKNOWN\r\n"), Ok(None));
        for bad in [
            &b"PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n"[..],
            b"PROXY TCP4 x y 1 2\r\n",
            b"<13>Oct 11 22:14:15 h a: m\n",
            b"PROXY TCP4 192.0.2.10\r\n",
        ] {
            assert!(parse_proxy_v1(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

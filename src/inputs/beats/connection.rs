//! One client connection: frames in, windows to the pipeline, acknowledgements out.
//!
//! Two halves run side by side in the connection's task:
//!
//! - the **reader** parses frames (`Session`, a plain state machine with no I/O), collects a
//!   window's events as its data frames arrive, and when the window is complete hands its events
//!   to the pipeline in chunks with `send_acked`. While the queue is full that call waits, the
//!   reader stops reading, and the client's TCP window closes: backpressure, never a drop.
//! - the **acker** takes those chunks in order and, as each one is acknowledged by the pipeline
//!   (every output has its events, or a filter dropped them on purpose), writes an ACK with the
//!   sequence number of the chunk's last data frame. Chunks are acknowledged strictly in order,
//!   so an ACK for sequence `n` always means every frame of the window up to `n` is safe — the
//!   partial ACKs Logstash also sends. While a window waits, an ACK repeating the last sequence
//!   acknowledged in it (0 if none) goes out every few seconds so the client does not time out,
//!   as Logstash's keep-alive does (v2 only: v1 clients do not expect them).
//!
//! If the pipeline gives events up (it is torn down before delivering them), the connection is
//! closed without an ACK for them: the client sends them again. A window that is still
//! incomplete when the connection ends is dropped whole for the same reason.
//!
//! go-lumber numbers a window's frames from 1; pylogbeat and logstash-forwarder keep counting
//! across windows. Both are served the same way: the ACK carries the sequence number of the
//! frame it covers, whatever the numbering.

use super::event::{Peer, Shaper};
use super::protocol::{self, Frame, Limits, Parsed, ProtocolError};
use super::tls::Tls;
use crate::event::Event;
use crate::inputs::EventSink;
use crate::metrics::events::EventsFailed;
use crate::metrics::PluginMetrics;
use crate::pipeline::ack::AckWait;
use bytes::{Buf, BytesMut};
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often an empty ACK goes out while a window waits in the pipeline (Logstash: 5 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Compressed frames inside compressed frames are legal; this deep is more than any client does.
const MAX_NESTING: usize = 4;
/// The most events handed to the pipeline under one acknowledgement.
const MAX_CHUNK: usize = 1024;

/// What every connection of one input shares.
pub struct Server {
    pub shaper: Shaper,
    pub limits: Limits,
    pub tls: Option<Tls>,
    /// Close a connection that neither sent nor was sent anything for this long.
    pub inactivity: Option<Duration>,
    pub keepalive: Duration,
}

/// A window whose data frames have all arrived.
#[derive(Debug)]
pub struct Completed {
    pub version: u8,
    pub events: Vec<Event>,
    /// The sequence number of the data frame each event came from.
    pub seqs: Vec<u32>,
    /// The sequence number of the window's last data frame (0 for an empty window).
    pub last_seq: u32,
}

#[derive(Debug)]
struct OpenWindow {
    version: u8,
    expected: u32,
    received: u32,
    bytes: usize,
    events: Vec<Event>,
    seqs: Vec<u32>,
    last_seq: u32,
}

impl OpenWindow {
    fn complete(self) -> Completed {
        Completed { version: self.version, events: self.events, seqs: self.seqs, last_seq: self.last_seq }
    }
}

/// The protocol state of one connection, without any I/O.
pub struct Session<'a> {
    shaper: &'a Shaper,
    limits: Limits,
    peer: Peer,
    window: Option<OpenWindow>,
    /// Bytes the frame at the front of the buffer needs in total.
    needed: usize,
    /// Data frames whose payload was not a JSON object, since last taken.
    pub json_failures: u64,
}

impl<'a> Session<'a> {
    pub fn new(shaper: &'a Shaper, limits: Limits, peer: Peer) -> Session<'a> {
        Session { shaper, limits, peer, window: None, needed: 1, json_failures: 0 }
    }

    /// Bytes the next frame needs in total (what the buffer should be able to hold).
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// Part of a window (or of a frame) has arrived and the rest has not.
    pub fn in_progress(&self, buffered: usize) -> bool {
        buffered > 0 || self.window.is_some()
    }

    /// Consume every whole frame at the front of `buf`; finished windows go to `out`.
    pub fn feed(&mut self, buf: &mut BytesMut, now: DateTime<Utc>, out: &mut Vec<Completed>) -> Result<(), ProtocolError> {
        loop {
            let used = match protocol::parse_frame(buf, &self.limits)? {
                Parsed::Incomplete(n) => {
                    self.needed = n;
                    return Ok(());
                }
                Parsed::Frame(frame, used) => {
                    self.frame(frame, 0, now, out)?;
                    used
                }
            };
            buf.advance(used);
        }
    }

    fn frame(&mut self, frame: Frame<'_>, depth: usize, now: DateTime<Utc>, out: &mut Vec<Completed>) -> Result<(), ProtocolError> {
        match frame {
            Frame::Window { version, size } => {
                if let Some(w) = self.window.take() {
                    if w.received > 0 {
                        // Logstash's behaviour: a new window ends the previous one with what came.
                        tracing::warn!(
                            peer = %self.peer_text(),
                            expected = w.expected,
                            received = w.received,
                            "A beats client started a new window before finishing the previous one; delivering what arrived."
                        );
                        out.push(w.complete());
                    }
                }
                if size == 0 {
                    out.push(Completed { version, events: Vec::new(), seqs: Vec::new(), last_seq: 0 });
                } else {
                    self.window = Some(OpenWindow {
                        version,
                        expected: size,
                        received: 0,
                        bytes: 0,
                        events: Vec::with_capacity(size.min(4096) as usize),
                        seqs: Vec::with_capacity(size.min(4096) as usize),
                        last_seq: 0,
                    });
                }
            }
            Frame::Json { seq, payload, .. } => {
                let w = open_window(&mut self.window, self.limits.max_window_bytes, payload.len())?;
                let before = w.events.len();
                if !self.shaper.json(payload, &self.peer, now, &mut w.events) {
                    self.json_failures += 1;
                }
                self.received(seq, before, out);
            }
            Frame::Data { seq, pairs, .. } => {
                let bytes = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
                let w = open_window(&mut self.window, self.limits.max_window_bytes, bytes)?;
                let before = w.events.len();
                self.shaper.pairs(pairs, &self.peer, now, &mut w.events);
                self.received(seq, before, out);
            }
            Frame::Compressed { payload, .. } => {
                if depth >= MAX_NESTING {
                    return Err(ProtocolError::NestedTooDeep(MAX_NESTING));
                }
                let inflated = protocol::inflate(payload, self.limits.max_frame_bytes)?;
                let mut at = 0;
                while at < inflated.len() {
                    match protocol::parse_frame(&inflated[at..], &self.limits)? {
                        Parsed::Frame(inner, used) => {
                            self.frame(inner, depth + 1, now, out)?;
                            at += used;
                        }
                        Parsed::Incomplete(_) => return Err(ProtocolError::TruncatedCompressed),
                    }
                }
            }
        }
        Ok(())
    }

    fn received(&mut self, seq: u32, events_before: usize, out: &mut Vec<Completed>) {
        let Some(w) = self.window.as_mut() else { return };
        let new = w.events.len() - events_before;
        w.seqs.extend(std::iter::repeat(seq).take(new));
        w.received += 1;
        w.last_seq = seq;
        if w.received >= w.expected {
            if let Some(w) = self.window.take() {
                out.push(w.complete());
            }
        }
    }

    fn peer_text(&self) -> String {
        self.peer.ip.as_ref().and_then(|v| v.as_str()).unwrap_or("?").to_string()
    }
}

/// The open window, with `bytes` more payload counted against its limit.
fn open_window(window: &mut Option<OpenWindow>, limit: usize, bytes: usize) -> Result<&mut OpenWindow, ProtocolError> {
    let w = window.as_mut().ok_or(ProtocolError::DataOutsideWindow)?;
    w.bytes = w.bytes.saturating_add(bytes);
    if w.bytes > limit {
        return Err(ProtocolError::WindowBytesTooLarge { limit });
    }
    Ok(w)
}

/// A chunk of a window handed to the pipeline, waiting to be acknowledged to the client.
struct PendingAck {
    /// `None` when there is nothing to wait for (an empty window).
    wait: Option<AckWait>,
    version: u8,
    /// The sequence number to acknowledge once `wait` resolves.
    seq: u32,
    /// The first chunk of its window (the keep-alive value starts over at 0).
    window_start: bool,
}

/// A connection ended because of something the client did; logged and counted.
struct BeatsConnectionFailed<'a> {
    plugin: &'a PluginMetrics,
    peer: SocketAddr,
    reason: &'static str,
    error: &'a dyn std::fmt::Display,
}

impl BeatsConnectionFailed<'_> {
    fn emit(self) {
        tracing::warn!(
            plugin_id = %self.plugin.id,
            peer = %self.peer,
            reason = self.reason,
            error = %self.error,
            "Closing a beats connection."
        );
        self.plugin.add_failure(self.reason, 1);
    }
}

/// Serve one accepted TCP connection until it ends.
pub async fn serve(
    server: Arc<Server>,
    sink: EventSink,
    metrics: Arc<PluginMetrics>,
    shutdown: CancellationToken,
    stream: TcpStream,
    addr: SocketAddr,
) {
    tracing::debug!(peer = %addr, "Beats connection opened.");
    let _ = stream.set_nodelay(true);
    let mut peer = Peer { ip: Some(crate::event::Value::String(addr.ip().to_canonical().to_string())), tls: None };
    match &server.tls {
        None => run(&server, sink, &metrics, &shutdown, stream, addr, peer).await,
        Some(tls) => {
            let handshake = tokio::select! {
                _ = shutdown.cancelled() => None,
                r = tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream)) => Some(r),
            };
            match handshake {
                None => {}
                Some(Ok(Ok(tls_stream))) => {
                    if server.shaper.peer_metadata {
                        peer.tls = Some(super::tls::peer_info(tls_stream.get_ref().1));
                    }
                    run(&server, sink, &metrics, &shutdown, tls_stream, addr, peer).await;
                }
                Some(Ok(Err(e))) => {
                    BeatsConnectionFailed { plugin: &metrics, peer: addr, reason: "tls_handshake_failed", error: &e }.emit();
                }
                Some(Err(_)) => {
                    let e = format!("no TLS handshake within {:?}", tls.handshake_timeout);
                    BeatsConnectionFailed { plugin: &metrics, peer: addr, reason: "tls_handshake_failed", error: &e }.emit();
                }
            }
        }
    }
    tracing::debug!(peer = %addr, "Beats connection closed.");
}

async fn run<S>(
    server: &Server,
    sink: EventSink,
    metrics: &PluginMetrics,
    shutdown: &CancellationToken,
    stream: S,
    addr: SocketAddr,
    peer: Peer,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<PendingAck>();
    // Chunks handed over and not yet acknowledged: an idle-looking connection with some is not idle.
    let pending = AtomicUsize::new(0);
    // Set by either half when the connection must end at once (no more ACKs, no more reads).
    let close = CancellationToken::new();

    let reader = async {
        let mut session = Session::new(&server.shaper, server.limits, peer);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut windows = Vec::new();
        let chunk_size = sink.capacity().clamp(1, MAX_CHUNK);
        'read: loop {
            // Below the size the frame at the front needs, parsing would only find that again.
            let fed = if buf.len() >= session.needed() { session.feed(&mut buf, Utc::now(), &mut windows) } else { Ok(()) };
            if let Err(e) = fed {
                BeatsConnectionFailed { plugin: metrics, peer: addr, reason: e.reason(), error: &e }.emit();
                close.cancel();
                break;
            }
            if session.json_failures > 0 {
                EventsFailed { plugin: metrics, reason: crate::codec::JSON_PARSE_FAILURE_TAG, count: session.json_failures }.emit();
                session.json_failures = 0;
            }
            for w in windows.drain(..) {
                let delivered = tokio::select! {
                    biased;
                    _ = close.cancelled() => false,
                    ok = deliver(&sink, w, chunk_size, &tx, &pending) => ok,
                };
                if !delivered {
                    // The pipeline is gone or gave up: no ACK for what is pending.
                    close.cancel();
                    break 'read;
                }
            }
            // Room for what the next frame still needs, grown a megabyte at a time so that a
            // header announcing a huge frame costs memory only as its bytes actually arrive.
            let missing = session.needed().saturating_sub(buf.len()).clamp(64 * 1024, 1 << 20);
            if buf.capacity() - buf.len() < missing {
                buf.reserve(missing);
            }
            let read = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = close.cancelled() => break,
                r = read_some(&mut rd, &mut buf, server.inactivity) => r,
            };
            match read {
                Ok(Some(0)) => {
                    if session.in_progress(buf.len()) {
                        let e = "the client closed the connection in the middle of a frame or window";
                        BeatsConnectionFailed { plugin: metrics, peer: addr, reason: "truncated_frame", error: &e }.emit();
                    }
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    if pending.load(Ordering::Acquire) == 0 {
                        tracing::debug!(peer = %addr, "Closing an idle beats connection.");
                        close.cancel();
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %addr, error = %e, "Beats connection failed.");
                    close.cancel();
                    break;
                }
            }
        }
        // Whatever was handed over is still acknowledged (unless closing): let the acker finish.
        drop(tx);
        drop(sink);
    };

    let acker = async {
        // The last sequence number acknowledged in the current window; repeated as keep-alive.
        let mut acked_in_window = 0u32;
        loop {
            let next = tokio::select! {
                biased;
                _ = close.cancelled() => return,
                p = rx.recv() => p,
            };
            let Some(p) = next else { break };
            if p.window_start {
                acked_in_window = 0;
            }
            if let Some(wait) = p.wait {
                tokio::pin!(wait);
                // Keep-alives are for a client kept waiting: the first one goes out a full
                // interval after this chunk began to wait, however quiet the connection was before.
                let mut last_write = Instant::now();
                loop {
                    let keepalive_due = last_write + server.keepalive;
                    tokio::select! {
                        biased;
                        _ = close.cancelled() => return,
                        r = &mut wait => match r {
                            Ok(()) => break,
                            Err(e) => {
                                tracing::warn!(peer = %addr, error = %e, "Closing a beats connection without acknowledging: the client will send these events again.");
                                close.cancel();
                                return;
                            }
                        },
                        _ = tokio::time::sleep_until(keepalive_due), if p.version == protocol::VERSION_2 => {
                            if write_ack(&mut wr, p.version, acked_in_window).await.is_err() {
                                close.cancel();
                                return;
                            }
                            last_write = Instant::now();
                        }
                    }
                }
            }
            if write_ack(&mut wr, p.version, p.seq).await.is_err() {
                close.cancel();
                return;
            }
            acked_in_window = p.seq;
            pending.fetch_sub(1, Ordering::AcqRel);
        }
        let _ = wr.shutdown().await;
    };

    tokio::join!(reader, acker);
}

/// Read what is there, or `None` after the inactivity timeout.
async fn read_some<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut, limit: Option<Duration>) -> std::io::Result<Option<usize>> {
    match limit {
        Some(d) => match tokio::time::timeout(d, rd.read_buf(buf)).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        },
        None => rd.read_buf(buf).await.map(Some),
    }
}

async fn write_ack<W: AsyncWrite + Unpin>(wr: &mut W, version: u8, seq: u32) -> std::io::Result<()> {
    wr.write_all(&protocol::ack_frame(version, seq)).await?;
    wr.flush().await
}

/// Hand a finished window to the pipeline in chunks, each queued for its ACK. False when the
/// pipeline is gone.
async fn deliver(
    sink: &EventSink,
    w: Completed,
    chunk_size: usize,
    tx: &mpsc::UnboundedSender<PendingAck>,
    pending: &AtomicUsize,
) -> bool {
    let Completed { version, mut events, seqs, last_seq } = w;
    if events.is_empty() {
        pending.fetch_add(1, Ordering::AcqRel);
        return tx.send(PendingAck { wait: None, version, seq: last_seq, window_start: true }).is_ok();
    }
    let total = events.len();
    let mut start = 0;
    while start < total {
        let mut end = (start + chunk_size).min(total);
        // One frame's events (a codec may make several) share one acknowledgement.
        while end < total && seqs[end] == seqs[end - 1] {
            end += 1;
        }
        let rest = events.split_off(end - start);
        let chunk = std::mem::replace(&mut events, rest);
        let Ok(wait) = sink.send_acked(chunk).await else { return false };
        let seq = if end == total { last_seq } else { seqs[end - 1] };
        pending.fetch_add(1, Ordering::AcqRel);
        if tx.send(PendingAck { wait: Some(wait), version, seq, window_start: start == 0 }).is_err() {
            return false;
        }
        start = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    fn shaper() -> Shaper {
        Shaper::new(Codec::Plain { format: None }, true, false, false, false, false, false, vec![])
    }

    fn json_frame(seq: u32, doc: &str) -> Vec<u8> {
        let mut f = vec![b'2', b'J'];
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&(doc.len() as u32).to_be_bytes());
        f.extend_from_slice(doc.as_bytes());
        f
    }

    fn window(n: u32) -> Vec<u8> {
        let mut f = vec![b'2', b'W'];
        f.extend_from_slice(&n.to_be_bytes());
        f
    }

    fn feed_all(bytes: &[u8], step: usize) -> (Vec<Completed>, Result<(), ProtocolError>) {
        let s = shaper();
        let mut session = Session::new(&s, Limits::default(), Peer::default());
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        for piece in bytes.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            if let Err(e) = session.feed(&mut buf, Utc::now(), &mut out) {
                return (out, Err(e));
            }
        }
        (out, Ok(()))
    }

    #[test]
    fn a_window_completes_whatever_the_read_sizes() {
        let mut bytes = window(3);
        for i in 1..=3 {
            bytes.extend(json_frame(i, &format!(r#"{{"message":"m{i}"}}"#)));
        }
        for step in [1, 2, 7, bytes.len()] {
            let (out, r) = feed_all(&bytes, step);
            r.unwrap();
            assert_eq!(out.len(), 1, "step {step}");
            assert_eq!(out[0].seqs, vec![1, 2, 3]);
            assert_eq!(out[0].last_seq, 3);
            assert_eq!(out[0].events[2].fields()["message"], "m3");
        }
    }

    #[test]
    fn empty_windows_are_acknowledged_with_zero() {
        let (out, r) = feed_all(&window(0), 6);
        r.unwrap();
        assert_eq!((out.len(), out[0].last_seq, out[0].events.len()), (1, 0, 0));
    }

    #[test]
    fn data_before_any_window_is_an_error() {
        let (_, r) = feed_all(&json_frame(1, "{}"), 100);
        assert_eq!(r, Err(ProtocolError::DataOutsideWindow));
    }

    #[test]
    fn a_new_window_flushes_an_unfinished_one() {
        let mut bytes = window(5);
        bytes.extend(json_frame(1, r#"{"a":1}"#));
        bytes.extend(window(1));
        bytes.extend(json_frame(1, r#"{"a":2}"#));
        let (out, r) = feed_all(&bytes, 3);
        r.unwrap();
        assert_eq!(out.iter().map(|w| w.events.len()).collect::<Vec<_>>(), vec![1, 1]);
    }

    #[test]
    fn compressed_frames_hold_whole_frames() {
        use flate2::write::ZlibEncoder;
        use std::io::Write;
        let mut inner = Vec::new();
        for i in 1..=2 {
            inner.extend(json_frame(i, &format!(r#"{{"n":{i}}}"#)));
        }
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&inner).unwrap();
        let z = z.finish().unwrap();
        let mut bytes = window(2);
        bytes.extend([b'2', b'C']);
        bytes.extend((z.len() as u32).to_be_bytes());
        bytes.extend(&z);
        let (out, r) = feed_all(&bytes, 5);
        r.unwrap();
        assert_eq!(out[0].seqs, vec![1, 2]);

        // The same with the last frame cut short inside the compressed payload.
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&inner[..inner.len() - 2]).unwrap();
        let z = z.finish().unwrap();
        let mut bytes = window(2);
        bytes.extend([b'2', b'C']);
        bytes.extend((z.len() as u32).to_be_bytes());
        bytes.extend(&z);
        assert_eq!(feed_all(&bytes, 5).1, Err(ProtocolError::TruncatedCompressed));
    }

    #[test]
    fn window_payload_bytes_are_bounded() {
        let s = shaper();
        let limits = Limits { max_window_bytes: 20, ..Limits::default() };
        let mut session = Session::new(&s, limits, Peer::default());
        let mut buf = BytesMut::new();
        buf.extend(window(10));
        for i in 1..=3 {
            buf.extend(json_frame(i, r#"{"x":"0123"}"#));
        }
        let mut out = Vec::new();
        assert_eq!(session.feed(&mut buf, Utc::now(), &mut out), Err(ProtocolError::WindowBytesTooLarge { limit: 20 }));
    }
}

//! Syslog over UDP: one datagram is one message (a trailing LF, CR or NUL is dropped; one
//! longer than `max_message_bytes` is cut and tagged, as on TCP).
//!
//! UDP has no backpressure. While the queue is full this reader waits, the socket buffer fills,
//! and the kernel drops what arrives after; the buffer is made large (`receive_buffer_bytes`,
//! 8 MiB by default, capped by the kernel's `net.core.rmem_max`) to ride out bursts. The drops
//! are not silent: the kernel counts them per socket, in the `drops` column of
//! `/proc/net/udp{,6}`, which this reader polls every second and adds to the plugin's
//! `udp_dropped` counter (`sluice_udp_dropped_total` on /metrics), with a warning in the log.

use super::{Failures, Shared};
use crate::event::Value;
use crate::inputs::EventSink;
use crate::metrics::PluginMetrics;
use chrono::Utc;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams read without waiting before the batch is handed over.
const BATCH: usize = 1024;

pub struct Udp {
    pub host: String,
    pub port: u16,
    pub receive_buffer_bytes: usize,
}

/// Datagrams the kernel dropped because the socket buffer was full.
struct UdpDatagramsDropped<'a> {
    plugin: &'a PluginMetrics,
    count: u64,
}

impl UdpDatagramsDropped<'_> {
    fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::warn!(
            plugin_id = %self.plugin.id,
            count = self.count,
            "The kernel dropped syslog UDP datagrams: the pipeline is slower than the senders or the socket buffer is too small."
        );
        self.plugin.add_failure("udp_dropped", self.count);
    }
}

impl Udp {
    pub async fn run(self, shared: Arc<Shared>, sink: EventSink, metrics: Arc<PluginMetrics>, shutdown: CancellationToken) {
        let socket = crate::inputs::retry_bind("syslog input (UDP)", &self.host, self.port, &shutdown, || self.bind()).await;
        let Some(socket) = socket else { return };
        match socket.local_addr() {
            Ok(addr) => tracing::info!(address = %addr, plugin_id = %metrics.id, "syslog input listening on UDP."),
            Err(e) => tracing::debug!(error = %e, "UDP socket has no local address."),
        }
        let mut drops = DropCounter::new(&socket);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut failures = Failures::default();
        let mut peer_cache: Option<(SocketAddr, Value)> = None;
        loop {
            let first = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    UdpDatagramsDropped { plugin: &metrics, count: drops.poll() }.emit();
                    continue;
                }
                r = socket.recv_from(&mut buf) => r,
            };
            let now = Utc::now();
            let mut events = Vec::new();
            let mut received = Some(first);
            let mut n = 0;
            while let Some(result) = received.take() {
                match result {
                    Ok((len, from)) => {
                        let peer = match &peer_cache {
                            Some((addr, v)) if *addr == from => v.clone(),
                            _ => {
                                let v = Value::String(from.ip().to_string());
                                peer_cache = Some((from, v.clone()));
                                v
                            }
                        };
                        let message = super::framing::trimmed(&buf[..len]);
                        let truncated = message.len() > shared.max_message_bytes;
                        let message = &message[..message.len().min(shared.max_message_bytes)];
                        if !message.is_empty() {
                            shared.decode(message, truncated, &peer, now, &mut events, &mut failures);
                        }
                    }
                    // An ICMP error from an earlier send and the like: nothing to read here.
                    Err(e) => tracing::debug!(error = %e, "syslog UDP receive failed."),
                }
                n += 1;
                if n < BATCH {
                    received = match socket.try_recv_from(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                        r => Some(r),
                    };
                }
            }
            failures.emit(&metrics);
            if sink.send(events).await.is_err() {
                break;
            }
        }
        UdpDatagramsDropped { plugin: &metrics, count: drops.poll() }.emit();
    }

    async fn bind(&self) -> std::io::Result<UdpSocket> {
        let addr = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} resolves to no address", self.host)))?;
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            // `::` takes IPv4 senders too, as it does for TCP.
            let _ = socket.set_only_v6(false);
        }
        if let Err(e) = socket.set_recv_buffer_size(self.receive_buffer_bytes) {
            tracing::warn!(error = %e, requested = self.receive_buffer_bytes, "cannot set the syslog UDP receive buffer size.");
        }
        // Linux reports twice the usable size it granted (it counts its own bookkeeping).
        if let Ok(granted) = socket.recv_buffer_size() {
            if granted / 2 < self.receive_buffer_bytes {
                tracing::info!(
                    requested = self.receive_buffer_bytes,
                    granted = granted / 2,
                    "The kernel gave the syslog UDP socket a smaller receive buffer than asked for; raise net.core.rmem_max to allow more."
                );
            }
        }
        // No SO_REUSEADDR: on UDP it would let a second instance bind the same port and
        // silently take part of the traffic, where an error is what is wanted.
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        UdpSocket::from_std(socket.into())
    }
}

/// The kernel's count of datagrams dropped on one socket, read from `/proc/net/udp{,6}`.
struct DropCounter {
    inode: Option<u64>,
    last: u64,
}

impl DropCounter {
    fn new(socket: &UdpSocket) -> DropCounter {
        let inode = socket_inode(socket);
        let mut counter = DropCounter { inode, last: 0 };
        counter.last = counter.read().unwrap_or(0);
        if counter.inode.is_none() {
            tracing::debug!("cannot find the syslog UDP socket's inode; kernel drops will not be counted.");
        }
        counter
    }

    /// Drops since the last poll.
    fn poll(&mut self) -> u64 {
        let Some(now) = self.read() else { return 0 };
        let new = now.saturating_sub(self.last);
        self.last = now;
        new
    }

    fn read(&self) -> Option<u64> {
        let inode = self.inode?;
        ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            socket_drops(&text, inode)
        })
    }
}

#[cfg(target_os = "linux")]
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    // The descriptor's entry in /proc resolves to the socket itself, whose inode is the one
    // /proc/net/udp lists.
    std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok().map(|m| m.ino())
}

#[cfg(not(target_os = "linux"))]
fn socket_inode(_socket: &UdpSocket) -> Option<u64> {
    None
}

/// The `drops` column of the row whose `inode` column is `inode`.
fn socket_drops(table: &str, inode: u64) -> Option<u64> {
    let inode = inode.to_string();
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        (cols.get(9) == Some(&inode.as_str())).then(|| cols.get(12).and_then(|d| d.parse().ok())).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drops_column_of_the_right_socket() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
          1: 00000000:14B6 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0000000000000000 0\n\
          2: 0100007F:B1D2 00000000:0000 07 00000000:00040000 00:00000000 00000000     0        0 222 2 0000000000000000 4711\n";
        assert_eq!(socket_drops(table, 222), Some(4711));
        assert_eq!(socket_drops(table, 111), Some(0));
        assert_eq!(socket_drops(table, 333), None);
    }
}

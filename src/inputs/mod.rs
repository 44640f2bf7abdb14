//! Inputs: tokio tasks that turn the outside world into events.
//!
//! An input is built from its config block, then `run` with an `InputContext`: a sink that
//! queues events (waiting while the queue is full, which is how backpressure reaches the
//! socket), a cancellation token that says "stop reading, flush what you hold, return", and its
//! counters. An input that finishes by itself (stdin at end of file, generator done) just returns;
//! when every input of a pipeline has returned, the pipeline drains and stops.

pub mod beats;
pub mod dead_letter_queue;
pub mod generator;
pub mod kubernetes;
pub mod stdin;
pub mod syslog;
pub mod tcp;

use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;
use crate::metrics::PluginMetrics;
use crate::pipeline::ack::{Ack, AckWait};
use crate::pipeline::decorate::Decorations;
use crate::queue::memory::{QueueClosed, QueueWriter};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
pub type InputError = Box<dyn std::error::Error + Send + Sync>;

pub trait Input: Send {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>>;
}

/// One entry of the input registry.
pub struct InputPlugin {
    pub name: &'static str,
    pub build: fn(&mut Args, &BuildContext) -> Result<Box<dyn Input>, ConfigError>,
}

/// Every input sluice has. Adding one: its module, and one line here.
pub const INPUTS: &[InputPlugin] = &[
    InputPlugin { name: "beats", build: beats::build },
    InputPlugin { name: "dead_letter_queue", build: dead_letter_queue::build },
    InputPlugin { name: "generator", build: generator::build },
    InputPlugin { name: "kubernetes", build: kubernetes::build },
    InputPlugin { name: "stdin", build: stdin::build },
    InputPlugin { name: "syslog", build: syslog::build },
    InputPlugin { name: "tcp", build: tcp::build },
];

pub struct InputContext {
    pub sink: EventSink,
    pub shutdown: CancellationToken,
    pub metrics: Arc<PluginMetrics>,
}

/// Where an input puts its events. Cloneable: one per connection task.
#[derive(Clone)]
pub struct EventSink {
    queue: QueueWriter,
    decorations: Arc<Decorations>,
    metrics: Arc<PluginMetrics>,
}

impl EventSink {
    pub fn new(queue: QueueWriter, decorations: Arc<Decorations>, metrics: Arc<PluginMetrics>) -> EventSink {
        EventSink { queue, decorations, metrics }
    }

    fn prepare(&self, events: &mut [Event]) {
        prepare(&self.decorations, &self.metrics, events);
    }

    /// Queue events, waiting while the queue is full.
    pub async fn send(&self, mut events: Vec<Event>) -> Result<(), QueueClosed> {
        if events.is_empty() {
            return Ok(());
        }
        self.prepare(&mut events);
        self.queue.push(events, None).await
    }

    /// Queue events and learn when every output has them (or a filter dropped them on purpose).
    pub async fn send_acked(&self, mut events: Vec<Event>) -> Result<AckWait, QueueClosed> {
        let (ack, wait) = Ack::new(events.len());
        if events.is_empty() {
            return Ok(wait);
        }
        self.prepare(&mut events);
        self.queue.push(events, Some(ack)).await?;
        Ok(wait)
    }

    /// Queue work that makes about `expected` events on the pipeline worker that takes it
    /// (decoding the lines an input read, say), waiting while the queue is full.
    pub async fn send_deferred(
        &self,
        expected: usize,
        work: impl FnOnce(&mut Vec<Event>) + Send + 'static,
    ) -> Result<(), QueueClosed> {
        let decorations = self.decorations.clone();
        let metrics = self.metrics.clone();
        let work = Box::new(move |out: &mut Vec<Event>| {
            let start = out.len();
            work(out);
            prepare(&decorations, &metrics, &mut out[start..]);
        });
        self.queue.push_deferred(expected, work).await
    }

    /// The largest chunk worth building before sending (the queue's size).
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

/// The input's `type`, `tags` and `add_field`, and its count of events out.
fn prepare(decorations: &Decorations, metrics: &PluginMetrics, events: &mut [Event]) {
    if !decorations.is_empty() {
        for e in events.iter_mut() {
            decorations.apply(e);
        }
    }
    metrics.add_out(events.len() as u64);
}

/// Bind a listening socket, retrying with backoff while the address is busy (a previous
/// instance still closing, a reload racing its predecessor) until the input is stopped.
/// `what` names the listener in the log line, e.g. "tcp input" or "syslog input (UDP)".
pub(crate) async fn retry_bind<T, F, Fut>(what: &str, host: &str, port: u16, shutdown: &CancellationToken, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::io::Result<T>>,
{
    let mut delay = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::error!(host, port, error = %e, "{what} cannot listen; retrying.");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Serve a listening socket until the input is stopped: each accepted connection becomes a task
/// (the future `serve` makes of it), counted in the plugin's `connections` gauge from accept
/// to end. On shutdown the listener closes first, so no new client gets in, then `serve` is
/// dropped, releasing what it holds for the connections (an event sink, say), and the call
/// returns once every connection has finished; connections watch the same `shutdown` to stop
/// reading and flush. What happens on a connection — TLS handshakes, PROXY headers, framing —
/// is the input's own. `what` names the listener in log lines, as for `retry_bind`.
pub(crate) async fn serve_connections<F, Fut>(
    what: &str,
    listener: TcpListener,
    metrics: &Arc<PluginMetrics>,
    shutdown: &CancellationToken,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let open = OpenConnection::count(metrics.clone());
                    let connection = serve(stream, peer);
                    connections.spawn(async move {
                        connection.await;
                        drop(open);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(plugin_id = %metrics.id, error = %e, "{what} failed to accept a connection.");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(serve);
    while connections.join_next().await.is_some() {}
}

/// One open connection in the `connections` gauge; dropping it, however the task ends (even
/// aborted or panicking), takes it out again.
struct OpenConnection(Arc<PluginMetrics>);

impl OpenConnection {
    fn count(metrics: Arc<PluginMetrics>) -> OpenConnection {
        metrics.gauge_add("connections", 1);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.gauge_add("connections", -1);
    }
}

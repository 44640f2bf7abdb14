//! The bounded in-memory queue.
//!
//! Bounded in events, not in chunks: an input must obtain one permit per event before its chunk
//! is queued, and a worker gives the permits back only when the batch holding those events is
//! finished (delivered or dropped on purpose). A full queue therefore suspends the input's task,
//! which stops reading its socket, and the peer sees a closed TCP window — backpressure, never a
//! silent drop. When every writer is gone the readers drain what is left and then see the end.

use crate::event::Event;
use crate::metrics::PipelineMetrics;
use crate::pipeline::ack::Ack;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Events handed over together by an input, with the acknowledgement that covers them.
#[derive(Debug)]
pub struct Chunk {
    pub events: Vec<Event>,
    pub ack: Option<Ack>,
}

pub struct MemoryQueue;

#[derive(Clone)]
pub struct QueueWriter {
    tx: Sender<Chunk>,
    permits: Arc<Semaphore>,
    capacity: usize,
    metrics: Arc<PipelineMetrics>,
}

pub struct QueueReader {
    rx: Receiver<Chunk>,
    permits: Arc<Semaphore>,
    metrics: Arc<PipelineMetrics>,
}

impl Clone for QueueReader {
    fn clone(&self) -> Self {
        QueueReader { rx: self.rx.clone(), permits: self.permits.clone(), metrics: self.metrics.clone() }
    }
}

/// The queue was closed (the pipeline is gone); the events were not queued.
#[derive(Debug, thiserror::Error)]
#[error("the pipeline is shutting down")]
pub struct QueueClosed(pub Vec<Event>);

impl MemoryQueue {
    /// A queue holding at most `capacity` events.
    pub fn bounded(capacity: usize, metrics: Arc<PipelineMetrics>) -> (QueueWriter, QueueReader) {
        let capacity = capacity.max(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        let permits = Arc::new(Semaphore::new(capacity));
        metrics.queue_capacity.store(capacity as u64, std::sync::atomic::Ordering::Relaxed);
        (
            QueueWriter { tx, permits: permits.clone(), capacity, metrics: metrics.clone() },
            QueueReader { rx, permits, metrics },
        )
    }
}

impl QueueWriter {
    /// Queue events, waiting for room. Chunks larger than the queue are split so they fit.
    pub async fn push(&self, mut events: Vec<Event>, ack: Option<Ack>) -> Result<(), QueueClosed> {
        while !events.is_empty() {
            let rest = if events.len() > self.capacity { events.split_off(self.capacity) } else { Vec::new() };
            let n = events.len();
            match self.permits.acquire_many(n as u32).await {
                Ok(p) => p.forget(),
                Err(_) => {
                    events.extend(rest);
                    return Err(QueueClosed(events));
                }
            }
            self.metrics.add_in(n as u64);
            if let Err(e) = self.tx.send(Chunk { events, ack: ack.clone() }) {
                self.permits.add_permits(n);
                let mut back = e.into_inner().events;
                back.extend(rest);
                return Err(QueueClosed(back));
            }
            events = rest;
        }
        Ok(())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

pub enum Received {
    Chunk(Chunk),
    Timeout,
    /// Every writer is gone and the queue is empty.
    Closed,
}

impl QueueReader {
    pub fn recv_timeout(&self, timeout: Duration) -> Received {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => Received::Chunk(c),
            Err(RecvTimeoutError::Timeout) => Received::Timeout,
            Err(RecvTimeoutError::Disconnected) => Received::Closed,
        }
    }

    pub fn try_recv(&self) -> Option<Chunk> {
        self.rx.try_recv().ok()
    }

    /// `n` events left for good: make room for new ones.
    pub fn release(&self, n: usize) {
        self.permits.add_permits(n);
        self.metrics.queue_release(n as u64);
    }
}

//! The bounded in-memory queue.
//!
//! Bounded in events, not in chunks: an input must obtain one permit per event before its chunk
//! is queued, and a worker gives the permits back only when the batch holding those events is
//! finished (delivered or dropped on purpose). A full queue therefore suspends the input's task,
//! which stops reading its socket, and the peer sees a closed TCP window — backpressure, never a
//! silent drop. When every writer is gone the readers drain what is left and then see the end.
//!
//! An input may also queue work instead of events ([`QueueWriter::push_deferred`]): raw frames
//! that the worker taking the chunk decodes. The events are then built on the thread that
//! filters them and frees them, so they are not handed from one core's cache and allocator to
//! another's — on two cores that is most of what decoding on the reading thread costs. The input
//! reserves room for the events it expects; the worker settles the difference once it knows.

use crate::event::Event;
use crate::metrics::PipelineMetrics;
use crate::pipeline::ack::Ack;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Work that makes a chunk's events, done by the worker that takes the chunk.
pub type Deferred = Box<dyn FnOnce(&mut Vec<Event>) + Send>;

/// Events handed over together by an input, with the acknowledgement that covers them.
pub struct Chunk {
    pub events: Vec<Event>,
    pub ack: Option<Ack>,
    /// Events still to be made by the worker, and the room the input reserved for them.
    pub deferred: Option<(Deferred, usize)>,
}

impl Chunk {
    pub fn of(events: Vec<Event>, ack: Option<Ack>) -> Chunk {
        Chunk { events, ack, deferred: None }
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("events", &self.events.len())
            .field("ack", &self.ack)
            .field("deferred", &self.deferred.as_ref().map(|(_, reserved)| reserved))
            .finish()
    }
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
    /// Room taken by deferred chunks that made more events than their input reserved, while
    /// the queue had none left: paid back from the next releases instead of handed out.
    owed: Arc<AtomicUsize>,
}

impl Clone for QueueReader {
    fn clone(&self) -> Self {
        QueueReader { rx: self.rx.clone(), permits: self.permits.clone(), metrics: self.metrics.clone(), owed: self.owed.clone() }
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
            QueueReader { rx, permits, metrics, owed: Arc::new(AtomicUsize::new(0)) },
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
            if let Err(e) = self.tx.send(Chunk::of(events, ack.clone())) {
                self.permits.add_permits(n);
                let mut back = e.into_inner().events;
                back.extend(rest);
                return Err(QueueClosed(back));
            }
            events = rest;
        }
        Ok(())
    }

    /// Queue work that a worker turns into about `expected` events (see the module comment),
    /// waiting for room for them. The events are counted in when they are made.
    pub async fn push_deferred(&self, expected: usize, work: Deferred) -> Result<(), QueueClosed> {
        let reserved = expected.min(self.capacity);
        if reserved > 0 {
            match self.permits.acquire_many(reserved as u32).await {
                Ok(p) => p.forget(),
                Err(_) => return Err(QueueClosed(Vec::new())),
            }
        }
        if self.tx.send(Chunk { events: Vec::new(), ack: None, deferred: Some((work, reserved)) }).is_err() {
            self.permits.add_permits(reserved);
            return Err(QueueClosed(Vec::new()));
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

    /// Run a deferred chunk's work into `chunk.events` and count them in; the room reserved for
    /// them becomes the room they take.
    pub fn make_events(&self, chunk: &mut Chunk) {
        let Some((work, reserved)) = chunk.deferred.take() else { return };
        let before = chunk.events.len();
        work(&mut chunk.events);
        let made = chunk.events.len() - before;
        self.metrics.add_in(made as u64);
        if made < reserved {
            self.permits.add_permits(reserved - made);
        } else if made > reserved {
            let extra = made - reserved;
            match self.permits.try_acquire_many(extra as u32) {
                Ok(p) => p.forget(),
                Err(_) => {
                    self.owed.fetch_add(extra, Ordering::Relaxed);
                }
            }
        }
    }

    /// `n` events left for good: make room for new ones.
    pub fn release(&self, n: usize) {
        let mut back = n;
        if self.owed.load(Ordering::Relaxed) > 0 {
            let paid = self
                .owed
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |owed| Some(owed - owed.min(n)))
                .map_or(0, |owed| owed.min(n));
            back -= paid;
        }
        self.permits.add_permits(back);
        self.metrics.queue_release(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: usize) -> Vec<Event> {
        (0..n).map(|_| Event::new()).collect()
    }

    fn queue(capacity: usize) -> (QueueWriter, QueueReader, Arc<PipelineMetrics>) {
        let metrics = PipelineMetrics::new("test");
        let (w, r) = MemoryQueue::bounded(capacity, metrics.clone());
        (w, r, metrics)
    }

    fn deferred(make: usize) -> Deferred {
        Box::new(move |out: &mut Vec<Event>| out.extend(events(make)))
    }

    /// The room a deferred chunk reserved becomes the room its events take: fewer events give
    /// the rest back at once, and the queue ends where it started once they are released.
    #[tokio::test]
    async fn deferred_chunks_settle_their_reservation() {
        let (w, r, metrics) = queue(10);
        w.push_deferred(4, deferred(1)).await.unwrap();
        assert_eq!(r.permits.available_permits(), 6);
        assert_eq!(metrics.events_in(), 0, "events are counted in when they are made");
        let mut chunk = r.try_recv().unwrap();
        r.make_events(&mut chunk);
        assert_eq!(chunk.events.len(), 1);
        assert_eq!(metrics.events_in(), 1);
        assert_eq!(metrics.queue_events(), 1);
        assert_eq!(r.permits.available_permits(), 9);
        r.release(1);
        assert_eq!(r.permits.available_permits(), 10);
        assert_eq!(metrics.queue_events(), 0);

        // More events than reserved take more room while there is some.
        w.push_deferred(2, deferred(5)).await.unwrap();
        let mut chunk = r.try_recv().unwrap();
        r.make_events(&mut chunk);
        assert_eq!(r.permits.available_permits(), 5);
        r.release(5);
        assert_eq!(r.permits.available_permits(), 10);
    }

    /// When the queue has no room for the surplus, it is owed and paid back from releases, so
    /// the queue never grows past its capacity for good.
    #[tokio::test]
    async fn a_surplus_without_room_is_paid_back_from_releases() {
        let (w, r, _) = queue(3);
        w.push_deferred(3, deferred(7)).await.unwrap();
        assert_eq!(r.permits.available_permits(), 0);
        let mut chunk = r.try_recv().unwrap();
        r.make_events(&mut chunk);
        assert_eq!(chunk.events.len(), 7);
        r.release(2);
        assert_eq!(r.permits.available_permits(), 0, "the first releases pay the debt");
        r.release(5);
        assert_eq!(r.permits.available_permits(), 3);
        w.push(events(3), None).await.unwrap();
        assert_eq!(r.permits.available_permits(), 0);
    }

    /// A reservation larger than the queue is cut to its capacity instead of waiting forever.
    #[tokio::test]
    async fn a_large_reservation_fits_the_queue() {
        let (w, r, _) = queue(2);
        w.push_deferred(50, deferred(50)).await.unwrap();
        let mut chunk = r.try_recv().unwrap();
        r.make_events(&mut chunk);
        r.release(50);
        assert_eq!(r.permits.available_permits(), 2);
    }
}

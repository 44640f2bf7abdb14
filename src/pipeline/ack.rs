//! Acknowledgements: how an input learns that the events it handed over are safe.
//!
//! An input that can tell its peer "you may forget these" (beats, a tailed file's checkpoint)
//! asks for an `Ack` covering a set of events. Each worker that finishes some of them — every
//! output confirmed, or a filter dropped them on purpose — calls `done(n)`; when the count reaches
//! zero the input's `AckWait` resolves. If the pipeline is torn down with events still pending,
//! the last `Ack` clone is dropped unfinished and the wait resolves to `Err(NotAcknowledged)`,
//! so an input can never mistake an abandoned event for a delivered one.

use parking_lot::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::oneshot;

#[derive(Clone, Debug)]
pub struct Ack(Arc<AckInner>);

#[derive(Debug)]
struct AckInner {
    remaining: AtomicUsize,
    notify: Mutex<Option<oneshot::Sender<()>>>,
}

/// Resolves when every event the `Ack` covers is done.
#[derive(Debug)]
pub struct AckWait(oneshot::Receiver<()>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline stopped before these events were delivered")]
pub struct NotAcknowledged;

impl Ack {
    pub fn new(count: usize) -> (Ack, AckWait) {
        let (tx, rx) = oneshot::channel();
        let ack = Ack(Arc::new(AckInner { remaining: AtomicUsize::new(count), notify: Mutex::new(Some(tx)) }));
        if count == 0 {
            ack.fire();
        }
        (ack, AckWait(rx))
    }

    /// `n` of the covered events are done.
    pub fn done(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.0.remaining.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "acknowledged more events than were covered");
        if before == n {
            self.fire();
        }
    }

    fn fire(&self) {
        if let Some(tx) = self.0.notify.lock().take() {
            let _ = tx.send(());
        }
    }
}

impl Future for AckWait {
    type Output = Result<(), NotAcknowledged>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.map_err(|_| NotAcknowledged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_only_when_every_event_is_done() {
        let (ack, mut wait) = Ack::new(3);
        let other = ack.clone();
        ack.done(1);
        assert!(futures_poll(&mut wait).is_none());
        other.done(2);
        assert_eq!(wait.await, Ok(()));
    }

    #[tokio::test]
    async fn abandoned_events_are_not_acknowledged() {
        let (ack, wait) = Ack::new(2);
        ack.done(1);
        drop(ack);
        assert_eq!(wait.await, Err(NotAcknowledged));
    }

    fn futures_poll(w: &mut AckWait) -> Option<Result<(), NotAcknowledged>> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(w).poll(&mut cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }
}

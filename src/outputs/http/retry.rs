//! How long to wait before sending again what a server (Elasticsearch, Loki) could not take yet.
//!
//! Exponential from `retry_initial_interval`, doubling up to `retry_max_interval`, with "equal
//! jitter" (a delay is drawn between half and all of the step) so that several workers, or
//! several sluice instances, that failed together do not come back together. The streak of
//! failures is shared by every worker of the output and survives across calls: a server that
//! keeps answering 429 sees the waits grow, whichever worker retries; the first success resets it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Consecutive failed rounds, shared by the output's workers.
    streak: AtomicU32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max: max.max(initial), streak: AtomicU32::new(0) }
    }

    /// The step for the `n`th consecutive failure (0-based), before jitter.
    pub fn step(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
        self.initial.checked_mul(factor).unwrap_or(self.max).min(self.max)
    }

    /// Record a failed round and return how long to wait before the next one.
    pub fn failed(&self) -> Duration {
        let n = self.streak.fetch_add(1, Ordering::Relaxed);
        jitter(self.step(n))
    }

    pub fn succeeded(&self) {
        self.streak.store(0, Ordering::Relaxed);
    }
}

/// A delay drawn uniformly in `[step/2, step]`.
pub fn jitter(step: Duration) -> Duration {
    let half = step / 2;
    let spread = (step - half).as_millis() as u64;
    half + Duration::from_millis(if spread == 0 { 0 } else { fastrand::u64(0..=spread) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_from_initial_and_stop_at_max() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(64));
        let steps: Vec<u64> = (0..9).map(|n| b.step(n).as_secs()).collect();
        assert_eq!(steps, vec![2, 4, 8, 16, 32, 64, 64, 64, 64]);
        assert_eq!(b.step(200), Duration::from_secs(64));
    }

    #[test]
    fn waits_are_jittered_within_half_to_full_step_and_reset_on_success() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        for expected_step in [100u64, 200, 400, 400] {
            let d = b.failed().as_millis() as u64;
            assert!((expected_step / 2..=expected_step).contains(&d), "{d} not in half..full of {expected_step}");
        }
        b.succeeded();
        assert!(b.failed() <= Duration::from_millis(100));
        // Draws differ: jitter is not a constant.
        let draws: std::collections::BTreeSet<u128> = (0..50).map(|_| jitter(Duration::from_secs(10)).as_millis()).collect();
        assert!(draws.len() > 10);
    }
}

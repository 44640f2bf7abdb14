//! Staying under Loki's ingestion limits instead of being answered 429: a token bucket for the
//! tenant (`rate_limit`, Loki's `ingestion_rate_mb`, 4 MiB/s by default) and one per stream
//! (`stream_rate_limit`, Loki's `per_stream_rate_limit`, 3 MiB/s by default), counting what Loki
//! counts: line and structured metadata bytes.
//!
//! A push takes its bytes from the buckets up front and waits as long as the most indebted one
//! says; the debt is what later pushes wait out. Each bucket holds at most one second of its rate,
//! so an idle output may send one second's worth at once and no more.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        Bucket { tokens: rate, last: now }
    }

    /// Take `n` bytes; how long until the bucket is out of debt.
    fn take(&mut self, rate: f64, n: f64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate) - n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    /// Bytes per second; 0 turns the limit off.
    tenant_rate: f64,
    stream_rate: f64,
    tenant: Mutex<Bucket>,
    streams: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(tenant_rate: u64, stream_rate: u64) -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            tenant_rate: tenant_rate as f64,
            stream_rate: stream_rate as f64,
            tenant: Mutex::new(Bucket::new(tenant_rate as f64, now)),
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// Take the bytes of one push (total, and per stream); how long to wait before sending it.
    pub fn reserve<'a>(&self, total: usize, per_stream: impl Iterator<Item = (&'a str, usize)>, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        if self.tenant_rate > 0.0 {
            wait = self.tenant.lock().take(self.tenant_rate, total as f64, now);
        }
        if self.stream_rate > 0.0 {
            let mut streams = self.streams.lock();
            for (stream, bytes) in per_stream {
                let bucket = match streams.get_mut(stream) {
                    Some(b) => b,
                    None => streams.entry(stream.to_string()).or_insert_with(|| Bucket::new(self.stream_rate, now)),
                };
                wait = wait.max(bucket.take(self.stream_rate, bytes as f64, now));
            }
            // Buckets that have refilled carry no state worth keeping.
            if streams.len() > 10_000 {
                let rate = self.stream_rate;
                streams.retain(|_, b| b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < rate);
            }
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_passes_then_debt_is_waited_out_at_the_rate() {
        let t0 = Instant::now();
        let r = RateLimiter::new(1000, 0);
        assert_eq!(r.reserve(1000, std::iter::empty(), t0), Duration::ZERO);
        // 500 more bytes at 1000 B/s: half a second.
        assert_eq!(r.reserve(500, std::iter::empty(), t0), Duration::from_millis(500));
        // A second later the debt is paid and half a second's worth is back.
        assert_eq!(r.reserve(500, std::iter::empty(), t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn the_busiest_stream_sets_the_wait() {
        let t0 = Instant::now();
        let r = RateLimiter::new(0, 100);
        let w = r.reserve(0, [("{a=\"1\"}", 100), ("{a=\"2\"}", 300)].into_iter(), t0);
        assert_eq!(w, Duration::from_secs(2));
        assert_eq!(r.reserve(0, [("{a=\"1\"}", 0)].into_iter(), t0), Duration::ZERO);
    }
}

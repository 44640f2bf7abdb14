//! The `drop` filter: remove the event (all of them, or `percentage` of them at random).
//! A dropped event counts as delivered for acknowledgements: it was removed on purpose.

use super::{Filter, Outcome};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;
use std::cell::Cell;

pub struct Drop {
    /// Out of 100.
    percentage: u32,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    Ok(Box::new(Drop { percentage: args.integer("percentage", 100, 0, 100)? as u32 }))
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    (t ^ 0x9E37_79B9_7F4A_7C15) | 1
}

/// xorshift64*: sampling needs speed, not cryptographic quality.
fn next_percent() -> u32 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32 % 100
    })
}

impl Filter for Drop {
    fn filter(&self, _event: &mut Event) -> Outcome {
        if self.percentage >= 100 || next_percent() < self.percentage {
            Outcome::Drop
        } else {
            Outcome::NotMatched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_is_roughly_respected() {
        let d = Drop { percentage: 30 };
        let dropped = (0..100_000).filter(|_| d.filter(&mut Event::new()) == Outcome::Drop).count();
        assert!((27_000..33_000).contains(&dropped), "{dropped}");
        assert_eq!(Drop { percentage: 0 }.filter(&mut Event::new()), Outcome::NotMatched);
    }
}

//! Per-connection message rate limiting.

use std::time::Instant;

/// Millionths of a message: integer arithmetic keeps the bucket exact.
const SCALE: u128 = 1_000_000;

/// A token bucket refilled at `rate` messages per second, holding at most `rate` messages, so a
/// client may burst one second's worth and then sustain `rate`. Time comes from the caller.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u32,
    /// Available allowance in millionths of a message.
    level: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate == 0` disables limiting.
    pub(crate) fn new(rate: u32, now: Instant) -> Self {
        TokenBucket {
            rate,
            level: u128::from(rate) * SCALE,
            last: now,
        }
    }

    /// Takes one message from the bucket; `false` when it is empty (the message must be refused).
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        let capacity = u128::from(self.rate) * SCALE;
        // A clock that goes backwards (it should not) refills nothing.
        let elapsed = now.saturating_duration_since(self.last).as_micros();
        self.last = self.last.max(now);
        self.level = (self.level + elapsed * u128::from(self.rate)).min(capacity);
        if self.level >= SCALE {
            self.level -= SCALE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_one_second_then_sustains_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        let burst = (0..20).filter(|_| b.take(t0)).count();
        assert_eq!(burst, 10);
        // 100 ms refills exactly one message.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1));
        assert!(!b.take(t1));
        // A long pause refills no more than the capacity.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| b.take(t2)).count(), 10);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0, t0);
        assert!((0..10_000).all(|_| b.take(t0)));
    }
}

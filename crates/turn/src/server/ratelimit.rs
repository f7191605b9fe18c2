//! Token buckets: per-allocation bandwidth and per-source limits on 401 responses.

use std::net::IpAddr;
use std::time::Instant;

const SCALE: u128 = 1_000_000_000;

/// A token bucket refilled at `rate` tokens per second up to `burst`, in virtual time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Tokens times 1e9 (nano-tokens), so slow rates do not lose fractions.
    tokens: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: u128::from(burst) * SCALE,
            last: now,
        }
    }

    /// Take `n` tokens if available.
    pub fn try_take(&mut self, now: Instant, n: u64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        if elapsed > 0 {
            self.tokens =
                (self.tokens + elapsed * u128::from(self.rate)).min(u128::from(self.burst) * SCALE);
            self.last = now;
        }
        let need = u128::from(n) * SCALE;
        if self.tokens >= need {
            self.tokens -= need;
            true
        } else {
            false
        }
    }
}

const SLOTS: usize = 4096;

/// Per-source-IP buckets in a fixed table (bounded memory, no cleanup). Two sources that
/// hash to one slot share a bucket until one replaces the other, which only ever errs on the
/// side of answering.
pub struct SourceLimiter {
    salt: u64,
    rate: u64,
    burst: u64,
    slots: Vec<Option<(IpAddr, TokenBucket)>>,
}

impl SourceLimiter {
    pub fn new(rate: u64, burst: u64, salt: u64) -> SourceLimiter {
        SourceLimiter {
            salt,
            rate,
            burst,
            slots: vec![None; SLOTS],
        }
    }

    /// Whether `ip` may be sent one more response now.
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let index = self.index(ip);
        let slot = &mut self.slots[index];
        match slot {
            Some((owner, bucket)) if *owner == ip => bucket.try_take(now, 1),
            _ => {
                let mut bucket = TokenBucket::new(self.rate, self.burst, now);
                let ok = bucket.try_take(now, 1);
                *slot = Some((ip, bucket));
                ok
            }
        }
    }

    fn index(&self, ip: IpAddr) -> usize {
        let bits: u128 = match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let mut h = self.salt ^ 0x9e37_79b9_7f4a_7c15;
        for part in [bits as u64, (bits >> 64) as u64] {
            h = (h ^ part).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 33;
        }
        (h as usize) % SLOTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 1000, t0);
        assert!(b.try_take(t0, 1000));
        assert!(!b.try_take(t0, 1));
        assert!(b.try_take(t0 + Duration::from_millis(500), 500));
        assert!(!b.try_take(t0 + Duration::from_millis(500), 1));
        assert!(b.try_take(t0 + Duration::from_secs(100), 1000));
        assert!(!b.try_take(t0 + Duration::from_secs(100), 1));
    }

    #[test]
    fn limiter_is_per_source() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(1, 3, 42);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| l.allow(t0, a)));
        assert!(!l.allow(t0, a));
        assert!(l.allow(t0, b));
        assert!(l.allow(t0 + Duration::from_secs(1), a));
    }
}

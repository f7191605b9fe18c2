//! Statistics: a fixed-size latency histogram (log-linear buckets, no allocation per sample)
//! and the median/min/max summary the report prints for repeated runs.

/// Sub-buckets per power of two: values are kept to within 1/64 (1.6 %) of their true value.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Values up to 2^40 ns (about 18 minutes) are kept; larger ones fall in the last bucket.
const MAX_EXP: u32 = 40;
const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 1) as usize + 1) * SUB as usize;

/// A latency histogram over nanoseconds: exact below 64 ns, then 64 linear sub-buckets per
/// power of two. Recording is O(1) and never allocates.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }

    fn index(value: u64) -> usize {
        if value < SUB {
            return value as usize;
        }
        let exp = (63 - value.leading_zeros()).min(MAX_EXP);
        let value = value.min((1u64 << (MAX_EXP + 1)) - 1);
        // exp >= SUB_BITS here; the top SUB_BITS bits below the leading one pick the sub-bucket.
        let shift = exp - SUB_BITS;
        let sub = (value >> shift) - SUB;
        ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
    }

    /// The lowest value that falls in bucket `index`.
    fn lower_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB {
            return index;
        }
        let block = index / SUB; // >= 1
        let sub = index % SUB;
        let shift = (block - 1) as u32;
        (SUB + sub) << shift
    }

    pub fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0.0..=1.0): the lower bound of the bucket holding the
    /// ceil(q * n)-th smallest sample, or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::lower_bound(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

/// Median, minimum and maximum of repeated measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Summary {
    /// `None` for no values; NaNs are ignored. The median of an even count is the mean of the
    /// middle two.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..64 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), Some(0));
        assert_eq!(h.quantile(0.5), Some(31));
        assert_eq!(h.quantile(1.0), Some(63));
    }

    #[test]
    fn buckets_round_down_by_less_than_two_percent() {
        for v in [64u64, 65, 100, 1_000, 12_345, 999_999, 123_456_789, 1 << 39] {
            let low = Histogram::lower_bound(Histogram::index(v));
            assert!(low <= v, "{v}: {low}");
            assert!((v - low) as f64 / v as f64 <= 1.0 / 64.0, "{v}: {low}");
        }
    }

    #[test]
    fn bucket_bounds_are_monotonic() {
        let mut last = 0;
        for i in 1..BUCKETS {
            let b = Histogram::lower_bound(i);
            assert!(b > last, "bucket {i}");
            assert_eq!(Histogram::index(b), i);
            last = b;
        }
    }

    #[test]
    fn huge_values_stay_in_range() {
        let mut h = Histogram::new();
        h.record(u64::MAX);
        assert_eq!(h.count(), 1);
        assert!(h.quantile(0.5).unwrap() >= 1 << MAX_EXP);
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1_000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.02, "{p50}");
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.02, "{p99}");
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn summary_median_min_max() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, 2.0, f64::NAN, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.5, 1.0, 4.0, 4));
        assert_eq!(Summary::of(&[]), None);
    }
}

//! Relay port allocation in O(1): the free ports sit in a vector in random order (shuffled
//! once with the injected RNG), with each port's position indexed so any port can be taken or
//! returned in constant time.

use rand::Rng;

const NOT_FREE: u32 = u32::MAX;
/// How many random candidates an EVEN-PORT search looks at before giving up (RFC 8656 §7.2
/// lets the server answer 508 when it cannot satisfy EVEN-PORT).
const EVEN_TRIES: usize = 64;

/// The relay port range and which of its ports are free.
#[derive(Debug)]
pub struct PortAllocator {
    min: u16,
    free: Vec<u16>,
    /// For each port in range, its index in `free`, or `NOT_FREE`.
    position: Vec<u32>,
}

impl PortAllocator {
    /// All ports of `min..=max` free, in an order drawn from `rng`.
    pub fn new(min: u16, max: u16, rng: &mut impl Rng) -> PortAllocator {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        let mut free: Vec<u16> = (min..=max).collect();
        for i in (1..free.len()).rev() {
            let j = rng.gen_range(0..=i);
            free.swap(i, j);
        }
        let mut position = vec![NOT_FREE; free.len()];
        for (i, p) in free.iter().enumerate() {
            position[usize::from(p - min)] = i as u32;
        }
        PortAllocator {
            min,
            free,
            position,
        }
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }

    pub fn is_free(&self, port: u16) -> bool {
        self.slot(port)
            .is_some_and(|s| self.position[s] != NOT_FREE)
    }

    /// Any free port.
    pub fn take_any(&mut self) -> Option<u16> {
        let port = *self.free.last()?;
        self.take(port).then_some(port)
    }

    /// A free even port; with `pair`, one whose successor is free too (both taken).
    pub fn take_even(&mut self, pair: bool, rng: &mut impl Rng) -> Option<u16> {
        for _ in 0..EVEN_TRIES {
            if self.free.is_empty() {
                return None;
            }
            let candidate = self.free[rng.gen_range(0..self.free.len())] & !1;
            let ok = self.is_free(candidate)
                && (!pair || candidate.checked_add(1).is_some_and(|p| self.is_free(p)));
            if ok {
                self.take(candidate);
                if pair {
                    self.take(candidate + 1);
                }
                return Some(candidate);
            }
        }
        None
    }

    /// Take a specific port; false when it is out of range or in use.
    pub fn take(&mut self, port: u16) -> bool {
        let Some(slot) = self.slot(port) else {
            return false;
        };
        let at = self.position[slot];
        if at == NOT_FREE {
            return false;
        }
        let last = self.free.len() - 1;
        self.free.swap(at as usize, last);
        let moved = self.free[at as usize];
        self.position[usize::from(moved - self.min)] = at;
        self.free.pop();
        self.position[slot] = NOT_FREE;
        true
    }

    /// Return a port, at a random place in the free order.
    pub fn release(&mut self, port: u16, rng: &mut impl Rng) {
        let Some(slot) = self.slot(port) else {
            return;
        };
        if self.position[slot] != NOT_FREE {
            return;
        }
        self.free.push(port);
        let last = self.free.len() - 1;
        self.position[slot] = last as u32;
        let j = rng.gen_range(0..=last);
        if j != last {
            self.free.swap(j, last);
            let a = self.free[j];
            let b = self.free[last];
            self.position[usize::from(a - self.min)] = j as u32;
            self.position[usize::from(b - self.min)] = last as u32;
        }
    }

    fn slot(&self, port: u16) -> Option<usize> {
        let s = usize::from(port.checked_sub(self.min)?);
        (s < self.position.len()).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn hands_out_each_port_once_and_takes_them_back() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut p = PortAllocator::new(50000, 50099, &mut rng);
        let mut seen = HashSet::new();
        while let Some(port) = p.take_any() {
            assert!((50000..=50099).contains(&port));
            assert!(seen.insert(port), "port {port} handed out twice");
        }
        assert_eq!(seen.len(), 100);
        assert_eq!(p.take_even(false, &mut rng), None);
        p.release(50042, &mut rng);
        p.release(50042, &mut rng);
        assert_eq!(p.available(), 1);
        assert_eq!(p.take_any(), Some(50042));
        p.release(1, &mut rng);
        assert_eq!(p.available(), 0);
    }

    #[test]
    fn even_pairs() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut p = PortAllocator::new(40000, 40009, &mut rng);
        let mut got = Vec::new();
        while let Some(port) = p.take_even(true, &mut rng) {
            assert_eq!(port % 2, 0);
            assert!(!p.is_free(port) && !p.is_free(port + 1));
            got.push(port);
            if got.len() > 5 {
                break;
            }
        }
        assert_eq!(got.len(), 5);
        assert_eq!(p.available(), 0);
    }

    #[test]
    fn start_is_randomised() {
        let a = PortAllocator::new(49152, 65535, &mut StdRng::seed_from_u64(1)).take_any();
        let b = PortAllocator::new(49152, 65535, &mut StdRng::seed_from_u64(2)).take_any();
        assert_ne!(a, b);
    }

    proptest::proptest! {
        #[test]
        fn random_take_release_keeps_index_consistent(ops in proptest::collection::vec((0u8..4, 0u16..40), 1..300)) {
            let mut rng = StdRng::seed_from_u64(3);
            let mut p = PortAllocator::new(1000, 1031, &mut rng);
            let mut taken = HashSet::new();
            for (op, n) in ops {
                match op {
                    0 => if let Some(x) = p.take_any() { proptest::prop_assert!(taken.insert(x)); },
                    1 => if let Some(x) = p.take_even(n % 2 == 0, &mut rng) {
                        proptest::prop_assert!(taken.insert(x));
                        if n % 2 == 0 { proptest::prop_assert!(taken.insert(x + 1)); }
                    },
                    2 => { let port = 1000 + n; if p.take(port) { proptest::prop_assert!(taken.insert(port)); } }
                    _ => { let port = 1000 + n; p.release(port, &mut rng); taken.remove(&port); }
                }
                proptest::prop_assert_eq!(p.available() + taken.len(), 32);
                for &t in &taken { proptest::prop_assert!(!p.is_free(t)); }
            }
        }
    }
}

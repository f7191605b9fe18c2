//! The relay port pool and RESERVATION-TOKEN reservations (RFC 8656 §7.2), as one object
//! that several cores can share: a token issued by one shard can be redeemed on another (an
//! RTP/RTCP pair may come from two client ports that the kernel hands to different shards).
//! Only allocation set-up and tear-down touch it; the relay hot path never does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::Rng;

use super::ports::PortAllocator;

#[derive(Debug)]
struct Inner {
    ports: PortAllocator,
    /// Token -> (reserved port, expiry).
    reservations: HashMap<u64, (u16, Instant)>,
    rng: StdRng,
}

/// Free relay ports and outstanding reservations.
#[derive(Debug)]
pub struct RelayPorts {
    inner: Mutex<Inner>,
}

impl RelayPorts {
    /// Ports `min..=max`, shuffled with `rng` (which also draws tokens).
    pub fn new(min: u16, max: u16, mut rng: StdRng) -> Arc<RelayPorts> {
        let ports = PortAllocator::new(min, max, &mut rng);
        Arc::new(RelayPorts {
            inner: Mutex::new(Inner {
                ports,
                reservations: HashMap::new(),
                rng,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take_any(&self) -> Option<u16> {
        self.lock().ports.take_any()
    }

    /// An even port; with `pair`, its successor is taken too (for a reservation).
    pub fn take_even(&self, pair: bool) -> Option<u16> {
        let inner = &mut *self.lock();
        inner.ports.take_even(pair, &mut inner.rng)
    }

    pub fn release(&self, port: u16) {
        let inner = &mut *self.lock();
        inner.ports.release(port, &mut inner.rng);
    }

    /// Hold an already-taken `port` under a new token until `expires`.
    pub fn reserve(&self, port: u16, expires: Instant) -> u64 {
        let inner = &mut *self.lock();
        loop {
            let token: u64 = inner.rng.gen();
            if let std::collections::hash_map::Entry::Vacant(slot) = inner.reservations.entry(token)
            {
                slot.insert((port, expires));
                return token;
            }
        }
    }

    /// Use a token: its port, now owned by the caller.
    pub fn redeem(&self, token: u64) -> Option<u16> {
        self.lock().reservations.remove(&token).map(|(p, _)| p)
    }

    /// Whether `token` is outstanding and expires at `at` (its timer is the current one).
    pub fn expires_at(&self, token: u64, at: Instant) -> bool {
        self.lock()
            .reservations
            .get(&token)
            .is_some_and(|r| r.1 == at)
    }

    pub fn is_reserved(&self, token: u64) -> bool {
        self.lock().reservations.contains_key(&token)
    }

    /// The reservation lapsed: its port returns to the pool (and is returned).
    pub fn expire(&self, token: u64) -> Option<u16> {
        let inner = &mut *self.lock();
        let (port, _) = inner.reservations.remove(&token)?;
        inner.ports.release(port, &mut inner.rng);
        Some(port)
    }

    /// Move a reservation to another (already taken) port, releasing and returning the old one.
    pub fn retarget(&self, token: u64, port: u16) -> Option<u16> {
        let inner = &mut *self.lock();
        let r = inner.reservations.get_mut(&token)?;
        let old = std::mem::replace(&mut r.0, port);
        inner.ports.release(old, &mut inner.rng);
        Some(old)
    }

    pub fn available(&self) -> usize {
        self.lock().ports.available()
    }

    pub fn reservations(&self) -> usize {
        self.lock().reservations.len()
    }
}

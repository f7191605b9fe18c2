//! The deadline heap. Entries are never removed in place: a refreshed object pushes a new
//! entry and the old one is recognised as stale when it surfaces (its object is gone or now
//! expires at another instant). Push and pop are O(log n); nothing scans all objects.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::time::Instant;

/// What a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// RFC 8656 §7: allocation lifetime.
    Allocation { index: u32, generation: u32 },
    /// RFC 8656 §9: permission lifetime (300 s).
    Permission {
        index: u32,
        generation: u32,
        ip: IpAddr,
    },
    /// RFC 8656 §12: channel lifetime (600 s) and its 5-minute quarantine afterwards.
    Channel {
        index: u32,
        generation: u32,
        number: u16,
    },
    /// RFC 8656 §7.2: a RESERVATION-TOKEN's port is held for 30 s.
    Reservation { token: u64 },
    /// RFC 6062 §5.3/§5.4: a peer connection waiting for Connect completion or ConnectionBind.
    Connection { id: u32 },
}

#[derive(Debug, Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
}

impl TimerHeap {
    pub fn push(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    pub fn peek(&self) -> Option<(Instant, Timer)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    pub fn pop(&mut self) -> Option<(Instant, Timer)> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

//! Queued responses and indications, in buffers that are recycled: in steady state nothing
//! here allocates.

use std::collections::VecDeque;

use super::types::Transmit;

const POOL_LIMIT: usize = 64;
/// A queue this long means the driver is not draining `poll_transmit`.
const QUEUE_LIMIT: usize = 4096;

#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<(Transmit, Vec<u8>)>,
    pool: Vec<Vec<u8>>,
}

impl Outbox {
    /// An empty buffer to build a message in.
    pub fn buffer(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_else(|| Vec::with_capacity(1500))
    }

    pub fn push(&mut self, transmit: Transmit, buf: Vec<u8>) {
        debug_assert!(
            self.queue.len() < QUEUE_LIMIT,
            "the driver must drain poll_transmit after every input"
        );
        if self.queue.len() >= QUEUE_LIMIT {
            // Drop rather than grow without bound; a response is retransmitted by its client.
            self.recycle(buf);
            return;
        }
        self.queue.push_back((transmit, buf));
    }

    /// Swap the next message into `out` (its old buffer joins the pool).
    pub fn pop(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        let (t, mut buf) = self.queue.pop_front()?;
        std::mem::swap(out, &mut buf);
        self.recycle(buf);
        Some(t)
    }

    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_LIMIT {
            buf.clear();
            self.pool.push(buf);
        }
    }
}

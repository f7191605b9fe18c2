//! Outstanding requests and their retransmission schedule (RFC 8489 §6.2.1: over UDP an
//! initial RTO of 500 ms doubling per retransmission, Rc = 7 sends, then Rm × RTO of silence
//! means failure; over TCP a single send and a 39.5 s timeout).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use stun::TransactionId;

const INITIAL_RTO: Duration = Duration::from_millis(500);
const MAX_SENDS: u8 = 7;
const LAST_WAIT_FACTOR: u32 = 16;
const TCP_TIMEOUT: Duration = Duration::from_millis(39_500);

/// What a request was for, so its response can be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Allocate,
    Refresh {
        lifetime: u32,
    },
    Permission {
        peers: Vec<std::net::IpAddr>,
    },
    ChannelBind {
        number: u16,
        peer: std::net::SocketAddr,
    },
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub purpose: Purpose,
    pub bytes: Vec<u8>,
    pub sends: u8,
    pub rto: Duration,
    pub deadline: Instant,
    /// How many times it was re-issued after 401/438.
    pub auth_retries: u8,
}

/// Requests awaiting a response, keyed by transaction id.
#[derive(Debug, Default)]
pub struct Transactions {
    pending: HashMap<TransactionId, Pending>,
    reliable: bool,
}

impl Transactions {
    pub fn new(reliable: bool) -> Transactions {
        Transactions {
            pending: HashMap::new(),
            reliable,
        }
    }

    /// Record a request just sent.
    pub fn start(
        &mut self,
        now: Instant,
        tid: TransactionId,
        purpose: Purpose,
        bytes: Vec<u8>,
        auth_retries: u8,
    ) {
        let wait = if self.reliable {
            TCP_TIMEOUT
        } else {
            INITIAL_RTO
        };
        self.pending.insert(
            tid,
            Pending {
                purpose,
                bytes,
                sends: 1,
                rto: INITIAL_RTO,
                deadline: now + wait,
                auth_retries,
            },
        );
    }

    pub fn finish(&mut self, tid: &TransactionId) -> Option<Pending> {
        self.pending.remove(tid)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Requests due at `now`: retransmissions to send, and requests that timed out.
    pub fn due(&mut self, now: Instant) -> (Vec<Vec<u8>>, Vec<Purpose>) {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        let reliable = self.reliable;
        self.pending.retain(|_, p| {
            if p.deadline > now {
                return true;
            }
            if reliable || p.sends >= MAX_SENDS {
                failed.push(p.purpose.clone());
                return false;
            }
            p.sends += 1;
            p.rto *= 2;
            let wait = if p.sends == MAX_SENDS {
                INITIAL_RTO * LAST_WAIT_FACTOR
            } else {
                p.rto
            };
            p.deadline = now + wait;
            resend.push(p.bytes.clone());
            true
        });
        (resend, failed)
    }

    pub fn is_pending(&self, pred: impl Fn(&Purpose) -> bool) -> bool {
        self.pending.values().any(|p| pred(&p.purpose))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_schedule_doubles_then_gives_up() {
        let t0 = Instant::now();
        let mut t = Transactions::new(false);
        t.start(t0, TransactionId([1; 12]), Purpose::Allocate, vec![1], 0);
        let mut now = t0;
        let mut sends = 1;
        let mut waits = Vec::new();
        loop {
            let next = t.next_deadline().unwrap();
            waits.push(next - now);
            now = next;
            let (resend, failed) = t.due(now);
            sends += resend.len();
            if !failed.is_empty() {
                break;
            }
        }
        assert_eq!(sends, 7);
        let ms: Vec<u128> = waits.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000, 16000, 8000]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn tcp_sends_once() {
        let t0 = Instant::now();
        let mut t = Transactions::new(true);
        t.start(t0, TransactionId([1; 12]), Purpose::Allocate, vec![1], 0);
        assert_eq!(t.next_deadline(), Some(t0 + TCP_TIMEOUT));
        let (resend, failed) = t.due(t0 + TCP_TIMEOUT);
        assert!(resend.is_empty());
        assert_eq!(failed, vec![Purpose::Allocate]);
    }
}

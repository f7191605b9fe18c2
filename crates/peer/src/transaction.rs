//! STUN request retransmission (RFC 8489 §6.2), shared by the binding and TURN clients.
//!
//! Over UDP a request is sent again after RTO, 2·RTO, 4·RTO, … (Rc sends in all) and the
//! transaction fails Rm·RTO after the last send. Over TCP and TLS the request is sent once and
//! the transaction fails after Ti (39.5 s).

use std::time::{Duration, Instant};

use stun::TransactionId;

/// RFC 8489 §6.2.1: initial retransmission timeout.
pub const INITIAL_RTO: Duration = Duration::from_millis(500);
/// RFC 8489 §6.2.1: Rc, the number of sends over UDP.
pub const MAX_SENDS: u32 = 7;
/// RFC 8489 §6.2.1: Rm, the multiple of RTO waited after the last send.
const LAST_WAIT_MULTIPLE: u32 = 16;
/// RFC 8489 §6.2.2: Ti, the reliable-transport transaction timeout.
pub const RELIABLE_TIMEOUT: Duration = Duration::from_millis(39_500);

/// What [`Transaction::handle_timeout`] asks the owner to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retransmit {
    /// Nothing is due yet.
    Wait,
    /// Send the request bytes again.
    Resend,
    /// No response came in time.
    TimedOut,
}

/// One outstanding request: its bytes and its retransmission schedule.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: TransactionId,
    pub request: Vec<u8>,
    reliable: bool,
    rto: Duration,
    sends: u32,
    max_sends: u32,
    deadline: Instant,
}

impl Transaction {
    /// A request first sent at `now`.
    pub fn new(
        id: TransactionId,
        request: Vec<u8>,
        reliable: bool,
        max_sends: u32,
        now: Instant,
    ) -> Self {
        let max_sends = max_sends.clamp(1, MAX_SENDS);
        let deadline = if reliable {
            now + RELIABLE_TIMEOUT
        } else if max_sends == 1 {
            now + INITIAL_RTO * LAST_WAIT_MULTIPLE
        } else {
            now + INITIAL_RTO
        };
        Transaction {
            id,
            request,
            reliable,
            rto: INITIAL_RTO,
            sends: 1,
            max_sends,
            deadline,
        }
    }

    /// The instant at which [`Transaction::handle_timeout`] has work to do.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Advance the schedule to `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Retransmit {
        if now < self.deadline {
            return Retransmit::Wait;
        }
        if self.reliable || self.sends >= self.max_sends {
            return Retransmit::TimedOut;
        }
        self.sends += 1;
        self.rto *= 2;
        self.deadline = if self.sends == self.max_sends {
            now + INITIAL_RTO * LAST_WAIT_MULTIPLE
        } else {
            now + self.rto
        };
        Retransmit::Resend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid() -> TransactionId {
        TransactionId([7; 12])
    }

    #[test]
    fn udp_schedule_doubles_then_times_out() {
        let t0 = Instant::now();
        let mut t = Transaction::new(tid(), vec![1], false, MAX_SENDS, t0);
        let mut now = t0;
        let mut gaps = Vec::new();
        loop {
            let due = t.deadline();
            gaps.push(due - now);
            now = due;
            match t.handle_timeout(now) {
                Retransmit::Resend => continue,
                Retransmit::TimedOut => break,
                Retransmit::Wait => panic!("deadline reached but nothing due"),
            }
        }
        let ms: Vec<u128> = gaps.iter().map(|d| d.as_millis()).collect();
        // RFC 8489 §6.2.1 example: sends at 0, 500, 1500, 3500, 7500, 15500, 31500; fail at 39500.
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000, 16000, 8000]);
    }

    #[test]
    fn nothing_due_before_the_deadline() {
        let t0 = Instant::now();
        let mut t = Transaction::new(tid(), vec![1], false, 3, t0);
        assert_eq!(t.handle_timeout(t0), Retransmit::Wait);
        assert_eq!(t.handle_timeout(t0 + INITIAL_RTO), Retransmit::Resend);
    }

    #[test]
    fn reliable_transport_never_resends() {
        let t0 = Instant::now();
        let mut t = Transaction::new(tid(), vec![1], true, MAX_SENDS, t0);
        assert_eq!(t.deadline(), t0 + RELIABLE_TIMEOUT);
        assert_eq!(
            t.handle_timeout(t0 + RELIABLE_TIMEOUT),
            Retransmit::TimedOut
        );
    }
}

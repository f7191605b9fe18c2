//! A connection's queue of outgoing messages, and the rule that decides when its reader is too
//! slow (`docs/protocol.md` §9, close code 4000).
//!
//! A fixed bound alone misjudges bursts: when 500 viewers join a broadcast at once, 500
//! `peer-joined` messages are queued for the publisher before its task is even scheduled. So a
//! connection is a slow consumer only when its queue holds at least `soft` messages **and** it
//! has taken none for [`STALL`], or when the queue reaches `hard` (a memory bound no matter what).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal::ServerMessage;
use tokio::sync::mpsc;

/// How long a full queue may go without the writer taking a message.
pub(crate) const STALL: Duration = Duration::from_secs(1);

/// The hard bound, as a multiple of the configured (soft) `send_queue`.
pub(crate) const HARD_FACTOR: usize = 4;

struct Progress {
    epoch: Instant,
    /// Messages queued and not yet taken by the writer.
    pending: AtomicUsize,
    /// Milliseconds since `epoch` of the writer's last take, or of the moment the queue last
    /// became non-empty, whichever is later: the start of the current wait.
    progress_ms: AtomicU64,
}

impl Progress {
    fn mark(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.progress_ms.fetch_max(ms, Relaxed);
    }

    fn stalled_for(&self, now: Instant) -> Duration {
        let since = self.epoch + Duration::from_millis(self.progress_ms.load(Relaxed));
        now.saturating_duration_since(since)
    }
}

/// The hub side.
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<ServerMessage>,
    progress: Arc<Progress>,
    soft: usize,
    hard: usize,
}

/// Why a message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The reader is too slow: close the connection with `slow-consumer`.
    SlowConsumer,
    /// The connection task has ended.
    Closed,
}

/// The connection task side.
pub(crate) struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<ServerMessage>,
    progress: Arc<Progress>,
}

/// A queue whose reader is judged slow per the module rule, with `soft` = `send_queue`.
pub(crate) fn outbox(soft: usize, now: Instant) -> (Outbox, OutboxReceiver) {
    let soft = soft.max(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let progress = Arc::new(Progress {
        epoch: now,
        pending: AtomicUsize::new(0),
        progress_ms: AtomicU64::new(0),
    });
    (
        Outbox {
            tx,
            progress: progress.clone(),
            soft,
            hard: soft.saturating_mul(HARD_FACTOR),
        },
        OutboxReceiver { rx, progress },
    )
}

impl Outbox {
    pub(crate) fn push(&self, message: ServerMessage, now: Instant) -> Result<(), PushError> {
        let p = &self.progress;
        let pending = p.pending.load(Relaxed);
        if pending == 0 {
            // A new wait starts now, not when the writer last took something long ago.
            p.mark(now);
        }
        if pending >= self.hard || (pending >= self.soft && p.stalled_for(now) >= STALL) {
            return Err(PushError::SlowConsumer);
        }
        p.pending.fetch_add(1, Relaxed);
        self.tx.send(message).map_err(|_| {
            p.pending.fetch_sub(1, Relaxed);
            PushError::Closed
        })
    }
}

impl OutboxReceiver {
    pub(crate) async fn recv(&mut self) -> Option<ServerMessage> {
        let m = self.rx.recv().await?;
        self.took();
        Some(m)
    }

    pub(crate) fn try_recv(&mut self) -> Option<ServerMessage> {
        let m = self.rx.try_recv().ok()?;
        self.took();
        Some(m)
    }

    fn took(&self) {
        self.progress.pending.fetch_sub(1, Relaxed);
        self.progress.mark(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> ServerMessage {
        ServerMessage::Pong
    }

    #[test]
    fn a_burst_beyond_the_soft_bound_is_fine_while_fresh() {
        let t0 = Instant::now();
        let (out, mut rx) = outbox(4, t0);
        for _ in 0..10 {
            out.push(msg(), t0).unwrap();
        }
        // Still making progress: the writer takes one, the wait restarts.
        assert!(rx.try_recv().is_some());
        assert_eq!(out.push(msg(), t0 + Duration::from_millis(500)), Ok(()));
    }

    #[test]
    fn a_stalled_full_queue_is_a_slow_consumer() {
        let t0 = Instant::now();
        let (out, _rx) = outbox(4, t0);
        for _ in 0..4 {
            out.push(msg(), t0).unwrap();
        }
        assert_eq!(out.push(msg(), t0 + STALL), Err(PushError::SlowConsumer));
    }

    #[test]
    fn the_hard_bound_holds_regardless() {
        let t0 = Instant::now();
        let (out, _rx) = outbox(2, t0);
        for _ in 0..2 * HARD_FACTOR {
            out.push(msg(), t0).unwrap();
        }
        assert_eq!(out.push(msg(), t0), Err(PushError::SlowConsumer));
    }

    #[test]
    fn an_old_idle_queue_does_not_count_as_stalled() {
        let t0 = Instant::now();
        let (out, mut rx) = outbox(2, t0);
        out.push(msg(), t0).unwrap();
        assert!(rx.try_recv().is_some());
        // An hour of silence, then a burst: the wait starts with the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            out.push(msg(), later).unwrap();
        }
    }

    #[test]
    fn a_closed_receiver_is_reported() {
        let t0 = Instant::now();
        let (out, rx) = outbox(2, t0);
        drop(rx);
        assert_eq!(out.push(msg(), t0), Err(PushError::Closed));
    }
}

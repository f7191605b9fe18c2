//! The hub behind a mutex, and the per-connection send queues it delivers into.
//!
//! Every connection task calls in with its frames; each call feeds the hub, then drains it:
//! messages go into the recipients' [`Outbox`]es without waiting, so one slow reader never
//! blocks the hub or anybody else: when its outbox says so it is cut off (`slow-consumer`).
//! One timer task sleeps until the hub's next deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use signal::{CloseReason, ConnId, Event, Frame, Hub};
use tokio::sync::{oneshot, watch, Notify};

use super::outbox::{outbox, Outbox, OutboxReceiver, PushError};
use crate::Metrics;

/// How the hub reaches one connection task.
struct Slot {
    queue: Outbox,
    close: oneshot::Sender<CloseReason>,
}

struct Inner {
    hub: Hub<StdRng>,
    slots: HashMap<ConnId, Slot>,
    /// The deadline the timer task sleeps until.
    scheduled: Option<Instant>,
}

pub(crate) struct Switchboard {
    inner: Mutex<Inner>,
    timer: Notify,
    metrics: Arc<Metrics>,
    next_conn: AtomicU64,
    /// Open WebSocket connections, for the total connection limit.
    open: AtomicUsize,
    max_connections: usize,
    /// Woken whenever `open` drops to zero (graceful shutdown waits on it).
    idle: Notify,
}

/// The receiving ends a connection task owns.
pub(crate) struct Registration {
    pub(crate) conn: ConnId,
    pub(crate) queue: OutboxReceiver,
    pub(crate) close: oneshot::Receiver<CloseReason>,
}

/// A permit for one open connection; dropping it frees the place.
pub(crate) struct ConnectionPermit(Arc<Switchboard>);

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.0.metrics.signal_connections.fetch_sub(1, Relaxed);
        if self.0.open.fetch_sub(1, Relaxed) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Switchboard {
    pub(crate) fn new(hub: Hub<StdRng>, max_connections: usize, metrics: Arc<Metrics>) -> Self {
        Switchboard {
            inner: Mutex::new(Inner {
                hub,
                slots: HashMap::new(),
                scheduled: None,
            }),
            timer: Notify::new(),
            metrics,
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            max_connections,
            idle: Notify::new(),
        }
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A place for one more connection, or `None` at `max_connections`.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<ConnectionPermit> {
        let max = self.max_connections;
        self.open
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .ok()?;
        self.metrics.signal_connections.fetch_add(1, Relaxed);
        Some(ConnectionPermit(self.clone()))
    }

    /// Resolves once no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let notified = self.idle.notified();
            if self.open.load(Relaxed) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The hub never panics on input; should a bug make it, keep serving the other rooms
        // rather than poisoning every connection.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a connection in the hub with a send queue of `queue_len` messages (the soft
    /// bound of [`Outbox`]).
    pub(crate) fn register(&self, queue_len: usize) -> Registration {
        let conn = ConnId(self.next_conn.fetch_add(1, Relaxed));
        let (queue_tx, queue) = outbox(queue_len, Instant::now());
        let (close_tx, close) = oneshot::channel();
        let mut inner = self.lock();
        inner.hub.connect(conn, Instant::now());
        inner.slots.insert(
            conn,
            Slot {
                queue: queue_tx,
                close: close_tx,
            },
        );
        self.settle(&mut inner);
        Registration { conn, queue, close }
    }

    /// One frame from a connection.
    pub(crate) fn frame(&self, conn: ConnId, frame: Frame<'_>) {
        if !matches!(frame, Frame::Heartbeat) {
            self.metrics.signal_messages_in.fetch_add(1, Relaxed);
        }
        let mut inner = self.lock();
        inner.hub.handle(conn, frame, Instant::now(), unix_now());
        self.settle(&mut inner);
    }

    /// The connection is gone (closed by the client, the network or the server).
    pub(crate) fn unregister(&self, conn: ConnId) {
        let mut inner = self.lock();
        inner.slots.remove(&conn);
        inner.hub.disconnect(conn, Instant::now());
        self.settle(&mut inner);
    }

    /// Fires due timers; returns the next deadline.
    fn fire_timers(&self) -> Option<Instant> {
        let mut inner = self.lock();
        inner.hub.handle_timeout(Instant::now());
        self.settle(&mut inner);
        inner.scheduled = inner.hub.poll_timeout();
        inner.scheduled
    }

    /// Drains the hub: delivers messages, carries out closes, updates gauges, and wakes the
    /// timer task when the hub's next deadline moved earlier.
    fn settle(&self, inner: &mut Inner) {
        let now = Instant::now();
        let mut slow = Vec::new();
        loop {
            while let Some(t) = inner.hub.poll_transmit() {
                let Some(slot) = inner.slots.get(&t.conn) else {
                    continue;
                };
                match slot.queue.push(t.message, now) {
                    Ok(()) => {}
                    Err(PushError::SlowConsumer) => {
                        self.metrics.signal_slow_consumers.fetch_add(1, Relaxed);
                        tracing::debug!(
                            conn = t.conn.0,
                            "send queue stalled; closing slow consumer"
                        );
                        close_slot(inner, t.conn, CloseReason::SlowConsumer);
                        slow.push(t.conn);
                    }
                    // The task already ended; its `unregister` is on its way.
                    Err(PushError::Closed) => {}
                }
            }
            while let Some(Event::Close { conn, reason }) = inner.hub.poll_event() {
                close_slot(inner, conn, reason);
            }
            if slow.is_empty() {
                break;
            }
            // The hub is drained: now it may hear about the connections cut off above (which
            // can produce more output, hence the loop).
            for conn in slow.drain(..) {
                inner.hub.disconnect(conn, now);
            }
        }
        let stats = inner.hub.stats();
        self.metrics.signal_rooms.store(stats.rooms as i64, Relaxed);
        self.metrics.signal_peers.store(stats.peers as i64, Relaxed);
        let next = inner.hub.poll_timeout();
        let earlier = match (next, inner.scheduled) {
            (Some(n), Some(s)) => n < s,
            (Some(_), None) => true,
            _ => false,
        };
        if earlier {
            inner.scheduled = next;
            self.timer.notify_one();
        }
    }

    /// Runs the hub's timers until `shutdown` turns true.
    pub(crate) async fn run_timers(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut next = self.lock().hub.poll_timeout();
        loop {
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => next = self.fire_timers(),
                _ = self.timer.notified() => next = self.lock().scheduled,
                _ = super::wait_for_shutdown(&mut shutdown) => return,
            }
        }
    }
}

fn close_slot(inner: &mut Inner, conn: ConnId, reason: CloseReason) {
    if let Some(slot) = inner.slots.remove(&conn) {
        let _ = slot.close.send(reason);
    }
}

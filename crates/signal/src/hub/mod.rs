//! [`Hub`]: every room, participant and connection of a signaling server, as a sans-IO state
//! machine.
//!
//! The driver reports connections opening ([`Hub::connect`]) and closing ([`Hub::disconnect`]),
//! feeds every frame ([`Hub::handle`]) and drains what the hub wants done: messages with
//! [`Hub::poll_transmit`], connection closes with [`Hub::poll_event`]. Timers (resume grace
//! periods, keepalive) fire through [`Hub::poll_timeout`] / [`Hub::handle_timeout`].
//!
//! A participant's life (`docs/protocol.md` §6.4):
//!
//! ```text
//!            join                 connection lost             grace expires
//!  (none) ────────▶ connected ───────────────────▶ in grace ───────────────▶ gone (peer-left)
//!                    │   ▲                           │
//!                    │   └────── join + resume ──────┘   (same id, queued signals delivered)
//!                    └── leave ──────────────────────────────────────────▶ gone (peer-left)
//! ```

mod membership;
mod room;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::limits::TokenBucket;
use crate::message::{ClientMessage, PeerId, Role, ServerMessage, SignalData};
use crate::ErrorCode;
use room::{sees, Room};

/// The limits and settings the hub enforces. Defaults match `rendezvous serve`'s.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Largest text frame accepted, in bytes (`too-large`).
    pub max_message_bytes: usize,
    /// Messages per second per connection, with a burst of as many (`rate-limited`); 0 = no limit.
    pub max_messages_per_second: u32,
    /// Participants in a `peer` room (`room-full`).
    pub max_peers_per_room: usize,
    /// Viewers in a broadcast room (`broadcast-full`).
    pub max_viewers_per_broadcast: usize,
    /// How long a disconnected participant keeps its id for `resume`; zero disables resume.
    pub resume_grace: Duration,
    /// Signals queued for a participant in its grace period; one more ends the grace period.
    pub resume_queue: usize,
    /// A connection that sends nothing (no frame, no WebSocket ping or pong) for this long is
    /// closed; `None` disables the check.
    pub idle_timeout: Option<Duration>,
    /// Lifetime of the TURN credentials handed out, echoed as `joined.ice_ttl`.
    pub ice_ttl: Duration,
    /// Room token secrets; when non-empty every fresh `join` needs a valid token.
    pub token_secrets: Vec<Vec<u8>>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            max_message_bytes: 64 * 1024,
            max_messages_per_second: 50,
            max_peers_per_room: 16,
            max_viewers_per_broadcast: 500,
            resume_grace: Duration::from_secs(30),
            resume_queue: 256,
            idle_timeout: Some(Duration::from_secs(45)),
            ice_ttl: Duration::from_secs(3600),
            token_secrets: Vec::new(),
        }
    }
}

/// A connection, numbered by the driver. Never reused while the hub may still know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One WebSocket frame, as far as the hub cares.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    /// A WebSocket ping or pong: proof of life, nothing to answer.
    Heartbeat,
}

/// A message for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub conn: ConnId,
    pub message: ServerMessage,
}

/// Something the driver must do besides sending messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Close the connection with this reason. The hub has already forgotten it; a later
    /// [`Hub::disconnect`] for it is a no-op. Messages for it polled earlier are sent first.
    Close { conn: ConnId, reason: CloseReason },
}

/// Why a connection is closed, with the WebSocket close code it carries (`docs/protocol.md` §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server is shutting down (1001).
    Shutdown,
    /// A frame beyond the hard size cap (1009).
    TooLarge,
    /// The server is at its connection limit (1013).
    ServerFull,
    /// The send queue filled up: the client does not read fast enough (4000).
    SlowConsumer,
    /// Nothing received for three keepalive intervals (4001).
    Idle,
    /// The participant resumed on another connection (4002).
    Replaced,
    /// Too many messages refused in a row for exceeding the rate (4003).
    RateLimited,
}

impl CloseReason {
    /// The WebSocket close code (RFC 6455 §7.4; 4000-4999 are application codes).
    pub fn code(self) -> u16 {
        match self {
            CloseReason::Shutdown => 1001,
            CloseReason::TooLarge => 1009,
            CloseReason::ServerFull => 1013,
            CloseReason::SlowConsumer => 4000,
            CloseReason::Idle => 4001,
            CloseReason::Replaced => 4002,
            CloseReason::RateLimited => 4003,
        }
    }

    /// The close reason text.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Shutdown => "shutdown",
            CloseReason::TooLarge => "too-large",
            CloseReason::ServerFull => "server-full",
            CloseReason::SlowConsumer => "slow-consumer",
            CloseReason::Idle => "idle",
            CloseReason::Replaced => "replaced",
            CloseReason::RateLimited => "rate-limited",
        }
    }
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    pub connections: usize,
    pub rooms: usize,
    /// Participants, connected or in their grace period.
    pub peers: usize,
}

#[derive(Debug)]
struct Conn {
    peer: Option<PeerId>,
    bucket: TokenBucket,
    last_seen: Instant,
    refused_in_row: u32,
}

#[derive(Debug)]
struct Peer {
    room: Arc<str>,
    role: Role,
    /// Join sequence number: the key in [`Room`], and the join order.
    seq: u64,
    /// `None` while in the grace period.
    conn: Option<ConnId>,
    resume_secret: String,
    grace: Option<Grace>,
}

#[derive(Debug)]
struct Grace {
    epoch: u64,
    queue: VecDeque<(PeerId, SignalData)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Idle(ConnId),
    Grace(PeerId, u64),
}

/// The signaling state machine. `R` supplies participant ids and resume tokens: use a CSPRNG
/// (e.g. `StdRng::from_entropy()`) in production, a seeded one in tests.
pub struct Hub<R> {
    cfg: HubConfig,
    rng: R,
    conns: HashMap<ConnId, Conn>,
    peers: HashMap<PeerId, Peer>,
    rooms: HashMap<Arc<str>, Room>,
    /// Deadlines, earliest first. Idle entries are lazy (one per connection, re-armed from
    /// `last_seen` when they fire); stale entries are skipped when popped.
    timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_seq: u64,
    next_epoch: u64,
}

impl<R: RngCore> Hub<R> {
    pub fn new(cfg: HubConfig, rng: R) -> Self {
        Hub {
            cfg,
            rng,
            conns: HashMap::new(),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_seq: 0,
            next_epoch: 0,
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    /// A connection opened. Reusing the id of a connection the hub still knows is a driver bug;
    /// the old one is treated as disconnected first.
    pub fn connect(&mut self, conn: ConnId, now: Instant) {
        self.debug_assert_drained();
        if self.conns.contains_key(&conn) {
            debug_assert!(false, "connection id {conn:?} reused");
            self.drop_conn(conn, now, true);
        }
        self.conns.insert(
            conn,
            Conn {
                peer: None,
                bucket: TokenBucket::new(self.cfg.max_messages_per_second, now),
                last_seen: now,
                refused_in_row: 0,
            },
        );
        // A deadline beyond what `Instant` can hold is no deadline.
        if let Some(at) = self.cfg.idle_timeout.and_then(|idle| now.checked_add(idle)) {
            self.timers.push(Reverse((at, TimerKey::Idle(conn))));
        }
    }

    /// A connection closed (by the client, the network, or the driver). A joined participant
    /// enters its resume grace period. Unknown connections are ignored.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) {
        self.debug_assert_drained();
        self.drop_conn(conn, now, true);
    }

    /// One frame from `conn`. `unix_secs` is the wall clock, used only to check token expiry.
    /// Frames from connections the hub does not know (never connected, or already closed) are
    /// ignored.
    pub fn handle(&mut self, conn: ConnId, frame: Frame<'_>, now: Instant, unix_secs: u64) {
        self.debug_assert_drained();
        let cfg_max = self.cfg.max_message_bytes;
        let rate = self.cfg.max_messages_per_second;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_seen = c.last_seen.max(now);
        let text = match frame {
            Frame::Heartbeat => return,
            Frame::Text(text) => Some(text),
            Frame::Binary(_) => None,
        };
        if !c.bucket.take(now) {
            c.refused_in_row += 1;
            if c.refused_in_row >= rate.saturating_mul(2).max(1) {
                self.close(conn, CloseReason::RateLimited, now);
            } else {
                self.error(
                    conn,
                    ErrorCode::RATE_LIMITED,
                    format!("more than {rate} messages per second; message dropped"),
                    None,
                );
            }
            return;
        }
        c.refused_in_row = 0;
        let Some(text) = text else {
            self.error(
                conn,
                ErrorCode::BINARY_UNSUPPORTED,
                "binary frames are not part of the protocol; send JSON text frames",
                None,
            );
            return;
        };
        if text.len() > cfg_max {
            self.error(
                conn,
                ErrorCode::TOO_LARGE,
                format!("message of {} bytes exceeds {cfg_max}", text.len()),
                None,
            );
            return;
        }
        match ClientMessage::parse(text) {
            Ok(msg) => self.handle_message(conn, msg, unix_secs),
            Err(e) => {
                let reference = e.reference().map(str::to_owned);
                self.error(conn, e.code(), e.to_string(), reference);
            }
        }
    }

    /// One parsed message from `conn` (no size or rate check: [`Hub::handle`] does those).
    pub fn handle_message(&mut self, conn: ConnId, msg: ClientMessage, unix_secs: u64) {
        self.debug_assert_drained();
        if !self.conns.contains_key(&conn) {
            return;
        }
        match msg {
            ClientMessage::Join(join) => self.on_join(conn, join, unix_secs),
            ClientMessage::Signal { to, data } => self.on_signal(conn, to, data),
            ClientMessage::Leave => self.on_leave(conn),
            ClientMessage::Ping => self.send(conn, ServerMessage::Pong),
        }
    }

    /// The next message to send. Drain after every call into the hub.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next action for the driver. Drain after the transmits.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Hub::handle_timeout`] next has work to do (it may find nothing due, never later).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Fires every timer due at `now`: closes idle connections, ends grace periods.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.debug_assert_drained();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, key))) = self.timers.pop() else {
                break;
            };
            match key {
                TimerKey::Idle(conn) => {
                    let (Some(c), Some(idle)) = (self.conns.get(&conn), self.cfg.idle_timeout)
                    else {
                        continue;
                    };
                    match c.last_seen.checked_add(idle) {
                        Some(deadline) if deadline <= now => {
                            self.close(conn, CloseReason::Idle, now)
                        }
                        Some(deadline) => {
                            self.timers.push(Reverse((deadline, TimerKey::Idle(conn))))
                        }
                        None => {}
                    }
                }
                TimerKey::Grace(id, epoch) => {
                    let due = self
                        .peers
                        .get(&id)
                        .and_then(|p| p.grace.as_ref())
                        .is_some_and(|g| g.epoch == epoch);
                    if due {
                        self.remove_peer(&id);
                    }
                }
            }
        }
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            connections: self.conns.len(),
            rooms: self.rooms.len(),
            peers: self.peers.len(),
        }
    }

    /// The participant a connection is joined as.
    pub fn peer_of(&self, conn: ConnId) -> Option<&PeerId> {
        self.conns.get(&conn)?.peer.as_ref()
    }

    /// `signal`: relay `data` to `to`, stamped with the sender's id (`from` is never taken from
    /// the client). Only participants of the same room that the sender sees are reachable;
    /// anything else is `unknown-peer`, so nothing is dropped silently.
    fn on_signal(&mut self, conn: ConnId, to: PeerId, data: SignalData) {
        let Some(from) = self.conns.get(&conn).and_then(|c| c.peer.clone()) else {
            self.error(conn, ErrorCode::NOT_JOINED, "join a room first", None);
            return;
        };
        let Some(sender) = self.peers.get(&from) else {
            return;
        };
        let (room, role) = (sender.room.clone(), sender.role);
        let target = self
            .peers
            .get_mut(&to)
            .filter(|t| to != from && t.room == room && sees(role, t.role));
        let Some(target) = target else {
            self.error(
                conn,
                ErrorCode::UNKNOWN_PEER,
                "no such peer in this room",
                Some(to.to_string()),
            );
            return;
        };
        if let Some(target_conn) = target.conn {
            self.send(target_conn, ServerMessage::Signal { from, data });
            return;
        }
        let limit = self.cfg.resume_queue;
        if let Some(grace) = target.grace.as_mut() {
            if grace.queue.len() < limit {
                grace.queue.push_back((from, data));
                return;
            }
        }
        // The absent participant fell too far behind to resume usefully: end its grace now.
        self.remove_peer(&to);
        self.error(
            conn,
            ErrorCode::UNKNOWN_PEER,
            "peer disconnected and its resume queue is full",
            Some(to.to_string()),
        );
    }

    /// Outputs left from an earlier call would be delivered late and out of order relative to
    /// the driver's view: every input must be followed by draining both queues.
    fn debug_assert_drained(&self) {
        debug_assert!(
            self.transmits.is_empty() && self.events.is_empty(),
            "drain poll_transmit and poll_event after every call into the hub"
        );
    }

    fn send(&mut self, conn: ConnId, message: ServerMessage) {
        self.transmits.push_back(Transmit { conn, message });
    }

    fn error(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: impl Into<String>,
        reference: Option<String>,
    ) {
        self.send(conn, ServerMessage::error(code, message, reference));
    }

    /// Closes a connection on the hub's initiative.
    fn close(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        self.events.push_back(Event::Close { conn, reason });
        // A participant cut off for idleness, slowness or flooding may still resume.
        self.drop_conn(conn, now, reason != CloseReason::Replaced);
    }

    fn drop_conn(&mut self, conn: ConnId, now: Instant, grace: bool) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(id) = c.peer else {
            return;
        };
        let grace_period = self.cfg.resume_grace;
        if !grace || grace_period.is_zero() {
            self.remove_peer(&id);
            return;
        }
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        if let Some(p) = self.peers.get_mut(&id) {
            p.conn = None;
            p.grace = Some(Grace {
                epoch,
                queue: VecDeque::new(),
            });
            if let Some(at) = now.checked_add(grace_period) {
                self.timers.push(Reverse((at, TimerKey::Grace(id, epoch))));
            }
        }
    }
}

impl<R> std::fmt::Debug for Hub<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.conns.len())
            .field("peers", &self.peers.len())
            .field("rooms", &self.rooms.len())
            .finish_non_exhaustive()
    }
}

//! Sans-IO TURN client (RFC 8656) for one allocation on one server.
//!
//! ```text
//!            allocate()                401 + REALM/NONCE          success
//!   Idle ───────────────> Allocating ───────────────> Allocating ─────────> Allocated
//!                              │    (again, with MESSAGE-INTEGRITY)             │
//!                              │ error / timeout / second 401                   │ Refresh failed,
//!                              v                                               v lifetime over
//!                            Failed <──────────────────────────────────────── Failed
//! ```
//!
//! The driver feeds every datagram (or stream frame) from the server to
//! [`TurnClient::handle_input`], sends whatever [`TurnClient::poll_transmit`] yields to the
//! server, and calls [`TurnClient::handle_timeout`] at [`TurnClient::poll_timeout`]. Application
//! data goes out with [`TurnClient::send_to`]: as ChannelData once a channel is bound (RFC 8656
//! §12), as a Send indication before that (§11). Data from peers comes back out of
//! `handle_input` with the peer's address.

mod request;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stun::{Class, ErrorCode, Message, Method, TransactionId};

use crate::transaction::{Retransmit, Transaction, MAX_SENDS};
pub use request::Credentials;
use request::{Auth, RequestKind};

/// RFC 8656 §3.2: permissions last 300 s; refreshed a minute early.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// RFC 8656 §12: channel bindings last 600 s; refreshed a minute early.
const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
/// Lifetime asked for in Allocate and Refresh.
const REQUESTED_LIFETIME: u32 = 600;
/// RFC 8656 §12: the channel numbers a client may bind.
const FIRST_CHANNEL: u16 = 0x4000;
const LAST_CHANNEL: u16 = 0x4FFF;

/// How the client reaches the server (RFC 8656 §3.1); it decides padding and retransmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnTransport {
    Udp,
    Tcp,
    Tls,
}

impl TurnTransport {
    fn reliable(self) -> bool {
        !matches!(self, TurnTransport::Udp)
    }
}

/// Things the driver must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// RFC 8656 §7.3: the allocation exists.
    Allocated {
        relayed: SocketAddr,
        mapped: Option<SocketAddr>,
        lifetime: Duration,
    },
    /// The allocation could not be made or was lost; nothing more will be relayed.
    Failed(TurnClientError),
}

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TurnClientError {
    #[error("no response from the TURN server")]
    Timeout,
    #[error("TURN server refused {method:?}: {code} {reason}")]
    Refused {
        method: Method,
        code: u16,
        reason: String,
    },
    #[error("TURN server rejected the credentials")]
    Unauthorized,
    #[error("TURN server response is missing {0}")]
    Malformed(&'static str),
    #[error("no TURN allocation")]
    NotAllocated,
    #[error("all channel numbers are in use")]
    NoChannel,
}

/// Data a peer sent through the relay, borrowed from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub peer: SocketAddr,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated {
        relayed: SocketAddr,
        refresh_at: Instant,
    },
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Permission {
    confirmed: bool,
    refresh_at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    number: u16,
    confirmed: bool,
    refresh_at: Instant,
}

/// One allocation on one TURN server.
#[derive(Debug)]
pub struct TurnClient {
    server: SocketAddr,
    transport: TurnTransport,
    auth: Auth,
    rng: SmallRng,
    state: State,
    pending: Vec<(RequestKind, Transaction)>,
    permissions: HashMap<IpAddr, Permission>,
    channels: HashMap<SocketAddr, Channel>,
    peers_by_channel: HashMap<u16, SocketAddr>,
    next_channel: u16,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
    buf: Vec<u8>,
}

impl TurnClient {
    /// A client for `server`; `seed` feeds the transaction-id generator.
    pub fn new(
        server: SocketAddr,
        transport: TurnTransport,
        credentials: Credentials,
        seed: u64,
    ) -> Self {
        TurnClient {
            server,
            transport,
            auth: Auth::new(credentials),
            rng: SmallRng::seed_from_u64(seed),
            state: State::Idle,
            pending: Vec::new(),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            peers_by_channel: HashMap::new(),
            next_channel: FIRST_CHANNEL,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            buf: Vec::with_capacity(1500),
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn transport(&self) -> TurnTransport {
        self.transport
    }

    /// The relayed transport address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// RFC 8656 §7.1: send the first Allocate (without credentials; the 401 tells realm and nonce).
    pub fn allocate(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.state = State::Allocating;
            self.start(now, RequestKind::Allocate);
        }
    }

    /// RFC 8656 §9.1: Refresh with LIFETIME 0 deletes the allocation (best effort, not retried).
    pub fn close(&mut self, now: Instant) {
        if matches!(self.state, State::Allocated { .. }) {
            self.start(now, RequestKind::Refresh { lifetime: 0 });
        }
        self.state = State::Failed;
    }

    /// RFC 8656 §10.1: install a permission for `ip` (idempotent while it is fresh).
    pub fn create_permission(&mut self, now: Instant, ip: IpAddr) {
        if !matches!(self.state, State::Allocated { .. }) || self.permissions.contains_key(&ip) {
            return;
        }
        self.permissions.insert(
            ip,
            Permission {
                confirmed: false,
                refresh_at: now + PERMISSION_REFRESH,
            },
        );
        self.start(now, RequestKind::CreatePermission { ip });
    }

    /// Send `data` to `peer` through the relay. Before a channel is bound the data goes in a
    /// Send indication (RFC 8656 §11.1) and a ChannelBind starts (§12.1); afterwards it goes as
    /// ChannelData (§12.4). A server drops data to a peer without a permission, as ICE expects.
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), TurnClientError> {
        if !matches!(self.state, State::Allocated { .. }) {
            return Err(TurnClientError::NotAllocated);
        }
        match self.channels.get(&peer) {
            Some(c) if c.confirmed => {
                let mut out = Vec::with_capacity(stun::ChannelData::frame_len(data.len(), true));
                stun::ChannelData::encode(c.number, data, self.transport.reliable(), &mut out);
                self.transmits.push_back(out);
                return Ok(());
            }
            Some(_) => {}
            None => self.bind_channel(now, peer)?,
        }
        let tid = self.new_tid();
        let len = request::send_indication(&mut self.buf, tid, peer, data);
        self.transmits.push_back(self.buf[..len].to_vec());
        Ok(())
    }

    /// Feed a datagram or stream frame that came from the server. Returns peer data carried in
    /// ChannelData or a Data indication; STUN responses are consumed here.
    pub fn handle_input<'a>(&mut self, now: Instant, buf: &'a [u8]) -> Option<Received<'a>> {
        let first = *buf.first()?;
        if stun::demux(first) == stun::PacketKind::ChannelData {
            let cd = stun::ChannelData::parse(buf).ok()?;
            let peer = *self.peers_by_channel.get(&cd.channel)?;
            return Some(Received {
                peer,
                data: cd.data,
            });
        }
        let msg = Message::parse(buf).ok()?;
        match msg.class() {
            // RFC 8656 §11.4: a Data indication carries XOR-PEER-ADDRESS and DATA.
            Class::Indication if msg.method() == Method::DATA => {
                let peer = msg.xor_peer_addresses().next()?;
                let data = msg.data()?;
                Some(Received { peer, data })
            }
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_response(now, &msg);
                None
            }
            _ => None,
        }
    }

    /// Next datagram or frame for the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`TurnClient::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.pending.iter().map(|(_, t)| t.deadline());
        let alloc = match self.state {
            State::Allocated { refresh_at, .. } => Some(refresh_at),
            _ => None,
        };
        let refreshes = self.refresh_deadlines();
        tx.chain(alloc).chain(refreshes).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut timed_out = Vec::new();
        for (kind, t) in &mut self.pending {
            match t.handle_timeout(now) {
                Retransmit::Wait => {}
                Retransmit::Resend => resend.push(t.request.clone()),
                Retransmit::TimedOut => timed_out.push((kind.clone(), t.id)),
            }
        }
        self.transmits.extend(resend);
        for (kind, id) in timed_out {
            self.pending.retain(|(_, t)| t.id != id);
            self.transaction_failed(now, &kind, TurnClientError::Timeout);
        }
        if !matches!(self.state, State::Allocated { .. }) {
            return;
        }
        if let State::Allocated { refresh_at, .. } = &mut self.state {
            if *refresh_at <= now {
                *refresh_at = now + Duration::from_secs(u64::from(REQUESTED_LIFETIME) / 2);
                self.start(
                    now,
                    RequestKind::Refresh {
                        lifetime: REQUESTED_LIFETIME,
                    },
                );
            }
        }
        let due_permissions: Vec<IpAddr> = self
            .permissions
            .iter_mut()
            .filter(|(_, p)| p.refresh_at <= now)
            .map(|(ip, p)| {
                p.refresh_at = now + PERMISSION_REFRESH;
                *ip
            })
            .collect();
        for ip in due_permissions {
            self.start(now, RequestKind::CreatePermission { ip });
        }
        let due_channels: Vec<(SocketAddr, u16)> = self
            .channels
            .iter_mut()
            .filter(|(_, c)| c.refresh_at <= now)
            .map(|(peer, c)| {
                c.refresh_at = now + CHANNEL_REFRESH;
                (*peer, c.number)
            })
            .collect();
        for (peer, number) in due_channels {
            self.start(now, RequestKind::ChannelBind { peer, number });
        }
    }

    fn refresh_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        let p = self.permissions.values().map(|p| p.refresh_at).min();
        let c = self.channels.values().map(|c| c.refresh_at).min();
        p.into_iter().chain(c)
    }

    fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<(), TurnClientError> {
        if self.next_channel > LAST_CHANNEL {
            return Err(TurnClientError::NoChannel);
        }
        let number = self.next_channel;
        self.next_channel += 1;
        self.channels.insert(
            peer,
            Channel {
                number,
                confirmed: false,
                refresh_at: now + CHANNEL_REFRESH,
            },
        );
        self.peers_by_channel.insert(number, peer);
        self.start(now, RequestKind::ChannelBind { peer, number });
        Ok(())
    }

    fn new_tid(&mut self) -> TransactionId {
        TransactionId(self.rng.gen())
    }

    fn start(&mut self, now: Instant, kind: RequestKind) {
        let tid = self.new_tid();
        let len = request::encode(&mut self.buf, tid, &kind, &self.auth);
        let bytes = self.buf[..len].to_vec();
        self.transmits.push_back(bytes.clone());
        let t = Transaction::new(tid, bytes, self.transport.reliable(), MAX_SENDS, now);
        self.pending.push((kind, t));
    }

    /// RFC 8489 §6.3: match the response to its request by transaction id, then act on it.
    fn handle_response(&mut self, now: Instant, msg: &Message<'_>) {
        let tid = msg.transaction_id();
        let Some(pos) = self.pending.iter().position(|(_, t)| t.id == tid) else {
            return;
        };
        // RFC 8489 §9.2.5: a response to an authenticated request must carry valid integrity;
        // one that does not is dropped, and the transaction goes on waiting.
        if let Some(key) = self.auth.key() {
            let authenticated =
                msg.class() == Class::SuccessResponse || msg.integrity_type().is_some();
            if authenticated && msg.verify_integrity(key).is_err() {
                return;
            }
        }
        let (kind, _) = self.pending.remove(pos);
        if msg.class() == Class::SuccessResponse {
            self.succeeded(now, &kind, msg);
            return;
        }
        let code = msg.error_code().map(|e| e.code).unwrap_or(ErrorCode(0));
        // RFC 8489 §9.2.5 (401 with new realm/nonce) and RFC 8656 §7.4 (438 Stale Nonce):
        // take the realm and nonce from the response and send the request again, once.
        if code == ErrorCode::UNAUTHENTICATED || code == ErrorCode::STALE_NONCE {
            if let (Some(realm), Some(nonce)) = (msg.realm(), msg.nonce()) {
                let first_challenge = !self.auth.has_nonce() || code == ErrorCode::STALE_NONCE;
                self.auth.challenge(realm, nonce);
                if first_challenge && !kind.retried() {
                    self.start(now, kind.retry());
                    return;
                }
            }
            let err = if code == ErrorCode::UNAUTHENTICATED {
                TurnClientError::Unauthorized
            } else {
                refused(msg, &kind)
            };
            self.transaction_failed(now, &kind, err);
            return;
        }
        self.transaction_failed(now, &kind, refused(msg, &kind));
    }

    fn succeeded(&mut self, now: Instant, kind: &RequestKind, msg: &Message<'_>) {
        match kind {
            RequestKind::Allocate | RequestKind::AllocateRetry => {
                // RFC 8656 §7.3: XOR-RELAYED-ADDRESS, LIFETIME and XOR-MAPPED-ADDRESS.
                let Some(relayed) = msg.xor_relayed_addresses().next() else {
                    self.fail(TurnClientError::Malformed("XOR-RELAYED-ADDRESS"));
                    return;
                };
                let lifetime =
                    Duration::from_secs(u64::from(msg.lifetime().unwrap_or(REQUESTED_LIFETIME)));
                let refresh_at = now + refresh_margin(lifetime);
                self.state = State::Allocated {
                    relayed,
                    refresh_at,
                };
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped: msg.xor_mapped_address(),
                    lifetime,
                });
            }
            RequestKind::Refresh { .. } | RequestKind::RefreshRetry { .. } => {
                if let (State::Allocated { refresh_at, .. }, Some(l)) =
                    (&mut self.state, msg.lifetime())
                {
                    *refresh_at = now + refresh_margin(Duration::from_secs(u64::from(l)));
                }
            }
            RequestKind::CreatePermission { ip } | RequestKind::CreatePermissionRetry { ip } => {
                if let Some(p) = self.permissions.get_mut(ip) {
                    p.confirmed = true;
                }
            }
            RequestKind::ChannelBind { peer, .. } | RequestKind::ChannelBindRetry { peer, .. } => {
                if let Some(c) = self.channels.get_mut(peer) {
                    c.confirmed = true;
                }
                // RFC 8656 §12.2: a channel binding also installs a permission for the peer.
                self.permissions.entry(peer.ip()).or_insert(Permission {
                    confirmed: true,
                    refresh_at: now + PERMISSION_REFRESH,
                });
            }
        }
    }

    fn transaction_failed(&mut self, _now: Instant, kind: &RequestKind, err: TurnClientError) {
        match kind {
            RequestKind::Allocate
            | RequestKind::AllocateRetry
            | RequestKind::Refresh { .. }
            | RequestKind::RefreshRetry { .. } => {
                if !matches!(kind, RequestKind::Refresh { lifetime: 0 }) {
                    self.fail(err);
                }
            }
            RequestKind::CreatePermission { ip } | RequestKind::CreatePermissionRetry { ip } => {
                self.permissions.remove(ip);
            }
            RequestKind::ChannelBind { peer, number }
            | RequestKind::ChannelBindRetry { peer, number } => {
                // The number stays reserved: RFC 8656 §12 forbids rebinding it to another peer
                // for 10 minutes, and a later send starts over with a fresh number.
                self.channels.remove(peer);
                self.peers_by_channel.remove(number);
            }
        }
    }

    fn fail(&mut self, err: TurnClientError) {
        if self.state != State::Failed {
            self.state = State::Failed;
            self.pending.clear();
            self.events.push_back(TurnEvent::Failed(err));
        }
    }
}

fn refused(msg: &Message<'_>, kind: &RequestKind) -> TurnClientError {
    let (code, reason) = msg
        .error_code()
        .map(|e| (e.code.0, e.reason.to_owned()))
        .unwrap_or((0, String::new()));
    TurnClientError::Refused {
        method: kind.method(),
        code,
        reason,
    }
}

/// Refresh a minute before the lifetime ends, or halfway through a short one.
fn refresh_margin(lifetime: Duration) -> Duration {
    if lifetime > Duration::from_secs(120) {
        lifetime - Duration::from_secs(60)
    } else {
        lifetime / 2
    }
}

#[cfg(test)]
mod tests;

//! A sans-IO TURN client (RFC 8656, RFC 8489 long-term credentials): Allocate with the
//! 401/nonce exchange and 438 stale-nonce recovery, Refresh before expiry, CreatePermission,
//! ChannelBind, and framing of application data (ChannelData when a channel is bound, Send
//! indications otherwise). Every message goes to the one TURN server the client was made
//! for; the driver sends what [`Client::poll_transmit`] yields there.
//!
//! ```text
//!  Idle ──allocate──► Allocating ──success──► Allocated ──(refresh fails / lifetime ends)──► Failed
//!                        │ 401/438: retry with credentials        │ deallocate
//!                        └ error ──► Failed                       ▼
//!                                                              Closed
//! ```

mod transaction;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::RngCore;
use stun::{
    Attribute, AttributeType, ChannelData, Class, ErrorCode, Message, MessageBuilder, Method,
    PasswordAlgorithm, TransactionId,
};

use transaction::{Purpose, Transactions};

/// How often a request may be re-issued after 401/438 before giving up.
const AUTH_RETRIES: u8 = 3;
/// Refresh this long before the allocation (or a permission, or a channel) expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// Who the client is and how it reaches its server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: SocketAddr,
    /// Stream transports need no retransmissions and padded ChannelData.
    pub reliable: bool,
    pub username: String,
    pub password: String,
    /// LIFETIME asked for in Allocate and Refresh (None: the server's default).
    pub lifetime: Option<u32>,
    /// REQUESTED-ADDRESS-FAMILY IPv6 (RFC 6156).
    pub ipv6: bool,
}

/// Things the application hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    Allocated {
        relayed: SocketAddr,
        mapped: Option<SocketAddr>,
        lifetime: Duration,
    },
    Refreshed {
        lifetime: Duration,
    },
    PermissionCreated {
        peers: Vec<IpAddr>,
    },
    ChannelBound {
        peer: SocketAddr,
        number: u16,
    },
    /// A request failed: the error code (None: timed out).
    RequestFailed {
        method: Method,
        code: Option<ErrorCode>,
    },
    /// The allocation is gone (refresh failed, or it was deleted).
    AllocationLost,
}

/// Why data could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("no allocation")]
    NotAllocated,
    #[error("no permission for this peer")]
    NoPermission,
    #[error("payload too long")]
    TooLong,
}

/// Data a peer sent through the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub peer: SocketAddr,
    /// The payload's range inside the packet passed to [`Client::handle_input`].
    pub data: std::ops::Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated {
        relayed: SocketAddr,
        expires: Instant,
    },
    Closed,
}

#[derive(Debug, Clone)]
struct Credentials {
    realm: String,
    nonce: Vec<u8>,
    key: Vec<u8>,
    /// PASSWORD-ALGORITHMS as the server sent it, echoed with PASSWORD-ALGORITHM SHA-256.
    algorithms: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Channel {
    number: u16,
    bound: bool,
    expires: Instant,
}

/// The TURN client state machine.
pub struct Client {
    config: ClientConfig,
    state: State,
    credentials: Option<Credentials>,
    transactions: Transactions,
    /// Permission expiry per peer IP (Some once the server confirmed it).
    permissions: HashMap<IpAddr, Option<Instant>>,
    channels: HashMap<SocketAddr, Channel>,
    by_number: HashMap<u16, SocketAddr>,
    next_channel: u16,
    outbox: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    rng: StdRng,
}

impl Client {
    pub fn new(config: ClientConfig, rng: StdRng) -> Client {
        let reliable = config.reliable;
        Client {
            config,
            state: State::Idle,
            credentials: None,
            transactions: Transactions::new(reliable),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            by_number: HashMap::new(),
            next_channel: 0x4000,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            rng,
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.config.server
    }

    /// The relayed address once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// RFC 8656 §7.1: ask for an allocation (first without credentials; the 401 supplies
    /// realm and nonce).
    pub fn allocate(&mut self, now: Instant) {
        if self.state != State::Idle {
            return;
        }
        self.state = State::Allocating;
        self.request(now, Purpose::Allocate, 0);
    }

    /// RFC 8656 §9.1: install permissions for `peers` (refreshed automatically).
    pub fn create_permission(&mut self, now: Instant, peers: &[IpAddr]) {
        for p in peers {
            self.permissions.entry(*p).or_insert(None);
        }
        if matches!(self.state, State::Allocated { .. }) {
            self.request(
                now,
                Purpose::Permission {
                    peers: peers.to_vec(),
                },
                0,
            );
        }
    }

    /// RFC 8656 §11.1: bind a channel to `peer` (refreshed automatically); returns its number.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Option<u16> {
        if let Some(c) = self.channels.get(&peer) {
            return Some(c.number);
        }
        if self.next_channel > 0x4FFF || !matches!(self.state, State::Allocated { .. }) {
            return None;
        }
        let number = self.next_channel;
        self.next_channel += 1;
        self.channels.insert(
            peer,
            Channel {
                number,
                bound: false,
                expires: now,
            },
        );
        self.by_number.insert(number, peer);
        self.permissions.entry(peer.ip()).or_insert(None);
        self.request(now, Purpose::ChannelBind { number, peer }, 0);
        Some(number)
    }

    /// RFC 8656 §7.3: delete the allocation (Refresh with LIFETIME 0).
    pub fn deallocate(&mut self, now: Instant) {
        if matches!(self.state, State::Allocated { .. }) {
            self.request(now, Purpose::Refresh { lifetime: 0 }, 0);
            self.state = State::Closed;
        }
    }

    /// Frame `data` for `peer` into `out`: ChannelData when a channel is bound (RFC 8656
    /// §12.3), else a Send indication (§10.1). Send `out` to the server.
    pub fn encode_data(
        &mut self,
        peer: SocketAddr,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        if !matches!(self.state, State::Allocated { .. }) {
            return Err(SendError::NotAllocated);
        }
        if data.len() > 65_000 {
            return Err(SendError::TooLong);
        }
        if let Some(c) = self.channels.get(&peer).filter(|c| c.bound) {
            ChannelData::encode(c.number, data, self.config.reliable, out);
            return Ok(());
        }
        if !self
            .permissions
            .get(&peer.ip())
            .is_some_and(|p| p.is_some())
        {
            return Err(SendError::NoPermission);
        }
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        let mut b = MessageBuilder::new(out, Class::Indication, Method::SEND, TransactionId(tid));
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        b.add(&Attribute::Data(data));
        b.finish();
        Ok(())
    }

    /// A packet from the server: responses advance the state machine; relayed data (Data
    /// indication or ChannelData) is returned.
    pub fn handle_input(&mut self, now: Instant, packet: &[u8]) -> Option<Received> {
        let first = *packet.first()?;
        if (0x40..=0x7F).contains(&first) {
            let [c0, c1, l0, l1, ..] = *packet else {
                return None;
            };
            let number = u16::from_be_bytes([c0, c1]);
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if packet.len() < 4 + len {
                return None;
            }
            let peer = *self.by_number.get(&number)?;
            return Some(Received {
                peer,
                data: 4..4 + len,
            });
        }
        let msg = Message::parse(packet).ok()?;
        match msg.class() {
            Class::Indication if msg.method() == Method::DATA => {
                let peer = match msg.attribute(AttributeType::XOR_PEER_ADDRESS) {
                    Some(Ok(Attribute::XorPeerAddress(p))) => p,
                    _ => return None,
                };
                let data = msg.get(AttributeType::DATA)?;
                let start = data.offset + 4;
                Some(Received {
                    peer,
                    data: start..start + data.value.len(),
                })
            }
            Class::SuccessResponse | Class::ErrorResponse => {
                self.handle_response(now, &msg);
                None
            }
            _ => None,
        }
    }

    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let next = self.outbox.pop_front()?;
        *buf = next;
        Some(self.config.server)
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next retransmission or refresh.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.transactions.next_deadline();
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let State::Allocated { expires, .. } = self.state {
            if !self
                .transactions
                .is_pending(|p| matches!(p, Purpose::Refresh { .. }))
            {
                consider(expires.checked_sub(REFRESH_MARGIN).unwrap_or(expires));
            }
            for (ip, e) in &self.permissions {
                if let Some(e) = e {
                    if !self.permission_pending(*ip) {
                        consider(e.checked_sub(REFRESH_MARGIN).unwrap_or(*e));
                    }
                }
            }
            for (peer, c) in &self.channels {
                if c.bound && !self.channel_pending(*peer) {
                    consider(c.expires.checked_sub(REFRESH_MARGIN).unwrap_or(c.expires));
                }
            }
        }
        next
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let (resend, failed) = self.transactions.due(now);
        self.outbox.extend(resend);
        for purpose in failed {
            self.failed(&purpose, None);
        }
        let State::Allocated { expires, .. } = self.state else {
            return;
        };
        if now >= expires {
            self.lost();
            return;
        }
        if now + REFRESH_MARGIN >= expires
            && !self
                .transactions
                .is_pending(|p| matches!(p, Purpose::Refresh { .. }))
        {
            let lifetime = self.config.lifetime.unwrap_or(600);
            self.request(now, Purpose::Refresh { lifetime }, 0);
        }
        let due: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(ip, e)| {
                e.is_some_and(|e| now + REFRESH_MARGIN >= e) && !self.permission_pending(**ip)
            })
            .map(|(ip, _)| *ip)
            .collect();
        if !due.is_empty() {
            self.request(now, Purpose::Permission { peers: due }, 0);
        }
        let channels: Vec<(SocketAddr, u16)> = self
            .channels
            .iter()
            .filter(|(p, c)| {
                c.bound && now + REFRESH_MARGIN >= c.expires && !self.channel_pending(**p)
            })
            .map(|(p, c)| (*p, c.number))
            .collect();
        for (peer, number) in channels {
            self.request(now, Purpose::ChannelBind { number, peer }, 0);
        }
    }

    fn permission_pending(&self, ip: IpAddr) -> bool {
        self.transactions.is_pending(|p| match p {
            Purpose::Permission { peers } => peers.contains(&ip),
            Purpose::ChannelBind { peer, .. } => peer.ip() == ip,
            _ => false,
        })
    }

    fn channel_pending(&self, peer: SocketAddr) -> bool {
        self.transactions
            .is_pending(|p| matches!(p, Purpose::ChannelBind { peer: q, .. } if *q == peer))
    }

    fn lost(&mut self) {
        self.state = State::Closed;
        self.events.push_back(ClientEvent::AllocationLost);
    }

    /// Build and queue a request for `purpose`, signed when credentials are known.
    fn request(&mut self, now: Instant, purpose: Purpose, auth_retries: u8) {
        let mut tid = [0u8; 12];
        self.rng.fill_bytes(&mut tid);
        let tid = TransactionId(tid);
        let method = method_of(&purpose);
        let mut buf = Vec::with_capacity(256);
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid);
        match &purpose {
            Purpose::Allocate => {
                b.add(&Attribute::RequestedTransport(17));
                if self.config.ipv6 {
                    b.add(&Attribute::RequestedAddressFamily(0x02));
                }
                if let Some(l) = self.config.lifetime {
                    b.add(&Attribute::Lifetime(l));
                }
            }
            Purpose::Refresh { lifetime } => {
                b.add(&Attribute::Lifetime(*lifetime));
            }
            Purpose::Permission { peers } => {
                for ip in peers {
                    b.xor_address(AttributeType::XOR_PEER_ADDRESS, SocketAddr::new(*ip, 0));
                }
            }
            Purpose::ChannelBind { number, peer } => {
                b.add(&Attribute::ChannelNumber(*number));
                b.xor_address(AttributeType::XOR_PEER_ADDRESS, *peer);
            }
        }
        if let Some(c) = &self.credentials {
            b.add(&Attribute::Username(&self.config.username));
            b.add(&Attribute::Realm(&c.realm));
            b.add(&Attribute::Nonce(&c.nonce));
            if let Some(algs) = &c.algorithms {
                b.raw(AttributeType::PASSWORD_ALGORITHMS, algs);
                b.add(&Attribute::PasswordAlgorithm(
                    PasswordAlgorithm::SHA256,
                    &[],
                ));
            }
            b.message_integrity(&c.key);
        }
        b.finish();
        self.outbox.push_back(buf.clone());
        self.transactions
            .start(now, tid, purpose, buf, auth_retries);
    }

    /// RFC 8489 §9.2.5: learn realm and nonce from a 401/438; prefer SHA-256 when offered.
    fn learn_credentials(&mut self, msg: &Message<'_>) -> bool {
        let (Some(realm), Some(nonce)) = (msg.realm(), msg.nonce()) else {
            return false;
        };
        let sha256 = match msg.attribute(AttributeType::PASSWORD_ALGORITHMS) {
            Some(Ok(Attribute::PasswordAlgorithms(list))) => {
                list.iter().any(|(a, _)| *a == PasswordAlgorithm::SHA256)
            }
            _ => false,
        };
        let (key, algorithms) = if sha256 {
            let raw = msg
                .get(AttributeType::PASSWORD_ALGORITHMS)
                .map(|r| r.value.to_vec());
            (
                stun::long_term_key_sha256(&self.config.username, realm, &self.config.password)
                    .to_vec(),
                raw,
            )
        } else {
            (
                stun::long_term_key_md5(&self.config.username, realm, &self.config.password)
                    .to_vec(),
                None,
            )
        };
        self.credentials = Some(Credentials {
            realm: realm.to_owned(),
            nonce: nonce.to_vec(),
            key,
            algorithms,
        });
        true
    }

    fn handle_response(&mut self, now: Instant, msg: &Message<'_>) {
        let Some(pending) = self.transactions.finish(&msg.transaction_id()) else {
            return;
        };
        if method_of(&pending.purpose) != msg.method() {
            return;
        }
        // Responses to signed requests must be signed with our key (RFC 8489 §9.2.5).
        if let Some(c) = &self.credentials {
            let signed = msg.get(AttributeType::MESSAGE_INTEGRITY).is_some()
                || msg.get(AttributeType::MESSAGE_INTEGRITY_SHA256).is_some();
            if signed && msg.verify_integrity(&c.key).is_err() {
                return;
            }
        }
        if msg.class() == Class::ErrorResponse {
            let code = msg.error_code().map(|e| e.code);
            let retry = matches!(
                code,
                Some(ErrorCode::UNAUTHENTICATED) | Some(ErrorCode::STALE_NONCE)
            ) && pending.auth_retries < AUTH_RETRIES
                && self.learn_credentials(msg);
            if retry {
                self.request(now, pending.purpose, pending.auth_retries + 1);
            } else {
                self.failed(&pending.purpose, code);
            }
            return;
        }
        match pending.purpose {
            Purpose::Allocate => {
                let Some(relayed) = msg.xor_relayed_addresses().next() else {
                    return self.failed(&Purpose::Allocate, None);
                };
                let lifetime = Duration::from_secs(u64::from(msg.lifetime().unwrap_or(600)));
                self.state = State::Allocated {
                    relayed,
                    expires: now + lifetime,
                };
                self.events.push_back(ClientEvent::Allocated {
                    relayed,
                    mapped: msg.xor_mapped_address(),
                    lifetime,
                });
                // Permissions asked for before the allocation existed.
                let waiting: Vec<IpAddr> = self.permissions.keys().copied().collect();
                if !waiting.is_empty() {
                    self.request(now, Purpose::Permission { peers: waiting }, 0);
                }
            }
            Purpose::Refresh { lifetime: 0 } => {}
            Purpose::Refresh { .. } => {
                let lifetime = Duration::from_secs(u64::from(msg.lifetime().unwrap_or(600)));
                if let State::Allocated { relayed, .. } = self.state {
                    self.state = State::Allocated {
                        relayed,
                        expires: now + lifetime,
                    };
                }
                self.events.push_back(ClientEvent::Refreshed { lifetime });
            }
            Purpose::Permission { peers } => {
                for ip in &peers {
                    self.permissions
                        .insert(*ip, Some(now + PERMISSION_LIFETIME));
                }
                self.events
                    .push_back(ClientEvent::PermissionCreated { peers });
            }
            Purpose::ChannelBind { number, peer } => {
                if let Some(c) = self.channels.get_mut(&peer) {
                    let first = !c.bound;
                    c.bound = true;
                    c.expires = now + CHANNEL_LIFETIME;
                    self.permissions
                        .insert(peer.ip(), Some(now + PERMISSION_LIFETIME));
                    if first {
                        self.events
                            .push_back(ClientEvent::ChannelBound { peer, number });
                    }
                }
            }
        }
    }

    fn failed(&mut self, purpose: &Purpose, code: Option<ErrorCode>) {
        let method = method_of(purpose);
        match purpose {
            Purpose::Allocate => self.state = State::Closed,
            // RFC 8656 §7.3: a failed refresh means the allocation is gone.
            Purpose::Refresh { lifetime } if *lifetime > 0 => {
                if matches!(self.state, State::Allocated { .. }) {
                    self.lost();
                }
            }
            Purpose::ChannelBind { number, peer }
                if self.channels.get(peer).is_some_and(|c| !c.bound) =>
            {
                self.channels.remove(peer);
                self.by_number.remove(number);
            }
            _ => {}
        }
        self.events
            .push_back(ClientEvent::RequestFailed { method, code });
    }
}

fn method_of(p: &Purpose) -> Method {
    match p {
        Purpose::Allocate => Method::ALLOCATE,
        Purpose::Refresh { .. } => Method::REFRESH,
        Purpose::Permission { .. } => Method::CREATE_PERMISSION,
        Purpose::ChannelBind { .. } => Method::CHANNEL_BIND,
    }
}

//! The sans-IO STUN/TURN server core.
//!
//! One [`Server`] handles everything that arrives on the STUN/TURN ports: STUN Binding
//! (RFC 8489, RFC 5780), TURN (RFC 8656, RFC 6156 IPv6, RFC 6062 TCP relay) and the relayed
//! data of every allocation. It performs no I/O and reads no clock: the driver feeds it
//! packets with the current `Instant`, sends what [`Server::poll_transmit`] yields, acts on
//! [`Server::poll_event`] and calls [`Server::handle_timeout`] at [`Server::poll_timeout`].
//!
//! ```text
//!  client ──► handle_client ──► responses (poll_transmit), events (OpenRelay, ...)
//!                           └─► ToPeer (hot path: send payload from relay to peer)
//!  peer   ──► handle_peer   ──► ToClient (ChannelData / Data indication framed in place)
//! ```

mod allocate;
mod allocation;
mod auth;
mod binding;
mod config;
mod ledger;
mod nonce;
mod outbox;
mod permission;
mod policy;
mod ports;
mod ratelimit;
mod relay;
mod relay_ports;
mod request;
mod slab;
mod tcp;
mod timers;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

pub use auth::{AuthError, Credentials, Keys};
pub use config::{
    Quotas, Rfc5780, ServerConfig, CHANNEL_LIFETIME, PERMISSION_LIFETIME, RESERVATION_LIFETIME,
};
pub use ledger::AllocationLedger;
pub use nonce::{NonceError, NonceSigner};
pub use policy::{canonical_ip, Cidr, CidrError, PeerPolicy, PolicyError};
pub use ports::PortAllocator;
pub use ratelimit::TokenBucket;
pub use relay::{stream_frame_len, CHANNEL_NUMBERS, PEER_HEADROOM, PEER_TAILROOM};
pub use relay_ports::RelayPorts;
pub use types::{
    ConnectionId, Event, FiveTuple, RelayId, RelayOpenError, RelayProtocol, Stats, ToClient,
    ToPeer, Transmit, Transport,
};

use allocation::{AllocKey, Allocation, Family};
use outbox::Outbox;
use ratelimit::SourceLimiter;
use slab::Slab;
use tcp::PeerConnection;
use timers::{Timer, TimerHeap};

/// A relay socket's owner.
#[derive(Debug, Clone, Copy)]
struct RelayEntry {
    alloc: AllocKey,
    family: Family,
}

/// The STUN/TURN server state machine.
pub struct Server {
    config: ServerConfig,
    credentials: Credentials,
    nonces: NonceSigner,
    unauthenticated: SourceLimiter,
    rng: StdRng,
    epoch: Instant,
    unix_at_epoch: u64,
    relay_ports: Arc<RelayPorts>,
    allocations: Slab<Allocation>,
    by_five_tuple: HashMap<FiveTuple, AllocKey>,
    relays: Slab<RelayEntry>,
    ledger: Arc<AllocationLedger>,
    connections: HashMap<u32, PeerConnection>,
    data_connections: HashMap<FiveTuple, u32>,
    next_connection: u32,
    timers: TimerHeap,
    outbox: Outbox,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Server {
    /// A server whose clock starts at `now`, when the wall clock reads `unix_now` (seconds);
    /// `rng` draws nonce keys, ports, tokens and transaction ids.
    pub fn new(config: ServerConfig, now: Instant, unix_now: u64, mut rng: StdRng) -> Server {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let nonces = NonceSigner::new(key, now, config.nonce_lifetime);
        let per_sec = config.quotas.unauthenticated_per_second.max(1);
        let unauthenticated = SourceLimiter::new(per_sec, per_sec * 2, rng.gen());
        let relay_ports = config.relay_ports.clone().unwrap_or_else(|| {
            RelayPorts::new(
                config.min_port,
                config.max_port,
                StdRng::seed_from_u64(rng.gen()),
            )
        });
        let credentials = Credentials::new(&config.realm, &config.users, &config.rest_secrets);
        let ledger = config.ledger.clone().unwrap_or_else(|| {
            AllocationLedger::new(
                config.quotas.max_allocations,
                config.quotas.max_allocations_per_user,
            )
        });
        Server {
            config,
            credentials,
            nonces,
            unauthenticated,
            rng,
            epoch: now,
            unix_at_epoch: unix_now,
            relay_ports,
            allocations: Slab::default(),
            by_five_tuple: HashMap::new(),
            relays: Slab::default(),
            ledger,
            connections: HashMap::new(),
            data_connections: HashMap::new(),
            next_connection: 1,
            timers: TimerHeap::default(),
            outbox: Outbox::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Re-anchor the wall clock (the driver calls this now and then, so that REST expiry
    /// follows the system clock).
    pub fn set_unix_time(&mut self, now: Instant, unix_now: u64) {
        let since = now.saturating_duration_since(self.epoch).as_secs();
        self.unix_at_epoch = unix_now.saturating_sub(since);
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.unix_at_epoch
            .saturating_add(now.saturating_duration_since(self.epoch).as_secs())
    }

    /// A packet from a client on the STUN/TURN port (UDP datagram or one TCP/TLS frame).
    /// STUN requests are answered through [`poll_transmit`](Self::poll_transmit); relayed
    /// data (ChannelData, Send indication) returns where to send its payload, which lies in
    /// `packet[ToPeer::payload]`. Anything else is dropped silently.
    pub fn handle_client(
        &mut self,
        now: Instant,
        from: FiveTuple,
        packet: &[u8],
    ) -> Option<ToPeer> {
        match packet.first() {
            Some(&b) if stun::demux(b) == stun::PacketKind::Stun => {
                self.handle_stun(now, from, packet)
            }
            Some(&b) if relay::is_channel_data(b) => self.handle_channel_data(now, from, packet),
            _ => {
                self.stats.dropped_packets += 1;
                None
            }
        }
    }

    /// The driver opened (or failed to open) a relay socket asked for by `Event::OpenRelay`.
    pub fn handle_relay_opened(
        &mut self,
        now: Instant,
        relay: RelayId,
        result: Result<SocketAddr, RelayOpenError>,
    ) {
        self.relay_opened(now, relay, result);
    }

    /// The driver's answer to `Event::HoldPort`.
    pub fn handle_port_held(
        &mut self,
        now: Instant,
        relay: RelayId,
        result: Result<(), RelayOpenError>,
    ) {
        self.port_held(now, relay, result);
    }

    /// A client TCP/TLS connection closed: RFC 8656 §3.1 its allocation goes with it.
    pub fn handle_client_closed(&mut self, now: Instant, client: FiveTuple) {
        let _ = now;
        if let Some(key) = self.by_five_tuple.get(&client).copied() {
            self.remove_allocation(key);
        }
        if let Some(id) = self.data_connections.remove(&client) {
            self.remove_connection(id, true);
        }
    }

    /// Drain the next message to send into `buf` (its previous contents are discarded).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.outbox.pop(buf)
    }

    /// Drain the next thing the driver must do.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Exactly the next instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some((at, timer)) = self.timers.peek() {
            if self.timer_is_current(at, timer) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Expire allocations, permissions, channels, reservations and pending connections.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, timer)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_is_current(at, timer) {
                continue;
            }
            self.fire(now, at, timer);
        }
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.allocations = self.allocations.len() as u64;
        s
    }

    /// Number of allocations (including those waiting for their relay socket).
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    fn timer_is_current(&self, at: Instant, timer: Timer) -> bool {
        match timer {
            Timer::Allocation { index, generation } => self
                .allocations
                .get(index, generation)
                .is_some_and(|a| a.expires == at),
            Timer::Permission {
                index,
                generation,
                ip,
            } => self
                .allocations
                .get(index, generation)
                .and_then(|a| a.permissions.get(&ip))
                .is_some_and(|&e| e == at),
            Timer::Channel {
                index,
                generation,
                number,
            } => self
                .allocations
                .get(index, generation)
                .and_then(|a| a.channels.get(&number))
                .is_some_and(|c| c.expires == at),
            Timer::Reservation { token } => self.relay_ports.expires_at(token, at),
            Timer::Connection { id } => self
                .connections
                .get(&id)
                .is_some_and(|c| c.expires == Some(at)),
        }
    }

    fn fire(&mut self, now: Instant, at: Instant, timer: Timer) {
        match timer {
            Timer::Allocation { index, generation } => {
                tracing::debug!("allocation expired");
                self.remove_allocation(AllocKey { index, generation });
            }
            Timer::Permission {
                index,
                generation,
                ip,
            } => {
                if let Some(a) = self.allocations.get_mut(index, generation) {
                    a.permissions.remove(&ip);
                }
            }
            Timer::Channel {
                index,
                generation,
                number,
            } => {
                let Some(a) = self.allocations.get_mut(index, generation) else {
                    return;
                };
                let Some(ch) = a.channels.get_mut(&number) else {
                    return;
                };
                if ch.active {
                    // RFC 8656 §12: expired, but neither the number nor the peer may be
                    // bound to anything else for another 5 minutes.
                    ch.active = false;
                    ch.expires = at + config::CHANNEL_QUARANTINE;
                    self.timers.push(
                        ch.expires,
                        Timer::Channel {
                            index,
                            generation,
                            number,
                        },
                    );
                } else {
                    let peer = ch.peer;
                    a.channels.remove(&number);
                    a.channel_by_peer.remove(&peer);
                }
            }
            Timer::Reservation { token } => {
                if let Some(port) = self.relay_ports.expire(token) {
                    self.events.push_back(Event::ReleasePort { port });
                }
            }
            Timer::Connection { id } => self.connection_timed_out(now, id),
        }
    }

    /// Delete an allocation and everything hanging off it.
    fn remove_allocation(&mut self, key: AllocKey) {
        let Some(alloc) = self.allocations.remove(key.index, key.generation) else {
            return;
        };
        self.by_five_tuple.remove(&alloc.five_tuple);
        self.ledger.release(&alloc.username);
        for relay in alloc.relays.iter().flatten() {
            self.close_relay(relay.id, relay.port);
        }
        for id in alloc.connections {
            self.remove_connection(id.0, true);
        }
        if alloc.five_tuple.transport.is_stream() && alloc.protocol == RelayProtocol::Tcp {
            // RFC 6062 §5.3: the control connection has no purpose without its allocation.
            self.events.push_back(Event::CloseClient {
                client: alloc.five_tuple,
            });
        }
    }

    fn close_relay(&mut self, id: RelayId, port: u16) {
        if self.relays.remove(id.index, id.generation).is_some() {
            self.relay_ports.release(port);
            self.events.push_back(Event::CloseRelay { relay: id });
        }
    }

    fn peer_permitted_by_policy(&self, ip: IpAddr) -> bool {
        self.config.policy.permits(ip)
    }
}

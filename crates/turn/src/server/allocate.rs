//! Allocate (RFC 8656 §7.2, RFC 6156, RFC 6062 §5.1) and the relay-socket handshake with the
//! driver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use stun::{Attribute, AttributeType, ErrorCode, Message, Method};

use super::allocation::{AllocKey, Allocation, Family, PendingAllocate, PendingResponse, Relay};
use super::config::{RELAY_OPEN_ATTEMPTS, RESERVATION_LIFETIME};
use super::ratelimit::TokenBucket;
use super::request::Auth;
use super::timers::Timer;
use super::types::{Event, RelayId, RelayOpenError, RelayProtocol};
use super::{RelayEntry, Server};

/// An optional attribute: absent, present and valid, or present and malformed (400).
fn optional<'a, T>(
    msg: &Message<'a>,
    typ: AttributeType,
    pick: impl Fn(Attribute<'a>) -> Option<T>,
) -> Result<Option<T>, ()> {
    match msg.attribute(typ) {
        None => Ok(None),
        Some(Ok(a)) => pick(a).map(Some).ok_or(()),
        Some(Err(_)) => Err(()),
    }
}

impl Server {
    /// RFC 8656 §7.2 receiving an Allocate request, in the RFC's order:
    /// 1. authenticated (done by the caller);
    /// 2. 5-tuple in use: a retransmission gets the same success, anything else 437;
    /// 3. REQUESTED-TRANSPORT missing or malformed: 400; not UDP (or TCP over a stream
    ///    transport, RFC 6062 §5.1): 442;
    /// 4. DONT-FRAGMENT is accepted and passed to the driver;
    /// 5. RESERVATION-TOKEN with EVEN-PORT or REQUESTED-ADDRESS-FAMILY: 400; unknown: 508;
    /// 6. EVEN-PORT that cannot be satisfied: 508;
    /// 7. quotas: per user 486, in total 508;
    /// 8. REQUESTED-ADDRESS-FAMILY unknown or not served: 440 (RFC 6156); with
    ///    ADDITIONAL-ADDRESS-FAMILY: 400; ADDITIONAL-ADDRESS-FAMILY other than IPv6: 400.
    ///
    /// Then the relay port(s) are chosen and the driver asked to open them; the success
    /// response goes out from [`Server::handle_relay_opened`].
    pub(super) fn handle_allocate(
        &mut self,
        now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: Auth,
    ) {
        let from = reply.five_tuple;
        let m = Method::ALLOCATE;
        if let Some(&key) = self.by_five_tuple.get(&from) {
            let retransmit = self
                .allocations
                .get(key.index, key.generation)
                .map(|a| (a.tid == reply.tid, a.pending.is_some()));
            match retransmit {
                Some((true, true)) => {}
                Some((true, false)) => self.send_allocate_success(now, key, &reply),
                _ => self.respond_error(&reply, m, ErrorCode::ALLOCATION_MISMATCH),
            }
            return;
        }
        let Ok(Some(transport)) = optional(msg, AttributeType::REQUESTED_TRANSPORT, |a| match a {
            Attribute::RequestedTransport(p) => Some(p),
            _ => None,
        }) else {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        };
        let protocol = match transport {
            17 => RelayProtocol::Udp,
            6 if from.transport.is_stream() => RelayProtocol::Tcp,
            _ => return self.respond_error(&reply, m, ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL),
        };
        let dont_fragment = msg.get(AttributeType::DONT_FRAGMENT).is_some();
        let parsed = (
            optional(msg, AttributeType::RESERVATION_TOKEN, |a| match a {
                Attribute::ReservationToken(t) => Some(t),
                _ => None,
            }),
            optional(msg, AttributeType::EVEN_PORT, |a| match a {
                Attribute::EvenPort { reserve } => Some(reserve),
                _ => None,
            }),
            optional(msg, AttributeType::REQUESTED_ADDRESS_FAMILY, |a| match a {
                Attribute::RequestedAddressFamily(f) => Some(f),
                _ => None,
            }),
            optional(msg, AttributeType::ADDITIONAL_ADDRESS_FAMILY, |a| match a {
                Attribute::AdditionalAddressFamily(f) => Some(f),
                _ => None,
            }),
            optional(msg, AttributeType::LIFETIME, |a| match a {
                Attribute::Lifetime(l) => Some(l),
                _ => None,
            }),
        );
        let (Ok(token), Ok(even), Ok(family), Ok(additional), Ok(lifetime)) = parsed else {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        };
        if token.is_some() && (even.is_some() || family.is_some()) {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        if family.is_some() && additional.is_some() {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        if additional.is_some_and(|f| f != Family::V6.code()) {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        if protocol == RelayProtocol::Tcp
            && (token.is_some() || even.is_some() || additional.is_some())
        {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        let primary = match family {
            None => Family::V4,
            Some(code) => match Family::from_code(code) {
                Some(f) => f,
                None => {
                    return self.respond_error(&reply, m, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
                }
            },
        };
        let quotas = self.config.quotas;
        let Some(primary_ip) = self.relay_ip(primary, &from.local) else {
            return self.respond_error(&reply, m, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED);
        };
        if let Err(code) = self.ledger.acquire(&auth.username) {
            return self.respond_error(&reply, m, code);
        }
        let Some((port, reservation)) = self.choose_port(now, token, even) else {
            self.ledger.release(&auth.username);
            return self.respond_error(&reply, m, ErrorCode::INSUFFICIENT_CAPACITY);
        };

        // RFC 8656 §7.2: ADDITIONAL-ADDRESS-FAMILY failures do not fail the allocation.
        let mut address_error = None;
        let mut second = None;
        if additional.is_some() {
            match self.relay_ip(Family::V6, &from.local) {
                None => address_error = Some((Family::V6, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)),
                Some(ip) => match self.relay_ports.take_any() {
                    Some(p) => second = Some((ip, p)),
                    None => address_error = Some((Family::V6, ErrorCode::INSUFFICIENT_CAPACITY)),
                },
            }
        }
        let lifetime = self.clamp_lifetime(lifetime);
        let expires = now + Duration::from_secs(u64::from(lifetime));
        let pending = PendingAllocate {
            response: reply.clone(),
            opening: 1 + u8::from(second.is_some()),
            attempts: [1, 1],
            even: even.is_some(),
            reserved_port: token.is_some(),
            dont_fragment,
        };
        let bandwidth = (quotas.max_bps_per_allocation > 0).then(|| {
            let rate = quotas.max_bps_per_allocation;
            TokenBucket::new(rate, rate.max(64 * 1024), now)
        });
        let (index, generation) = self.allocations.insert(Allocation {
            five_tuple: from,
            username: auth.username.clone(),
            tid: reply.tid,
            protocol,
            relays: [None, None],
            expires,
            lifetime_secs: lifetime,
            pending: Some(Box::new(pending)),
            reservation,
            address_error,
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_by_peer: HashMap::new(),
            bandwidth,
            connections: Vec::new(),
        });
        let key = AllocKey { index, generation };
        self.by_five_tuple.insert(from, key);
        self.stats.allocations_total += 1;
        self.timers
            .push(expires, Timer::Allocation { index, generation });
        // With a reservation the next port is held first; the relay opens once it is.
        let relay = self.open_relay(
            key,
            primary,
            SocketAddr::new(primary_ip, port),
            protocol,
            dont_fragment,
            reservation.is_none(),
        );
        if let (Some(relay), Some(_)) = (relay, reservation) {
            self.events.push_back(Event::HoldPort {
                relay,
                addr: SocketAddr::new(primary_ip, port + 1),
                client: from.client,
            });
        }
        if let Some((ip, p)) = second {
            self.open_relay(
                key,
                Family::V6,
                SocketAddr::new(ip, p),
                protocol,
                dont_fragment,
                true,
            );
        }
    }

    /// RFC 8656 §7.2 steps 5-6: the port a RESERVATION-TOKEN holds, an even port (reserving
    /// the next one under a new token with R), or any port; None when none is available.
    fn choose_port(
        &mut self,
        now: Instant,
        token: Option<u64>,
        even: Option<bool>,
    ) -> Option<(u16, Option<u64>)> {
        if let Some(token) = token {
            return self.relay_ports.redeem(token).map(|p| (p, None));
        }
        if let Some(reserve) = even {
            let p = self.relay_ports.take_even(reserve)?;
            let reservation = reserve.then(|| self.reserve(now, p + 1));
            return Some((p, reservation));
        }
        self.relay_ports.take_any().map(|p| (p, None))
    }

    /// RFC 8656 §7.2 / §7.3: the lifetime granted for a requested one.
    pub(super) fn clamp_lifetime(&self, requested: Option<u32>) -> u32 {
        let default = self
            .config
            .default_lifetime
            .as_secs()
            .min(u64::from(u32::MAX)) as u32;
        let max = self.config.max_lifetime.as_secs().min(u64::from(u32::MAX)) as u32;
        match requested {
            None => default.min(max),
            Some(r) => r.min(max).max(default.min(max)),
        }
    }

    /// The IP a relay of `family` binds to; unspecified means "what routes to the client".
    fn relay_ip(&self, family: Family, local: &SocketAddr) -> Option<IpAddr> {
        match family {
            Family::V4 => match (self.config.relay_ipv4, local.ip()) {
                (Some(ip), _) => Some(IpAddr::V4(ip)),
                (None, IpAddr::V4(ip)) => Some(IpAddr::V4(ip)),
                (None, IpAddr::V6(_)) => None,
            },
            Family::V6 => {
                if let Some(ip) = self.config.relay_ipv6 {
                    return Some(IpAddr::V6(ip));
                }
                match local.ip() {
                    IpAddr::V6(ip) if ip.to_ipv4_mapped().is_none() => Some(IpAddr::V6(ip)),
                    _ => None,
                }
            }
        }
    }

    fn reserve(&mut self, now: Instant, port: u16) -> u64 {
        let expires = now + RESERVATION_LIFETIME;
        let token = self.relay_ports.reserve(port, expires);
        self.timers.push(expires, Timer::Reservation { token });
        token
    }

    /// Register a relay of `family` for the allocation; with `emit`, ask the driver to open
    /// it now.
    fn open_relay(
        &mut self,
        key: AllocKey,
        family: Family,
        addr: SocketAddr,
        protocol: RelayProtocol,
        dont_fragment: bool,
        emit: bool,
    ) -> Option<RelayId> {
        let (index, generation) = self.relays.insert(RelayEntry { alloc: key, family });
        let id = RelayId { index, generation };
        let alloc = self.allocations.get_mut(key.index, key.generation)?;
        alloc.relays[family as usize] = Some(Relay {
            id,
            port: addr.port(),
            requested_ip: addr.ip(),
            bound: None,
            advertised: None,
        });
        let client = alloc.five_tuple.client;
        if emit {
            self.events.push_back(Event::OpenRelay {
                relay: id,
                addr,
                client,
                protocol,
                dont_fragment,
            });
        }
        Some(id)
    }

    /// The driver's answer to `Event::HoldPort`: the reserved port is held, so the relay
    /// itself opens; if the port is taken by someone else, another even pair is tried.
    pub(super) fn port_held(
        &mut self,
        now: Instant,
        relay: RelayId,
        result: Result<(), RelayOpenError>,
    ) {
        // A hold whose allocation went away meanwhile is released when its reservation
        // lapses (`ReleasePort`).
        let Some(entry) = self.relays.get(relay.index, relay.generation).copied() else {
            return;
        };
        let key = entry.alloc;
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        let (Some(pending), Some(r), Some(token)) = (
            alloc.pending.as_mut(),
            alloc.relays[entry.family as usize].as_mut(),
            alloc.reservation,
        ) else {
            return;
        };
        let client = alloc.five_tuple.client;
        if result.is_ok() {
            self.events.push_back(Event::OpenRelay {
                relay,
                addr: SocketAddr::new(r.requested_ip, r.port),
                client,
                protocol: alloc.protocol,
                dont_fragment: pending.dont_fragment,
            });
            return;
        }
        pending.attempts[0] += 1;
        let retry = pending.attempts[0] <= RELAY_OPEN_ATTEMPTS;
        let new_pair = if retry {
            self.relay_ports.take_even(true)
        } else {
            None
        };
        let Some(port) = new_pair else {
            let port = r.port;
            self.relay_ports.release(port);
            return self.relay_failed(now, key, entry.family, relay);
        };
        self.relay_ports.release(r.port);
        r.port = port;
        self.relay_ports.retarget(token, port + 1);
        self.events.push_back(Event::HoldPort {
            relay,
            addr: SocketAddr::new(r.requested_ip, port + 1),
            client,
        });
    }

    /// The driver's answer to `Event::OpenRelay`.
    pub(super) fn relay_opened(
        &mut self,
        now: Instant,
        relay: RelayId,
        result: Result<SocketAddr, RelayOpenError>,
    ) {
        let Some(entry) = self.relays.get(relay.index, relay.generation).copied() else {
            if result.is_ok() {
                self.events.push_back(Event::CloseRelay { relay });
            }
            return;
        };
        let key = entry.alloc;
        let slot = entry.family as usize;
        let external = match entry.family {
            Family::V4 => self.config.external_ipv4.map(IpAddr::V4),
            Family::V6 => self.config.external_ipv6.map(IpAddr::V6),
        };
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        let (Some(pending), Some(r)) = (alloc.pending.as_mut(), alloc.relays[slot].as_mut()) else {
            return;
        };
        match result {
            Ok(bound) => {
                r.bound = Some(bound);
                r.advertised = Some(SocketAddr::new(
                    external.unwrap_or(bound.ip()),
                    bound.port(),
                ));
                pending.opening = pending.opening.saturating_sub(1);
                self.maybe_finish_allocate(now, key);
            }
            Err(RelayOpenError::AddrInUse)
                if !pending.reserved_port && pending.attempts[slot] < RELAY_OPEN_ATTEMPTS =>
            {
                pending.attempts[slot] += 1;
                let reserve = alloc
                    .reservation
                    .filter(|t| entry.family == Family::V4 && self.relay_ports.is_reserved(*t));
                let new_port = if pending.even {
                    self.relay_ports.take_even(reserve.is_some())
                } else {
                    self.relay_ports.take_any()
                };
                // The old port is someone else's for now; it goes back to the pool.
                self.relay_ports.release(r.port);
                let Some(port) = new_port else {
                    return self.relay_failed(now, key, entry.family, relay);
                };
                r.port = port;
                let event = Event::OpenRelay {
                    relay,
                    addr: SocketAddr::new(r.requested_ip, port),
                    client: alloc.five_tuple.client,
                    protocol: alloc.protocol,
                    dont_fragment: pending.dont_fragment,
                };
                if let Some(old) = reserve.and_then(|t| self.relay_ports.retarget(t, port + 1)) {
                    self.events.push_back(Event::ReleasePort { port: old });
                    self.events.push_back(Event::HoldPort {
                        relay,
                        addr: SocketAddr::new(r.requested_ip, port + 1),
                        client: alloc.five_tuple.client,
                    });
                }
                self.events.push_back(event);
            }
            Err(_) => {
                let port = r.port;
                self.relay_ports.release(port);
                self.relay_failed(now, key, entry.family, relay);
            }
        }
    }

    /// A relay could not be opened: the primary fails the Allocate with 508, an additional
    /// family is reported with ADDRESS-ERROR-CODE.
    fn relay_failed(&mut self, now: Instant, key: AllocKey, family: Family, relay: RelayId) {
        self.relays.remove(relay.index, relay.generation);
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        alloc.relays[family as usize] = None;
        let Some(pending) = alloc.pending.as_mut() else {
            return;
        };
        pending.opening = pending.opening.saturating_sub(1);
        let additional = family == Family::V6 && alloc.relays[Family::V4 as usize].is_some();
        if additional {
            alloc.address_error = Some((family, stun::ErrorCode::INSUFFICIENT_CAPACITY));
            self.maybe_finish_allocate(now, key);
            return;
        }
        let response = pending.response.clone();
        self.remove_allocation(key);
        self.respond_error(
            &response,
            Method::ALLOCATE,
            ErrorCode::INSUFFICIENT_CAPACITY,
        );
    }

    fn maybe_finish_allocate(&mut self, now: Instant, key: AllocKey) {
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        if alloc.pending.as_ref().is_some_and(|p| p.opening > 0) {
            return;
        }
        let Some(pending) = alloc.pending.take() else {
            return;
        };
        self.send_allocate_success(now, key, &pending.response);
    }

    /// The success response: XOR-RELAYED-ADDRESS per relay, LIFETIME, RESERVATION-TOKEN,
    /// XOR-MAPPED-ADDRESS and ADDRESS-ERROR-CODE for a failed additional family.
    fn send_allocate_success(&mut self, now: Instant, key: AllocKey, reply: &PendingResponse) {
        let Some(alloc) = self.allocations.get(key.index, key.generation) else {
            return;
        };
        let relayed: Vec<SocketAddr> = alloc
            .relays
            .iter()
            .flatten()
            .filter_map(|r| r.advertised)
            .collect();
        let remaining = alloc.expires.saturating_duration_since(now).as_secs() as u32;
        let token = alloc.reservation;
        let mapped = alloc.five_tuple.client;
        let address_error = alloc.address_error;
        self.respond(reply, Method::ALLOCATE, None, |b| {
            for r in &relayed {
                b.xor_address(AttributeType::XOR_RELAYED_ADDRESS, *r);
            }
            b.add(&Attribute::Lifetime(remaining));
            if let Some(t) = token {
                b.add(&Attribute::ReservationToken(t));
            }
            b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, mapped);
            if let Some((family, code)) = address_error {
                b.add(&Attribute::AddressErrorCode {
                    family: family.code(),
                    code,
                    reason: code.reason(),
                });
            }
        });
    }
}

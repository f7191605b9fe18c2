//! Refresh (RFC 8656 §7.3), CreatePermission (§9.2) and ChannelBind (§11.2).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun::{Attribute, AttributeType, ErrorCode, Message, Method};

use super::allocation::{AllocKey, Channel, Family, PendingResponse};
use super::config::{CHANNEL_LIFETIME, PERMISSION_LIFETIME};
use super::request::Auth;
use super::timers::Timer;
use super::Server;

impl Server {
    /// The allocation of the request's 5-tuple, or the error to answer with: 437 when there
    /// is none (or it is still opening), 441 when another user owns it (RFC 8656 §5).
    pub(super) fn owned_allocation(
        &self,
        reply: &PendingResponse,
        auth: &Auth,
    ) -> Result<AllocKey, ErrorCode> {
        let key = *self
            .by_five_tuple
            .get(&reply.five_tuple)
            .ok_or(ErrorCode::ALLOCATION_MISMATCH)?;
        let alloc = self
            .allocations
            .get(key.index, key.generation)
            .ok_or(ErrorCode::ALLOCATION_MISMATCH)?;
        if alloc.pending.is_some() {
            return Err(ErrorCode::ALLOCATION_MISMATCH);
        }
        if *alloc.username != *auth.username {
            return Err(ErrorCode::WRONG_CREDENTIALS);
        }
        Ok(key)
    }

    /// RFC 8656 §7.3: no allocation -> 437; REQUESTED-ADDRESS-FAMILY naming a family the
    /// allocation lacks -> 443 (RFC 8656 §7.3 for dual allocations); LIFETIME 0 deletes (only
    /// that family's relay when one is named); otherwise the desired lifetime is
    /// min(requested, max) but at least the default.
    pub(super) fn handle_refresh(
        &mut self,
        now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: &Auth,
    ) {
        let m = Method::REFRESH;
        let key = match self.owned_allocation(&reply, auth) {
            Ok(k) => k,
            Err(code) => return self.respond_error(&reply, m, code),
        };
        let family = match msg.attribute(AttributeType::REQUESTED_ADDRESS_FAMILY) {
            None => None,
            Some(Ok(Attribute::RequestedAddressFamily(code))) => match Family::from_code(code) {
                Some(f) => Some(f),
                None => {
                    return self.respond_error(&reply, m, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
                }
            },
            Some(_) => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        let requested = match msg.attribute(AttributeType::LIFETIME) {
            None => None,
            Some(Ok(Attribute::Lifetime(l))) => Some(l),
            Some(_) => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        if let Some(f) = family {
            if !alloc.has_family(f) {
                return self.respond_error(&reply, m, ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
            }
        }
        if requested == Some(0) {
            let dual = alloc.relays.iter().flatten().count() > 1;
            match family {
                Some(f) if dual => {
                    if let Some(r) = alloc.relays[f as usize].take() {
                        self.close_relay(r.id, r.port);
                    }
                }
                _ => self.remove_allocation(key),
            }
            self.respond(&reply, m, None, |b| {
                b.add(&Attribute::Lifetime(0));
            });
            return;
        }
        let lifetime = self.clamp_lifetime(requested);
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        alloc.expires = now + Duration::from_secs(u64::from(lifetime));
        alloc.lifetime_secs = lifetime;
        self.timers.push(
            alloc.expires,
            Timer::Allocation {
                index: key.index,
                generation: key.generation,
            },
        );
        self.respond(&reply, m, None, |b| {
            b.add(&Attribute::Lifetime(lifetime));
        });
    }

    /// Every XOR-PEER-ADDRESS of the request, or None when one is malformed.
    fn peer_addresses(msg: &Message<'_>) -> Option<Vec<SocketAddr>> {
        let mut out = Vec::new();
        for raw in msg
            .attributes()
            .filter(|a| a.typ == AttributeType::XOR_PEER_ADDRESS)
        {
            match Attribute::decode(raw.typ, raw.value, &msg.transaction_id()) {
                Ok(Attribute::XorPeerAddress(a)) => out.push(a),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Checks shared by CreatePermission and ChannelBind for one peer: the allocation has a
    /// relay of the peer's family (else 443) and the peer policy allows it (else 403).
    fn check_peer(&self, key: AllocKey, peer: SocketAddr) -> Result<(), ErrorCode> {
        let alloc = self
            .allocations
            .get(key.index, key.generation)
            .ok_or(ErrorCode::ALLOCATION_MISMATCH)?;
        if !alloc.has_family(Family::of(&peer)) {
            return Err(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        if !self.peer_permitted_by_policy(peer.ip()) {
            tracing::debug!("peer refused by policy");
            return Err(ErrorCode::FORBIDDEN);
        }
        Ok(())
    }

    /// Install or refresh the permission for `peer`'s IP; false when the per-allocation
    /// quota is full.
    pub(super) fn install_permission(
        &mut self,
        now: Instant,
        key: AllocKey,
        peer: SocketAddr,
    ) -> bool {
        let max = self.config.quotas.max_permissions_per_allocation;
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return false;
        };
        let ip = peer.ip();
        if !alloc.permissions.contains_key(&ip) && alloc.permissions.len() >= max {
            return false;
        }
        let expires = now + PERMISSION_LIFETIME;
        alloc.permissions.insert(ip, expires);
        self.timers.push(
            expires,
            Timer::Permission {
                index: key.index,
                generation: key.generation,
                ip,
            },
        );
        true
    }

    /// RFC 8656 §9.2: at least one XOR-PEER-ADDRESS (else 400); each must match a relay
    /// family (443) and pass the peer policy (403); all are installed or none is. Over the
    /// permission quota: 508.
    pub(super) fn handle_create_permission(
        &mut self,
        now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: &Auth,
    ) {
        let m = Method::CREATE_PERMISSION;
        let key = match self.owned_allocation(&reply, auth) {
            Ok(k) => k,
            Err(code) => return self.respond_error(&reply, m, code),
        };
        let peers = match Self::peer_addresses(msg) {
            Some(p) if !p.is_empty() => p,
            _ => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        for peer in &peers {
            if let Err(code) = self.check_peer(key, *peer) {
                return self.respond_error(&reply, m, code);
            }
        }
        let max = self.config.quotas.max_permissions_per_allocation;
        let Some(alloc) = self.allocations.get(key.index, key.generation) else {
            return;
        };
        let mut fresh: Vec<_> = peers
            .iter()
            .map(|p| p.ip())
            .filter(|ip| !alloc.permissions.contains_key(ip))
            .collect();
        fresh.sort();
        fresh.dedup();
        if alloc.permissions.len() + fresh.len() > max {
            return self.respond_error(&reply, m, ErrorCode::INSUFFICIENT_CAPACITY);
        }
        for peer in peers {
            self.install_permission(now, key, peer);
        }
        self.respond(&reply, m, None, |_| {});
    }

    /// RFC 8656 §11.2: CHANNEL-NUMBER in range (see [`super::CHANNEL_NUMBERS`]) and an
    /// XOR-PEER-ADDRESS (else 400);
    /// the channel bound to another peer, or the peer to another channel: 400; family 443,
    /// policy 403. A binding is installed or refreshed for 10 minutes, and with it the
    /// permission for the peer (RFC 8656 §11.2: "the server MUST install or refresh a
    /// permission").
    pub(super) fn handle_channel_bind(
        &mut self,
        now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: &Auth,
    ) {
        let m = Method::CHANNEL_BIND;
        let key = match self.owned_allocation(&reply, auth) {
            Ok(k) => k,
            Err(code) => return self.respond_error(&reply, m, code),
        };
        // RFC 6062 §5.1: a TCP allocation carries data on connections, not channels.
        let tcp = self
            .allocations
            .get(key.index, key.generation)
            .is_some_and(|a| a.protocol == super::RelayProtocol::Tcp);
        if tcp {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        let number = match msg.attribute(AttributeType::CHANNEL_NUMBER) {
            Some(Ok(Attribute::ChannelNumber(n))) if super::CHANNEL_NUMBERS.contains(&n) => n,
            _ => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        let peer = match Self::peer_addresses(msg).as_deref() {
            Some([peer, ..]) => *peer,
            _ => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        if let Err(code) = self.check_peer(key, peer) {
            return self.respond_error(&reply, m, code);
        }
        let max = self.config.quotas.max_permissions_per_allocation;
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return;
        };
        let channel_conflict = alloc.channels.get(&number).is_some_and(|c| c.peer != peer);
        let peer_conflict = alloc
            .channel_by_peer
            .get(&peer)
            .is_some_and(|&n| n != number);
        if channel_conflict || peer_conflict {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        if !alloc.permissions.contains_key(&peer.ip()) && alloc.permissions.len() >= max {
            return self.respond_error(&reply, m, ErrorCode::INSUFFICIENT_CAPACITY);
        }
        let expires = now + CHANNEL_LIFETIME;
        alloc.channels.insert(
            number,
            Channel {
                peer,
                expires,
                active: true,
            },
        );
        alloc.channel_by_peer.insert(peer, number);
        self.timers.push(
            expires,
            Timer::Channel {
                index: key.index,
                generation: key.generation,
                number,
            },
        );
        self.install_permission(now, key, peer);
        self.respond(&reply, m, None, |_| {});
    }
}

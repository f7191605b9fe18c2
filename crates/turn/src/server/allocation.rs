//! One allocation (RFC 8656 §2.2): the client 5-tuple, its relay socket(s), permissions and
//! channel bindings, all looked up in O(1).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use stun::TransactionId;

use super::auth::Keys;
use super::ratelimit::TokenBucket;
use super::types::{ConnectionId, FiveTuple, RelayId, RelayProtocol};

/// A handle to an allocation in the server's slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AllocKey {
    pub index: u32,
    pub generation: u32,
}

/// Which relay of a (possibly dual-stack, RFC 8656 §7.2 ADDITIONAL-ADDRESS-FAMILY) allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4 = 0,
    V6 = 1,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// RFC 8656 §18.8 REQUESTED-ADDRESS-FAMILY codes.
    pub fn from_code(code: u8) -> Option<Family> {
        match code {
            0x01 => Some(Family::V4),
            0x02 => Some(Family::V6),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Family::V4 => 0x01,
            Family::V6 => 0x02,
        }
    }
}

/// A relay socket of an allocation.
#[derive(Debug, Clone, Copy)]
pub struct Relay {
    pub id: RelayId,
    pub port: u16,
    /// The IP asked of the driver (unspecified: what routes to the client).
    pub requested_ip: std::net::IpAddr,
    /// The bound address reported by the driver; None while opening.
    pub bound: Option<SocketAddr>,
    /// The address advertised in XOR-RELAYED-ADDRESS (external IP when configured).
    pub advertised: Option<SocketAddr>,
}

/// What is needed to answer a request later (Allocate waiting for its relay sockets, RFC 6062
/// Connect waiting for the peer connection).
#[derive(Debug, Clone)]
pub struct PendingResponse {
    pub five_tuple: FiveTuple,
    pub tid: TransactionId,
    pub integrity: Option<(Arc<Keys>, Integrity)>,
    pub fingerprint: bool,
}

/// How a request was authenticated, and so how its response is signed (RFC 8489 §9.2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integrity {
    /// PASSWORD-ALGORITHM SHA-256 (key derivation).
    pub sha256_key: bool,
    /// MESSAGE-INTEGRITY-SHA256 (HMAC) rather than MESSAGE-INTEGRITY.
    pub sha256_hmac: bool,
}

/// An Allocate waiting for the driver to open its relay socket(s).
#[derive(Debug, Clone)]
pub struct PendingAllocate {
    pub response: PendingResponse,
    /// Relay slots still opening.
    pub opening: u8,
    /// Ports tried so far per slot.
    pub attempts: [u8; 2],
    /// RFC 8656 §7.2 EVEN-PORT: the port must be even (and with R, the next one is reserved).
    pub even: bool,
    /// The port came from a RESERVATION-TOKEN: no other port will do.
    pub reserved_port: bool,
    pub dont_fragment: bool,
}

/// RFC 8656 §12 channel binding state.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    pub peer: SocketAddr,
    pub expires: Instant,
    /// False during the quarantine after expiry: not usable, not rebindable elsewhere.
    pub active: bool,
}

#[derive(Debug)]
pub struct Allocation {
    pub five_tuple: FiveTuple,
    pub username: Arc<str>,
    /// Transaction id of the Allocate, to answer its retransmissions (RFC 8656 §7.2).
    pub tid: TransactionId,
    pub protocol: RelayProtocol,
    pub relays: [Option<Relay>; 2],
    pub expires: Instant,
    pub lifetime_secs: u32,
    pub pending: Option<Box<PendingAllocate>>,
    /// RESERVATION-TOKEN handed out with this allocation.
    pub reservation: Option<u64>,
    /// ADDITIONAL-ADDRESS-FAMILY failure reported with ADDRESS-ERROR-CODE.
    pub address_error: Option<(Family, stun::ErrorCode)>,
    /// Permissions keyed by peer IP (RFC 8656 §9: the port is ignored).
    pub permissions: HashMap<IpAddr, Instant>,
    pub channels: HashMap<u16, Channel>,
    pub channel_by_peer: HashMap<SocketAddr, u16>,
    pub bandwidth: Option<TokenBucket>,
    /// RFC 6062 peer connections of a TCP allocation.
    pub connections: Vec<ConnectionId>,
}

impl Allocation {
    pub fn relay(&self, family: Family) -> Option<&Relay> {
        self.relays[family as usize].as_ref()
    }

    pub fn has_family(&self, family: Family) -> bool {
        self.relays[family as usize].is_some()
    }

    /// RFC 8656 §9: a live permission for `ip`.
    pub fn permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip).is_some_and(|&e| e > now)
    }

    /// Bandwidth quota: whether `bytes` more may be relayed now.
    pub fn charge(&mut self, now: Instant, bytes: usize) -> bool {
        match &mut self.bandwidth {
            None => true,
            Some(b) => b.try_take(now, bytes as u64),
        }
    }
}

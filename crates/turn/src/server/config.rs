//! The core's configuration: what the driver resolved from `TurnConfig`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::policy::PeerPolicy;

/// RFC 5780 second address: the server answers from `primary` and `alternate` IPs on
/// `ports.0` and `ports.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc5780 {
    pub primary: IpAddr,
    pub alternate: IpAddr,
    pub ports: (u16, u16),
}

impl Rfc5780 {
    pub fn other_ip(&self, ip: IpAddr) -> Option<IpAddr> {
        if ip == self.primary {
            Some(self.alternate)
        } else if ip == self.alternate {
            Some(self.primary)
        } else {
            None
        }
    }

    pub fn other_port(&self, port: u16) -> Option<u16> {
        if port == self.ports.0 {
            Some(self.ports.1)
        } else if port == self.ports.1 {
            Some(self.ports.0)
        } else {
            None
        }
    }
}

/// Limits on resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub max_allocations: usize,
    pub max_allocations_per_user: usize,
    pub max_permissions_per_allocation: usize,
    /// Bytes per second per allocation, both directions together; 0 = unlimited.
    pub max_bps_per_allocation: u64,
    /// 401/438 responses per second per source IP (burst twice that): bounds how much a
    /// spoofed source can be sent, while many clients behind one NAT can still log in.
    pub unauthenticated_per_second: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_allocations: 100_000,
            max_allocations_per_user: 100,
            max_permissions_per_allocation: 64,
            max_bps_per_allocation: 0,
            unauthenticated_per_second: 100,
        }
    }
}

/// Everything the server core needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub realm: String,
    /// SOFTWARE attribute in responses (off by default).
    pub software: Option<String>,
    /// Answer Binding only; every TURN method gets 400.
    pub stun_only: bool,
    pub users: Vec<(String, String)>,
    /// TURN REST secrets; all accepted.
    pub rest_secrets: Vec<String>,
    pub policy: PeerPolicy,
    pub rfc5780: Option<Rfc5780>,
    /// Relay IPv4 address; None: the address the client reached (see `Event::OpenRelay`).
    pub relay_ipv4: Option<Ipv4Addr>,
    /// Relay IPv6 address; None: the address the client reached when that is IPv6, else
    /// IPv6 relays are refused with 440.
    pub relay_ipv6: Option<Ipv6Addr>,
    /// Advertised instead of the IPv4 relay address when behind 1:1 NAT.
    pub external_ipv4: Option<Ipv4Addr>,
    pub external_ipv6: Option<Ipv6Addr>,
    pub min_port: u16,
    pub max_port: u16,
    pub quotas: Quotas,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    pub nonce_lifetime: Duration,
    /// Allocation quotas shared with other cores (sharded servers); None: this core keeps
    /// its own ledger with `quotas.max_allocations` and `quotas.max_allocations_per_user`.
    pub ledger: Option<std::sync::Arc<super::ledger::AllocationLedger>>,
    /// Relay ports and reservations shared with other cores; None: this core keeps its own
    /// pool of `min_port..=max_port`.
    pub relay_ports: Option<std::sync::Arc<super::relay_ports::RelayPorts>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            realm: "rendezvous".into(),
            software: None,
            stun_only: false,
            users: Vec::new(),
            rest_secrets: Vec::new(),
            policy: PeerPolicy::new::<&str, &str>(&[], &[]).expect("default policy"),
            rfc5780: None,
            relay_ipv4: None,
            relay_ipv6: None,
            external_ipv4: None,
            external_ipv6: None,
            min_port: 49152,
            max_port: 65535,
            quotas: Quotas::default(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            ledger: None,
            relay_ports: None,
        }
    }
}

/// RFC 8656 §9: permission lifetime.
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// RFC 8656 §12: channel binding lifetime.
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// RFC 8656 §12: a channel number/peer stays unavailable for others this long after expiry.
pub const CHANNEL_QUARANTINE: Duration = Duration::from_secs(300);
/// RFC 8656 §7.2: a reserved port is kept this long.
pub const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);
/// RFC 6062 §5.3/§5.4: time to establish a peer connection or bind it.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How many ports are tried when the driver finds one in use by another process.
pub const RELAY_OPEN_ATTEMPTS: u8 = 8;

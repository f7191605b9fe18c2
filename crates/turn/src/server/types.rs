//! Identifiers and the effects the server core hands to its driver.

use std::net::SocketAddr;

/// How a client reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// Stream transports need ChannelData padded to 4 bytes (RFC 8656 §12.5).
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// RFC 8656 §2: the 5-tuple of the client side of an allocation. `local` is the address of
/// the driver's socket the client reached (it may be a wildcard address when the driver
/// listens on 0.0.0.0); for TCP and TLS it names one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    pub client: SocketAddr,
    pub local: SocketAddr,
    pub transport: Transport,
}

/// A relay socket owned by the driver. The generation makes a stale id (a packet that was
/// in flight while the relay closed) harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayId {
    pub index: u32,
    pub generation: u32,
}

/// RFC 6062 §6.2.1 CONNECTION-ID: names one peer TCP connection of a TCP allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

/// Protocol of a relay socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayProtocol {
    Udp,
    /// RFC 6062: a listener on the relay address plus outbound connections from it.
    Tcp,
}

/// A datagram or stream message queued by the core, drained with
/// [`Server::poll_transmit`](super::Server::poll_transmit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Local address to send from (for RFC 5780 CHANGE-REQUEST it differs from the address
    /// the request arrived on). For TCP/TLS, together with `to` it names the connection.
    pub local: SocketAddr,
    pub to: SocketAddr,
    pub transport: Transport,
}

/// What the driver must do; drained with [`Server::poll_event`](super::Server::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Bind a relay socket on `addr` and report with
    /// [`Server::handle_relay_opened`](super::Server::handle_relay_opened). An unspecified IP
    /// means "the local address that routes to `client`" (the address the client reached).
    OpenRelay {
        relay: RelayId,
        addr: SocketAddr,
        client: SocketAddr,
        protocol: RelayProtocol,
        dont_fragment: bool,
    },
    /// Close the relay socket (allocation expired, deleted, or its open was abandoned).
    CloseRelay { relay: RelayId },
    /// RFC 6062 §5.2: connect from the TCP relay `relay` to `peer`, then report with
    /// [`Server::handle_peer_connected`](super::Server::handle_peer_connected).
    Connect {
        connection: ConnectionId,
        relay: RelayId,
        peer: SocketAddr,
    },
    /// RFC 6062 §5.4: the client data connection `client` is bound to `connection`: the
    /// driver stops reading STUN from it and pipes bytes both ways.
    Splice {
        connection: ConnectionId,
        client: FiveTuple,
    },
    /// Close the peer TCP connection (never bound in time, or its allocation is gone).
    CloseConnection { connection: ConnectionId },
    /// Close a client TCP/TLS connection (RFC 6062 §5.3: a control connection whose
    /// allocation is gone).
    CloseClient { client: FiveTuple },
    /// RFC 8656 §7.2 RESERVATION-TOKEN: bind `addr` and keep it (so no one else takes the
    /// port) until an `OpenRelay` for that port uses the held socket or `ReleasePort` frees
    /// it; report with [`Server::handle_port_held`](super::Server::handle_port_held) for
    /// `relay` (the allocation whose EVEN-PORT asked for it). An unspecified IP means the
    /// address that routes to `client`.
    HoldPort {
        relay: RelayId,
        addr: SocketAddr,
        client: SocketAddr,
    },
    /// A held port's reservation lapsed: drop the held socket.
    ReleasePort { port: u16 },
}

/// Why the driver could not open a relay socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayOpenError {
    /// The port is taken by someone else: the core tries another one.
    #[error("relay port in use")]
    AddrInUse,
    /// Any other failure: the client gets 508.
    #[error("relay socket could not be opened")]
    Other,
}

/// Where to send a relayed packet from the hot path; no allocation, no queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToPeer {
    pub relay: RelayId,
    pub peer: SocketAddr,
    /// The payload's byte range inside the buffer the driver passed in.
    pub payload: std::ops::Range<usize>,
}

/// Where to send a packet a peer sent to a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToClient {
    pub client: FiveTuple,
    /// The framed message (ChannelData or Data indication) inside the driver's buffer.
    pub range: std::ops::Range<usize>,
}

/// Counters the core keeps; the driver copies them into its metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub binding_requests: u64,
    pub turn_requests: u64,
    pub error_responses: u64,
    pub auth_failures: u64,
    pub allocations: u64,
    pub allocations_total: u64,
    pub relayed_packets: u64,
    pub relayed_bytes: u64,
    pub dropped_packets: u64,
}

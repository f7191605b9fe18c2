//! Everything between str0m and the sockets: host candidates on local interfaces,
//! server-reflexive candidates from STUN, relay candidates from TURN (over UDP, TCP or TLS),
//! and the routing of datagrams between them.
//!
//! - A transmit whose source is a relayed address goes out through that allocation's
//!   [`TurnClient`] (ChannelData or a Send indication); data a TURN server relays back comes
//!   out as a datagram whose destination is the relayed address, as str0m expects.
//! - On a host socket, responses to our own Binding requests are taken out; everything else
//!   (ICE checks, DTLS, SCTP, RTP) goes to str0m.

mod gather;
mod link;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use str0m::net::Protocol;
use str0m::Candidate;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::ice_server::{IceServer, IceUrl};
use crate::transaction::{Retransmit, Transaction};
use crate::turn_client::{Credentials, TurnClient, TurnEvent, TurnTransport};
use crate::{binding, PeerError};
pub use gather::host_ips;
use link::Link;

/// Sends of a Binding request for a server-reflexive candidate (about 1.5 s of tries).
const BINDING_SENDS: u32 = 3;
/// Datagrams queued from the socket readers before they wait for the driver.
const INPUT_QUEUE: usize = 4096;

/// How candidates are gathered.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub ice_servers: Vec<IceServer>,
    /// Only relay candidates: no host or server-reflexive candidate is offered.
    pub relay_only: bool,
    /// Host candidate addresses; empty means every usable interface.
    pub host_ips: Vec<IpAddr>,
    /// Also offer loopback addresses (they are used anyway when nothing else exists).
    pub include_loopback: bool,
    /// TURN transports to allocate over; empty means every one the ICE servers list.
    pub turn_transports: Vec<TurnTransport>,
    pub tls: Arc<rustls::ClientConfig>,
}

/// The kind of a local candidate (RFC 8445 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    pub fn of(c: &Candidate) -> CandidateType {
        match c.kind() {
            str0m::CandidateKind::Host => CandidateType::Host,
            str0m::CandidateKind::ServerReflexive => CandidateType::Srflx,
            str0m::CandidateKind::PeerReflexive => CandidateType::Prflx,
            str0m::CandidateKind::Relayed => CandidateType::Relay,
        }
    }
}

/// A gathered candidate and where it came from.
#[derive(Debug, Clone)]
pub struct LocalCandidate {
    pub candidate: Candidate,
    pub kind: CandidateType,
    pub addr: SocketAddr,
    /// The STUN or TURN server that gave it.
    pub server: Option<SocketAddr>,
    /// For relay candidates: how the TURN server is reached.
    pub relay_transport: Option<TurnTransport>,
}

/// Something the driver reports.
#[derive(Debug, Clone)]
pub enum NetEvent {
    Candidate(Box<LocalCandidate>),
    /// A STUN or TURN server gave nothing; gathering goes on without it.
    ServerFailed {
        server: String,
        reason: String,
    },
}

/// A datagram for str0m.
#[derive(Debug)]
pub struct Incoming {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub data: Vec<u8>,
}

/// What the socket tasks hand the driver.
#[derive(Debug)]
pub enum NetInput {
    Host {
        socket: usize,
        source: SocketAddr,
        data: Vec<u8>,
    },
    Relay {
        relay: usize,
        data: Vec<u8>,
    },
    RelayClosed {
        relay: usize,
        reason: String,
    },
}

struct HostSocket {
    socket: Arc<UdpSocket>,
    addr: SocketAddr,
}

struct Relay {
    client: TurnClient,
    link: Link,
    name: String,
    failed: bool,
}

struct PendingBinding {
    socket: usize,
    server: SocketAddr,
    transaction: Transaction,
}

/// Sockets, STUN transactions and TURN allocations of one peer.
pub struct Network {
    hosts: Vec<HostSocket>,
    relays: Vec<Relay>,
    bindings: Vec<PendingBinding>,
    candidates: Vec<LocalCandidate>,
    events: VecDeque<NetEvent>,
    input_tx: mpsc::Sender<NetInput>,
    input_rx: mpsc::Receiver<NetInput>,
    relay_only: bool,
    /// Remote addresses to permit, also on allocations that complete later.
    permitted: Vec<IpAddr>,
    seed: u64,
    buf: Vec<u8>,
}

impl Network {
    /// Binds host sockets and starts STUN and TURN gathering. Host candidates are available
    /// at once; the others arrive as [`NetEvent::Candidate`].
    pub async fn start(config: &NetConfig, now: Instant, seed: u64) -> Result<Network, PeerError> {
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let mut net = Network {
            hosts: Vec::new(),
            relays: Vec::new(),
            bindings: Vec::new(),
            candidates: Vec::new(),
            events: VecDeque::new(),
            input_tx,
            input_rx,
            relay_only: config.relay_only,
            permitted: Vec::new(),
            seed,
            buf: Vec::with_capacity(1500),
        };
        let mut stun_servers = Vec::new();
        let mut turn_servers = Vec::new();
        for server in &config.ice_servers {
            for url in &server.urls {
                match IceUrl::parse(url) {
                    Ok(IceUrl::Stun { host, port }) => stun_servers.push((url.clone(), host, port)),
                    Ok(IceUrl::Turn {
                        host,
                        port,
                        transport,
                    }) => {
                        if config.turn_transports.is_empty()
                            || config.turn_transports.contains(&transport)
                        {
                            turn_servers.push((url.clone(), host, port, transport, server.clone()));
                        }
                    }
                    Err(e) => net.events.push_back(NetEvent::ServerFailed {
                        server: url.clone(),
                        reason: e.to_string(),
                    }),
                }
            }
        }
        if !config.relay_only {
            let ips = if config.host_ips.is_empty() {
                gather::host_ips(config.include_loopback)
            } else {
                config.host_ips.clone()
            };
            for ip in ips {
                net.bind_host(ip)?;
            }
            for (url, host, port) in stun_servers {
                match resolve(&host, port).await {
                    Ok(addrs) => net.start_bindings(now, &addrs),
                    Err(reason) => net.events.push_back(NetEvent::ServerFailed {
                        server: url,
                        reason,
                    }),
                }
            }
        }
        for (url, host, port, transport, server) in turn_servers {
            let (Some(username), Some(password)) =
                (server.username.clone(), server.credential.clone())
            else {
                net.events.push_back(NetEvent::ServerFailed {
                    server: url,
                    reason: "TURN server without username and credential".into(),
                });
                continue;
            };
            let addr = match resolve(&host, port).await {
                Ok(a) => a[0],
                Err(reason) => {
                    net.events.push_back(NetEvent::ServerFailed {
                        server: url,
                        reason,
                    });
                    continue;
                }
            };
            let idx = net.relays.len();
            let link = match Link::open(
                idx,
                addr,
                transport,
                &host,
                config.tls.clone(),
                net.input_tx.clone(),
            )
            .await
            {
                Ok(l) => l,
                Err(reason) => {
                    net.events.push_back(NetEvent::ServerFailed {
                        server: url,
                        reason,
                    });
                    continue;
                }
            };
            net.seed = net.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut client = TurnClient::new(
                addr,
                transport,
                Credentials { username, password },
                net.seed,
            );
            client.allocate(now);
            net.relays.push(Relay {
                client,
                link,
                name: url,
                failed: false,
            });
            net.flush_relay(now, idx);
        }
        Ok(net)
    }

    fn bind_host(&mut self, ip: IpAddr) -> Result<(), PeerError> {
        let socket = gather::bind_udp(SocketAddr::new(ip, 0))?;
        let addr = socket.local_addr()?;
        let socket = Arc::new(socket);
        let idx = self.hosts.len();
        link::spawn_udp_reader(
            socket.clone(),
            self.input_tx.clone(),
            move |source, data| NetInput::Host {
                socket: idx,
                source,
                data,
            },
        );
        self.hosts.push(HostSocket { socket, addr });
        match Candidate::host(addr, Protocol::Udp) {
            Ok(candidate) => self.add_candidate(LocalCandidate {
                candidate,
                kind: CandidateType::Host,
                addr,
                server: None,
                relay_transport: None,
            }),
            Err(e) => tracing::debug!("no host candidate for {addr}: {e}"),
        }
        Ok(())
    }

    /// RFC 8445 §5.1.1.1: a Binding request from each host socket to each STUN server of the
    /// same family.
    fn start_bindings(&mut self, now: Instant, servers: &[SocketAddr]) {
        for (socket, host) in self.hosts.iter().enumerate() {
            for &server in servers
                .iter()
                .filter(|s| s.is_ipv4() == host.addr.is_ipv4())
            {
                self.seed = self
                    .seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let mut tid = [0u8; 12];
                tid[..8].copy_from_slice(&self.seed.to_le_bytes());
                tid[8..].copy_from_slice(&(socket as u32).to_le_bytes());
                let tid = stun::TransactionId(tid);
                let len = binding::request(&mut self.buf, tid, None);
                let request = self.buf[..len].to_vec();
                let _ = host.socket.try_send_to(&request, server);
                self.bindings.push(PendingBinding {
                    socket,
                    server,
                    transaction: Transaction::new(tid, request, false, BINDING_SENDS, now),
                });
            }
        }
    }

    fn add_candidate(&mut self, c: LocalCandidate) {
        let redundant = self
            .candidates
            .iter()
            .any(|o| o.addr == c.addr && o.kind == c.kind);
        if !redundant {
            self.candidates.push(c.clone());
            self.events.push_back(NetEvent::Candidate(Box::new(c)));
        }
    }

    /// Candidates gathered so far that ICE may use (all of them unless relay-only).
    pub fn usable_candidates(&self) -> impl Iterator<Item = &LocalCandidate> {
        let relay_only = self.relay_only;
        self.candidates
            .iter()
            .filter(move |c| !relay_only || c.kind == CandidateType::Relay)
    }

    /// Whether ICE may use `c`: relay-only excludes the rest; a reflexive address equal to its
    /// base adds nothing over the host candidate (RFC 8445 §5.1.3).
    pub fn is_usable(&self, c: &LocalCandidate) -> bool {
        if self.relay_only {
            return c.kind == CandidateType::Relay;
        }
        !(c.kind == CandidateType::Srflx && self.hosts.iter().any(|h| h.addr == c.addr))
    }

    pub fn candidates(&self) -> &[LocalCandidate] {
        &self.candidates
    }

    pub fn poll_event(&mut self) -> Option<NetEvent> {
        self.events.pop_front()
    }

    /// The kind of local candidate a transmit from `source` belongs to.
    pub fn local_kind(&self, source: SocketAddr) -> Option<(CandidateType, Option<TurnTransport>)> {
        if let Some(r) = self
            .relays
            .iter()
            .find(|r| r.client.relayed() == Some(source))
        {
            return Some((CandidateType::Relay, Some(r.client.transport())));
        }
        self.hosts
            .iter()
            .any(|h| h.addr == source)
            .then_some((CandidateType::Host, None))
    }

    /// Waits for the next datagram or frame from any socket.
    pub async fn recv(&mut self) -> NetInput {
        // The network holds a sender itself, so the channel never closes.
        self.input_rx
            .recv()
            .await
            .expect("the input channel stays open while the network exists")
    }

    /// Takes a queued input without waiting.
    pub fn try_recv(&mut self) -> Option<NetInput> {
        self.input_rx.try_recv().ok()
    }

    /// Routes one input: Binding responses and TURN control traffic are consumed here, and
    /// what is left is a datagram for str0m.
    pub fn handle_input(&mut self, now: Instant, input: NetInput) -> Option<Incoming> {
        match input {
            NetInput::Host {
                socket,
                source,
                data,
            } => {
                if let Some(tid) = binding::response_transaction(&data) {
                    if let Some(pos) = self.bindings.iter().position(|b| {
                        b.transaction.id == tid && b.server == source && b.socket == socket
                    }) {
                        let b = self.bindings.remove(pos);
                        self.binding_done(&b, &data);
                        return None;
                    }
                }
                let destination = self.hosts.get(socket)?.addr;
                Some(Incoming {
                    source,
                    destination,
                    data,
                })
            }
            NetInput::Relay { relay, data } => {
                let r = self.relays.get_mut(relay)?;
                let received = r
                    .client
                    .handle_input(now, &data)
                    .map(|rx| (rx.peer, rx.data.to_vec()));
                let destination = r.client.relayed();
                self.flush_relay(now, relay);
                let (source, data) = received?;
                Some(Incoming {
                    source,
                    destination: destination?,
                    data,
                })
            }
            NetInput::RelayClosed { relay, reason } => {
                if let Some(r) = self.relays.get_mut(relay) {
                    if !r.failed {
                        r.failed = true;
                        r.client.close(now);
                        self.events.push_back(NetEvent::ServerFailed {
                            server: r.name.clone(),
                            reason,
                        });
                    }
                }
                None
            }
        }
    }

    fn binding_done(&mut self, b: &PendingBinding, data: &[u8]) {
        match binding::parse_response(data, b.transaction.id) {
            Ok(r) => {
                let base = self.hosts[b.socket].addr;
                match Candidate::server_reflexive(r.mapped, base, Protocol::Udp) {
                    Ok(candidate) => self.add_candidate(LocalCandidate {
                        candidate,
                        kind: CandidateType::Srflx,
                        addr: r.mapped,
                        server: Some(b.server),
                        relay_transport: None,
                    }),
                    Err(e) => tracing::debug!("unusable reflexive address {}: {e}", r.mapped),
                }
            }
            Err(e) => self.events.push_back(NetEvent::ServerFailed {
                server: format!("stun:{}", b.server),
                reason: e.to_string(),
            }),
        }
    }

    /// Sends a datagram str0m produced, from the candidate whose address is `source`.
    pub fn transmit(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        if let Some(h) = self.hosts.iter().find(|h| h.addr == source) {
            // UDP may drop; a full socket buffer is one more way to lose a datagram.
            if let Err(e) = h.socket.try_send_to(data, destination) {
                tracing::trace!("send {source} -> {destination}: {e}");
            }
            return;
        }
        if let Some(idx) = self
            .relays
            .iter()
            .position(|r| r.client.relayed() == Some(source))
        {
            if let Err(e) = self.relays[idx].client.send_to(now, destination, data) {
                tracing::debug!("relay send to {destination}: {e}");
            }
            self.flush_relay(now, idx);
            return;
        }
        tracing::debug!("no socket for source {source}");
    }

    /// RFC 8656 §10: install permissions for a remote candidate's address on every allocation,
    /// so the peer's first checks are not dropped by our relays.
    pub fn permit(&mut self, now: Instant, ip: IpAddr) {
        if !self.permitted.contains(&ip) {
            self.permitted.push(ip);
        }
        for idx in 0..self.relays.len() {
            let r = &mut self.relays[idx];
            if r.client
                .relayed()
                .is_some_and(|a| a.is_ipv4() == ip.is_ipv4())
            {
                r.client.create_permission(now, ip);
                self.flush_relay(now, idx);
            }
        }
    }

    /// The earliest instant at which [`Network::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let b = self.bindings.iter().map(|b| b.transaction.deadline());
        let r = self.relays.iter().filter_map(|r| r.client.poll_timeout());
        b.chain(r).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.bindings.len() {
            let b = &mut self.bindings[i];
            match b.transaction.handle_timeout(now) {
                Retransmit::Wait => i += 1,
                Retransmit::Resend => {
                    let _ = self.hosts[b.socket]
                        .socket
                        .try_send_to(&b.transaction.request, b.server);
                    i += 1;
                }
                Retransmit::TimedOut => {
                    let b = self.bindings.remove(i);
                    self.events.push_back(NetEvent::ServerFailed {
                        server: format!("stun:{}", b.server),
                        reason: "no Binding response".into(),
                    });
                }
            }
        }
        for idx in 0..self.relays.len() {
            self.relays[idx].client.handle_timeout(now);
            self.flush_relay(now, idx);
        }
    }

    /// Sends what the TURN client queued and turns its events into candidates.
    fn flush_relay(&mut self, now: Instant, idx: usize) {
        let r = &mut self.relays[idx];
        while let Some(ev) = r.client.poll_event() {
            match ev {
                TurnEvent::Allocated { relayed, .. } => {
                    // Addresses learned before the allocation existed.
                    for ip in self
                        .permitted
                        .iter()
                        .filter(|ip| ip.is_ipv4() == relayed.is_ipv4())
                    {
                        r.client.create_permission(now, *ip);
                    }
                    let local = r.link.local_addr().unwrap_or(relayed);
                    match Candidate::relayed(relayed, local, Protocol::Udp) {
                        Ok(candidate) => {
                            let c = LocalCandidate {
                                candidate,
                                kind: CandidateType::Relay,
                                addr: relayed,
                                server: Some(r.client.server()),
                                relay_transport: Some(r.client.transport()),
                            };
                            self.candidates.push(c.clone());
                            self.events.push_back(NetEvent::Candidate(Box::new(c)));
                        }
                        Err(e) => tracing::debug!("unusable relayed address {relayed}: {e}"),
                    }
                }
                TurnEvent::Failed(e) => {
                    r.failed = true;
                    self.events.push_back(NetEvent::ServerFailed {
                        server: r.name.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        while let Some(bytes) = r.client.poll_transmit() {
            r.link.send(&bytes, r.client.server());
        }
    }

    /// Releases the TURN allocations (RFC 8656 §9: Refresh with LIFETIME 0).
    pub fn close(&mut self, now: Instant) {
        for idx in 0..self.relays.len() {
            self.relays[idx].client.close(now);
            self.flush_relay(now, idx);
        }
    }

    /// Whether STUN/TURN gathering is still under way.
    pub fn gathering(&self) -> bool {
        !self.bindings.is_empty()
            || self
                .relays
                .iter()
                .any(|r| !r.failed && r.client.relayed().is_none())
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(addrs)
}

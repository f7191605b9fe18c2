//! State shared by the driver's tasks: the core (behind one short-held lock, never across an
//! await), the sockets it speaks through, and the dispatch of its transmits and events.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ::turn::server::{
    ConnectionId, Event, FiveTuple, RelayId, RelayOpenError, RelayProtocol, Server, Transmit,
    Transport,
};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::redact::Redacted;
use super::{relay, sockets};
use crate::Metrics;

/// Messages to a client TCP/TLS connection task.
pub enum Outgoing {
    /// Bytes to write (a STUN message or framed relayed data).
    Data(Vec<u8>),
    /// Close the connection.
    Close,
}

/// Frames queued per stream client before relayed data is dropped (a slow reader never
/// blocks the core).
pub const CLIENT_QUEUE: usize = 512;

pub struct ClientConn {
    pub tx: mpsc::Sender<Outgoing>,
}

/// A relay socket the driver opened for the core.
pub struct RelaySocket {
    pub udp: Option<Arc<UdpSocket>>,
    pub local: SocketAddr,
    pub task: AbortHandle,
}

pub struct State {
    pub core: Server,
    /// Listener sockets by the local address the core knows them by.
    pub udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    pub relays: HashMap<RelayId, RelaySocket>,
    pub clients: HashMap<FiveTuple, ClientConn>,
    /// RFC 6062 peer connections not yet spliced.
    pub peer_streams: HashMap<ConnectionId, TcpStream>,
    /// Splices waiting for their client task to pick them up (keyed by the data connection).
    pub pending_splices: HashMap<FiveTuple, (ConnectionId, TcpStream)>,
    /// Spliced connections, to close them on request.
    pub spliced: HashMap<ConnectionId, FiveTuple>,
    tx_buf: Vec<u8>,
}

/// Sockets holding RESERVATION-TOKEN ports until an allocation (on any shard) uses them.
pub type HeldPorts = Arc<Mutex<HashMap<u16, UdpSocket>>>;

pub struct Shared {
    state: Mutex<State>,
    /// Shared by all shards: a token issued on one may be redeemed on another.
    pub held: HeldPorts,
    pub metrics: Arc<Metrics>,
    /// Sends that failed (to peers or clients), counted and otherwise ignored.
    pub send_failures: AtomicU64,
}

impl Shared {
    pub fn new(core: Server, metrics: Arc<Metrics>, held: HeldPorts) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                core,
                udp: HashMap::new(),
                relays: HashMap::new(),
                clients: HashMap::new(),
                peer_streams: HashMap::new(),
                pending_splices: HashMap::new(),
                spliced: HashMap::new(),
                tx_buf: Vec::with_capacity(1500),
            }),
            held,
            metrics,
            send_failures: AtomicU64::new(0),
        })
    }

    /// The state; a panic elsewhere never wedges the server.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn send_failed(&self) {
        self.send_failures.fetch_add(1, Relaxed);
    }
}

/// Copy the cores' counters, summed over shards, into the shared metrics.
pub fn publish_metrics(shards: &[Arc<Shared>], metrics: &Metrics) {
    let mut t = ::turn::server::Stats::default();
    let mut failures = 0;
    for shard in shards {
        let s = shard.lock().core.stats();
        t.binding_requests += s.binding_requests;
        t.turn_requests += s.turn_requests;
        t.error_responses += s.error_responses;
        t.auth_failures += s.auth_failures;
        t.allocations += s.allocations;
        t.allocations_total += s.allocations_total;
        t.relayed_packets += s.relayed_packets;
        t.relayed_bytes += s.relayed_bytes;
        t.dropped_packets += s.dropped_packets;
        failures += shard.send_failures.load(Relaxed);
    }
    metrics
        .stun_binding_requests
        .store(t.binding_requests, Relaxed);
    metrics.turn_requests.store(t.turn_requests, Relaxed);
    metrics
        .turn_error_responses
        .store(t.error_responses, Relaxed);
    metrics.turn_auth_failures.store(t.auth_failures, Relaxed);
    metrics
        .turn_allocations
        .store(t.allocations as i64, Relaxed);
    metrics
        .turn_allocations_total
        .store(t.allocations_total, Relaxed);
    metrics
        .turn_relayed_packets
        .store(t.relayed_packets, Relaxed);
    metrics.turn_relayed_bytes.store(t.relayed_bytes, Relaxed);
    metrics
        .turn_dropped_packets
        .store(t.dropped_packets + failures, Relaxed);
}

impl State {
    /// Send everything the core queued and act on every event, until both are empty.
    pub fn drain(&mut self, shared: &Arc<Shared>, now: Instant) {
        loop {
            while let Some(t) = self.core.poll_transmit(&mut self.tx_buf) {
                if !send_transmit(&self.udp, &self.clients, t, &self.tx_buf) {
                    shared.send_failed();
                }
            }
            match self.core.poll_event() {
                Some(e) => self.act(shared, now, e),
                None => break,
            }
        }
    }

    /// Send `bytes` to a client: UDP from the listener socket, or into the stream's queue.
    pub fn send_to_client(&self, client: &FiveTuple, bytes: &[u8]) -> bool {
        let t = Transmit {
            local: client.local,
            to: client.client,
            transport: client.transport,
        };
        send_transmit(&self.udp, &self.clients, t, bytes)
    }

    fn act(&mut self, shared: &Arc<Shared>, now: Instant, event: Event) {
        match event {
            Event::OpenRelay {
                relay,
                addr,
                client,
                protocol,
                dont_fragment,
            } => {
                let result = self.open_relay(shared, relay, addr, client, protocol, dont_fragment);
                if let Err(e) = &result {
                    tracing::warn!(%addr, error = %e, "relay socket failed to open");
                }
                let result = result.map_err(|e| match e.kind() {
                    std::io::ErrorKind::AddrInUse => RelayOpenError::AddrInUse,
                    _ => RelayOpenError::Other,
                });
                self.core.handle_relay_opened(now, relay, result);
            }
            Event::CloseRelay { relay } => {
                if let Some(r) = self.relays.remove(&relay) {
                    r.task.abort();
                }
            }
            Event::Connect {
                connection,
                relay,
                peer,
            } => match self.relays.get(&relay) {
                Some(r) => relay::spawn_connect(shared.clone(), connection, r.local, peer),
                None => self.core.handle_peer_connected(now, connection, false),
            },
            Event::Splice { connection, client } => match self.peer_streams.remove(&connection) {
                Some(stream) => {
                    self.pending_splices.insert(client, (connection, stream));
                    self.spliced.insert(connection, client);
                }
                None => {
                    self.core.handle_connection_closed(now, connection);
                    self.close_client(&client);
                }
            },
            Event::CloseConnection { connection } => {
                self.peer_streams.remove(&connection);
                if let Some(client) = self.spliced.remove(&connection) {
                    self.pending_splices.remove(&client);
                    self.close_client(&client);
                }
            }
            Event::CloseClient { client } => self.close_client(&client),
            Event::HoldPort {
                relay,
                mut addr,
                client,
            } => {
                let bound = (|| {
                    if addr.ip().is_unspecified() {
                        addr.set_ip(sockets::local_ip_towards(client)?);
                    }
                    sockets::udp(addr, false)
                })();
                let result = match bound {
                    Ok(socket) => {
                        lock_held(&shared.held).insert(addr.port(), socket);
                        Ok(())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        Err(RelayOpenError::AddrInUse)
                    }
                    Err(e) => {
                        tracing::debug!(%addr, error = %e, "could not hold a reserved port");
                        Err(RelayOpenError::Other)
                    }
                };
                self.core.handle_port_held(now, relay, result);
            }
            Event::ReleasePort { port } => {
                lock_held(&shared.held).remove(&port);
            }
            other => tracing::debug!(?other, "unhandled core event"),
        }
    }

    fn close_client(&self, client: &FiveTuple) {
        if let Some(c) = self.clients.get(client) {
            let _ = c.tx.try_send(Outgoing::Close);
        }
    }

    fn open_relay(
        &mut self,
        shared: &Arc<Shared>,
        relay: RelayId,
        mut addr: SocketAddr,
        client: SocketAddr,
        protocol: RelayProtocol,
        dont_fragment: bool,
    ) -> std::io::Result<SocketAddr> {
        if addr.ip().is_unspecified() {
            addr.set_ip(sockets::local_ip_towards(client)?);
        }
        let (local, udp, task) = match protocol {
            RelayProtocol::Udp => {
                // A reserved port is already bound: take that socket over.
                let held = lock_held(&shared.held)
                    .remove(&addr.port())
                    .filter(|s| s.local_addr().is_ok_and(|l| l == addr));
                let socket = match held {
                    Some(s) => s,
                    None => sockets::udp(addr, false)?,
                };
                if dont_fragment {
                    sockets::set_dont_fragment(&socket, addr.is_ipv6())?;
                }
                let socket = Arc::new(socket);
                let local = socket.local_addr()?;
                let task = relay::spawn_udp(shared.clone(), relay, socket.clone());
                (local, Some(socket), task)
            }
            RelayProtocol::Tcp => {
                let listener = sockets::tcp_listener(addr, true)?;
                let local = listener.local_addr()?;
                (
                    local,
                    None,
                    relay::spawn_tcp_accept(shared.clone(), relay, listener),
                )
            }
        };
        tracing::debug!(relay = %local, client = %Redacted(client), "relay opened");
        self.relays.insert(relay, RelaySocket { udp, local, task });
        Ok(local)
    }
}

fn lock_held(held: &HeldPorts) -> MutexGuard<'_, HashMap<u16, UdpSocket>> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

fn send_transmit(
    udp: &HashMap<SocketAddr, Arc<UdpSocket>>,
    clients: &HashMap<FiveTuple, ClientConn>,
    t: Transmit,
    bytes: &[u8],
) -> bool {
    match t.transport {
        Transport::Udp => {
            let Some(socket) = udp.get(&t.local) else {
                tracing::debug!(local = %t.local, "no listener socket for transmit");
                return false;
            };
            socket.try_send_to(bytes, t.to).is_ok()
        }
        Transport::Tcp | Transport::Tls => {
            let key = FiveTuple {
                client: t.to,
                local: t.local,
                transport: t.transport,
            };
            match clients.get(&key) {
                Some(c) => c.tx.try_send(Outgoing::Data(bytes.to_vec())).is_ok(),
                None => false,
            }
        }
    }
}

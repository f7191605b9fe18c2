//! RFC 6062 TCP relay, control plane: Connect, ConnectionAttempt, ConnectionBind. The data
//! plane (byte piping between a client data connection and a peer connection) is the
//! driver's.
//!
//! ```text
//!  Connect ──► Connecting ──(driver: connected)──► AwaitingBind ──ConnectionBind──► Bound
//!                  │ (failed / 30 s: 447)               │ (30 s)
//!                  ▼                                    ▼
//!                closed                               closed
//!  peer connects to relay ──(permission)──► ConnectionAttempt ──► AwaitingBind ...
//! ```

use std::net::SocketAddr;
use std::time::Instant;

use stun::{Attribute, AttributeType, ErrorCode, Message, Method};

use super::allocation::{AllocKey, Family, PendingResponse};
use super::config::CONNECTION_TIMEOUT;
use super::request::Auth;
use super::timers::Timer;
use super::types::{ConnectionId, Event, FiveTuple, RelayId, RelayProtocol};
use super::Server;

#[derive(Debug, Clone)]
pub(super) enum ConnectionState {
    /// Outbound connect in progress; the Connect request waits for its answer.
    Connecting(Box<PendingResponse>),
    /// Established; waiting for the client's ConnectionBind.
    AwaitingBind,
    /// Spliced to a client data connection.
    Bound(FiveTuple),
}

#[derive(Debug, Clone)]
pub(super) struct PeerConnection {
    pub alloc: AllocKey,
    pub peer: SocketAddr,
    pub state: ConnectionState,
    /// Deadline for the current state; None once bound.
    pub expires: Option<Instant>,
}

impl Server {
    fn new_connection(
        &mut self,
        now: Instant,
        alloc: AllocKey,
        peer: SocketAddr,
        state: ConnectionState,
    ) -> ConnectionId {
        let mut id = self.next_connection;
        while id == 0 || self.connections.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_connection = id.wrapping_add(1);
        let expires = now + CONNECTION_TIMEOUT;
        self.connections.insert(
            id,
            PeerConnection {
                alloc,
                peer,
                state,
                expires: Some(expires),
            },
        );
        self.timers.push(expires, Timer::Connection { id });
        if let Some(a) = self.allocations.get_mut(alloc.index, alloc.generation) {
            a.connections.push(ConnectionId(id));
        }
        ConnectionId(id)
    }

    /// RFC 6062 §5.2: on a TCP allocation (else 400), XOR-PEER-ADDRESS required (400),
    /// family 443, policy 403, an existing connection to that peer 446; then the driver
    /// connects and [`Server::handle_peer_connected`] answers.
    pub(super) fn handle_connect(
        &mut self,
        now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: &Auth,
    ) {
        let m = Method::CONNECT;
        let key = match self.owned_allocation_for_tcp(&reply, auth) {
            Ok(k) => k,
            Err(code) => return self.respond_error(&reply, m, code),
        };
        let peer = match msg.attribute(AttributeType::XOR_PEER_ADDRESS) {
            Some(Ok(Attribute::XorPeerAddress(p))) => p,
            _ => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        let Some(alloc) = self.allocations.get(key.index, key.generation) else {
            return;
        };
        let Some(relay) = alloc.relay(Family::of(&peer)).map(|r| r.id) else {
            return self.respond_error(&reply, m, ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
        };
        if !self.peer_permitted_by_policy(peer.ip()) {
            return self.respond_error(&reply, m, ErrorCode::FORBIDDEN);
        }
        let exists = alloc
            .connections
            .iter()
            .any(|c| self.connections.get(&c.0).is_some_and(|pc| pc.peer == peer));
        if exists {
            return self.respond_error(&reply, m, ErrorCode::CONNECTION_ALREADY_EXISTS);
        }
        let connection =
            self.new_connection(now, key, peer, ConnectionState::Connecting(Box::new(reply)));
        self.events.push_back(Event::Connect {
            connection,
            relay,
            peer,
        });
    }

    /// [`Self::owned_allocation`], restricted to RFC 6062 TCP allocations (400 otherwise).
    fn owned_allocation_for_tcp(
        &self,
        reply: &PendingResponse,
        auth: &Auth,
    ) -> Result<AllocKey, ErrorCode> {
        let key = self.owned_allocation(reply, auth)?;
        match self.allocations.get(key.index, key.generation) {
            Some(alloc) if alloc.protocol == RelayProtocol::Tcp => Ok(key),
            _ => Err(ErrorCode::BAD_REQUEST),
        }
    }

    /// The driver's answer to `Event::Connect`: success with CONNECTION-ID, or 447.
    pub fn handle_peer_connected(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        connected: bool,
    ) {
        let Some(conn) = self.connections.get_mut(&connection.0) else {
            if connected {
                self.events.push_back(Event::CloseConnection { connection });
            }
            return;
        };
        let ConnectionState::Connecting(reply) = &conn.state else {
            return;
        };
        let reply = (**reply).clone();
        if connected {
            conn.state = ConnectionState::AwaitingBind;
            let expires = now + CONNECTION_TIMEOUT;
            conn.expires = Some(expires);
            self.timers
                .push(expires, Timer::Connection { id: connection.0 });
            self.respond(&reply, Method::CONNECT, None, |b| {
                b.add(&Attribute::ConnectionId(connection.0));
            });
        } else {
            self.remove_connection(connection.0, false);
            self.respond_error(
                &reply,
                Method::CONNECT,
                ErrorCode::CONNECTION_TIMEOUT_OR_FAILURE,
            );
        }
    }

    /// RFC 6062 §5.3: a peer connected to the TCP relay `relay`. With a permission for its
    /// IP the client gets a ConnectionAttempt indication and the returned id names the
    /// connection; without one (None) the driver closes it.
    pub fn handle_peer_accepted(
        &mut self,
        now: Instant,
        relay: RelayId,
        peer: SocketAddr,
    ) -> Option<ConnectionId> {
        let entry = *self.relays.get(relay.index, relay.generation)?;
        let alloc = self
            .allocations
            .get(entry.alloc.index, entry.alloc.generation)?;
        if alloc.protocol != RelayProtocol::Tcp
            || alloc.pending.is_some()
            || !alloc.permitted(peer.ip(), now)
        {
            self.stats.dropped_packets += 1;
            return None;
        }
        let client = alloc.five_tuple;
        let id = self.new_connection(now, entry.alloc, peer, ConnectionState::AwaitingBind);
        self.indicate(client, Method::CONNECTION_ATTEMPT, |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
            b.add(&Attribute::ConnectionId(id.0));
        });
        Some(id)
    }

    /// RFC 6062 §5.4: ConnectionBind on a new client connection (not a control connection,
    /// else 400) naming a connection waiting to be bound (else 400), by the allocation's
    /// user (441). Success, then `Event::Splice`.
    pub(super) fn handle_connection_bind(
        &mut self,
        _now: Instant,
        reply: PendingResponse,
        msg: &Message<'_>,
        auth: &Auth,
    ) {
        let m = Method::CONNECTION_BIND;
        let from = reply.five_tuple;
        if !from.transport.is_stream()
            || self.by_five_tuple.contains_key(&from)
            || self.data_connections.contains_key(&from)
        {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        let id = match msg.attribute(AttributeType::CONNECTION_ID) {
            Some(Ok(Attribute::ConnectionId(id))) => id,
            _ => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
        };
        let Some(conn) = self.connections.get(&id) else {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        };
        if !matches!(conn.state, ConnectionState::AwaitingBind) {
            return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST);
        }
        let owner = self
            .allocations
            .get(conn.alloc.index, conn.alloc.generation)
            .map(|a| a.username.clone());
        match owner {
            None => return self.respond_error(&reply, m, ErrorCode::BAD_REQUEST),
            Some(u) if *u != *auth.username => {
                return self.respond_error(&reply, m, ErrorCode::WRONG_CREDENTIALS)
            }
            Some(_) => {}
        }
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.state = ConnectionState::Bound(from);
            conn.expires = None;
        }
        self.data_connections.insert(from, id);
        self.respond(&reply, m, None, |_| {});
        self.events.push_back(Event::Splice {
            connection: ConnectionId(id),
            client: from,
        });
    }

    /// The driver reports that a peer connection (bound or not) has closed.
    pub fn handle_connection_closed(&mut self, now: Instant, connection: ConnectionId) {
        let _ = now;
        self.remove_connection(connection.0, false);
    }

    pub(super) fn connection_timed_out(&mut self, _now: Instant, id: u32) {
        let Some(conn) = self.connections.get(&id) else {
            return;
        };
        if let ConnectionState::Connecting(reply) = &conn.state {
            let reply = (**reply).clone();
            self.respond_error(
                &reply,
                Method::CONNECT,
                ErrorCode::CONNECTION_TIMEOUT_OR_FAILURE,
            );
        }
        self.remove_connection(id, true);
    }

    /// Forget a peer connection; `close` asks the driver to close it.
    pub(super) fn remove_connection(&mut self, id: u32, close: bool) {
        let Some(conn) = self.connections.remove(&id) else {
            return;
        };
        if let ConnectionState::Bound(client) = conn.state {
            self.data_connections.remove(&client);
        }
        if let Some(a) = self
            .allocations
            .get_mut(conn.alloc.index, conn.alloc.generation)
        {
            a.connections.retain(|c| c.0 != id);
        }
        if close {
            self.events.push_back(Event::CloseConnection {
                connection: ConnectionId(id),
            });
        }
    }
}

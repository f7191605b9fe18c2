//! The client core against the server core through an in-memory network, in virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::server::{
    Event, FiveTuple, PeerPolicy, Server, ServerConfig, Transport, PEER_HEADROOM, PEER_TAILROOM,
};

struct Net {
    server: Server,
    client: Client,
    now: Instant,
    five_tuple: FiveTuple,
    /// Datagrams the relay sent to peers.
    at_peers: Vec<(SocketAddr, Vec<u8>)>,
    /// Data the client received from peers.
    received: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<ClientEvent>,
    relay: Option<crate::server::RelayId>,
    /// Drop this many client->server packets (loss).
    drop_next: usize,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Net {
    fn new(server_cfg: ServerConfig, password: &str) -> Net {
        let now = Instant::now();
        let five_tuple = FiveTuple {
            client: addr("203.0.113.5:5000"),
            local: addr("192.0.2.1:3478"),
            transport: Transport::Udp,
        };
        let client = Client::new(
            ClientConfig {
                server: five_tuple.local,
                reliable: false,
                username: "alice".into(),
                password: password.into(),
                lifetime: None,
                ipv6: false,
            },
            StdRng::seed_from_u64(2),
        );
        Net {
            server: Server::new(server_cfg, now, 1_700_000_000, StdRng::seed_from_u64(1)),
            client,
            now,
            five_tuple,
            at_peers: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
            relay: None,
            drop_next: 0,
        }
    }

    fn pump(&mut self) {
        let mut buf = Vec::new();
        loop {
            let mut moved = false;
            while self.client.poll_transmit(&mut buf).is_some() {
                moved = true;
                if self.drop_next > 0 {
                    self.drop_next -= 1;
                    continue;
                }
                if let Some(tp) = self.server.handle_client(self.now, self.five_tuple, &buf) {
                    self.at_peers.push((tp.peer, buf[tp.payload].to_vec()));
                }
                while let Some(e) = self.server.poll_event() {
                    if let Event::OpenRelay { relay, addr: a, .. } = e {
                        let mut bound = a;
                        bound.set_ip("192.0.2.1".parse().unwrap());
                        self.relay = Some(relay);
                        self.server.handle_relay_opened(self.now, relay, Ok(bound));
                    }
                }
            }
            while self.server.poll_transmit(&mut buf).is_some() {
                moved = true;
                if let Some(r) = self.client.handle_input(self.now, &buf) {
                    self.received.push((r.peer, buf[r.data].to_vec()));
                }
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Run both cores' timers up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.server.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = until;
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.pump();
    }

    fn peer_sends(&mut self, peer: SocketAddr, payload: &[u8]) {
        let mut buf = vec![0u8; PEER_HEADROOM + payload.len() + PEER_TAILROOM];
        buf[PEER_HEADROOM..PEER_HEADROOM + payload.len()].copy_from_slice(payload);
        let Some(relay) = self.relay else { return };
        if let Some(out) = self
            .server
            .handle_peer(self.now, relay, peer, &mut buf, payload.len())
        {
            if let Some(r) = self.client.handle_input(self.now, &buf[out.range.clone()]) {
                let framed = &buf[out.range];
                self.received.push((r.peer, framed[r.data].to_vec()));
            }
        }
    }
}

fn server_config() -> ServerConfig {
    ServerConfig {
        users: vec![("alice".into(), "secret".into())],
        policy: PeerPolicy::new(&["198.51.100.0/24"], &[] as &[&str]).unwrap(),
        ..ServerConfig::default()
    }
}

#[test]
fn allocate_permission_channel_and_data_through_the_server_core() {
    let mut net = Net::new(server_config(), "secret");
    net.client.allocate(net.now);
    net.pump();
    let relayed = match net.events.first() {
        Some(ClientEvent::Allocated {
            relayed,
            mapped,
            lifetime,
        }) => {
            assert_eq!(*mapped, Some(net.five_tuple.client));
            assert_eq!(*lifetime, Duration::from_secs(600));
            *relayed
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(net.client.relayed(), Some(relayed));
    let peer = addr("198.51.100.7:9000");
    let mut out = Vec::new();
    assert_eq!(
        net.client.encode_data(peer, b"x", &mut out),
        Err(SendError::NoPermission)
    );
    net.client.create_permission(net.now, &[peer.ip()]);
    net.pump();
    assert!(net.events.contains(&ClientEvent::PermissionCreated {
        peers: vec![peer.ip()]
    }));

    // Send indication first, then a channel.
    net.client.encode_data(peer, b"via send", &mut out).unwrap();
    assert!(net
        .server
        .handle_client(net.now, net.five_tuple, &out)
        .is_some());
    net.peer_sends(peer, b"data indication back");
    let number = net.client.bind_channel(net.now, peer).unwrap();
    net.pump();
    assert!(net
        .events
        .contains(&ClientEvent::ChannelBound { peer, number }));
    net.client
        .encode_data(peer, b"via channel", &mut out)
        .unwrap();
    assert_eq!(out[0] & 0xC0, 0x40, "ChannelData framing");
    let tp = net
        .server
        .handle_client(net.now, net.five_tuple, &out)
        .unwrap();
    assert_eq!((tp.peer, &out[tp.payload]), (peer, &b"via channel"[..]));
    net.peer_sends(peer, b"channel data back");
    assert_eq!(
        net.received,
        vec![
            (peer, b"data indication back".to_vec()),
            (peer, b"channel data back".to_vec())
        ]
    );

    net.client.deallocate(net.now);
    net.pump();
    assert_eq!(net.server.allocation_count(), 0);
}

#[test]
fn refreshes_keep_everything_alive_for_an_hour_across_stale_nonces() {
    let mut net = Net::new(
        ServerConfig {
            nonce_lifetime: Duration::from_secs(120),
            ..server_config()
        },
        "secret",
    );
    net.client.allocate(net.now);
    net.pump();
    let peer = addr("198.51.100.7:9000");
    net.client.bind_channel(net.now, peer).unwrap();
    net.pump();
    let start = net.now;
    net.run_until(start + Duration::from_secs(3600));
    assert_eq!(net.server.allocation_count(), 1, "allocation refreshed");
    assert!(
        net.events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Refreshed { .. }))
            .count()
            >= 6
    );
    assert!(
        !net.events.iter().any(|e| matches!(
            e,
            ClientEvent::RequestFailed { .. } | ClientEvent::AllocationLost
        )),
        "{:?}",
        net.events
    );
    net.received.clear();
    net.peer_sends(peer, b"still here");
    assert_eq!(
        net.received,
        vec![(peer, b"still here".to_vec())],
        "channel and permission refreshed"
    );
}

#[test]
fn lost_requests_are_retransmitted() {
    let mut net = Net::new(server_config(), "secret");
    net.drop_next = 3;
    net.client.allocate(net.now);
    net.pump();
    assert!(net.events.is_empty());
    let start = net.now;
    net.run_until(start + Duration::from_secs(10));
    assert!(
        matches!(net.events.first(), Some(ClientEvent::Allocated { .. })),
        "{:?}",
        net.events
    );
}

#[test]
fn silence_fails_the_allocate_after_39_5_seconds() {
    let mut net = Net::new(server_config(), "secret");
    net.drop_next = usize::MAX;
    net.client.allocate(net.now);
    net.pump();
    let start = net.now;
    net.run_until(start + Duration::from_secs(39));
    assert!(net.events.is_empty());
    net.run_until(start + Duration::from_millis(39_500));
    assert_eq!(
        net.events,
        vec![ClientEvent::RequestFailed {
            method: Method::ALLOCATE,
            code: None
        }]
    );
}

#[test]
fn wrong_password_fails_with_401() {
    let mut net = Net::new(server_config(), "wrong");
    net.client.allocate(net.now);
    net.pump();
    assert_eq!(
        net.events.last(),
        Some(&ClientEvent::RequestFailed {
            method: Method::ALLOCATE,
            code: Some(ErrorCode::UNAUTHENTICATED)
        })
    );
    assert_eq!(net.server.allocation_count(), 0);
}

#[test]
fn lost_allocation_is_reported() {
    let mut net = Net::new(server_config(), "secret");
    net.client.allocate(net.now);
    net.pump();
    // The server forgets the client (e.g. restarted): the next refresh gets 437.
    net.server = Server::new(
        server_config(),
        net.now,
        1_700_000_000,
        StdRng::seed_from_u64(9),
    );
    let start = net.now;
    net.run_until(start + Duration::from_secs(600));
    assert!(
        net.events.contains(&ClientEvent::AllocationLost),
        "{:?}",
        net.events
    );
}

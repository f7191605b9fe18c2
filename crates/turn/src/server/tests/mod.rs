//! Deterministic tests of the server core: virtual time, seeded RNG, no sockets. A client is
//! played by messages built with the `stun` builder.

mod binding;
mod errors;
mod expiry;
mod flow;
mod props;
mod tcp;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::{AttributeType, Class, ErrorCode, Message, MessageBuilder, Method, TransactionId};

use super::*;

pub const UNIX_T0: u64 = 1_700_000_000;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A configuration for tests: one user, one REST secret, loopback and documentation
/// peers allowed, a small port range.
pub fn config() -> ServerConfig {
    ServerConfig {
        users: vec![
            ("alice".into(), "secret".into()),
            ("bob".into(), "hunter2".into()),
        ],
        rest_secrets: vec!["rest-one".into(), "rest-two".into()],
        policy: PeerPolicy::new(
            &["127.0.0.0/8", "::1/128", "198.51.100.0/24", "2001:db8::/32"],
            &[] as &[&str],
        )
        .unwrap(),
        min_port: 50000,
        max_port: 50999,
        relay_ipv6: Some("2001:db8::1".parse().unwrap()),
        ..ServerConfig::default()
    }
}

pub struct Harness {
    pub server: Server,
    pub now: Instant,
    pub t0: Instant,
    pub events: Vec<Event>,
    /// Answer OpenRelay events automatically with success.
    pub auto_open: bool,
    next_tid: u8,
}

/// A client's view of its credentials.
#[derive(Clone)]
pub struct Creds {
    pub user: String,
    pub pass: String,
    pub realm: String,
    pub nonce: Vec<u8>,
}

pub fn udp(client: &str) -> FiveTuple {
    FiveTuple {
        client: addr(client),
        local: addr("192.0.2.1:3478"),
        transport: Transport::Udp,
    }
}

pub fn tcp(client: &str) -> FiveTuple {
    FiveTuple {
        client: addr(client),
        local: addr("192.0.2.1:3478"),
        transport: Transport::Tcp,
    }
}

impl Harness {
    pub fn new(config: ServerConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            server: Server::new(config, t0, UNIX_T0, StdRng::seed_from_u64(7)),
            now: t0,
            t0,
            events: Vec::new(),
            auto_open: true,
            next_tid: 0,
        }
    }

    pub fn tid(&mut self) -> TransactionId {
        self.next_tid = self.next_tid.wrapping_add(1);
        TransactionId([self.next_tid; 12])
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.server.handle_timeout(self.now);
        self.collect_events();
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.server.poll_event() {
            if let Event::OpenRelay { relay, addr, .. } = &e {
                if self.auto_open {
                    let mut bound = *addr;
                    if bound.ip().is_unspecified() {
                        bound.set_ip("192.0.2.1".parse().unwrap());
                    }
                    let (relay, now) = (*relay, self.now);
                    self.events.push(e.clone());
                    self.server.handle_relay_opened(now, relay, Ok(bound));
                    continue;
                }
            }
            if let Event::HoldPort { relay, .. } = &e {
                if self.auto_open {
                    let (relay, now) = (*relay, self.now);
                    self.events.push(e.clone());
                    self.server.handle_port_held(now, relay, Ok(()));
                    continue;
                }
            }
            self.events.push(e);
        }
    }

    pub fn transmits(&mut self) -> Vec<(Transmit, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            match self.server.poll_transmit(&mut buf) {
                Some(t) => out.push((t, buf)),
                None => return out,
            }
        }
    }

    /// Feed a packet; returns the relay decision and every queued transmit.
    pub fn feed(
        &mut self,
        from: FiveTuple,
        packet: &[u8],
    ) -> (Option<ToPeer>, Vec<(Transmit, Vec<u8>)>) {
        let r = self.server.handle_client(self.now, from, packet);
        self.collect_events();
        (r, self.transmits())
    }

    /// Send a request and return its single response.
    pub fn request(&mut self, from: FiveTuple, packet: &[u8]) -> Vec<u8> {
        let (_, mut t) = self.feed(from, packet);
        assert_eq!(t.len(), 1, "expected exactly one response, got {}", t.len());
        t.remove(0).1
    }

    /// An unauthenticated request built by `fill`.
    pub fn build(&mut self, method: Method, fill: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        let tid = self.tid();
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid);
        fill(&mut b);
        b.finish();
        buf
    }

    /// A request with long-term credentials (MESSAGE-INTEGRITY, MD5 key).
    pub fn build_authed(
        &mut self,
        method: Method,
        creds: &Creds,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Vec<u8> {
        let tid = self.tid();
        build_authed(tid, method, creds, fill)
    }

    /// Run the 401 dance for `user` and return credentials with a valid nonce.
    pub fn login(&mut self, from: FiveTuple, user: &str, pass: &str) -> Creds {
        let req = self.build(Method::ALLOCATE, |b| {
            b.add(&stun::Attribute::RequestedTransport(17));
        });
        let resp = self.request(from, &req);
        let m = Message::parse(&resp).unwrap();
        assert_eq!(code(&m), Some(ErrorCode::UNAUTHENTICATED));
        Creds {
            user: user.into(),
            pass: pass.into(),
            realm: m.realm().unwrap().into(),
            nonce: m.nonce().unwrap().to_vec(),
        }
    }

    /// Login and allocate a UDP relay; returns the credentials and the relayed address.
    pub fn allocate(&mut self, from: FiveTuple) -> (Creds, SocketAddr) {
        let creds = self.login(from, "alice", "secret");
        let req = self.build_authed(Method::ALLOCATE, &creds, |b| {
            b.add(&stun::Attribute::RequestedTransport(17));
        });
        let resp = self.request(from, &req);
        let m = Message::parse(&resp).unwrap();
        assert_eq!(
            m.class(),
            Class::SuccessResponse,
            "allocate failed: {:?}",
            code(&m)
        );
        let relayed = m.xor_relayed_addresses().next().unwrap();
        (creds, relayed)
    }

    /// An authenticated request's response (parsed later by the caller).
    pub fn authed(
        &mut self,
        from: FiveTuple,
        method: Method,
        creds: &Creds,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Vec<u8> {
        let req = self.build_authed(method, creds, fill);
        self.request(from, &req)
    }

    /// The relay id of the most recent OpenRelay event.
    pub fn last_relay(&self) -> RelayId {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::OpenRelay { relay, .. } => Some(*relay),
                _ => None,
            })
            .expect("a relay was opened")
    }

    /// A peer datagram through the relay: returns the framed bytes for the client.
    pub fn peer_sends(
        &mut self,
        relay: RelayId,
        peer: SocketAddr,
        payload: &[u8],
    ) -> Option<(FiveTuple, Vec<u8>)> {
        let mut buf = vec![0u8; PEER_HEADROOM + payload.len() + PEER_TAILROOM];
        buf[PEER_HEADROOM..PEER_HEADROOM + payload.len()].copy_from_slice(payload);
        let out = self
            .server
            .handle_peer(self.now, relay, peer, &mut buf, payload.len())?;
        Some((out.client, buf[out.range].to_vec()))
    }
}

pub fn build_authed(
    tid: TransactionId,
    method: Method,
    creds: &Creds,
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid);
    fill(&mut b);
    b.add(&stun::Attribute::Username(&creds.user));
    b.add(&stun::Attribute::Realm(&creds.realm));
    b.add(&stun::Attribute::Nonce(&creds.nonce));
    let key = stun::long_term_key_md5(&creds.user, &creds.realm, &creds.pass);
    b.message_integrity(&key);
    b.finish();
    buf
}

pub fn code(m: &Message<'_>) -> Option<ErrorCode> {
    m.error_code().map(|e| e.code)
}

pub fn code_of(resp: &[u8]) -> Option<ErrorCode> {
    code(&Message::parse(resp).unwrap())
}

pub fn is_success(resp: &[u8]) -> bool {
    Message::parse(resp).unwrap().class() == Class::SuccessResponse
}

/// Whether a response carries valid MESSAGE-INTEGRITY for `creds`.
pub fn signed_by(resp: &[u8], creds: &Creds) -> bool {
    let m = Message::parse(resp).unwrap();
    let key = stun::long_term_key_md5(&creds.user, &creds.realm, &creds.pass);
    m.get(AttributeType::MESSAGE_INTEGRITY).is_some() && m.verify_integrity(&key).is_ok()
}

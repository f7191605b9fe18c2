//! Random message sequences: the core never panics, and its invariants hold.

use super::*;
use proptest::prelude::*;
use stun::{Attribute, ChannelData};

#[derive(Debug, Clone)]
enum Op {
    Binding(u8),
    Allocate {
        client: u8,
        family: u8,
        even: u8,
        transport: u8,
    },
    Refresh {
        client: u8,
        lifetime: u32,
    },
    Permission {
        client: u8,
        peer: u8,
    },
    ChannelBind {
        client: u8,
        channel: u16,
        peer: u8,
    },
    ChannelData {
        client: u8,
        channel: u16,
        len: u8,
    },
    Send {
        client: u8,
        peer: u8,
    },
    Peer {
        relay: u8,
        peer: u8,
        len: u8,
    },
    OpenFails(u8),
    Advance(u16),
    Garbage(Vec<u8>),
    Mutate {
        client: u8,
        at: u16,
        byte: u8,
    },
    Close(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::Binding),
        (any::<u8>(), 0u8..4, 0u8..3, 0u8..3).prop_map(|(client, family, even, transport)| {
            Op::Allocate {
                client,
                family,
                even,
                transport,
            }
        }),
        (
            any::<u8>(),
            prop_oneof![Just(0u32), Just(600), any::<u32>()]
        )
            .prop_map(|(client, lifetime)| Op::Refresh { client, lifetime }),
        (any::<u8>(), any::<u8>()).prop_map(|(client, peer)| Op::Permission { client, peer }),
        (any::<u8>(), 0x3ffeu16..0x4004, any::<u8>()).prop_map(|(client, channel, peer)| {
            Op::ChannelBind {
                client,
                channel,
                peer,
            }
        }),
        (any::<u8>(), 0x3ffeu16..0x4004, any::<u8>()).prop_map(|(client, channel, len)| {
            Op::ChannelData {
                client,
                channel,
                len,
            }
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(client, peer)| Op::Send { client, peer }),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(relay, peer, len)| Op::Peer {
            relay,
            peer,
            len
        }),
        any::<u8>().prop_map(Op::OpenFails),
        (0u16..700).prop_map(Op::Advance),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Op::Garbage),
        (any::<u8>(), any::<u16>(), any::<u8>()).prop_map(|(client, at, byte)| Op::Mutate {
            client,
            at,
            byte
        }),
        any::<u8>().prop_map(Op::Close),
    ]
}

fn client(i: u8) -> FiveTuple {
    let t = if i % 4 == 3 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    FiveTuple {
        client: addr(&format!(
            "203.0.113.{}:{}",
            1 + i % 2,
            1000 + u16::from(i % 4)
        )),
        local: addr("192.0.2.1:3478"),
        transport: t,
    }
}

fn peer(i: u8) -> std::net::SocketAddr {
    match i % 5 {
        0 => addr("198.51.100.1:1000"),
        1 => addr("198.51.100.2:2000"),
        2 => addr("10.0.0.1:1"),
        3 => addr("[2001:db8::7]:3"),
        _ => addr("127.0.0.1:9"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_keep_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new(ServerConfig {
            quotas: Quotas { max_allocations: 3, max_allocations_per_user: 2, max_permissions_per_allocation: 3, ..Quotas::default() },
            min_port: 50000,
            max_port: 50005,
            nonce_lifetime: Duration::from_secs(100_000),
            ..config()
        });
        let creds = Creds { user: "alice".into(), pass: "secret".into(), realm: "rendezvous".into(), nonce: Vec::new() };
        let mut nonces: std::collections::HashMap<std::net::IpAddr, Vec<u8>> = Default::default();
        let mut last: Vec<u8> = Vec::new();
        for op in ops {
            let mut authed = |h: &mut Harness, c: FiveTuple, m: Method, fill: &dyn Fn(&mut MessageBuilder<'_>)| {
                if let std::collections::hash_map::Entry::Vacant(slot) = nonces.entry(c.client.ip()) {
                    let req = h.build(Method::ALLOCATE, |b| { b.add(&Attribute::RequestedTransport(17)); });
                    let (_, t) = h.feed(c, &req);
                    if let Some(n) = t.first().and_then(|(_, r)| Message::parse(r).ok().and_then(|m| m.nonce().map(|n| n.to_vec()))) {
                        slot.insert(n);
                    }
                }
                let cr = Creds { nonce: nonces.get(&c.client.ip()).cloned().unwrap_or_default(), ..creds.clone() };
                let req = h.build_authed(m, &cr, |b| fill(b));
                let out = h.feed(c, &req);
                (req, out)
            };
            match op {
                Op::Binding(i) => { let req = h.build(Method::BINDING, |_| {}); h.feed(client(i), &req); }
                Op::Allocate { client: i, family, even, transport } => {
                    let (req, _) = authed(&mut h, client(i), Method::ALLOCATE, &|b| {
                        b.add(&Attribute::RequestedTransport(if transport == 0 { 6 } else { 17 }));
                        match family { 1 => { b.add(&Attribute::RequestedAddressFamily(2)); } 2 => { b.add(&Attribute::AdditionalAddressFamily(2)); } _ => {} }
                        if even > 0 { b.add(&Attribute::EvenPort { reserve: even == 2 }); }
                    });
                    last = req;
                }
                Op::Refresh { client: i, lifetime } => { last = authed(&mut h, client(i), Method::REFRESH, &|b| { b.add(&Attribute::Lifetime(lifetime)); }).0; }
                Op::Permission { client: i, peer: p } => { authed(&mut h, client(i), Method::CREATE_PERMISSION, &|b| { b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer(p)); }); }
                Op::ChannelBind { client: i, channel, peer: p } => { authed(&mut h, client(i), Method::CHANNEL_BIND, &|b| { b.add(&Attribute::ChannelNumber(channel)); b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer(p)); }); }
                Op::ChannelData { client: i, channel, len } => {
                    let mut cd = Vec::new();
                    let data = vec![7u8; usize::from(len)];
                    ChannelData::encode(channel, &data, i % 2 == 0, &mut cd);
                    if let (Some(out), _) = h.feed(client(i), &cd) {
                        prop_assert!(out.payload.end <= cd.len());
                        prop_assert_eq!(&cd[out.payload], &data[..]);
                    }
                }
                Op::Send { client: i, peer: p } => {
                    let mut s = Vec::new();
                    let mut b = MessageBuilder::new(&mut s, Class::Indication, Method::SEND, TransactionId([3; 12]));
                    b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer(p));
                    b.add(&Attribute::Data(b"abc"));
                    b.finish();
                    if let (Some(out), _) = h.feed(client(i), &s) { prop_assert_eq!(&s[out.payload], b"abc"); }
                }
                Op::Peer { relay, peer: p, len } => {
                    let relays: Vec<RelayId> = h.events.iter().filter_map(|e| match e { Event::OpenRelay { relay, .. } => Some(*relay), _ => None }).collect();
                    if let Some(r) = relays.get(usize::from(relay) % relays.len().max(1)) {
                        let payload = vec![1u8; usize::from(len)];
                        if let Some((to, bytes)) = h.peer_sends(*r, peer(p), &payload) {
                            prop_assert!(h.server.by_five_tuple.contains_key(&to));
                            let framed = ChannelData::parse(&bytes).map(|c| c.data.to_vec())
                                .or_else(|_| Message::parse(&bytes).map(|m| m.data().unwrap_or_default().to_vec()));
                            prop_assert_eq!(framed.ok(), Some(payload));
                        }
                    }
                }
                Op::OpenFails(i) => {
                    h.auto_open = i % 2 == 0;
                    let pending: Vec<RelayId> = h.events.iter().filter_map(|e| match e { Event::OpenRelay { relay, .. } => Some(*relay), _ => None }).collect();
                    if let Some(r) = pending.last() {
                        let now = h.now;
                        let err = if i % 3 == 0 { RelayOpenError::AddrInUse } else { RelayOpenError::Other };
                        h.server.handle_relay_opened(now, *r, Err(err));
                        h.collect_events();
                        h.transmits();
                    }
                }
                Op::Advance(s) => {
                    h.advance(Duration::from_secs(u64::from(s)));
                    h.transmits();
                    if let Some(t) = h.server.poll_timeout() { prop_assert!(t > h.now); }
                }
                Op::Garbage(g) => { h.feed(client(g.len() as u8), &g); }
                Op::Mutate { client: i, at, byte } => {
                    if !last.is_empty() {
                        let mut m = last.clone();
                        let at = usize::from(at) % m.len();
                        m[at] ^= byte | 1;
                        h.feed(client(i), &m);
                    }
                }
                Op::Close(i) => { let now = h.now; h.server.handle_client_closed(now, client(i)); h.collect_events(); }
            }
            // Invariants.
            let s = &h.server;
            prop_assert!(s.allocations.len() <= 3);
            prop_assert_eq!(s.by_five_tuple.len(), s.allocations.len());
            prop_assert_eq!(s.ledger.total(), s.allocations.len());
            for (_, _, a) in s.allocations.iter() {
                prop_assert!(a.permissions.len() <= 3);
                prop_assert_eq!(a.channels.len(), a.channel_by_peer.len());
                for (n, ch) in &a.channels { prop_assert_eq!(a.channel_by_peer.get(&ch.peer), Some(n)); }
                prop_assert!(s.by_five_tuple.contains_key(&a.five_tuple));
            }
            let relays_in_allocs: usize = s.allocations.iter().map(|(_, _, a)| a.relays.iter().flatten().count()).sum();
            prop_assert_eq!(relays_in_allocs, s.relays.len());
            prop_assert_eq!(s.relay_ports.available() + relays_in_allocs + s.relay_ports.reservations(), 6);
        }
    }
}

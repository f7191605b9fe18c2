//! The relay hot path allocates nothing once warm: a counting global allocator watches
//! ChannelData, Send indications and peer datagrams (both ChannelData and Data indication
//! framing) pass through the core.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::{Attribute, AttributeType, Class, Message, MessageBuilder, Method, TransactionId};
use turn::server::{
    Event, FiveTuple, PeerPolicy, RelayId, Server, ServerConfig, Transport, PEER_HEADROOM,
    PEER_TAILROOM,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn request(
    method: Method,
    tid: u8,
    nonce: Option<&[u8]>,
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, method, TransactionId([tid; 12]));
    fill(&mut b);
    if let Some(nonce) = nonce {
        b.add(&Attribute::Username("alice"));
        b.add(&Attribute::Realm("rendezvous"));
        b.add(&Attribute::Nonce(nonce));
        b.message_integrity(&stun::long_term_key_md5("alice", "rendezvous", "secret"));
    }
    b.finish();
    buf
}

fn drain(server: &mut Server) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while server.poll_transmit(&mut buf).is_some() {
        out.push(buf.clone());
    }
    out
}

#[test]
fn relaying_allocates_nothing_after_warm_up() {
    let now = Instant::now();
    let config = ServerConfig {
        users: vec![("alice".into(), "secret".into())],
        policy: PeerPolicy::new(&["198.51.100.0/24"], &[] as &[&str]).unwrap(),
        ..ServerConfig::default()
    };
    let mut server = Server::new(config, now, 1_700_000_000, StdRng::seed_from_u64(1));
    let client = FiveTuple {
        client: "203.0.113.5:4000".parse().unwrap(),
        local: "192.0.2.1:3478".parse().unwrap(),
        transport: Transport::Udp,
    };
    let peer: SocketAddr = "198.51.100.7:9000".parse().unwrap();
    let other_peer: SocketAddr = "198.51.100.8:9000".parse().unwrap();

    // Set up: 401, Allocate, permissions, a channel for one peer only.
    server.handle_client(
        now,
        client,
        &request(Method::ALLOCATE, 1, None, |b| {
            b.add(&Attribute::RequestedTransport(17));
        }),
    );
    let challenge = drain(&mut server).remove(0);
    let nonce = Message::parse(&challenge)
        .unwrap()
        .nonce()
        .unwrap()
        .to_vec();
    server.handle_client(
        now,
        client,
        &request(Method::ALLOCATE, 2, Some(&nonce), |b| {
            b.add(&Attribute::RequestedTransport(17));
        }),
    );
    let relay: RelayId = match server.poll_event() {
        Some(Event::OpenRelay { relay, .. }) => relay,
        other => panic!("{other:?}"),
    };
    server.handle_relay_opened(now, relay, Ok("192.0.2.1:50000".parse().unwrap()));
    server.handle_client(
        now,
        client,
        &request(Method::CREATE_PERMISSION, 3, Some(&nonce), |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, other_peer);
        }),
    );
    server.handle_client(
        now,
        client,
        &request(Method::CHANNEL_BIND, 4, Some(&nonce), |b| {
            b.add(&Attribute::ChannelNumber(0x4000));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }),
    );
    let responses = drain(&mut server);
    assert_eq!(responses.len(), 3);
    assert!(responses
        .iter()
        .all(|r| Message::parse(r).unwrap().class() == Class::SuccessResponse));

    let mut channel_data = Vec::new();
    stun::ChannelData::encode(0x4000, &[0xAB; 1000], false, &mut channel_data);
    let mut send = Vec::new();
    let mut b = MessageBuilder::new(
        &mut send,
        Class::Indication,
        Method::SEND,
        TransactionId([5; 12]),
    );
    b.xor_address(AttributeType::XOR_PEER_ADDRESS, other_peer);
    b.add(&Attribute::Data(&[0xCD; 1000]));
    b.finish();
    let mut peer_buf = vec![0u8; PEER_HEADROOM + 1500 + PEER_TAILROOM];

    let mut relay_all = |server: &mut Server, rounds: usize| {
        let mut relayed = 0;
        for _ in 0..rounds {
            relayed += usize::from(server.handle_client(now, client, &channel_data).is_some());
            relayed += usize::from(server.handle_client(now, client, &send).is_some());
            relayed += usize::from(
                server
                    .handle_peer(now, relay, peer, &mut peer_buf, 1000)
                    .is_some(),
            );
            relayed += usize::from(
                server
                    .handle_peer(now, relay, other_peer, &mut peer_buf, 1000)
                    .is_some(),
            );
        }
        relayed
    };
    assert_eq!(
        relay_all(&mut server, 100),
        400,
        "warm-up relays everything"
    );
    let before = ALLOCATIONS.load(Relaxed);
    assert_eq!(relay_all(&mut server, 10_000), 40_000);
    let after = ALLOCATIONS.load(Relaxed);
    assert_eq!(after - before, 0, "heap allocations on the relay path");
    // The counter works: an allocation is seen.
    let v = vec![1u8; 10];
    assert!(ALLOCATIONS.load(Relaxed) > after);
    drop(v);
}

//! The server core's per-packet costs with 10,000 allocations present: ChannelData and Send
//! indications from clients, peer datagrams framed as ChannelData or Data indications, and
//! Binding requests. Not a test: figures go to docs/benchmarks.md.

use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::{Attribute, AttributeType, Class, Message, MessageBuilder, Method, TransactionId};
use turn::server::{
    Event, FiveTuple, PeerPolicy, RelayId, Server, ServerConfig, Transport, PEER_HEADROOM,
    PEER_TAILROOM,
};

const ALLOCATIONS: u16 = 10_000;

fn authed(
    method: Method,
    tid: u32,
    nonce: &[u8],
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&tid.to_be_bytes());
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, method, TransactionId(t));
    fill(&mut b);
    b.add(&Attribute::Username("bench"));
    b.add(&Attribute::Realm("rendezvous"));
    b.add(&Attribute::Nonce(nonce));
    b.message_integrity(&stun::long_term_key_md5("bench", "rendezvous", "bench"));
    b.finish();
    buf
}

fn client(i: u16) -> FiveTuple {
    FiveTuple {
        client: SocketAddr::from(([203, 0, 113, (i % 250) as u8 + 1], 1024 + i)),
        local: "192.0.2.1:3478".parse().unwrap(),
        transport: Transport::Udp,
    }
}

/// A server with `ALLOCATIONS` allocations, each with a channel to one peer; returns the
/// relay id of the last one.
fn populated() -> (Server, RelayId, FiveTuple, SocketAddr, Instant) {
    let now = Instant::now();
    let mut server = Server::new(
        ServerConfig {
            users: vec![("bench".into(), "bench".into())],
            policy: PeerPolicy::new(&["198.51.100.0/24"], &[] as &[&str]).unwrap(),
            min_port: 40000,
            max_port: 60000,
            quotas: turn::server::Quotas {
                max_allocations_per_user: usize::MAX,
                ..Default::default()
            },
            ..ServerConfig::default()
        },
        now,
        1_700_000_000,
        StdRng::seed_from_u64(1),
    );
    let peer: SocketAddr = "198.51.100.7:9000".parse().unwrap();
    let mut buf = Vec::new();
    let mut relay = None;
    let probe = {
        let mut v = Vec::new();
        let mut b = MessageBuilder::new(
            &mut v,
            Class::Request,
            Method::ALLOCATE,
            TransactionId([0; 12]),
        );
        b.add(&Attribute::RequestedTransport(17));
        b.finish();
        v
    };
    for i in 0..ALLOCATIONS {
        let c = client(i);
        server.handle_client(now, c, &probe);
        server.poll_transmit(&mut buf).unwrap();
        let nonce = Message::parse(&buf).unwrap().nonce().unwrap().to_vec();
        server.handle_client(
            now,
            c,
            &authed(Method::ALLOCATE, u32::from(i) * 2, &nonce, |b| {
                b.add(&Attribute::RequestedTransport(17));
            }),
        );
        while let Some(e) = server.poll_event() {
            if let Event::OpenRelay { relay: r, addr, .. } = e {
                let mut bound = addr;
                bound.set_ip("192.0.2.1".parse().unwrap());
                server.handle_relay_opened(now, r, Ok(bound));
                relay = Some(r);
            }
        }
        server.handle_client(
            now,
            c,
            &authed(Method::CHANNEL_BIND, u32::from(i) * 2 + 1, &nonce, |b| {
                b.add(&Attribute::ChannelNumber(0x4000));
                b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
            }),
        );
        while server.poll_transmit(&mut buf).is_some() {}
    }
    assert_eq!(server.allocation_count(), usize::from(ALLOCATIONS));
    (server, relay.unwrap(), client(ALLOCATIONS - 1), peer, now)
}

fn bench(c: &mut Criterion) {
    let (mut server, relay, last, peer, now) = populated();
    let mut g = c.benchmark_group("turn_core");
    g.throughput(Throughput::Elements(1));

    let mut cd = Vec::new();
    stun::ChannelData::encode(0x4000, &[0u8; 160], false, &mut cd);
    g.bench_function("channel_data_to_peer", |b| {
        b.iter(|| {
            server
                .handle_client(now, last, std::hint::black_box(&cd))
                .unwrap()
        })
    });

    let mut send = Vec::new();
    let mut mb = MessageBuilder::new(
        &mut send,
        Class::Indication,
        Method::SEND,
        TransactionId([1; 12]),
    );
    mb.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    mb.add(&Attribute::Data(&[0u8; 160]));
    mb.finish();
    g.bench_function("send_indication_to_peer", |b| {
        b.iter(|| {
            server
                .handle_client(now, last, std::hint::black_box(&send))
                .unwrap()
        })
    });

    let mut pbuf = vec![0u8; PEER_HEADROOM + 160 + PEER_TAILROOM];
    g.bench_function("peer_to_channel_data", |b| {
        b.iter(|| {
            server
                .handle_peer(now, relay, peer, &mut pbuf, 160)
                .unwrap()
        })
    });
    let other: SocketAddr = "198.51.100.8:9000".parse().unwrap();
    g.bench_function("peer_without_permission_dropped", |b| {
        b.iter(|| server.handle_peer(now, relay, other, &mut pbuf, 160))
    });

    let mut binding = Vec::new();
    MessageBuilder::new(
        &mut binding,
        Class::Request,
        Method::BINDING,
        TransactionId([2; 12]),
    )
    .finish();
    let mut out = Vec::new();
    g.bench_function("binding_request", |b| {
        b.iter(|| {
            server.handle_client(now, last, &binding);
            server.poll_transmit(&mut out).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The STUN/TURN driver over real loopback sockets: startup errors, ephemeral ports shared by
//! UDP and TCP, Binding over UDP and TCP, a stream of junk closing only its own connection.

mod turn_support;

use std::sync::Arc;
use std::time::Duration;

use server::turn::{start, TurnStartError};
use server::Metrics;
use stun::{Class, Message, MessageBuilder, Method, TransactionId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn_support::*;

fn binding() -> Vec<u8> {
    let mut buf = Vec::new();
    MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId([3; 12]),
    )
    .finish();
    buf
}

#[tokio::test]
async fn invalid_peer_range_is_a_startup_error() {
    for (allow, deny) in [
        (vec!["10.0.0.0/33".to_string()], vec![]),
        (vec![], vec!["not-an-address".to_string()]),
    ] {
        let cfg = server::TurnConfig {
            allow_peers: allow,
            deny_peers: deny,
            ..config()
        };
        match start(&cfg, None, Arc::new(Metrics::default())).await {
            Err(e @ TurnStartError::InvalidPeerRange(_)) => {
                assert!(e.to_string().contains("range"), "{e}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("started with an invalid range"),
        }
    }
}

#[tokio::test]
async fn alt_ip_needs_a_specific_bind_address() {
    let cfg = server::TurnConfig {
        bind: vec!["0.0.0.0".parse().unwrap()],
        alt_ip: Some("127.0.0.2".parse().unwrap()),
        ..config()
    };
    assert!(matches!(
        start(&cfg, None, Arc::new(Metrics::default())).await,
        Err(TurnStartError::AltIpNeedsBindAddress(_))
    ));
}

#[tokio::test]
async fn busy_port_is_a_bind_error_naming_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = server::TurnConfig { port, ..config() };
    match start(&cfg, None, Arc::new(Metrics::default())).await {
        Err(e @ TurnStartError::Bind { .. }) => {
            assert!(e.to_string().contains(&port.to_string()), "{e}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("bound a busy port"),
    }
}

#[tokio::test]
async fn binding_over_udp_and_tcp_on_one_ephemeral_port() {
    let (server, _) = start_server(&config(), None).await;
    assert_eq!(server.udp.len(), 1);
    assert_eq!(server.udp[0], server.tcp[0], "UDP and TCP share the port");
    assert_ne!(server.udp[0].port(), 0);

    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&binding(), server.udp[0]).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), udp.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, server.udp[0]);
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(m.xor_mapped_address(), Some(udp.local_addr().unwrap()));

    // A connection speaking something else (a TLS ClientHello on the plain port) is closed; another one is served meanwhile.
    let mut junk = TcpStream::connect(server.tcp[0]).await.unwrap();
    let mut good = TcpStream::connect(server.tcp[0]).await.unwrap();
    junk.write_all(b"\x16\x03\x01\x00\x05hello, this is TLS on a plain port")
        .await
        .unwrap();
    let mut sink = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), junk.read(&mut sink))
        .await
        .unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "junk connection closed");
    // Two requests in one write, split across frames, both answered in order.
    let req = binding();
    let mut two = req.clone();
    two.extend_from_slice(&req);
    good.write_all(&two[..30]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    good.write_all(&two[30..]).await.unwrap();
    for _ in 0..2 {
        let mut header = [0u8; 20];
        tokio::time::timeout(Duration::from_secs(5), good.read_exact(&mut header))
            .await
            .unwrap()
            .unwrap();
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let mut body = vec![0u8; len];
        good.read_exact(&mut body).await.unwrap();
        let mut whole = header.to_vec();
        whole.extend_from_slice(&body);
        let m = Message::parse(&whole).unwrap();
        assert_eq!(m.class(), Class::SuccessResponse);
        assert_eq!(m.xor_mapped_address(), Some(good.local_addr().unwrap()));
    }
    let port = server.udp[0];
    server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The port is released at shutdown.
    assert!(std::net::UdpSocket::bind(port).is_ok());
}

/// Several shards, one quota: allocations from many client ports land on different shards
/// (SO_REUSEPORT spreads them) and the per-user limit still holds across all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_across_shards() {
    let cfg = server::TurnConfig {
        workers: 4,
        max_allocations_per_user: 3,
        ..config()
    };
    let (server, metrics) = start_server(&cfg, None).await;
    let mut drivers = Vec::new();
    for _ in 0..12 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut d = Driver::new(server.udp[0], socket, "alice", "secret");
        d.client.allocate(std::time::Instant::now());
        drivers.push(d);
    }
    for d in &mut drivers {
        assert!(
            d.run_until(Driver::allocate_settled, Duration::from_secs(20))
                .await
        );
    }
    let allocated = drivers
        .iter()
        .filter(|d| {
            d.events
                .iter()
                .any(|e| matches!(e, turn::client::ClientEvent::Allocated { .. }))
        })
        .count();
    let refused = drivers
        .iter()
        .filter(|d| {
            d.events.iter().any(|e| {
                matches!(e, turn::client::ClientEvent::RequestFailed { code: Some(c), .. } if *c == stun::ErrorCode::ALLOCATION_QUOTA_REACHED)
            })
        })
        .count();
    assert_eq!((allocated, refused), (3, 9));
    // Every relayed address is distinct (one port pool for all shards).
    let mut relayed: Vec<_> = drivers.iter().filter_map(|d| d.client.relayed()).collect();
    relayed.sort();
    relayed.dedup();
    assert_eq!(relayed.len(), 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        metrics
            .turn_allocations
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    server.shutdown().await;
}

/// With SO_REUSEPORT the kernel spreads clients over the shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_shards() {
    let cfg = server::TurnConfig {
        workers: 4,
        ..config()
    };
    let (server, _) = start_server(&cfg, None).await;
    for _ in 0..12 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut d = Driver::new(server.udp[0], socket, "alice", "secret");
        d.client.allocate(std::time::Instant::now());
        assert!(
            d.run_until(|d| d.client.relayed().is_some(), Duration::from_secs(20))
                .await
        );
    }
    let per_shard = server.shard_allocations();
    assert_eq!(per_shard.len(), 4);
    assert_eq!(per_shard.iter().sum::<usize>(), 12);
    assert!(
        per_shard.iter().filter(|n| **n > 0).count() >= 2,
        "all on one shard: {per_shard:?}"
    );
    server.shutdown().await;
}

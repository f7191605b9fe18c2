//! The Rendezvous TURN client core over a real UDP socket against the running server: sends
//! to a closed peer port (the kernel answers each with ICMP port unreachable) never tear
//! down the allocation, and relaying to a live peer keeps working afterwards.

mod turn_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use turn::client::ClientEvent;
use turn_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_does_not_end_the_allocation() {
    let (server, metrics) = start_server(&config(), None).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut d = Driver::new(server.udp[0], socket, "alice", "secret");
    d.client.allocate(Instant::now());
    assert!(
        d.run_until(Driver::allocate_settled, Duration::from_secs(20))
            .await
    );
    let relayed = match d.events.first() {
        Some(ClientEvent::Allocated { relayed, .. }) => *relayed,
        other => panic!("no allocation: {other:?}"),
    };
    assert_eq!(relayed.ip(), server.udp[0].ip());

    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let closed: SocketAddr = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    d.client
        .create_permission(Instant::now(), &[peer_addr.ip()]);
    let permitted = |d: &Driver| {
        d.events
            .iter()
            .any(|e| matches!(e, ClientEvent::PermissionCreated { .. }))
    };
    assert!(
        d.run_until(permitted, Duration::from_secs(20)).await,
        "{:?}",
        d.events
    );

    // Blast a closed port: every datagram draws ICMP port unreachable onto the relay socket.
    let mut out = Vec::new();
    for i in 0..50u32 {
        d.client
            .encode_data(closed, &i.to_be_bytes(), &mut out)
            .unwrap();
        d.socket.send_to(&out, server.udp[0]).await.unwrap();
    }
    d.run_for(Duration::from_millis(200)).await;

    // The allocation still relays both ways.
    d.client.encode_data(peer_addr, b"ping", &mut out).unwrap();
    d.socket.send_to(&out, server.udp[0]).await.unwrap();
    let mut buf = [0u8; 100];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], relayed));
    peer.send_to(b"pong", relayed).await.unwrap();
    assert!(
        d.run_until(|d| !d.received.is_empty(), Duration::from_secs(20))
            .await
    );
    assert_eq!(d.received, vec![(peer_addr, b"pong".to_vec())]);
    assert!(!d.events.iter().any(|e| matches!(
        e,
        ClientEvent::AllocationLost | ClientEvent::RequestFailed { .. }
    )));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = &metrics;
    assert_eq!(
        m.turn_allocations
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        m.turn_relayed_packets
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 52
    );
    server.shutdown().await;
}

use super::*;
use stun::Attribute;

fn alloc_req(b: &mut MessageBuilder<'_>) {
    b.add(&Attribute::RequestedTransport(17));
}

#[test]
fn error_400_bad_request() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    // No REQUESTED-TRANSPORT.
    assert_eq!(
        code_of(&h.authed(c, Method::ALLOCATE, &creds, |_| {})),
        Some(ErrorCode::BAD_REQUEST)
    );
    // Integrity but no NONCE.
    let req = h.build(Method::ALLOCATE, |b| {
        alloc_req(b);
        b.add(&Attribute::Username("alice"));
        b.message_integrity(&[0; 16]);
    });
    assert_eq!(code_of(&h.request(c, &req)), Some(ErrorCode::BAD_REQUEST));
    // Unknown method.
    let req = h.build(stun::Method(0x0ff), |_| {});
    assert_eq!(code_of(&h.request(c, &req)), Some(ErrorCode::BAD_REQUEST));
    // ChannelBind outside 0x4000-0x4FFF, without a peer, and the rebinding rules.
    let _ = h.authed(c, Method::ALLOCATE, &creds, alloc_req);
    let p1 = addr("198.51.100.1:1");
    let p2 = addr("198.51.100.2:2");
    let bind = |h: &mut Harness, ch: u16, peer: Option<std::net::SocketAddr>| {
        h.authed(c, Method::CHANNEL_BIND, &creds, |b| {
            b.add(&Attribute::ChannelNumber(ch));
            if let Some(p) = peer {
                b.xor_address(AttributeType::XOR_PEER_ADDRESS, p);
            }
        })
    };
    assert_eq!(
        code_of(&bind(&mut h, 0x3FFF, Some(p1))),
        Some(ErrorCode::BAD_REQUEST)
    );
    assert_eq!(
        code_of(&bind(&mut h, 0x8000, Some(p1))),
        Some(ErrorCode::BAD_REQUEST)
    );
    assert_eq!(
        code_of(&bind(&mut h, 0x4000, None)),
        Some(ErrorCode::BAD_REQUEST)
    );
    assert!(is_success(&bind(&mut h, 0x4000, Some(p1))));
    // RFC 5766's upper range is still honoured for older clients.
    assert!(is_success(&bind(&mut h, 0x7FFF, Some(p2))));
    assert!(
        is_success(&bind(&mut h, 0x4000, Some(p1))),
        "refreshing the same binding is fine"
    );
    assert_eq!(
        code_of(&bind(&mut h, 0x4000, Some(p2))),
        Some(ErrorCode::BAD_REQUEST),
        "channel to another peer"
    );
    assert_eq!(
        code_of(&bind(&mut h, 0x4001, Some(p1))),
        Some(ErrorCode::BAD_REQUEST),
        "peer to another channel"
    );
    // CreatePermission without any peer.
    assert_eq!(
        code_of(&h.authed(c, Method::CREATE_PERMISSION, &creds, |_| {})),
        Some(ErrorCode::BAD_REQUEST)
    );
}

#[test]
fn error_401_and_rate_limit() {
    let mut h = Harness::new(ServerConfig {
        quotas: Quotas {
            unauthenticated_per_second: 5,
            ..Quotas::default()
        },
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let mut answered = 0;
    for _ in 0..50 {
        let req = h.build(Method::ALLOCATE, alloc_req);
        let (_, t) = h.feed(c, &req);
        if let Some((_, r)) = t.first() {
            let m = Message::parse(r).unwrap();
            assert_eq!(code(&m), Some(ErrorCode::UNAUTHENTICATED));
            assert_eq!(m.realm(), Some("rendezvous"));
            assert!(m.nonce().is_some());
            answered += 1;
        }
    }
    assert_eq!(
        answered, 10,
        "burst of twice the per-second rate, then silence"
    );
    // Another source is unaffected; time restores the first.
    let req = h.build(Method::ALLOCATE, alloc_req);
    assert_eq!(h.feed(udp("203.0.113.8:1"), &req).1.len(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.feed(c, &req).1.len(), 1);
}

#[test]
fn error_403_for_denied_peers_in_every_encoding() {
    let mut h = Harness::new(ServerConfig {
        policy: PeerPolicy::new::<&str, &str>(&[], &[]).unwrap(),
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    for peer in [
        "127.0.0.1:1",
        "10.0.0.1:1",
        "169.254.169.254:80",
        "192.168.0.1:1",
        "0.0.0.0:1",
        "255.255.255.255:1",
        "203.0.113.1:1",
    ] {
        let resp = h.authed(c, Method::CREATE_PERMISSION, &creds, |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr(peer));
        });
        assert_eq!(code_of(&resp), Some(ErrorCode::FORBIDDEN), "{peer}");
        let resp = h.authed(c, Method::CHANNEL_BIND, &creds, |b| {
            b.add(&Attribute::ChannelNumber(0x4000));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr(peer));
        });
        assert_eq!(code_of(&resp), Some(ErrorCode::FORBIDDEN), "{peer}");
    }
    // All or nothing: one bad peer refuses the whole request.
    let resp = h.authed(c, Method::CREATE_PERMISSION, &creds, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("8.8.8.8:1"));
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("10.0.0.1:1"));
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::FORBIDDEN));
    let relay = h.last_relay();
    assert!(h.peer_sends(relay, addr("8.8.8.8:1"), b"x").is_none());
    assert!(is_success(&h.authed(
        c,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("8.8.8.8:1"));
        }
    )));
}

#[test]
fn error_420_in_turn_requests_is_signed() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        alloc_req(b);
        b.raw(stun::AttributeType(0x0042), &[1, 2, 3, 4]);
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::UNKNOWN_ATTRIBUTE));
    assert!(signed_by(&resp, &creds));
}

#[test]
fn error_437_438_441() {
    let mut h = Harness::new(ServerConfig {
        nonce_lifetime: Duration::from_secs(60),
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    for method in [
        Method::REFRESH,
        Method::CREATE_PERMISSION,
        Method::CHANNEL_BIND,
    ] {
        let resp = h.authed(c, method, &creds, |b| {
            b.add(&Attribute::ChannelNumber(0x4000));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.1:1"));
        });
        assert_eq!(
            code_of(&resp),
            Some(ErrorCode::ALLOCATION_MISMATCH),
            "{method:?}"
        );
    }
    assert!(is_success(&h.authed(
        c,
        Method::ALLOCATE,
        &creds,
        alloc_req
    )));
    // Bob authenticates fine but the allocation is Alice's.
    let bob = Creds {
        user: "bob".into(),
        pass: "hunter2".into(),
        ..creds.clone()
    };
    let resp = h.authed(c, Method::REFRESH, &bob, |_| {});
    assert_eq!(code_of(&resp), Some(ErrorCode::WRONG_CREDENTIALS));
    // The nonce goes stale: 438 with a fresh nonce that works.
    h.advance(Duration::from_secs(61));
    let resp = h.authed(c, Method::REFRESH, &creds, |_| {});
    let m = Message::parse(&resp).unwrap();
    assert_eq!(code(&m), Some(ErrorCode::STALE_NONCE));
    let fresh = Creds {
        nonce: m.nonce().unwrap().to_vec(),
        ..creds.clone()
    };
    assert!(is_success(&h.authed(c, Method::REFRESH, &fresh, |_| {})));
    // A nonce issued to another address is not accepted either.
    let other = udp("203.0.113.99:1");
    let resp = h.authed(other, Method::ALLOCATE, &fresh, alloc_req);
    assert_eq!(code_of(&resp), Some(ErrorCode::STALE_NONCE));
}

#[test]
fn error_440_442_443() {
    let mut h = Harness::new(ServerConfig {
        relay_ipv6: None,
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        alloc_req(b);
        b.add(&Attribute::RequestedAddressFamily(0x02));
    });
    assert_eq!(
        code_of(&resp),
        Some(ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
    );
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        alloc_req(b);
        b.add(&Attribute::RequestedAddressFamily(0x07));
    });
    assert_eq!(
        code_of(&resp),
        Some(ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
    );
    // TCP relay over UDP, and an unknown protocol.
    for proto in [6u8, 99] {
        let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
            b.add(&Attribute::RequestedTransport(proto));
        });
        assert_eq!(
            code_of(&resp),
            Some(ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL)
        );
    }
    assert!(is_success(&h.authed(
        c,
        Method::ALLOCATE,
        &creds,
        alloc_req
    )));
    let resp = h.authed(c, Method::CREATE_PERMISSION, &creds, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("[2001:db8::5]:1"));
    });
    assert_eq!(
        code_of(&resp),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );
}

#[test]
fn error_486_and_508_quotas() {
    let mut h = Harness::new(ServerConfig {
        quotas: Quotas {
            max_allocations: 3,
            max_allocations_per_user: 2,
            max_permissions_per_allocation: 2,
            ..Quotas::default()
        },
        ..config()
    });
    let mut creds = Vec::new();
    for port in 1..=2 {
        let c = udp(&format!("203.0.113.7:{port}"));
        creds.push((c, h.allocate(c).0));
    }
    let c = udp("203.0.113.7:3");
    let alice = h.login(c, "alice", "secret");
    assert_eq!(
        code_of(&h.authed(c, Method::ALLOCATE, &alice, alloc_req)),
        Some(ErrorCode::ALLOCATION_QUOTA_REACHED)
    );
    let bob = h.login(c, "bob", "hunter2");
    assert!(is_success(&h.authed(c, Method::ALLOCATE, &bob, alloc_req)));
    let c4 = udp("203.0.113.7:4");
    let bob4 = h.login(c4, "bob", "hunter2");
    assert_eq!(
        code_of(&h.authed(c4, Method::ALLOCATE, &bob4, alloc_req)),
        Some(ErrorCode::INSUFFICIENT_CAPACITY)
    );
    // Deleting one frees both quotas.
    let (c1, a1) = creds[0].clone();
    assert!(is_success(&h.authed(c1, Method::REFRESH, &a1, |b| {
        b.add(&Attribute::Lifetime(0));
    })));
    assert!(is_success(&h.authed(
        c4,
        Method::ALLOCATE,
        &bob4,
        alloc_req
    )));
    // Permission quota: 2 per allocation.
    let (c2, a2) = creds[1].clone();
    let resp = h.authed(c2, Method::CREATE_PERMISSION, &a2, |b| {
        for i in 1..=3 {
            b.xor_address(
                AttributeType::XOR_PEER_ADDRESS,
                addr(&format!("198.51.100.{i}:1")),
            );
        }
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    assert!(is_success(&h.authed(
        c2,
        Method::CREATE_PERMISSION,
        &a2,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.1:1"));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.2:1"));
        }
    )));
}

#[test]
fn error_508_when_ports_run_out() {
    let mut h = Harness::new(ServerConfig {
        min_port: 50000,
        max_port: 50001,
        ..config()
    });
    for port in 1..=2 {
        h.allocate(udp(&format!("203.0.113.7:{port}")));
    }
    let c = udp("203.0.113.7:3");
    let creds = h.login(c, "alice", "secret");
    assert_eq!(
        code_of(&h.authed(c, Method::ALLOCATE, &creds, alloc_req)),
        Some(ErrorCode::INSUFFICIENT_CAPACITY)
    );
}

#[test]
fn stun_only_refuses_turn() {
    let mut h = Harness::new(ServerConfig {
        stun_only: true,
        ..config()
    });
    let c = udp("203.0.113.7:3");
    let req = h.build(Method::ALLOCATE, alloc_req);
    assert_eq!(code_of(&h.request(c, &req)), Some(ErrorCode::BAD_REQUEST));
    let req = h.build(Method::BINDING, |_| {});
    assert!(is_success(&h.request(c, &req)));
}

#[test]
fn bandwidth_quota_drops_excess() {
    let mut h = Harness::new(ServerConfig {
        quotas: Quotas {
            max_bps_per_allocation: 1000,
            ..Quotas::default()
        },
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let relay = h.last_relay();
    let peer = addr("198.51.100.9:7000");
    assert!(is_success(&h.authed(
        c,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }
    )));
    // The burst is max(rate, 64 KiB); 1000-byte packets: 65 fit, then drops until refill.
    let payload = [0u8; 1000];
    let passed = (0..100)
        .filter(|_| h.peer_sends(relay, peer, &payload).is_some())
        .count();
    assert_eq!(passed, 65);
    h.now += Duration::from_secs(2);
    assert_eq!(
        (0..5)
            .filter(|_| h.peer_sends(relay, peer, &payload).is_some())
            .count(),
        2
    );
}

#[test]
fn cores_sharing_a_ledger_share_the_quotas() {
    let ledger = AllocationLedger::new(10, 1);
    let shared = || ServerConfig {
        ledger: Some(ledger.clone()),
        ..config()
    };
    let mut a = Harness::new(shared());
    let mut b = Harness::new(shared());
    a.allocate(udp("203.0.113.7:1"));
    let c = udp("203.0.113.7:2");
    let alice = b.login(c, "alice", "secret");
    assert_eq!(
        code_of(&b.authed(c, Method::ALLOCATE, &alice, alloc_req)),
        Some(ErrorCode::ALLOCATION_QUOTA_REACHED),
        "the quota counts alice's allocation on the other core"
    );
    a.advance(Duration::from_secs(600));
    assert_eq!(ledger.total(), 0);
    assert!(is_success(&b.authed(
        c,
        Method::ALLOCATE,
        &alice,
        alloc_req
    )));
}

use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::{Attribute, ChannelData, PasswordAlgorithm};

#[test]
fn allocate_permission_channel_and_data_both_ways() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    // The challenge advertises both password algorithms and a cookie nonce.
    let req = h.build_authed(Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    let resp = h.request(c, &req);
    assert!(is_success(&resp));
    assert!(signed_by(&resp, &creds));
    let m = Message::parse(&resp).unwrap();
    let relayed = m.xor_relayed_addresses().next().unwrap();
    assert_eq!(
        relayed.ip(),
        "192.0.2.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert!((50000..=50999).contains(&relayed.port()));
    assert_eq!(m.lifetime(), Some(600));
    assert_eq!(m.xor_mapped_address(), Some(c.client));
    let relay = h.last_relay();
    assert_eq!(h.server.stats().allocations, 1);

    // A retransmitted Allocate gets the same answer, a new one 437.
    let again = h.request(c, &req);
    assert!(is_success(&again));
    let fresh = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    assert_eq!(code_of(&fresh), Some(ErrorCode::ALLOCATION_MISMATCH));

    let peer = addr("198.51.100.9:7000");
    // Without a permission nothing flows either way.
    assert!(h.peer_sends(relay, peer, b"early").is_none());

    let resp = h.authed(c, Method::CREATE_PERMISSION, &creds, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    });
    assert!(is_success(&resp) && signed_by(&resp, &creds));

    // Peer -> client as a Data indication (no channel yet).
    let (to, bytes) = h.peer_sends(relay, peer, b"hello client").unwrap();
    assert_eq!(to, c);
    let d = Message::parse(&bytes).unwrap();
    assert_eq!((d.class(), d.method()), (Class::Indication, Method::DATA));
    assert_eq!(d.xor_peer_addresses().next(), Some(peer));
    assert_eq!(d.data(), Some(&b"hello client"[..]));
    // Permissions are per IP: another port of the same peer IP passes.
    assert!(h
        .peer_sends(relay, addr("198.51.100.9:7001"), b"x")
        .is_some());
    assert!(h
        .peer_sends(relay, addr("198.51.100.10:7000"), b"x")
        .is_none());

    // Client -> peer with a Send indication.
    let mut send = Vec::new();
    let mut b = MessageBuilder::new(
        &mut send,
        Class::Indication,
        Method::SEND,
        TransactionId([9; 12]),
    );
    b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    b.add(&Attribute::Data(b"to the peer"));
    b.finish();
    let (out, t) = h.feed(c, &send);
    assert!(t.is_empty());
    let out = out.unwrap();
    assert_eq!((out.relay, out.peer), (relay, peer));
    assert_eq!(&send[out.payload], b"to the peer");

    // ChannelBind, then ChannelData both ways.
    let resp = h.authed(c, Method::CHANNEL_BIND, &creds, |b| {
        b.add(&Attribute::ChannelNumber(0x4001));
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    });
    assert!(is_success(&resp));
    let mut cd = Vec::new();
    ChannelData::encode(0x4001, b"via channel", false, &mut cd);
    let (out, _) = h.feed(c, &cd);
    let out = out.unwrap();
    assert_eq!(out.peer, peer);
    assert_eq!(&cd[out.payload], b"via channel");
    let (_, bytes) = h.peer_sends(relay, peer, b"back via channel").unwrap();
    let parsed = ChannelData::parse(&bytes).unwrap();
    assert_eq!(
        (parsed.channel, parsed.data),
        (0x4001, &b"back via channel"[..])
    );
    assert_eq!(bytes.len(), 4 + 16);
    // An unbound channel number is dropped.
    ChannelData::encode(0x4002, b"nope", false, &mut cd);
    assert!(h.feed(c, &cd).0.is_none());
    // Data from another client's 5-tuple is not this allocation's.
    ChannelData::encode(0x4001, b"spoof", false, &mut cd);
    assert!(h.feed(udp("203.0.113.7:40001"), &cd).0.is_none());

    // Refresh with lifetime 0 deletes the allocation and closes its relay.
    let resp = h.authed(c, Method::REFRESH, &creds, |b| {
        b.add(&Attribute::Lifetime(0));
    });
    assert!(is_success(&resp));
    assert!(h.events.contains(&Event::CloseRelay { relay }));
    assert_eq!(h.server.allocation_count(), 0);
    assert!(h.peer_sends(relay, peer, b"late").is_none());
    let s = h.server.stats();
    assert!(s.relayed_packets >= 5);
    assert_eq!(s.allocations_total, 1);
}

#[test]
fn channel_data_over_tcp_is_padded() {
    let mut h = Harness::new(config());
    let c = tcp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let relay = h.last_relay();
    let peer = addr("198.51.100.9:7000");
    assert!(is_success(&h.authed(
        c,
        Method::CHANNEL_BIND,
        &creds,
        |b| {
            b.add(&Attribute::ChannelNumber(0x4000));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }
    )));
    let (_, bytes) = h.peer_sends(relay, peer, b"12345").unwrap();
    assert_eq!(bytes.len(), 12);
    assert_eq!(stun::stream_frame_len(&bytes), Ok(Some(12)));
    assert_eq!(ChannelData::parse(&bytes).unwrap().data, b"12345");
    // Data indication for an IPv6 peer on a dual allocation is tested elsewhere; here IPv4.
    let other = addr("198.51.100.20:1");
    assert!(is_success(&h.authed(
        c,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, other);
        }
    )));
    let (_, bytes) = h.peer_sends(relay, other, b"abc").unwrap();
    assert_eq!(bytes.len() % 4, 0);
    assert_eq!(Message::parse(&bytes).unwrap().data(), Some(&b"abc"[..]));
}

#[test]
fn rest_credentials_with_any_configured_secret() {
    let mut h = Harness::new(config());
    for (i, secret) in ["rest-one", "rest-two"].iter().enumerate() {
        let c = udp(&format!("203.0.113.7:{}", 41000 + i));
        let cred = crate::rest::issue(secret.as_bytes(), "carol", UNIX_T0, 3600);
        let creds = h.login(c, &cred.username, &cred.password);
        let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
            b.add(&Attribute::RequestedTransport(17));
        });
        assert!(is_success(&resp), "secret {secret}");
        assert!(signed_by(&resp, &creds));
    }
    // Expired (issued long ago), wrong secret, wrong password: all 401.
    let c = udp("203.0.113.7:42000");
    let old = crate::rest::issue(b"rest-one", "carol", UNIX_T0 - 7200, 3600);
    let wrong = crate::rest::issue(b"not-a-secret", "carol", UNIX_T0, 3600);
    for (user, pass) in [
        (old.username.clone(), old.password.clone()),
        (wrong.username.clone(), wrong.password.clone()),
        ("alice".to_string(), "not-her-password".to_string()),
        ("mallory".to_string(), "secret".to_string()),
    ] {
        let creds = h.login(c, &user, &pass);
        let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
            b.add(&Attribute::RequestedTransport(17));
        });
        assert_eq!(code_of(&resp), Some(ErrorCode::UNAUTHENTICATED), "{user}");
        assert!(Message::parse(&resp)
            .unwrap()
            .get(AttributeType::MESSAGE_INTEGRITY)
            .is_none());
    }
    assert!(h.server.stats().auth_failures >= 4);
    // Credentials expire while in use: valid now, refused after the wall clock passes them.
    let short = crate::rest::issue(b"rest-one", "dave", UNIX_T0, 60);
    let c = udp("203.0.113.7:42001");
    let creds = h.login(c, &short.username, &short.password);
    h.advance(Duration::from_secs(61));
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::UNAUTHENTICATED));
}

#[test]
fn sha256_password_algorithm_and_message_integrity_sha256() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let challenge = {
        let req = h.build(Method::ALLOCATE, |b| {
            b.add(&Attribute::RequestedTransport(17));
        });
        h.request(c, &req)
    };
    let m = Message::parse(&challenge).unwrap();
    let algs = m
        .get(AttributeType::PASSWORD_ALGORITHMS)
        .unwrap()
        .value
        .to_vec();
    assert_eq!(
        m.attribute(AttributeType::PASSWORD_ALGORITHMS),
        Some(Ok(Attribute::PasswordAlgorithms(vec![
            (PasswordAlgorithm::SHA256, &[][..]),
            (PasswordAlgorithm::MD5, &[][..])
        ])))
    );
    let key = stun::long_term_key_sha256("alice", &creds.realm, "secret");
    let build = |h: &mut Harness, algs: &[u8], alg: PasswordAlgorithm| {
        let tid = h.tid();
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid);
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::Username("alice"));
        b.add(&Attribute::Realm(&creds.realm));
        b.add(&Attribute::Nonce(&creds.nonce));
        b.raw(AttributeType::PASSWORD_ALGORITHMS, algs);
        b.add(&Attribute::PasswordAlgorithm(alg, &[]));
        b.message_integrity_sha256(&key);
        b.finish();
        buf
    };
    // A downgraded list (an attacker stripped SHA-256) is refused with 400.
    let stripped = build(&mut h, &[0, 1, 0, 0], PasswordAlgorithm::SHA256);
    assert_eq!(
        code_of(&h.request(c, &stripped)),
        Some(ErrorCode::BAD_REQUEST)
    );
    let req = build(&mut h, &algs, PasswordAlgorithm::SHA256);
    let resp = h.request(c, &req);
    assert!(is_success(&resp));
    let m = Message::parse(&resp).unwrap();
    assert!(m.get(AttributeType::MESSAGE_INTEGRITY_SHA256).is_some());
    assert_eq!(m.verify_integrity(&key), Ok(()));
}

#[test]
fn attributes_after_message_integrity_are_ignored() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    // A peer address appended after MESSAGE-INTEGRITY must not be acted upon.
    let tid = h.tid();
    let mut req = build_authed(tid, Method::CREATE_PERMISSION, &creds, |_| {});
    let mut extra = Vec::new();
    let mut b = MessageBuilder::new(&mut extra, Class::Request, Method::CREATE_PERMISSION, tid);
    b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.9:1"));
    b.finish();
    req.extend_from_slice(&extra[20..]);
    let len = (req.len() - 20) as u16;
    req[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(code_of(&h.request(c, &req)), Some(ErrorCode::BAD_REQUEST));
}

#[test]
fn even_port_reservation_and_token() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::EvenPort { reserve: true });
    });
    let m = Message::parse(&resp).unwrap();
    let rtp = m.xor_relayed_addresses().next().unwrap();
    assert_eq!(rtp.port() % 2, 0);
    // The reserved port is held by the driver until used.
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::HoldPort { addr, .. } if addr.port() == rtp.port() + 1)));
    let token = match m.attribute(AttributeType::RESERVATION_TOKEN) {
        Some(Ok(Attribute::ReservationToken(t))) => t,
        other => panic!("no token: {other:?}"),
    };
    let c2 = udp("203.0.113.7:40001");
    let creds2 = h.login(c2, "alice", "secret");
    // Token with EVEN-PORT is a 400; an unknown token 508.
    let bad = h.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token));
        b.add(&Attribute::EvenPort { reserve: false });
    });
    assert_eq!(code_of(&bad), Some(ErrorCode::BAD_REQUEST));
    let unknown = h.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token ^ 1));
    });
    assert_eq!(code_of(&unknown), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    let rtcp = h.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token));
    });
    let m = Message::parse(&rtcp).unwrap();
    assert_eq!(
        m.xor_relayed_addresses().next().unwrap().port(),
        rtp.port() + 1
    );
    // A token is single use.
    let c3 = udp("203.0.113.7:40002");
    let creds3 = h.login(c3, "alice", "secret");
    let again = h.authed(c3, Method::ALLOCATE, &creds3, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token));
    });
    assert_eq!(code_of(&again), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}

#[test]
fn reservation_expires_after_30_seconds() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::EvenPort { reserve: true });
    });
    let token = match Message::parse(&resp)
        .unwrap()
        .attribute(AttributeType::RESERVATION_TOKEN)
    {
        Some(Ok(Attribute::ReservationToken(t))) => t,
        other => panic!("{other:?}"),
    };
    let held = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::HoldPort { addr, .. } => Some(addr.port()),
            _ => None,
        })
        .unwrap();
    assert_eq!(h.server.poll_timeout(), Some(h.t0 + RESERVATION_LIFETIME));
    h.advance(RESERVATION_LIFETIME);
    assert!(h.events.contains(&Event::ReleasePort { port: held }));
    let c2 = udp("203.0.113.7:40001");
    let creds2 = h.login(c2, "alice", "secret");
    let late = h.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token));
    });
    assert_eq!(code_of(&late), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}

#[test]
fn ipv6_and_dual_allocations() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::AdditionalAddressFamily(0x02));
    });
    let m = Message::parse(&resp).unwrap();
    let relayed: Vec<_> = m.xor_relayed_addresses().collect();
    assert_eq!(relayed.len(), 2);
    assert!(relayed[0].is_ipv4() && relayed[1].is_ipv6());
    let v6_relay = h.last_relay();
    let peer6 = addr("[2001:db8::99]:5000");
    let peer4 = addr("198.51.100.9:5000");
    assert!(is_success(&h.authed(
        c,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer6);
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer4);
        }
    )));
    let (_, bytes) = h.peer_sends(v6_relay, peer6, b"six").unwrap();
    let d = Message::parse(&bytes).unwrap();
    assert_eq!(d.xor_peer_addresses().next(), Some(peer6));
    assert_eq!(d.data(), Some(&b"six"[..]));
    // Refresh of one family with lifetime 0 drops only that relay.
    let resp = h.authed(c, Method::REFRESH, &creds, |b| {
        b.add(&Attribute::RequestedAddressFamily(0x02));
        b.add(&Attribute::Lifetime(0));
    });
    assert!(is_success(&resp));
    assert!(h.events.contains(&Event::CloseRelay { relay: v6_relay }));
    assert_eq!(h.server.allocation_count(), 1);
    let resp = h.authed(c, Method::REFRESH, &creds, |b| {
        b.add(&Attribute::RequestedAddressFamily(0x02));
    });
    assert_eq!(
        code_of(&resp),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );

    // IPv6-only allocation.
    let c2 = udp("203.0.113.7:40001");
    let creds2 = h.login(c2, "alice", "secret");
    let resp = h.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::RequestedAddressFamily(0x02));
    });
    let m = Message::parse(&resp).unwrap();
    assert!(m.xor_relayed_addresses().next().unwrap().is_ipv6());
    let resp = h.authed(c2, Method::CREATE_PERMISSION, &creds2, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer4);
    });
    assert_eq!(
        code_of(&resp),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );
}

#[test]
fn dual_allocation_without_ipv6_reports_address_error() {
    let mut h = Harness::new(ServerConfig {
        relay_ipv6: None,
        ..config()
    });
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::AdditionalAddressFamily(0x02));
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_relayed_addresses().count(), 1);
    match m.attribute(AttributeType::ADDRESS_ERROR_CODE) {
        Some(Ok(Attribute::AddressErrorCode { family, code, .. })) => {
            assert_eq!(
                (family, code),
                (0x02, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn relay_port_in_use_is_retried_and_failure_is_508() {
    let mut h = Harness::new(config());
    h.auto_open = false;
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let req = h.build_authed(Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    let (_, t) = h.feed(c, &req);
    assert!(t.is_empty(), "no answer before the relay socket exists");
    let (relay, first) = match h.events.pop() {
        Some(Event::OpenRelay { relay, addr, .. }) => (relay, addr),
        other => panic!("{other:?}"),
    };
    let now = h.now;
    h.server
        .handle_relay_opened(now, relay, Err(RelayOpenError::AddrInUse));
    h.collect_events();
    let second = match h.events.pop() {
        Some(Event::OpenRelay { relay: r, addr, .. }) => {
            assert_eq!(r, relay);
            addr
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(first.port(), second.port());
    h.server.handle_relay_opened(now, relay, Ok(second));
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    assert_eq!(
        Message::parse(&t[0].1)
            .unwrap()
            .xor_relayed_addresses()
            .next(),
        Some(second)
    );

    let c2 = udp("203.0.113.7:40001");
    let creds2 = h.login(c2, "alice", "secret");
    let req = h.build_authed(Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    h.feed(c2, &req);
    let relay2 = match h.events.pop() {
        Some(Event::OpenRelay { relay, .. }) => relay,
        other => panic!("{other:?}"),
    };
    h.server
        .handle_relay_opened(now, relay2, Err(RelayOpenError::Other));
    let t = h.transmits();
    assert_eq!(code_of(&t[0].1), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn send_indication_with_unknown_required_attribute_is_discarded() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let peer = addr("198.51.100.9:7000");
    assert!(is_success(&h.authed(
        c,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }
    )));
    let send = |extra: bool| {
        let mut v = Vec::new();
        let mut b = MessageBuilder::new(
            &mut v,
            Class::Indication,
            Method::SEND,
            TransactionId([9; 12]),
        );
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        b.add(&Attribute::Data(b"x"));
        if extra {
            b.raw(stun::AttributeType(0x0077), &[0; 4]);
        }
        b.finish();
        v
    };
    assert!(h.feed(c, &send(false)).0.is_some());
    assert!(h.feed(c, &send(true)).0.is_none());
}

#[test]
fn reservation_token_redeemed_on_another_core() {
    let pool = RelayPorts::new(50000, 50009, StdRng::seed_from_u64(3));
    let shared = || ServerConfig {
        relay_ports: Some(pool.clone()),
        ..config()
    };
    let mut a = Harness::new(shared());
    let mut b = Harness::new(shared());
    let c1 = udp("203.0.113.7:40000");
    let creds = a.login(c1, "alice", "secret");
    let resp = a.authed(c1, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::EvenPort { reserve: true });
    });
    let m = Message::parse(&resp).unwrap();
    let rtp = m.xor_relayed_addresses().next().unwrap().port();
    let token = match m.attribute(AttributeType::RESERVATION_TOKEN) {
        Some(Ok(Attribute::ReservationToken(t))) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(pool.available(), 8);
    let c2 = udp("203.0.113.7:40001");
    let creds2 = b.login(c2, "alice", "secret");
    let resp = b.authed(c2, Method::ALLOCATE, &creds2, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::ReservationToken(token));
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.xor_relayed_addresses().next().unwrap().port(), rtp + 1);
    // Core A's reservation timer finds the token redeemed and leaves the port alone.
    a.advance(Duration::from_secs(31));
    assert_eq!(pool.available(), 8);
    // Both allocations end: every port is back in the shared pool.
    a.advance(Duration::from_secs(600));
    b.advance(Duration::from_secs(631));
    assert_eq!(
        (a.server.allocation_count(), b.server.allocation_count()),
        (0, 0)
    );
    assert_eq!((pool.available(), pool.reservations()), (10, 0));
}

#[test]
fn reserved_port_taken_elsewhere_moves_the_pair() {
    let mut h = Harness::new(config());
    h.auto_open = false;
    let c = udp("203.0.113.7:40000");
    let creds = h.login(c, "alice", "secret");
    let req = h.build_authed(Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(17));
        b.add(&Attribute::EvenPort { reserve: true });
    });
    let (_, t) = h.feed(c, &req);
    assert!(t.is_empty());
    let (relay, first) = match h.events.pop() {
        Some(Event::HoldPort { relay, addr, .. }) => (relay, addr.port()),
        other => panic!("the reserved port is held before the relay opens: {other:?}"),
    };
    let now = h.now;
    h.server
        .handle_port_held(now, relay, Err(RelayOpenError::AddrInUse));
    h.collect_events();
    let second = match h.events.pop() {
        Some(Event::HoldPort { relay: r, addr, .. }) => {
            assert_eq!(r, relay);
            addr.port()
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(first, second);
    assert_eq!(second % 2, 1);
    h.server.handle_port_held(now, relay, Ok(()));
    h.collect_events();
    let addr = match h.events.pop() {
        Some(Event::OpenRelay { relay: r, addr, .. }) => {
            assert_eq!(r, relay);
            addr
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(addr.port() + 1, second);
    h.server.handle_relay_opened(now, relay, Ok(addr));
    let t = h.transmits();
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(m.xor_relayed_addresses().next().unwrap().port() + 1, second);
    assert!(m.get(AttributeType::RESERVATION_TOKEN).is_some());
}

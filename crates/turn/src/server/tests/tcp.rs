use super::*;
use stun::Attribute;

fn tcp_allocation(h: &mut Harness, c: FiveTuple) -> Creds {
    let creds = h.login(c, "alice", "secret");
    let resp = h.authed(c, Method::ALLOCATE, &creds, |b| {
        b.add(&Attribute::RequestedTransport(6));
    });
    assert!(is_success(&resp), "{:?}", code_of(&resp));
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::OpenRelay {
            protocol: RelayProtocol::Tcp,
            ..
        }
    )));
    creds
}

#[test]
fn connect_then_connection_bind_splices() {
    let mut h = Harness::new(config());
    let control = tcp("203.0.113.7:40000");
    let creds = tcp_allocation(&mut h, control);
    let peer = addr("198.51.100.9:80");
    let req = h.build_authed(Method::CONNECT, &creds, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    });
    let (_, t) = h.feed(control, &req);
    assert!(t.is_empty(), "answered once the driver has connected");
    let connection = match h.events.last() {
        Some(Event::Connect {
            connection,
            peer: p,
            ..
        }) => {
            assert_eq!(*p, peer);
            *connection
        }
        other => panic!("{other:?}"),
    };
    // A second Connect to the same peer: 446.
    let resp = h.authed(control, Method::CONNECT, &creds, |b| {
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::CONNECTION_ALREADY_EXISTS));
    let now = h.now;
    h.server.handle_peer_connected(now, connection, true);
    let t = h.transmits();
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(
        m.attribute(AttributeType::CONNECTION_ID),
        Some(Ok(Attribute::ConnectionId(connection.0)))
    );

    // ConnectionBind on the control connection is refused; on a new one it splices.
    let bind = |h: &mut Harness, on: FiveTuple, id: u32| {
        h.login(on, "alice", "secret");
        h.authed(on, Method::CONNECTION_BIND, &creds, |b| {
            b.add(&Attribute::ConnectionId(id));
        })
    };
    assert_eq!(
        code_of(&bind(&mut h, control, connection.0)),
        Some(ErrorCode::BAD_REQUEST)
    );
    let data = tcp("203.0.113.7:40001");
    let data_creds = h.login(data, "alice", "secret");
    assert_eq!(
        code_of(&h.authed(data, Method::CONNECTION_BIND, &data_creds, |b| {
            b.add(&Attribute::ConnectionId(connection.0 + 100));
        })),
        Some(ErrorCode::BAD_REQUEST)
    );
    let resp = h.authed(data, Method::CONNECTION_BIND, &data_creds, |b| {
        b.add(&Attribute::ConnectionId(connection.0));
    });
    assert!(is_success(&resp));
    assert!(h.events.contains(&Event::Splice {
        connection,
        client: data
    }));
    // Closing the control connection deletes the allocation and its peer connections.
    let now = h.now;
    h.server.handle_client_closed(now, control);
    h.collect_events();
    assert!(h.events.contains(&Event::CloseConnection { connection }));
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn connect_failure_and_timeout_give_447() {
    let mut h = Harness::new(config());
    let control = tcp("203.0.113.7:40000");
    let creds = tcp_allocation(&mut h, control);
    let connect = |h: &mut Harness, peer: &str| {
        let req = h.build_authed(Method::CONNECT, &creds, |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr(peer));
        });
        h.feed(control, &req);
        match h.events.last() {
            Some(Event::Connect { connection, .. }) => *connection,
            other => panic!("{other:?}"),
        }
    };
    let id = connect(&mut h, "198.51.100.1:80");
    let now = h.now;
    h.server.handle_peer_connected(now, id, false);
    assert_eq!(
        code_of(&h.transmits()[0].1),
        Some(ErrorCode::CONNECTION_TIMEOUT_OR_FAILURE)
    );
    let id = connect(&mut h, "198.51.100.2:80");
    h.advance(Duration::from_secs(30));
    assert_eq!(
        code_of(&h.transmits()[0].1),
        Some(ErrorCode::CONNECTION_TIMEOUT_OR_FAILURE)
    );
    assert!(h
        .events
        .contains(&Event::CloseConnection { connection: id }));
    // Connect on a UDP allocation is a 400; to a denied peer 403.
    let u = udp("203.0.113.7:1");
    let (ucreds, _) = h.allocate(u);
    assert_eq!(
        code_of(&h.authed(u, Method::CONNECT, &ucreds, |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.1:80"));
        })),
        Some(ErrorCode::BAD_REQUEST)
    );
    assert_eq!(
        code_of(&h.authed(control, Method::CONNECT, &creds, |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("10.0.0.1:80"));
        })),
        Some(ErrorCode::FORBIDDEN)
    );
}

#[test]
fn inbound_peer_connection_needs_permission_and_expires_unbound() {
    let mut h = Harness::new(config());
    let control = tcp("203.0.113.7:40000");
    let creds = tcp_allocation(&mut h, control);
    let relay = h.last_relay();
    let peer = addr("198.51.100.9:5555");
    let now = h.now;
    assert_eq!(h.server.handle_peer_accepted(now, relay, peer), None);
    assert!(is_success(&h.authed(
        control,
        Method::CREATE_PERMISSION,
        &creds,
        |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }
    )));
    let id = h.server.handle_peer_accepted(now, relay, peer).unwrap();
    let t = h.transmits();
    assert_eq!(t[0].0.to, control.client);
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(
        (m.class(), m.method()),
        (Class::Indication, Method::CONNECTION_ATTEMPT)
    );
    assert_eq!(m.xor_peer_addresses().next(), Some(peer));
    assert_eq!(
        m.attribute(AttributeType::CONNECTION_ID),
        Some(Ok(Attribute::ConnectionId(id.0)))
    );
    h.advance(Duration::from_secs(30));
    assert!(h
        .events
        .contains(&Event::CloseConnection { connection: id }));
}

#[test]
fn channels_and_send_are_not_for_tcp_allocations() {
    let mut h = Harness::new(config());
    let control = tcp("203.0.113.7:40000");
    let creds = tcp_allocation(&mut h, control);
    let resp = h.authed(control, Method::CHANNEL_BIND, &creds, |b| {
        b.add(&Attribute::ChannelNumber(0x4000));
        b.xor_address(AttributeType::XOR_PEER_ADDRESS, addr("198.51.100.9:80"));
    });
    assert_eq!(code_of(&resp), Some(ErrorCode::BAD_REQUEST));
}

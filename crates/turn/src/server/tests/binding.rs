use super::*;
use stun::Attribute;

#[test]
fn binding_returns_xor_mapped_address_only() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let req = h.build(Method::BINDING, |_| {});
    let (_, t) = h.feed(c, &req);
    assert_eq!(t.len(), 1);
    let (tx, bytes) = &t[0];
    assert_eq!(tx.to, c.client);
    assert_eq!(tx.local, c.local);
    let m = Message::parse(bytes).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.xor_mapped_address(), Some(c.client));
    assert!(m.get(AttributeType::SOFTWARE).is_none());
    assert!(!m.has_fingerprint());
    assert!(m.get(AttributeType::OTHER_ADDRESS).is_none());
    assert_eq!(
        m.transaction_id(),
        Message::parse(&req).unwrap().transaction_id()
    );
    assert_eq!(h.server.stats().binding_requests, 1);
}

#[test]
fn binding_echoes_fingerprint_and_software_when_configured() {
    let mut h = Harness::new(ServerConfig {
        software: Some("rendezvous".into()),
        ..config()
    });
    let req = h.build(Method::BINDING, |b| {
        b.fingerprint();
    });
    let resp = h.request(udp("203.0.113.7:40000"), &req);
    let m = Message::parse(&resp).unwrap();
    assert!(m.has_fingerprint());
    assert_eq!(m.software(), Some("rendezvous"));
}

#[test]
fn unknown_comprehension_required_attribute_gets_420() {
    let mut h = Harness::new(config());
    let req = h.build(Method::BINDING, |b| {
        b.raw(stun::AttributeType(0x7777), b"x");
        b.raw(stun::AttributeType(0xC001), b"optional is fine");
    });
    let resp = h.request(udp("203.0.113.7:40000"), &req);
    let m = Message::parse(&resp).unwrap();
    assert_eq!(code(&m), Some(ErrorCode::UNKNOWN_ATTRIBUTE));
    match m.attribute(AttributeType::UNKNOWN_ATTRIBUTES) {
        Some(Ok(Attribute::UnknownAttributes(list))) => {
            assert_eq!(list, vec![stun::AttributeType(0x7777)])
        }
        other => panic!("no UNKNOWN-ATTRIBUTES: {other:?}"),
    }
    // Without RFC 5780 configured, CHANGE-REQUEST is unknown too.
    let req = h.build(Method::BINDING, |b| {
        b.add(&Attribute::ChangeRequest {
            change_ip: true,
            change_port: false,
        });
    });
    assert_eq!(
        code_of(&h.request(udp("203.0.113.7:40000"), &req)),
        Some(ErrorCode::UNKNOWN_ATTRIBUTE)
    );
}

#[test]
fn non_stun_and_responses_are_dropped_silently() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    for junk in [
        &b""[..],
        b"\x16\xfe\xfd hello dtls",
        b"GET / HTTP/1.1\r\n",
        &[0u8; 19],
        &[0x80; 40],
    ] {
        let (r, t) = h.feed(c, junk);
        assert!(r.is_none() && t.is_empty());
    }
    let mut resp = Vec::new();
    let mut b = MessageBuilder::new(
        &mut resp,
        Class::SuccessResponse,
        Method::BINDING,
        TransactionId([1; 12]),
    );
    b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, c.client);
    b.finish();
    assert!(h.feed(c, &resp).1.is_empty());
    let ind = {
        let mut v = Vec::new();
        MessageBuilder::new(
            &mut v,
            Class::Indication,
            Method::BINDING,
            TransactionId([2; 12]),
        )
        .finish();
        v
    };
    assert!(h.feed(c, &ind).1.is_empty());
    assert!(h.server.stats().dropped_packets >= 5);
}

fn rfc5780() -> ServerConfig {
    ServerConfig {
        rfc5780: Some(Rfc5780 {
            primary: "192.0.2.1".parse().unwrap(),
            alternate: "192.0.2.2".parse().unwrap(),
            ports: (3478, 3479),
        }),
        ..config()
    }
}

#[test]
fn rfc5780_other_address_response_origin_and_change_request() {
    let mut h = Harness::new(rfc5780());
    let c = udp("203.0.113.7:40000");
    let req = h.build(Method::BINDING, |_| {});
    let (_, t) = h.feed(c, &req);
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(
        m.attribute(AttributeType::OTHER_ADDRESS),
        Some(Ok(Attribute::OtherAddress(addr("192.0.2.2:3479"))))
    );
    assert_eq!(
        m.attribute(AttributeType::RESPONSE_ORIGIN),
        Some(Ok(Attribute::ResponseOrigin(addr("192.0.2.1:3478"))))
    );

    for (ip, port, from) in [
        (true, false, "192.0.2.2:3478"),
        (false, true, "192.0.2.1:3479"),
        (true, true, "192.0.2.2:3479"),
    ] {
        let req = h.build(Method::BINDING, |b| {
            b.add(&Attribute::ChangeRequest {
                change_ip: ip,
                change_port: port,
            });
        });
        let (_, t) = h.feed(c, &req);
        assert_eq!(t[0].0.local, addr(from));
        assert_eq!(t[0].0.to, c.client);
        let m = Message::parse(&t[0].1).unwrap();
        assert_eq!(
            m.attribute(AttributeType::RESPONSE_ORIGIN),
            Some(Ok(Attribute::ResponseOrigin(addr(from))))
        );
        assert_eq!(m.xor_mapped_address(), Some(c.client));
    }

    // A request that reached the alternate address points back at the primary.
    let alt = FiveTuple {
        local: addr("192.0.2.2:3479"),
        ..c
    };
    let (_, t) = h.feed(alt, &req);
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(
        m.attribute(AttributeType::OTHER_ADDRESS),
        Some(Ok(Attribute::OtherAddress(addr("192.0.2.1:3478"))))
    );

    // RESPONSE-PORT redirects the response to another port of the client.
    let req = h.build(Method::BINDING, |b| {
        b.add(&Attribute::ResponsePort(40002));
    });
    let (_, t) = h.feed(c, &req);
    assert_eq!(t[0].0.to, addr("203.0.113.7:40002"));
    let m = Message::parse(&t[0].1).unwrap();
    assert_eq!(m.xor_mapped_address(), Some(c.client));
}

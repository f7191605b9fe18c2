//! The client against a scripted server, with virtual time.

use super::*;
use stun::{Attribute, AttributeType, MessageBuilder};

const SERVER: &str = "192.0.2.10:3478";
const RELAYED: &str = "192.0.2.10:50000";
const PEER: &str = "198.51.100.7:40000";

fn client(transport: TurnTransport) -> TurnClient {
    TurnClient::new(
        SERVER.parse().unwrap(),
        transport,
        Credentials {
            username: "alice".into(),
            password: "secret".into(),
        },
        7,
    )
}

fn key() -> [u8; 16] {
    stun::long_term_key_md5("alice", "rendezvous", "secret")
}

fn error_response(req: &[u8], code: ErrorCode, nonce: &[u8]) -> Vec<u8> {
    let msg = Message::parse(req).unwrap();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::ErrorResponse,
        msg.method(),
        msg.transaction_id(),
    );
    b.error(code, "nope");
    b.add(&Attribute::Realm("rendezvous"));
    b.add(&Attribute::Nonce(nonce));
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn success(req: &[u8], extra: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    let msg = Message::parse(req).unwrap();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        msg.method(),
        msg.transaction_id(),
    );
    extra(&mut b);
    b.message_integrity(&key());
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// Runs the 401 dance and returns the client allocated at `now`.
fn allocated(now: Instant) -> TurnClient {
    let mut c = client(TurnTransport::Udp);
    c.allocate(now);
    let first = c.poll_transmit().expect("Allocate sent");
    let m = Message::parse(&first).unwrap();
    assert_eq!(m.method(), Method::ALLOCATE);
    assert_eq!(m.requested_transport(), Some(17));
    assert!(
        m.integrity_type().is_none(),
        "first Allocate carries no credentials"
    );
    assert!(c
        .handle_input(
            now,
            &error_response(&first, ErrorCode::UNAUTHENTICATED, b"n1")
        )
        .is_none());
    let second = c
        .poll_transmit()
        .expect("Allocate retried with credentials");
    let m = Message::parse(&second).unwrap();
    assert_eq!(m.username(), Some("alice"));
    assert_eq!(m.nonce(), Some(&b"n1"[..]));
    m.verify_integrity(&key())
        .expect("signed with the long-term key");
    let ok = success(&second, |b| {
        b.xor_address(AttributeType::XOR_RELAYED_ADDRESS, RELAYED.parse().unwrap());
        b.xor_address(
            AttributeType::XOR_MAPPED_ADDRESS,
            "203.0.113.1:1234".parse().unwrap(),
        );
        b.add(&Attribute::Lifetime(600));
    });
    c.handle_input(now, &ok);
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Allocated {
            relayed: RELAYED.parse().unwrap(),
            mapped: Some("203.0.113.1:1234".parse().unwrap()),
            lifetime: Duration::from_secs(600),
        })
    );
    assert_eq!(c.relayed(), Some(RELAYED.parse().unwrap()));
    c
}

#[test]
fn allocates_after_the_401_challenge() {
    allocated(Instant::now());
}

#[test]
fn wrong_password_fails_after_one_retry() {
    let now = Instant::now();
    let mut c = client(TurnTransport::Udp);
    c.allocate(now);
    let first = c.poll_transmit().unwrap();
    c.handle_input(
        now,
        &error_response(&first, ErrorCode::UNAUTHENTICATED, b"n1"),
    );
    let second = c.poll_transmit().unwrap();
    c.handle_input(
        now,
        &error_response(&second, ErrorCode::UNAUTHENTICATED, b"n2"),
    );
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed(TurnClientError::Unauthorized))
    );
    assert!(c.poll_transmit().is_none(), "no third attempt");
}

#[test]
fn stale_nonce_is_retried_with_the_new_nonce() {
    let now = Instant::now();
    let mut c = allocated(now);
    c.create_permission(now, "198.51.100.7".parse().unwrap());
    let req = c.poll_transmit().unwrap();
    assert_eq!(
        Message::parse(&req).unwrap().method(),
        Method::CREATE_PERMISSION
    );
    c.handle_input(now, &error_response(&req, ErrorCode::STALE_NONCE, b"fresh"));
    let again = c.poll_transmit().expect("retried after 438");
    let m = Message::parse(&again).unwrap();
    assert_eq!(m.nonce(), Some(&b"fresh"[..]));
    assert_ne!(
        m.transaction_id(),
        Message::parse(&req).unwrap().transaction_id()
    );
}

#[test]
fn data_goes_as_send_indication_until_the_channel_is_bound() {
    let now = Instant::now();
    let mut c = allocated(now);
    let peer: SocketAddr = PEER.parse().unwrap();
    c.send_to(now, peer, b"hello").unwrap();
    let bind = c.poll_transmit().unwrap();
    let m = Message::parse(&bind).unwrap();
    assert_eq!(m.method(), Method::CHANNEL_BIND);
    assert_eq!(m.channel_number(), Some(0x4000));
    assert_eq!(m.xor_peer_addresses().next(), Some(peer));
    let ind = c.poll_transmit().unwrap();
    let m = Message::parse(&ind).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::SEND));
    assert_eq!(m.data(), Some(&b"hello"[..]));

    c.handle_input(now, &success(&bind, |_| {}));
    c.send_to(now, peer, b"world").unwrap();
    let cd = c.poll_transmit().unwrap();
    let parsed = stun::ChannelData::parse(&cd).unwrap();
    assert_eq!((parsed.channel, parsed.data), (0x4000, &b"world"[..]));
}

#[test]
fn channel_data_over_tcp_is_padded() {
    let now = Instant::now();
    let mut c = allocated(now);
    c.transport = TurnTransport::Tcp;
    let peer: SocketAddr = PEER.parse().unwrap();
    c.send_to(now, peer, b"x").unwrap();
    let bind = c.poll_transmit().unwrap();
    let _indication = c.poll_transmit().unwrap();
    c.handle_input(now, &success(&bind, |_| {}));
    c.send_to(now, peer, b"abcde").unwrap();
    assert_eq!(c.poll_transmit().unwrap().len(), 12);
}

#[test]
fn peer_data_comes_out_of_channel_data_and_data_indications() {
    let now = Instant::now();
    let mut c = allocated(now);
    let peer: SocketAddr = PEER.parse().unwrap();
    c.send_to(now, peer, b"x").unwrap();
    let bind = c.poll_transmit().unwrap();
    c.handle_input(now, &success(&bind, |_| {}));

    let mut cd = Vec::new();
    stun::ChannelData::encode(0x4000, b"pong", false, &mut cd);
    assert_eq!(
        c.handle_input(now, &cd),
        Some(Received {
            peer,
            data: b"pong"
        })
    );

    let mut unknown = Vec::new();
    stun::ChannelData::encode(0x4001, b"pong", false, &mut unknown);
    assert_eq!(
        c.handle_input(now, &unknown),
        None,
        "unbound channel is dropped"
    );

    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Indication,
        Method::DATA,
        TransactionId([5; 12]),
    );
    b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    b.add(&Attribute::Data(b"via indication"));
    let n = b.finish();
    assert_eq!(
        c.handle_input(now, &buf[..n]),
        Some(Received {
            peer,
            data: b"via indication"
        })
    );
}

#[test]
fn forged_success_without_integrity_is_ignored() {
    let now = Instant::now();
    let mut c = allocated(now);
    c.create_permission(now, "198.51.100.7".parse().unwrap());
    let req = c.poll_transmit().unwrap();
    let m = Message::parse(&req).unwrap();
    let mut buf = Vec::new();
    let n = MessageBuilder::new(
        &mut buf,
        Class::SuccessResponse,
        m.method(),
        m.transaction_id(),
    )
    .finish();
    c.handle_input(now, &buf[..n]);
    assert_eq!(c.pending.len(), 1, "still waiting for a genuine response");
}

#[test]
fn unanswered_allocate_times_out() {
    let t0 = Instant::now();
    let mut c = client(TurnTransport::Udp);
    c.allocate(t0);
    let mut sends = 0;
    let mut now = t0;
    for _ in 0..20 {
        while c.poll_transmit().is_some() {
            sends += 1;
        }
        if let Some(ev) = c.poll_event() {
            assert_eq!(ev, TurnEvent::Failed(TurnClientError::Timeout));
            assert_eq!(sends, MAX_SENDS as usize);
            return;
        }
        now = c.poll_timeout().expect("a deadline while allocating");
        c.handle_timeout(now);
    }
    panic!("no failure after {:?}", now - t0);
}

#[test]
fn allocation_and_permissions_are_refreshed() {
    let t0 = Instant::now();
    let mut c = allocated(t0);
    c.create_permission(t0, "198.51.100.7".parse().unwrap());
    let perm = c.poll_transmit().unwrap();
    c.handle_input(t0, &success(&perm, |_| {}));
    let mut methods = Vec::new();
    let mut now = t0;
    while now < t0 + Duration::from_secs(600) {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        while let Some(req) = c.poll_transmit() {
            let m = Message::parse(&req).unwrap();
            methods.push(m.method());
            let reply = success(&req, |b| {
                if m.method() == Method::REFRESH {
                    b.add(&Attribute::Lifetime(600));
                }
            });
            c.handle_input(now, &reply);
        }
    }
    assert!(methods.contains(&Method::REFRESH), "{methods:?}");
    assert!(methods.contains(&Method::CREATE_PERMISSION), "{methods:?}");
    assert!(c.relayed().is_some());
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let now = Instant::now();
        let mut c = allocated(now);
        let _ = c.handle_input(now, &data);
    }
}

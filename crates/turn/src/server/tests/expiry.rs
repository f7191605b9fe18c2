use super::*;
use stun::{Attribute, ChannelData};

fn long_nonces() -> ServerConfig {
    ServerConfig {
        nonce_lifetime: Duration::from_secs(100_000),
        ..config()
    }
}

#[test]
fn allocation_expires_and_refresh_extends_it() {
    let mut h = Harness::new(long_nonces());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let relay = h.last_relay();
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.t0 + Duration::from_secs(600))
    );
    h.advance(Duration::from_secs(500));
    // Refresh asks for an hour beyond the maximum: clamped to max_lifetime.
    let resp = h.authed(c, Method::REFRESH, &creds, |b| {
        b.add(&Attribute::Lifetime(100_000));
    });
    assert_eq!(Message::parse(&resp).unwrap().lifetime(), Some(3600));
    // A request below the default gets the default.
    let resp = h.authed(c, Method::REFRESH, &creds, |b| {
        b.add(&Attribute::Lifetime(5));
    });
    assert_eq!(Message::parse(&resp).unwrap().lifetime(), Some(600));
    let deadline = h.t0 + Duration::from_secs(1100);
    assert_eq!(
        h.server.poll_timeout(),
        Some(deadline),
        "stale deadlines are not reported"
    );
    h.advance(Duration::from_secs(599));
    assert_eq!(h.server.allocation_count(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.server.allocation_count(), 0);
    assert!(h.events.contains(&Event::CloseRelay { relay }));
    assert_eq!(h.server.poll_timeout(), None);
    assert_eq!(
        code_of(&h.authed(c, Method::REFRESH, &creds, |_| {})),
        Some(ErrorCode::ALLOCATION_MISMATCH)
    );
}

#[test]
fn permissions_expire_after_five_minutes_unless_refreshed() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let relay = h.last_relay();
    let p1 = addr("198.51.100.1:1");
    let p2 = addr("198.51.100.2:1");
    let perm = |h: &mut Harness, p| {
        assert!(is_success(&h.authed(
            c,
            Method::CREATE_PERMISSION,
            &creds,
            |b| {
                b.xor_address(AttributeType::XOR_PEER_ADDRESS, p);
            }
        )))
    };
    perm(&mut h, p1);
    perm(&mut h, p2);
    assert_eq!(h.server.poll_timeout(), Some(h.t0 + PERMISSION_LIFETIME));
    h.advance(Duration::from_secs(200));
    perm(&mut h, p2);
    h.advance(Duration::from_secs(100));
    assert!(
        h.peer_sends(relay, p1, b"x").is_none(),
        "p1 expired at 300 s"
    );
    assert!(
        h.peer_sends(relay, p2, b"x").is_some(),
        "p2 refreshed at 200 s"
    );
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.t0 + Duration::from_secs(500))
    );
    h.advance(Duration::from_secs(200));
    assert!(h.peer_sends(relay, p2, b"x").is_none());
}

#[test]
fn channels_expire_then_stay_quarantined() {
    let mut h = Harness::new(long_nonces());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    let p1 = addr("198.51.100.1:1");
    let p2 = addr("198.51.100.2:1");
    let bind = |h: &mut Harness, ch: u16, p| {
        h.authed(c, Method::CHANNEL_BIND, &creds, |b| {
            b.add(&Attribute::ChannelNumber(ch));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, p);
        })
    };
    assert!(is_success(&bind(&mut h, 0x4000, p1)));
    // Keep the allocation and the permission alive; let the channel lapse.
    for _ in 0..2 {
        h.advance(Duration::from_secs(290));
        assert!(is_success(&h.authed(c, Method::REFRESH, &creds, |_| {})));
        assert!(is_success(&h.authed(
            c,
            Method::CREATE_PERMISSION,
            &creds,
            |b| {
                b.xor_address(AttributeType::XOR_PEER_ADDRESS, p1);
            }
        )));
    }
    let mut cd = Vec::new();
    ChannelData::encode(0x4000, b"x", false, &mut cd);
    assert!(h.feed(c, &cd).0.is_some(), "alive at 580 s");
    h.advance(Duration::from_secs(20));
    assert!(h.feed(c, &cd).0.is_none(), "expired at 600 s");
    assert_eq!(
        code_of(&bind(&mut h, 0x4000, p2)),
        Some(ErrorCode::BAD_REQUEST),
        "quarantined number"
    );
    assert!(
        is_success(&bind(&mut h, 0x4000, p1)),
        "the same pair may come back"
    );
    assert!(h.feed(c, &cd).0.is_some());
}

#[test]
fn timeout_is_exact_and_heap_stays_small_under_refresh() {
    let mut h = Harness::new(config());
    let c = udp("203.0.113.7:40000");
    let (creds, _) = h.allocate(c);
    for i in 0..100 {
        h.now += Duration::from_secs(1);
        assert!(is_success(&h.authed(c, Method::REFRESH, &creds, |_| {})));
        assert_eq!(
            h.server.poll_timeout(),
            Some(h.t0 + Duration::from_secs(601 + i))
        );
    }
    assert!(
        h.server.timers.len() <= 2,
        "stale entries are dropped by poll_timeout"
    );
}

//! Hub tests: virtual time, a seeded RNG, no sockets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::message::{Joined, PeerInfo};
use crate::token;

const UNIX: u64 = 1_800_000_000;

/// A hub plus the inboxes of every connection: what a set of clients would have received.
struct World {
    hub: Hub<StdRng>,
    now: Instant,
    next_conn: u64,
    inbox: HashMap<ConnId, Vec<ServerMessage>>,
    closed: Vec<(ConnId, CloseReason)>,
}

impl World {
    fn new(cfg: HubConfig) -> Self {
        World {
            hub: Hub::new(cfg, StdRng::seed_from_u64(7)),
            now: Instant::now(),
            next_conn: 1,
            inbox: HashMap::new(),
            closed: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.hub.poll_transmit() {
            self.inbox.entry(t.conn).or_default().push(t.message);
        }
        while let Some(Event::Close { conn, reason }) = self.hub.poll_event() {
            self.closed.push((conn, reason));
        }
    }

    fn connect(&mut self) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        self.hub.connect(c, self.now);
        c
    }

    fn send(&mut self, conn: ConnId, text: &str) {
        self.hub.handle(conn, Frame::Text(text), self.now, UNIX);
        self.drain();
    }

    fn take(&mut self, conn: ConnId) -> Vec<ServerMessage> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn join_with(&mut self, conn: ConnId, room: &str, role: &str, extra: &str) -> Joined {
        self.send(
            conn,
            &format!(r#"{{"type":"join","room":"{room}","role":"{role}"{extra}}}"#),
        );
        match self.take(conn).as_slice() {
            [ServerMessage::Joined(j)] => j.clone(),
            other => panic!("expected joined, got {other:?}"),
        }
    }

    fn join(&mut self, room: &str, role: &str) -> (ConnId, Joined) {
        let c = self.connect();
        let j = self.join_with(c, room, role, "");
        (c, j)
    }

    fn signal(&mut self, conn: ConnId, to: &PeerId, data: &str) {
        self.send(
            conn,
            &format!(r#"{{"type":"signal","to":"{to}","data":{data}}}"#),
        );
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        while self.hub.poll_timeout().is_some_and(|t| t <= self.now) {
            self.hub.handle_timeout(self.now);
        }
        self.drain();
    }

    fn error_code(&mut self, conn: ConnId) -> (ErrorCode, Option<String>) {
        match self.take(conn).as_slice() {
            [ServerMessage::Error(e)] => (e.code.clone(), e.reference.clone()),
            other => panic!("expected one error, got {other:?}"),
        }
    }
}

fn signal_from(msg: &ServerMessage) -> (&PeerId, &str) {
    match msg {
        ServerMessage::Signal { from, data } => (from, data.json()),
        other => panic!("expected signal, got {other:?}"),
    }
}

#[test]
fn two_peers_exchange_signals() {
    let mut w = World::new(HubConfig::default());
    let (a, ja) = w.join("room", "peer");
    assert!(ja.peers.is_empty());
    assert_eq!(ja.v, 1);
    assert_eq!(ja.ice_ttl, 3600);
    let (b, jb) = w.join("room", "peer");
    assert_eq!(
        jb.peers,
        [PeerInfo {
            id: ja.id.clone(),
            role: Role::Peer
        }]
    );
    assert_eq!(
        w.take(a),
        [ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: jb.id.clone(),
                role: Role::Peer
            }
        }]
    );
    w.signal(b, &ja.id, r#"{"description":{"type":"offer","sdp":"o"}}"#);
    let got = w.take(a);
    assert_eq!(
        signal_from(&got[0]),
        (&jb.id, r#"{"description":{"type":"offer","sdp":"o"}}"#)
    );
    w.signal(a, &jb.id, r#"{"candidate":null}"#);
    let got = w.take(b);
    assert_eq!(signal_from(&got[0]), (&ja.id, r#"{"candidate":null}"#));
    w.send(a, r#"{"type":"ping"}"#);
    assert_eq!(w.take(a), [ServerMessage::Pong]);
    w.send(a, r#"{"type":"leave"}"#);
    assert_eq!(w.take(b), [ServerMessage::PeerLeft { id: ja.id.clone() }]);
    assert_eq!(w.hub.stats().rooms, 1);
    w.send(b, r#"{"type":"leave"}"#);
    assert_eq!(
        w.hub.stats(),
        HubStats {
            connections: 2,
            rooms: 0,
            peers: 0
        }
    );
}

#[test]
fn broadcast_one_publisher_three_viewers() {
    let mut w = World::new(HubConfig::default());
    let (v1, jv1) = w.join("show", "viewer");
    assert!(jv1.peers.is_empty(), "no publisher yet");
    let (p, jp) = w.join("show", "publisher");
    assert_eq!(jp.peers.len(), 1);
    assert_eq!(
        w.take(v1),
        [ServerMessage::PeerJoined {
            peer: PeerInfo {
                id: jp.id.clone(),
                role: Role::Publisher
            }
        }]
    );
    let (v2, jv2) = w.join("show", "viewer");
    let (v3, jv3) = w.join("show", "viewer");
    for j in [&jv2, &jv3] {
        assert_eq!(
            j.peers,
            [PeerInfo {
                id: jp.id.clone(),
                role: Role::Publisher
            }],
            "viewers see only the publisher"
        );
    }
    let announced: Vec<_> = w.take(p);
    assert_eq!(announced.len(), 2, "the publisher sees each viewer join");
    assert!(
        w.take(v1).is_empty(),
        "viewers are not told about each other"
    );
    assert!(w.take(v2).is_empty());

    for (v, jv) in [(v1, &jv1), (v2, &jv2), (v3, &jv3)] {
        w.signal(p, &jv.id, r#"{"description":"offer"}"#);
        assert_eq!(signal_from(&w.take(v)[0]).0, &jp.id);
        w.signal(v, &jp.id, r#"{"description":"answer"}"#);
        assert_eq!(signal_from(&w.take(p)[0]).0, &jv.id);
    }
    // A viewer may not signal another viewer: it does not exist as far as it can tell.
    w.signal(v1, &jv2.id, "{}");
    assert_eq!(
        w.error_code(v1),
        (ErrorCode::UNKNOWN_PEER, Some(jv2.id.to_string()))
    );
    assert!(w.take(v2).is_empty());

    // Roles that do not fit, and a second publisher.
    let c = w.connect();
    w.send(c, r#"{"type":"join","room":"show","role":"publisher"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::PUBLISHER_EXISTS);
    w.send(c, r#"{"type":"join","room":"show","role":"peer"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::ROLE_CONFLICT);
    w.join("mesh", "peer");
    w.send(c, r#"{"type":"join","room":"mesh","role":"viewer"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::ROLE_CONFLICT);

    // The publisher leaving is news to every viewer.
    w.hub.disconnect(p, w.now);
    w.advance(Duration::from_secs(31));
    for v in [v1, v2, v3] {
        assert_eq!(w.take(v), [ServerMessage::PeerLeft { id: jp.id.clone() }]);
    }
}

#[test]
fn forged_from_is_overwritten() {
    let mut w = World::new(HubConfig::default());
    let (a, ja) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    w.send(
        b,
        &format!(
            r#"{{"type":"signal","to":"{}","from":"{}","data":{{"x":1}}}}"#,
            ja.id, ja.id
        ),
    );
    let got = w.take(a);
    assert_eq!(signal_from(&got[0]).0, &jb.id);
}

#[test]
fn no_delivery_across_rooms() {
    let mut w = World::new(HubConfig::default());
    let (a, ja) = w.join("one", "peer");
    let (b, jb) = w.join("two", "peer");
    assert!(jb.peers.is_empty());
    assert!(w.take(a).is_empty(), "no peer-joined across rooms");
    w.signal(b, &ja.id, r#"{"x":1}"#);
    assert_eq!(
        w.error_code(b),
        (ErrorCode::UNKNOWN_PEER, Some(ja.id.to_string()))
    );
    assert!(w.take(a).is_empty());
}

#[test]
fn signal_to_self_unknown_or_before_join_is_an_error() {
    let mut w = World::new(HubConfig::default());
    let c = w.connect();
    w.signal(c, &PeerId::new("x"), "{}");
    assert_eq!(w.error_code(c).0, ErrorCode::NOT_JOINED);
    w.send(c, r#"{"type":"leave"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::NOT_JOINED);
    let j = w.join_with(c, "r", "peer", "");
    w.signal(c, &j.id, "{}");
    assert_eq!(w.error_code(c).0, ErrorCode::UNKNOWN_PEER);
    w.signal(c, &PeerId::new("nobody"), "{}");
    assert_eq!(
        w.error_code(c),
        (ErrorCode::UNKNOWN_PEER, Some("nobody".into()))
    );
    w.send(c, r#"{"type":"join","room":"r2","role":"peer"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::ALREADY_JOINED);
}

#[test]
fn resume_within_grace_keeps_id_and_delivers_queued_signals_in_order() {
    let mut w = World::new(HubConfig::default());
    let (a, ja) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    w.hub.disconnect(b, w.now);
    w.advance(Duration::from_secs(10));
    assert!(w.take(a).is_empty(), "no peer-left during the grace period");
    for i in 0..5 {
        w.signal(a, &jb.id, &format!(r#"{{"n":{i}}}"#));
    }
    assert!(w.take(a).is_empty(), "queued, no error");
    // A peer joining during the grace period sees b, and its offer is queued too.
    let (c, jc) = w.join("r", "peer");
    assert_eq!(jc.peers.len(), 2);
    w.signal(c, &jb.id, r#"{"n":"c"}"#);

    let b2 = w.connect();
    w.send(
        b2,
        &format!(
            r#"{{"type":"join","room":"r","role":"peer","resume":"{}"}}"#,
            jb.resume
        ),
    );
    let got = w.take(b2);
    let ServerMessage::Joined(resumed) = &got[0] else {
        panic!("expected joined first, got {got:?}");
    };
    assert_eq!(resumed.id, jb.id);
    assert_ne!(resumed.resume, jb.resume, "a fresh token each time");
    assert_eq!(resumed.peers.len(), 2);
    // The queued signals follow `joined`, in order.
    let got: Vec<_> = got[1..].iter().map(signal_from).collect();
    assert_eq!(
        got,
        [
            (&ja.id, r#"{"n":0}"#),
            (&ja.id, r#"{"n":1}"#),
            (&ja.id, r#"{"n":2}"#),
            (&ja.id, r#"{"n":3}"#),
            (&ja.id, r#"{"n":4}"#),
            (&jc.id, r#"{"n":"c"}"#),
        ]
    );
    // The grace timer of the first disconnect must not fire on the resumed peer.
    w.advance(Duration::from_secs(60));
    assert!(w
        .take(a)
        .iter()
        .all(|m| !matches!(m, ServerMessage::PeerLeft { .. })));
    // The old token is spent.
    let b3 = w.connect();
    w.send(
        b3,
        &format!(
            r#"{{"type":"join","room":"r","role":"peer","resume":"{}"}}"#,
            jb.resume
        ),
    );
    assert_eq!(w.error_code(b3).0, ErrorCode::BAD_RESUME);
}

#[test]
fn resume_after_grace_fails_and_peer_left_is_sent() {
    let mut w = World::new(HubConfig::default());
    let (a, _) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    w.hub.disconnect(b, w.now);
    w.advance(Duration::from_secs(29));
    assert!(w.take(a).is_empty());
    w.advance(Duration::from_secs(2));
    assert_eq!(w.take(a), [ServerMessage::PeerLeft { id: jb.id.clone() }]);
    w.signal(a, &jb.id, "{}");
    assert_eq!(w.error_code(a).0, ErrorCode::UNKNOWN_PEER);
    let b2 = w.connect();
    w.send(
        b2,
        &format!(
            r#"{{"type":"join","room":"r","role":"peer","resume":"{}"}}"#,
            jb.resume
        ),
    );
    assert_eq!(w.error_code(b2).0, ErrorCode::BAD_RESUME);
}

#[test]
fn resume_refuses_a_wrong_secret_room_or_role() {
    let mut w = World::new(HubConfig::default());
    let (b, jb) = w.join("r", "peer");
    w.hub.disconnect(b, w.now);
    let (id, secret) = jb.resume.split_once('.').unwrap();
    let c = w.connect();
    for (room, role, token) in [
        (
            "r",
            "peer",
            format!("{id}.{}x", &secret[..secret.len() - 1]),
        ),
        ("r", "peer", "nodot".to_string()),
        ("other", "peer", jb.resume.clone()),
        ("r", "viewer", jb.resume.clone()),
    ] {
        w.send(
            c,
            &format!(r#"{{"type":"join","room":"{room}","role":"{role}","resume":"{token}"}}"#),
        );
        assert_eq!(
            w.error_code(c).0,
            ErrorCode::BAD_RESUME,
            "{room} {role} {token}"
        );
    }
    w.join_with(c, "r", "peer", &format!(r#","resume":"{}""#, jb.resume));
}

#[test]
fn resume_takes_over_a_connection_that_is_still_open() {
    let mut w = World::new(HubConfig::default());
    let (a, ja) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    let b2 = w.connect();
    let j = w.join_with(b2, "r", "peer", &format!(r#","resume":"{}""#, jb.resume));
    assert_eq!(j.id, jb.id);
    assert_eq!(w.closed, [(b, CloseReason::Replaced)]);
    assert!(w.take(a).is_empty(), "others notice nothing");
    w.signal(a, &jb.id, r#"{"x":1}"#);
    assert_eq!(signal_from(&w.take(b2)[0]).0, &ja.id);
    assert!(w.take(b).is_empty());
    // The driver reporting the replaced connection closed changes nothing.
    w.hub.disconnect(b, w.now);
    w.advance(Duration::from_secs(60));
    assert!(w.take(a).is_empty());
}

#[test]
fn resume_queue_overflow_ends_the_grace_period() {
    let cfg = HubConfig {
        resume_queue: 3,
        max_messages_per_second: 0,
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let (a, _) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    w.hub.disconnect(b, w.now);
    for _ in 0..3 {
        w.signal(a, &jb.id, "{}");
    }
    assert!(w.take(a).is_empty());
    w.signal(a, &jb.id, "{}");
    let got = w.take(a);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], ServerMessage::PeerLeft { id: jb.id.clone() });
    assert!(matches!(&got[1], ServerMessage::Error(e) if e.code == ErrorCode::UNKNOWN_PEER));
}

#[test]
fn each_limit_returns_its_code() {
    let cfg = HubConfig {
        max_message_bytes: 100,
        max_messages_per_second: 5,
        max_peers_per_room: 2,
        max_viewers_per_broadcast: 1,
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let c = w.connect();
    w.send(
        c,
        &format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(100)),
    );
    assert_eq!(w.error_code(c).0, ErrorCode::TOO_LARGE);
    w.hub.handle(c, Frame::Binary(b"\x00\x01"), w.now, UNIX);
    w.drain();
    assert_eq!(w.error_code(c).0, ErrorCode::BINARY_UNSUPPORTED);
    w.send(c, "{nope");
    assert_eq!(w.error_code(c).0, ErrorCode::BAD_JSON);
    w.send(c, r#"{"type":"fly"}"#);
    assert_eq!(
        w.error_code(c),
        (ErrorCode::UNKNOWN_TYPE, Some("fly".into()))
    );
    w.send(c, r#"{"type":"join","room":"r"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::BAD_MESSAGE);
    w.send(c, r#"{"type":"ping"}"#);
    assert_eq!(
        w.error_code(c).0,
        ErrorCode::RATE_LIMITED,
        "sixth message in a second"
    );
    w.advance(Duration::from_secs(1));
    w.send(c, r#"{"type":"join","room":"r","role":"god"}"#);
    assert_eq!(w.error_code(c), (ErrorCode::BAD_ROLE, Some("god".into())));

    w.advance(Duration::from_secs(1));
    w.join("r", "peer");
    w.join("r", "peer");
    let d = w.connect();
    w.send(d, r#"{"type":"join","room":"r","role":"peer"}"#);
    assert_eq!(w.error_code(d).0, ErrorCode::ROOM_FULL);
    w.join("b", "viewer");
    w.send(d, r#"{"type":"join","room":"b","role":"viewer"}"#);
    assert_eq!(w.error_code(d).0, ErrorCode::BROADCAST_FULL);
    w.join_with(d, "b", "publisher", "");
}

#[test]
fn a_flooding_connection_is_closed() {
    let cfg = HubConfig {
        max_messages_per_second: 3,
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let c = w.connect();
    for _ in 0..3 {
        w.send(c, r#"{"type":"ping"}"#);
    }
    assert_eq!(w.take(c).len(), 3);
    for _ in 0..5 {
        w.send(c, r#"{"type":"ping"}"#);
    }
    assert_eq!(w.take(c).len(), 5, "five rate-limited errors");
    assert!(w.closed.is_empty());
    w.send(c, r#"{"type":"ping"}"#);
    assert_eq!(w.closed, [(c, CloseReason::RateLimited)]);
    assert!(w.take(c).is_empty());
    assert_eq!(w.hub.stats().connections, 0);
}

#[test]
fn tokens_gate_fresh_joins() {
    let cfg = HubConfig {
        token_secrets: vec![b"new".to_vec(), b"old".to_vec()],
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let c = w.connect();
    w.send(c, r#"{"type":"join","room":"r","role":"peer"}"#);
    assert_eq!(w.error_code(c).0, ErrorCode::BAD_TOKEN);
    let viewer_token = token::mint(b"new", "r", Role::Viewer, UNIX + 60);
    let expired = token::mint(b"new", "r", Role::Peer, UNIX);
    let forged = token::mint(b"guess", "r", Role::Peer, UNIX + 60);
    let other_room = token::mint(b"new", "s", Role::Peer, UNIX + 60);
    for t in [viewer_token, expired, forged, other_room] {
        w.send(
            c,
            &format!(r#"{{"type":"join","room":"r","role":"peer","token":"{t}"}}"#),
        );
        assert_eq!(w.error_code(c).0, ErrorCode::BAD_TOKEN, "{t}");
    }
    let rotated = token::mint(b"old", "r", Role::Peer, UNIX + 60);
    let j = w.join_with(c, "r", "peer", &format!(r#","token":"{rotated}""#));
    // Resume needs no room token: the resume secret proves admission.
    w.hub.disconnect(c, w.now);
    let c2 = w.connect();
    let j2 = w.join_with(c2, "r", "peer", &format!(r#","resume":"{}""#, j.resume));
    assert_eq!(j2.id, j.id);
}

#[test]
fn silent_connections_are_closed_and_heartbeats_keep_them() {
    let cfg = HubConfig {
        idle_timeout: Some(Duration::from_secs(45)),
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let (a, _) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    for _ in 0..6 {
        w.advance(Duration::from_secs(15));
        w.hub.handle(a, Frame::Heartbeat, w.now, UNIX);
    }
    assert_eq!(w.closed, [(b, CloseReason::Idle)]);
    // b went into its grace period when closed at 45 s and is gone 30 s later.
    assert_eq!(w.take(a), [ServerMessage::PeerLeft { id: jb.id.clone() }]);
    assert_eq!(w.hub.stats().connections, 1);
    assert!(w.hub.poll_timeout().is_some(), "a's idle timer stays armed");
}

#[test]
fn zero_grace_removes_at_once() {
    let cfg = HubConfig {
        resume_grace: Duration::ZERO,
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let (a, _) = w.join("r", "peer");
    let (b, jb) = w.join("r", "peer");
    w.take(a);
    w.hub.disconnect(b, w.now);
    w.drain();
    assert_eq!(w.take(a), [ServerMessage::PeerLeft { id: jb.id }]);
}

#[test]
fn frames_for_unknown_connections_are_ignored() {
    let mut w = World::new(HubConfig::default());
    w.send(ConnId(99), r#"{"type":"ping"}"#);
    w.hub.disconnect(ConnId(99), w.now);
    assert!(w.inbox.is_empty());
    assert_eq!(w.hub.stats(), HubStats::default());
}

/// One step of a random client population.
#[derive(Debug, Clone)]
enum Op {
    Connect,
    Disconnect(usize),
    Join { conn: usize, room: u8, role: u8 },
    Resume { conn: usize, token: usize },
    Signal { conn: usize, target: usize },
    ForgedSignal { conn: usize, target: usize },
    Leave(usize),
    Garbage { conn: usize, text: String },
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Connect),
        1 => any::<usize>().prop_map(Op::Disconnect),
        4 => (any::<usize>(), 0u8..3, 0u8..3).prop_map(|(conn, room, role)| Op::Join { conn, room, role }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(conn, token)| Op::Resume { conn, token }),
        6 => (any::<usize>(), any::<usize>()).prop_map(|(conn, target)| Op::Signal { conn, target }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(conn, target)| Op::ForgedSignal { conn, target }),
        1 => any::<usize>().prop_map(Op::Leave),
        1 => (any::<usize>(), ".{0,40}").prop_map(|(conn, text)| Op::Garbage { conn, text }),
        1 => (0u16..40_000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Random message sequences never panic, and every signal a connection receives comes from
    /// a participant of the room that connection is in.
    #[test]
    fn random_sequences_never_cross_rooms(ops in proptest::collection::vec(op(), 1..120)) {
        let cfg = HubConfig {
            max_peers_per_room: 4,
            max_viewers_per_broadcast: 3,
            resume_queue: 4,
            resume_grace: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(30)),
            ..HubConfig::default()
        };
        let mut hub = Hub::new(cfg, StdRng::seed_from_u64(1));
        let mut now = Instant::now();
        let mut conns: Vec<ConnId> = Vec::new();
        let mut next = 0u64;
        // What clients learned: the room each id lives in, the room each connection is in.
        let mut room_of_id: HashMap<PeerId, String> = HashMap::new();
        let mut room_of_conn: HashMap<ConnId, String> = HashMap::new();
        let mut ids: Vec<PeerId> = Vec::new();
        let mut tokens: Vec<(String, String, Role)> = Vec::new();
        let pick = |v: &Vec<ConnId>, i: usize| (!v.is_empty()).then(|| v[i % v.len()]);
        for op in ops {
            match op {
                Op::Connect => {
                    next += 1;
                    conns.push(ConnId(next));
                    hub.connect(ConnId(next), now);
                }
                Op::Disconnect(i) => if let Some(c) = pick(&conns, i) {
                    hub.disconnect(c, now);
                    room_of_conn.remove(&c);
                }
                Op::Join { conn, room, role } => if let Some(c) = pick(&conns, conn) {
                    let role = ["peer", "publisher", "viewer"][role as usize];
                    hub.handle(c, Frame::Text(&format!(r#"{{"type":"join","room":"room{room}","role":"{role}"}}"#)), now, UNIX);
                }
                Op::Resume { conn, token } => if let (Some(c), false) = (pick(&conns, conn), tokens.is_empty()) {
                    let (room, resume, role) = &tokens[token % tokens.len()];
                    hub.handle(c, Frame::Text(&format!(r#"{{"type":"join","room":"{room}","role":"{role}","resume":"{resume}"}}"#)), now, UNIX);
                }
                Op::Signal { conn, target } | Op::ForgedSignal { conn, target } => if let (Some(c), false) = (pick(&conns, conn), ids.is_empty()) {
                    let to = &ids[target % ids.len()];
                    let forged = &ids[(target / 2) % ids.len()];
                    hub.handle(c, Frame::Text(&format!(r#"{{"type":"signal","to":"{to}","from":"{forged}","data":{{"k":1}}}}"#)), now, UNIX);
                }
                Op::Leave(i) => if let Some(c) = pick(&conns, i) {
                    hub.handle(c, Frame::Text(r#"{"type":"leave"}"#), now, UNIX);
                    room_of_conn.remove(&c);
                }
                Op::Garbage { conn, text } => if let Some(c) = pick(&conns, conn) {
                    hub.handle(c, Frame::Text(&text), now, UNIX);
                }
                Op::Advance(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    while hub.poll_timeout().is_some_and(|t| t <= now) {
                        hub.handle_timeout(now);
                    }
                }
            }
            while let Some(t) = hub.poll_transmit() {
                match &t.message {
                    ServerMessage::Joined(j) => {
                        room_of_id.insert(j.id.clone(), j.room.clone());
                        room_of_conn.insert(t.conn, j.room.clone());
                        ids.push(j.id.clone());
                        tokens.push((j.room.clone(), j.resume.clone(), j.role));
                    }
                    ServerMessage::Signal { from, .. } => {
                        let recipient_room = room_of_conn.get(&t.conn);
                        prop_assert!(recipient_room.is_some(), "signal to a connection in no room");
                        prop_assert_eq!(room_of_id.get(from), recipient_room);
                    }
                    ServerMessage::PeerJoined { peer } => {
                        prop_assert_eq!(room_of_id.get(&peer.id), room_of_conn.get(&t.conn));
                    }
                    _ => {}
                }
            }
            while let Some(Event::Close { conn, .. }) = hub.poll_event() {
                room_of_conn.remove(&conn);
            }
            let stats = hub.stats();
            prop_assert!(stats.rooms <= stats.peers);
        }
    }
}

#[test]
fn absurd_durations_mean_never_instead_of_a_panic() {
    let cfg = HubConfig {
        resume_grace: Duration::MAX,
        idle_timeout: Some(Duration::MAX),
        ..HubConfig::default()
    };
    let mut w = World::new(cfg);
    let (a, _) = w.join("r", "peer");
    let (b, _) = w.join("r", "peer");
    w.take(a);
    w.hub.disconnect(b, w.now);
    w.advance(Duration::from_secs(86_400 * 365));
    assert!(
        w.take(a).is_empty(),
        "b is still in its (endless) grace period"
    );
    assert!(w.closed.is_empty());
    assert_eq!(w.hub.poll_timeout(), None);
}

//! Signaling over real WebSockets: `http::start` in-process on 127.0.0.1:0, clients from
//! tokio-tungstenite.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use server::http::{self, HttpHandle};
use server::{Metrics, SignalConfig, TurnConfig};
use signal::{ErrorCode, ErrorMessage, Joined, PeerId, Role, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for any single wait; tests never assert timings, they only refuse to hang.
const WAIT: Duration = Duration::from_secs(20);

fn config() -> SignalConfig {
    SignalConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        ..SignalConfig::default()
    }
}

async fn start(cfg: SignalConfig) -> (HttpHandle, Arc<Metrics>) {
    let turn = TurnConfig {
        static_auth_secrets: vec!["turn-secret".into()],
        ..TurnConfig::default()
    };
    let metrics = Arc::new(Metrics::default());
    let handle = http::start(&cfg, &turn, true, None, metrics.clone())
        .await
        .expect("start");
    (handle, metrics)
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(h: &HttpHandle) -> Client {
        let url = format!("ws://{}/ws", h.http);
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client { ws }
    }

    async fn send(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send");
    }

    /// The next server message (control frames skipped).
    async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message in time")
                .expect("stream open")
                .expect("frame");
            match frame {
                Message::Text(t) => return ServerMessage::parse(t.as_str()).expect("valid"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    async fn join(&mut self, room: &str, role: &str) -> Joined {
        self.join_extra(room, role, "").await
    }

    async fn join_extra(&mut self, room: &str, role: &str, extra: &str) -> Joined {
        self.send(format!(
            r#"{{"type":"join","room":"{room}","role":"{role}"{extra}}}"#
        ))
        .await;
        match self.recv().await {
            ServerMessage::Joined(j) => j,
            other => panic!("expected joined, got {other:?}"),
        }
    }

    async fn signal(&mut self, to: &PeerId, data: &str) {
        self.send(format!(r#"{{"type":"signal","to":"{to}","data":{data}}}"#))
            .await;
    }

    async fn recv_signal(&mut self) -> (PeerId, String) {
        match self.recv().await {
            ServerMessage::Signal { from, data } => (from, data.json().to_owned()),
            other => panic!("expected signal, got {other:?}"),
        }
    }

    async fn error(&mut self) -> ErrorMessage {
        match self.recv().await {
            ServerMessage::Error(e) => e,
            other => panic!("expected error, got {other:?}"),
        }
    }

    /// Reads until the server closes; returns the close code and reason.
    async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close in time");
            match frame {
                Some(Ok(Message::Close(Some(f)))) => {
                    // Reading on sends our Close reply and ends the handshake (RFC 6455 §7.1.1).
                    let _ = tokio::time::timeout(WAIT, async {
                        while let Some(Ok(_)) = self.ws.next().await {}
                    })
                    .await;
                    return Some((u16::from(f.code), f.reason.as_str().to_owned()));
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Expects nothing but control frames for a short while.
    async fn quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(200), self.recv()).await;
        assert!(got.is_err(), "expected no message, got {:?}", got.unwrap());
    }
}

/// Polls a metric until it has `value` (bounded), so that a test knows the server has
/// processed a disconnect before it goes on.
async fn wait_gauge(metrics: &Metrics, read: impl Fn(&Metrics) -> i64, value: i64) {
    for _ in 0..2000 {
        if read(metrics) == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("gauge never reached {value} (is {})", read(metrics));
}

fn open_connections(m: &Metrics) -> i64 {
    m.signal_connections
        .load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_signals() {
    let (h, _) = start(config()).await;
    let mut a = Client::connect(&h).await;
    let mut b = Client::connect(&h).await;
    let ja = a.join("room", "peer").await;
    assert!(ja.peers.is_empty());
    assert_eq!(ja.v, 1);
    let jb = b.join("room", "peer").await;
    assert_eq!(jb.peers.len(), 1);
    assert_eq!(jb.peers[0].id, ja.id);
    match a.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, jb.id),
        other => panic!("{other:?}"),
    }
    let offer = r#"{"description":{"type":"offer","sdp":"v=0\r\n"}}"#;
    b.signal(&ja.id, offer).await;
    assert_eq!(a.recv_signal().await, (jb.id.clone(), offer.to_owned()));
    let answer = r#"{"description":{"type":"answer","sdp":"v=0\r\n"}}"#;
    a.signal(&jb.id, answer).await;
    assert_eq!(b.recv_signal().await, (ja.id.clone(), answer.to_owned()));
    a.send(r#"{"type":"ping"}"#).await;
    assert_eq!(a.recv().await, ServerMessage::Pong);
    a.send(r#"{"type":"leave"}"#).await;
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { id: ja.id });
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_with_one_publisher_and_three_viewers() {
    let (h, _) = start(config()).await;
    let mut publisher = Client::connect(&h).await;
    let jp = publisher.join("show", "publisher").await;
    let mut viewers = Vec::new();
    for _ in 0..3 {
        let mut v = Client::connect(&h).await;
        let jv = v.join("show", "viewer").await;
        assert_eq!(jv.peers.len(), 1);
        assert_eq!(jv.peers[0].id, jp.id);
        assert_eq!(jv.peers[0].role, Role::Publisher);
        match publisher.recv().await {
            ServerMessage::PeerJoined { peer } => {
                assert_eq!(peer.id, jv.id);
                assert_eq!(peer.role, Role::Viewer);
            }
            other => panic!("{other:?}"),
        }
        viewers.push((v, jv));
    }
    for (v, jv) in &mut viewers {
        publisher.signal(&jv.id, r#"{"description":"offer"}"#).await;
        assert_eq!(v.recv_signal().await.0, jp.id);
        v.signal(&jp.id, r#"{"description":"answer"}"#).await;
        assert_eq!(publisher.recv_signal().await.0, jv.id);
    }
    // Viewers are invisible to each other.
    let v1_id = viewers[1].1.id.clone();
    let (v0, _) = &mut viewers[0];
    v0.signal(&v1_id, "{}").await;
    let e = v0.error().await;
    assert_eq!(e.code, ErrorCode::UNKNOWN_PEER);
    assert_eq!(e.reference.as_deref(), Some(v1_id.as_str()));
    for (v, _) in &mut viewers {
        v.quiet().await;
    }
    let mut second = Client::connect(&h).await;
    second
        .send(r#"{"type":"join","room":"show","role":"publisher"}"#)
        .await;
    assert_eq!(second.error().await.code, ErrorCode::PUBLISHER_EXISTS);
    publisher.send(r#"{"type":"leave"}"#).await;
    for (v, _) in &mut viewers {
        assert_eq!(
            v.recv().await,
            ServerMessage::PeerLeft { id: jp.id.clone() }
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_from_is_overwritten() {
    let (h, _) = start(config()).await;
    let mut a = Client::connect(&h).await;
    let mut b = Client::connect(&h).await;
    let mut c = Client::connect(&h).await;
    let ja = a.join("r", "peer").await;
    let jb = b.join("r", "peer").await;
    let jc = c.join("r", "peer").await;
    b.send(format!(
        r#"{{"type":"signal","to":"{}","from":"{}","data":{{"n":1}}}}"#,
        ja.id, jc.id
    ))
    .await;
    loop {
        match a.recv().await {
            ServerMessage::PeerJoined { .. } => continue,
            ServerMessage::Signal { from, .. } => {
                assert_eq!(from, jb.id, "the server stamps the real sender");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_crosses_rooms() {
    let (h, _) = start(config()).await;
    let mut a = Client::connect(&h).await;
    let mut b = Client::connect(&h).await;
    let mut c = Client::connect(&h).await;
    let ja = a.join("left", "peer").await;
    let jb = b.join("right", "peer").await;
    assert!(jb.peers.is_empty());
    let jc = c.join("right", "peer").await;
    assert_eq!(jc.peers.len(), 1);
    match b.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, jc.id),
        other => panic!("{other:?}"),
    }
    b.signal(&ja.id, r#"{"x":1}"#).await;
    let e = b.error().await;
    assert_eq!(e.code, ErrorCode::UNKNOWN_PEER);
    assert_eq!(e.reference.as_deref(), Some(ja.id.as_str()));
    a.quiet().await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_within_grace_keeps_id_and_delivers_queued_signals_in_order() {
    let (h, metrics) = start(config()).await;
    let mut a = Client::connect(&h).await;
    let ja = a.join("r", "peer").await;
    let mut b = Client::connect(&h).await;
    let jb = b.join("r", "peer").await;
    let _ = a.recv().await; // peer-joined
    drop(b);
    wait_gauge(&metrics, open_connections, 1).await;
    for i in 0..10 {
        a.signal(&jb.id, &format!(r#"{{"seq":{i}}}"#)).await;
    }
    a.send(r#"{"type":"ping"}"#).await;
    assert_eq!(a.recv().await, ServerMessage::Pong, "no error: queued");

    let mut b2 = Client::connect(&h).await;
    let resumed = b2
        .join_extra("r", "peer", &format!(r#","resume":"{}""#, jb.resume))
        .await;
    assert_eq!(resumed.id, jb.id);
    assert_ne!(resumed.resume, jb.resume);
    assert_eq!(resumed.peers.len(), 1);
    assert!(
        !resumed.ice_servers.is_empty(),
        "fresh credentials on resume"
    );
    for i in 0..10 {
        assert_eq!(
            b2.recv_signal().await,
            (ja.id.clone(), format!(r#"{{"seq":{i}}}"#))
        );
    }
    a.quiet().await;

    // A resume while the old connection is still open takes over from it.
    let mut b3 = Client::connect(&h).await;
    let again = b3
        .join_extra("r", "peer", &format!(r#","resume":"{}""#, resumed.resume))
        .await;
    assert_eq!(again.id, jb.id);
    assert_eq!(b2.closed().await, Some((4002, "replaced".into())));
    a.signal(&jb.id, r#"{"after":"takeover"}"#).await;
    assert_eq!(b3.recv_signal().await.1, r#"{"after":"takeover"}"#);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_grace_fails_and_peer_left_is_sent() {
    let cfg = SignalConfig {
        resume_grace: Duration::from_millis(300),
        ..config()
    };
    let (h, _) = start(cfg).await;
    let mut a = Client::connect(&h).await;
    a.join("r", "peer").await;
    let mut b = Client::connect(&h).await;
    let jb = b.join("r", "peer").await;
    let _ = a.recv().await;
    drop(b);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { id: jb.id.clone() }
    );
    let mut b2 = Client::connect(&h).await;
    b2.send(format!(
        r#"{{"type":"join","room":"r","role":"peer","resume":"{}"}}"#,
        jb.resume
    ))
    .await;
    assert_eq!(b2.error().await.code, ErrorCode::BAD_RESUME);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_errors_and_the_connection_survives() {
    let cfg = SignalConfig {
        max_message_bytes: 1000,
        ..config()
    };
    let (h, _) = start(cfg).await;
    let mut c = Client::connect(&h).await;
    let cases: Vec<(Message, ErrorCode)> = vec![
        (Message::text("{not json"), ErrorCode::BAD_JSON),
        (
            Message::text(r#"{"type":"teleport"}"#),
            ErrorCode::UNKNOWN_TYPE,
        ),
        (Message::text(r#"{"type":"join"}"#), ErrorCode::BAD_MESSAGE),
        (Message::text(r#"[1,2,3]"#), ErrorCode::BAD_MESSAGE),
        (
            Message::text(format!(r#"{{"type":"ping","x":"{}"}}"#, "a".repeat(2000))),
            ErrorCode::TOO_LARGE,
        ),
        (
            Message::binary(vec![0u8, 159, 146, 150]),
            ErrorCode::BINARY_UNSUPPORTED,
        ),
        (
            Message::text(r#"{"type":"join","room":"r","role":"admin"}"#),
            ErrorCode::BAD_ROLE,
        ),
        (
            Message::text(r#"{"type":"signal","to":"x","data":1}"#),
            ErrorCode::NOT_JOINED,
        ),
        (Message::text(r#"{"type":"leave"}"#), ErrorCode::NOT_JOINED),
    ];
    for (frame, code) in cases {
        c.ws.send(frame).await.unwrap();
        assert_eq!(c.error().await.code, code);
    }
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.recv().await, ServerMessage::Pong);
    // A frame beyond the hard cap (twice the limit, at least 64 KiB) ends the connection
    // with 1009, after an error saying why.
    c.send(format!(r#"{{"type":"ping","x":"{}"}}"#, "a".repeat(70_000)))
        .await;
    assert_eq!(c.error().await.code, ErrorCode::TOO_LARGE);
    assert_eq!(c.closed().await, Some((1009, "too-large".into())));
    // The server is fine.
    let mut d = Client::connect(&h).await;
    d.send(r#"{"type":"ping"}"#).await;
    assert_eq!(d.recv().await, ServerMessage::Pong);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_returns_its_error_code() {
    let secret = "room-secret";
    let cfg = SignalConfig {
        max_messages_per_second: 5,
        max_peers_per_room: 2,
        max_viewers_per_broadcast: 1,
        max_connections: 8,
        signal_secrets: vec![secret.into()],
        ..config()
    };
    let (h, metrics) = start(cfg).await;
    let far = 4_000_000_000;
    let tok = |room: &str, role: Role| signal::token::mint(secret.as_bytes(), room, role, far);
    let join = |room: &str, role: Role| format!(r#","token":"{}""#, tok(room, role));

    let mut c = Client::connect(&h).await;
    c.send(r#"{"type":"join","room":"m","role":"peer"}"#).await;
    assert_eq!(c.error().await.code, ErrorCode::BAD_TOKEN, "token missing");
    c.send(format!(
        r#"{{"type":"join","room":"m","role":"peer","token":"{}"}}"#,
        tok("other", Role::Peer)
    ))
    .await;
    assert_eq!(
        c.error().await.code,
        ErrorCode::BAD_TOKEN,
        "token for another room"
    );
    c.send(r#"{"type":"join","room":"m","role":"peer","resume":"nobody.secret"}"#)
        .await;
    assert_eq!(c.error().await.code, ErrorCode::BAD_RESUME);

    // A burst beyond the rate (5/s, burst 5) is refused message by message.
    let mut r = Client::connect(&h).await;
    for _ in 0..8 {
        r.send(r#"{"type":"ping"}"#).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    for _ in 0..8 {
        match r.recv().await {
            ServerMessage::Pong => pongs += 1,
            ServerMessage::Error(e) if e.code == ErrorCode::RATE_LIMITED => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(
        pongs >= 5 && limited >= 1,
        "{pongs} pongs, {limited} refused"
    );
    drop(r);

    let mut p1 = Client::connect(&h).await;
    p1.join_extra("m", "peer", &join("m", Role::Peer)).await;
    p1.send(format!(
        r#"{{"type":"join","room":"m","role":"peer"{}}}"#,
        join("m", Role::Peer)
    ))
    .await;
    assert_eq!(p1.error().await.code, ErrorCode::ALREADY_JOINED);
    let mut p2 = Client::connect(&h).await;
    p2.join_extra("m", "peer", &join("m", Role::Peer)).await;
    let mut p3 = Client::connect(&h).await;
    p3.send(format!(
        r#"{{"type":"join","room":"m","role":"peer"{}}}"#,
        join("m", Role::Peer)
    ))
    .await;
    assert_eq!(p3.error().await.code, ErrorCode::ROOM_FULL);
    p3.send(format!(
        r#"{{"type":"join","room":"m","role":"viewer"{}}}"#,
        join("m", Role::Viewer)
    ))
    .await;
    assert_eq!(p3.error().await.code, ErrorCode::ROLE_CONFLICT);

    let mut v1 = Client::connect(&h).await;
    v1.join_extra("b", "viewer", &join("b", Role::Viewer)).await;
    let mut v2 = Client::connect(&h).await;
    v2.send(format!(
        r#"{{"type":"join","room":"b","role":"viewer"{}}}"#,
        join("b", Role::Viewer)
    ))
    .await;
    assert_eq!(v2.error().await.code, ErrorCode::BROADCAST_FULL);

    // Six connections are open (c, p1, p2, p3, v1, v2); two more fit, the ninth does not.
    wait_gauge(&metrics, open_connections, 6).await;
    let _x = Client::connect(&h).await;
    let _y = Client::connect(&h).await;
    let mut z = Client::connect(&h).await;
    assert_eq!(z.error().await.code, ErrorCode::SERVER_FULL);
    assert_eq!(z.closed().await, Some((1013, "server-full".into())));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_disconnected() {
    let cfg = SignalConfig {
        max_messages_per_second: 5,
        ..config()
    };
    let (h, _) = start(cfg).await;
    let mut c = Client::connect(&h).await;
    for _ in 0..100 {
        if c.ws
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(c.closed().await, Some((4003, "rate-limited".into())));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_cut_off_without_delaying_others() {
    let cfg = SignalConfig {
        send_queue: 8,
        max_messages_per_second: 0,
        ..config()
    };
    let (h, metrics) = start(cfg).await;
    let mut fast = Client::connect(&h).await;
    let mut slow = Client::connect(&h).await;
    let mut sender = Client::connect(&h).await;
    let jf = fast.join("r", "peer").await;
    let js = slow.join("r", "peer").await;
    sender.join("r", "peer").await;
    let _ = fast.recv().await;
    let _ = fast.recv().await;
    // `slow` never reads while ~25 MB are sent to it: socket buffers and its queue fill up.
    let blob = format!(r#"{{"pad":"{}"}}"#, "x".repeat(60_000));
    let slow_consumers = || {
        metrics
            .signal_slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let mut sent = 0;
    while slow_consumers() == 0 && sent < 2000 {
        sender.signal(&js.id, &blob).await;
        sent += 1;
    }
    assert_eq!(slow_consumers(), 1, "cut off after {sent} signals");
    // Everyone else is served as usual.
    sender.signal(&jf.id, r#"{"still":"here"}"#).await;
    loop {
        match fast.recv().await {
            ServerMessage::Signal { data, .. } => {
                assert_eq!(data.json(), r#"{"still":"here"}"#);
                break;
            }
            ServerMessage::PeerJoined { .. } | ServerMessage::PeerLeft { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
    // Once the slow client reads, it finds the close reason after what was buffered.
    assert_eq!(slow.closed().await, Some((4000, "slow-consumer".into())));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_is_checked_when_configured() {
    let cfg = SignalConfig {
        allowed_origins: vec!["https://app.example".into()],
        ..config()
    };
    let (h, _) = start(cfg).await;
    let request = |origin: &str| {
        let mut r = format!("ws://{}/ws", h.http).into_client_request().unwrap();
        r.headers_mut().insert("origin", origin.parse().unwrap());
        r
    };
    let refused = tokio_tungstenite::connect_async(request("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request("https://app.example"))
        .await
        .expect("allowed origin");
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), r#"{"type":"pong"}"#);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_with_going_away() {
    let (h, _) = start(config()).await;
    let mut c = Client::connect(&h).await;
    c.join("r", "peer").await;
    let addr = h.http;
    h.shutdown().await;
    assert_eq!(c.closed().await, Some((1001, "shutdown".into())));
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

/// 1,000 clients in 100 rooms of 10; every client signals every other client of its room
/// and must receive all 9 signals addressed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_in_a_hundred_rooms_get_every_signal() {
    const ROOMS: usize = 100;
    const PER_ROOM: usize = 10;
    let (h, _) = start(config()).await;
    let h = Arc::new(h);
    let t0 = std::time::Instant::now();
    // Phase 1: everyone connects and joins (bounded concurrency keeps the accept queue sane).
    let joined: Vec<(usize, Client, Joined)> = futures_util::stream::iter(0..ROOMS * PER_ROOM)
        .map(|i| {
            let h = h.clone();
            async move {
                let mut c = Client::connect(&h).await;
                let j = c.join(&format!("room-{}", i % ROOMS), "peer").await;
                (i % ROOMS, c, j)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let joined_after = t0.elapsed();
    let mut rooms: Vec<Vec<PeerId>> = vec![Vec::new(); ROOMS];
    for (room, _, j) in &joined {
        rooms[*room].push(j.id.clone());
    }
    let rooms = Arc::new(rooms);
    // Phase 2: every client signals every other member and reads until it has heard from all.
    let tasks: Vec<_> = joined
        .into_iter()
        .map(|(room, mut c, j)| {
            let rooms = rooms.clone();
            tokio::spawn(async move {
                let others: Vec<PeerId> = rooms[room]
                    .iter()
                    .filter(|id| **id != j.id)
                    .cloned()
                    .collect();
                for to in &others {
                    c.signal(to, &format!(r#"{{"to":"{to}","from":"{}"}}"#, j.id))
                        .await;
                }
                let mut heard = std::collections::HashSet::new();
                while heard.len() < others.len() {
                    match c.recv().await {
                        ServerMessage::Signal { from, data } => {
                            assert!(others.contains(&from), "signal from outside the room");
                            assert_eq!(
                                data.json(),
                                format!(r#"{{"to":"{}","from":"{from}"}}"#, j.id)
                            );
                            assert!(heard.insert(from), "duplicate signal");
                        }
                        ServerMessage::PeerJoined { .. } => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                c
            })
        })
        .collect();
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.expect("client task"));
    }
    assert_eq!(clients.len(), ROOMS * PER_ROOM);
    // A figure for the record, never an assertion.
    eprintln!(
        "{} clients joined in {joined_after:?}; {} signals delivered {:?} later",
        ROOMS * PER_ROOM,
        ROOMS * PER_ROOM * (PER_ROOM - 1),
        t0.elapsed() - joined_after
    );
    drop(clients);
    match Arc::try_unwrap(h) {
        Ok(h) => h.shutdown().await,
        Err(_) => panic!("handle still shared"),
    }
}

/// A publisher is not mistaken for a slow consumer when a crowd of viewers joins at once
/// (each join queues a `peer-joined` for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_keeps_up_with_a_crowd_joining_at_once() {
    const VIEWERS: usize = 500;
    let (h, metrics) = start(config()).await;
    let h = Arc::new(h);
    let mut publisher = Client::connect(&h).await;
    publisher.join("crowd", "publisher").await;
    // Connect everyone first, then send all joins at the same moment.
    let clients: Vec<Client> = futures_util::stream::iter(0..VIEWERS)
        .map(|_| {
            let h = h.clone();
            async move { Client::connect(&h).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let go = Arc::new(tokio::sync::Barrier::new(VIEWERS));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let go = go.clone();
            tokio::spawn(async move {
                go.wait().await;
                c.join("crowd", "viewer").await;
                c
            })
        })
        .collect();
    let mut seen = 0;
    while seen < VIEWERS {
        match publisher.recv().await {
            ServerMessage::PeerJoined { .. } => seen += 1,
            other => panic!("{other:?}"),
        }
    }
    let mut viewers = Vec::new();
    for t in tasks {
        viewers.push(t.await.unwrap());
    }
    assert_eq!(
        metrics
            .signal_slow_consumers
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop(viewers);
    drop(publisher);
    match Arc::try_unwrap(h) {
        Ok(h) => h.shutdown().await,
        Err(_) => panic!("handle still shared"),
    }
}

/// The server pings; a client that answers (tungstenite does while it reads) stays, one that
/// goes silent for three intervals is closed with 4001 and its participant can still resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_dropped_and_live_ones_kept() {
    let cfg = SignalConfig {
        ping_interval: Duration::from_millis(200),
        ..config()
    };
    let (h, _) = start(cfg).await;
    let mut live = Client::connect(&h).await;
    let mut silent = Client::connect(&h).await;
    live.join("r", "peer").await;
    let js = silent.join("r", "peer").await;
    let _ = live.recv().await; // peer-joined
                               // `live` keeps reading (and so answering pings) for five intervals; `silent` reads nothing.
    let waited = tokio::time::timeout(Duration::from_millis(1000), live.recv()).await;
    assert!(
        waited.is_err(),
        "nothing but pings expected, got {waited:?}"
    );
    live.send(r#"{"type":"ping"}"#).await;
    assert_eq!(live.recv().await, ServerMessage::Pong);
    assert_eq!(silent.closed().await, Some((4001, "idle".into())));
    // The participant went into its grace period, not away.
    let mut back = Client::connect(&h).await;
    let j = back
        .join_extra("r", "peer", &format!(r#","resume":"{}""#, js.resume))
        .await;
    assert_eq!(j.id, js.id);
    h.shutdown().await;
}

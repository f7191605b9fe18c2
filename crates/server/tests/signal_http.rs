//! The HTTP side of the signaling server over real sockets: ICE server API, health, metrics,
//! static pages, Origin-free endpoints and HTTPS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use server::http::{self, HttpHandle};
use server::{Metrics, SignalConfig, TlsConfig, TurnConfig};
use signal::{IceServer, Role, ServerMessage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);
const TURN_SECRET: &str = "turn-secret";

fn config() -> SignalConfig {
    SignalConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        https: "127.0.0.1:0".parse().unwrap(),
        ..SignalConfig::default()
    }
}

fn turn() -> TurnConfig {
    TurnConfig {
        port: 13478,
        tls_port: 15349,
        static_auth_secrets: vec![TURN_SECRET.into(), "older-secret".into()],
        ..TurnConfig::default()
    }
}

async fn start(cfg: SignalConfig, turn_running: bool) -> (HttpHandle, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let h = http::start(&cfg, &turn(), turn_running, None, metrics.clone())
        .await
        .expect("start");
    (h, metrics)
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A minimal HTTP/1.1 GET (`Connection: close`, body read to EOF).
async fn get_over<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
    extra: &str,
) -> Response {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn get(h: &HttpHandle, path: &str) -> Response {
    get_with(h, path, "").await
}

async fn get_with(h: &HttpHandle, path: &str, extra: &str) -> Response {
    let tcp = TcpStream::connect(h.http).await.unwrap();
    get_over(tcp, &h.http.to_string(), path, extra).await
}

fn ice_servers(v: &serde_json::Value) -> Vec<IceServer> {
    serde_json::from_value(v["ice_servers"].clone()).expect("ice_servers")
}

/// The TURN entry's credentials verify against the first TURN secret, as the TURN server
/// will check them (draft-uberti-behave-turn-rest-00 §2.2).
fn assert_turn_credentials(servers: &[IceServer], user: Option<&str>) -> String {
    let turn = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("a TURN entry");
    let username = turn.username.clone().expect("username");
    let credential = turn.credential.clone().expect("credential");
    assert_eq!(
        credential,
        turn::rest::rest_password(TURN_SECRET.as_bytes(), &username)
    );
    let expiry = turn::rest::expiry_of(&username).expect("expiry in username");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now && expiry <= now + 3600 + 5, "expiry {expiry}");
    if let Some(user) = user {
        assert_eq!(username.split_once(':').map(|(_, u)| u), Some(user));
    }
    username
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_api_hands_out_credentials_that_verify() {
    let (h, _) = start(config(), true).await;
    let r = get(&h, "/api/ice-servers").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["ttl"], 3600);
    let servers = ice_servers(&body);
    assert_eq!(servers[0].urls, ["stun:127.0.0.1:13478"]);
    assert_eq!(
        servers[1].urls,
        [
            "turn:127.0.0.1:13478?transport=udp",
            "turn:127.0.0.1:13478?transport=tcp"
        ],
        "no turns: without TLS; host from the Host header, port stripped"
    );
    assert_turn_credentials(&servers, None);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_api_needs_a_token_when_rooms_need_one() {
    let cfg = SignalConfig {
        signal_secrets: vec!["room-secret".into()],
        public_host: Some("turn.example.org".into()),
        ..config()
    };
    let (h, _) = start(cfg, true).await;
    let r = get(&h, "/api/ice-servers").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "bad-token");
    let cross = get_with(
        &h,
        "/api/ice-servers",
        "Origin: https://elsewhere.example\r\n",
    )
    .await;
    assert_eq!(
        cross.header("access-control-allow-origin"),
        Some("*"),
        "no --allowed-origin: readable from any page, like /ws"
    );
    let forged = signal::token::mint(b"guess", "r", Role::Peer, 4_000_000_000);
    assert_eq!(
        get(&h, &format!("/api/ice-servers?token={forged}"))
            .await
            .status,
        401
    );
    let token = signal::token::mint(b"room-secret", "r", Role::Viewer, 4_000_000_000);
    let r = get(&h, &format!("/api/ice-servers?token={token}")).await;
    assert_eq!(r.status, 200);
    let servers = ice_servers(&r.json());
    assert_eq!(servers[0].urls, ["stun:turn.example.org:13478"]);
    assert_turn_credentials(&servers, None);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_servers_api_follows_the_origin_list() {
    let cfg = SignalConfig {
        allowed_origins: vec!["https://app.example".into()],
        ..config()
    };
    let (h, _) = start(cfg, true).await;
    let ok = get_with(&h, "/api/ice-servers", "Origin: https://app.example\r\n").await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let other = get_with(&h, "/api/ice-servers", "Origin: https://evil.example\r\n").await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_carries_credentials_for_the_peer_id() {
    let (h, _) = start(config(), true).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", h.http))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"join","room":"r","role":"peer"}"#))
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ServerMessage::Joined(j) = ServerMessage::parse(reply.to_text().unwrap()).unwrap() else {
        panic!("expected joined: {reply:?}");
    };
    assert_eq!(j.ice_ttl, 3600);
    assert_turn_credentials(&j.ice_servers, Some(j.id.as_str()));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_turn_only_extra_ice_urls_are_listed() {
    let cfg = SignalConfig {
        extra_ice_urls: vec!["stun:stun.example.net:3478".into()],
        ..config()
    };
    let (h, _) = start(cfg, false).await;
    let servers = ice_servers(&get(&h, "/api/ice-servers").await.json());
    assert_eq!(
        servers,
        [IceServer {
            urls: vec!["stun:stun.example.net:3478".into()],
            username: None,
            credential: None
        }]
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_respond() {
    let (h, _) = start(config(), true).await;
    let r = get(&h, "/healthz").await;
    assert_eq!((r.status, r.text()), (200, "ok\n"));

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", h.http))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"join","room":"r","role":"peer"}"#))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    ws.send(Message::text("garbage")).await.unwrap();
    tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let r = get(&h, "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    for line in [
        "rendezvous_signal_connections 1",
        "rendezvous_signal_rooms 1",
        "rendezvous_signal_peers 1",
        "rendezvous_signal_messages_in_total 2",
        "rendezvous_signal_messages_out_total 2",
        "rendezvous_signal_errors_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pages_are_served_with_types_and_no_cache() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let (h, _) = start(config(), true).await;
    assert_eq!(get(&h, "/no-such-page").await.status, 404);
    assert_eq!(get(&h, "/../Cargo.toml").await.status, 404);
    if !web.join("index.html").exists() {
        h.shutdown().await;
        return;
    }
    let index = get(&h, "/").await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert_eq!(
        index.body,
        std::fs::read(web.join("index.html")).unwrap(),
        "the page as written"
    );
    let etag = index.header("etag").expect("etag").to_owned();
    let again = get_with(&h, "/", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(again.status, 304);

    if web.join("rendezvous.js").exists() {
        let js = get(&h, "/rendezvous.js").await;
        assert_eq!(js.status, 200);
        assert_eq!(
            js.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
    }
    if web.join("call.html").exists() {
        let a = get(&h, "/call").await;
        let b = get(&h, "/call.html").await;
        assert_eq!((a.status, b.status), (200, 200));
        assert_eq!(a.body, b.body);
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_same_router() {
    let identity = server::tls::load(
        &TlsConfig {
            self_signed: true,
            ..TlsConfig::default()
        },
        &[],
    )
    .expect("self-signed certificate")
    .expect("TLS on");
    let metrics = Arc::new(Metrics::default());
    let h = http::start(
        &config(),
        &turn(),
        true,
        Some(identity.server_config.clone()),
        metrics,
    )
    .await
    .expect("start");
    let https = h.https.expect("https address");

    let mut roots = rustls::RootCertStore::empty();
    for cert in &identity.chain {
        roots.add(cert.clone()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();

    let tls = connector
        .connect(name.clone(), TcpStream::connect(https).await.unwrap())
        .await
        .expect("TLS handshake");
    let r = get_over(tls, "localhost", "/api/ice-servers", "").await;
    assert_eq!(r.status, 200);
    let servers = ice_servers(&r.json());
    assert!(
        servers[1]
            .urls
            .contains(&"turns:localhost:15349?transport=tcp".to_string()),
        "{servers:?}"
    );

    // Signaling over wss: the same hub.
    let tls = connector
        .connect(name, TcpStream::connect(https).await.unwrap())
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", tls)
        .await
        .expect("wss handshake");
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.to_text().unwrap(), r#"{"type":"pong"}"#);
    h.shutdown().await;
}

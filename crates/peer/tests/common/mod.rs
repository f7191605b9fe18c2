//! A Rendezvous server (STUN/TURN + signaling) started in-process on loopback for the tests.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use server::{Metrics, SignalConfig, TlsConfig, TurnConfig};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub struct TestServer {
    pub url: String,
    pub turn_udp: SocketAddr,
    turn: Option<server::turn::TurnHandle>,
    http: Option<server::http::HttpHandle>,
}

impl TestServer {
    /// STUN/TURN (UDP, TCP and, with a self-signed certificate, TLS) and signaling on
    /// 127.0.0.1 ephemeral ports; TURN may relay between loopback addresses.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with changes to the TURN configuration.
    pub async fn start_with(tune: impl FnOnce(&mut TurnConfig)) -> TestServer {
        let identity = server::tls::load(
            &TlsConfig {
                self_signed: true,
                ..TlsConfig::default()
            },
            &["127.0.0.1".to_owned()],
        )
        .expect("self-signed certificate")
        .expect("an identity");
        let tls = Some(identity.server_config.clone());
        let metrics = Arc::new(Metrics::default());
        let mut turn_cfg = TurnConfig {
            bind: vec![LOOPBACK],
            port: 0,
            tls_port: 0,
            allow_peers: vec!["127.0.0.0/8".into()],
            static_auth_secrets: vec!["rendezvous-peer-tests".into()],
            ..TurnConfig::default()
        };
        tune(&mut turn_cfg);
        let turn = server::turn::start(&turn_cfg, tls.clone(), metrics.clone())
            .await
            .expect("TURN server starts");
        turn_cfg.port = turn.udp[0].port();
        turn_cfg.tls_port = turn.tls.first().map(|a| a.port()).unwrap_or(0);
        let signal_cfg = SignalConfig {
            http: SocketAddr::new(LOOPBACK, 0),
            https: SocketAddr::new(LOOPBACK, 0),
            ..SignalConfig::default()
        };
        let http = server::http::start(&signal_cfg, &turn_cfg, true, tls, metrics)
            .await
            .expect("signaling server starts");
        TestServer {
            url: format!("http://{}", http.http),
            turn_udp: turn.udp[0],
            turn: Some(turn),
            http: Some(http),
        }
    }

    pub async fn stop(mut self) {
        if let Some(h) = self.http.take() {
            h.shutdown().await;
        }
        if let Some(t) = self.turn.take() {
            t.shutdown().await;
        }
    }
}

/// Options for a peer on this machine: loopback host candidates only, the test server's
/// self-signed certificate accepted.
pub fn connect(server: &TestServer, room: &str) -> peer::ConnectOptions {
    let mut c = peer::ConnectOptions::new(server.url.clone(), room);
    c.host_ips = vec![LOOPBACK];
    c.insecure = true;
    c.connect_timeout = 30;
    c
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rendezvous-peer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` pseudo-random bytes (xorshift; the content only has to be hard to get right by accident).
pub fn write_random_file(path: &Path, len: usize, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

//! Shared helpers for the STUN/TURN integration tests (`mod turn_support;`).
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use server::turn::{start, TurnHandle};
use server::{Metrics, TurnConfig};
use turn::client::{Client, ClientConfig, ClientEvent};

pub const SECRET: &str = "rest-secret-for-tests";

/// The coturn tool `name`, or a failure telling how to get it.
pub fn require(name: &str) -> String {
    let found = std::process::Command::new("which")
        .arg(name)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} not found: install coturn's tools with `apt-get install -y coturn` to run the STUN/TURN interop tests"
    );
    name.to_string()
}

/// A loopback test server configuration: ephemeral port, loopback peers allowed.
pub fn config() -> TurnConfig {
    TurnConfig {
        bind: vec!["127.0.0.1".parse().unwrap()],
        port: 0,
        tls_port: 0,
        users: vec![("alice".into(), "secret".into())],
        static_auth_secrets: vec![SECRET.into()],
        allow_peers: vec!["127.0.0.0/8".into(), "::1/128".into()],
        relay_ip6: Some("::1".parse().unwrap()),
        max_allocations_per_user: 1000,
        ..TurnConfig::default()
    }
}

pub async fn start_server(
    cfg: &TurnConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (TurnHandle, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let handle = start(cfg, tls, metrics.clone())
        .await
        .expect("server starts");
    (handle, metrics)
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port(ip: &str) -> u16 {
    let s = UdpSocket::bind((ip.parse::<IpAddr>().unwrap(), 0)).unwrap();
    s.local_addr().unwrap().port()
}

/// Run a tool under `timeout`, returning stdout + stderr.
pub async fn run(tool: &str, args: &[String], limit: Duration) -> String {
    let mut cmd = tokio::process::Command::new("timeout");
    cmd.arg("-s")
        .arg("KILL")
        .arg(limit.as_secs().to_string())
        .arg(tool)
        .args(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = cmd.output().await.expect("tool runs");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// The UDP echo peer from coturn on both loopback addresses.
pub struct EchoPeer {
    pub port: u16,
    child: tokio::process::Child,
}

impl EchoPeer {
    pub async fn start() -> EchoPeer {
        let tool = require("turnutils_peer");
        let port = free_udp_port("127.0.0.1");
        // Spawned directly (not under `timeout`) so that killing the child on drop ends the
        // echo peer itself rather than orphaning it.
        let child = tokio::process::Command::new(&tool)
            .args(["-L", "127.0.0.1", "-L", "::1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("turnutils_peer starts");
        // The peer binds within milliseconds; wait until its port is taken.
        for _ in 0..100 {
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        EchoPeer { port, child }
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Figures from a `turnutils_uclient` run.
#[derive(Debug, PartialEq, Eq)]
pub struct UclientReport {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
}

fn number_after(out: &str, key: &str) -> Option<u64> {
    let at = out.rfind(key)? + key.len();
    let digits: String = out[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

pub fn parse_uclient(out: &str) -> Option<UclientReport> {
    Some(UclientReport {
        sent: number_after(out, "tot_send_msgs=")?,
        received: number_after(out, "tot_recv_msgs=")?,
        lost: number_after(out, "Total lost packets")?,
    })
}

/// Run `turnutils_uclient` against `server` and assert zero loss with traffic.
pub async fn uclient_zero_loss(server: SocketAddr, extra: &[&str]) -> UclientReport {
    let tool = require("turnutils_uclient");
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend([
        "-p".into(),
        server.port().to_string(),
        server.ip().to_string(),
    ]);
    let out = run(&tool, &args, Duration::from_secs(60)).await;
    let report =
        parse_uclient(&out).unwrap_or_else(|| panic!("no uclient report in output:\n{out}"));
    assert!(
        report.sent > 0 && report.received > 0,
        "no traffic: {report:?}\n{out}"
    );
    assert_eq!(report.lost, 0, "lost packets: {report:?}\n{out}");
    assert_eq!(report.sent, report.received, "{out}");
    report
}

/// The Rendezvous TURN client core driven over a real UDP socket.
pub struct Driver {
    pub client: Client,
    pub socket: tokio::net::UdpSocket,
    pub events: Vec<ClientEvent>,
    pub received: Vec<(SocketAddr, Vec<u8>)>,
}

impl Driver {
    pub fn new(
        server: SocketAddr,
        socket: tokio::net::UdpSocket,
        user: &str,
        password: &str,
    ) -> Driver {
        use rand::SeedableRng;
        Driver {
            client: Client::new(
                ClientConfig {
                    server,
                    reliable: false,
                    username: user.into(),
                    password: password.into(),
                    lifetime: None,
                    ipv6: false,
                },
                rand::rngs::StdRng::seed_from_u64(u64::from(
                    socket.local_addr().map_or(0, |a| a.port()),
                )),
            ),
            socket,
            events: Vec::new(),
            received: Vec::new(),
        }
    }

    pub async fn flush(&mut self) {
        let mut buf = Vec::new();
        while let Some(to) = self.client.poll_transmit(&mut buf) {
            self.socket.send_to(&buf, to).await.unwrap();
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
    }

    /// Drive the client until `done` holds (checked after every input), at most `limit`.
    pub async fn run_until(&mut self, done: impl Fn(&Driver) -> bool, limit: Duration) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < end {
            if done(self) {
                return true;
            }
            self.run_for(Duration::from_millis(20)).await;
        }
        done(self)
    }

    /// Whether the client has heard of an allocation outcome (success or failure).
    pub fn allocate_settled(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(
                e,
                ClientEvent::Allocated { .. } | ClientEvent::RequestFailed { .. }
            )
        })
    }

    /// Drive the client for `d` of real time.
    pub async fn run_for(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        let mut buf = vec![0u8; 2048];
        loop {
            self.flush().await;
            let wake = self
                .client
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .map_or(end, |t| t.min(end));
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, _)) = r {
                        if let Some(got) = self.client.handle_input(std::time::Instant::now(), &buf[..n]) {
                            self.received.push((got.peer, buf[got.data].to_vec()));
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    self.client.handle_timeout(std::time::Instant::now());
                    if tokio::time::Instant::now() >= end {
                        self.flush().await;
                        return;
                    }
                }
            }
        }
    }
}

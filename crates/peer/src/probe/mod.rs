//! `rendezvous probe [--server URL]`: what this network allows. Lists the candidates a peer
//! would gather (host, server-reflexive, relay), classifies NAT mapping and filtering with
//! RFC 5780 when the STUN server has a second address, and checks TURN over UDP, TCP and TLS
//! with the time each takes.

mod conn;
mod http;
mod nat;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::binding;
use crate::ice_server::{IceServer, IceUrl};
use crate::net::{host_ips, CandidateType};
use crate::report::{transport_name, Event as Report, Reporter};
use crate::signaling::ServerUrl;
use crate::transaction::{Retransmit, Transaction};
use crate::turn_client::{Credentials, TurnClient, TurnEvent, TurnTransport};
use crate::PeerError;
use conn::Conn;
pub use nat::{Filtering, Mapping, NatBehaviour};

/// Longest wait for one server.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// `rendezvous probe`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeOptions {
    /// Signaling server whose `/api/ice-servers` lists the STUN and TURN servers to test.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "RENDEZVOUS_SERVER"
    )]
    pub server: String,
    /// ICE server URL to test instead (stun:, turn:, turns:), repeatable.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,
    #[arg(long)]
    pub ice_username: Option<String>,
    #[arg(long)]
    pub ice_credential: Option<String>,
    /// Host candidate addresses; default: every usable interface.
    #[arg(long = "host-ip")]
    pub host_ips: Vec<IpAddr>,
    /// Count loopback addresses as host candidates too.
    #[arg(long)]
    pub include_loopback: bool,
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    #[arg(long)]
    pub insecure: bool,
    /// One JSON object per line on stdout.
    #[arg(long)]
    pub json: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

impl ProbeOptions {
    pub fn new(server: impl Into<String>) -> Self {
        ProbeOptions {
            server: server.into(),
            ice_servers: Vec::new(),
            ice_username: None,
            ice_credential: None,
            host_ips: Vec::new(),
            include_loopback: false,
            ca_file: None,
            insecure: false,
            json: false,
            quiet: true,
        }
    }
}

/// A candidate the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeCandidate {
    #[serde(rename = "type")]
    pub kind: CandidateType,
    pub address: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<TurnTransport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// One STUN server's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StunResult {
    pub server: String,
    pub ok: bool,
    pub mapped: Option<SocketAddr>,
    pub other_address: Option<SocketAddr>,
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
}

/// One TURN server and transport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnResult {
    pub url: String,
    pub transport: TurnTransport,
    pub ok: bool,
    pub relayed: Option<SocketAddr>,
    /// TCP (and TLS) setup time.
    pub connect_ms: Option<f64>,
    /// From the first Allocate to the allocation (two round trips with the 401 challenge).
    pub allocate_ms: Option<f64>,
    /// One Binding round trip over the same path.
    pub rtt_ms: Option<f64>,
    pub error: Option<String>,
}

/// Everything the probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    pub candidates: Vec<ProbeCandidate>,
    pub stun: Vec<StunResult>,
    pub turn: Vec<TurnResult>,
    pub nat: Option<NatBehaviour>,
}

impl ProbeReport {
    pub fn has(&self, kind: CandidateType) -> bool {
        self.candidates.iter().any(|c| c.kind == kind)
    }
}

/// Runs every test and reports; fails only when no ICE server could be found at all.
pub async fn run(opts: ProbeOptions) -> Result<ProbeReport, PeerError> {
    let reporter = Reporter::new(opts.json, opts.quiet);
    let tls = crate::tls::client_config(opts.ca_file.as_deref(), opts.insecure)?;
    let ice_servers: Vec<IceServer> = if opts.ice_servers.is_empty() {
        let server = ServerUrl::parse(&opts.server)?;
        http::ice_servers(&server, tls.clone()).await?
    } else {
        crate::ice_server::from_flags(
            &opts.ice_servers,
            opts.ice_username.as_deref(),
            opts.ice_credential.as_deref(),
        )
    };
    let ips = if opts.host_ips.is_empty() {
        host_ips(opts.include_loopback)
    } else {
        opts.host_ips.clone()
    };
    let mut report = ProbeReport {
        candidates: Vec::new(),
        stun: Vec::new(),
        turn: Vec::new(),
        nat: None,
    };
    for ip in &ips {
        report.candidates.push(ProbeCandidate {
            kind: CandidateType::Host,
            address: SocketAddr::new(*ip, 0),
            relay_protocol: None,
            server: None,
        });
    }
    for server in &ice_servers {
        for url in &server.urls {
            let parsed = match IceUrl::parse(url) {
                Ok(p) => p,
                Err(e) => {
                    reporter.emit(&Report::ServerFailed {
                        server: url,
                        reason: &e.to_string(),
                    });
                    continue;
                }
            };
            match parsed {
                IceUrl::Stun { host, port } => {
                    let (result, nat) =
                        stun_probe(url, &host, port, &ips, &mut report.candidates).await;
                    if report.nat.is_none() {
                        report.nat = nat;
                    }
                    report.stun.push(result);
                }
                IceUrl::Turn {
                    host,
                    port,
                    transport,
                } => {
                    let creds = server.username.clone().zip(server.credential.clone());
                    let result = turn_probe(url, &host, port, transport, creds, tls.clone()).await;
                    if let Some(relayed) = result.relayed {
                        report.candidates.push(ProbeCandidate {
                            kind: CandidateType::Relay,
                            address: relayed,
                            relay_protocol: Some(transport),
                            server: Some(url.clone()),
                        });
                    }
                    report.turn.push(result);
                }
            }
        }
    }
    print(&reporter, &report);
    Ok(report)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Binding from each host address; the first answer also runs the RFC 5780 tests.
async fn stun_probe(
    url: &str,
    host: &str,
    port: u16,
    ips: &[IpAddr],
    candidates: &mut Vec<ProbeCandidate>,
) -> (StunResult, Option<NatBehaviour>) {
    let mut result = StunResult {
        server: url.to_owned(),
        ok: false,
        mapped: None,
        other_address: None,
        rtt_ms: None,
        error: None,
    };
    let server = match tokio::net::lookup_host((host, port))
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            result.error = Some(format!("cannot resolve {host}"));
            return (result, None);
        }
    };
    let mut nat = None;
    for ip in ips.iter().filter(|ip| ip.is_ipv4() == server.is_ipv4()) {
        let socket = match tokio::net::UdpSocket::bind(SocketAddr::new(*ip, 0)).await {
            Ok(s) => s,
            Err(e) => {
                result.error = Some(e.to_string());
                continue;
            }
        };
        let started = Instant::now();
        match nat::binding(&socket, server, None).await {
            Ok(r) => {
                result.ok = true;
                result.rtt_ms.get_or_insert(ms(started.elapsed()));
                result.mapped.get_or_insert(r.mapped);
                result.other_address = result.other_address.or(r.other_address);
                candidates.push(ProbeCandidate {
                    kind: CandidateType::Srflx,
                    address: r.mapped,
                    relay_protocol: None,
                    server: Some(url.to_owned()),
                });
                if nat.is_none() {
                    nat = Some(nat::classify(&socket, server, r).await);
                }
            }
            Err(e) => result.error = Some(e),
        }
    }
    (result, nat)
}

/// Allocate over `transport`, then time one Binding over the same path.
async fn turn_probe(
    url: &str,
    host: &str,
    port: u16,
    transport: TurnTransport,
    creds: Option<(String, String)>,
    tls: Arc<rustls::ClientConfig>,
) -> TurnResult {
    let mut result = TurnResult {
        url: url.to_owned(),
        transport,
        ok: false,
        relayed: None,
        connect_ms: None,
        allocate_ms: None,
        rtt_ms: None,
        error: None,
    };
    let Some((username, password)) = creds else {
        result.error = Some("no username and credential for this TURN server".into());
        return result;
    };
    let server = match tokio::net::lookup_host((host, port))
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(a)) => a,
        _ => {
            result.error = Some(format!("cannot resolve {host}"));
            return result;
        }
    };
    let (mut conn, connect) = match Conn::open(server, transport, host, tls, None).await {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    if transport != TurnTransport::Udp {
        result.connect_ms = Some(ms(connect));
    }
    let started = Instant::now();
    let mut client = TurnClient::new(
        server,
        transport,
        Credentials { username, password },
        rand::random(),
    );
    client.allocate(started);
    let give_up = started + SERVER_TIMEOUT * 2;
    let outcome = loop {
        let mut send_error = None;
        while let Some(bytes) = client.poll_transmit() {
            if let Err(e) = conn.send(&bytes).await {
                send_error = Some(e.to_string());
            }
        }
        if let Some(e) = send_error {
            break Err(e);
        }
        match client.poll_event() {
            Some(TurnEvent::Allocated { relayed, .. }) => break Ok(relayed),
            Some(TurnEvent::Failed(e)) => break Err(e.to_string()),
            _ => {}
        }
        let now = Instant::now();
        if now >= give_up {
            break Err("no allocation in time".into());
        }
        let deadline = client.poll_timeout().unwrap_or(give_up).min(give_up);
        match conn.recv(deadline).await {
            Some(data) => {
                let _ = client.handle_input(Instant::now(), &data);
            }
            None if conn.reliable() && Instant::now() < deadline => {
                break Err("the server closed the connection".into())
            }
            None => client.handle_timeout(Instant::now()),
        }
    };
    match outcome {
        Ok(relayed) => {
            result.ok = true;
            result.relayed = Some(relayed);
            result.allocate_ms = Some(ms(started.elapsed()));
            result.rtt_ms = binding_rtt(&mut conn).await.map(ms);
            client.close(Instant::now());
            while let Some(bytes) = client.poll_transmit() {
                let _ = conn.send(&bytes).await;
            }
        }
        Err(e) => result.error = Some(e),
    }
    result
}

/// RFC 8489 §6.2: one Binding transaction over `conn`; its round-trip time.
async fn binding_rtt(conn: &mut Conn) -> Option<Duration> {
    let tid = stun::TransactionId(rand::random());
    let mut buf = Vec::new();
    let n = binding::request(&mut buf, tid, None);
    let started = Instant::now();
    let mut t = Transaction::new(tid, buf[..n].to_vec(), conn.reliable(), 3, started);
    conn.send(&t.request).await.ok()?;
    loop {
        let data = conn.recv(t.deadline()).await;
        match data {
            Some(d) if binding::parse_response(&d, tid).is_ok() => return Some(started.elapsed()),
            Some(_) => continue,
            None => match t.handle_timeout(Instant::now()) {
                Retransmit::Resend => conn.send(&t.request).await.ok()?,
                Retransmit::Wait => {}
                Retransmit::TimedOut => return None,
            },
        }
    }
}

fn print(reporter: &Reporter, r: &ProbeReport) {
    for c in &r.candidates {
        reporter.emit(&Report::Candidate {
            kind: c.kind,
            address: c.address,
            protocol: "udp",
            relay_protocol: c.relay_protocol,
            server: None,
        });
    }
    if reporter.json() {
        if let Ok(line) = serde_json::to_string(&serde_json::json!({"event": "probe", "report": r}))
        {
            println!("{line}");
        }
        return;
    }
    for s in &r.stun {
        match (s.mapped, s.rtt_ms) {
            (Some(m), Some(rtt)) => {
                reporter.line(&format!("STUN {}: reflexive {m}, {rtt:.1} ms", s.server))
            }
            _ => reporter.line(&format!(
                "STUN {}: {}",
                s.server,
                s.error.as_deref().unwrap_or("no answer")
            )),
        }
    }
    for t in &r.turn {
        if t.ok {
            reporter.line(&format!(
                "TURN over {} {}: relay {} (allocate {:.1} ms, rtt {})",
                transport_name(t.transport),
                t.url,
                t.relayed.map(|a| a.to_string()).unwrap_or_default(),
                t.allocate_ms.unwrap_or_default(),
                t.rtt_ms
                    .map(|v| format!("{v:.1} ms"))
                    .unwrap_or_else(|| "n/a".into()),
            ));
        } else {
            reporter.line(&format!(
                "TURN over {} {}: FAILED {}",
                transport_name(t.transport),
                t.url,
                t.error.as_deref().unwrap_or("")
            ));
        }
    }
    match &r.nat {
        Some(n) => reporter.line(&format!(
            "NAT: mapping {}, filtering {}",
            n.mapping.as_str(),
            n.filtering.as_str()
        )),
        None => reporter.line("NAT: not tested (no STUN answer)"),
    }
}

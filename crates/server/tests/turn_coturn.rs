//! Interop with coturn's client tools (written independently of Rendezvous): STUN Binding,
//! TURN over UDP/TCP/TLS, REST credentials, Send indications, client-to-client, RTP/RTCP
//! pairs (EVEN-PORT + RESERVATION-TOKEN), RFC 6062 TCP relay and IPv6 relay, all with zero
//! loss; RFC 5780 NAT discovery against a two-address server.

mod turn_support;

use std::sync::Arc;
use std::time::Duration;

use turn_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stunclient_gets_its_reflexive_address() {
    let tool = require("turnutils_stunclient");
    let (server, metrics) = start_server(&config(), None).await;
    let addr = server.udp[0];
    let out = run(
        &tool,
        &["-p".into(), addr.port().to_string(), addr.ip().to_string()],
        Duration::from_secs(20),
    )
    .await;
    let line = out
        .lines()
        .find(|l| l.contains("UDP reflexive addr:"))
        .unwrap_or_else(|| panic!("no reflexive address in:\n{out}"));
    let reflexive: std::net::SocketAddr = line
        .split("UDP reflexive addr:")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(reflexive.ip(), addr.ip());
    assert_ne!(reflexive.port(), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        metrics
            .stun_binding_requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    server.shutdown().await;
}

async fn uclient_mode(extra: &[&str], use_tls: bool) {
    let peer = EchoPeer::start().await;
    let tls = use_tls.then(self_signed);
    let (server, _) = start_server(&config(), tls).await;
    let addr = if use_tls {
        server.tls[0]
    } else {
        server.udp[0]
    };
    let peer_port = peer.port.to_string();
    let mut args: Vec<&str> = vec![
        "-n",
        "20",
        "-l",
        "120",
        "-z",
        "5",
        "-e",
        "127.0.0.1",
        "-r",
        &peer_port,
    ];
    args.extend_from_slice(extra);
    let report = uclient_zero_loss(addr, &args).await;
    assert!(report.sent >= 20, "{report:?}");
    server.shutdown().await;
}

fn self_signed() -> Arc<rustls::ServerConfig> {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    Arc::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_udp_long_term_credentials() {
    uclient_mode(&["-u", "alice", "-w", "secret", "-c"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_dont_fragment() {
    uclient_mode(&["-g", "-u", "alice", "-w", "secret", "-c"], false).await;
}

/// Fifty clients at once, each with an RTP/RTCP pair, from one source address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_fifty_clients() {
    uclient_mode(&["-u", "alice", "-w", "secret", "-m", "50"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_tcp() {
    uclient_mode(&["-t", "-u", "alice", "-w", "secret", "-c"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_rest_ephemeral_credentials() {
    uclient_mode(&["-W", SECRET, "-u", "carol", "-c"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_send_indications() {
    uclient_mode(&["-s", "-u", "alice", "-w", "secret", "-c"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_client_to_client() {
    uclient_mode(&["-y", "-u", "alice", "-w", "secret", "-c"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_rtp_rtcp_pairs_with_even_port_and_reservation() {
    uclient_mode(&["-u", "alice", "-w", "secret", "-m", "4"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_tls() {
    uclient_mode(&["-t", "-S", "-u", "alice", "-w", "secret", "-c"], true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_tcp_relay_rfc6062() {
    uclient_mode(&["-T", "-u", "alice", "-w", "secret"], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_ipv6_relay() {
    let peer = EchoPeer::start().await;
    let (server, _) = start_server(&config(), None).await;
    let peer_port = peer.port.to_string();
    uclient_zero_loss(
        server.udp[0],
        &[
            "-x", "-c", "-u", "alice", "-w", "secret", "-n", "20", "-l", "120", "-z", "5", "-e",
            "::1", "-r", &peer_port,
        ],
    )
    .await;
    server.shutdown().await;
}

/// Listening on the wildcard address, the relay binds where the client's packets arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_with_wildcard_bind() {
    let peer = EchoPeer::start().await;
    let cfg = server::TurnConfig {
        bind: vec!["0.0.0.0".parse().unwrap()],
        ..config()
    };
    let (server, _) = start_server(&cfg, None).await;
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], server.udp[0].port()));
    let peer_port = peer.port.to_string();
    uclient_zero_loss(
        target,
        &[
            "-u",
            "alice",
            "-w",
            "secret",
            "-c",
            "-n",
            "20",
            "-l",
            "120",
            "-z",
            "5",
            "-e",
            "127.0.0.1",
            "-r",
            &peer_port,
        ],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natdiscovery_with_two_addresses() {
    let tool = require("turnutils_natdiscovery");
    let cfg = server::TurnConfig {
        alt_ip: Some("127.0.0.2".parse().unwrap()),
        ..config()
    };
    let (server, _) = start_server(&cfg, None).await;
    let addr = server.udp[0];
    let out = run(
        &tool,
        &[
            "-m".into(),
            "-f".into(),
            "-H".into(),
            addr.ip().to_string(),
            "-p".into(),
            addr.port().to_string(),
        ],
        Duration::from_secs(30),
    )
    .await;
    let mapping = out
        .lines()
        .find(|l| l.contains("NAT with") && l.to_lowercase().contains("mapping"));
    let filtering = out
        .lines()
        .find(|l| l.contains("NAT with") && l.to_lowercase().contains("filtering"));
    assert!(
        mapping.is_some() && filtering.is_some(),
        "no verdict:\n{out}"
    );
    // On loopback there is no NAT: mapping and filtering are endpoint independent.
    assert!(mapping.unwrap().contains("Endpoint Independent"), "{out}");
    assert!(filtering.unwrap().contains("Endpoint Independent"), "{out}");
    server.shutdown().await;
}
#[test]
fn parses_uclient_output() {
    let out = "0: start_mclient: tot_send_msgs=20, tot_recv_msgs=19\n0: Total lost packets 1 (5.000000%), total send dropped 0 (0.000000%)\n";
    assert_eq!(
        parse_uclient(out),
        Some(UclientReport {
            sent: 20,
            received: 19,
            lost: 1
        })
    );
    assert_eq!(parse_uclient("nothing"), None);
}

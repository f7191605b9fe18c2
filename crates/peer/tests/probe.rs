//! `probe` against a real Rendezvous server on loopback.

mod common;

use common::{TestServer, LOOPBACK};
use peer::net::CandidateType;
use peer::turn_client::TurnTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_lists_host_srflx_and_relay_candidates() {
    let server = TestServer::start().await;
    let mut opts = peer::ProbeOptions::new(server.url.clone());
    opts.host_ips = vec![LOOPBACK];
    opts.insecure = true;
    let report = peer::probe::run(opts).await.expect("probe runs");
    assert!(report.has(CandidateType::Host), "{report:#?}");
    assert!(report.has(CandidateType::Srflx), "{report:#?}");
    assert!(report.has(CandidateType::Relay), "{report:#?}");
    let stun = &report.stun[0];
    assert!(stun.ok, "{stun:?}");
    assert_eq!(stun.mapped.map(|a| a.ip()), Some(LOOPBACK));
    for transport in [TurnTransport::Udp, TurnTransport::Tcp, TurnTransport::Tls] {
        let t = report
            .turn
            .iter()
            .find(|t| t.transport == transport)
            .unwrap_or_else(|| panic!("no {transport:?} TURN result: {report:#?}"));
        assert!(t.ok, "{t:?}");
        assert_eq!(t.relayed.map(|a| a.ip()), Some(LOOPBACK));
        assert!(t.allocate_ms.is_some() && t.rtt_ms.is_some(), "{t:?}");
    }
    // One address: RFC 5780 cannot classify filtering, and says so.
    let nat = report.nat.expect("NAT section");
    assert_eq!(nat.filtering, peer::probe::Filtering::Unknown);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_a_turn_server_that_refuses_credentials() {
    let server = TestServer::start().await;
    let mut opts = peer::ProbeOptions::new(server.url.clone());
    opts.host_ips = vec![LOOPBACK];
    opts.ice_servers = vec![format!("turn:{}?transport=udp", server.turn_udp)];
    opts.ice_username = Some("9999999999:nobody".into());
    opts.ice_credential = Some("wrong".into());
    let report = peer::probe::run(opts).await.expect("probe runs");
    assert_eq!(report.turn.len(), 1);
    assert!(!report.turn[0].ok);
    assert!(!report.has(CandidateType::Relay));
    server.stop().await;
}

/// With a second address (127.0.0.2, also loopback) the server answers CHANGE-REQUEST, and
/// RFC 5780 sees what loopback is: no NAT, and nothing filtered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_classifies_nat_behaviour_with_a_second_address() {
    let server = TestServer::start_with(|c| c.alt_ip = Some("127.0.0.2".parse().unwrap())).await;
    let mut opts = peer::ProbeOptions::new(server.url.clone());
    opts.host_ips = vec![LOOPBACK];
    opts.insecure = true;
    let report = peer::probe::run(opts).await.expect("probe runs");
    let nat = report.nat.expect("NAT section");
    assert_eq!(
        nat.other_address.map(|a| a.ip()),
        Some("127.0.0.2".parse().unwrap()),
        "{report:#?}"
    );
    assert_eq!(nat.mapping, peer::probe::Mapping::NoNat);
    assert_eq!(nat.filtering, peer::probe::Filtering::EndpointIndependent);
    server.stop().await;
}

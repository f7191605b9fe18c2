//! Native to native file transfer through a real Rendezvous server on loopback.

mod common;

use std::time::Duration;

use common::{connect, temp_dir, write_random_file, TestServer};
use peer::net::CandidateType;
use peer::turn_client::TurnTransport;
use peer::{ReceiveOptions, SendOptions, TransferReport};

const LIMIT: Duration = Duration::from_secs(120);

/// Runs a receiver and a sender in `room` and returns (sent, received).
async fn transfer(
    server: &TestServer,
    room: &str,
    files: Vec<std::path::PathBuf>,
    out: std::path::PathBuf,
    tune: impl Fn(&mut peer::ConnectOptions),
) -> (TransferReport, TransferReport) {
    let mut rc = connect(server, room);
    tune(&mut rc);
    let count = files.len();
    let receiver = tokio::spawn(peer::receive::run(ReceiveOptions {
        connect: rc,
        out,
        count: Some(count),
    }));
    // The receiver is in the room first, so the sender offers (docs/protocol.md).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sc = connect(server, room);
    tune(&mut sc);
    let sent = tokio::time::timeout(LIMIT, peer::send::run(SendOptions { connect: sc, files }))
        .await
        .expect("send finishes");
    let sent = match sent {
        Ok(s) => s,
        Err(e) => {
            let r = tokio::time::timeout(LIMIT, receiver).await;
            panic!("send failed: {e}; receiver: {r:?}");
        }
    };
    let received = tokio::time::timeout(LIMIT, receiver)
        .await
        .expect("receive finishes")
        .expect("receive task")
        .expect("receive succeeds");
    (sent, received)
}

fn check_files(
    dir: &std::path::Path,
    sources: &[std::path::PathBuf],
    sent: &TransferReport,
    received: &TransferReport,
) {
    assert_eq!(sent.files.len(), sources.len());
    assert_eq!(received.files.len(), sources.len());
    for ((src, s), r) in sources.iter().zip(&sent.files).zip(&received.files) {
        assert!(s.ok && r.ok, "{s:?} {r:?}");
        assert_eq!(s.sha256, r.sha256);
        assert_eq!(r.path, dir.join(src.file_name().unwrap()));
        assert_eq!(std::fs::read(src).unwrap(), std::fs::read(&r.path).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_transfer_of_a_large_file_and_a_small_one() {
    let server = TestServer::start().await;
    let dir = temp_dir("direct");
    let src = dir.join("src");
    let out = dir.join("out");
    std::fs::create_dir_all(&src).unwrap();
    let big = src.join("big.bin");
    let small = src.join("small.txt");
    write_random_file(&big, 20 * 1024 * 1024 + 123, 42);
    std::fs::write(&small, b"hello from rendezvous\n").unwrap();
    let files = vec![big, small];
    let (sent, received) = transfer(&server, "direct", files.clone(), out.clone(), |_| {}).await;
    check_files(&out, &files, &sent, &received);
    for pair in [&sent.pair, &received.pair] {
        let pair = pair.as_ref().expect("a selected pair");
        assert_eq!(
            (pair.local_type, pair.protocol),
            (CandidateType::Host, "udp")
        );
        assert!(pair.relay_protocol.is_none());
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

async fn relay_only(transport: Option<TurnTransport>, room: &str) {
    let server = TestServer::start().await;
    let dir = temp_dir(room);
    let src = dir.join("src");
    let out = dir.join("out");
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("relayed.bin");
    write_random_file(&file, 2 * 1024 * 1024 + 7, 7);
    let files = vec![file];
    let (sent, received) = transfer(&server, room, files.clone(), out.clone(), |c| {
        c.relay_only = true;
        c.turn_transports = transport.into_iter().collect();
    })
    .await;
    check_files(&out, &files, &sent, &received);
    for pair in [&sent.pair, &received.pair] {
        let pair = pair
            .as_ref()
            .unwrap_or_else(|| panic!("a selected pair: {sent:?} {received:?}"));
        assert_eq!(pair.local_type, CandidateType::Relay, "{pair:?}");
        assert_eq!(pair.remote_type, CandidateType::Relay, "{pair:?}");
        if let Some(t) = transport {
            assert_eq!(pair.relay_protocol, Some(t));
        }
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_transfer_over_turn_udp() {
    relay_only(Some(TurnTransport::Udp), "relay-udp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_transfer_over_turn_tcp() {
    relay_only(Some(TurnTransport::Tcp), "relay-tcp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_transfer_over_turn_tls() {
    relay_only(Some(TurnTransport::Tls), "relay-tls").await;
}

/// A 100 MB transfer for measuring throughput by hand:
/// `cargo test -p rendezvous-peer --release --test transfer -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run by hand"]
async fn measure_100_mb() {
    let server = TestServer::start().await;
    let dir = temp_dir("measure");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("100mb.bin");
    write_random_file(&file, 100 * 1024 * 1024, 9);
    for relay in [false, true] {
        let out = dir.join(format!("out-{relay}"));
        let (sent, received) = transfer(
            &server,
            &format!("measure-{relay}"),
            vec![file.clone()],
            out.clone(),
            |c| {
                c.relay_only = relay;
                c.turn_transports = vec![TurnTransport::Udp];
            },
        )
        .await;
        check_files(&out, std::slice::from_ref(&file), &sent, &received);
        let r = &received.files[0];
        println!(
            "relay_only={relay}: {} bytes in {:.2} s = {:.1} Mbit/s over {:?}",
            r.bytes,
            r.secs,
            r.bytes as f64 * 8.0 / r.secs / 1e6,
            received.pair
        );
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sender is in the room first, so the receiver offers (with its `rdv-control` channel)
/// and the sender opens its `file` channels on the answered connection; without `--count`
/// the receiver stops when the sender leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_offers_when_it_joins_second() {
    let server = TestServer::start().await;
    let dir = temp_dir("receiver-offers");
    let src = dir.join("src");
    let out = dir.join("out");
    std::fs::create_dir_all(&src).unwrap();
    let a = src.join("a.bin");
    let b = src.join("b.bin");
    write_random_file(&a, 300_000, 1);
    write_random_file(&b, 16 * 1024, 2);
    let files = vec![a, b];
    let sender = tokio::spawn(peer::send::run(SendOptions {
        connect: connect(&server, "reverse"),
        files: files.clone(),
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = tokio::time::timeout(
        LIMIT,
        peer::receive::run(ReceiveOptions {
            connect: connect(&server, "reverse"),
            out: out.clone(),
            count: None,
        }),
    )
    .await
    .expect("receive finishes")
    .expect("receive succeeds");
    let sent = tokio::time::timeout(LIMIT, sender)
        .await
        .expect("send finishes")
        .expect("send task")
        .expect("send succeeds");
    check_files(&out, &files, &sent, &received);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

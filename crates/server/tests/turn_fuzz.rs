//! 100,000 random and mutated datagrams against the running server over UDP: afterwards it
//! still answers a valid Binding and a full allocation (coturn's uclient) relays with zero
//! loss.

mod turn_support;

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stun::{Attribute, AttributeType, Class, Message, MessageBuilder, Method, TransactionId};
use tokio::net::UdpSocket;
use turn_support::*;

fn message(
    method: Method,
    class: Class,
    tid: [u8; 12],
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, class, method, TransactionId(tid));
    fill(&mut b);
    b.finish();
    buf
}

/// Valid messages of every kind the server handles, to mutate.
fn seeds(nonce: &[u8], peer: SocketAddr) -> Vec<Vec<u8>> {
    let key = stun::long_term_key_md5("alice", "rendezvous", "secret");
    let authed = |method: Method, fill: &dyn Fn(&mut MessageBuilder<'_>)| {
        message(method, Class::Request, [7; 12], |b| {
            fill(b);
            b.add(&Attribute::Username("alice"));
            b.add(&Attribute::Realm("rendezvous"));
            b.add(&Attribute::Nonce(nonce));
            b.message_integrity(&key);
            b.fingerprint();
        })
    };
    let mut cd = Vec::new();
    stun::ChannelData::encode(0x4001, b"channel data payload", false, &mut cd);
    vec![
        message(Method::BINDING, Class::Request, [1; 12], |_| {}),
        message(Method::BINDING, Class::Request, [2; 12], |b| {
            b.add(&Attribute::ChangeRequest {
                change_ip: true,
                change_port: true,
            });
            b.add(&Attribute::ResponsePort(9));
            b.fingerprint();
        }),
        message(Method::ALLOCATE, Class::Request, [3; 12], |b| {
            b.add(&Attribute::RequestedTransport(17));
        }),
        authed(Method::ALLOCATE, &|b| {
            b.add(&Attribute::RequestedTransport(17));
            b.add(&Attribute::EvenPort { reserve: true });
        }),
        authed(Method::ALLOCATE, &|b| {
            b.add(&Attribute::RequestedTransport(17));
            b.add(&Attribute::AdditionalAddressFamily(2));
        }),
        authed(Method::REFRESH, &|b| {
            b.add(&Attribute::Lifetime(600));
        }),
        authed(Method::CREATE_PERMISSION, &|b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }),
        authed(Method::CHANNEL_BIND, &|b| {
            b.add(&Attribute::ChannelNumber(0x4001));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }),
        message(Method::SEND, Class::Indication, [4; 12], |b| {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
            b.add(&Attribute::Data(b"send indication payload"));
        }),
        cd,
    ]
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    match rng.gen_range(0..6) {
        0 => {
            let n = rng.gen_range(0..=m.len());
            m.truncate(n);
        }
        1 => {
            for _ in 0..rng.gen_range(1..8) {
                let i = rng.gen_range(0..m.len());
                m[i] = rng.gen();
            }
        }
        2 => {
            let extra = rng.gen_range(1..64);
            m.extend((0..extra).map(|_| rng.gen::<u8>()));
        }
        3 => {
            // Lie about the length.
            if m.len() >= 4 {
                let l: u16 = rng.gen();
                m[2..4].copy_from_slice(&l.to_be_bytes());
            }
        }
        4 => {
            // Corrupt an attribute header inside the message.
            if m.len() > 24 {
                let i = 20 + 4 * rng.gen_range(0..(m.len() - 20) / 4);
                let v: u32 = rng.gen();
                let end = (i + 4).min(m.len());
                m[i..end].copy_from_slice(&v.to_be_bytes()[..end - i]);
            }
        }
        _ => {
            let n = rng.gen_range(0..200);
            m = (0..n).map(|_| rng.gen()).collect();
            if !m.is_empty() && rng.gen_bool(0.5) {
                m[0] = rng.gen_range(0..4);
            }
        }
    }
    m
}

async fn binding_answered(server: SocketAddr) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let req = message(Method::BINDING, Class::Request, [9; 12], |_| {});
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        sock.send_to(&req, server).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await
        {
            let m = Message::parse(&buf[..n]).expect("valid response");
            assert_eq!(m.class(), Class::SuccessResponse);
            assert_eq!(m.xor_mapped_address(), Some(sock.local_addr().unwrap()));
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_100k_random_and_mutated_datagrams() {
    require("turnutils_uclient");
    let echo = EchoPeer::start().await;
    let (server, metrics) = start_server(&config(), None).await;
    let addr = server.udp[0];
    assert!(binding_answered(addr).await);

    // A real nonce, so that mutated authenticated requests reach deep into the core.
    let clients: Vec<UdpSocket> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        }
        v
    };
    let probe = message(Method::ALLOCATE, Class::Request, [5; 12], |b| {
        b.add(&Attribute::RequestedTransport(17));
    });
    clients[0].send_to(&probe, addr).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), clients[0].recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let nonce = Message::parse(&buf[..n]).unwrap().nonce().unwrap().to_vec();
    let peer: SocketAddr = format!("127.0.0.1:{}", echo.port).parse().unwrap();
    let seeds = seeds(&nonce, peer);

    let mut rng = StdRng::seed_from_u64(0x5eed);
    let started = std::time::Instant::now();
    for i in 0..100_000u32 {
        let packet = if i % 4 == 0 {
            let n = rng.gen_range(0..300);
            (0..n).map(|_| rng.gen()).collect()
        } else {
            let s = &seeds[rng.gen_range(0..seeds.len())];
            mutate(&mut rng, s)
        };
        let sock = &clients[(i % 8) as usize];
        let _ = sock.send_to(&packet, addr).await;
        if i % 256 == 0 {
            // Let the server keep up (and drain the answers) so most datagrams are parsed.
            for c in &clients {
                while c.try_recv_from(&mut buf).is_ok() {}
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "fuzzing took too long"
        );
    }

    assert!(
        binding_answered(addr).await,
        "Binding not answered after fuzzing"
    );
    let peer_port = echo.port.to_string();
    uclient_zero_loss(
        addr,
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
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dropped = metrics
        .turn_dropped_packets
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 10_000, "the junk was seen and dropped: {dropped}");
    server.shutdown().await;
}

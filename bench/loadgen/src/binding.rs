//! STUN Binding load: several sockets each keep a window of Binding requests in flight
//! (closed loop: every response sends the next request); a window that goes quiet is refilled.
//! The figure is responses per CPU-second of the server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;
use stun::TransactionId;
use tokio::net::UdpSocket;

use crate::net;
use crate::procfs;
use crate::record::Label;
use crate::turnclient::binding_request;

#[derive(Debug, Clone, clap::Args)]
pub struct BindingArgs {
    /// STUN server (UDP).
    #[arg(long)]
    pub server: SocketAddr,
    #[arg(long)]
    pub pid: Option<u32>,
    /// Client sockets.
    #[arg(long, default_value_t = 8)]
    pub sockets: usize,
    /// Requests in flight per socket.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
}

/// True for a Binding success response (message type 0x0101) with the magic cookie.
pub fn is_binding_success(pkt: &[u8]) -> bool {
    pkt.len() >= 20 && pkt[0..2] == [0x01, 0x01] && pkt[4..8] == stun::MAGIC_COOKIE.to_be_bytes()
}

fn tid(socket: usize, seq: u64) -> TransactionId {
    let mut t = [0u8; 12];
    t[0..4].copy_from_slice(&(socket as u32).to_be_bytes());
    t[4..12].copy_from_slice(&seq.to_be_bytes());
    TransactionId::new(t)
}

async fn drive(sock: Rc<UdpSocket>, index: usize, window: usize, end: Instant) -> Result<u64> {
    let mut req = Vec::with_capacity(32);
    let mut buf = [0u8; 1500];
    let (mut seq, mut responses) = (0u64, 0u64);
    let mut send = |seq: &mut u64, sock: &UdpSocket| {
        *seq += 1;
        binding_request(&mut req, tid(index, *seq));
        let _ = sock.try_send(&req);
    };
    for _ in 0..window {
        send(&mut seq, &sock);
    }
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let wait = (end - now).min(Duration::from_millis(50));
        match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if is_binding_success(&buf[..n]) {
                    responses += 1;
                    send(&mut seq, &sock);
                }
            }
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            // Quiet for 50 ms: requests were lost; refill the window.
            Err(_) => {
                for _ in 0..window {
                    send(&mut seq, &sock);
                }
            }
        }
    }
    Ok(responses)
}

pub fn run(args: BindingArgs, label: Label) -> Result<()> {
    if args.sockets == 0 || args.window == 0 {
        bail!("--sockets and --window must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut socks = Vec::new();
        for _ in 0..args.sockets {
            let s = net::tokio_udp("127.0.0.1:0".parse()?, 4 << 20)?;
            s.connect(args.server).await?;
            socks.push(Rc::new(s));
        }
        let cpu0 = procfs::sample_opt(args.pid)?;
        let self0 = procfs::sample(std::process::id())?;
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs_f64(args.secs);
        let tasks: Vec<_> = socks
            .iter()
            .enumerate()
            .map(|(i, s)| tokio::task::spawn_local(drive(s.clone(), i, args.window, end)))
            .collect();
        let mut responses = 0;
        for t in tasks {
            responses += t.await??;
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = procfs::sample_opt(args.pid)?;
        let self1 = procfs::sample(std::process::id())?;
        let cpu = match (cpu0, cpu1) {
            (Some(a), Some(b)) => b.cpu_seconds - a.cpu_seconds,
            _ => f64::NAN,
        };
        eprintln!(
            "binding {}: {responses} responses in {secs:.2} s, server cpu {cpu:.2} s",
            label.server
        );
        let mut m = BTreeMap::new();
        m.insert("responses_per_s".into(), responses as f64 / secs);
        m.insert("responses_per_cpu_s".into(), responses as f64 / cpu);
        label.emit(
            "binding",
            m,
            json!({
                "sockets": args.sockets,
                "window": args.window,
                "secs": secs,
                "responses": responses,
                "server_cpu_s": cpu,
                "loadgen_cpu_s": self1.cpu_seconds - self0.cpu_seconds,
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::{Class, MessageBuilder, Method};

    #[test]
    fn recognises_binding_success_only() {
        let mut buf = Vec::new();
        MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid(1, 2)).finish();
        assert!(is_binding_success(&buf));
        binding_request(&mut buf, tid(1, 3));
        assert!(!is_binding_success(&buf));
        assert!(!is_binding_success(&[0x01, 0x01, 0, 0]));
    }
}

//! TURN relay load: N clients allocate, bind channel 0x4000 to a UDP echo peer, and send
//! ChannelData at a target rate; the echo sends each packet back through the relay. The rate
//! steps up until loss reaches the threshold (confirmed by one repeat of the step).
//!
//! Every packet crosses the server twice (client -> peer, peer -> client), so "relayed
//! packets" counts 2 per echoed packet.
//!
//! Payload after the 4-byte ChannelData header: magic, step number, send time in ns since the
//! start, then zero padding up to `--size`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::net::UdpSocket;

use crate::net;
use crate::procfs;
use crate::record::Label;
use crate::stats::Histogram;
use crate::turnclient::{self, Credentials, Retry};

const MAGIC: u32 = 0x5256_4c47; // "RVLG"
const CHANNEL: u16 = 0x4000;
const HEADER: usize = 4;
const MIN_PAYLOAD: usize = 16;

#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// TURN server (UDP).
    #[arg(long)]
    pub server: SocketAddr,
    #[arg(long, default_value = "bench:bench")]
    pub user: Credentials,
    /// PID of the server process, for CPU time.
    #[arg(long)]
    pub pid: Option<u32>,
    /// TURN clients, each with its own socket, allocation and channel.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Payload bytes per packet (after the 4-byte ChannelData header).
    #[arg(long, default_value_t = 160)]
    pub size: usize,
    /// Client send rates to try, packets per second (all clients together), in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5000,10000,20000,30000,40000,50000,60000,70000,80000,100000,120000,140000,170000,200000"
    )]
    pub rates: Vec<u64>,
    /// The rate at which latency and CPU per packet are compared between servers.
    #[arg(long, default_value_t = 10000)]
    pub reference_rate: u64,
    /// Seconds per step.
    #[arg(long, default_value_t = 3.0)]
    pub step_secs: f64,
    /// Loss at or above this fraction ends the stepping.
    #[arg(long, default_value_t = 0.001)]
    pub max_loss: f64,
    /// Use this UDP echo (e.g. turnutils_peer) instead of the built-in one.
    #[arg(long)]
    pub peer: Option<SocketAddr>,
}

/// Counters of the step in progress, shared by the receive tasks (one thread).
struct StepState {
    step: Cell<u32>,
    received: Cell<u64>,
    rtt: RefCell<Histogram>,
    base: Instant,
}

/// A UDP echo on loopback in its own thread.
struct Echo {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    echoed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Result<Echo> {
        let sock = net::udp_socket("127.0.0.1:0".parse()?, 8 << 20)?;
        let std_sock: StdUdpSocket = sock.into();
        std_sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = std_sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let echoed = Arc::new(AtomicU64::new(0));
        let (s, e) = (stop.clone(), echoed.clone());
        let thread = std::thread::Builder::new()
            .name("echo".into())
            .spawn(move || {
                let mut bufs = Box::new([[0u8; 2048]; net::BATCH]);
                while !s.load(Ordering::Relaxed) {
                    let n = net::echo_batch(&std_sock, &mut bufs);
                    e.fetch_add(n as u64, Ordering::Relaxed);
                }
            })?;
        Ok(Echo {
            addr,
            stop,
            echoed,
            thread: Some(thread),
        })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Result of one step.
#[derive(Debug, Clone, serde::Serialize)]
struct Step {
    target_pps: u64,
    sent: u64,
    received: u64,
    echoed: u64,
    loss: f64,
    secs: f64,
    relayed_pps: f64,
    server_cpu_s: f64,
    cpu_s_per_mpkt: f64,
    rtt_p50_us: f64,
    rtt_p99_us: f64,
    loadgen_cpu_s: f64,
    /// The load generator sent less than 97 % of the target: it, not the server, was the limit.
    short: bool,
}

fn write_payload(buf: &mut [u8], step: u32, nanos: u64) {
    buf[HEADER..HEADER + 4].copy_from_slice(&MAGIC.to_be_bytes());
    buf[HEADER + 4..HEADER + 8].copy_from_slice(&step.to_be_bytes());
    buf[HEADER + 8..HEADER + 16].copy_from_slice(&nanos.to_be_bytes());
}

/// (step, send time) of an echoed ChannelData datagram, or `None` for anything else.
pub fn read_payload(pkt: &[u8]) -> Option<(u32, u64)> {
    if pkt.len() < HEADER + MIN_PAYLOAD || u16::from_be_bytes([pkt[0], pkt[1]]) != CHANNEL {
        return None;
    }
    let p = &pkt[HEADER..];
    if u32::from_be_bytes(p[0..4].try_into().ok()?) != MAGIC {
        return None;
    }
    let step = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let nanos = u64::from_be_bytes(p[8..16].try_into().ok()?);
    Some((step, nanos))
}

async fn receive(sock: Rc<UdpSocket>, state: Rc<StepState>) {
    let mut buf = [0u8; 2048];
    while let Ok(n) = sock.recv(&mut buf).await {
        if let Some((step, sent)) = read_payload(&buf[..n]) {
            if step == state.step.get() {
                let now = state.base.elapsed().as_nanos() as u64;
                state.received.set(state.received.get() + 1);
                state.rtt.borrow_mut().record(now.saturating_sub(sent));
            }
        }
    }
}

/// Send `rate` packets per second for `secs`, round robin over the clients.
async fn send_paced(
    clients: &[Rc<UdpSocket>],
    state: &StepState,
    step: u32,
    rate: u64,
    secs: f64,
    size: usize,
) -> u64 {
    let mut pkt = vec![0u8; HEADER + size];
    pkt[0..2].copy_from_slice(&CHANNEL.to_be_bytes());
    pkt[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    let start = Instant::now();
    let end = Duration::from_secs_f64(secs);
    let (mut sent, mut next) = (0u64, 0usize);
    loop {
        let elapsed = start.elapsed();
        if elapsed >= end {
            break;
        }
        let due = (rate as f64 * elapsed.as_secs_f64()) as u64;
        // At most 2 ms worth of packets per burst, so a stall is not made up in one flood.
        let mut budget = (rate / 500).max(1);
        while sent < due && budget > 0 {
            write_payload(&mut pkt, step, state.base.elapsed().as_nanos() as u64);
            let sock = &clients[next % clients.len()];
            next += 1;
            budget -= 1;
            match sock.try_send(&pkt) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {}
            }
        }
        if sent < due {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    sent
}

pub fn run(args: RelayArgs, label: Label) -> Result<()> {
    if args.size < MIN_PAYLOAD || args.size > 1200 {
        bail!("--size must be {MIN_PAYLOAD}..=1200");
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run_async(args, label))
}

async fn run_async(args: RelayArgs, label: Label) -> Result<()> {
    let echo = match args.peer {
        Some(_) => None,
        None => Some(Echo::start()?),
    };
    let peer = args
        .peer
        .or(echo.as_ref().map(|e| e.addr))
        .context("peer")?;

    // Setup: allocations and channel bindings, 32 at a time.
    let mut clients = Vec::with_capacity(args.clients);
    let setup_start = Instant::now();
    for chunk in (0..args.clients).collect::<Vec<_>>().chunks(32) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let user = args.user.clone();
            let server = args.server;
            tasks.push(tokio::task::spawn_local(async move {
                let sock = net::tokio_udp(net::source(i, usize::MAX), 1 << 20)?;
                sock.connect(server).await?;
                let retry = Retry::default();
                let mut alloc = turnclient::allocate(&sock, &user, retry).await?;
                if !alloc.relayed.ip().is_loopback() {
                    bail!("relayed address {} is not on loopback", alloc.relayed);
                }
                turnclient::channel_bind(&sock, &mut alloc, &user, CHANNEL, peer, retry).await?;
                anyhow::Ok(sock)
            }));
        }
        for t in tasks {
            clients.push(Rc::new(t.await??));
        }
    }
    eprintln!(
        "relay: {} clients allocated and bound in {:.2} s",
        clients.len(),
        setup_start.elapsed().as_secs_f64()
    );

    let state = Rc::new(StepState {
        step: Cell::new(0),
        received: Cell::new(0),
        rtt: RefCell::new(Histogram::new()),
        base: Instant::now(),
    });
    let receivers: Vec<_> = clients
        .iter()
        .map(|c| tokio::task::spawn_local(receive(c.clone(), state.clone())))
        .collect();

    let mut steps: Vec<Step> = Vec::new();
    let mut step_no = 0u32;
    let mut rates = args.rates.clone();
    if !rates.contains(&args.reference_rate) {
        rates.push(args.reference_rate);
        rates.sort_unstable();
    }
    'rates: for &rate in &rates {
        for attempt in 0..2 {
            step_no += 1;
            state.step.set(step_no);
            state.received.set(0);
            *state.rtt.borrow_mut() = Histogram::new();
            let echoed0 = echo
                .as_ref()
                .map_or(0, |e| e.echoed.load(Ordering::Relaxed));
            let cpu0 = procfs::sample_opt(args.pid)?;
            let self0 = procfs::sample(std::process::id())?;
            let t0 = Instant::now();
            let sent = send_paced(&clients, &state, step_no, rate, args.step_secs, args.size).await;
            let send_secs = t0.elapsed().as_secs_f64();
            // Let the last packets come back, then stop counting.
            tokio::time::sleep(Duration::from_millis(300)).await;
            state.step.set(0);
            let cpu1 = procfs::sample_opt(args.pid)?;
            let self1 = procfs::sample(std::process::id())?;
            let received = state.received.get();
            let echoed = echo
                .as_ref()
                .map_or(0, |e| e.echoed.load(Ordering::Relaxed))
                - echoed0;
            let server_cpu = match (cpu0, cpu1) {
                (Some(a), Some(b)) => b.cpu_seconds - a.cpu_seconds,
                _ => f64::NAN,
            };
            let rtt = state.rtt.borrow();
            let us = |q: f64| rtt.quantile(q).map_or(f64::NAN, |n| n as f64 / 1000.0);
            let loss = if sent == 0 {
                1.0
            } else {
                1.0 - received as f64 / sent as f64
            };
            let s = Step {
                target_pps: rate,
                sent,
                received,
                echoed,
                loss,
                secs: send_secs,
                relayed_pps: 2.0 * received as f64 / send_secs,
                server_cpu_s: server_cpu,
                cpu_s_per_mpkt: server_cpu / (2.0 * received as f64) * 1e6,
                rtt_p50_us: us(0.5),
                rtt_p99_us: us(0.99),
                loadgen_cpu_s: self1.cpu_seconds - self0.cpu_seconds,
                short: (sent as f64) < 0.97 * rate as f64 * args.step_secs,
            };
            drop(rtt);
            eprintln!(
                "relay {}: target {} pps sent {} recv {} loss {:.4}% relayed {:.0} pkt/s cpu {:.2}s p50 {:.0}us p99 {:.0}us{}",
                label.server,
                rate,
                s.sent,
                s.received,
                s.loss * 100.0,
                s.relayed_pps,
                s.server_cpu_s,
                s.rtt_p50_us,
                s.rtt_p99_us,
                if s.short { " (load generator short)" } else { "" }
            );
            let passed = s.loss < args.max_loss && !s.short;
            let short = s.short;
            steps.push(s);
            if passed {
                continue 'rates;
            }
            if short || attempt == 1 {
                break 'rates;
            }
        }
    }
    for r in receivers {
        r.abort();
    }
    drop(echo);

    let passing: Vec<&Step> = steps
        .iter()
        .filter(|s| s.loss < args.max_loss && !s.short)
        .collect();
    let best = passing
        .iter()
        .max_by(|a, b| a.relayed_pps.total_cmp(&b.relayed_pps));
    let reference = passing.iter().find(|s| s.target_pps == args.reference_rate);
    let mut m = BTreeMap::new();
    if let Some(b) = best {
        m.insert("max_relayed_pps".into(), b.relayed_pps);
        m.insert("cpu_s_per_mpkt_at_max".into(), b.cpu_s_per_mpkt);
    }
    if let Some(r) = reference {
        m.insert("cpu_s_per_mpkt_ref".into(), r.cpu_s_per_mpkt);
        m.insert("rtt_p50_us_ref".into(), r.rtt_p50_us);
        m.insert("rtt_p99_us_ref".into(), r.rtt_p99_us);
    }
    let limited_by_loadgen = steps.last().is_some_and(|s| s.short);
    m.insert(
        "limited_by_loadgen".into(),
        if limited_by_loadgen { 1.0 } else { 0.0 },
    );
    label.emit(
        "relay",
        m,
        json!({
            "clients": args.clients,
            "payload_bytes": args.size,
            "step_secs": args.step_secs,
            "reference_rate": args.reference_rate,
            "steps": steps,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mut pkt = vec![0u8; HEADER + 32];
        pkt[0..2].copy_from_slice(&CHANNEL.to_be_bytes());
        write_payload(&mut pkt, 7, 123_456_789);
        assert_eq!(read_payload(&pkt), Some((7, 123_456_789)));
    }

    #[test]
    fn foreign_datagrams_are_ignored() {
        let mut pkt = vec![0u8; HEADER + 32];
        pkt[0..2].copy_from_slice(&0x4001u16.to_be_bytes());
        write_payload(&mut pkt, 1, 1);
        assert_eq!(read_payload(&pkt), None, "other channel");
        pkt[0..2].copy_from_slice(&CHANNEL.to_be_bytes());
        pkt[HEADER] ^= 1;
        assert_eq!(read_payload(&pkt), None, "bad magic");
        assert_eq!(read_payload(&pkt[..10]), None, "short");
        assert_eq!(read_payload(&[0x01, 0x01, 0, 0]), None, "STUN");
    }
}

//! Signaling load over WebSocket, in either protocol:
//! - `rendezvous`: `/ws`, `join` a two-party room, `signal` to the other's id (docs/protocol.md);
//! - `peerjs`: `/peerjs?key=peerjs&id=..&token=..`, wait for `OPEN`, send `CANDIDATE` with
//!   `dst` (PeerJS server's relay of OFFER/ANSWER/CANDIDATE).
//!
//! Phases, all on the same connections: (1) open `clients` connections in pairs and read the
//! server's RSS before and after (memory per client); (2) closed loop on `pairs` pairs: each
//! keeps `window` messages in flight, every delivery is answered (highest relayed messages per
//! second); (3) open loop at a fixed total rate (relay latency: send to delivery, one clock).
//! Every message carries its send time in `"t"`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::procfs;
use crate::record::Label;
use crate::stats::Histogram;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Rendezvous,
    Peerjs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SignalArgs {
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Server address, host:port (HTTP).
    #[arg(long)]
    pub addr: String,
    #[arg(long)]
    pub pid: Option<u32>,
    /// Connections to open and hold (an even number: two per room).
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Connections opened before the memory baseline.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Pairs that carry traffic in the throughput and latency phases.
    #[arg(long, default_value_t = 200)]
    pub pairs: usize,
    /// Messages in flight per pair in the throughput phase.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Seconds of the throughput phase.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Total messages per second of the latency phase.
    #[arg(long, default_value_t = 2000)]
    pub latency_rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 5.0)]
    pub latency_secs: f64,
    /// Pair set-ups in flight at once while opening connections.
    #[arg(long, default_value_t = 64)]
    pub connect_window: usize,
}

/// A typical trickle-ICE candidate, the message signaling carries most.
const CANDIDATE: &str = r#""candidate":{"candidate":"candidate:842163049 1 udp 1677729535 192.0.2.10 54321 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag x4Ew network-cost 999","sdpMid":"0","sdpMLineIndex":0}"#;

/// The text frame that relays a candidate stamped `t` to `to`.
pub fn message(protocol: Protocol, to: &str, t: u64) -> String {
    match protocol {
        Protocol::Rendezvous => {
            format!(r#"{{"type":"signal","to":"{to}","data":{{"t":{t},{CANDIDATE}}}}}"#)
        }
        Protocol::Peerjs => {
            format!(r#"{{"type":"CANDIDATE","dst":"{to}","payload":{{"t":{t},{CANDIDATE}}}}}"#)
        }
    }
}

/// The send stamp of a relayed message: the number after the first `"t":`, without parsing
/// the rest (the load generator must stay cheaper than the servers it measures).
pub fn stamp(text: &str) -> Option<u64> {
    let at = text.find("\"t\":")? + 4;
    let digits = text[at..]
        .bytes()
        .take_while(|b| b.is_ascii_digit())
        .count();
    text[at..at + digits].parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Hold,
    Throughput,
    Latency,
    Done,
}

struct Shared {
    base: Instant,
    delivered: Cell<u64>,
    errors: Cell<u64>,
    closed: Cell<u64>,
    saturated: RefCell<Histogram>,
    latency: RefCell<Histogram>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

struct Pair {
    a: Ws,
    b: Ws,
    a_id: String,
    b_id: String,
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    let deadline = Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout(deadline, ws.next())
            .await
            .context("timed out waiting for the server")?
            .ok_or_else(|| anyhow!("connection closed"))??;
        match msg {
            WsMessage::Text(t) => return Ok(t.to_string()),
            WsMessage::Close(c) => bail!("closed by the server: {c:?}"),
            _ => {}
        }
    }
}

/// Read until a message of `typ` arrives; an error message fails.
async fn expect(ws: &mut Ws, typ: &str) -> Result<Value> {
    loop {
        let text = next_text(ws).await?;
        let v: Value = serde_json::from_str(&text)?;
        match v["type"].as_str() {
            Some(t) if t == typ => return Ok(v),
            Some("error") | Some("ERROR") | Some("ID-TAKEN") => bail!("server said {text}"),
            _ => {}
        }
    }
}

async fn connect(url: &str) -> Result<Ws> {
    // Without Nagle, as browsers open WebSockets.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .with_context(|| format!("connecting {url}"))?;
    Ok(ws)
}

async fn open_pair(protocol: Protocol, addr: &str, index: usize) -> Result<Pair> {
    match protocol {
        Protocol::Rendezvous => {
            let url = format!("ws://{addr}/ws");
            let room = format!("bench-{index}");
            let join = json!({"type":"join","room":room,"role":"peer"}).to_string();
            let mut a = connect(&url).await?;
            a.send(WsMessage::text(join.clone())).await?;
            let joined = expect(&mut a, "joined").await?;
            let a_id = joined["id"].as_str().context("joined.id")?.to_owned();
            let mut b = connect(&url).await?;
            b.send(WsMessage::text(join)).await?;
            let joined = expect(&mut b, "joined").await?;
            let b_id = joined["id"].as_str().context("joined.id")?.to_owned();
            if joined["peers"][0]["id"].as_str() != Some(a_id.as_str()) {
                bail!("second peer does not see the first: {joined}");
            }
            expect(&mut a, "peer-joined").await?;
            Ok(Pair { a, b, a_id, b_id })
        }
        Protocol::Peerjs => {
            let tag: u32 = rand::random();
            let a_id = format!("a{index}x{tag:08x}");
            let b_id = format!("b{index}x{tag:08x}");
            let open = |id: String| {
                let url = format!(
                    "ws://{addr}/peerjs?key=peerjs&id={id}&token={:016x}",
                    rand::random::<u64>()
                );
                async move {
                    let mut ws = connect(&url).await?;
                    expect(&mut ws, "OPEN").await?;
                    anyhow::Ok(ws)
                }
            };
            let a = open(a_id.clone()).await?;
            let b = open(b_id.clone()).await?;
            Ok(Pair { a, b, a_id, b_id })
        }
    }
}

/// Handle one incoming frame on a connection; returns whether to answer it.
fn on_frame(shared: &Shared, phase: Phase, msg: WsMessage) -> Result<bool, ()> {
    let text = match msg {
        WsMessage::Text(t) => t,
        WsMessage::Close(_) => return Err(()),
        _ => return Ok(false),
    };
    let Some(t) = stamp(&text) else {
        if text.contains("\"error\"") || text.contains("\"ERROR\"") {
            shared.errors.set(shared.errors.get() + 1);
        }
        return Ok(false);
    };
    let lat = shared.now().saturating_sub(t);
    match phase {
        Phase::Throughput => {
            shared.delivered.set(shared.delivered.get() + 1);
            shared.saturated.borrow_mut().record(lat);
            Ok(true)
        }
        Phase::Latency => {
            shared.latency.borrow_mut().record(lat);
            Ok(false)
        }
        Phase::Hold | Phase::Done => Ok(false),
    }
}

/// Drive one pair through the phases.
async fn run_pair(
    pair: Pair,
    protocol: Protocol,
    active: bool,
    window: usize,
    period: Duration,
    shared: Rc<Shared>,
    mut phase_rx: watch::Receiver<Phase>,
) {
    let Pair {
        mut a,
        mut b,
        a_id,
        b_id,
    } = pair;
    let mut phase = *phase_rx.borrow();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result: Result<()> = async {
        loop {
            tokio::select! {
                changed = phase_rx.changed() => {
                    if changed.is_err() { break; }
                    phase = *phase_rx.borrow();
                    match phase {
                        Phase::Done => break,
                        Phase::Throughput if active => {
                            for _ in 0..window {
                                a.send(WsMessage::text(message(protocol, &b_id, shared.now()))).await?;
                            }
                        }
                        Phase::Latency if active => ticker.reset(),
                        _ => {}
                    }
                }
                msg = a.next() => {
                    let Some(msg) = msg else { break };
                    match on_frame(&shared, phase, msg?) {
                        Ok(true) => a.send(WsMessage::text(message(protocol, &b_id, shared.now()))).await?,
                        Ok(false) => {}
                        Err(()) => break,
                    }
                }
                msg = b.next() => {
                    let Some(msg) = msg else { break };
                    match on_frame(&shared, phase, msg?) {
                        Ok(true) => b.send(WsMessage::text(message(protocol, &a_id, shared.now()))).await?,
                        Ok(false) => {}
                        Err(()) => break,
                    }
                }
                _ = ticker.tick(), if active && phase == Phase::Latency => {
                    a.send(WsMessage::text(message(protocol, &b_id, shared.now()))).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    if phase != Phase::Done || result.is_err() {
        shared.closed.set(shared.closed.get() + 1);
    }
    let _ = a.close(None).await;
    let _ = b.close(None).await;
}

async fn open_pairs(
    args: &SignalArgs,
    from: usize,
    count: usize,
    shared: &Rc<Shared>,
    phase_rx: &watch::Receiver<Phase>,
) -> Result<()> {
    let period =
        Duration::from_secs_f64(args.pairs.max(1) as f64 / args.latency_rate.max(1) as f64);
    let mut next = from;
    let end = from + count;
    while next < end {
        let batch: Vec<usize> = (next..end.min(next + args.connect_window)).collect();
        next += batch.len();
        let opened = futures_util::future::join_all(
            batch
                .iter()
                .map(|&i| open_pair(args.protocol, &args.addr, i)),
        )
        .await;
        for (i, pair) in batch.into_iter().zip(opened) {
            let pair = pair.with_context(|| format!("pair {i}"))?;
            tokio::task::spawn_local(run_pair(
                pair,
                args.protocol,
                i < args.pairs,
                args.window,
                period,
                shared.clone(),
                phase_rx.clone(),
            ));
        }
    }
    Ok(())
}

pub fn run(args: SignalArgs, label: Label) -> Result<()> {
    if args.clients < 2 || args.pairs == 0 || args.pairs * 2 > args.clients {
        bail!("need --clients >= 2 and 1 <= --pairs <= clients / 2");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run_async(args, label))
}

async fn run_async(args: SignalArgs, label: Label) -> Result<()> {
    let shared = Rc::new(Shared {
        base: Instant::now(),
        delivered: Cell::new(0),
        errors: Cell::new(0),
        closed: Cell::new(0),
        saturated: RefCell::new(Histogram::new()),
        latency: RefCell::new(Histogram::new()),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Hold);
    let total_pairs = args.clients / 2;
    let warm_pairs = (args.warmup / 2).clamp(args.pairs.min(total_pairs), total_pairs);

    // Phase 1: connections held.
    let t0 = Instant::now();
    open_pairs(&args, 0, warm_pairs, &shared, &phase_rx).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = procfs::sample_opt(args.pid)?;
    open_pairs(
        &args,
        warm_pairs,
        total_pairs - warm_pairs,
        &shared,
        &phase_rx,
    )
    .await?;
    let connect_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = procfs::sample_opt(args.pid)?;
    let measured = (total_pairs - warm_pairs) * 2;
    eprintln!(
        "signal {}: {} connections open in {connect_secs:.1} s",
        label.server,
        total_pairs * 2
    );

    // Phase 2: closed-loop throughput.
    phase_tx.send(Phase::Throughput)?;
    tokio::time::sleep(Duration::from_millis(500)).await; // ramp up
    let d0 = shared.delivered.get();
    let c_start = procfs::sample_opt(args.pid)?;
    let s_start = procfs::sample(std::process::id())?;
    let t_start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.secs)).await;
    let delivered = shared.delivered.get() - d0;
    let tput_secs = t_start.elapsed().as_secs_f64();
    let c_end = procfs::sample_opt(args.pid)?;
    let s_end = procfs::sample(std::process::id())?;
    phase_tx.send(Phase::Hold)?;
    tokio::time::sleep(Duration::from_millis(500)).await; // drain

    // Phase 3: open-loop latency.
    phase_tx.send(Phase::Latency)?;
    tokio::time::sleep(Duration::from_secs_f64(args.latency_secs)).await;
    phase_tx.send(Phase::Hold)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let errors = shared.errors.get();
    let closed = shared.closed.get();
    phase_tx.send(Phase::Done)?;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut m = BTreeMap::new();
    m.insert(
        "clients_held".into(),
        (total_pairs * 2 - closed as usize * 2) as f64,
    );
    m.insert("msgs_per_s".into(), delivered as f64 / tput_secs);
    let lat = shared.latency.borrow();
    let sat = shared.saturated.borrow();
    let us = |h: &Histogram, q: f64| h.quantile(q).map_or(f64::NAN, |n| n as f64 / 1000.0);
    m.insert("latency_p50_us".into(), us(&lat, 0.5));
    m.insert("latency_p99_us".into(), us(&lat, 0.99));
    m.insert("saturated_p99_us".into(), us(&sat, 0.99));
    m.insert("errors".into(), errors as f64);
    let mut detail = json!({
        "clients": total_pairs * 2,
        "measured_clients": measured,
        "pairs": args.pairs,
        "window": args.window,
        "secs": tput_secs,
        "delivered": delivered,
        "latency_rate": args.latency_rate,
        "latency_samples": lat.count(),
        "connect_secs": connect_secs,
        "loadgen_cpu_s": s_end.cpu_seconds - s_start.cpu_seconds,
        "closed_early_pairs": closed,
    });
    if let (Some(b), Some(a)) = (before, after) {
        m.insert(
            "rss_bytes_per_client".into(),
            (a.rss as f64 - b.rss as f64) / measured as f64,
        );
        detail["rss_before"] = json!(b.rss);
        detail["rss_after"] = json!(a.rss);
    }
    if let (Some(b), Some(a)) = (c_start, c_end) {
        let cpu = a.cpu_seconds - b.cpu_seconds;
        detail["server_cpu_s"] = json!(cpu);
        m.insert("msgs_per_cpu_s".into(), delivered as f64 / cpu);
    }
    eprintln!("signal {}: {}", label.server, serde_json::to_string(&m)?);
    drop((lat, sat));
    label.emit("signal", m, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_json_with_a_stamp() {
        for p in [Protocol::Rendezvous, Protocol::Peerjs] {
            let text = message(p, "abc", 1_234_567);
            let v: Value = serde_json::from_str(&text).unwrap();
            let body = match p {
                Protocol::Rendezvous => {
                    assert_eq!(
                        (v["type"].as_str(), v["to"].as_str()),
                        (Some("signal"), Some("abc"))
                    );
                    &v["data"]
                }
                Protocol::Peerjs => {
                    assert_eq!(
                        (v["type"].as_str(), v["dst"].as_str()),
                        (Some("CANDIDATE"), Some("abc"))
                    );
                    &v["payload"]
                }
            };
            assert_eq!(body["t"], 1_234_567);
            assert_eq!(body["candidate"]["sdpMid"], "0");
            assert_eq!(stamp(&text), Some(1_234_567));
        }
    }

    #[test]
    fn stamp_of_relayed_forms() {
        assert_eq!(
            stamp(r#"{"type":"signal","from":"x","data":{"t":42,"candidate":{}}}"#),
            Some(42)
        );
        assert_eq!(
            stamp(r#"{"type":"CANDIDATE","src":"a","dst":"b","payload":{"t":7}}"#),
            Some(7)
        );
        assert_eq!(stamp(r#"{"type":"pong"}"#), None);
        assert_eq!(stamp(r#"{"t":"x"}"#), None);
    }
}

//! Allocation load: authenticated Allocate (401 challenge, then the signed request) from one
//! fresh socket per allocation, a window of them in flight. Gives allocations per second and,
//! from the server's RSS before and after, memory per allocation. The sockets (and so the
//! allocations) are held until the memory has been read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::net;
use crate::procfs;
use crate::record::Label;
use crate::turnclient::{self, Credentials, Retry};

#[derive(Debug, Clone, clap::Args)]
pub struct AllocArgs {
    /// TURN server (UDP).
    #[arg(long)]
    pub server: SocketAddr,
    #[arg(long, default_value = "bench:bench")]
    pub user: Credentials,
    #[arg(long)]
    pub pid: Option<u32>,
    /// Allocations to measure.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Allocations made (and kept) before the baseline, so one-off start-up costs are excluded.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Allocations in flight at once.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Distinct loopback source addresses the client sockets bind to (see `net::source`).
    #[arg(long, default_value_t = 1000)]
    pub sources: usize,
}

async fn make(
    first: usize,
    n: usize,
    args: &AllocArgs,
    sem: &Arc<Semaphore>,
) -> Result<(Vec<UdpSocket>, usize)> {
    let mut tasks = Vec::with_capacity(n);
    for i in first..first + n {
        let source = net::source(i, args.sources);
        let permit = sem.clone().acquire_owned().await?;
        let (server, user) = (args.server, args.user.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let sock = net::tokio_udp(source, 64 << 10)?;
            sock.connect(server).await?;
            turnclient::allocate(&sock, &user, Retry::default()).await?;
            anyhow::Ok(sock)
        }));
    }
    let mut socks = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await? {
            Ok(s) => socks.push(s),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("alloc: {failed} of {n} failed; first: {e:#}");
    }
    Ok((socks, failed))
}

pub fn run(args: AllocArgs, label: Label) -> Result<()> {
    if args.count == 0 || args.window == 0 {
        bail!("--count and --window must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sem = Arc::new(Semaphore::new(args.window));
        let (warm, warm_failed) = make(0, args.warmup, &args, &sem).await?;
        if warm_failed > 0 {
            bail!("{warm_failed} warm-up allocations failed");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = procfs::sample_opt(args.pid)?;
        let t0 = Instant::now();
        let (socks, failed) = make(args.warmup, args.count, &args, &sem).await?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu_mid = procfs::sample_opt(args.pid)?;
        // Let the server finish any lazy work before reading its memory.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = procfs::sample_opt(args.pid)?;
        let ok = socks.len();
        let mut m = BTreeMap::new();
        m.insert("allocs_per_s".into(), ok as f64 / secs);
        m.insert("failed".into(), failed as f64);
        let mut detail = json!({
            "count": args.count,
            "warmup": args.warmup,
            "window": args.window,
            "ok": ok,
            "secs": secs,
        });
        if let (Some(b), Some(c), Some(a)) = (before, cpu_mid, after) {
            let per = |x: u64, y: u64| (y as f64 - x as f64) / ok.max(1) as f64;
            m.insert("rss_bytes_per_alloc".into(), per(b.rss, a.rss));
            m.insert("anon_bytes_per_alloc".into(), per(b.rss_anon, a.rss_anon));
            m.insert(
                "cpu_ms_per_alloc".into(),
                (c.cpu_seconds - b.cpu_seconds) * 1e3 / ok.max(1) as f64,
            );
            detail["rss_before"] = json!(b.rss);
            detail["rss_after"] = json!(a.rss);
            detail["rss_anon_before"] = json!(b.rss_anon);
            detail["rss_anon_after"] = json!(a.rss_anon);
            detail["server_cpu_s"] = json!(c.cpu_seconds - b.cpu_seconds);
        }
        eprintln!(
            "alloc {}: {ok} allocations in {secs:.2} s ({failed} failed); {}",
            label.server,
            serde_json::to_string(&m)?
        );
        drop((warm, socks));
        label.emit("alloc", m, detail)
    })
}

//! `rendezvous-loadgen`: the load generator of `bench/run`. It drives Rendezvous and the
//! servers it is compared with (coturn, the PeerJS server) with the same load, reads their
//! CPU time and memory from /proc, and appends one JSON line per measurement; `report`
//! turns those lines into docs/benchmarks.md.
//!
//! Traffic goes only to the address given (bench/run gives loopback), every phase is bounded
//! in count and time.

mod allocs;
mod binding;
mod net;
mod procfs;
mod record;
mod relay;
mod report;
mod signal;
mod stats;
mod turnclient;
mod uclient;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rendezvous-loadgen", about = "Load generator for bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// TURN relay: step the ChannelData rate up to the highest with < 0.1 % loss.
    Relay {
        #[command(flatten)]
        args: relay::RelayArgs,
        #[command(flatten)]
        label: record::Label,
    },
    /// STUN Binding requests in a closed loop: responses per server CPU-second.
    Binding {
        #[command(flatten)]
        args: binding::BindingArgs,
        #[command(flatten)]
        label: record::Label,
    },
    /// Authenticated allocations: rate and memory per allocation.
    Alloc {
        #[command(flatten)]
        args: allocs::AllocArgs,
        #[command(flatten)]
        label: record::Label,
    },
    /// Signaling over WebSocket (Rendezvous or PeerJS protocol).
    Signal {
        #[command(flatten)]
        args: signal::SignalArgs,
        #[command(flatten)]
        label: record::Label,
    },
    /// Run turnutils_uclient and record its summary with the server's CPU time.
    Uclient {
        #[command(flatten)]
        label: record::Label,
        #[command(flatten)]
        args: uclient::UclientArgs,
    },
    /// Wait until a STUN server answers a Binding request (UDP) or a TCP port accepts.
    Wait {
        #[arg(long, conflicts_with = "tcp")]
        stun: Option<SocketAddr>,
        #[arg(long)]
        tcp: Option<SocketAddr>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 15.0)]
        secs: f64,
    },
    /// Write the figures of a results file into the Markdown document.
    Report(report::ReportArgs),
}

fn wait(stun: Option<SocketAddr>, tcp: Option<SocketAddr>, secs: f64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let udp = match stun {
        Some(addr) => {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            s.connect(addr)?;
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            Some(s)
        }
        None => None,
    };
    while Instant::now() < deadline {
        let ready = match (&udp, tcp) {
            (Some(s), _) => {
                let mut req = Vec::new();
                turnclient::binding_request(&mut req, turnclient::random_tid());
                let _ = s.send(&req);
                let mut buf = [0u8; 1500];
                matches!(s.recv(&mut buf), Ok(n) if binding::is_binding_success(&buf[..n]))
            }
            (None, Some(addr)) => {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            }
            (None, None) => bail!("give --stun or --tcp"),
        };
        if ready {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("server not ready after {secs} s")
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Relay { args, label } => relay::run(args, label),
        Cmd::Binding { args, label } => binding::run(args, label),
        Cmd::Alloc { args, label } => allocs::run(args, label),
        Cmd::Signal { args, label } => signal::run(args, label),
        Cmd::Uclient { args, label } => uclient::run(args, label),
        Cmd::Wait { stun, tcp, secs } => wait(stun, tcp, secs),
        Cmd::Report(args) => report::run(args),
    }
}

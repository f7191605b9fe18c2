//! coturn's `turnutils_uclient` as a second, independent load: run it (with a time limit),
//! read the server's CPU time around it, and parse its summary. It exits 0 even on loss, so
//! the figures come from its output.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use crate::procfs;
use crate::record::Label;

#[derive(Debug, Clone, clap::Args)]
pub struct UclientArgs {
    #[arg(long)]
    pub pid: Option<u32>,
    /// Kill the client after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// What `turnutils_uclient` prints at the end of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UclientSummary {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub loss_pct: f64,
    pub rtt_avg_ms: f64,
    pub rtt_max_ms: f64,
    pub transmit_secs: f64,
}

fn number_after<T: std::str::FromStr>(line: &str, key: &str) -> Option<T> {
    let at = line.find(key)? + key.len();
    let rest = line[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Parse the summary lines; the totals line is the one without `msz=` (per-thread lines
/// carry it).
pub fn parse_summary(out: &str) -> Result<UclientSummary> {
    let mut s = UclientSummary::default();
    let (mut have_totals, mut have_loss, mut have_rtt) = (false, false, false);
    for line in out.lines() {
        if line.contains("tot_send_msgs=") && !line.contains("msz=") {
            s.sent = number_after(line, "tot_send_msgs=").context("tot_send_msgs")?;
            s.received = number_after(line, "tot_recv_msgs=").context("tot_recv_msgs")?;
            have_totals = true;
        } else if line.contains("Total lost packets") {
            s.lost = number_after(line, "Total lost packets").context("lost packets")?;
            s.loss_pct = number_after(line, "(").context("loss percentage")?;
            have_loss = true;
        } else if line.contains("Average round trip delay") {
            s.rtt_avg_ms = number_after(line, "Average round trip delay").context("rtt")?;
            s.rtt_max_ms = number_after(line, "max =").unwrap_or(f64::NAN);
            have_rtt = true;
        } else if line.contains("Total transmit time is") {
            s.transmit_secs = number_after(line, "Total transmit time is").unwrap_or(f64::NAN);
        }
    }
    if !(have_totals && have_loss && have_rtt) {
        bail!("turnutils_uclient printed no complete summary");
    }
    Ok(s)
}

pub fn run(args: UclientArgs, label: Label) -> Result<()> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow!("no command"))?;
    let cpu0 = procfs::sample_opt(args.pid)?;
    let t0 = Instant::now();
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    // Read the pipes in threads so a chatty client cannot block on a full pipe.
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let deadline = t0 + Duration::from_secs(args.timeout);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = procfs::sample_opt(args.pid)?;
    let out = out_t.join().unwrap_or_default() + &err_t.join().unwrap_or_default();
    if status.is_none() {
        bail!("{program} did not finish within {} s", args.timeout);
    }
    let s = parse_summary(&out)?;
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => b.cpu_seconds - a.cpu_seconds,
        _ => f64::NAN,
    };
    eprintln!(
        "uclient {}: sent {} received {} loss {}% rtt avg {} ms, server cpu {cpu:.2} s",
        label.server, s.sent, s.received, s.loss_pct, s.rtt_avg_ms
    );
    let mut m = BTreeMap::new();
    m.insert("loss_pct".into(), s.loss_pct);
    m.insert("rtt_avg_ms".into(), s.rtt_avg_ms);
    // Each echoed message crosses the relay twice; setup (allocations, bindings) is included.
    m.insert(
        "cpu_s_per_mpkt".into(),
        cpu / (2.0 * s.received.max(1) as f64) * 1e6,
    );
    label.emit(
        "uclient",
        m,
        json!({
            "command": args.command.join(" "),
            "sent": s.sent,
            "received": s.received,
            "lost": s.lost,
            "rtt_max_ms": s.rtt_max_ms,
            "secs": secs,
            "server_cpu_s": cpu,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
0: : Total connect time is 0
3: : start_mclient: msz=4, tot_send_msgs=185, tot_recv_msgs=123, tot_send_bytes ~ 29600, tot_recv_bytes ~ 19680
4: : start_mclient: tot_send_msgs=400, tot_recv_msgs=398
4: : start_mclient: tot_send_bytes ~ 64000, tot_recv_bytes ~ 64000
4: : Total transmit time is 4
4: : Total lost packets 2 (0.500000%), total send dropped 0 (0.000000%)
4: : Average round trip delay 3.067500 ms; min = 0 ms, max = 127 ms
4: : Average jitter 4.232500 ms; min = 0 ms, max = 127 ms
";

    #[test]
    fn parses_the_totals_not_a_thread_line() {
        let s = parse_summary(OUT).unwrap();
        assert_eq!((s.sent, s.received, s.lost), (400, 398, 2));
        assert_eq!(s.loss_pct, 0.5);
        assert_eq!(s.rtt_avg_ms, 3.0675);
        assert_eq!(s.rtt_max_ms, 127.0);
        assert_eq!(s.transmit_secs, 4.0);
    }

    #[test]
    fn incomplete_output_is_an_error() {
        let cut: String = OUT.lines().take(4).collect::<Vec<_>>().join("\n");
        assert!(parse_summary(&cut).is_err());
        assert!(parse_summary("").is_err());
    }
}

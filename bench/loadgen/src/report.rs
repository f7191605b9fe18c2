//! Turn `results.jsonl` into the four sections of docs/benchmarks.md that `bench/run` owns
//! ("## TURN relay", "## STUN Binding", "## Allocations", "## Signaling"), each figure as the
//! median of the runs with min and max, and the ratio of medians against the baseline.
//! Other sections of the file are left byte for byte as they were.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::record::{parse_lines, Line};
use crate::stats::Summary;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Results written by the measurements (and meta lines from bench/run).
    #[arg(long)]
    pub results: PathBuf,
    /// The Markdown file whose sections are replaced.
    #[arg(long)]
    pub doc: PathBuf,
    /// Directory of hand-written notes appended to each section: `<slug>.md`, where the slug
    /// is the title in lower case with spaces as dashes (`turn-relay.md`, ...).
    #[arg(long, default_value = "bench/notes")]
    pub notes: PathBuf,
}

/// `TURN relay` -> `turn-relay`.
pub fn slug(title: &str) -> String {
    title.to_lowercase().replace(' ', "-")
}

/// What a row's ratio (ours / baseline, medians) should be.
#[derive(Debug, Clone, Copy)]
enum Target {
    RatioAtLeast(f64),
    RatioAtMost(f64),
    /// Our own median at most this (the baseline is shown for reference).
    OursAtMost(f64, &'static str),
}

struct Row {
    test: &'static str,
    metric: &'static str,
    label: &'static str,
    target: Option<Target>,
    /// A metric of the same test that is > 0 in runs where the load generator, not the
    /// server, set the figure; the verdict is then inconclusive.
    bound_by: Option<&'static str>,
}

const fn row(test: &'static str, metric: &'static str, label: &'static str) -> Row {
    Row {
        test,
        metric,
        label,
        target: None,
        bound_by: None,
    }
}

const fn bound_by(mut r: Row, flag: &'static str) -> Row {
    r.bound_by = Some(flag);
    r
}

const fn target(mut r: Row, t: Target) -> Row {
    r.target = Some(t);
    r
}

struct Section {
    title: &'static str,
    baseline: &'static str,
    baseline_name: &'static str,
    intro: &'static str,
    rows: &'static [Row],
}

const SECTIONS: &[Section] = &[
    Section {
        title: "TURN relay",
        baseline: "coturn",
        baseline_name: "coturn",
        intro: "\
`rendezvous-loadgen relay`: 64 TURN clients on loopback, each with its own UDP socket, allocate \
(long-term credentials), bind channel 0x4000 to a UDP echo peer and send 160-byte ChannelData \
payloads at a fixed total rate for 3 s per step; the echo sends every packet back through the \
relay. The rate steps up (5,000 to 200,000 packets/s from the clients) until loss reaches 0.1 % \
in a step and in its repeat. Every echoed packet is two relayed packets (client to peer, peer to \
client); \"relayed packets/s\" counts both. CPU is the server's utime + stime from \
/proc/PID/stat across the step. Latency and CPU per packet are compared at the same reference \
rate (10,000 packets/s from the clients, 20,000 relayed). `turnutils_uclient` (coturn's own \
client, 20 clients x 1,000 messages of 160 bytes every 5 ms, one allocation each, channels, \
`turnutils_peer` as the echo) is a second load the servers did not choose.",
        rows: &[
            bound_by(
                target(
                    row(
                        "relay",
                        "max_relayed_pps",
                        "highest relayed packets/s at < 0.1 % loss",
                    ),
                    Target::RatioAtLeast(1.5),
                ),
                "limited_by_loadgen",
            ),
            target(
                row(
                    "relay",
                    "cpu_s_per_mpkt_ref",
                    "server CPU-s per million relayed packets (reference rate)",
                ),
                Target::RatioAtMost(0.5),
            ),
            row(
                "relay",
                "cpu_s_per_mpkt_at_max",
                "server CPU-s per million relayed packets (at its highest rate)",
            ),
            row(
                "relay",
                "rtt_p50_us_ref",
                "round trip p50, µs (reference rate)",
            ),
            row(
                "relay",
                "rtt_p99_us_ref",
                "round trip p99, µs (reference rate)",
            ),
            row("uclient", "loss_pct", "turnutils_uclient: loss %"),
            row(
                "uclient",
                "rtt_avg_ms",
                "turnutils_uclient: mean round trip, ms",
            ),
            row(
                "uclient",
                "cpu_s_per_mpkt",
                "turnutils_uclient: server CPU-s per million relayed packets",
            ),
        ],
    },
    Section {
        title: "STUN Binding",
        baseline: "coturn",
        baseline_name: "coturn",
        intro: "\
`rendezvous-loadgen binding`: 8 UDP sockets each keep 32 Binding requests (header only, as \
browsers send) in flight for 5 s; every success response sends the next request, a socket that \
hears nothing for 50 ms refills its window. The figure that matters is responses per CPU-second \
of the server, which does not depend on how much of the 2 cores the load generator took.",
        rows: &[
            target(
                row(
                    "binding",
                    "responses_per_cpu_s",
                    "Binding responses per server CPU-second",
                ),
                Target::RatioAtLeast(2.0),
            ),
            row("binding", "responses_per_s", "Binding responses per second"),
        ],
    },
    Section {
        title: "Allocations",
        baseline: "coturn",
        baseline_name: "coturn",
        intro: "\
`rendezvous-loadgen alloc`, against a freshly started server: 200 warm-up allocations, then \
10,000 authenticated UDP allocations (Allocate, 401, Allocate with MESSAGE-INTEGRITY), each from \
its own client socket, 64 in flight. Allocations per second is over those 10,000; memory per \
allocation is the growth of the server's VmRSS (and RssAnon) from /proc/PID/status, read 1.5 s \
after the last one, divided by 10,000. RSS is user-space memory: the relay socket's kernel \
buffers are not in it, so the figure is what an allocation costs beyond its socket.",
        rows: &[
            row(
                "alloc",
                "allocs_per_s",
                "authenticated allocations per second",
            ),
            target(
                row(
                    "alloc",
                    "rss_bytes_per_alloc",
                    "VmRSS growth per allocation, bytes",
                ),
                Target::OursAtMost(2048.0, "≤ 2 KiB"),
            ),
            row(
                "alloc",
                "anon_bytes_per_alloc",
                "RssAnon growth per allocation, bytes",
            ),
            row("alloc", "cpu_ms_per_alloc", "server CPU ms per allocation"),
            row("alloc", "failed", "allocations that failed"),
        ],
    },
    Section {
        title: "Signaling",
        baseline: "peerjs",
        baseline_name: "PeerJS server",
        intro: "\
`rendezvous-loadgen signal` speaks both protocols: Rendezvous's `/ws` (`join` a two-party room, \
`signal` to the other's id) and the PeerJS server's `/peerjs?key=peerjs&id=..&token=..` \
(`OPEN`, then `CANDIDATE` with `dst`, which it relays like OFFER and ANSWER). Every message is \
a typical trickle-ICE candidate (about 230 bytes of JSON) stamped with its send time. \
10,000 WebSocket clients connect in pairs and stay connected for the whole test; memory per \
client is the server's VmRSS growth, 2 s after the last, over the last 9,600 of them (the \
first 400 are the 200 pairs that carry traffic later). Then 200 \
pairs run a closed loop (16 messages in flight per pair, every delivery answered) for 5 s: \
relayed messages per second. Then the same pairs send 2,000 messages/s in total at a steady \
pace for 5 s: relay latency (send to delivery, both ends in the load generator). Rendezvous runs \
with `--max-messages-per-second 0` (its per-connection rate limit off; PeerJS has none).",
        rows: &[
            row("signal", "clients_held", "WebSocket clients held"),
            target(
                row(
                    "signal",
                    "rss_bytes_per_client",
                    "VmRSS growth per client, bytes",
                ),
                Target::RatioAtMost(0.2),
            ),
            target(
                row("signal", "msgs_per_s", "relayed messages per second"),
                Target::RatioAtLeast(5.0),
            ),
            row(
                "signal",
                "msgs_per_cpu_s",
                "relayed messages per server CPU-second",
            ),
            row(
                "signal",
                "latency_p50_us",
                "relay latency p50, µs (2,000 msg/s)",
            ),
            row(
                "signal",
                "latency_p99_us",
                "relay latency p99, µs (2,000 msg/s)",
            ),
            row(
                "signal",
                "saturated_p99_us",
                "relay latency p99, µs (closed loop)",
            ),
            row("signal", "errors", "error messages received"),
        ],
    },
];

/// Figures grouped as test -> metric -> server -> values over runs.
type Grouped = BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<f64>>>>;

fn group(lines: &[Line]) -> (Grouped, BTreeMap<String, Vec<String>>) {
    let mut g: Grouped = BTreeMap::new();
    let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        match l {
            Line::Result {
                test,
                server,
                metrics,
                ..
            } => {
                for (k, v) in metrics {
                    g.entry(test.clone())
                        .or_default()
                        .entry(k.clone())
                        .or_default()
                        .entry(server.clone())
                        .or_default()
                        .push(*v);
                }
            }
            Line::Meta { key, value } => meta.entry(key.clone()).or_default().push(value.clone()),
        }
    }
    (g, meta)
}

/// A figure for a table: integers with thousands separators from 100 up, else 3 significant
/// digits.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Summary>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n == 1 || s.min == s.max => fmt_num(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_num(s.median),
            fmt_num(s.min),
            fmt_num(s.max)
        ),
    }
}

fn verdict(t: Target, ours: Option<f64>, ratio: Option<f64>) -> String {
    let (text, met) = match t {
        Target::RatioAtLeast(x) => (format!("≥ {x}x"), ratio.map(|r| r >= x)),
        Target::RatioAtMost(x) => (format!("≤ {x}x"), ratio.map(|r| r <= x)),
        Target::OursAtMost(x, text) => (text.to_owned(), ours.map(|o| o <= x)),
    };
    match met {
        Some(true) => format!("{text}: met"),
        Some(false) => format!("{text}: **missed**"),
        None => format!("{text}: no data"),
    }
}

fn meta_line(meta: &BTreeMap<String, Vec<String>>, key: &str) -> String {
    meta.get(key)
        .and_then(|v| v.last())
        .cloned()
        .unwrap_or_else(|| "unknown".into())
}

/// Min and max of the numeric `load` meta values.
fn load_range(meta: &BTreeMap<String, Vec<String>>) -> Option<(f64, f64)> {
    let v: Vec<f64> = meta
        .get("load")?
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let s = Summary::of(&v)?;
    Some((s.min, s.max))
}

fn render(section: &Section, g: &Grouped, meta: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {}\n", section.title);
    let _ = writeln!(out, "{}\n", section.intro);
    let _ = writeln!(
        out,
        "Median of the runs, (min–max) in brackets; ratio = Rendezvous / {} (medians).\n",
        section.baseline_name
    );
    let _ = writeln!(
        out,
        "| measure | Rendezvous | {} | ratio | target |",
        section.baseline_name
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for r in section.rows {
        let by_server = g.get(r.test).and_then(|m| m.get(r.metric));
        let get = |server: &str| {
            by_server
                .and_then(|s| s.get(server))
                .and_then(|v| Summary::of(v))
        };
        let (ours, base) = (get("rendezvous"), get(section.baseline));
        let ratio = match (ours, base) {
            (Some(o), Some(b)) if b.median != 0.0 => Some(o.median / b.median),
            _ => None,
        };
        let ratio_text = ratio.map_or("—".into(), |r| format!("{}x", fmt_num(r)));
        let mut target_text = r
            .target
            .map_or(String::new(), |t| verdict(t, ours.map(|o| o.median), ratio));
        if let Some(flag) = r.bound_by {
            let runs: Vec<f64> = g
                .get(r.test)
                .and_then(|m| m.get(flag))
                .map(|s| s.values().flatten().copied().collect())
                .unwrap_or_default();
            let bound = runs.iter().filter(|v| **v > 0.0).count();
            if bound > 0 && !target_text.is_empty() {
                let head = target_text.split(':').next().unwrap_or_default().to_owned();
                target_text = format!(
                    "{head}: inconclusive (load generator short in {bound} of {} runs)",
                    runs.len()
                );
            }
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.label,
            cell(ours),
            cell(base),
            ratio_text,
            target_text
        );
    }
    if section.title == "TURN relay" {
        let bound = |server: &str| {
            let v: Vec<f64> = g
                .get("relay")
                .and_then(|m| m.get("limited_by_loadgen"))
                .and_then(|s| s.get(server))
                .cloned()
                .unwrap_or_default();
            (v.iter().filter(|x| **x > 0.0).count(), v.len())
        };
        let ((a, an), (b, bn)) = (bound("rendezvous"), bound(section.baseline));
        if a + b > 0 {
            let _ = writeln!(
                out,
                "\nThe stepping ended because the load generator could not send the next rate \
                 (it shares the 2 cores with the server) in {a} of {an} Rendezvous runs and {b} \
                 of {bn} {} runs: there the highest rate is a floor set by the machine, not the \
                 server's limit.",
                section.baseline_name
            );
        }
    }
    let load = load_range(meta).map_or("unknown".into(), |(a, b)| {
        format!("{}–{}", fmt_num(a), fmt_num(b))
    });
    let _ = writeln!(
        out,
        "\nRun {} with `{}` ({} runs per server, alternating Rendezvous and {} and never both at \
         once). Machine: {}. Versions: Rendezvous {}, {}. 1-minute load average before each \
         measurement: {} (other builds shared the machine; this was the quietest window found, and \
         the servers, echo and load generator ran at nice -10 above them).\n",
        meta_line(meta, "date"),
        meta_line(meta, "command"),
        meta_line(meta, "runs"),
        section.baseline_name,
        meta_line(meta, "machine"),
        meta_line(meta, "rendezvous"),
        if section.baseline == "peerjs" {
            format!(
                "PeerJS server (npm `peer`) {} on Node.js {}",
                meta_line(meta, "peer"),
                meta_line(meta, "node")
            )
        } else {
            format!("coturn {}", meta_line(meta, "coturn"))
        },
        load,
    );
    let cmd_key = match section.baseline {
        "peerjs" => ["rendezvous_signal_cmd", "peerjs_cmd"],
        _ => ["rendezvous_cmd", "coturn_cmd"],
    };
    let _ = writeln!(out, "Servers as started:\n\n```sh");
    for k in cmd_key {
        let _ = writeln!(out, "{}", meta_line(meta, k));
    }
    let _ = writeln!(out, "```\n");
    out
}

/// Replace the `## title` section of `doc` (up to the next `## ` heading or the end) with
/// `body`, or append it when the file has none.
pub fn replace_section(doc: &str, title: &str, body: &str) -> String {
    let heading = format!("## {title}");
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == heading);
    let Some(start) = start else {
        let mut out = doc.to_owned();
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(body);
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: String = lines[..start].concat();
    out.push_str(body);
    if end < lines.len() && !body.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(&lines[end..].concat());
    out
}

pub fn run(args: ReportArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| format!("reading {}", args.results.display()))?;
    let lines = parse_lines(&text)?;
    let (g, meta) = group(&lines);
    let mut doc = std::fs::read_to_string(&args.doc).unwrap_or_else(|_| "# Benchmarks\n".into());
    for s in SECTIONS {
        let mut body = render(s, &g, &meta);
        let notes = args.notes.join(format!("{}.md", slug(s.title)));
        if let Ok(text) = std::fs::read_to_string(&notes) {
            body.push_str(text.trim_end());
            body.push_str("\n\n");
        }
        doc = replace_section(&doc, s.title, &body);
    }
    let doc = doc.trim_end().to_owned() + "\n";
    std::fs::write(&args.doc, doc).with_context(|| format!("writing {}", args.doc.display()))?;
    eprintln!("report: wrote {}", args.doc.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("TURN relay"), "turn-relay");
        assert_eq!(slug("STUN Binding"), "stun-binding");
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(1234567.4), "1,234,567");
        assert_eq!(fmt_num(-1234.0), "-1,234");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        assert_eq!(fmt_num(0.01234), "0.012");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(f64::NAN), "—");
    }

    #[test]
    fn replaces_only_its_section() {
        let doc =
            "# B\n\nintro\n\n## STUN codec\n\ntheirs\n\n## TURN relay\n\nold\n\n## Other\n\nx\n";
        let out = replace_section(doc, "TURN relay", "## TURN relay\n\nnew\n\n");
        assert_eq!(
            out,
            "# B\n\nintro\n\n## STUN codec\n\ntheirs\n\n## TURN relay\n\nnew\n\n## Other\n\nx\n"
        );
        // Subsections stay with their section; a missing section is appended.
        let doc = "# B\n\n## TURN relay\n\nold\n### detail\nold\n";
        let out = replace_section(doc, "TURN relay", "## TURN relay\n\nnew\n");
        assert_eq!(out, "# B\n\n## TURN relay\n\nnew\n");
        let out = replace_section("# B\n", "Signaling", "## Signaling\n\ns\n");
        assert_eq!(out, "# B\n\n## Signaling\n\ns\n");
    }

    #[test]
    fn renders_medians_ratios_and_verdicts() {
        let text = [
            r#"{"kind":"meta","key":"load","value":"3.5"}"#,
            r#"{"kind":"meta","key":"load","value":"1.25"}"#,
            r#"{"kind":"result","test":"binding","server":"rendezvous","run":1,"metrics":{"responses_per_cpu_s":300000}}"#,
            r#"{"kind":"result","test":"binding","server":"rendezvous","run":2,"metrics":{"responses_per_cpu_s":500000}}"#,
            r#"{"kind":"result","test":"binding","server":"coturn","run":1,"metrics":{"responses_per_cpu_s":100000}}"#,
            r#"{"kind":"result","test":"binding","server":"coturn","run":2,"metrics":{"responses_per_cpu_s":300000}}"#,
        ]
        .join("\n");
        let (g, meta) = group(&parse_lines(&text).unwrap());
        let out = render(&SECTIONS[1], &g, &meta);
        assert!(out.starts_with("## STUN Binding\n"), "{out}");
        assert!(
            out.contains(
                "| Binding responses per server CPU-second | 400,000 (300,000–500,000) | \
                 200,000 (100,000–300,000) | 2.00x | ≥ 2x: met |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| Binding responses per second | — | — | — |  |"),
            "{out}"
        );
        assert!(out.contains("measurement: 1.25–3.50"), "{out}");
    }

    #[test]
    fn a_rate_the_load_generator_bounded_is_inconclusive() {
        let text = [
            r#"{"kind":"result","test":"relay","server":"rendezvous","run":1,"metrics":{"max_relayed_pps":90000,"limited_by_loadgen":1}}"#,
            r#"{"kind":"result","test":"relay","server":"coturn","run":1,"metrics":{"max_relayed_pps":30000,"limited_by_loadgen":0}}"#,
        ]
        .join("\n");
        let (g, meta) = group(&parse_lines(&text).unwrap());
        let out = render(&SECTIONS[0], &g, &meta);
        assert!(
            out.contains("| 3.00x | ≥ 1.5x: inconclusive (load generator short in 1 of 2 runs) |"),
            "{out}"
        );
        assert!(
            out.contains("in 1 of 1 Rendezvous runs and 0 of 1 coturn runs"),
            "{out}"
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verdict(Target::RatioAtMost(0.5), None, Some(0.6)),
            "≤ 0.5x: **missed**"
        );
        assert_eq!(
            verdict(Target::OursAtMost(2048.0, "≤ 2 KiB"), Some(1000.0), None),
            "≤ 2 KiB: met"
        );
        assert_eq!(
            verdict(Target::RatioAtLeast(5.0), None, None),
            "≥ 5x: no data"
        );
    }
}

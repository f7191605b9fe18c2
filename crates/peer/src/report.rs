//! What a run tells its user: human-readable lines and progress bars on stderr, or with
//! `--json` one JSON object per line on stdout.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::net::{CandidateType, LocalCandidate};
use crate::turn_client::TurnTransport;

/// The candidate pair ICE selected, as the peer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedPair {
    pub local_type: CandidateType,
    pub remote_type: CandidateType,
    /// Transport of the pair itself (always `udp` here).
    pub protocol: &'static str,
    pub local: std::net::SocketAddr,
    pub remote: std::net::SocketAddr,
    /// For a local relay candidate: how the TURN server is reached (udp, tcp or tls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_protocol: Option<TurnTransport>,
}

/// One line of `--json` output.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event<'a> {
    Candidate {
        #[serde(rename = "type")]
        kind: CandidateType,
        address: std::net::SocketAddr,
        protocol: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        relay_protocol: Option<TurnTransport>,
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<std::net::SocketAddr>,
    },
    ServerFailed {
        server: &'a str,
        reason: &'a str,
    },
    Joined {
        room: &'a str,
        id: &'a str,
    },
    Connected {
        peer: &'a str,
        #[serde(flatten)]
        pair: &'a SelectedPair,
    },
    PairChanged {
        peer: &'a str,
        #[serde(flatten)]
        pair: &'a SelectedPair,
    },
    Progress {
        name: &'a str,
        bytes: u64,
        total: u64,
    },
    Done {
        name: &'a str,
        bytes: u64,
        sha256: &'a str,
        secs: f64,
        ok: bool,
    },
    PeerLeft {
        peer: &'a str,
    },
}

/// Writes events for a person or a program.
#[derive(Debug)]
pub struct Reporter {
    json: bool,
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Reporter {
    pub fn new(json: bool, quiet: bool) -> Self {
        Reporter {
            json,
            quiet,
            bar: Mutex::new(None),
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Emits `event`: a JSON line, or a line of text for a person.
    pub fn emit(&self, event: &Event<'_>) {
        if self.json {
            if let Ok(line) = serde_json::to_string(event) {
                println!("{line}");
            }
            return;
        }
        if self.quiet {
            return;
        }
        match event {
            Event::Progress { name, bytes, total } => {
                let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
                let b = bar.get_or_insert_with(|| {
                    let b = ProgressBar::new(*total);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b.enable_steady_tick(Duration::from_millis(200));
                    b
                });
                b.set_message(name.to_string());
                b.set_length(*total);
                b.set_position(*bytes);
            }
            Event::Done { .. } => {
                if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    b.finish_and_clear();
                }
                eprintln!("{}", human(event));
            }
            _ => self.line(&human(event)),
        }
    }

    /// A line of text (suspending the progress bar while it prints).
    pub fn line(&self, text: &str) {
        if self.json || self.quiet {
            return;
        }
        match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(b) => b.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    pub fn candidate(&self, c: &LocalCandidate) {
        self.emit(&Event::Candidate {
            kind: c.kind,
            address: c.addr,
            protocol: "udp",
            relay_protocol: c.relay_transport,
            server: c.server,
        });
    }
}

fn human(event: &Event<'_>) -> String {
    match event {
        Event::Candidate {
            kind,
            address,
            relay_protocol,
            ..
        } => match relay_protocol {
            Some(t) => format!(
                "candidate {} {address} (TURN over {})",
                kind.as_str(),
                transport_name(*t)
            ),
            None => format!("candidate {} {address}", kind.as_str()),
        },
        Event::ServerFailed { server, reason } => format!("{server}: {reason}"),
        Event::Joined { room, id } => format!("joined room {room} as {id}"),
        Event::Connected { peer, pair } => format!("connected to {peer}: {}", pair_text(pair)),
        Event::PairChanged { peer, pair } => format!("path to {peer} now {}", pair_text(pair)),
        Event::Progress { name, bytes, total } => format!("{name}: {bytes}/{total} bytes"),
        Event::Done {
            name,
            bytes,
            sha256,
            secs,
            ok,
        } => {
            let mbps = if *secs > 0.0 {
                *bytes as f64 * 8.0 / secs / 1e6
            } else {
                0.0
            };
            let verdict = if *ok { "ok" } else { "FAILED" };
            format!("{name}: {bytes} bytes in {secs:.2} s ({mbps:.1} Mbit/s), sha256 {sha256} {verdict}")
        }
        Event::PeerLeft { peer } => format!("{peer} left"),
    }
}

fn pair_text(p: &SelectedPair) -> String {
    let relay = p
        .relay_protocol
        .map(|t| format!(", TURN over {}", transport_name(t)))
        .unwrap_or_default();
    format!(
        "{} {} -> {} {} over {}{relay}",
        p.local_type.as_str(),
        p.local,
        p.remote_type.as_str(),
        p.remote,
        p.protocol
    )
}

pub fn transport_name(t: TurnTransport) -> &'static str {
    match t {
        TurnTransport::Udp => "udp",
        TurnTransport::Tcp => "tcp",
        TurnTransport::Tls => "tls",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_json_has_the_pair_fields_at_top_level() {
        let pair = SelectedPair {
            local_type: CandidateType::Relay,
            remote_type: CandidateType::Host,
            protocol: "udp",
            local: "127.0.0.1:5000".parse().unwrap(),
            remote: "127.0.0.1:6000".parse().unwrap(),
            relay_protocol: Some(TurnTransport::Tcp),
        };
        let v: serde_json::Value = serde_json::to_value(Event::Connected {
            peer: "p1",
            pair: &pair,
        })
        .unwrap();
        assert_eq!(v["event"], "connected");
        assert_eq!(v["local_type"], "relay");
        assert_eq!(v["remote_type"], "host");
        assert_eq!(v["protocol"], "udp");
        assert_eq!(v["relay_protocol"], "tcp");
        assert!(human(&Event::Connected {
            peer: "p1",
            pair: &pair
        })
        .contains("relay"));
    }
}

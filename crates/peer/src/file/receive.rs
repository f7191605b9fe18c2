//! `rendezvous receive --room R [--out DIR]`: accept files on `file` data channels, verify
//! their SHA-256 and answer with the verdict.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::Digest;
use signal::{PeerId, Role};
use str0m::change::SdpApi;
use str0m::channel::ChannelId;
use str0m::Event;

use super::protocol::{is_file_label, safe_name, Control, Dialect};
use super::{FileReport, TransferReport};
use crate::report::{Event as Report, Reporter};
use crate::runner::{self, App, ConnectOptions, Ctx};
use crate::PeerError;

const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// After the last file, how long to wait for the sender to take the verdict (it closes the
/// channel when it has) before leaving anyway.
const VERDICT_GRACE: Duration = Duration::from_secs(5);

/// `rendezvous receive`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReceiveOptions {
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// Directory to write received files into.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Stop after this many files; by default, when the sender leaves.
    #[arg(long)]
    pub count: Option<usize>,
}

/// Receives files until `count` have arrived or, without a count, until a sender that sent at
/// least one file leaves. A file whose hash does not match is reported with `ok: false` (and
/// left as `NAME.part`); the run itself fails only when nothing arrived.
pub async fn run(opts: ReceiveOptions) -> Result<TransferReport, PeerError> {
    std::fs::create_dir_all(&opts.out)?;
    let reporter = opts.connect.reporter();
    let mut app = Receiver {
        out: opts.out.clone(),
        count: opts.count,
        transfers: HashMap::new(),
        reports: Vec::new(),
        reporter: &reporter,
        pair: None,
        sender_gone: false,
        awaiting_close: HashSet::new(),
        linger_until: None,
    };
    runner::run(&opts.connect, Role::Peer, &mut app, &reporter).await?;
    Ok(TransferReport {
        files: app.reports,
        pair: app.pair,
    })
}

struct Transfer {
    dialect: Dialect,
    name: String,
    final_path: PathBuf,
    part_path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    expected: String,
    received: u64,
    hasher: sha2::Sha256,
    started: Instant,
    last_progress: Instant,
}

struct Receiver<'r> {
    out: PathBuf,
    count: Option<usize>,
    /// Channels that carry a file, and the transfer on each once its header came.
    transfers: HashMap<(PeerId, ChannelId), Option<Transfer>>,
    reports: Vec<FileReport>,
    reporter: &'r Reporter,
    pair: Option<crate::report::SelectedPair>,
    sender_gone: bool,
    /// Channels whose verdict went out; the sender closes each once it has read it.
    awaiting_close: HashSet<(PeerId, ChannelId)>,
    linger_until: Option<Instant>,
}

impl Receiver<'_> {
    fn on_text(&mut self, ctx: &mut Ctx<'_>, id: ChannelId, text: &str) -> Result<(), PeerError> {
        let key = (ctx.peer().clone(), id);
        let Some((control, dialect)) = Control::parse(text) else {
            tracing::debug!("ignoring a text message on a file channel: {text:.80}");
            return Ok(());
        };
        match control {
            Control::File { name, size, sha256 } => {
                let t = self.begin(&name, size, sha256, dialect)?;
                self.transfers.insert(key, Some(t));
            }
            Control::Eof => {
                let Some(Some(t)) = self.transfers.remove(&key) else {
                    return Ok(());
                };
                let (ack, report) = finish(t)?;
                self.reporter.emit(&Report::Done {
                    name: &report.name,
                    bytes: report.bytes,
                    sha256: &report.sha256,
                    secs: report.secs,
                    ok: report.ok,
                });
                self.reports.push(report);
                let accepted =
                    ctx.mutate(|rtc| rtc.channel(id).map(|mut c| c.write(false, ack.as_bytes())))?;
                if matches!(accepted, Some(Ok(true))) {
                    self.awaiting_close.insert(key);
                } else {
                    tracing::warn!("could not send the verdict for a file");
                }
                if self.count.is_some_and(|n| self.reports.len() >= n) {
                    self.linger_until = Some(ctx.now + VERDICT_GRACE);
                }
            }
            Control::Ack { .. } => {}
        }
        Ok(())
    }

    fn begin(
        &self,
        name: &str,
        size: u64,
        sha256: String,
        dialect: Dialect,
    ) -> Result<Transfer, PeerError> {
        let name = safe_name(name)
            .ok_or_else(|| PeerError::Transfer(format!("unusable file name {name:?}")))?;
        let final_path = free_path(&self.out, &name);
        let part_path = final_path.with_file_name(format!(
            "{}.part",
            final_path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let file = File::create(&part_path)
            .map_err(|e| PeerError::Transfer(format!("{}: {e}", part_path.display())))?;
        let now = Instant::now();
        Ok(Transfer {
            dialect,
            name,
            final_path,
            part_path,
            file: BufWriter::with_capacity(1 << 20, file),
            size,
            expected: sha256.to_ascii_lowercase(),
            received: 0,
            hasher: sha2::Sha256::new(),
            started: now,
            last_progress: now,
        })
    }

    fn on_binary(&mut self, ctx: &Ctx<'_>, id: ChannelId, data: &[u8]) -> Result<(), PeerError> {
        let Some(Some(t)) = self.transfers.get_mut(&(ctx.peer().clone(), id)) else {
            return Ok(());
        };
        t.received += data.len() as u64;
        if t.received > t.size {
            return Err(PeerError::Transfer(format!(
                "{}: more bytes than announced",
                t.name
            )));
        }
        t.hasher.update(data);
        t.file
            .write_all(data)
            .map_err(|e| PeerError::Transfer(format!("{}: {e}", t.part_path.display())))?;
        if t.last_progress.elapsed() >= PROGRESS_EVERY {
            t.last_progress = Instant::now();
            self.reporter.emit(&Report::Progress {
                name: &t.name,
                bytes: t.received,
                total: t.size,
            });
        }
        Ok(())
    }
}

/// Flushes, checks size and hash, and moves the file into place when it matches.
fn finish(t: Transfer) -> Result<(String, FileReport), PeerError> {
    let Transfer {
        dialect,
        name,
        final_path,
        part_path,
        file,
        size,
        expected,
        received,
        hasher,
        started,
        ..
    } = t;
    file.into_inner()
        .map_err(|e| PeerError::Transfer(format!("{}: {e}", part_path.display())))?
        .sync_all()?;
    let sha256 = hex::encode(hasher.finalize());
    let ok = received == size && sha256 == expected;
    let path = if ok {
        std::fs::rename(&part_path, &final_path)?;
        final_path
    } else {
        part_path
    };
    let ack = Control::Ack {
        sha256: sha256.clone(),
        ok,
    }
    .to_json(dialect);
    Ok((
        ack,
        FileReport {
            name,
            path,
            bytes: received,
            sha256,
            secs: started.elapsed().as_secs_f64(),
            ok,
        },
    ))
}

/// `dir/name`, or `dir/name (1)`, `dir/name (2)`… when taken.
fn free_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() && !dir.join(format!("{name}.part")).exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    (1..)
        .map(|i| dir.join(format!("{stem} ({i}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

impl App for Receiver<'_> {
    fn prepare_offer(&mut self, _peer: &PeerId, api: &mut SdpApi<'_>) {
        // An offer needs an SCTP association for the sender's channels to ride on.
        api.add_channel("rdv-control".to_owned());
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Result<(), PeerError> {
        if self.transfers.keys().any(|(p, _)| p == ctx.peer()) {
            self.pair = ctx.pair().or(self.pair.take());
        }
        match event {
            Event::ChannelOpen(id, label) if is_file_label(&label) => {
                self.pair = ctx.pair().or(self.pair.take());
                self.transfers.insert((ctx.peer().clone(), id), None);
            }
            Event::ChannelData(d) => {
                if !self.transfers.contains_key(&(ctx.peer().clone(), d.id)) {
                    return Ok(());
                }
                if d.binary {
                    self.on_binary(ctx, d.id, &d.data)?;
                } else {
                    let text = String::from_utf8_lossy(&d.data).into_owned();
                    self.on_text(ctx, d.id, &text)?;
                }
            }
            Event::ChannelClose(id) => {
                self.awaiting_close.remove(&(ctx.peer().clone(), id));
                if let Some(Some(t)) = self.transfers.remove(&(ctx.peer().clone(), id)) {
                    let _ = std::fs::remove_file(&t.part_path);
                    self.reporter.line(&format!(
                        "{}: the sender closed the channel mid-transfer",
                        t.name
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_peer_gone(&mut self, peer: &PeerId) -> Result<(), PeerError> {
        self.sender_gone = true;
        self.awaiting_close.retain(|(p, _)| p != peer);
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.linger_until
    }

    fn finished(&self) -> bool {
        match self.count {
            Some(n) => {
                let verdicts_taken = self.awaiting_close.is_empty()
                    || self.linger_until.is_some_and(|t| Instant::now() >= t);
                self.reports.len() >= n && verdicts_taken
            }
            None => self.sender_gone && !self.reports.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_path_never_overwrites() {
        let dir = std::env::temp_dir().join(format!("rdv-free-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(free_path(&dir, "a.txt"), dir.join("a.txt"));
        std::fs::write(dir.join("a.txt"), b"x").unwrap();
        assert_eq!(free_path(&dir, "a.txt"), dir.join("a (1).txt"));
        std::fs::write(dir.join("a (1).txt"), b"x").unwrap();
        assert_eq!(free_path(&dir, "a.txt"), dir.join("a (2).txt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

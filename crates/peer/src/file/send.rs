//! `rendezvous send FILE... --room R`: offer files to the first peer that connects, one data
//! channel per file, and wait for each receiver verdict.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use signal::{PeerId, Role};
use str0m::change::SdpApi;
use str0m::channel::ChannelId;
use str0m::Event;

use super::protocol::{Control, Dialect, CHUNK, LABEL};
use super::{hash_file, FileReport, TransferReport};
use crate::report::{Event as Report, Reporter};
use crate::runner::{self, App, ConnectOptions, Ctx};
use crate::PeerError;

/// Bytes queued in the channel before the sender waits for `ChannelBufferedAmountLow`.
const HIGH_WATER: usize = 1 << 20;
const LOW_WATER: usize = 256 * 1024;
/// Progress lines at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// While a file is on its way, the channel is topped up at least this often, in case a
/// buffered-amount-low event is missed.
const PUMP_EVERY: Duration = Duration::from_millis(20);

/// `rendezvous send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendOptions {
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// Files to send, in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Sends the files to the first peer that connects in the room; returns once the receiver has
/// acknowledged every file. A file the receiver rejects (hash mismatch) is an error.
pub async fn run(opts: SendOptions) -> Result<TransferReport, PeerError> {
    let mut files = Vec::new();
    for path in &opts.files {
        let p = path.clone();
        let (sha256, size) = tokio::task::spawn_blocking(move || hash_file(&p))
            .await
            .map_err(|e| PeerError::Transfer(e.to_string()))?
            .map_err(|e| PeerError::Transfer(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PeerError::Usage(format!("{} is not a file", path.display())))?;
        files.push(Outgoing {
            path: path.clone(),
            name,
            size,
            sha256,
        });
    }
    let reporter = opts.connect.reporter();
    let mut app = Sender {
        files,
        index: 0,
        peer: None,
        state: State::Idle,
        reports: Vec::new(),
        reporter: &reporter,
        pair: None,
        next_pump: None,
        last_progress: Instant::now(),
        offered_channel: None,
    };
    runner::run(&opts.connect, Role::Peer, &mut app, &reporter).await?;
    if let Some(bad) = app.reports.iter().find(|r| !r.ok) {
        return Err(PeerError::Transfer(format!(
            "the receiver reports a hash mismatch for {}",
            bad.name
        )));
    }
    Ok(TransferReport {
        files: app.reports,
        pair: app.pair,
    })
}

struct Outgoing {
    path: PathBuf,
    name: String,
    size: u64,
    sha256: String,
}

enum State {
    /// No channel for the current file yet.
    Idle,
    /// Channel requested; waiting for it to open.
    Opening(ChannelId),
    Sending {
        channel: ChannelId,
        file: File,
        sent: u64,
        started: Instant,
    },
    AwaitingAck {
        channel: ChannelId,
        started: Instant,
    },
    Done,
}

struct Sender<'r> {
    files: Vec<Outgoing>,
    index: usize,
    /// The receiver: the first peer whose connection comes up.
    peer: Option<PeerId>,
    state: State,
    reports: Vec<FileReport>,
    reporter: &'r Reporter,
    pair: Option<crate::report::SelectedPair>,
    next_pump: Option<Instant>,
    last_progress: Instant,
    /// The channel our first offer carries (opens once the connection is up).
    offered_channel: Option<ChannelId>,
}

impl Sender<'_> {
    /// Opens a channel for the current file (no renegotiation: SCTP is already there).
    fn open_channel(&mut self, ctx: &mut Ctx<'_>) -> Result<(), PeerError> {
        if let Some(id) = self.offered_channel.take() {
            self.state = State::Opening(id);
            return Ok(());
        }
        let id = ctx.mutate(|rtc| {
            let mut api = rtc.sdp_api();
            let id = api.add_channel(LABEL.to_owned());
            (id, api.apply().is_some())
        })?;
        if id.1 {
            return Err(PeerError::Transfer(
                "the receiver's offer has no data channel (m=application)".into(),
            ));
        }
        self.state = State::Opening(id.0);
        Ok(())
    }

    fn start_file(&mut self, ctx: &mut Ctx<'_>, channel: ChannelId) -> Result<(), PeerError> {
        let f = &self.files[self.index];
        let header = Control::File {
            name: f.name.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
        }
        .to_json(Dialect::Current);
        let file = File::open(&f.path)
            .map_err(|e| PeerError::Transfer(format!("{}: {e}", f.path.display())))?;
        let accepted = ctx.mutate(|rtc| {
            rtc.channel(channel).map(|mut ch| {
                ch.set_buffered_amount_low_threshold(LOW_WATER);
                ch.write(false, header.as_bytes())
            })
        })?;
        match accepted {
            Some(Ok(true)) => {}
            Some(Ok(false)) => {
                return Err(PeerError::Transfer("the channel refused the header".into()))
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(PeerError::Transfer("the channel closed".into())),
        }
        self.state = State::Sending {
            channel,
            file,
            sent: 0,
            started: Instant::now(),
        };
        self.pump(ctx)
    }

    /// Writes chunks until the channel holds [`HIGH_WATER`] bytes or the file is out.
    fn pump(&mut self, ctx: &mut Ctx<'_>) -> Result<(), PeerError> {
        let State::Sending {
            channel,
            file,
            sent,
            started,
        } = &mut self.state
        else {
            return Ok(());
        };
        let (channel, started) = (*channel, *started);
        let size = self.files[self.index].size;
        let mut chunk = vec![0u8; CHUNK];
        while *sent < size {
            let buffered =
                ctx.mutate(|rtc| rtc.channel(channel).map(|mut c| c.buffered_amount()))?;
            let Some(buffered) = buffered else {
                return Err(PeerError::Transfer(
                    "the channel closed during the transfer".into(),
                ));
            };
            if buffered >= HIGH_WATER {
                break;
            }
            let want = CHUNK.min((size - *sent) as usize);
            file.read_exact(&mut chunk[..want]).map_err(|e| {
                PeerError::Transfer(format!("reading {}: {e}", self.files[self.index].name))
            })?;
            let accepted = ctx.mutate(|rtc| {
                rtc.channel(channel)
                    .map(|mut c| c.write(true, &chunk[..want]))
            })?;
            match accepted {
                Some(Ok(true)) => *sent += want as u64,
                Some(Ok(false)) => {
                    // SCTP buffer full: rewind and try again on the next pump.
                    use std::io::Seek;
                    file.seek(std::io::SeekFrom::Current(-(want as i64)))?;
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(PeerError::Transfer(
                        "the channel closed during the transfer".into(),
                    ))
                }
            }
        }
        let sent = *sent;
        if self.last_progress.elapsed() >= PROGRESS_EVERY || sent == size {
            self.last_progress = Instant::now();
            self.reporter.emit(&Report::Progress {
                name: &self.files[self.index].name,
                bytes: sent,
                total: size,
            });
        }
        if sent == size {
            let eof = Control::Eof.to_json(Dialect::Current);
            let accepted = ctx.mutate(|rtc| {
                rtc.channel(channel)
                    .map(|mut c| c.write(false, eof.as_bytes()))
            })?;
            if let Some(Ok(true)) = accepted {
                self.state = State::AwaitingAck { channel, started };
                self.next_pump = None;
                return Ok(());
            }
        }
        self.next_pump = Some(Instant::now() + PUMP_EVERY);
        Ok(())
    }

    fn acknowledged(
        &mut self,
        ctx: &mut Ctx<'_>,
        sha256: String,
        ok: bool,
        started: Instant,
    ) -> Result<(), PeerError> {
        let f = &self.files[self.index];
        let ok = ok && sha256.eq_ignore_ascii_case(&f.sha256);
        let secs = started.elapsed().as_secs_f64();
        self.reporter.emit(&Report::Done {
            name: &f.name,
            bytes: f.size,
            sha256: &f.sha256,
            secs,
            ok,
        });
        self.reports.push(FileReport {
            name: f.name.clone(),
            path: f.path.clone(),
            bytes: f.size,
            sha256: f.sha256.clone(),
            secs,
            ok,
        });
        self.index += 1;
        if self.index == self.files.len() {
            self.state = State::Done;
            return Ok(());
        }
        self.open_channel(ctx)
    }
}

impl App for Sender<'_> {
    fn prepare_offer(&mut self, _peer: &PeerId, api: &mut SdpApi<'_>) {
        if self.offered_channel.is_none() && self.peer.is_none() {
            self.offered_channel = Some(api.add_channel(LABEL.to_owned()));
        }
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Result<(), PeerError> {
        if self.peer.as_ref().is_some_and(|p| p != ctx.peer()) {
            return Ok(());
        }
        if self.peer.is_some() {
            // The pair in use now: it may change after the first report (ICE renomination).
            self.pair = ctx.pair().or(self.pair.take());
        }
        match event {
            Event::Connected if self.peer.is_none() => {
                self.peer = Some(ctx.peer().clone());
                self.open_channel(ctx)?;
            }
            Event::ChannelOpen(id, _) => {
                if matches!(self.state, State::Opening(c) if c == id) {
                    self.start_file(ctx, id)?;
                }
            }
            Event::ChannelBufferedAmountLow(id) => {
                if matches!(self.state, State::Sending { channel, .. } if channel == id) {
                    self.pump(ctx)?;
                }
            }
            Event::ChannelData(d) if !d.binary => {
                let State::AwaitingAck { channel, started } = self.state else {
                    return Ok(());
                };
                if d.id != channel {
                    return Ok(());
                }
                if let Some((Control::Ack { sha256, ok }, _)) =
                    std::str::from_utf8(&d.data).ok().and_then(Control::parse)
                {
                    ctx.mutate(|rtc| rtc.direct_api().close_data_channel(channel))?;
                    self.acknowledged(ctx, sha256, ok, started)?;
                }
            }
            Event::ChannelClose(id) => {
                let ours = match self.state {
                    State::Sending { channel, .. } | State::AwaitingAck { channel, .. } => {
                        channel == id
                    }
                    _ => false,
                };
                if ours {
                    return Err(PeerError::Transfer(
                        "the receiver closed the channel".into(),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_peer_gone(&mut self, peer: &PeerId) -> Result<(), PeerError> {
        if self.peer.as_ref() == Some(peer) && !matches!(self.state, State::Done) {
            return Err(PeerError::Transfer(format!(
                "{peer} left before the transfer finished"
            )));
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_pump
    }

    fn handle_timeout(
        &mut self,
        _now: Instant,
        sessions: &mut runner::Sessions<'_>,
    ) -> Result<(), PeerError> {
        self.next_pump = None;
        let Some(peer) = self.peer.clone() else {
            return Ok(());
        };
        sessions.each(|ctx| {
            if *ctx.peer() == peer {
                self.pump(ctx)
            } else {
                Ok(())
            }
        })
    }

    fn finished(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

//! `rendezvous record --room R --out FILE.ivf`: a viewer of a broadcast room that writes the
//! VP8 frames it receives to an IVF file, starting at the first key frame.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use signal::{PeerId, Role};
use str0m::change::SdpApi;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::Event;

use super::ivf::{vp8_is_keyframe, vp8_keyframe_size, IvfWriter};
use crate::report::{Reporter, SelectedPair};
use crate::runner::{self, App, ConnectOptions, Ctx, Sessions};
use crate::PeerError;

/// How often a key frame is asked for while none has come.
const KEYFRAME_RETRY: Duration = Duration::from_secs(1);

/// `rendezvous record`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordOptions {
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// IVF file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Stop this many seconds after the first frame.
    #[arg(long)]
    pub duration: Option<u64>,
}

/// What a `record` run wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordReport {
    pub frames: u64,
    pub keyframes: u64,
    pub bytes: u64,
    pub width: u16,
    pub height: u16,
    pub pair: Option<SelectedPair>,
}

/// Records until `frames` or `duration` is reached, or the publisher leaves.
pub async fn run(opts: RecordOptions) -> Result<RecordReport, PeerError> {
    let file = File::create(&opts.out)
        .map_err(|e| PeerError::Media(format!("{}: {e}", opts.out.display())))?;
    let writer = IvfWriter::new(BufWriter::new(file), 0, 0, 90_000)?;
    let reporter = opts.connect.reporter();
    let mut app = Recorder {
        opts: opts.clone(),
        writer: Some(writer),
        video: None,
        first_time: None,
        first_frame_at: None,
        next_keyframe_request: None,
        report: RecordReport {
            frames: 0,
            keyframes: 0,
            bytes: 0,
            width: 0,
            height: 0,
            pair: None,
        },
        publisher_gone: false,
        reporter: &reporter,
    };
    runner::run(&opts.connect, Role::Viewer, &mut app, &reporter).await?;
    if app.report.frames == 0 {
        return Err(PeerError::Media("no video frame arrived".into()));
    }
    Ok(app.report)
}

struct Recorder<'r> {
    opts: RecordOptions,
    writer: Option<IvfWriter<BufWriter<File>>>,
    video: Option<(PeerId, Mid)>,
    /// RTP time (90 kHz) of the first frame written; IVF timestamps count from it.
    first_time: Option<u64>,
    first_frame_at: Option<Instant>,
    next_keyframe_request: Option<Instant>,
    report: RecordReport,
    publisher_gone: bool,
    reporter: &'r Reporter,
}

impl Recorder<'_> {
    fn on_frame(&mut self, ctx: &mut Ctx<'_>, data: MediaData) -> Result<(), PeerError> {
        if data.params.spec().codec != Codec::Vp8 || self.finished() {
            return Ok(());
        }
        let time = data
            .time
            .rebase(str0m::media::Frequency::NINETY_KHZ)
            .numer();
        if self.first_time.is_none() {
            if !vp8_is_keyframe(&data.data) || !data.contiguous {
                self.request_keyframe(ctx, data.mid)?;
                return Ok(());
            }
            self.first_time = Some(time);
            self.first_frame_at = Some(ctx.now);
            self.next_keyframe_request = None;
            self.reporter.line("recording");
        } else if !data.contiguous {
            // A gap: later frames reference what was lost; wait for the next key frame.
            self.request_keyframe(ctx, data.mid)?;
        }
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        if let Some((w, h)) = vp8_keyframe_size(&data.data) {
            writer.set_size(w, h);
            self.report.width = w;
            self.report.height = h;
            self.report.keyframes += 1;
        }
        let ts = time.saturating_sub(self.first_time.unwrap_or(time));
        writer.write_frame(ts, &data.data)?;
        self.report.frames += 1;
        self.report.bytes += data.data.len() as u64;
        Ok(())
    }

    fn request_keyframe(&mut self, ctx: &mut Ctx<'_>, mid: Mid) -> Result<(), PeerError> {
        if self.next_keyframe_request.is_some_and(|t| t > ctx.now) {
            return Ok(());
        }
        self.next_keyframe_request = Some(ctx.now + KEYFRAME_RETRY);
        ctx.mutate(|rtc| {
            if let Some(mut w) = rtc.writer(mid) {
                let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
            }
        })
    }
}

impl App for Recorder<'_> {
    fn prepare_offer(&mut self, _peer: &PeerId, _api: &mut SdpApi<'_>) {
        // Viewers never offer (docs/protocol.md).
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Result<(), PeerError> {
        if let Some(pair) = ctx.pair() {
            self.report.pair = Some(pair);
        }
        match event {
            Event::MediaAdded(m)
                if m.kind == str0m::media::MediaKind::Video && self.video.is_none() =>
            {
                self.video = Some((ctx.peer().clone(), m.mid));
            }
            Event::MediaData(d) => self.on_frame(ctx, d)?,
            _ => {}
        }
        Ok(())
    }

    fn on_peer_gone(&mut self, _peer: &PeerId) -> Result<(), PeerError> {
        self.publisher_gone = true;
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let stop = self
            .opts
            .duration
            .zip(self.first_frame_at)
            .map(|(d, t)| t + Duration::from_secs(d));
        stop.into_iter().chain(self.next_keyframe_request).min()
    }

    fn handle_timeout(
        &mut self,
        now: Instant,
        sessions: &mut Sessions<'_>,
    ) -> Result<(), PeerError> {
        if self.first_time.is_none() && self.next_keyframe_request.is_some_and(|t| t <= now) {
            if let Some((peer, mid)) = self.video.clone() {
                self.next_keyframe_request = None;
                sessions.each(|ctx| {
                    if *ctx.peer() == peer {
                        self.request_keyframe(ctx, mid)
                    } else {
                        Ok(())
                    }
                })?;
            }
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        let by_frames = self.opts.frames.is_some_and(|n| self.report.frames >= n);
        let by_time = self
            .opts
            .duration
            .zip(self.first_frame_at)
            .is_some_and(|(d, t)| t.elapsed() >= Duration::from_secs(d));
        by_frames || by_time || self.publisher_gone
    }

    fn finish(&mut self) -> Result<(), PeerError> {
        if let Some(w) = self.writer.take() {
            w.finish()?;
        }
        Ok(())
    }
}

//! `rendezvous stream --room R --video FILE.ivf [--audio FILE.ogg]`: the publisher of a
//! broadcast room. It offers VP8 (and Opus) to every viewer and sends the file's frames paced
//! in real time, to every connected viewer at once.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use signal::{PeerId, Role};
use str0m::change::SdpApi;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::Event;

use super::ivf::{IvfError, IvfReader};
use super::ogg::{opus_packet_samples, OggOpusReader};
use crate::report::{Reporter, SelectedPair};
use crate::runner::{self, App, ConnectOptions, Ctx, Sessions};
use crate::PeerError;

/// `rendezvous stream`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamOptions {
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// VP8 video in an IVF file.
    #[arg(long)]
    pub video: PathBuf,
    /// Opus audio in an Ogg file.
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// Start over at the end of the file, this many times in all (0 = forever).
    #[arg(long, default_value_t = 1)]
    pub plays: u32,
    /// Wait for this many viewers before sending the first frame.
    #[arg(long, default_value_t = 1)]
    pub viewers: usize,
}

/// What a `stream` run sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamReport {
    pub video_frames: u64,
    pub audio_packets: u64,
    /// Viewers that were connected when the stream ended.
    pub viewers: usize,
    pub pairs: Vec<SelectedPair>,
}

/// Streams until the file has played `plays` times; fails when no viewer connects in time.
pub async fn run(opts: StreamOptions) -> Result<StreamReport, PeerError> {
    let video = open_video(&opts.video)?;
    let audio = match &opts.audio {
        Some(p) => Some(open_audio(p)?),
        None => None,
    };
    let reporter = opts.connect.reporter();
    let mut app = Publisher {
        opts: opts.clone(),
        video,
        audio,
        viewers: HashMap::new(),
        clock: None,
        plays_left: opts.plays,
        video_frames: 0,
        audio_packets: 0,
        done: false,
        reporter: &reporter,
    };
    runner::run(&opts.connect, Role::Publisher, &mut app, &reporter).await?;
    let pairs = app
        .viewers
        .values()
        .filter_map(|v| v.pair.clone())
        .collect();
    Ok(StreamReport {
        video_frames: app.video_frames,
        audio_packets: app.audio_packets,
        viewers: app.viewers.values().filter(|v| v.connected).count(),
        pairs,
    })
}

type Video = IvfReader<BufReader<File>>;
type Audio = OggOpusReader<BufReader<File>>;

fn open_video(path: &PathBuf) -> Result<Video, PeerError> {
    let f = File::open(path).map_err(|e| PeerError::Media(format!("{}: {e}", path.display())))?;
    IvfReader::new(BufReader::new(f))
        .map_err(|e: IvfError| PeerError::Media(format!("{}: {e}", path.display())))
}

fn open_audio(path: &PathBuf) -> Result<Audio, PeerError> {
    let f = File::open(path).map_err(|e| PeerError::Media(format!("{}: {e}", path.display())))?;
    OggOpusReader::new(BufReader::new(f))
        .map_err(|e| PeerError::Media(format!("{}: {e}", path.display())))
}

#[derive(Default)]
struct Viewer {
    video: Option<Mid>,
    audio: Option<Mid>,
    connected: bool,
    pair: Option<SelectedPair>,
}

/// Where the media clock is: the instant playback started and the next sample of each track.
struct Clock {
    started: Instant,
    /// Video: the next frame and its offset from the start, in microseconds.
    next_video: Option<(u64, Vec<u8>)>,
    /// Offset of the previous plays' end, so timestamps keep rising when a file starts over.
    video_base: u64,
    last_video: u64,
    next_audio: Option<(u64, Vec<u8>)>,
    audio_samples: u64,
}

struct Publisher<'r> {
    opts: StreamOptions,
    video: Video,
    audio: Option<Audio>,
    viewers: HashMap<PeerId, Viewer>,
    clock: Option<Clock>,
    plays_left: u32,
    video_frames: u64,
    audio_packets: u64,
    done: bool,
    reporter: &'r Reporter,
}

impl Publisher<'_> {
    fn read_video(&mut self, clock_base: u64) -> Result<Option<(u64, Vec<u8>)>, PeerError> {
        let frame = self
            .video
            .next_frame()
            .map_err(|e| PeerError::Media(e.to_string()))?;
        Ok(frame.map(|f| (clock_base + self.video.micros(f.timestamp), f.data)))
    }

    fn read_audio(&mut self, samples: u64) -> Result<Option<(u64, Vec<u8>)>, PeerError> {
        let Some(audio) = &mut self.audio else {
            return Ok(None);
        };
        loop {
            let Some(p) = audio
                .next_packet()
                .map_err(|e| PeerError::Media(e.to_string()))?
            else {
                return Ok(None);
            };
            // Skip packets whose TOC is malformed rather than stall the clock.
            if opus_packet_samples(&p).is_some() {
                return Ok(Some((samples * 1_000_000 / 48_000, p)));
            }
        }
    }

    fn start(&mut self, now: Instant) -> Result<(), PeerError> {
        let next_video = self.read_video(0)?;
        let next_audio = self.read_audio(0)?;
        self.clock = Some(Clock {
            started: now,
            next_video,
            video_base: 0,
            last_video: 0,
            next_audio,
            audio_samples: 0,
        });
        self.reporter.line("streaming");
        Ok(())
    }

    /// Starts the files over, or ends the stream after the last play.
    fn rewind(&mut self) -> Result<bool, PeerError> {
        if self.plays_left == 1 {
            return Ok(false);
        }
        self.plays_left = self
            .plays_left
            .saturating_sub(1)
            .max(if self.opts.plays == 0 { 1 } else { 0 });
        self.video = open_video(&self.opts.video)?;
        if let Some(p) = &self.opts.audio {
            self.audio = Some(open_audio(p)?);
        }
        Ok(true)
    }
}

fn write_media(
    ctx: &mut Ctx<'_>,
    mid: Mid,
    codec: Codec,
    micros: u64,
    rate: u64,
    data: &[u8],
) -> Result<(), PeerError> {
    let now = ctx.now;
    ctx.mutate(|rtc| {
        let Some(writer) = rtc.writer(mid) else {
            return Ok(());
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
        else {
            return Ok(());
        };
        let time = MediaTime::new(
            micros * rate / 1_000_000,
            str0m::media::Frequency::new(rate as u32).expect("nonzero"),
        );
        writer.write(pt, now, time, data.to_vec())
    })??;
    Ok(())
}

impl App for Publisher<'_> {
    fn prepare_offer(&mut self, peer: &PeerId, api: &mut SdpApi<'_>) {
        let viewer = self.viewers.entry(peer.clone()).or_default();
        viewer.video = Some(api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        if self.audio.is_some() {
            viewer.audio =
                Some(api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        }
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Result<(), PeerError> {
        let viewer = self.viewers.entry(ctx.peer().clone()).or_default();
        viewer.pair = ctx.pair().or(viewer.pair.take());
        match event {
            Event::MediaAdded(m) => match m.kind {
                MediaKind::Video => viewer.video = viewer.video.or(Some(m.mid)),
                MediaKind::Audio => viewer.audio = viewer.audio.or(Some(m.mid)),
            },
            Event::Connected => {
                viewer.connected = true;
                let connected = self.viewers.values().filter(|v| v.connected).count();
                if self.clock.is_none() && connected >= self.opts.viewers {
                    self.start(ctx.now)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_peer_gone(&mut self, peer: &PeerId) -> Result<(), PeerError> {
        if let Some(v) = self.viewers.get_mut(peer) {
            v.connected = false;
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let c = self.clock.as_ref()?;
        let next = [
            c.next_video.as_ref().map(|v| v.0),
            c.next_audio.as_ref().map(|a| a.0),
        ]
        .into_iter()
        .flatten()
        .min();
        // Nothing queued means the files ended: wake at once to rewind or finish.
        Some(c.started + Duration::from_micros(next.unwrap_or(0)))
    }

    fn handle_timeout(
        &mut self,
        now: Instant,
        sessions: &mut Sessions<'_>,
    ) -> Result<(), PeerError> {
        let Some(mut clock) = self.clock.take() else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(clock.started).as_micros() as u64;
        while let Some((at, frame)) = clock.next_video.take_if(|(at, _)| *at <= elapsed) {
            let viewers = &self.viewers;
            sessions.each(|ctx| match viewers.get(ctx.peer()) {
                Some(Viewer {
                    video: Some(mid),
                    connected: true,
                    ..
                }) => write_media(ctx, *mid, Codec::Vp8, at, 90_000, &frame),
                _ => Ok(()),
            })?;
            self.video_frames += 1;
            clock.last_video = at;
            clock.next_video = self.read_video(clock.video_base)?;
        }
        while let Some((at, packet)) = clock.next_audio.take_if(|(at, _)| *at <= elapsed) {
            let viewers = &self.viewers;
            sessions.each(|ctx| match viewers.get(ctx.peer()) {
                Some(Viewer {
                    audio: Some(mid),
                    connected: true,
                    ..
                }) => write_media(ctx, *mid, Codec::Opus, at, 48_000, &packet),
                _ => Ok(()),
            })?;
            self.audio_packets += 1;
            clock.audio_samples += u64::from(opus_packet_samples(&packet).unwrap_or(960));
            clock.next_audio = self.read_audio(clock.audio_samples)?;
        }
        if clock.next_video.is_none() && clock.next_audio.is_none() {
            if !self.rewind()? {
                self.done = true;
                return Ok(());
            }
            // A frame interval after the last frame, so the clock keeps going forward.
            let gap = 1_000_000 * u64::from(self.video.header.scale)
                / u64::from(self.video.header.rate).max(1);
            clock.video_base = clock.last_video + gap;
            clock.next_video = self.read_video(clock.video_base)?;
            let audio_start = clock.video_base * 48_000 / 1_000_000;
            clock.audio_samples = audio_start;
            clock.next_audio = self.read_audio(audio_start)?;
        }
        self.clock = Some(clock);
        Ok(())
    }

    fn finished(&self) -> bool {
        self.done
    }
}

//! The event loop shared by every subcommand: join a room, gather candidates, negotiate with
//! each remote peer and drive their connections, handing connection events to an `App`.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use signal::{PeerId, Role};
use str0m::change::SdpApi;
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Rtc};

use crate::ice_server::IceServer;
use crate::net::{NetConfig, NetEvent, Network};
use crate::report::{Event as Report, Reporter};
use crate::session::{Outbox, Session};
use crate::signaling::{PeerSignal, ServerUrl, SignalEvent, Signaling};
use crate::turn_client::TurnTransport;
use crate::PeerError;

/// How long to wait for `joined`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Inputs handled per wake-up before timers get a turn.
const INPUT_BATCH: usize = 256;

/// Options every subcommand shares: where to meet, and how to connect.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOptions {
    /// Room to join.
    #[arg(long)]
    pub room: String,
    /// Signaling server.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "RENDEZVOUS_SERVER"
    )]
    pub server: String,
    /// Room token, when the server requires one.
    #[arg(long)]
    pub token: Option<String>,
    /// ICE server URL (stun:, turn:, turns:), repeatable; replaces the list the server hands out.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,
    /// Username for the --ice-server TURN URLs.
    #[arg(long)]
    pub ice_username: Option<String>,
    /// Credential for the --ice-server TURN URLs.
    #[arg(long)]
    pub ice_credential: Option<String>,
    /// Use relay candidates only (forces traffic through TURN).
    #[arg(long)]
    pub relay_only: bool,
    /// Allocate TURN relays only over these transports (udp, tcp, tls); default: every one listed.
    #[arg(long = "turn-transport", value_parser = parse_transport)]
    pub turn_transports: Vec<TurnTransport>,
    /// Host candidate addresses; default: every usable interface.
    #[arg(long = "host-ip")]
    pub host_ips: Vec<std::net::IpAddr>,
    /// Offer loopback host candidates too (they are used anyway when nothing else exists).
    #[arg(long)]
    pub include_loopback: bool,
    /// Trust this CA certificate (PEM) for turns: and https: servers.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate from turns: and https: servers (self-signed deployments).
    #[arg(long)]
    pub insecure: bool,
    /// Give up when no connection is up after this many seconds (0: wait for a peer forever).
    #[arg(long, default_value_t = 30)]
    pub connect_timeout: u64,
    /// One JSON object per line on stdout instead of text and progress bars.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (no effect with --json).
    #[arg(long, short)]
    pub quiet: bool,
}

impl ConnectOptions {
    /// Options for `room` on `server`, everything else at its default.
    pub fn new(server: impl Into<String>, room: impl Into<String>) -> Self {
        ConnectOptions {
            room: room.into(),
            server: server.into(),
            token: None,
            ice_servers: Vec::new(),
            ice_username: None,
            ice_credential: None,
            relay_only: false,
            turn_transports: Vec::new(),
            host_ips: Vec::new(),
            include_loopback: false,
            ca_file: None,
            insecure: false,
            connect_timeout: 30,
            json: false,
            quiet: true,
        }
    }

    pub(crate) fn reporter(&self) -> Reporter {
        Reporter::new(self.json, self.quiet)
    }
}

fn parse_transport(s: &str) -> Result<TurnTransport, String> {
    match s.to_ascii_lowercase().as_str() {
        "udp" => Ok(TurnTransport::Udp),
        "tcp" => Ok(TurnTransport::Tcp),
        "tls" => Ok(TurnTransport::Tls),
        _ => Err(format!("{s:?}: expected udp, tcp or tls")),
    }
}

/// What a subcommand does with its connections.
pub(crate) trait App: Send {
    /// The offering side adds the channels and media its first offer carries.
    fn prepare_offer(&mut self, peer: &PeerId, api: &mut SdpApi<'_>);
    /// A connection event. Mutations go through `ctx`, which drains after each.
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: Event) -> Result<(), PeerError>;
    /// The peer left the room or its connection ended.
    fn on_peer_gone(&mut self, _peer: &PeerId) -> Result<(), PeerError> {
        Ok(())
    }
    /// The next instant [`App::handle_timeout`] has work.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(
        &mut self,
        _now: Instant,
        _sessions: &mut Sessions<'_>,
    ) -> Result<(), PeerError> {
        Ok(())
    }
    /// True once the run has done its job.
    fn finished(&self) -> bool;
    /// Called on leaving: for flushing files.
    fn finish(&mut self) -> Result<(), PeerError> {
        Ok(())
    }
}

/// Access to one connection that keeps str0m's rule: every mutation is followed by a drain.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    session: &'a mut Session,
    net: &'a mut Network,
    events: &'a mut VecDeque<(PeerId, Event)>,
}

impl Ctx<'_> {
    pub fn peer(&self) -> &PeerId {
        &self.session.peer
    }

    pub fn pair(&self) -> Option<crate::report::SelectedPair> {
        self.session.pair.clone()
    }

    /// Runs one mutation of the connection, then drains it.
    pub fn mutate<R>(&mut self, f: impl FnOnce(&mut Rtc) -> R) -> Result<R, PeerError> {
        let r = f(&mut self.session.rtc);
        self.session.drain(self.now, self.net, self.events)?;
        Ok(r)
    }
}

/// Every connection, for applications that act on all of them at once (a broadcast).
pub(crate) struct Sessions<'a> {
    now: Instant,
    sessions: &'a mut BTreeMap<PeerId, Session>,
    net: &'a mut Network,
    events: &'a mut VecDeque<(PeerId, Event)>,
}

impl Sessions<'_> {
    pub fn each(
        &mut self,
        mut f: impl FnMut(&mut Ctx<'_>) -> Result<(), PeerError>,
    ) -> Result<(), PeerError> {
        for session in self.sessions.values_mut() {
            let mut ctx = Ctx {
                now: self.now,
                session,
                net: self.net,
                events: self.events,
            };
            f(&mut ctx)?;
        }
        Ok(())
    }
}

/// Joins the room as `role` and runs `app` until it has finished.
pub(crate) async fn run(
    opts: &ConnectOptions,
    role: Role,
    app: &mut dyn App,
    reporter: &Reporter,
) -> Result<(), PeerError> {
    let server = ServerUrl::parse(&opts.server)?;
    let tls = crate::tls::client_config(opts.ca_file.as_deref(), opts.insecure)?;
    let mut sig = Signaling::connect(
        &server,
        &opts.room,
        role,
        opts.token.clone(),
        Some(tls.clone()),
    )
    .await?;
    let joined = tokio::time::timeout(JOIN_TIMEOUT, async {
        loop {
            match sig.recv().await {
                SignalEvent::Joined(j) => return Ok(j),
                SignalEvent::Error(e) => {
                    return Err(PeerError::Signaling(format!("{:?}: {}", e.code, e.message)))
                }
                SignalEvent::Closed(r) => return Err(PeerError::Signaling(r)),
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| PeerError::Timeout("no answer to join".into()))??;
    reporter.emit(&Report::Joined {
        room: &joined.room,
        id: joined.id.as_str(),
    });
    let ice_servers: Vec<IceServer> = if opts.ice_servers.is_empty() {
        joined.ice_servers.clone()
    } else {
        crate::ice_server::from_flags(
            &opts.ice_servers,
            opts.ice_username.as_deref(),
            opts.ice_credential.as_deref(),
        )
    };
    let net_config = NetConfig {
        ice_servers,
        relay_only: opts.relay_only,
        host_ips: opts.host_ips.clone(),
        include_loopback: opts.include_loopback,
        turn_transports: opts.turn_transports.clone(),
        tls,
    };
    let start = Instant::now();
    let seed = rand::random();
    let net = Network::start(&net_config, start, seed).await?;
    let mut driver = Driver {
        role,
        net,
        sig,
        sessions: BTreeMap::new(),
        events: VecDeque::new(),
        outbox: Vec::new(),
        reporter,
        connect_deadline: (opts.connect_timeout > 0)
            .then(|| start + Duration::from_secs(opts.connect_timeout)),
        ever_connected: false,
    };
    for p in &joined.peers {
        // docs/protocol.md "Who offers": the later joiner offers in peer rooms; the publisher
        // offers to every viewer.
        let offer = matches!(
            (role, p.role),
            (Role::Peer, Role::Peer) | (Role::Publisher, Role::Viewer)
        );
        if offer {
            driver.open(start, p.id.clone(), false, app);
        }
    }
    let result = driver.run(app).await;
    let now = Instant::now();
    for s in driver.sessions.values_mut() {
        s.rtc.disconnect();
        let _ = s.drain(now, &mut driver.net, &mut driver.events);
    }
    driver.net.close(now);
    driver.sig.leave();
    let finished = app.finish();
    result.and(finished)
}

struct Driver<'r> {
    role: Role,
    net: Network,
    sig: Signaling,
    sessions: BTreeMap<PeerId, Session>,
    events: VecDeque<(PeerId, Event)>,
    outbox: Outbox,
    reporter: &'r Reporter,
    connect_deadline: Option<Instant>,
    ever_connected: bool,
}

impl Driver<'_> {
    /// A connection to `peer`; the impolite side makes the first offer at once.
    fn open(&mut self, now: Instant, peer: PeerId, polite: bool, app: &mut dyn App) {
        let mut s = Session::new(peer.clone(), polite, now);
        for c in self.net.usable_candidates() {
            s.add_local_candidate(c.candidate.clone(), &mut self.outbox);
        }
        if !polite {
            s.offer(now, |api| app.prepare_offer(&peer, api), &mut self.outbox);
        }
        let _ = s.drain(now, &mut self.net, &mut self.events);
        self.sessions.insert(peer, s);
    }

    async fn run(&mut self, app: &mut dyn App) -> Result<(), PeerError> {
        loop {
            let now = Instant::now();
            self.flush(now, app)?;
            if app.finished() {
                return Ok(());
            }
            if !self.ever_connected && self.connect_deadline.is_some_and(|d| now >= d) {
                return Err(PeerError::Timeout(if self.sessions.is_empty() {
                    "no peer joined the room".into()
                } else {
                    "no connection came up (ICE or DTLS failed)".into()
                }));
            }
            let deadline = self
                .sessions
                .values()
                .flat_map(|s| [Some(s.timeout), s.offer_retry_at()])
                .flatten()
                .chain(self.net.poll_timeout())
                .chain(app.poll_timeout())
                .chain(self.connect_deadline.filter(|_| !self.ever_connected))
                .min()
                .unwrap_or(now + Duration::from_secs(1))
                .max(now);
            tokio::select! {
                ev = self.sig.recv() => self.on_signal(Instant::now(), ev, app)?,
                input = self.net.recv() => {
                    self.on_input(input)?;
                    for _ in 0..INPUT_BATCH {
                        let Some(input) = self.net.try_recv() else { break };
                        self.on_input(input)?;
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.net.handle_timeout(now);
                    for s in self.sessions.values_mut() {
                        s.handle_timeout(now, &mut self.net, &mut self.events)?;
                        s.retry_offer(now, &mut self.outbox);
                    }
                    let mut sessions = Sessions {
                        now,
                        sessions: &mut self.sessions,
                        net: &mut self.net,
                        events: &mut self.events,
                    };
                    if app.poll_timeout().is_some_and(|t| t <= now) {
                        app.handle_timeout(now, &mut sessions)?;
                    }
                }
            }
        }
    }

    fn on_input(&mut self, input: crate::net::NetInput) -> Result<(), PeerError> {
        let now = Instant::now();
        let Some(incoming) = self.net.handle_input(now, input) else {
            return Ok(());
        };
        let Ok(recv) = Receive::new(
            Protocol::Udp,
            incoming.source,
            incoming.destination,
            &incoming.data,
        ) else {
            return Ok(());
        };
        let probe = Input::Receive(now, recv);
        let Some(session) = self.sessions.values_mut().find(|s| s.accepts(&probe)) else {
            tracing::trace!("no connection for a datagram from {}", incoming.source);
            return Ok(());
        };
        session.receive(
            now,
            incoming.source,
            incoming.destination,
            &incoming.data,
            &mut self.net,
            &mut self.events,
        )
    }

    fn on_signal(
        &mut self,
        now: Instant,
        ev: SignalEvent,
        app: &mut dyn App,
    ) -> Result<(), PeerError> {
        match ev {
            SignalEvent::PeerJoined(p) => {
                if self.role == Role::Publisher && p.role == Role::Viewer {
                    self.open(now, p.id, false, app);
                }
            }
            SignalEvent::PeerLeft(id) => {
                if let Some(mut s) = self.sessions.remove(&id) {
                    s.rtc.disconnect();
                    let _ = s.drain(now, &mut self.net, &mut self.events);
                    self.reporter.emit(&Report::PeerLeft { peer: id.as_str() });
                    app.on_peer_gone(&id)?;
                }
            }
            SignalEvent::Signal { from, data } => {
                if !self.sessions.contains_key(&from) {
                    // Only an offer opens a connection on the answering side.
                    let is_offer = matches!(&data, PeerSignal::Description { description } if description.kind == "offer");
                    if !is_offer || self.role == Role::Publisher {
                        return Ok(());
                    }
                    self.open(now, from.clone(), true, app);
                }
                let Some(s) = self.sessions.get_mut(&from) else {
                    return Ok(());
                };
                match data {
                    PeerSignal::Description { description } => {
                        // A description the peer got wrong is its problem, not a reason to stop.
                        if let Err(e) =
                            s.handle_description(now, &description, &mut self.net, &mut self.outbox)
                        {
                            tracing::warn!("ignoring a {} from {from}: {e}", description.kind);
                            self.reporter
                                .line(&format!("ignoring a {} from {from}: {e}", description.kind));
                        }
                    }
                    PeerSignal::Candidate { candidate: Some(c) } => {
                        s.handle_candidate(now, c, &mut self.net)
                    }
                    PeerSignal::Candidate { candidate: None } => {}
                }
                s.drain(now, &mut self.net, &mut self.events)?;
            }
            SignalEvent::Error(e) => tracing::warn!("signaling error {:?}: {}", e.code, e.message),
            SignalEvent::Closed(reason) => {
                // Connections that are up do not need the signaling server any more.
                if self.sessions.values().all(|s| !s.is_connected()) {
                    return Err(PeerError::Signaling(reason));
                }
                tracing::info!("signaling closed: {reason}");
                self.sig = Signaling::closed();
            }
            SignalEvent::Joined(_) => {}
        }
        Ok(())
    }

    /// Hands out what accumulated: new candidates, outgoing signals, application events.
    fn flush(&mut self, now: Instant, app: &mut dyn App) -> Result<(), PeerError> {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.net.poll_event() {
                progressed = true;
                match ev {
                    NetEvent::Candidate(c) => {
                        self.reporter.candidate(&c);
                        if self.net.is_usable(&c) {
                            for s in self.sessions.values_mut() {
                                s.add_local_candidate(c.candidate.clone(), &mut self.outbox);
                                s.drain(now, &mut self.net, &mut self.events)?;
                            }
                        }
                    }
                    NetEvent::ServerFailed { server, reason } => {
                        self.reporter.emit(&Report::ServerFailed {
                            server: &server,
                            reason: &reason,
                        });
                    }
                }
            }
            for (to, data) in self.outbox.drain(..) {
                progressed = true;
                self.sig.signal(&to, &data);
            }
            for s in self.sessions.values_mut() {
                if let Some((pair, first)) = s.take_pair_report() {
                    self.ever_connected = true;
                    let peer = s.peer.as_str();
                    if first {
                        self.reporter.emit(&Report::Connected { peer, pair: &pair });
                    } else {
                        self.reporter
                            .emit(&Report::PairChanged { peer, pair: &pair });
                    }
                }
            }
            while let Some((peer, event)) = self.events.pop_front() {
                progressed = true;
                let gone = matches!(
                    event,
                    Event::IceConnectionStateChange(str0m::IceConnectionState::Disconnected)
                        | Event::Closed
                );
                if let Some(session) = self.sessions.get_mut(&peer) {
                    let mut ctx = Ctx {
                        now,
                        session,
                        net: &mut self.net,
                        events: &mut self.events,
                    };
                    app.on_event(&mut ctx, event)?;
                }
                if gone
                    && self
                        .sessions
                        .get(&peer)
                        .is_some_and(|s| s.is_connected() || !s.rtc.is_alive())
                {
                    self.sessions.remove(&peer);
                    app.on_peer_gone(&peer)?;
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }
}

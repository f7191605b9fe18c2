//! One peer connection: a str0m [`Rtc`], perfect negotiation with the remote side (W3C WebRTC
//! §4.7.4 example, with the offerer fixed by `docs/protocol.md`), trickled candidates both
//! ways, and the selected candidate pair as seen from the datagrams str0m sends.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use signal::PeerId;
use str0m::change::{SdpAnswer, SdpApi, SdpOffer, SdpPendingOffer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::net::{CandidateType, Network};
use crate::report::SelectedPair;
use crate::signaling::{CandidateInit, Description, PeerSignal};
use crate::PeerError;

/// A connection to one remote peer.
pub struct Session {
    pub peer: PeerId,
    pub rtc: Rtc,
    /// The polite side yields when offers collide; the impolite side ignores the other's offer.
    polite: bool,
    pending_offer: Option<SdpPendingOffer>,
    /// Our unanswered offer and when to send it again: a signal can be lost while the
    /// signaling server restarts.
    offer_retry: Option<(String, Instant, u32)>,
    have_remote_description: bool,
    description_sent: bool,
    early_candidates: Vec<CandidateInit>,
    /// `a=mid` of the first m-line and `a=ice-ufrag` of our last description.
    mid: String,
    ufrag: String,
    remote_kinds: HashMap<SocketAddr, CandidateType>,
    connected: bool,
    last_pair: Option<(SocketAddr, SocketAddr)>,
    pub pair: Option<SelectedPair>,
    pair_reported: Option<SelectedPair>,
    pub timeout: Instant,
}

/// An unanswered offer is sent again after this, then twice and three times this.
const OFFER_RETRY: Duration = Duration::from_secs(3);
const OFFER_RETRIES: u32 = 3;

/// Outgoing signals a session produced, for the runner to send.
pub type Outbox = Vec<(PeerId, PeerSignal)>;

impl Session {
    pub fn new(peer: PeerId, polite: bool, now: Instant) -> Self {
        let rtc = Rtc::builder().set_stats_interval(None).build(now);
        Session {
            peer,
            rtc,
            polite,
            pending_offer: None,
            offer_retry: None,
            have_remote_description: false,
            description_sent: false,
            early_candidates: Vec::new(),
            mid: "0".into(),
            ufrag: String::new(),
            remote_kinds: HashMap::new(),
            connected: false,
            last_pair: None,
            pair: None,
            pair_reported: None,
            timeout: now,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Adds a local candidate; once our description is out, it is trickled to the peer.
    pub fn add_local_candidate(&mut self, c: Candidate, out: &mut Outbox) {
        let Some(added) = self.rtc.add_local_candidate(c) else {
            return;
        };
        if self.description_sent {
            let init = CandidateInit {
                candidate: added.to_sdp_string(),
                sdp_mid: Some(self.mid.clone()),
                sdp_m_line_index: Some(0),
                username_fragment: Some(self.ufrag.clone()).filter(|u| !u.is_empty()),
            };
            out.push((
                self.peer.clone(),
                PeerSignal::Candidate {
                    candidate: Some(init),
                },
            ));
        }
    }

    /// The offering side's first offer: `prepare` adds the channels and media it carries.
    pub fn offer(&mut self, now: Instant, prepare: impl FnOnce(&mut SdpApi<'_>), out: &mut Outbox) {
        let mut api = self.rtc.sdp_api();
        prepare(&mut api);
        if let Some((offer, pending)) = api.apply() {
            self.pending_offer = Some(pending);
            let sdp = offer.to_sdp_string();
            self.described(&sdp);
            self.offer_retry = Some((sdp.clone(), now + OFFER_RETRY, 1));
            out.push((self.peer.clone(), description("offer", sdp)));
        }
    }

    /// When an unanswered offer is due to be sent again.
    pub fn offer_retry_at(&self) -> Option<Instant> {
        self.offer_retry.as_ref().map(|(_, at, _)| *at)
    }

    /// Sends the same offer again, [`OFFER_RETRIES`] times at growing intervals.
    pub fn retry_offer(&mut self, now: Instant, out: &mut Outbox) {
        let Some((sdp, at, n)) = self.offer_retry.take() else {
            return;
        };
        if self.pending_offer.is_none() {
            return;
        }
        if now < at {
            self.offer_retry = Some((sdp, at, n));
            return;
        }
        out.push((self.peer.clone(), description("offer", sdp.clone())));
        if n < OFFER_RETRIES {
            self.offer_retry = Some((sdp, now + OFFER_RETRY * (n + 1), n + 1));
        }
    }

    /// Applies a remote description (RFC 8829 §5.10), answering an offer.
    pub fn handle_description(
        &mut self,
        now: Instant,
        desc: &Description,
        net: &mut Network,
        out: &mut Outbox,
    ) -> Result<(), PeerError> {
        if matches!(desc.kind.as_str(), "offer" | "answer") {
            self.note_sdp_candidates(now, &desc.sdp, net);
        }
        match desc.kind.as_str() {
            "offer" => {
                let collision = self.pending_offer.is_some();
                if collision && !self.polite {
                    tracing::debug!("ignoring a colliding offer from {}", self.peer);
                    return Ok(());
                }
                // Polite: dropping the pending offer is str0m's rollback.
                self.pending_offer = None;
                self.offer_retry = None;
                let offer = SdpOffer::from_sdp_string(&desc.sdp)
                    .map_err(|e| PeerError::Rtc(format!("offer: {e}")))?;
                let answer = self.rtc.sdp_api().accept_offer(offer)?;
                self.have_remote_description = true;
                let sdp = answer.to_sdp_string();
                self.described(&sdp);
                out.push((self.peer.clone(), description("answer", sdp)));
                self.apply_early_candidates(now, net);
            }
            "answer" => {
                self.offer_retry = None;
                let Some(pending) = self.pending_offer.take() else {
                    tracing::debug!("ignoring an answer without an offer from {}", self.peer);
                    return Ok(());
                };
                let answer = SdpAnswer::from_sdp_string(&desc.sdp)
                    .map_err(|e| PeerError::Rtc(format!("answer: {e}")))?;
                self.rtc.sdp_api().accept_answer(pending, answer)?;
                self.have_remote_description = true;
                self.apply_early_candidates(now, net);
            }
            // A remote rollback needs nothing from us; pranswer is not used by the web client.
            _ => {}
        }
        Ok(())
    }

    /// A trickled remote candidate; kept until the remote description is known.
    pub fn handle_candidate(&mut self, now: Instant, init: CandidateInit, net: &mut Network) {
        if !self.have_remote_description {
            self.early_candidates.push(init);
            return;
        }
        let text = init.candidate.trim().trim_start_matches("a=");
        if text.is_empty() {
            return;
        }
        match Candidate::from_sdp_string(text) {
            Ok(mut c) => {
                if let Some(u) = init.username_fragment.as_deref().filter(|u| !u.is_empty()) {
                    c.set_ufrag(u);
                }
                if c.proto() != Protocol::Udp {
                    return;
                }
                let kind = CandidateType::of(&c);
                self.remote_kinds.insert(c.addr(), kind);
                // A check can arrive before the candidate it came from (peer-reflexive until
                // the candidate is known, RFC 8445 §7.3.1.3).
                if let Some(pair) = self.pair.as_mut().filter(|p| p.remote == c.addr()) {
                    pair.remote_type = kind;
                }
                net.permit(now, c.addr().ip());
                self.rtc.add_remote_candidate(c);
            }
            // mDNS (.local) host names and TCP candidates are not usable here.
            Err(e) => tracing::debug!("skipping remote candidate {text:?}: {e}"),
        }
    }

    /// Candidates inside a remote description reach str0m with it; their kinds are noted for
    /// the pair report and our relays get permissions for their addresses.
    fn note_sdp_candidates(&mut self, now: Instant, sdp: &str, net: &mut Network) {
        for line in sdp.lines() {
            let Some(text) = line.trim().strip_prefix("a=") else {
                continue;
            };
            if !text.starts_with("candidate:") {
                continue;
            }
            if let Ok(c) = Candidate::from_sdp_string(text) {
                if c.proto() == Protocol::Udp {
                    self.remote_kinds.insert(c.addr(), CandidateType::of(&c));
                    net.permit(now, c.addr().ip());
                }
            }
        }
    }

    fn apply_early_candidates(&mut self, now: Instant, net: &mut Network) {
        for c in std::mem::take(&mut self.early_candidates) {
            self.handle_candidate(now, c, net);
        }
    }

    fn described(&mut self, sdp: &str) {
        self.description_sent = true;
        for line in sdp.lines() {
            if let Some(m) = line.strip_prefix("a=mid:") {
                self.mid = m.trim().to_owned();
                break;
            }
        }
        for line in sdp.lines() {
            if let Some(u) = line.strip_prefix("a=ice-ufrag:") {
                self.ufrag = u.trim().to_owned();
                break;
            }
        }
    }

    /// Whether `input` belongs to this connection.
    pub fn accepts(&self, input: &Input<'_>) -> bool {
        self.rtc.accepts(input)
    }

    /// Feeds a datagram and drains.
    pub fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
        net: &mut Network,
        events: &mut VecDeque<(PeerId, Event)>,
    ) -> Result<(), PeerError> {
        let Ok(recv) = Receive::new(Protocol::Udp, source, destination, data) else {
            return Ok(());
        };
        self.rtc.handle_input(Input::Receive(now, recv))?;
        self.drain(now, net, events)
    }

    pub fn handle_timeout(
        &mut self,
        now: Instant,
        net: &mut Network,
        events: &mut VecDeque<(PeerId, Event)>,
    ) -> Result<(), PeerError> {
        if now >= self.timeout {
            self.rtc.handle_input(Input::Timeout(now))?;
        }
        self.drain(now, net, events)
    }

    /// Drains str0m until it asks for time (its single-mutation rule): datagrams go out
    /// through `net`, events are queued for the application.
    pub fn drain(
        &mut self,
        now: Instant,
        net: &mut Network,
        events: &mut VecDeque<(PeerId, Event)>,
    ) -> Result<(), PeerError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    // Non-STUN traffic (DTLS, SCTP, SRTP) runs on the selected pair.
                    if t.contents.first().is_some_and(|b| *b > 3) {
                        self.observe_pair(t.source, t.destination, net);
                    }
                    net.transmit(now, t.source, t.destination, &t.contents);
                }
                Output::Event(e) => {
                    // str0m's Event equality does not cover this variant: match it.
                    if matches!(e, Event::Connected) {
                        self.connected = true;
                        if let Some((s, d)) = self.last_pair {
                            self.pair = Some(self.describe_pair(s, d, net));
                        }
                    }
                    events.push_back((self.peer.clone(), e));
                }
            }
        }
    }

    fn observe_pair(&mut self, source: SocketAddr, destination: SocketAddr, net: &Network) {
        if self.last_pair == Some((source, destination)) {
            return;
        }
        self.last_pair = Some((source, destination));
        if self.connected {
            self.pair = Some(self.describe_pair(source, destination, net));
        }
    }

    fn describe_pair(&self, local: SocketAddr, remote: SocketAddr, net: &Network) -> SelectedPair {
        let (local_type, relay_protocol) =
            net.local_kind(local).unwrap_or((CandidateType::Host, None));
        let remote_type = self
            .remote_kinds
            .get(&remote)
            .copied()
            .unwrap_or(CandidateType::Prflx);
        SelectedPair {
            local_type,
            remote_type,
            protocol: "udp",
            local,
            remote,
            relay_protocol,
        }
    }

    /// The pair to report, when it is new: (pair, first report?).
    pub fn take_pair_report(&mut self) -> Option<(SelectedPair, bool)> {
        let pair = self.pair.clone()?;
        if self.pair_reported.as_ref() == Some(&pair) {
            return None;
        }
        let first = self.pair_reported.is_none();
        self.pair_reported = Some(pair.clone());
        Some((pair, first))
    }
}

fn description(kind: &str, sdp: String) -> PeerSignal {
    PeerSignal::Description {
        description: Description {
            kind: kind.into(),
            sdp,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::NetConfig;

    async fn no_network(now: Instant) -> Network {
        let config = NetConfig {
            ice_servers: Vec::new(),
            relay_only: true,
            host_ips: Vec::new(),
            include_loopback: false,
            turn_transports: Vec::new(),
            tls: crate::tls::client_config(None, false).unwrap(),
        };
        Network::start(&config, now, 1).await.unwrap()
    }

    fn description_of(out: &Outbox, i: usize) -> Description {
        match &out[i].1 {
            PeerSignal::Description { description } => description.clone(),
            other => panic!("not a description: {other:?}"),
        }
    }

    #[tokio::test]
    async fn glare_the_polite_side_rolls_back_and_answers() {
        let now = Instant::now();
        let mut net = no_network(now).await;
        let mut impolite = Session::new(PeerId::new("impolite"), false, now);
        let mut polite = Session::new(PeerId::new("polite"), true, now);
        let mut out = Vec::new();
        impolite.offer(
            now,
            |api| {
                let _ = api.add_channel("file".into());
            },
            &mut out,
        );
        polite.offer(
            now,
            |api| {
                let _ = api.add_channel("rdv-control".into());
            },
            &mut out,
        );
        let (offer_i, offer_p) = (description_of(&out, 0), description_of(&out, 1));
        assert_eq!(
            (offer_i.kind.as_str(), offer_p.kind.as_str()),
            ("offer", "offer")
        );

        let mut replies = Vec::new();
        impolite
            .handle_description(now, &offer_p, &mut net, &mut replies)
            .unwrap();
        assert!(
            replies.is_empty(),
            "the impolite side ignores a colliding offer"
        );
        assert!(impolite.pending_offer.is_some());

        polite
            .handle_description(now, &offer_i, &mut net, &mut replies)
            .unwrap();
        assert_eq!(replies.len(), 1);
        let answer = description_of(&replies, 0);
        assert_eq!(answer.kind, "answer");
        assert!(
            polite.pending_offer.is_none(),
            "the polite side rolled back"
        );

        impolite
            .handle_description(now, &answer, &mut net, &mut replies)
            .unwrap();
        assert!(impolite.pending_offer.is_none());
        assert!(impolite.have_remote_description && polite.have_remote_description);
    }

    #[tokio::test]
    async fn early_candidates_wait_for_the_description() {
        let now = Instant::now();
        let mut net = no_network(now).await;
        let mut offerer = Session::new(PeerId::new("o"), false, now);
        let mut answerer = Session::new(PeerId::new("a"), true, now);
        let init = CandidateInit {
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        answerer.handle_candidate(now, init, &mut net);
        assert_eq!(answerer.early_candidates.len(), 1);
        assert!(answerer.remote_kinds.is_empty());

        let mut out = Vec::new();
        offerer.offer(
            now,
            |api| {
                let _ = api.add_channel("file".into());
            },
            &mut out,
        );
        let offer = description_of(&out, 0);
        answerer
            .handle_description(now, &offer, &mut net, &mut out)
            .unwrap();
        assert!(answerer.early_candidates.is_empty());
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(answerer.remote_kinds.get(&addr), Some(&CandidateType::Host));
    }

    #[tokio::test]
    async fn stray_answers_and_bad_sdp_do_not_break_the_session() {
        let now = Instant::now();
        let mut net = no_network(now).await;
        let mut s = Session::new(PeerId::new("s"), true, now);
        let mut out = Vec::new();
        let stray = Description {
            kind: "answer".into(),
            sdp: "v=0".into(),
        };
        s.handle_description(now, &stray, &mut net, &mut out)
            .unwrap();
        assert!(out.is_empty() && !s.have_remote_description);
        let garbage = Description {
            kind: "offer".into(),
            sdp: "not sdp at all".into(),
        };
        assert!(s
            .handle_description(now, &garbage, &mut net, &mut out)
            .is_err());
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn an_unanswered_offer_is_sent_again_a_bounded_number_of_times() {
        let t0 = Instant::now();
        let mut s = Session::new(PeerId::new("o"), false, t0);
        let mut out = Vec::new();
        s.offer(
            t0,
            |api| {
                let _ = api.add_channel("file".into());
            },
            &mut out,
        );
        let first = description_of(&out, 0);
        out.clear();
        s.retry_offer(t0, &mut out);
        assert!(out.is_empty(), "nothing before the retry is due");
        let mut sends = 0;
        for _ in 0..10 {
            let Some(at) = s.offer_retry_at() else { break };
            s.retry_offer(at, &mut out);
            sends += 1;
        }
        assert_eq!(sends, OFFER_RETRIES as usize);
        assert_eq!(out.len(), OFFER_RETRIES as usize);
        assert!(out.iter().all(|(_, sig)| matches!(sig, PeerSignal::Description { description } if *description == first)));
    }
}

// @ts-check
/**
 * One remote peer of a Rendezvous session: its RTCPeerConnection and the perfect negotiation
 * state for it (W3C WebRTC §10.7 example, MDN "perfect negotiation"), with the protocol deciding
 * who makes the first offer (docs/protocol.md "Who offers, who is polite").
 *
 * @module peer
 */

/** @typedef {import('./rendezvous.js').RendezvousClient} RendezvousClient */
/** @typedef {import('./rendezvous.js').Role} Role */

import { selectedPairStats } from './stats.js';

/** Remote candidates kept while their description is missing; the oldest goes beyond this. */
const MAX_PENDING_CANDIDATES = 200;
/** How long a connection may stay 'disconnected' before the impolite side restarts ICE. */
const DISCONNECTED_RESTART_MS = 5000;
/** An unanswered offer is sent again after OFFER_RETRY_MS * attempt, OFFER_RETRIES times. */
const OFFER_RETRY_MS = 4000;
const OFFER_RETRIES = 3;

/**
 * One remote peer: its RTCPeerConnection and the perfect negotiation state for it.
 */
export class Peer {
  /**
   * @param {RendezvousClient} client
   * @param {string} id
   * @param {Role} role
   * @param {boolean} polite
   */
  constructor(client, id, role, polite) {
    this.client = client;
    this.id = id;
    this.role = role;
    /** The polite side yields on glare and never makes the first offer. */
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    /** True once one offer/answer exchange has completed; until then a polite side never offers. */
    this.negotiated = false;
    /** A negotiation was asked for while it was not allowed or possible; retry when stable. */
    this.offerWanted = false;
    /** A remote description or candidate is being applied. */
    this.busy = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.offerRetryTimer = undefined;
    /** @type {RTCIceCandidateInit[]} */
    this.pendingCandidates = [];
    /** @type {Map<MediaStreamTrack, RTCRtpSender>} */
    this.senders = new Map();
    /** @type {Map<string, MediaStream>} remote streams by id */
    this.streams = new Map();
    /** Counters for tests and the UI. */
    this.counters = { offersSent: 0, answersSent: 0, offersReceived: 0, collisions: 0, ignoredOffers: 0, rollbacks: 0, iceRestarts: 0 };
    /** @type {{timestamp: number, bytesSent: number, bytesReceived: number} | null} */
    this.lastSample = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.disconnectTimer = undefined;
    /** @type {Promise<void>} incoming signals are handled one at a time, in order */
    this.queue = Promise.resolve();
    /** @type {RTCDataChannel | null} control channel created by the offering side */
    this.control = null;
    this.pc = new RTCPeerConnection(client.rtcConfiguration());
    this.wire();
    if (!polite) this.prepareFirstOffer();
  }

  wire() {
    const pc = this.pc;
    pc.onnegotiationneeded = () => this.negotiate();
    pc.onicecandidate = ({ candidate }) => {
      // An empty candidate string is Chrome's per-section end-of-candidates: send null once instead.
      if (candidate && candidate.candidate === '') return;
      this.send({ candidate: candidate ? candidate.toJSON() : null });
    };
    pc.onsignalingstatechange = () => {
      if (pc.signalingState !== 'stable') return;
      if (pc.remoteDescription && pc.localDescription) this.negotiated = true;
      // Tracks added while a first answer was being made join now (attach is idempotent).
      if (this.negotiated) for (const { track, stream } of this.client.localTracks) this.attach(track, stream);
      if (this.offerWanted) this.negotiate();
    };
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] ?? new MediaStream([ev.track]);
      this.streams.set(stream.id, stream);
      this.client.emit('track', { peerId: this.id, track: ev.track, stream, streams: ev.streams, transceiver: ev.transceiver });
    };
    pc.ondatachannel = ({ channel }) => this.client.acceptChannel(this, channel);
    pc.onconnectionstatechange = () => this.connectionStateChanged();
  }

  /** The offering side sets up what its first offer carries; negotiationneeded then fires once. */
  prepareFirstOffer() {
    for (const { track, stream } of this.client.localTracks) this.attach(track, stream);
    for (const kind of this.client.receiveKinds) {
      const has = this.pc.getTransceivers().some((t) => t.receiver.track.kind === kind);
      if (!has) this.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    // A data section in every session: file and application channels then open without renegotiation.
    this.control = this.pc.createDataChannel('rdv-control');
  }

  /**
   * Adds a local track to this connection, reusing a transceiver offered by the other side when
   * one of the same kind has no sender track yet (addTrack does that, W3C WebRTC §5.1 addTrack).
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   */
  attach(track, stream) {
    if (this.senders.has(track)) return;
    let sender;
    if (this.client.role === 'publisher') {
      sender = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }).sender;
    } else {
      sender = this.pc.addTrack(track, stream);
    }
    this.senders.set(track, sender);
  }

  /** @param {MediaStreamTrack} track */
  detach(track) {
    const sender = this.senders.get(track);
    if (!sender) return;
    this.senders.delete(track);
    if (this.pc.signalingState !== 'closed') this.pc.removeTrack(sender);
  }

  mayOffer() {
    return !this.polite || this.negotiated;
  }

  /** negotiationneeded, or an explicit request: make an offer if this side may. */
  async negotiate() {
    // Offers made while signaling is away would be stale by the time they arrive; the session
    // resume calls negotiate() again.
    if (!this.mayOffer() || this.pc.signalingState !== 'stable' || this.makingOffer || this.busy || !this.client.joinedNow()) {
      this.offerWanted = true;
      return;
    }
    this.offerWanted = false;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const desc = this.pc.localDescription;
      if (desc && desc.type === 'offer') {
        this.counters.offersSent++;
        this.send({ description: { type: desc.type, sdp: desc.sdp } });
        this.armOfferRetry(desc.sdp, 1);
      }
    } catch (error) {
      this.client.fail(error, this.id);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Sends the same offer again when no answer came: signals can be lost when the server restarts
   * or while this side's session is being resumed.
   * @param {string} sdp
   * @param {number} attempt
   */
  armOfferRetry(sdp, attempt) {
    clearTimeout(this.offerRetryTimer);
    if (attempt > OFFER_RETRIES) return;
    this.offerRetryTimer = setTimeout(() => {
      const local = this.pc.localDescription;
      if (this.pc.signalingState !== 'have-local-offer' || !local || local.sdp !== sdp) return;
      if (this.client.joinedNow()) this.send({ description: { type: 'offer', sdp } });
      this.armOfferRetry(sdp, attempt + 1);
    }, OFFER_RETRY_MS * attempt);
  }

  /** Renegotiates now (or as soon as allowed), e.g. after a change made outside the library. */
  renegotiate() {
    this.negotiate();
  }

  /** @param {any} data */
  handleSignal(data) {
    const next = this.queue.then(() => this.process(data));
    this.queue = next.catch((error) => this.client.fail(error, this.id));
    return next;
  }

  /** @param {any} data */
  async process(data) {
    if (this.pc.signalingState === 'closed') return;
    this.busy = true;
    try {
      if (data && typeof data === 'object' && data.description) {
        await this.processDescription(data.description);
      } else if (data && typeof data === 'object' && 'candidate' in data) {
        await this.processCandidate(data.candidate);
      } else {
        this.client.emit('signal', { peerId: this.id, data });
      }
    } finally {
      this.busy = false;
      if (this.offerWanted) this.negotiate();
    }
  }

  /** @param {RTCSessionDescriptionInit} description */
  async processDescription(description) {
    const pc = this.pc;
    if (description.type !== 'offer' && description.type !== 'answer') return; // remote rollbacks need no action
    if (description.type === 'offer') this.counters.offersReceived++;
    const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
    const collision = description.type === 'offer' && !readyForOffer;
    if (collision) this.counters.collisions++;
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) {
      this.counters.ignoredOffers++;
      return;
    }
    if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale answer
    if (collision) {
      // setRemoteDescription(offer) rolls our offer back; what it carried is offered again later.
      this.counters.rollbacks++;
      this.offerWanted = true;
    }
    this.settingRemoteAnswer = description.type === 'answer';
    try {
      await pc.setRemoteDescription(description);
    } finally {
      this.settingRemoteAnswer = false;
    }
    await this.flushCandidates();
    if (description.type === 'offer') {
      // The polite side's media rides on the transceivers of the offer it answers.
      for (const { track, stream } of this.client.localTracks) this.attach(track, stream);
      await pc.setLocalDescription();
      const answer = pc.localDescription;
      if (answer) {
        this.counters.answersSent++;
        this.send({ description: { type: answer.type, sdp: answer.sdp } });
      }
    }
  }

  /** @param {RTCIceCandidateInit | null} candidate */
  async processCandidate(candidate) {
    if (!this.candidateFitsRemote(candidate)) {
      this.pendingCandidates.push(candidate ?? { candidate: '' });
      if (this.pendingCandidates.length > MAX_PENDING_CANDIDATES) this.pendingCandidates.shift();
      return;
    }
    await this.addCandidate(candidate);
  }

  /**
   * A candidate can be added once the remote description it belongs to is set: after an ICE
   * restart the new ufrag may arrive before the new description does.
   * @param {RTCIceCandidateInit | null} candidate
   */
  candidateFitsRemote(candidate) {
    const remote = this.pc.remoteDescription;
    if (!remote) return false;
    const ufrag = candidate && candidate.usernameFragment;
    return !ufrag || remote.sdp.includes(`a=ice-ufrag:${ufrag}\r\n`);
  }

  /** @param {RTCIceCandidateInit | null} candidate */
  async addCandidate(candidate) {
    try {
      if (!candidate || !candidate.candidate) await this.pc.addIceCandidate();
      else await this.pc.addIceCandidate(candidate);
    } catch (error) {
      if (!this.ignoreOffer) this.client.fail(error, this.id);
    }
  }

  async flushCandidates() {
    const waiting = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const candidate of waiting) {
      if (this.candidateFitsRemote(candidate)) await this.addCandidate(candidate.candidate ? candidate : null);
      else this.pendingCandidates.push(candidate);
    }
  }

  connectionStateChanged() {
    const state = this.pc.connectionState;
    this.client.emit('connectionstatechange', { peerId: this.id, state });
    clearTimeout(this.disconnectTimer);
    if (state === 'failed') this.restartIce();
    if (state === 'disconnected') {
      this.disconnectTimer = setTimeout(() => {
        if (this.pc.connectionState === 'disconnected') this.restartIce();
      }, DISCONNECTED_RESTART_MS);
    }
  }

  /** RFC 8445 §9 ICE restart, started by the impolite side only so both sides do not race. */
  restartIce() {
    if (this.polite || this.pc.signalingState === 'closed') return;
    this.counters.iceRestarts++;
    this.pc.restartIce();
  }

  /**
   * After a signaling resume: signals sent to us while the old connection was dying may be lost.
   * An unanswered offer is sent again; a connection that is not up restarts ICE.
   */
  recoverAfterResume() {
    if (this.polite) return;
    const local = this.pc.localDescription;
    if (this.pc.signalingState === 'have-local-offer' && local) {
      this.send({ description: { type: 'offer', sdp: local.sdp } });
    } else if (this.negotiated && this.pc.connectionState !== 'connected') {
      this.restartIce();
    }
  }

  /** Restarts ICE when the selected pair runs through a TURN relay (for fresh credentials). */
  async restartIceIfRelayed() {
    if (this.polite || this.pc.connectionState !== 'connected') return;
    const { stats } = await selectedPairStats(this.pc, null);
    if (stats && stats.localCandidate.type === 'relay') this.restartIce();
  }

  /** @param {object} data */
  send(data) {
    this.client.sendSignal(this.id, data);
  }

  close() {
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.offerRetryTimer);
    this.pc.close();
  }
}

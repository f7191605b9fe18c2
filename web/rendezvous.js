// @ts-check
/**
 * Rendezvous web client.
 *
 * Speaks the signaling protocol of docs/protocol.md over a WebSocket and keeps one
 * RTCPeerConnection per remote peer, negotiated with the "perfect negotiation" pattern
 * (W3C WebRTC §10.7 example, MDN "Establishing a connection: perfect negotiation"), with the
 * protocol deciding roles:
 *
 * - peer rooms (mesh): the peer that joined later (it finds the other in `joined.peers`) makes the
 *   first offer and is impolite; the earlier one is polite and makes no offer of its own until that
 *   first offer/answer exchange has completed (it attaches its media while answering).
 * - broadcast rooms: the publisher offers to every viewer and is impolite; viewers answer.
 *
 * After the first exchange either side may renegotiate (a camera turned on mid-call); glare is
 * resolved by the polite side rolling back. Remote candidates that arrive before the description
 * they belong to are buffered. The impolite side restarts ICE when a connection fails. When the
 * WebSocket drops, the client reconnects with backoff and resumes its session with the `resume`
 * token; connections already established keep running while signaling is away.
 *
 * Events (all CustomEvent, data in `detail`):
 * - `signalingstate` {state}: 'connecting' | 'joined' | 'reconnecting' | 'left' | 'failed'
 * - `joined` {id, room, role, peers, resumed}
 * - `peer-joined` {peerId, role}, `peer-left` {peerId}
 * - `track` {peerId, track, stream, streams, transceiver}
 * - `datachannel` {peerId, channel} (application channels; file transfers are handled here)
 * - `connectionstatechange` {peerId, state}
 * - `signal` {peerId, data} (application messages that are neither description nor candidate)
 * - `file-incoming` {peerId, transfer}, `file-progress` {peerId, transfer, received, size},
 *   `file` {peerId, file: ReceivedFile}
 * - `error` {error, code?, message, peerId?}
 *
 * @module rendezvous
 */

import { sendFile, receiveFile, sha256Hex, FILE_CHANNEL_PREFIX } from './filetransfer.js';

export { sendFile, receiveFile, sha256Hex, FILE_CHANNEL_PREFIX };

/** @typedef {'peer' | 'publisher' | 'viewer'} Role */

/**
 * @typedef {object} ClientOptions
 * @property {string} room room name
 * @property {Role} [role] default 'peer'
 * @property {string} [token] room token, when the server requires one
 * @property {string} [url] signaling URL; default ws(s)://<this host>/ws
 * @property {RTCIceServer[]} [iceServers] extra ICE servers, appended to those of `joined`
 * @property {RTCIceTransportPolicy} [iceTransportPolicy] 'all' (default) or 'relay'
 * @property {('audio' | 'video')[]} [receive] kinds this side wants to receive even when it sends
 *   no track of that kind (offering side only); default ['audio', 'video'] for role 'peer', [] otherwise
 * @property {number} [maxPeers] refuse to connect to more remote peers than this (mesh size - 1)
 * @property {number} [reconnectMinMs] first reconnect delay, default 500
 * @property {number} [reconnectMaxMs] longest reconnect delay, default 8000
 * @property {number} [pingIntervalMs] keepalive interval, default 15000
 */

/**
 * @typedef {object} CandidateInfo
 * @property {string} type 'host' | 'srflx' | 'prflx' | 'relay'
 * @property {string} protocol 'udp' | 'tcp'
 * @property {string | undefined} relayProtocol for relay candidates: transport to the TURN server
 * @property {string | undefined} address
 * @property {number | undefined} port
 * @property {string | undefined} url the STUN/TURN URL that produced it (local candidates)
 */

/**
 * @typedef {object} PairStats
 * @property {string} type the least direct of the two candidate types: relay > srflx > prflx > host
 * @property {string} protocol transport of the local candidate ('udp' | 'tcp')
 * @property {CandidateInfo} localCandidate
 * @property {CandidateInfo} remoteCandidate
 * @property {number | null} rtt current round trip time in milliseconds
 * @property {number | null} bitrateIn bits per second received since the previous call
 * @property {number | null} bitrateOut bits per second sent since the previous call
 * @property {number} bytesReceived
 * @property {number} bytesSent
 */

/**
 * @typedef {object} MediaStats
 * @property {number} framesDecoded video frames decoded, summed over inbound video streams
 * @property {number} framesReceived
 * @property {number} framesEncoded video frames encoded, summed over outbound video streams
 * @property {number} packetsReceived inbound RTP packets (audio and video)
 * @property {number} packetsLost
 * @property {number} inboundVideoStreams
 */

/** Default signaling URL for a page served by Rendezvous. */
export function defaultSignalingUrl() {
  return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/ws';
}

const TYPE_RANK = { host: 0, prflx: 1, srflx: 2, relay: 3 };
/** Candidate types removed from the remote candidate buffer once this many are waiting. */
const MAX_PENDING_CANDIDATES = 200;
/** How long a connection may stay 'disconnected' before the impolite side restarts ICE. */
const DISCONNECTED_RESTART_MS = 5000;
/** Outgoing signals kept while the WebSocket is down, sent after the session resumes. */
const MAX_QUEUED_SIGNALS = 500;
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

/**
 * A Rendezvous session: one room, one signaling connection, one Peer per remote peer.
 */
export class RendezvousClient extends EventTarget {
  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    if (!options || !options.room) throw new TypeError('RendezvousClient: options.room is required');
    this.options = options;
    this.room = options.room;
    /** @type {Role} */
    this.role = options.role ?? 'peer';
    this.url = options.url ?? defaultSignalingUrl();
    /** @type {string | null} our id in the room, assigned by the server */
    this.id = null;
    /** @type {string | null} */
    this.resumeToken = null;
    /** @type {RTCIceServer[]} */
    this.iceServers = [...(options.iceServers ?? [])];
    this.iceTtl = 0;
    /** @type {Map<string, Peer>} */
    this.peers = new Map();
    /** @type {{track: MediaStreamTrack, stream: MediaStream}[]} */
    this.localTracks = [];
    /** @type {('audio' | 'video')[]} */
    this.receiveKinds = options.receive ?? (this.role === 'peer' ? ['audio', 'video'] : []);
    this.state = 'idle';
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    /** @type {{to: string, data: object}[]} */
    this.outbox = [];
    this.paused = false;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    /** @type {{resolve: (v: any) => void, reject: (e: any) => void} | null} */
    this.joinWaiter = null;
  }

  /**
   * @param {string} type
   * @param {object} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * @param {any} error
   * @param {string} [peerId]
   */
  fail(error, peerId) {
    const message = error && error.message ? error.message : String(error);
    this.emit('error', { error, message, peerId });
  }

  /** @param {string} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit('signalingstate', { state });
  }

  /** @returns {RTCConfiguration} */
  rtcConfiguration() {
    return { iceServers: this.iceServers, iceTransportPolicy: this.options.iceTransportPolicy ?? 'all' };
  }

  /**
   * Connects and joins the room. Resolves with the `joined` message; rejects on a server error
   * or when the first connection cannot be made.
   * @returns {Promise<any>}
   */
  join() {
    if (this.state !== 'idle' && this.state !== 'left' && this.state !== 'failed') {
      return Promise.reject(new Error(`join: client is ${this.state}`));
    }
    return new Promise((resolve, reject) => {
      this.joinWaiter = { resolve, reject };
      this.connect();
    });
  }

  connect() {
    this.setState(this.id ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.connectionLost(error);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      /** @type {Record<string, string>} */
      const join = { type: 'join', room: this.room, role: this.role };
      if (this.options.token) join.token = this.options.token;
      if (this.resumeToken) join.resume = this.resumeToken;
      ws.send(JSON.stringify(join));
    };
    ws.onmessage = (ev) => this.handleMessage(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connectionLost(new Error(`signaling connection closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`));
    };
  }

  /** @param {Error} error */
  connectionLost(error) {
    clearInterval(this.pingTimer);
    if (this.state === 'left' || this.state === 'failed') return;
    if (this.joinWaiter) {
      // Never joined: report instead of retrying against a server that may not exist.
      const waiter = this.joinWaiter;
      this.joinWaiter = null;
      this.setState('failed');
      waiter.reject(error);
      return;
    }
    this.setState('reconnecting');
    const base = this.options.reconnectMinMs ?? 500;
    const max = this.options.reconnectMaxMs ?? 8000;
    const delay = Math.min(max, base * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** In the room with an open signaling connection (signals may still be held by pauseSignaling). */
  joinedNow() {
    return this.state === 'joined' && !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  signalingOpen() {
    return this.joinedNow() && !this.paused;
  }

  /** @param {string} raw */
  handleMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      this.fail(new Error('signaling: frame is not JSON'));
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'joined':
        this.handleJoined(msg);
        break;
      case 'peer-joined':
        if (msg.peer && typeof msg.peer.id === 'string') this.addPeer(msg.peer.id, msg.peer.role ?? 'peer', false);
        break;
      case 'peer-left':
        if (typeof msg.id === 'string') this.removePeer(msg.id);
        break;
      case 'signal':
        this.handleSignal(msg.from, msg.data);
        break;
      case 'error':
        this.handleError(msg);
        break;
      default:
        break; // 'pong' and message types of later protocol versions
    }
  }

  /** @param {any} msg */
  handleJoined(msg) {
    const resumed = this.id !== null && msg.id === this.id;
    if (this.id !== null && !resumed) {
      // A new session: the old ids mean nothing to the server any more.
      for (const id of [...this.peers.keys()]) this.removePeer(id);
    }
    this.id = msg.id;
    this.resumeToken = msg.resume ?? null;
    this.iceTtl = msg.ice_ttl ?? 0;
    if (Array.isArray(msg.ice_servers)) {
      this.iceServers = [...msg.ice_servers, ...(this.options.iceServers ?? [])];
      for (const peer of this.peers.values()) peer.pc.setConfiguration(this.rtcConfiguration());
    }
    this.attempt = 0;
    this.setState('joined');
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.sendRaw({ type: 'ping' }), this.options.pingIntervalMs ?? 15000);
    /** @type {{id: string, role: Role}[]} */
    const listed = Array.isArray(msg.peers) ? msg.peers.filter((/** @type {any} */ p) => p && typeof p.id === 'string') : [];
    if (resumed) {
      const present = new Set(listed.map((p) => p.id));
      for (const id of [...this.peers.keys()]) if (!present.has(id)) this.removePeer(id);
    }
    // After a resume, peers we do not know yet arrived while we were away: they found us in their
    // own peer list, so they make the offer.
    for (const p of listed) if (!this.peers.has(p.id)) this.addPeer(p.id, p.role ?? 'peer', !resumed);
    this.flushOutbox();
    for (const peer of this.peers.values()) if (peer.offerWanted) peer.negotiate();
    this.emit('joined', { id: msg.id, room: msg.room, role: msg.role, peers: listed, resumed });
    if (this.joinWaiter) {
      const waiter = this.joinWaiter;
      this.joinWaiter = null;
      waiter.resolve(msg);
    }
  }

  /** @param {any} msg */
  handleError(msg) {
    const error = new Error(msg.message || msg.code || 'signaling error');
    this.emit('error', { error, code: msg.code, message: error.message, ref: msg.ref });
    if (this.state === 'joined') return;
    if (this.resumeToken) {
      // The session could not be resumed (expired or unknown): start a new one.
      this.resumeToken = null;
      this.ws?.close();
      return;
    }
    if (this.joinWaiter) {
      const waiter = this.joinWaiter;
      this.joinWaiter = null;
      this.shutdown('failed');
      waiter.reject(Object.assign(error, { code: msg.code }));
    }
  }

  /**
   * @param {string} id
   * @param {Role} role
   * @param {boolean} listedAtJoin the peer was in our `joined.peers`: it was there first
   */
  addPeer(id, role, listedAtJoin) {
    if (this.peers.has(id) || id === this.id) return;
    const max = this.options.maxPeers;
    if (max !== undefined && this.peers.size >= max) {
      this.emit('error', { error: new Error('too many peers'), code: 'too-many-peers', message: `not connecting to ${id}: at most ${max} peers`, peerId: id });
      return;
    }
    // Who offers is decided by the protocol, never by a race (docs/protocol.md "Who offers").
    const offerer = this.role === 'publisher' || (this.role === 'peer' && role !== 'publisher' && listedAtJoin);
    const peer = new Peer(this, id, role, !offerer);
    this.peers.set(id, peer);
    this.emit('peer-joined', { peerId: id, role, polite: peer.polite });
  }

  /** @param {string} id */
  removePeer(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.close();
    this.emit('peer-left', { peerId: id });
  }

  /**
   * @param {unknown} from
   * @param {any} data
   */
  handleSignal(from, data) {
    if (typeof from !== 'string') return;
    let peer = this.peers.get(from);
    if (!peer) {
      // An offer from a peer we have not heard of yet (its peer-joined may still be on the way).
      if (!data || !data.description || data.description.type !== 'offer') return;
      this.addPeer(from, this.role === 'viewer' ? 'publisher' : 'peer', false);
      peer = this.peers.get(from);
      if (!peer) return;
    }
    peer.handleSignal(data);
  }

  /** @param {object} msg */
  sendRaw(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  /**
   * Sends `data` to one peer through the server. Queued while signaling is down or paused.
   * @param {string} to
   * @param {object} data
   */
  sendSignal(to, data) {
    if (this.signalingOpen() && this.outbox.length === 0) {
      this.sendRaw({ type: 'signal', to, data });
      return;
    }
    this.outbox.push({ to, data });
    if (this.outbox.length > MAX_QUEUED_SIGNALS) this.outbox.shift();
  }

  flushOutbox() {
    while (this.outbox.length && this.signalingOpen()) {
      const item = /** @type {{to: string, data: object}} */ (this.outbox.shift());
      if (this.peers.has(item.to)) this.sendRaw({ type: 'signal', to: item.to, data: item.data });
    }
  }

  /**
   * Holds outgoing signals until resumeSignaling(). Lets a test make both sides send offers
   * that cross (glare), or an application batch its changes.
   */
  pauseSignaling() {
    this.paused = true;
  }

  resumeSignaling() {
    this.paused = false;
    this.flushOutbox();
    for (const peer of this.peers.values()) if (peer.offerWanted) peer.negotiate();
  }

  /**
   * Sends an application message to a peer (delivered as a `signal` event there).
   * @param {string} peerId
   * @param {object} data must not have `description` or `candidate` keys
   */
  sendMessage(peerId, data) {
    this.sendSignal(peerId, data);
  }

  /**
   * Adds a local track for every current and future peer (renegotiates where already connected).
   * @param {MediaStreamTrack} track
   * @param {MediaStream} stream
   */
  addTrack(track, stream) {
    if (this.localTracks.some((t) => t.track === track)) return;
    this.localTracks.push({ track, stream });
    for (const peer of this.peers.values()) if (peer.mayOffer()) peer.attach(track, stream);
  }

  /** @param {MediaStream} stream */
  addStream(stream) {
    for (const track of stream.getTracks()) this.addTrack(track, stream);
  }

  /** @param {MediaStreamTrack} track */
  removeTrack(track) {
    this.localTracks = this.localTracks.filter((t) => t.track !== track);
    for (const peer of this.peers.values()) peer.detach(track);
  }

  /**
   * Swaps a sending track without renegotiation (same kind), e.g. another camera.
   * @param {MediaStreamTrack} oldTrack
   * @param {MediaStreamTrack} newTrack
   */
  async replaceTrack(oldTrack, newTrack) {
    const entry = this.localTracks.find((t) => t.track === oldTrack);
    if (!entry) throw new Error('replaceTrack: not a local track');
    entry.track = newTrack;
    await Promise.all([...this.peers.values()].map(async (peer) => {
      const sender = peer.senders.get(oldTrack);
      if (!sender) return;
      peer.senders.delete(oldTrack);
      peer.senders.set(newTrack, sender);
      await sender.replaceTrack(newTrack);
    }));
  }

  /**
   * Application data channel to one peer (the control channel guarantees a data section exists,
   * so this needs no renegotiation once connected).
   * @param {string} peerId
   * @param {string} label
   * @param {RTCDataChannelInit} [init]
   */
  createDataChannel(peerId, label, init) {
    const peer = this.peers.get(peerId);
    if (!peer) throw new Error(`no peer ${peerId}`);
    return peer.pc.createDataChannel(label, init);
  }

  /**
   * @param {Peer} peer
   * @param {RTCDataChannel} channel
   */
  acceptChannel(peer, channel) {
    if (channel.label === 'rdv-control') {
      peer.control = channel;
      return;
    }
    if (channel.label.startsWith(FILE_CHANNEL_PREFIX)) {
      receiveFile(channel, {
        onheader: (transfer) => this.emit('file-incoming', { peerId: peer.id, transfer }),
        onprogress: (transfer, received) => this.emit('file-progress', { peerId: peer.id, transfer, received, size: transfer.size }),
      }).then(
        (file) => this.emit('file', { peerId: peer.id, file }),
        (error) => this.fail(error, peer.id),
      );
      return;
    }
    this.emit('datachannel', { peerId: peer.id, channel });
  }

  /**
   * Sends a file to peers over one new data channel each, with backpressure. Resolves per peer
   * with the receiver's verdict on the SHA-256 it computed.
   * @param {File | Blob} file
   * @param {{to?: string[], name?: string, sha256?: string, onprogress?: (peerId: string, sent: number, size: number) => void}} [options]
   * @returns {Promise<{peerId: string, ok: boolean, sha256: string, error?: string}[]>}
   */
  async sendFile(file, options = {}) {
    const targets = options.to ?? [...this.peers.keys()];
    const sha256 = options.sha256 ?? (await sha256Hex(file));
    const name = options.name ?? (/** @type {File} */ (file).name || 'file');
    return Promise.all(targets.map(async (peerId) => {
      try {
        const channel = this.createDataChannel(peerId, FILE_CHANNEL_PREFIX + crypto.randomUUID(), { ordered: true });
        const maxMessageSize = this.peers.get(peerId)?.pc.sctp?.maxMessageSize ?? 65536;
        const verdict = await sendFile(channel, file, {
          name,
          sha256,
          maxMessageSize,
          onprogress: (sent, size) => options.onprogress?.(peerId, sent, size),
        });
        return { peerId, ...verdict };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { peerId, ok: false, sha256, error: message };
      }
    }));
  }

  /**
   * Selected candidate pair of the connection to `peerId`, or null before one is selected.
   * Bitrates are averaged since the previous call for the same peer.
   * @param {string} peerId
   * @returns {Promise<PairStats | null>}
   */
  async stats(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return null;
    const report = await peer.pc.getStats();
    let pair = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) ?? pair;
    });
    if (!pair) {
      report.forEach((s) => {
        if (!pair && s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) pair = s;
      });
    }
    if (!pair) return null;
    /** @type {any} */
    const p = pair;
    const local = describeCandidate(report.get(p.localCandidateId));
    const remote = describeCandidate(report.get(p.remoteCandidateId));
    const sample = { timestamp: p.timestamp, bytesSent: p.bytesSent ?? 0, bytesReceived: p.bytesReceived ?? 0 };
    const prev = peer.lastSample;
    peer.lastSample = sample;
    const seconds = prev ? (sample.timestamp - prev.timestamp) / 1000 : 0;
    const rate = (/** @type {number} */ now, /** @type {number} */ before) => (seconds > 0 ? ((now - before) * 8) / seconds : null);
    return {
      type: /** @type {any} */ (TYPE_RANK)[local.type] >= /** @type {any} */ (TYPE_RANK)[remote.type] ? local.type : remote.type,
      protocol: local.protocol,
      localCandidate: local,
      remoteCandidate: remote,
      rtt: typeof p.currentRoundTripTime === 'number' ? p.currentRoundTripTime * 1000 : null,
      bitrateIn: prev ? rate(sample.bytesReceived, prev.bytesReceived) : null,
      bitrateOut: prev ? rate(sample.bytesSent, prev.bytesSent) : null,
      bytesReceived: sample.bytesReceived,
      bytesSent: sample.bytesSent,
    };
  }

  /**
   * Media counters of the connection to `peerId` (inbound and outbound RTP).
   * @param {string} peerId
   * @returns {Promise<MediaStats | null>}
   */
  async mediaStats(peerId) {
    const peer = this.peers.get(peerId);
    if (!peer) return null;
    const report = await peer.pc.getStats();
    const out = { framesDecoded: 0, framesReceived: 0, framesEncoded: 0, packetsReceived: 0, packetsLost: 0, inboundVideoStreams: 0 };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out.packetsReceived += s.packetsReceived ?? 0;
        out.packetsLost += s.packetsLost ?? 0;
        if (s.kind === 'video') {
          out.inboundVideoStreams++;
          out.framesDecoded += s.framesDecoded ?? 0;
          out.framesReceived += s.framesReceived ?? 0;
        }
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.framesEncoded += s.framesEncoded ?? 0;
      }
    });
    return out;
  }

  /** Leaves the room and closes every connection. */
  leave() {
    if (this.state === 'left') return;
    this.sendRaw({ type: 'leave' });
    this.shutdown('left');
  }

  /** @param {'left' | 'failed'} state */
  shutdown(state) {
    clearInterval(this.pingTimer);
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    this.outbox = [];
    this.id = null;
    this.resumeToken = null;
    this.setState(state);
  }
}

/**
 * @param {any} stat an RTCIceCandidateStats
 * @returns {CandidateInfo}
 */
function describeCandidate(stat) {
  return {
    type: stat?.candidateType ?? 'unknown',
    protocol: stat?.protocol ?? 'unknown',
    relayProtocol: stat?.relayProtocol,
    address: stat?.address ?? stat?.ip,
    port: stat?.port,
    url: stat?.url,
  };
}

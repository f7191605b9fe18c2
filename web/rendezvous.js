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

import { sendFile, receiveFile, sha256Hex, isFileChannel, FILE_CHANNEL_LABEL, FILE_CHANNEL_PREFIX } from './filetransfer.js';
import { Peer } from './peer.js';
import { selectedPairStats, mediaStats } from './stats.js';

export { sendFile, receiveFile, sha256Hex, isFileChannel, FILE_CHANNEL_LABEL, FILE_CHANNEL_PREFIX, Peer, selectedPairStats, mediaStats };

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
 * @property {number} [maxPeers] most remote peers: a join into a room with more fails with code
 *   'mesh-full', and later arrivals beyond it are not connected
 * @property {number} [reconnectMinMs] first reconnect delay, default 500
 * @property {number} [reconnectMaxMs] longest reconnect delay, default 8000
 * @property {number} [pingIntervalMs] keepalive interval, default 15000
 */

/** @typedef {import('./stats.js').PairStats} PairStats */
/** @typedef {import('./stats.js').MediaStats} MediaStats */
/** @typedef {import('./stats.js').CandidateInfo} CandidateInfo */

/** Default signaling URL for a page served by Rendezvous. */
export function defaultSignalingUrl() {
  return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/ws';
}

/** Outgoing signals kept while the WebSocket is down, sent after the session resumes. */
const MAX_QUEUED_SIGNALS = 500;
/** Signals per second sent to the server, below its default limit of 50 (docs/protocol.md). */
const SIGNAL_RATE = 40;
/** WebSocket close code: the session was resumed on another connection (docs/protocol.md §9). */
const CLOSE_REPLACED = 4002;
/** ICE servers are fetched again after this fraction of their credentials' lifetime... */
const ICE_REFRESH_AT = 0.8;
/** ...but not more often than this, in seconds. */
const MIN_ICE_REFRESH_S = 30;

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
    /** Token bucket pacing outgoing signals. */
    this.tokens = SIGNAL_RATE;
    this.tokensAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.pumpTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.iceRefreshTimer = undefined;
    /** performance.now() of the last message from the server */
    this.lastHeard = 0;
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
      this.connectionLost(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.sendJoin();
    ws.onmessage = (ev) => {
      this.lastHeard = performance.now();
      this.handleMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const error = new Error(`signaling connection closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`);
      if (ev.code === CLOSE_REPLACED) {
        // docs/protocol.md §9: the session now lives on another connection; do not fight over it.
        this.fail(error);
        this.shutdown('failed');
        return;
      }
      this.connectionLost(error);
    };
  }

  sendJoin() {
    /** @type {Record<string, string>} */
    const join = { type: 'join', room: this.room, role: this.role };
    if (this.options.token) join.token = this.options.token;
    if (this.resumeToken) join.resume = this.resumeToken;
    this.sendRaw(join);
  }

  /**
   * docs/protocol.md §11: ping the server; when nothing came back for three intervals the server
   * or the path to it is dead even if the socket does not know yet: reconnect and resume.
   * @param {number} interval
   */
  keepalive(interval) {
    if (performance.now() - this.lastHeard > 3 * interval) {
      const ws = this.ws;
      this.ws = null; // its late close event is ignored
      ws?.close();
      this.connectionLost(new Error('signaling server stopped answering'));
      return;
    }
    this.sendRaw({ type: 'ping' });
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
    const max = this.options.maxPeers;
    if (!resumed && max !== undefined && Array.isArray(msg.peers) && msg.peers.length > max) {
      // A mesh this size would overload every member: step out before anyone offers.
      this.sendRaw({ type: 'leave' });
      const error = Object.assign(new Error(`the room already has ${msg.peers.length} other participants (at most ${max})`), { code: 'mesh-full' });
      this.emit('error', { error, code: 'mesh-full', message: error.message });
      const waiter = this.joinWaiter;
      this.joinWaiter = null;
      this.shutdown('failed');
      waiter?.reject(error);
      return;
    }
    if (this.id !== null && !resumed) {
      // A new session: the old ids mean nothing to the server any more.
      for (const id of [...this.peers.keys()]) this.removePeer(id);
    }
    this.id = msg.id;
    this.resumeToken = msg.resume ?? null;
    if (Array.isArray(msg.ice_servers)) this.useIceServers(msg.ice_servers, msg.ice_ttl ?? 0, false);
    this.attempt = 0;
    this.setState('joined');
    clearInterval(this.pingTimer);
    const interval = this.options.pingIntervalMs ?? 15000;
    this.lastHeard = performance.now();
    this.pingTimer = setInterval(() => this.keepalive(interval), interval);
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
    for (const peer of this.peers.values()) {
      if (peer.offerWanted) peer.negotiate();
      // docs/protocol.md §12: what the old connection never delivered is not replayed.
      else if (resumed) peer.recoverAfterResume();
    }
    this.emit('joined', { id: msg.id, room: msg.room, role: msg.role, peers: listed, resumed });
    if (this.joinWaiter) {
      const waiter = this.joinWaiter;
      this.joinWaiter = null;
      waiter.resolve(msg);
    }
  }

  /**
   * Takes a fresh ICE server list. TURN credentials expire after `ttl` seconds and a TURN server
   * refuses to refresh an allocation with expired ones, so a new list is fetched before then;
   * relayed connections restart ICE to allocate with the new credentials.
   * @param {RTCIceServer[]} servers
   * @param {number} ttl
   * @param {boolean} restartRelayed
   */
  useIceServers(servers, ttl, restartRelayed) {
    this.iceServers = [...servers, ...(this.options.iceServers ?? [])];
    this.iceTtl = ttl;
    for (const peer of this.peers.values()) {
      peer.pc.setConfiguration(this.rtcConfiguration());
      if (restartRelayed) peer.restartIceIfRelayed();
    }
    clearTimeout(this.iceRefreshTimer);
    if (ttl > 0) {
      const delay = Math.max(MIN_ICE_REFRESH_S, ttl * ICE_REFRESH_AT) * 1000;
      this.iceRefreshTimer = setTimeout(() => this.refreshIceServers(), Math.min(delay, 2 ** 31 - 1));
    }
  }

  /** Fetches a new ICE server list from GET /api/ice-servers on the signaling host. */
  async refreshIceServers() {
    const url = new URL('/api/ice-servers', this.url.replace(/^ws/, 'http'));
    if (this.options.token) url.searchParams.set('token', this.options.token);
    try {
      const res = await fetch(url, { cache: 'no-store' });
      if (!res.ok) throw new Error(`GET ${url.pathname}: HTTP ${res.status}`);
      const body = await res.json();
      if (!Array.isArray(body.ice_servers)) throw new Error(`GET ${url.pathname}: no ice_servers`);
      if (this.state === 'left' || this.state === 'failed') return;
      this.useIceServers(body.ice_servers, Number(body.ttl) || 0, true);
    } catch (error) {
      this.fail(error);
      if (this.state !== 'left' && this.state !== 'failed') {
        this.iceRefreshTimer = setTimeout(() => this.refreshIceServers(), MIN_ICE_REFRESH_S * 1000);
      }
    }
  }

  /** @param {any} msg */
  handleError(msg) {
    const error = new Error(msg.message || msg.code || 'signaling error');
    this.emit('error', { error, code: msg.code, message: error.message, ref: msg.ref });
    if (this.state === 'joined') return;
    if (msg.code === 'bad-resume' && this.resumeToken) {
      // The grace period is over (or the server restarted): start a new session.
      this.resumeToken = null;
      this.sendJoin();
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
    this.outbox.push({ to, data });
    if (this.outbox.length > MAX_QUEUED_SIGNALS) this.outbox.shift();
    this.flushOutbox();
  }

  /** Sends queued signals, paced so that the server's per-connection rate limit is never hit. */
  flushOutbox() {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    while (this.outbox.length && this.signalingOpen()) {
      const now = performance.now();
      this.tokens = Math.min(SIGNAL_RATE, this.tokens + ((now - this.tokensAt) * SIGNAL_RATE) / 1000);
      this.tokensAt = now;
      if (this.tokens < 1) {
        this.pumpTimer = setTimeout(() => this.flushOutbox(), Math.ceil(((1 - this.tokens) * 1000) / SIGNAL_RATE));
        return;
      }
      this.tokens -= 1;
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
    if (isFileChannel(channel.label)) {
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
        const channel = this.createDataChannel(peerId, FILE_CHANNEL_LABEL, { ordered: true });
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
    const { stats, sample } = await selectedPairStats(peer.pc, peer.lastSample);
    if (sample) peer.lastSample = sample;
    return stats;
  }

  /**
   * Media counters of the connection to `peerId` (inbound and outbound RTP).
   * @param {string} peerId
   * @returns {Promise<MediaStats | null>}
   */
  async mediaStats(peerId) {
    const peer = this.peers.get(peerId);
    return peer ? mediaStats(peer.pc) : null;
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
    clearTimeout(this.pumpTimer);
    clearTimeout(this.iceRefreshTimer);
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

// @ts-check
/**
 * Small helpers shared by the Rendezvous pages (not part of the client library API).
 * @module ui
 */

export const params = new URLSearchParams(location.search);

/**
 * A query flag: `?relay=1`, `?relay=true`, `?relay` are on; `?relay=0` is off.
 * @param {string} name
 * @param {boolean} [fallback]
 */
export function flag(name, fallback = false) {
  if (!params.has(name)) return fallback;
  const v = (params.get(name) ?? '').toLowerCase();
  return v === '' || v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

const ADJECTIVES = ['amber', 'brisk', 'calm', 'clever', 'eager', 'gentle', 'golden', 'happy', 'lucky', 'misty', 'quiet', 'rapid', 'silver', 'sunny', 'swift', 'witty'];
const NOUNS = ['otter', 'falcon', 'maple', 'harbor', 'comet', 'meadow', 'lynx', 'canyon', 'heron', 'willow', 'badger', 'pebble', 'breeze', 'summit', 'orchid', 'fjord'];

/** A readable random room name, e.g. "swift-heron-4821". */
export function randomRoomName() {
  const r = crypto.getRandomValues(new Uint32Array(3));
  return `${ADJECTIVES[r[0] % ADJECTIVES.length]}-${NOUNS[r[1] % NOUNS.length]}-${1000 + (r[2] % 9000)}`;
}

/**
 * Creates an element: h('li', {className: 'x', dataset: {peer: id}}, 'text', child).
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | number | null | undefined)} children
 * @returns {any}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el) /** @type {any} */ (el)[key] = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
  return el;
}

/**
 * @param {string} id
 * @returns {any}
 */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el;
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** @param {number | null | undefined} bps */
export function formatBitrate(bps) {
  if (bps === null || bps === undefined) return '–';
  if (bps < 1000) return `${Math.round(bps)} bit/s`;
  if (bps < 1e6) return `${(bps / 1e3).toFixed(0)} kbit/s`;
  return `${(bps / 1e6).toFixed(1)} Mbit/s`;
}

/**
 * One line for a connection panel: "relay udp (via udp) · RTT 3 ms · ↓ 1.2 Mbit/s ↑ 900 kbit/s".
 * @param {import('./rendezvous.js').PairStats | null} s
 */
export function describePair(s) {
  if (!s) return 'no candidate pair selected yet';
  const l = s.localCandidate;
  const r = s.remoteCandidate;
  const via = l.relayProtocol ? ` via ${l.relayProtocol}` : '';
  const rtt = s.rtt === null ? '–' : `${s.rtt.toFixed(0)} ms`;
  return `${l.type}/${r.type} ${s.protocol}${via} · RTT ${rtt} · ↓ ${formatBitrate(s.bitrateIn)} ↑ ${formatBitrate(s.bitrateOut)}`;
}

/**
 * Client options common to all pages, from the query string:
 * room, token, relay=1 (relay-only ICE), ws=URL (signaling URL override).
 * @param {import('./rendezvous.js').Role} role
 * @param {string} room
 * @returns {import('./rendezvous.js').ClientOptions}
 */
export function clientOptions(role, room) {
  /** @type {import('./rendezvous.js').ClientOptions} */
  const options = { room, role, iceTransportPolicy: flag('relay') ? 'relay' : 'all' };
  const token = params.get('token');
  if (token) options.token = token;
  const ws = params.get('ws');
  if (ws) options.url = ws;
  return options;
}

/**
 * Media constraints from the query string: audio=0, video=0, quality=low (320x240 at 15 fps).
 * @returns {MediaStreamConstraints}
 */
export function mediaConstraints() {
  const low = params.get('quality') === 'low';
  const video = flag('video', true) ? (low ? { width: 320, height: 240, frameRate: 15 } : { width: { ideal: 640 }, height: { ideal: 480 } }) : false;
  return { audio: flag('audio', true), video };
}

/**
 * Appends a timestamped line to an <ol class="log"> (newest last, at most 200 lines).
 * @param {HTMLElement} list
 * @param {string} text
 * @param {boolean} [isError]
 */
export function logTo(list, text, isError = false) {
  const time = new Date().toLocaleTimeString([], { hour12: false });
  list.append(h('li', { className: isError ? 'error' : '' }, `${time} ${text}`));
  while (list.children.length > 200) list.firstElementChild?.remove();
  list.scrollTop = list.scrollHeight;
}

/**
 * Sets a status element's text and tone.
 * @param {HTMLElement} el
 * @param {string} text
 * @param {'' | 'ok' | 'warn' | 'bad'} [tone]
 */
export function setStatus(el, text, tone = '') {
  el.textContent = text;
  el.className = `status ${tone}`.trim();
}

/**
 * Wires the client's events into a page log; returns the client for chaining.
 * @param {import('./rendezvous.js').RendezvousClient} client
 * @param {HTMLElement} list
 */
export function logClientEvents(client, list) {
  client.addEventListener('signalingstate', (e) => logTo(list, `signaling: ${/** @type {CustomEvent} */ (e).detail.state}`));
  client.addEventListener('peer-joined', (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    logTo(list, `peer ${d.peerId} (${d.role}) ${d.polite ? 'will offer to us' : 'gets our offer'}`);
  });
  client.addEventListener('peer-left', (e) => logTo(list, `peer ${/** @type {CustomEvent} */ (e).detail.peerId} left`));
  client.addEventListener('connectionstatechange', (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    logTo(list, `peer ${d.peerId}: ${d.state}`, d.state === 'failed');
  });
  client.addEventListener('error', (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    logTo(list, `error${d.code ? ' ' + d.code : ''}${d.peerId ? ' (peer ' + d.peerId + ')' : ''}: ${d.message}`, true);
  });
  return client;
}

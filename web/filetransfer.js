// @ts-check
/**
 * File transfer over one RTCDataChannel per file (reliable, ordered).
 *
 * On the channel, in order:
 *   sender   -> text   {"type":"header","name":"...","size":N,"mime":"...","sha256":"<hex>"}
 *   sender   -> binary chunks, at most maxMessageSize bytes each, N bytes in all
 *   sender   -> text   {"type":"end"}
 *   receiver -> text   {"type":"result","ok":true|false,"sha256":"<hex of what arrived>"}
 * The sender keeps at most HIGH_WATER bytes queued in the channel and resumes on
 * `bufferedamountlow`, so a large file never fills memory on the sending side.
 *
 * @module filetransfer
 */

/** Labels of data channels that carry a file start with this. */
export const FILE_CHANNEL_PREFIX = 'rdv-file:';

const DEFAULT_CHUNK = 64 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** Bytes read from the file at a time; chunks are cut from this block. */
const READ_BLOCK = 1024 * 1024;

/**
 * @typedef {object} TransferHeader
 * @property {string} id the data channel's label, unique per transfer
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {string} sha256 lowercase hex, as announced by the sender
 */

/**
 * @typedef {object} ReceivedFile
 * @property {string} id the data channel's label, as in TransferHeader
 * @property {string} name
 * @property {number} size bytes that arrived
 * @property {string} mime
 * @property {string} expected SHA-256 announced by the sender
 * @property {string} sha256 SHA-256 of what arrived
 * @property {boolean} ok the hashes and sizes match
 * @property {Blob} blob
 */

/**
 * SHA-256 of a Blob or buffer, as lowercase hex (Web Crypto, W3C WebCryptoAPI §14.3.5 digest).
 * @param {Blob | BufferSource} data
 */
export async function sha256Hex(data) {
  const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {RTCDataChannel} channel */
function opened(channel) {
  if (channel.readyState === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    channel.addEventListener('open', () => resolve(undefined), { once: true });
    channel.addEventListener('close', () => reject(new Error('data channel closed before it opened')), { once: true });
  });
}

/** @param {RTCDataChannel} channel */
function drained(channel) {
  return new Promise((resolve, reject) => {
    const onLow = () => {
      channel.removeEventListener('close', onClose);
      resolve(undefined);
    };
    const onClose = () => {
      channel.removeEventListener('bufferedamountlow', onLow);
      reject(new Error('data channel closed during the transfer'));
    };
    channel.addEventListener('bufferedamountlow', onLow, { once: true });
    channel.addEventListener('close', onClose, { once: true });
  });
}

/**
 * Sends one file on a fresh data channel and waits for the receiver's verdict.
 * @param {RTCDataChannel} channel
 * @param {Blob} file
 * @param {{name: string, sha256: string, maxMessageSize?: number, onprogress?: (sent: number, size: number) => void}} options
 * @returns {Promise<{ok: boolean, sha256: string}>} the receiver's verdict and the hash it computed
 */
export async function sendFile(channel, file, options) {
  channel.binaryType = 'arraybuffer';
  const chunkSize = Math.max(1024, Math.min(DEFAULT_CHUNK, options.maxMessageSize || DEFAULT_CHUNK));
  const verdict = new Promise((resolve, reject) => {
    channel.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      try {
        const msg = JSON.parse(ev.data);
        if (msg.type === 'result') resolve({ ok: msg.ok === true, sha256: String(msg.sha256 ?? '') });
      } catch {
        reject(new Error('receiver sent a malformed result'));
      }
    });
    channel.addEventListener('close', () => reject(new Error('data channel closed before the receiver confirmed')));
  });
  verdict.catch(() => {}); // observed below; avoids an unhandled rejection if sending throws first
  await opened(channel);
  channel.bufferedAmountLowThreshold = LOW_WATER;
  const header = { type: 'header', name: options.name, size: file.size, mime: file.type || 'application/octet-stream', sha256: options.sha256 };
  channel.send(JSON.stringify(header));
  let sent = 0;
  options.onprogress?.(0, file.size);
  for (let blockStart = 0; blockStart < file.size; blockStart += READ_BLOCK) {
    const block = await file.slice(blockStart, Math.min(file.size, blockStart + READ_BLOCK)).arrayBuffer();
    for (let offset = 0; offset < block.byteLength; offset += chunkSize) {
      if (channel.bufferedAmount > HIGH_WATER) await drained(channel);
      if (channel.readyState !== 'open') throw new Error('data channel closed during the transfer');
      channel.send(block.slice(offset, Math.min(block.byteLength, offset + chunkSize)));
      sent += Math.min(chunkSize, block.byteLength - offset);
      options.onprogress?.(sent, file.size);
    }
  }
  channel.send(JSON.stringify({ type: 'end' }));
  const result = await verdict;
  channel.close();
  return result;
}

/**
 * Receives one file from a data channel opened by sendFile on the other side.
 * @param {RTCDataChannel} channel
 * @param {{onheader?: (h: TransferHeader) => void, onprogress?: (h: TransferHeader, received: number) => void}} [callbacks]
 * @returns {Promise<ReceivedFile>}
 */
export function receiveFile(channel, callbacks = {}) {
  channel.binaryType = 'arraybuffer';
  return new Promise((resolve, reject) => {
    /** @type {TransferHeader | null} */
    let header = null;
    /** @type {ArrayBuffer[]} */
    let chunks = [];
    let received = 0;
    let finished = false;
    const abort = (/** @type {string} */ why) => {
      if (finished) return;
      finished = true;
      chunks = [];
      reject(new Error(why));
      channel.close();
    };
    channel.addEventListener('close', () => abort('data channel closed before the file was complete'));
    channel.addEventListener('message', (ev) => {
      if (finished) return;
      if (typeof ev.data !== 'string') {
        if (!header) return abort('file data before its header');
        const chunk = /** @type {ArrayBuffer} */ (ev.data);
        received += chunk.byteLength;
        if (received > header.size) return abort(`more data than the announced ${header.size} bytes`);
        chunks.push(chunk);
        callbacks.onprogress?.(header, received);
        return;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return abort('malformed control message');
      }
      if (msg.type === 'header' && !header) {
        const size = Number(msg.size);
        if (!Number.isSafeInteger(size) || size < 0) return abort('bad size in header');
        header = {
          id: channel.label,
          name: String(msg.name ?? 'file').slice(0, 255),
          size,
          mime: String(msg.mime ?? 'application/octet-stream'),
          sha256: String(msg.sha256 ?? '').toLowerCase(),
        };
        callbacks.onheader?.(header);
      } else if (msg.type === 'end' && header) {
        finished = true;
        const h = header;
        const blob = new Blob(chunks, { type: h.mime });
        chunks = [];
        sha256Hex(blob).then((sha256) => {
          const ok = sha256 === h.sha256 && blob.size === h.size;
          if (channel.readyState === 'open') channel.send(JSON.stringify({ type: 'result', ok, sha256 }));
          resolve({ id: h.id, name: h.name, size: blob.size, mime: h.mime, expected: h.sha256, sha256, ok, blob });
        }, reject);
      }
    });
  });
}

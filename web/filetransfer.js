// @ts-check
/**
 * File transfer over one RTCDataChannel per file (reliable, ordered), as specified in
 * docs/file-transfer.md and spoken by the native `rendezvous send` / `rendezvous receive`.
 *
 * On a channel labelled `file`, in order:
 *   sender   -> text   {"type":"file","name":"...","size":N,"sha256":"<hex>","mime":"..."}
 *   sender   -> binary chunks of at most 16384 bytes, N bytes in all
 *   sender   -> text   {"type":"eof"}
 *   receiver -> text   {"type":"ack","sha256":"<hex of what arrived>","ok":true|false}
 * `mime` is optional (unknown fields are ignored by every receiver). The sender keeps at most
 * HIGH_WATER bytes queued in the channel and resumes on `bufferedamountlow`, so a large file
 * never fills memory on the sending side.
 *
 * The receiver also accepts the format of early web clients (channels labelled `rdv-file:…`,
 * `header` / `end` messages) and answers such a sender with `result` instead of `ack`.
 *
 * @module filetransfer
 */

/** Label of the data channels that carry a file (docs/file-transfer.md, "Channel"). */
export const FILE_CHANNEL_LABEL = 'file';

/** Labels of data channels opened by early web senders start with this; still accepted. */
export const FILE_CHANNEL_PREFIX = 'rdv-file:';

/**
 * Whether a data channel with this label carries a file.
 * @param {string} label
 */
export function isFileChannel(label) {
  return label === FILE_CHANNEL_LABEL || label.startsWith(FILE_CHANNEL_PREFIX);
}

/** Largest binary message; fits the SCTP message size of every browser and the native peer. */
const CHUNK = 16 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** Bytes read from the file at a time; chunks are cut from this block. */
const READ_BLOCK = 1024 * 1024;

/**
 * A file name as a receiver keeps it: the last path component, without control characters or
 * leading dots (docs/file-transfer.md, "Messages").
 * @param {unknown} raw
 */
export function safeFileName(raw) {
  const last = String(raw ?? '').split(/[\\/]/).pop() ?? '';
  const name = last.replace(/[\u0000-\u001f\u007f]/g, '').replace(/^\.+/, '').slice(0, 255);
  return name || 'file';
}

let transferCount = 0;

/**
 * @typedef {object} TransferHeader
 * @property {string} id unique per received transfer (the channel label and a counter)
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {string} sha256 lowercase hex, as announced by the sender
 */

/**
 * @typedef {object} ReceivedFile
 * @property {string} id as in TransferHeader
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
 * Sends one file on a fresh data channel (labelled FILE_CHANNEL_LABEL) and waits for the
 * receiver's verdict. The transfer counts as good only when the receiver says `ok` and the hash
 * it computed equals `options.sha256`.
 * @param {RTCDataChannel} channel
 * @param {Blob} file
 * @param {{name: string, sha256: string, maxMessageSize?: number, onprogress?: (sent: number, size: number) => void}} options
 * @returns {Promise<{ok: boolean, sha256: string}>} the verdict and the hash the receiver computed
 */
export async function sendFile(channel, file, options) {
  channel.binaryType = 'arraybuffer';
  const chunkSize = Math.max(1024, Math.min(CHUNK, options.maxMessageSize || CHUNK));
  const expected = options.sha256.toLowerCase();
  /** @type {Promise<{ok: boolean, sha256: string}>} */
  const verdict = new Promise((resolve, reject) => {
    channel.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not a control message this side knows: ignored, as the spec asks
      }
      if (msg?.type === 'ack' || msg?.type === 'result') {
        const sha256 = String(msg.sha256 ?? '').toLowerCase();
        resolve({ ok: msg.ok === true && sha256 === expected, sha256 });
      }
    });
    channel.addEventListener('close', () => reject(new Error('data channel closed before the receiver confirmed')));
  });
  verdict.catch(() => {}); // observed below; avoids an unhandled rejection if sending throws first
  await opened(channel);
  channel.bufferedAmountLowThreshold = LOW_WATER;
  const header = { type: 'file', name: options.name, size: file.size, sha256: expected, mime: file.type || 'application/octet-stream' };
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
  channel.send(JSON.stringify({ type: 'eof' }));
  const result = await verdict;
  channel.close();
  return result;
}

/**
 * Receives one file from a data channel opened by a sender on the other side (this module's
 * sendFile, `rendezvous send`, or an early web client).
 * @param {RTCDataChannel} channel
 * @param {{onheader?: (h: TransferHeader) => void, onprogress?: (h: TransferHeader, received: number) => void}} [callbacks]
 * @returns {Promise<ReceivedFile>}
 */
export function receiveFile(channel, callbacks = {}) {
  channel.binaryType = 'arraybuffer';
  const id = `${channel.label}#${++transferCount}`;
  return new Promise((resolve, reject) => {
    /** @type {TransferHeader | null} */
    let header = null;
    /** The sender used the early web format, so the verdict goes out as `result`. */
    let legacy = false;
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
      const type = msg?.type;
      if ((type === 'file' || type === 'header') && !header) {
        const size = Number(msg.size);
        if (!Number.isSafeInteger(size) || size < 0) return abort('bad size in header');
        legacy = type === 'header';
        header = {
          id,
          name: safeFileName(msg.name),
          size,
          mime: typeof msg.mime === 'string' && msg.mime ? msg.mime : 'application/octet-stream',
          sha256: String(msg.sha256 ?? '').toLowerCase(),
        };
        callbacks.onheader?.(header);
      } else if ((type === 'eof' || type === 'end') && header) {
        finished = true;
        const h = header;
        const blob = new Blob(chunks, { type: h.mime });
        chunks = [];
        sha256Hex(blob).then((sha256) => {
          const ok = sha256 === h.sha256 && blob.size === h.size;
          const reply = legacy ? { type: 'result', ok, sha256 } : { type: 'ack', sha256, ok };
          if (channel.readyState === 'open') channel.send(JSON.stringify(reply));
          resolve({ id: h.id, name: h.name, size: blob.size, mime: h.mime, expected: h.sha256, sha256, ok, blob });
        }, reject);
      }
      // Anything else (unknown types, a second header) is ignored, as the spec asks.
    });
  });
}

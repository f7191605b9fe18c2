// @ts-check
/**
 * Connection statistics from RTCPeerConnection.getStats() (W3C webrtc-stats): the selected
 * candidate pair and media counters.
 *
 * @module stats
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

const TYPE_RANK = { host: 0, prflx: 1, srflx: 2, relay: 3 };

/**
 * @typedef {object} PairSample
 * @property {number} timestamp
 * @property {number} bytesSent
 * @property {number} bytesReceived
 */

/**
 * The selected candidate pair of `pc`. Bitrates are averaged since `previous` (a sample from an
 * earlier call); pass the returned sample next time.
 * @param {RTCPeerConnection} pc
 * @param {PairSample | null} previous
 * @returns {Promise<{stats: PairStats | null, sample: PairSample | null}>}
 */
export async function selectedPairStats(pc, previous) {
  const report = await pc.getStats();
  /** @type {any} */
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) ?? pair;
  });
  if (!pair) {
    // Browsers without transport.selectedCandidatePairId flag the pair itself.
    report.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) pair = s;
    });
  }
  if (!pair) return { stats: null, sample: null };
  const local = describeCandidate(report.get(pair.localCandidateId));
  const remote = describeCandidate(report.get(pair.remoteCandidateId));
  /** @type {PairSample} */
  const sample = { timestamp: pair.timestamp, bytesSent: pair.bytesSent ?? 0, bytesReceived: pair.bytesReceived ?? 0 };
  const seconds = previous ? (sample.timestamp - previous.timestamp) / 1000 : 0;
  const rate = (/** @type {number} */ now, /** @type {number} */ before) => (seconds > 0 ? ((now - before) * 8) / seconds : null);
  /** @type {Record<string, number>} */
  const rank = TYPE_RANK;
  return {
    sample,
    stats: {
      type: (rank[local.type] ?? 0) >= (rank[remote.type] ?? 0) ? local.type : remote.type,
      protocol: local.protocol,
      localCandidate: local,
      remoteCandidate: remote,
      rtt: typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null,
      bitrateIn: previous ? rate(sample.bytesReceived, previous.bytesReceived) : null,
      bitrateOut: previous ? rate(sample.bytesSent, previous.bytesSent) : null,
      bytesReceived: sample.bytesReceived,
      bytesSent: sample.bytesSent,
    },
  };
}

/**
 * Inbound and outbound RTP counters of `pc`, summed over its streams.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<MediaStats>}
 */
export async function mediaStats(pc) {
  const report = await pc.getStats();
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

/**
 * @param {any} stat an RTCIceCandidateStats
 * @returns {CandidateInfo}
 */
export function describeCandidate(stat) {
  return {
    type: stat?.candidateType ?? 'unknown',
    protocol: stat?.protocol ?? 'unknown',
    relayProtocol: stat?.relayProtocol,
    address: stat?.address ?? stat?.ip,
    port: stat?.port,
    url: stat?.url,
  };
}

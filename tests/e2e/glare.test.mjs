// Glare: both peers of an established call renegotiate at the same moment. Outgoing signals are
// held on both sides until both have made their offer, so the offers always cross.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSession, waitFor, connections, expectFramesRising } from './lib/harness.mjs';
import { twoPartyCall } from './lib/call.mjs';

/** Adds a second video track (a canvas that keeps drawing) while signaling is held. */
function addCanvasTrack() {
  const canvas = document.createElement('canvas');
  canvas.width = 160;
  canvas.height = 120;
  const g = canvas.getContext('2d');
  let n = 0;
  setInterval(() => {
    g.fillStyle = `hsl(${(n += 7) % 360} 80% 50%)`;
    g.fillRect(0, 0, canvas.width, canvas.height);
  }, 50);
  const stream = canvas.captureStream(15);
  window.rdv.client.pauseSignaling();
  window.rdv.client.addTrack(stream.getVideoTracks()[0], stream);
}

/** @param {import('playwright-core').Page} page */
const signalingState = (page) => page.evaluate(() => [...window.rdv.client.peers.values()][0].pc.signalingState);

test('both sides renegotiate at once and the call survives', { timeout: 120000 }, () => withSession('glare', async (s) => {
  const server = await s.startServer();
  const { alice, bob } = await twoPartyCall(s, server.base);

  await Promise.all([alice.evaluate(addCanvasTrack), bob.evaluate(addCanvasTrack)]);
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    await waitFor(async () => (await signalingState(page)) === 'have-local-offer', { what: `${name} to hold its own offer` });
  }
  await Promise.all([alice.evaluate(() => window.rdv.client.resumeSignaling()), bob.evaluate(() => window.rdv.client.resumeSignaling())]);

  // Each side receives the other's new track and decodes two video streams.
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    await waitFor(async () => {
      const [c] = await connections(page);
      return c.state === 'connected' && c.media.inboundVideoStreams === 2 && (await signalingState(page)) === 'stable';
    }, { timeout: 30000, what: `${name} to receive the second video track` });
  }
  const [a] = await connections(alice);
  const [b] = await connections(bob);
  // The offers crossed: polite alice rolled back and answered; impolite bob ignored her offer.
  assert.ok(a.counters.collisions >= 1 && a.counters.rollbacks >= 1, `alice saw glare and rolled back: ${JSON.stringify(a.counters)}`);
  assert.ok(b.counters.collisions >= 1 && b.counters.ignoredOffers >= 1, `bob saw glare and kept his offer: ${JSON.stringify(b.counters)}`);
  assert.ok(a.counters.offersSent >= 2, 'alice offered her track again after yielding');

  // Both streams of each side keep decoding.
  await Promise.all([
    expectFramesRising(alice, { by: 40, what: 'alice decoding both streams' }),
    expectFramesRising(bob, { by: 40, what: 'bob decoding both streams' }),
  ]);
  const perStream = await alice.evaluate(async () => {
    const pc = [...window.rdv.client.peers.values()][0].pc;
    const out = [];
    (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') out.push(r.framesDecoded ?? 0); });
    return out;
  });
  assert.equal(perStream.length, 2);
  assert.ok(perStream.every((f) => f > 0), `every inbound video stream decodes: ${perStream}`);
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

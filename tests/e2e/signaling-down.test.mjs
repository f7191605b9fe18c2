// A call keeps going when its signaling server dies; a dropped WebSocket resumes its session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSession, waitFor, sleep, connections, framesDecoded, freePort } from './lib/harness.mjs';
import { twoPartyCall } from './lib/call.mjs';

test('a relayed call keeps flowing after the signaling server is killed', { timeout: 120000 }, () => withSession('signaling-down', async (s) => {
  // TURN and signaling in two processes, so that killing signaling leaves the relay up.
  const turn = await s.startServer({ signal: false, label: 'turn' });
  const signaling = await s.startServer({
    turn: false,
    label: 'signaling',
    port: await freePort(),
    args: ['--ice-url', `turn:127.0.0.1:${turn.turnPort}?transport=udp`],
  });
  const { alice, bob } = await twoPartyCall(s, signaling.base, '&relay=1');
  for (const page of [alice, bob]) assert.equal((await connections(page))[0].pair?.localCandidate.type, 'relay');

  await s.stopServer(signaling, 'SIGKILL');
  await waitFor(() => alice.evaluate(() => window.rdv.client.state === 'reconnecting'), { what: 'alice to notice signaling is gone' });

  // Sample every 2 s for 12 s: the frame counters must rise in every interval.
  let previous = [await framesDecoded(alice), await framesDecoded(bob)];
  for (let i = 0; i < 6; i++) {
    await sleep(2000);
    const now = [await framesDecoded(alice), await framesDecoded(bob)];
    assert.ok(now[0] > previous[0] && now[1] > previous[1], `frames still decoded ${2 * (i + 1)} s after signaling died: ${previous} -> ${now}`);
    previous = now;
  }
  for (const page of [alice, bob]) assert.equal((await connections(page))[0].state, 'connected');
  // Console errors are expected here (failed WebSocket reconnects); page errors are not.
  for (const p of s.pages) assert.deepEqual(p.errors.filter((e) => e.startsWith('pageerror')), [], `no page errors on ${p.label}`);
}));

test('a dropped WebSocket resumes the same session and can renegotiate', { timeout: 120000 }, () => withSession('resume', async (s) => {
  const server = await s.startServer();
  const { alice, bob } = await twoPartyCall(s, server.base);
  const before = await alice.evaluate(() => window.rdv.client.id);

  // Cut alice's signaling connection without a `leave`.
  await alice.evaluate(() => window.rdv.client.ws.close());
  await waitFor(() => alice.evaluate(() => window.rdv.client.state === 'joined' && window.rdv.client.attempt === 0 && window.rdv.client.ws?.readyState === 1), { what: 'alice to reconnect' });
  assert.equal(await alice.evaluate(() => window.rdv.client.id), before, 'the resumed session keeps its id');
  assert.equal((await connections(bob)).length, 1, 'bob never saw alice leave');

  // Signaling works after the resume: alice, the polite side, renegotiates to add a track.
  await alice.evaluate(() => {
    const canvas = document.createElement('canvas');
    const g = canvas.getContext('2d');
    setInterval(() => { g.fillStyle = `#${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`; g.fillRect(0, 0, 300, 150); }, 50);
    const stream = canvas.captureStream(15);
    window.rdv.client.addTrack(stream.getVideoTracks()[0], stream);
  });
  await waitFor(async () => (await connections(bob))[0].media.inboundVideoStreams === 2, { timeout: 30000, what: 'bob to receive the track alice added after resuming' });
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

// ICE restart: the TURN server of a relayed call dies and comes back on the same port; the
// impolite side restarts ICE and the call recovers through fresh allocations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSession, waitFor, connections, expectFramesRising, freePort } from './lib/harness.mjs';
import { twoPartyCall } from './lib/call.mjs';

test('a relayed call recovers by ICE restart after its TURN server restarts', { timeout: 150000 }, () => withSession('ice-restart', async (s) => {
  const turnPort = await freePort();
  const turn = await s.startServer({ signal: false, label: 'turn', port: turnPort });
  const signaling = await s.startServer({
    turn: false,
    label: 'signaling',
    port: await freePort(),
    args: ['--ice-url', `turn:127.0.0.1:${turnPort}?transport=udp`],
  });
  const { alice, bob } = await twoPartyCall(s, signaling.base, '&relay=1');

  await s.stopServer(turn, 'SIGKILL'); // every allocation is gone
  await s.startServer({ signal: false, label: 'turn-again', port: turnPort });
  await waitFor(async () => (await connections(bob))[0].counters.iceRestarts >= 1, { timeout: 60000, what: 'bob (impolite) to restart ICE' });
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    await waitFor(async () => (await connections(page))[0].state === 'connected', { timeout: 60000, what: `${name} to reconnect` });
    await expectFramesRising(page, { by: 20, timeout: 30000, what: `video decoded by ${name} after the restart` });
    assert.equal((await connections(page))[0].pair?.localCandidate.type, 'relay');
  }
  assert.equal((await connections(alice))[0].counters.iceRestarts, 0, 'the polite side leaves restarts to the impolite one');
}));

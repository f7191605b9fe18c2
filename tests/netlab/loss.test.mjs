// A call between a port-restricted cone home and a symmetric home while both routers drop 5% of
// everything they forward, both ways: ICE checks, TURN transactions and DTLS all retransmit, so
// the call must still connect (through a relay, as without loss) and carry video.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, home, call, side, throughRelay, record, addLoss } from './lib/netlab.mjs';

const LOSS = 0.05;

test(`cone ↔ symmetric with ${LOSS * 100}% random loss at both routers still connects`, { timeout: 150000 }, (t) => withLab('loss', async (s) => {
  const a = home('cone-a');
  const b = home('sym-a');
  const networks = `cone ↔ symmetric, ${LOSS * 100}% loss at both routers`;
  const expected = 'relay';
  /** @type {ReturnType<typeof addLoss>[]} */
  const losses = [];
  /** @type {(import('./lib/netlab.mjs').Side | null)[]} */
  let seen = [null, null];
  let connected = false;
  let matches = false;
  try {
    for (const where of [a, b]) losses.push(addLoss(where, LOSS));
    const { pageA, pageB } = await call(s, a, b, { connectTimeout: 60000 });
    connected = true;
    seen = [await side(pageA, a), await side(pageB, b)];
    for (const x of seen) assert.ok(throughRelay(x?.pair ?? null), `${x?.home}: relayed under loss too: ${JSON.stringify(x?.pair)}`);
    assert.ok(seen.some((x) => x?.pair?.localCandidate.type === 'relay'), 'one side allocated the relay in use');
    const dropped = losses.map((loss) => loss.dropped());
    t.diagnostic(`the routers dropped ${dropped.join(' and ')} packets`);
    for (const [i, where] of [a, b].entries()) assert.ok(dropped[i] > 0, `the router of ${where.name} really dropped packets`);
    matches = true;
    for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
  } finally {
    record({ networks, expected, sides: seen, connected, matches });
    for (const loss of losses) loss.remove();
  }
}));

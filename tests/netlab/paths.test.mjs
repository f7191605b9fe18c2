// Which path a browser call takes between two networks, for every pair of NAT kinds in the lab,
// and whether that is the path the NAT behaviour allows:
//
// - port-restricted cone ↔ port-restricted cone: each router keeps one public port per host
//   (endpoint-independent mapping), so once both have sent towards the other's reflexive address
//   the pinholes match and the call goes direct (no relay on either side).
// - cone ↔ symmetric, symmetric ↔ symmetric: the symmetric router picks a new public port for
//   every destination, so the port the other side learned from STUN is not the one the checks
//   come from, and a filtering router drops them. Only a TURN relay connects them.
// - corporate (no UDP, TCP only to the server's port 443) ↔ anything: the corporate browser can
//   gather nothing but a relay candidate over TLS to port 443 (turns:).
// - two hosts on one LAN: their host candidates reach each other; no NAT is crossed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, home, call, side, throughRelay, record, SERVER_IP } from './lib/netlab.mjs';

/**
 * @param {string} networks
 * @param {string} nameA
 * @param {string} nameB
 * @param {string} expected
 * @param {(a: import('./lib/netlab.mjs').Side, b: import('./lib/netlab.mjs').Side) => Promise<void> | void} check
 * @param {(a: import('./lib/netlab.mjs').Side, b: import('./lib/netlab.mjs').Side) => boolean} [settled]
 *   what the selected pairs must eventually satisfy before `check` runs (ICE may switch pairs)
 */
function scenario(networks, nameA, nameB, expected, check, settled) {
  test(`${networks}: ${expected}`, { timeout: 120000 }, () => withLab(`${nameA}-${nameB}`, async (s) => {
    const a = home(nameA);
    const b = home(nameB);
    /** @type {[import('./lib/netlab.mjs').Side | null, import('./lib/netlab.mjs').Side | null]} */
    let seen = [null, null];
    let connected = false;
    let matches = false;
    try {
      const { pageA, pageB } = await call(s, a, b);
      connected = true;
      const observe = async () => (seen = [await side(pageA, a), await side(pageB, b)]);
      await observe();
      if (settled) {
        const deadline = Date.now() + 15000;
        while (!settled(seen[0], seen[1]) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          await observe();
        }
      }
      await check(seen[0], seen[1]);
      matches = true;
      for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors in ${p.label}`);
    } finally {
      record({ networks, expected, sides: seen, connected, matches });
    }
  }));
}

/** @param {import('./lib/netlab.mjs').Side} x */
function direct(x) {
  return x.pair !== null && !throughRelay(x.pair);
}

/** A browser behind the corporate firewall: relay over TLS to port 443, and nothing over UDP. */
function assertCorporate(/** @type {import('./lib/netlab.mjs').Side} */ x) {
  const local = x.pair?.localCandidate;
  assert.equal(local?.type, 'relay', `${x.home}: the local candidate is a relay candidate`);
  assert.equal(local?.relayProtocol, 'tls', `${x.home}: it reaches the TURN server over TLS`);
  assert.equal(local?.url, `turns:${SERVER_IP}:443?transport=tcp`, `${x.home}: through turns: on port 443`);
  const kinds = x.gathered.map((c) => `${c.type}${c.relayProtocol ? `/${c.relayProtocol}` : ''}`);
  assert.ok(!kinds.includes('srflx'), `${x.home}: no reflexive candidate (UDP is blocked): ${kinds.join(' ')}`);
  assert.ok(!kinds.includes('relay/udp') && !kinds.includes('relay/tcp'), `${x.home}: no relay over UDP or TCP 3478: ${kinds.join(' ')}`);
}

/** Both sides see a relayed pair (a direct path is impossible between these networks). */
function assertRelayed(/** @type {import('./lib/netlab.mjs').Side} */ a, /** @type {import('./lib/netlab.mjs').Side} */ b) {
  for (const x of [a, b]) assert.ok(throughRelay(x.pair), `${x.home} (${x.kind}): the selected pair runs through a relay: ${JSON.stringify(x.pair)}`);
  assert.ok(a.pair?.localCandidate.type === 'relay' || b.pair?.localCandidate.type === 'relay', 'one side allocated the relay in use');
}

scenario('two hosts on one LAN (behind one cone router)', 'cone-a', 'cone-a2', 'direct between host candidates', (a, b) => {
  for (const x of [a, b]) {
    assert.equal(x.pair?.localCandidate.type, 'host', `${x.home}: the local candidate is a host candidate: ${JSON.stringify(x.pair)}`);
    assert.ok(direct(x), `${x.home}: not relayed`);
  }
}, (a, b) => a.pair?.localCandidate.type === 'host' && b.pair?.localCandidate.type === 'host');

scenario('cone ↔ cone', 'cone-a', 'cone-b', 'direct (hole punching)', (a, b) => {
  for (const x of [a, b]) {
    assert.ok(direct(x), `${x.home}: the selected pair is direct, not relayed: ${JSON.stringify(x.pair)}`);
    assert.equal(x.pair?.localCandidate.protocol, 'udp');
  }
}, (a, b) => direct(a) && direct(b));

scenario('cone ↔ symmetric', 'cone-a', 'sym-a', 'relay', assertRelayed);

scenario('symmetric ↔ symmetric', 'sym-a', 'sym-b', 'relay', assertRelayed);

scenario('corporate ↔ cone', 'corp-a', 'cone-a', 'relay over TLS on 443 (corporate side)', (corp, cone) => {
  assertCorporate(corp);
  assertRelayed(corp, cone);
});

scenario('corporate ↔ symmetric', 'corp-a', 'sym-a', 'relay over TLS on 443 (corporate side)', (corp, sym) => {
  assertCorporate(corp);
  assertRelayed(corp, sym);
});

scenario('corporate ↔ corporate', 'corp-a', 'corp-b', 'relay over TLS on 443 (both sides)', (a, b) => {
  assertCorporate(a);
  assertCorporate(b);
  assertRelayed(a, b);
});

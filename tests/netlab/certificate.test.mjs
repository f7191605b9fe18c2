// Chromium verifies the certificate of a turns: server: behind the corporate firewall, where TLS
// to port 443 is the only way out, a browser that does not trust the server's self-signed
// certificate gets no relay candidate at all, and one that trusts exactly that key does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withLab, home, BASE, SERVER_IP } from './lib/netlab.mjs';

/**
 * Gathers candidates with the server's own ICE server list (GET /api/ice-servers) until a relay
 * candidate appears or a TURN error for turns: is reported; returns both.
 * @param {import('playwright-core').Page} page
 */
function gather(page) {
  return page.evaluate(async () => {
    const body = await (await fetch('/api/ice-servers')).json();
    const pc = new RTCPeerConnection({ iceServers: body.ice_servers });
    const candidates = [];
    const errors = [];
    const done = new Promise((resolve) => {
      pc.addEventListener('icecandidate', (e) => {
        if (!e.candidate) return resolve('complete');
        candidates.push({ type: e.candidate.type, relayProtocol: e.candidate.relayProtocol ?? null, url: e.candidate.url ?? null });
        if (e.candidate.type === 'relay') resolve('relay');
      });
      pc.addEventListener('icecandidateerror', (e) => {
        errors.push({ url: e.url, errorCode: e.errorCode, errorText: e.errorText });
        if (e.url.startsWith('turns:')) resolve('turns error');
      });
      // Bounded: a browser that neither gets a relay nor reports an error is a failure too.
      setTimeout(() => resolve('timeout'), 30000);
    });
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    const outcome = await done;
    pc.close();
    return { outcome, candidates, errors };
  });
}

test('behind the corporate firewall, turns: works only with a trusted certificate', { timeout: 90000 }, (t) => withLab('certificate', async (s) => {
  const corp = home('corp-a');
  const [trusting, untrusting] = await Promise.all([s.browserIn(corp), s.browserIn(corp, { trustServer: false })]);
  const [good, bad] = await Promise.all([
    s.open(trusting, `${BASE}/`, 'trusting').then(gather),
    s.open(untrusting, `${BASE}/`, 'untrusting').then(gather),
  ]);

  assert.equal(good.outcome, 'relay', `the browser trusting the server's key gets a relay candidate: ${JSON.stringify(good)}`);
  const relay = good.candidates.find((c) => c.type === 'relay');
  assert.equal(relay?.url, `turns:${SERVER_IP}:443?transport=tcp`);
  assert.equal(relay?.relayProtocol, 'tls');

  assert.equal(bad.outcome, 'turns error', `the other browser reports an error for turns: ${JSON.stringify(bad)}`);
  t.diagnostic(`untrusted turns: reported ${JSON.stringify(bad.errors.filter((e) => e.url.startsWith('turns:')))}`);
  assert.ok(!bad.candidates.some((c) => c.type === 'relay'), `and gathers no relay candidate: ${JSON.stringify(bad.candidates)}`);
}));

// Two browsers in a call decode each other's video, over host candidates and relay-only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSession, connections, waitFor } from './lib/harness.mjs';
import { twoPartyCall, uniqueRoom } from './lib/call.mjs';

test('two browsers in a call decode each other\'s video', { timeout: 120000 }, () => withSession('call', async (s) => {
  const server = await s.startServer();
  const { alice, bob } = await twoPartyCall(s, server.base);

  const [a] = await connections(alice);
  const [b] = await connections(bob);
  // docs/protocol.md: the later joiner (bob) offers and is impolite; alice never offers first.
  assert.equal(a.polite, true, 'alice, who was there first, is polite');
  assert.equal(b.polite, false, 'bob, who joined later, is impolite');
  assert.equal(a.counters.offersSent, 0, 'alice made no offer');
  assert.ok(b.counters.offersSent >= 1, 'bob made the offer');
  assert.equal(a.counters.collisions + b.counters.collisions, 0, 'no glare in a plain call');
  assert.ok(a.media.framesDecoded > 0 && b.media.framesDecoded > 0);

  // The connection panel shows the selected pair once a second.
  const panel = await waitFor(async () => {
    const text = await alice.textContent(`#conn-${a.id}`);
    return /RTT \d+ ms/.test(text ?? '') ? text : false;
  }, { what: 'the connection panel to show an RTT' });
  assert.match(panel, /^connected · (host|srflx|prflx|relay)\/(host|srflx|prflx|relay) (udp|tcp)/);

  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

test('a relay-only call goes through the built-in TURN server', { timeout: 120000 }, () => withSession('relay', async (s) => {
  const server = await s.startServer();
  const { alice, bob } = await twoPartyCall(s, server.base, '&relay=1');
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    const [c] = await connections(page);
    assert.ok(c.pair, `${name} has a selected candidate pair`);
    assert.equal(c.pair.localCandidate.type, 'relay', `${name}'s local candidate is a relay candidate`);
    assert.equal(c.pair.remoteCandidate.type, 'relay', `${name}'s remote candidate is the other side's relay candidate`);
    assert.equal(c.pair.type, 'relay');
    assert.match(String(c.pair.localCandidate.url), new RegExp(`^turn:127\\.0\\.0\\.1:${server.turnPort}\\?transport=(udp|tcp)$`), `${name} allocated at this server's TURN port`);
  }
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

test('a three-party mesh: everyone decodes everyone, with roles by join order', { timeout: 150000 }, () => withSession('mesh', async (s) => {
  const server = await s.startServer();
  const url = `${server.base}/call?room=${uniqueRoom('mesh')}&autostart=1&quality=low`;
  const names = ['alice', 'bob', 'carol'];
  const pages = [];
  for (const name of names) {
    const page = await s.open(await s.browser(), url, name);
    await waitFor(() => page.evaluate(() => window.rdv.client?.state === 'joined'), { what: `${name} to join` });
    pages.push(page);
  }
  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.rdv.client.id)));
  for (const [i, page] of pages.entries()) {
    await waitFor(async () => {
      const c = await connections(page);
      return c.length === 2 && c.every((x) => x.state === 'connected' && x.media.framesDecoded > 10);
    }, { timeout: 45000, what: `${names[i]} to decode both others` });
    for (const c of await connections(page)) {
      const j = ids.indexOf(c.id);
      assert.equal(c.polite, j > i, `${names[i]} is polite towards ${names[j]} iff ${names[i]} was there first`);
    }
  }
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

test('cameras turned on mid-call, on each side in turn, reach the other side', { timeout: 120000 }, () => withSession('camera-later', async (s) => {
  const server = await s.startServer();
  const url = `${server.base}/call?room=${uniqueRoom('later')}&autostart=1&video=0&audio=0&quality=low`;
  const alice = await s.open(await s.browser(), url, 'alice');
  await waitFor(() => alice.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'alice to join' });
  const bob = await s.open(await s.browser(), url, 'bob');
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    await waitFor(async () => (await connections(page))[0]?.state === 'connected', { timeout: 30000, what: `${name} to connect without media` });
    assert.equal(await page.isVisible('#start-camera'), true, `${name} is offered to start a camera`);
  }
  // Alice is the polite side: her first offer of her own comes only now.
  await alice.click('#start-camera');
  await waitFor(async () => (await connections(bob))[0].media.framesDecoded > 20, { timeout: 30000, what: 'bob to decode alice\'s camera' });
  await bob.click('#start-camera');
  await waitFor(async () => (await connections(alice))[0].media.framesDecoded > 20, { timeout: 30000, what: 'alice to decode bob\'s camera' });
  assert.equal(await alice.isVisible('#start-camera'), false);
  const [a] = await connections(alice);
  assert.ok(a.counters.offersSent >= 1, 'alice renegotiated to send her camera');
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

// Every page loads without console errors, does its job when started from the query string,
// and leaves a screenshot in tests/e2e/artifacts/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import crypto from 'node:crypto';
import { withSession, waitFor, sleep, ARTIFACTS } from './lib/harness.mjs';
import { uniqueRoom } from './lib/call.mjs';

/** @param {import('playwright-core').Page} page @param {string} name */
const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `page-${name}.png`), fullPage: true });

test('static assets are served with and without .html', { timeout: 30000 }, () => withSession('assets', async (s) => {
  const server = await s.startServer();
  const expect = {
    '/': 'text/html', '/index.html': 'text/html', '/call': 'text/html', '/call.html': 'text/html',
    '/broadcast': 'text/html', '/watch': 'text/html', '/share': 'text/html', '/diagnostics': 'text/html',
    '/diagnostics.html': 'text/html', '/rendezvous.js': 'javascript', '/peer.js': 'javascript',
    '/stats.js': 'javascript', '/filetransfer.js': 'javascript', '/ui.js': 'javascript', '/style.css': 'text/css',
  };
  for (const [p, type] of Object.entries(expect)) {
    const res = await fetch(server.base + p);
    assert.equal(res.status, 200, `GET ${p}`);
    assert.ok((res.headers.get('content-type') ?? '').includes(type), `GET ${p} is ${type}, got ${res.headers.get('content-type')}`);
  }
  assert.equal((await fetch(`${server.base}/no-such-page`)).status, 404);
}));

test('every page loads without console errors and works from its query string', { timeout: 120000 }, () => withSession('pages', async (s) => {
  const server = await s.startServer();
  const browser = await s.browser();
  const room = uniqueRoom('pages');

  const index = await s.open(browser, `${server.base}/`, 'index');
  const first = await index.inputValue('#room');
  assert.match(first, /^[a-z]+-[a-z]+-\d{4}$/, 'a random room name is proposed');
  await index.click('#random-room');
  const second = await index.inputValue('#room');
  assert.notEqual(second, first);
  assert.ok((await index.getAttribute('#link-share', 'href')).endsWith(`/share?room=${second}`));
  await shot(index, 'index');

  const call = await s.open(browser, `${server.base}/call?room=${room}&autostart=1&quality=low`, 'call');
  await waitFor(() => call.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'call page to join' });
  await waitFor(() => call.evaluate(() => document.getElementById('local-video').readyState >= 2), { what: 'local video to play' });
  await call.click('#mute-audio');
  assert.equal(await call.getAttribute('#mute-audio', 'aria-pressed'), 'true');
  assert.equal(await call.evaluate(() => window.rdv.localStream.getAudioTracks()[0].enabled), false);
  await shot(call, 'call');

  const broadcast = await s.open(browser, `${server.base}/broadcast?room=${room}-b&autostart=1&quality=low`, 'broadcast');
  await waitFor(() => broadcast.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'broadcast page to go live' });
  assert.equal(await broadcast.textContent('#viewer-count'), '0');
  await shot(broadcast, 'broadcast');

  const watch = await s.open(browser, `${server.base}/watch?room=${room}-w&autostart=1`, 'watch');
  await waitFor(() => watch.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'watch page to join' });
  assert.match(await watch.textContent('#status'), /waiting for the broadcaster/);
  await shot(watch, 'watch');

  const share = await s.open(browser, `${server.base}/share?room=${room}-s&autostart=1`, 'share');
  await waitFor(() => share.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'share page to join' });
  await shot(share, 'share');

  const diag = await s.open(browser, `${server.base}/diagnostics`, 'diagnostics');
  await waitFor(() => diag.evaluate(() => window.rdv.loaded), { what: 'ICE servers to load' });
  const urls = await diag.evaluate(() => window.rdv.servers.map((x) => x.url));
  assert.ok(urls.some((u) => u.startsWith('turn:') && u.includes('transport=udp')), `a TURN/UDP URL is handed out: ${urls}`);
  // One server with a wrong credential, to see authentication fail.
  const turnUdp = urls.find((u) => u.startsWith('turn:') && u.includes('transport=udp'));
  await diag.fill('#custom-url', turnUdp);
  await diag.fill('#custom-username', `${Math.floor(Date.now() / 1000) + 600}:intruder`);
  await diag.fill('#custom-credential', 'not-the-password');
  await diag.click('#add-server');
  await diag.click('#gather');
  await waitFor(() => diag.evaluate(() => window.rdv.done), { timeout: 30000, what: 'gathering to finish' });
  const results = await diag.evaluate(() => window.rdv.results.map((r) => ({ url: r.url, status: r.status, verdict: r.verdict, types: r.candidates.map((c) => c.type), errors: r.errors })));
  const good = results.slice(0, -1);
  const bad = results[results.length - 1];
  for (const r of good.filter((x) => x.url.startsWith('turn:'))) {
    assert.equal(r.status, 'ok', `TURN ${r.url} gave a relay candidate: ${JSON.stringify(r)}`);
    assert.ok(r.types.includes('relay'));
  }
  for (const r of good.filter((x) => x.url.startsWith('stun:'))) assert.notEqual(r.status, 'failed', `STUN ${r.url}: ${JSON.stringify(r)}`);
  assert.equal(bad.status, 'failed', `wrong credentials fail: ${JSON.stringify(bad)}`);
  assert.ok(bad.errors.some((e) => e.errorCode === 401), `with a 401: ${JSON.stringify(bad.errors)}`);
  assert.match(bad.verdict, /^authentication failed: 401/);
  await shot(diag, 'diagnostics');

  await sleep(500); // late console errors (e.g. from the stats timers) still count
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

/** An HS256 room token (docs/protocol.md §8), minted the way an application backend would. */
function roomToken(secret, room, role, ttl = 600) {
  const b64 = (x) => Buffer.from(x).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ room, role, exp: Math.floor(Date.now() / 1000) + ttl }));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

test('pages pass the room token from ?token= to the server', { timeout: 60000 }, () => withSession('tokens', async (s) => {
  const signalSecret = crypto.randomBytes(16).toString('hex');
  const server = await s.startServer({ args: ['--signal-secret', signalSecret] });
  const browser = await s.browser();
  const room = uniqueRoom('tokens');

  const refused = await s.open(browser, `${server.base}/call?room=${room}&autostart=1&video=0&audio=0`, 'no-token');
  await waitFor(() => refused.evaluate(() => window.rdv.client?.state === 'failed'), { what: 'a join without a token to fail' });
  assert.match(await refused.textContent('#status'), /could not join/);

  const token = roomToken(signalSecret, room, 'peer');
  const admitted = await s.open(browser, `${server.base}/call?room=${room}&autostart=1&video=0&audio=0&token=${token}`, 'token');
  await waitFor(() => admitted.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'a join with a token to succeed' });

  const wrongRole = await s.open(browser, `${server.base}/broadcast?room=${room}-b&autostart=1&token=${roomToken(signalSecret, `${room}-b`, 'viewer')}`, 'wrong-role');
  await waitFor(() => wrongRole.evaluate(() => window.rdv.client?.state === 'failed'), { what: 'a viewer token to be refused for the publisher' });

  const diag = await s.open(browser, `${server.base}/diagnostics?token=${token}`, 'diagnostics');
  await waitFor(() => diag.evaluate(() => window.rdv.loaded), { what: 'ICE servers to load with the token' });
  assert.ok((await diag.evaluate(() => window.rdv.servers.length)) > 0, 'the token unlocks /api/ice-servers');
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

test('a full mesh turns a newcomer away before anyone offers', { timeout: 60000 }, () => withSession('mesh-full', async (s) => {
  const server = await s.startServer();
  const browser = await s.browser();
  const url = `${server.base}/call?room=${uniqueRoom('full')}&autostart=1&video=0&audio=0&maxpeers=1`;
  const first = await s.open(browser, url, 'first');
  await waitFor(() => first.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'the first to join' });
  const second = await s.open(browser, url, 'second');
  await waitFor(() => second.evaluate(() => window.rdv.client?.peers.size === 1), { what: 'the second to meet the first' });
  const third = await s.open(browser, url, 'third');
  await waitFor(() => third.evaluate(() => window.rdv.client?.state === 'failed'), { what: 'the third to be turned away' });
  assert.match(await third.textContent('#status'), /could not join: the room already has 2 other participants \(at most 1\)/);
  // The others saw the newcomer come and go and still have exactly each other.
  await waitFor(async () => {
    const sizes = await Promise.all([first, second].map((p) => p.evaluate(() => window.rdv.client.peers.size)));
    return sizes.every((n) => n === 1);
  }, { what: 'the first two to keep exactly one peer each' });
  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

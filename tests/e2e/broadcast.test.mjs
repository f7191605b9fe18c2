// One streamer, three viewers: every viewer decodes video and the streamer counts them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSession, waitFor, connections, expectFramesRising } from './lib/harness.mjs';
import { uniqueRoom } from './lib/call.mjs';

/** @param {import('playwright-core').Page} page */
const viewerCount = (page) => page.evaluate(() => ({ shown: document.getElementById('viewer-count')?.textContent, state: window.rdv.viewers }));

test('a broadcast reaches three viewers, who come and go', { timeout: 150000 }, () => withSession('broadcast', async (s) => {
  const server = await s.startServer();
  const room = uniqueRoom('live');
  const watchUrl = `${server.base}/watch?room=${room}&autostart=1`;
  // One viewer waits before the broadcast starts; the others arrive while it is live.
  const viewers = [await s.open(await s.browser(), watchUrl, 'viewer1')];
  await waitFor(() => viewers[0].evaluate(() => window.rdv.client?.state === 'joined'), { what: 'viewer1 to wait in the room' });
  const streamer = await s.open(await s.browser(), `${server.base}/broadcast?room=${room}&autostart=1&quality=low`, 'streamer');
  await waitFor(() => streamer.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'the streamer to go live' });
  for (let i = 2; i <= 3; i++) viewers.push(await s.open(await s.browser(), watchUrl, `viewer${i}`));

  await waitFor(async () => {
    const c = await viewerCount(streamer);
    return c.shown === '3' && c.state === 3;
  }, { what: 'the streamer to count 3 viewers' });
  for (const [i, viewer] of viewers.entries()) {
    await expectFramesRising(viewer, { by: 15, timeout: 30000, what: `video decoded by viewer${i + 1}` });
    const [c] = await connections(viewer);
    assert.equal(c.polite, true, 'a viewer is polite');
    assert.equal(c.counters.offersSent, 0, 'a viewer never offers');
    const status = await viewer.textContent('#status');
    assert.equal(status, 'live');
  }
  const sending = await connections(streamer);
  assert.equal(sending.length, 3);
  for (const c of sending) assert.equal(c.polite, false, 'the publisher is impolite');

  // A viewer leaves (navigating away sends `leave`); the count drops; a new viewer arrives.
  await viewers[2].goto('about:blank');
  await waitFor(async () => (await viewerCount(streamer)).shown === '2', { what: 'the count to drop to 2' });
  const late = await s.open(await s.browser(), watchUrl, 'viewer4');
  await waitFor(async () => (await viewerCount(streamer)).shown === '3', { what: 'the count to return to 3' });
  await expectFramesRising(late, { by: 15, timeout: 30000, what: 'video decoded by the late viewer' });
  await expectFramesRising(viewers[0], { by: 15, what: 'video still decoded by viewer1' });

  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

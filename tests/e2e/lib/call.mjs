// A two-party call on /call, shared by several tests.

import crypto from 'node:crypto';
import { waitFor, connections, expectFramesRising } from './harness.mjs';

/** A room name no other test uses. */
export function uniqueRoom(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * Opens /call in two browser processes, the second after the first has joined, and waits until
 * both are connected and decoding each other's video.
 * @param {import('./harness.mjs').Session} s
 * @param {string} base e.g. http://127.0.0.1:8080
 * @param {string} [query] extra query parameters, e.g. '&relay=1'
 */
export async function twoPartyCall(s, base, query = '') {
  const room = uniqueRoom('call');
  const url = `${base}/call?room=${room}&autostart=1&quality=low${query}`;
  const [ba, bb] = await Promise.all([s.browser(), s.browser()]);
  const alice = await s.open(ba, url, 'alice');
  await waitFor(() => alice.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'alice to join' });
  const bob = await s.open(bb, url, 'bob');
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
    await waitFor(async () => {
      const c = await connections(page);
      return c.length === 1 && c[0].state === 'connected';
    }, { timeout: 30000, what: `${name} to be connected` });
  }
  await Promise.all([
    expectFramesRising(alice, { by: 20, what: 'video decoded by alice' }),
    expectFramesRising(bob, { by: 20, what: 'video decoded by bob' }),
  ]);
  return { room, url, alice, bob };
}

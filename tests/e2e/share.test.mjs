// A 20 MB file shared between two browsers arrives with the SHA-256 computed here in node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { withSession, waitFor } from './lib/harness.mjs';
import { uniqueRoom } from './lib/call.mjs';

const SIZE = 20 * 1024 * 1024;

test('a 20 MB file arrives intact over a data channel', { timeout: 150000 }, () => withSession('share', async (s) => {
  const server = await s.startServer();
  const url = `${server.base}/share?room=${uniqueRoom('share')}&autostart=1`;
  const sender = await s.open(await s.browser(), url, 'sender');
  await waitFor(() => sender.evaluate(() => window.rdv.client?.state === 'joined'), { what: 'the sender to join' });
  const receiver = await s.open(await s.browser(), url, 'receiver');
  for (const [page, name] of [[sender, 'sender'], [receiver, 'receiver']]) {
    await waitFor(() => page.evaluate(() => window.rdv.connected.size === 1), { timeout: 30000, what: `${name} to be connected` });
  }

  const data = crypto.randomBytes(SIZE);
  const expected = crypto.createHash('sha256').update(data).digest('hex');
  await sender.setInputFiles('#file-input', { name: 'random.bin', mimeType: 'application/octet-stream', buffer: data });

  const received = await waitFor(() => receiver.evaluate(() => window.rdv.received[0]), { timeout: 90000, interval: 500, what: 'the file to arrive' });
  assert.equal(received.name, 'random.bin');
  assert.equal(received.size, SIZE);
  assert.equal(received.expected, expected, 'the header carries the SHA-256 of the file');
  assert.equal(received.sha256, expected, 'what arrived hashes to the SHA-256 computed in node');
  assert.equal(received.ok, true);

  // The download link serves the received bytes.
  const downloaded = await receiver.evaluate(async () => {
    const link = document.querySelector('#incoming a.download');
    const buf = await (await fetch(link.href)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', buf);
    return { name: link.getAttribute('download'), hex: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
  });
  assert.deepEqual(downloaded, { name: 'random.bin', hex: expected });

  // The sender hears the receiver's verdict.
  const sent = await waitFor(() => sender.evaluate(() => window.rdv.sent[0]?.results), { what: 'the sender to get the verdict' });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].ok, true);
  assert.equal(sent[0].sha256, expected);

  for (const p of s.pages) assert.deepEqual(p.errors, [], `no console errors on ${p.label}`);
}));

// Browser peers inside the NAT lab that tests/netlab/run.sh builds: one headless Chromium per
// home, running inside that home's host namespace, in a call through `rendezvous serve` on the
// lab's public segment. The page and probe helpers come from the browser end-to-end tests.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Session, waitFor, connections, expectFramesRising, tail } from '../../e2e/lib/harness.mjs';
import { uniqueRoom } from '../../e2e/lib/call.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.resolve(here, '../artifacts');

/** @param {string} name */
function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the NAT lab tests through tests/netlab/run.sh`);
  return value;
}

/** The public address of `rendezvous serve` in the lab, and its web pages. */
export const SERVER_IP = required('NETLAB_SERVER_IP');
export const BASE = `http://${SERVER_IP}:8080`;
const WORK = required('NETLAB_WORK');
const RESULTS = required('NETLAB_RESULTS');
/** Base64 SHA-256 of the server certificate's SubjectPublicKeyInfo: the one turns: identity trusted. */
const SPKI = required('NETLAB_SPKI');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * A host in one of the lab's networks.
 * @typedef {object} Home
 * @property {string} name e.g. "cone-a"
 * @property {'cone' | 'symmetric' | 'corporate'} kind the kind of router in front of it
 * @property {string} ns the host's namespace
 * @property {string} router the router's namespace
 */

/** @type {Map<string, Home>} from NETLAB_HOMES: "name:kind:hostns:routerns,..." */
export const HOMES = new Map(required('NETLAB_HOMES').split(',').map((entry) => {
  const [name, kind, ns, router] = entry.split(':');
  return [name, /** @type {Home} */ ({ name, kind, ns, router })];
}));

/** @param {string} name */
export function home(name) {
  const h = HOMES.get(name);
  if (!h) throw new Error(`no home ${name} in the lab (have ${[...HOMES.keys()].join(', ')})`);
  return h;
}

/**
 * Chromium flags from /work/shared/TESTING-FACTS.md. No loopback candidates are needed: every
 * host has a real interface. The call page is served over plain HTTP from a lab address, which
 * is not a secure context, so that one origin is treated as secure (getUserMedia needs it).
 * Chromium verifies turns: certificates; it is told to trust exactly the server's key.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  `--unsafely-treat-insecure-origin-as-secure=${BASE}`,
];
const TRUST_SERVER = `--ignore-certificate-errors-spki-list=${SPKI}`;

/**
 * An executable that starts Chromium inside namespace `ns`. `ip netns exec` execs the browser,
 * so the PID playwright sees (and kills) is Chromium's own, and the DevTools pipe passes through.
 * @param {string} ns
 */
function chromiumIn(ns) {
  const file = path.join(WORK, `chromium-${ns}`);
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `#!/bin/sh\nexec ip netns exec '${ns}' '${CHROMIUM}' "$@"\n`, { mode: 0o755 });
  }
  return file;
}

/** A Session (from the e2e harness) whose browsers run inside lab namespaces. */
export class LabSession extends Session {
  /**
   * A Chromium process inside `where`'s host namespace.
   * @param {Home} where
   * @param {{trustServer?: boolean}} [options] trustServer: accept the server's self-signed
   *   certificate for turns: (default true)
   */
  async browserIn(where, { trustServer = true } = {}) {
    const args = trustServer ? [...FLAGS, TRUST_SERVER] : FLAGS;
    const browser = await chromium.launch({ executablePath: chromiumIn(where.ns), args, headless: true });
    this.browsers.push(browser);
    return browser;
  }

  /** Screenshots and console logs of every page go to tests/netlab/artifacts/. */
  async fail() {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const [i, { page, label, console: lines }] of this.pages.entries()) {
      const file = path.join(ARTIFACTS, `${this.name}-failed-${i}-${label}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      const log = await page.evaluate(() => document.getElementById('log')?.innerText ?? '').catch(() => '');
      process.stderr.write(`--- ${label}: screenshot ${file}\n--- page events\n${log}\n--- console (last 40 lines)\n${lines.slice(-40).join('\n')}\n`);
    }
    const serverLog = process.env.NETLAB_SERVER_LOG;
    if (serverLog) process.stderr.write(`--- server log ${serverLog} (tail)\n${tail(serverLog, 30)}\n`);
  }
}

/**
 * Runs `body` with a LabSession; browsers are closed afterwards, diagnostics saved on failure.
 * @param {string} name
 * @param {(s: LabSession) => Promise<void>} body
 */
export async function withLab(name, body) {
  const session = new LabSession(`netlab-${name}`);
  try {
    await body(session);
  } catch (error) {
    await session.fail();
    throw error;
  } finally {
    await session.close();
  }
}

/**
 * @typedef {object} Side what one browser saw of the call
 * @property {string} home
 * @property {string} kind
 * @property {string} state connectionState
 * @property {import('../../../web/stats.js').PairStats | null} pair the selected candidate pair
 * @property {{type: string, protocol: string, relayProtocol?: string, url?: string}[]} gathered
 *   every local candidate this browser gathered
 * @property {number} framesDecoded
 */

/**
 * What a page knows about its one connection: state, selected pair, media counters, and every
 * local candidate it gathered (to show which transports the network let through).
 * @param {import('playwright-core').Page} page
 * @param {Home} where
 * @returns {Promise<Side>}
 */
export async function side(page, where) {
  const [c] = await connections(page);
  const gathered = await page.evaluate(async () => {
    const client = window.rdv.client;
    const out = [];
    for (const peer of client.peers.values()) {
      (await peer.pc.getStats()).forEach((s) => {
        if (s.type === 'local-candidate') out.push({ type: s.candidateType, protocol: s.protocol, relayProtocol: s.relayProtocol, url: s.url });
      });
    }
    return out;
  });
  return {
    home: where.name,
    kind: where.kind,
    state: c?.state ?? 'none',
    pair: c?.pair ?? null,
    gathered,
    framesDecoded: c?.media?.framesDecoded ?? 0,
  };
}

/**
 * A two-party call between a browser in home `a` and one in home `b`: `a` joins first, then `b`
 * (who makes the offer). Resolves once both are connected and decoding each other's video.
 * @param {LabSession} s
 * @param {Home} a
 * @param {Home} b
 * @param {{connectTimeout?: number}} [options]
 */
export async function call(s, a, b, { connectTimeout = 45000 } = {}) {
  const url = `${BASE}/call?room=${uniqueRoom('nat')}&autostart=1&quality=low&maxpeers=1`;
  const [ba, bb] = await Promise.all([s.browserIn(a), s.browserIn(b)]);
  const pageA = await s.open(ba, url, a.name);
  await waitFor(() => pageA.evaluate(() => window.rdv.client?.state === 'joined'), { what: `${a.name} to join` });
  const pageB = await s.open(bb, url, b.name);
  for (const [page, where] of [[pageA, a], [pageB, b]]) {
    await waitFor(async () => {
      const c = await connections(page);
      return c.length === 1 && c[0].state === 'connected';
    }, { timeout: connectTimeout, what: `${where.name} (${where.kind}) to be connected` });
  }
  await Promise.all([
    expectFramesRising(pageA, { by: 20, timeout: 30000, what: `video decoded in ${a.name}` }),
    expectFramesRising(pageB, { by: 20, timeout: 30000, what: `video decoded in ${b.name}` }),
  ]);
  return { pageA, pageB };
}

/**
 * True when the selected pair seen from one side runs through a TURN relay: the local candidate
 * is a relay candidate, or the remote one is (the far side's relay), or the far side's relay
 * address was learned from a connectivity check before its candidate arrived (peer-reflexive,
 * but at the server's address).
 * @param {import('../../../web/stats.js').PairStats | null} pair
 */
export function throughRelay(pair) {
  if (!pair) return false;
  const { localCandidate: l, remoteCandidate: r } = pair;
  return l.type === 'relay' || r.type === 'relay' || (r.type === 'prflx' && r.address === SERVER_IP);
}

/**
 * One row of docs/nat-matrix.md, appended to the run's results file.
 * @param {{networks: string, expected: string, sides: (Side | null)[], connected: boolean, note?: string}} row
 */
export function record(row) {
  fs.appendFileSync(RESULTS, `${JSON.stringify(row)}\n`);
}

/**
 * Adds random loss of `probability` to everything a home's router forwards, both ways.
 * `dropped()` reads how many packets the rule has dropped; `remove()` takes it out again.
 * @param {Home} where
 * @param {number} probability
 */
export function addLoss(where, probability) {
  const rule = ['-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'];
  iptables(where.router, ['-I', 'FORWARD', '1', ...rule]);
  return {
    remove: () => iptables(where.router, ['-D', 'FORWARD', ...rule]),
    dropped: () => {
      const line = iptables(where.router, ['-L', 'FORWARD', '-v', '-x', '-n']).split('\n').find((l) => l.includes('statistic'));
      if (!line) throw new Error(`the loss rule is missing in ${where.router}`);
      return Number(line.trim().split(/\s+/)[0]);
    },
  };
}

/**
 * @param {string} ns
 * @param {string[]} args
 * @returns {string} stdout
 */
function iptables(ns, args) {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'iptables', ...args], { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`iptables ${args.join(' ')} in ${ns}: ${r.stderr || r.error}`);
  return r.stdout;
}

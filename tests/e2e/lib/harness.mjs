// Test harness for the Rendezvous browser tests: starts `rendezvous serve` on free loopback
// ports, launches Debian's Chromium through playwright-core, and cleans up every process it
// started (by PID) whether the test passes or fails.

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../../..');
export const ARTIFACTS = path.join(REPO_ROOT, 'tests/e2e/artifacts');
export const SERVER_BIN = path.resolve(REPO_ROOT, process.env.RENDEZVOUS_BIN || 'target/debug/rendezvous');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Flags from docs in /work/shared/TESTING-FACTS.md; playwright adds a fresh --user-data-dir. */
export const CHROMIUM_FLAGS = [
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
  '--allow-loopback-in-peer-connection',
];

fs.mkdirSync(ARTIFACTS, { recursive: true });

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms.
 * @template T
 * @param {() => Promise<T> | T} fn
 * @param {{timeout?: number, interval?: number, what?: string}} [options]
 * @returns {Promise<T>}
 */
export async function waitFor(fn, { timeout = 20000, interval = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 and whose UDP twin is free too. */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = /** @type {net.AddressInfo} */ (srv.address());
        srv.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port pair found');
}

/** A STUN Binding request (RFC 8489 §6), to probe that the STUN/TURN listener is up. */
function stunBindingRequest() {
  const msg = Buffer.alloc(20);
  msg.writeUInt16BE(0x0001, 0);
  msg.writeUInt16BE(0, 2);
  msg.writeUInt32BE(0x2112a442, 4);
  crypto.randomFillSync(msg, 8, 12);
  return msg;
}

/** @param {number} port */
function stunAnswers(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const request = stunBindingRequest();
    const done = (ok) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    sock.on('message', (msg) => done(msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(request.subarray(8, 20))));
    sock.on('error', () => done(false));
    sock.send(request, port, '127.0.0.1');
  });
}

/** @param {number} port */
async function httpAnswers(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * One test's resources: servers, browsers and pages. `close()` stops them all; on failure
 * `fail()` first saves a screenshot of every page and prints the logs.
 */
export class Session {
  /** @param {string} name used for artifact file names */
  constructor(name) {
    this.name = name;
    this.secret = crypto.randomBytes(16).toString('hex');
    /** @type {{proc: import('node:child_process').ChildProcess, logFile: string, label: string}[]} */
    this.servers = [];
    /** @type {import('playwright-core').Browser[]} */
    this.browsers = [];
    /** @type {{page: import('playwright-core').Page, label: string, errors: string[], console: string[]}[]} */
    this.pages = [];
  }

  /**
   * Starts `rendezvous serve`. Options: turn (default true), signal (default true), args (extra).
   * Resolves once what it runs answers: STUN Binding on the TURN port, /healthz on HTTP.
   * @param {{turn?: boolean, signal?: boolean, args?: string[], label?: string, port?: number, http?: number}} [options]
   */
  async startServer({ turn = true, signal = true, args = [], label = 'server', port, http } = {}) {
    if (!fs.existsSync(SERVER_BIN)) {
      throw new Error(`server binary ${SERVER_BIN} is missing: run \`cargo build -p rendezvous\` or set RENDEZVOUS_BIN`);
    }
    const turnPort = port ?? (await freePort());
    const httpPort = http ?? (await freePort());
    const argv = ['serve', '--bind', '127.0.0.1', '--port', String(turnPort), '--http', `127.0.0.1:${httpPort}`,
      '--allow-peer', '127.0.0.0/8', '--static-auth-secret', this.secret, '--realm', 'rendezvous-e2e', '--log-format', 'json'];
    if (!turn) argv.push('--no-turn');
    if (!signal) argv.push('--no-signal');
    argv.push(...args);
    const logFile = path.join(ARTIFACTS, `${this.name}-${label}.log`);
    const out = fs.openSync(logFile, 'w');
    const proc = spawn(SERVER_BIN, argv, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const entry = { proc, logFile, label };
    this.servers.push(entry);
    let exited = null;
    proc.once('exit', (code, sig) => {
      exited = `exited with ${code ?? sig}`;
    });
    await waitFor(async () => {
      if (exited) throw new Error(`${label} ${exited}: ${tail(logFile)}`);
      const stunUp = !turn || (await stunAnswers(turnPort));
      const httpUp = !signal || (await httpAnswers(httpPort));
      return stunUp && httpUp;
    }, { timeout: 20000, what: `${label} to answer on ${turnPort}/${httpPort}` });
    return { proc, turnPort, httpPort, base: `http://127.0.0.1:${httpPort}`, logFile, pid: proc.pid };
  }

  /**
   * Stops one server process we started: SIGTERM, then SIGKILL after 5 s.
   * @param {{proc: import('node:child_process').ChildProcess}} server
   * @param {NodeJS.Signals} [signal]
   */
  async stopServer(server, signal = 'SIGTERM') {
    const proc = server.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }

  /** Launches one Chromium process (a separate browser per peer, as in real life). */
  async browser() {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    this.browsers.push(browser);
    return browser;
  }

  /**
   * Opens `url` in a new context of `browser`, recording console errors and page errors.
   * @param {import('playwright-core').Browser} browser
   * @param {string} url
   * @param {string} label
   */
  async open(browser, url, label) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const record = { page, label, errors: [], console: [] };
    page.on('console', (msg) => {
      const line = `${msg.type()}: ${msg.text()}`;
      record.console.push(line);
      if (msg.type() === 'error') record.errors.push(line);
    });
    page.on('pageerror', (error) => {
      record.errors.push(`pageerror: ${error.message}`);
      record.console.push(`pageerror: ${error.stack ?? error.message}`);
    });
    this.pages.push(record);
    await page.goto(url);
    return page;
  }

  /** Saves a screenshot of each page and prints logs, for a failed test. */
  async fail() {
    for (const [i, { page, label, console: lines }] of this.pages.entries()) {
      const file = path.join(ARTIFACTS, `${this.name}-failed-${i}-${label}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      process.stderr.write(`--- ${label} console (last 40 lines), screenshot ${file}\n${lines.slice(-40).join('\n')}\n`);
    }
    for (const { label, logFile } of this.servers) {
      process.stderr.write(`--- ${label} log ${logFile} (tail)\n${tail(logFile, 30)}\n`);
    }
  }

  async close() {
    await Promise.all(this.browsers.map((b) => b.close().catch(() => {})));
    await Promise.all(this.servers.map((s) => this.stopServer(s).catch(() => {})));
  }
}

/**
 * Runs `body` with a Session, cleaning up afterwards and dumping diagnostics on failure.
 * @param {string} name
 * @param {(s: Session) => Promise<void>} body
 */
export async function withSession(name, body) {
  const session = new Session(name);
  live.add(session);
  try {
    await body(session);
  } catch (error) {
    await session.fail();
    throw error;
  } finally {
    await session.close();
    live.delete(session);
  }
}

/** Sessions still running: on an abrupt exit their servers are killed synchronously. */
const live = new Set();
process.on('exit', () => {
  for (const session of live) for (const { proc } of session.servers) if (proc.exitCode === null) proc.kill('SIGKILL');
});

/** @param {string} file */
export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Page probes: read the state the pages expose on window.rdv.

/**
 * Sum of inbound video framesDecoded over all of a page's connections.
 * @param {import('playwright-core').Page} page
 */
export async function framesDecoded(page) {
  return page.evaluate(async () => {
    const client = window.rdv?.client;
    if (!client) return 0;
    let total = 0;
    for (const id of client.peers.keys()) total += (await client.mediaStats(id))?.framesDecoded ?? 0;
    return total;
  });
}

/**
 * Connection state and selected pair of every connection of a page.
 * @param {import('playwright-core').Page} page
 */
export async function connections(page) {
  return page.evaluate(async () => {
    const client = window.rdv?.client;
    if (!client) return [];
    const out = [];
    for (const [id, peer] of client.peers) {
      out.push({ id, state: peer.pc.connectionState, polite: peer.polite, counters: { ...peer.counters }, pair: await client.stats(id), media: await client.mediaStats(id) });
    }
    return out;
  });
}

/**
 * Waits until framesDecoded on `page` has risen by at least `by` from its current value.
 * @param {import('playwright-core').Page} page
 */
export async function expectFramesRising(page, { by = 10, timeout = 20000, what = 'video frames' } = {}) {
  const start = await framesDecoded(page);
  return waitFor(async () => {
    const now = await framesDecoded(page);
    return now >= start + by ? now : false;
  }, { timeout, what: `${what} to rise by ${by} from ${start}` });
}

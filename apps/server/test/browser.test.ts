/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The demo page and the browser client in real headless Chromium (Debian's
 * /usr/bin/chromium, driven by playwright-core; no browser is downloaded).
 * In CI (CI=true) a missing chromium fails these tests instead of skipping them.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryMesh, MemoryMeshHub } from '@tidewire/mesh';
import { installRooms } from '@tidewire/room';
import {
  type CreateServerOptions,
  createServer,
  Ok,
  type TidewireServer,
  type User,
} from '@tidewire/server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { bundleBrowserClient } from '../../../packages/client/scripts/bundle-browser.mjs';
import { type CutProxy, startCutProxy } from '../../../packages/server/test/cut-proxy.ts';
import { servePage } from '../src/static-page.ts';

// biome-ignore lint/suspicious/noExplicitAny: the bundle is loaded untyped into the page
type Sdk = any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') {
  throw new Error(`${CHROMIUM} is missing: CI installs the chromium package (.ci/run)`);
}

/** A node serving WS on `port` (0: any), set up by `install`, started. */
async function startWsNode(
  port: number,
  install: (node: TidewireServer) => void,
  httpRoutes?: CreateServerOptions['httpRoutes'],
): Promise<TidewireServer> {
  const node = createServer({
    config: { http: { port } },
    env: {},
    ...(httpRoutes === undefined ? {} : { httpRoutes }),
  });
  await node.setupAsWSServer();
  install(node);
  await node.start();
  return node;
}

describe.skipIf(!available)('in headless Chromium', () => {
  let browser: Browser;
  let server: TidewireServer;
  let webRoot: string;
  let base: string;
  let clientCode: string;

  beforeAll(async () => {
    webRoot = await mkdtemp(join(tmpdir(), 'tidewire-web-'));
    await build({
      configFile: new URL('../vite.config.ts', import.meta.url).pathname,
      build: { outDir: webRoot, emptyOutDir: true },
      logLevel: 'warn',
    });
    clientCode = (await bundleBrowserClient()) as string;
    server = createServer({
      config: { http: { port: 0 } },
      env: {},
      httpRoutes: (req, res) => {
        if (req.url !== '/test/client.js') return servePage(req, res, webRoot);
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(clientCode);
        return true;
      },
    });
    await server.setupAsWSServer();
    installRooms(server);
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    installResumeCommands(server);
    await server.start();
    base = `http://127.0.0.1:${server.httpPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  /** Loads the browser bundle into a page as `window.tidewire`. */
  async function loadClient(page: Page): Promise<void> {
    await page.goto(`${base}/`);
    await page.addScriptTag({
      type: 'module',
      content: "import * as sdk from '/test/client.js'; window.tidewire = sdk;",
    });
    await page.waitForFunction(() => 'tidewire' in window);
  }

  /** Runs of (2, 11) per sequence number, by user. */
  const runs = new Map<string, Map<number, number>>();
  const pushers = new Map<User, NodeJS.Timeout>();

  /** (2, 11) echoes a sequence number, counting its runs; (2, 12) starts pushes (2, 13) of 1, 2, 3... every 50 ms. */
  function installResumeCommands(target: TidewireServer): void {
    target.handleCommand(2, 11, (ver, cmd, payload, user, next) => {
      const mine = runs.get(user.id) ?? new Map<number, number>();
      runs.set(user.id, mine);
      const seq = Number(payload.toString());
      mine.set(seq, (mine.get(seq) ?? 0) + 1);
      user.send(ver, cmd, payload, Ok);
      next();
    });
    target.handleCommand(2, 12, (ver, cmd, _payload, user, next) => {
      let n = 0;
      pushers.set(
        user,
        setInterval(() => user.push(2, 13, Buffer.from(String(++n))), 50),
      );
      user.send(ver, cmd, Buffer.alloc(0), Ok);
      next();
    });
    target.onLeave((_code, user) => {
      clearInterval(pushers.get(user));
      pushers.delete(user);
    });
  }

  /** The session endpoint hands the page the proxy's WebSocket URL instead of the node's. */
  async function viaProxy(page: Page, proxy: CutProxy): Promise<void> {
    await page.route('**/v1/endpoint/ws/user/**', async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as Record<string, unknown>;
      await route.fulfill({
        response,
        json: { ...body, url: `ws://127.0.0.1:${proxy.port}/v1/ws`, port: proxy.port },
      });
    });
  }

  afterAll(async () => {
    for (const timer of pushers.values()) clearInterval(timer);
    await browser?.close();
    await server?.close();
    if (webRoot) await rm(webRoot, { recursive: true, force: true });
  });

  it('two pages join one room through the server, see each other, chat, and show RTTs', async () => {
    const context = await browser.newContext();
    try {
      const ann = await context.newPage();
      await ann.goto(`${base}/#user=ann`);
      await ann.waitForFunction(() => document.body.dataset.room !== undefined);
      const roomId = await ann.evaluate(() => document.body.dataset.room);
      const bob = await context.newPage();
      await bob.goto(`${base}/#user=bob&room=${roomId}`);
      await bob.waitForFunction(() => document.body.dataset.room !== undefined);
      // Each sees the other in the member list.
      await ann.waitForSelector('#members li[data-user="bob"]');
      await bob.waitForSelector('#members li[data-user="ann"]');
      await bob.fill('#text', 'hello from bob');
      await bob.click('button[type=submit]');
      await ann.waitForFunction(() =>
        [...document.querySelectorAll('#messages li')].some((li) =>
          li.textContent?.includes('hello from bob'),
        ),
      );
      // RTTs measured by keep-alives, shared through the room.
      await ann.waitForFunction(
        () =>
          /\d+\.\d ms/.test(
            document.querySelector('#members li[data-user="bob"] .rtt')?.textContent ?? '',
          ),
        undefined,
        { timeout: 10_000 },
      );
      if (process.env.TIDEWIRE_SCREENSHOT) {
        await ann.setViewportSize({ width: 900, height: 420 });
        await ann.screenshot({ path: process.env.TIDEWIRE_SCREENSHOT });
      }
    } finally {
      await context.close();
    }
  }, 30_000);

  /** Waits until the demo page shows connection state `name` (body[data-state]). */
  async function waitForState(page: Page, name: string): Promise<void> {
    await page.waitForFunction((n) => document.body.dataset.state === n, name, {
      timeout: 15_000,
    });
  }

  const statusOf = (page: Page): Promise<string> =>
    page.evaluate(() => document.getElementById('status')?.textContent ?? '');

  it('the demo page shows its connection state: connected, reconnecting (attempt n) while cut, resumed; what was said meanwhile arrives', async () => {
    const proxy = await startCutProxy({ target: { host: '127.0.0.1', port: server.httpPort } });
    const context = await browser.newContext();
    try {
      const ann = await context.newPage();
      await viaProxy(ann, proxy);
      await ann.goto(`${base}/#user=state-ann`);
      await ann.waitForFunction(() => document.body.dataset.room !== undefined);
      expect(await ann.evaluate(() => document.body.dataset.state)).toBe('connected');
      expect(await statusOf(ann)).toBe('connected as state-ann');
      const roomId = await ann.evaluate(() => document.body.dataset.room);
      const bob = await context.newPage();
      await bob.goto(`${base}/#user=state-bob&room=${roomId}`);
      await bob.waitForFunction(() => document.body.dataset.room !== undefined);
      await ann.waitForSelector('#members li[data-user="state-bob"]');

      // The path goes down (new sockets wait too) and ann's socket is reset.
      proxy.blackhole();
      proxy.cut('reset');
      await waitForState(ann, 'reconnecting');
      expect(await ann.evaluate(() => document.body.dataset.attempt)).toMatch(/^\d+$/);
      expect(await statusOf(ann)).toMatch(
        /^reconnecting \(attempt \d+, lost: TIDEWIRE_ERR_SOCKET\)…$/,
      );
      await ann.fill('#text', 'said while cut');
      await ann.click('button[type=submit]');
      proxy.restore();
      await waitForState(ann, 'resumed');
      expect(await statusOf(ann)).toBe('resumed as state-ann: nothing lost');
      expect(await ann.evaluate(() => document.body.dataset.attempt)).toBeUndefined();
      // Still the same room, and what ann said while cut reached bob.
      expect(await ann.evaluate(() => document.body.dataset.room)).toBe(roomId);
      await bob.waitForFunction(() =>
        [...document.querySelectorAll('#messages li')].some((li) =>
          li.textContent?.includes('said while cut'),
        ),
      );
      expect(proxy.counters.flows).toBeGreaterThan(1);
    } finally {
      await context.close();
      await proxy.close();
    }
  }, 60_000);

  it('the demo page whose node restarted shows reconnected-fresh and opens a new room (the old one is gone)', async () => {
    const start = (port: number): Promise<TidewireServer> =>
      startWsNode(port, installRooms, (req, res) => servePage(req, res, webRoot));
    let node = await start(0);
    const port = node.httpPort;
    const proxy = await startCutProxy({ target: { host: '127.0.0.1', port } });
    const page = await browser.newPage();
    try {
      await viaProxy(page, proxy);
      await page.goto(`http://127.0.0.1:${port}/#user=fresh-ann`);
      await page.waitForFunction(() => document.body.dataset.room !== undefined);
      const firstRoom = await page.evaluate(() => document.body.dataset.room);
      // A crash: nothing the old node says reaches the page, and a new node takes its port.
      proxy.blackhole();
      await node.close();
      proxy.cut('reset');
      node = await start(port);
      await waitForState(page, 'reconnecting');
      proxy.restore();
      await waitForState(page, 'reconnected-fresh');
      expect(await statusOf(page)).toBe(
        'reconnected as fresh-ann with a new session (TIDEWIRE_ERR_RESUME_INVALID): the server state was gone',
      );
      await page.waitForFunction((first) => document.body.dataset.room !== first, firstRoom, {
        timeout: 10_000,
      });
      const newRoom = await page.evaluate(() => document.body.dataset.room);
      expect(
        await page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get('room')),
      ).toBe(newRoom);
      await page.waitForSelector('#members li[data-user="fresh-ann"]');
    } finally {
      await page.close();
      await proxy.close();
      await node.close();
    }
  }, 60_000);

  it("the client's API in the browser: request, send, pushes, keep-alive, ping, typed errors, close", async () => {
    const page = await browser.newPage();
    try {
      await loadClient(page);
      const result = await page.evaluate(
        async ({ endpointUrl }) => {
          const sdk = (window as unknown as { tidewire: Sdk }).tidewire;
          const out: Record<string, unknown> = {};
          const c = await sdk.connect({ endpointUrl, uid: 'page-user', keepAliveIntervalMs: 0 });
          out.transport = c.transport;
          out.userId = c.userId;
          const answer = await c.request(2, 1, new TextEncoder().encode('echo me'));
          out.echo = new TextDecoder().decode(answer.payload);
          out.ok = answer.ok;
          const responded = new Promise((resolve) =>
            c.once('response', (r: { payload: Uint8Array }) =>
              resolve(new TextDecoder().decode(r.payload)),
            ),
          );
          c.send(2, 1, new TextEncoder().encode('unreliable'), { reliable: false });
          out.sent = await responded;
          out.keepAlive = (await c.keepAlive()).state;
          out.ping = (await c.ping()) >= 0;
          out.unhandledOk = (await c.request(2, 77)).ok;
          try {
            await sdk.connect({ endpointUrl, uid: 'bad uid!' });
          } catch (err) {
            out.badUidCode = (err as { code: string }).code;
          }
          await c.close();
          out.closed = c.closed;
          try {
            await c.request(2, 1);
          } catch (err) {
            out.closedCode = (err as { code: string }).code;
          }
          return out;
        },
        { endpointUrl: base },
      );
      expect(result).toEqual({
        transport: 'ws',
        userId: 'page-user',
        echo: 'echo me',
        ok: true,
        sent: 'unreliable',
        keepAlive: 'ONLINE',
        ping: true,
        unhandledOk: false,
        badUidCode: 'TIDEWIRE_ERR_SESSION_REQUEST_FAILED',
        closed: true,
        closedCode: 'TIDEWIRE_ERR_CLOSED',
      });
    } finally {
      await page.close();
    }
  }, 30_000);

  it('a browser push reaches the page', async () => {
    const page = await browser.newPage();
    try {
      await loadClient(page);
      await page.evaluate(
        async ({ endpointUrl }) => {
          const w = window as unknown as { tidewire: Sdk; pushed: Promise<string> };
          const c = await w.tidewire.connect({
            endpointUrl,
            uid: 'pushed',
            keepAliveIntervalMs: 0,
          });
          w.pushed = new Promise((resolve) =>
            c.once('push', (m: { payload: Uint8Array }) =>
              resolve(new TextDecoder().decode(m.payload)),
            ),
          );
        },
        { endpointUrl: base },
      );
      await server.sendToUser('pushed', 2, 5, Buffer.from('from the server'));
      const waiting = page.evaluate(
        () => (window as unknown as { pushed: Promise<string> }).pushed,
      );
      expect(await waiting).toBe('from the server');
    } finally {
      await page.close();
    }
  }, 30_000);

  /** In the page: a resuming client, its events, a 20 Hz request stream and the pushes it gets. */
  async function startStream(page: Page, endpointUrl: string, uid: string): Promise<void> {
    await page.evaluate(
      async ({ endpointUrl, uid }) => {
        const w = window as unknown as Record<string, unknown> & { tidewire: Sdk };
        const events: string[] = [];
        const pushes: number[] = [];
        const answers: number[] = [];
        const answered: Promise<void>[] = [];
        const c = await w.tidewire.connect({
          endpointUrl,
          uid,
          keepAliveIntervalMs: 200,
          requestTimeoutMs: 30_000,
          connectTimeoutMs: 2000,
          reconnect: { attempts: 100, backoff: { initialMs: 20, maxMs: 200 } },
        });
        for (const name of ['reconnecting', 'resumed', 'reconnected-fresh', 'gave-up', 'close']) {
          c.on(name, (info: unknown) => events.push(`${name} ${JSON.stringify(info)}`));
        }
        c.on('push', (m: { cmd: number; payload: Uint8Array }) => {
          if (m.cmd === 13) pushes.push(Number(new TextDecoder().decode(m.payload)));
        });
        await c.request(2, 12);
        let seq = 0;
        const timer = setInterval(() => {
          const mine = ++seq;
          answered.push(
            c
              .request(2, 11, new TextEncoder().encode(String(mine)))
              .then((r: { payload: Uint8Array }) => {
                answers.push(Number(new TextDecoder().decode(r.payload)));
              }),
          );
        }, 50);
        Object.assign(w, { client: c, events, pushes, answers });
        w.stopStream = async () => {
          clearInterval(timer);
          const outcomes = await Promise.allSettled(answered);
          const failed = outcomes.filter((o) => o.status === 'rejected').length;
          const result = { seq, answers, pushes, events, failed, url: c.session.url };
          await c.close();
          return result;
        };
      },
      { endpointUrl, uid },
    );
  }

  const count = (page: Page, prefix: string): Promise<number> =>
    page.evaluate(
      (p) =>
        (window as unknown as { events: string[] }).events.filter((e) => e.startsWith(p)).length,
      prefix,
    );

  async function waitForEvents(page: Page, prefix: string, n: number): Promise<void> {
    await page.waitForFunction(
      ({ p, n }) =>
        (window as unknown as { events: string[] }).events.filter((e) => e.startsWith(p)).length >=
        n,
      { p: prefix, n },
      { timeout: 15_000 },
    );
  }

  it('a page whose socket is cut (reset, FIN, a stalled path) under a 20 Hz stream and pushes resumes: 0 lost, 0 twice, in order', async () => {
    const proxy = await startCutProxy({ target: { host: '127.0.0.1', port: server.httpPort } });
    const page = await browser.newPage();
    try {
      await viaProxy(page, proxy);
      await loadClient(page);
      await startStream(page, base, 'cut-page');
      const cuts: (() => Promise<void>)[] = [
        async () => void proxy.cut('reset'),
        async () => void proxy.cut('close'),
        // Nothing moves for longer than the client's idle bound (3 x 200 ms + 1 s): it gives the socket up.
        async () => {
          proxy.blackhole();
          await new Promise((resolve) => setTimeout(resolve, 2500));
          proxy.restore();
        },
        async () => void proxy.cut('reset'),
      ];
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const [i, cut] of cuts.entries()) {
        await cut();
        await waitForEvents(page, 'resumed', i + 1);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const result = await page.evaluate(() =>
        (window as unknown as { stopStream: () => Promise<Record<string, unknown>> }).stopStream(),
      );
      const { seq, answers, pushes, events, failed } = result as {
        seq: number;
        answers: number[];
        pushes: number[];
        events: string[];
        failed: number;
      };
      expect(failed).toBe(0);
      expect(answers).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
      const ran = runs.get('cut-page');
      for (let i = 1; i <= seq; i++) expect(ran?.get(i)).toBe(1);
      const last = pushes.at(-1) ?? 0;
      expect(pushes).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      expect(last).toBeGreaterThan(40);
      expect(events.filter((e) => e.startsWith('resumed'))).toHaveLength(cuts.length);
      expect(events.filter((e) => /^(reconnected-fresh|gave-up)/.test(e))).toEqual([]);
      expect(events.at(-1)).toMatch(/^close .*TIDEWIRE_ERR_CLIENT_CLOSED/);
      // Each cut made the page open a new socket to resume on.
      expect(proxy.counters.flows).toBeGreaterThan(cuts.length);
    } finally {
      await page.close();
      await proxy.close();
    }
  }, 60_000);

  it('a page whose node restarted gets a fresh session (reconnected-fresh) and goes on', async () => {
    const start = (port: number): Promise<TidewireServer> =>
      startWsNode(port, installResumeCommands);
    let node = await start(0);
    const port = node.httpPort;
    const proxy = await startCutProxy({ target: { host: '127.0.0.1', port } });
    const page = await browser.newPage();
    try {
      await viaProxy(page, proxy);
      await loadClient(page);
      await startStream(page, `http://127.0.0.1:${port}`, 'restarted-page');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The node goes away without a word reaching the page (a crash), and a new one takes its port.
      proxy.blackhole();
      await node.close();
      // What the old node said while closing dies with its flows.
      proxy.cut('reset');
      node = await start(port);
      proxy.restore();
      await waitForEvents(page, 'reconnected-fresh', 1);
      // The stream goes on over the new session.
      const before = await page.evaluate(
        () => (window as unknown as { answers: number[] }).answers.length,
      );
      await page.waitForFunction(
        (n) => (window as unknown as { answers: number[] }).answers.length > n + 5,
        before,
        { timeout: 10_000 },
      );
      const { events } = (await page.evaluate(() =>
        (window as unknown as { stopStream: () => Promise<Record<string, unknown>> }).stopStream(),
      )) as { events: string[] };
      expect(await count(page, 'resumed')).toBe(0);
      expect(events.filter((e) => e.startsWith('reconnected-fresh'))).toEqual([
        'reconnected-fresh {"reason":"TIDEWIRE_ERR_RESUME_INVALID"}',
      ]);
      expect(events[0]).toMatch(/^reconnecting /);
    } finally {
      await page.close();
      await proxy.close();
      await node.close();
    }
  }, 60_000);

  it('a page whose node drains (reconnect-elsewhere) moves to another node by itself; no request lost', async () => {
    const hub = new MemoryMeshHub();
    const start = async (nodeId: string): Promise<TidewireServer> => {
      const node = createServer({
        config: { http: { port: 0 } },
        mesh: new MemoryMesh({ hub, nodeId }),
        env: {},
      });
      await node.setupAsWSServer();
      installResumeCommands(node);
      await node.start();
      return node;
    };
    const a = await start('a');
    const b = await start('b');
    const page = await browser.newPage();
    try {
      // b is TAKEN while the page connects: it lands on a.
      b.taken();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await loadClient(page);
      await startStream(page, `http://127.0.0.1:${b.httpPort}`, 'mover-page');
      b.online();
      const firstUrl = await page.evaluate(
        () => (window as unknown as { client: { session: { url: string } } }).client.session.url,
      );
      expect(firstUrl).toBe(`ws://127.0.0.1:${a.httpPort}/v1/ws`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const drained = a.shutdown({ timeoutMs: 10_000 });
      await waitForEvents(page, 'reconnected-fresh', 1);
      await drained;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { seq, answers, events, failed, url } = (await page.evaluate(() =>
        (window as unknown as { stopStream: () => Promise<Record<string, unknown>> }).stopStream(),
      )) as { seq: number; answers: number[]; events: string[]; failed: number; url: string };
      expect(url).toBe(`ws://127.0.0.1:${b.httpPort}/v1/ws`);
      expect(failed).toBe(0);
      expect(answers).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
      const ran = runs.get('mover-page');
      for (let i = 1; i <= seq; i++) expect(ran?.get(i)).toBe(1);
      expect(events.filter((e) => e.startsWith('reconnected-fresh'))).toEqual([
        'reconnected-fresh {"reason":"TIDEWIRE_ERR_DRAINING"}',
      ]);
    } finally {
      await page.close();
      await a.close();
      await b.close();
    }
  }, 60_000);

  it('a page without keep-alives is dropped by the idle TTL and resumes; a request made while reconnecting goes out after (client README)', async () => {
    const node = createServer({ config: { http: { port: 0 }, ws: { connectionTTL: 1 } }, env: {} });
    await node.setupAsWSServer();
    node.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await node.start();
    const page = await browser.newPage();
    try {
      await loadClient(page);
      const log = await page.evaluate(
        async ({ endpointUrl }) => {
          const sdk = (window as unknown as { tidewire: Sdk }).tidewire;
          const out: string[] = [];
          const c = await sdk.connect({ endpointUrl, uid: 'silent-tab', keepAliveIntervalMs: 0 });
          const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
          const ask = (what: string) => c.request(2, 1, new TextEncoder().encode(what));
          let meanwhile: Promise<{ payload: Uint8Array }> | undefined;
          c.on('reconnecting', ({ attempt, code }: { attempt: number; code: string }) => {
            out.push(`reconnecting ${attempt} ${code}`);
            meanwhile ??= ask('asked while reconnecting');
          });
          c.on('resumed', ({ attempt }: { attempt: number }) => out.push(`resumed ${attempt}`));
          c.on('reconnected-fresh', ({ reason }: { reason: string }) =>
            out.push(`fresh ${reason}`),
          );
          c.on('close', ({ code }: { code: string }) => out.push(`close ${code}`));
          out.push(text((await ask('hello')).payload));
          await new Promise((resolve) => {
            c.once('resumed', resolve);
            c.once('reconnected-fresh', resolve);
            c.once('close', resolve);
          });
          if (meanwhile) out.push(text((await meanwhile).payload));
          await c.close();
          return out;
        },
        { endpointUrl: `http://127.0.0.1:${node.httpPort}` },
      );
      expect(log).toEqual([
        'hello',
        'reconnecting 1 TIDEWIRE_ERR_IDLE_TIMEOUT',
        'resumed 1',
        'asked while reconnecting',
        'close TIDEWIRE_ERR_CLIENT_CLOSED',
      ]);
    } finally {
      await page.close();
      await node.close();
    }
  }, 30_000);

  it("reconnect in the browser's API: off closes on a cut, the signal ends the attempts, bad options are typed errors", async () => {
    const proxy = await startCutProxy({ target: { host: '127.0.0.1', port: server.httpPort } });
    const page = await browser.newPage();
    try {
      await viaProxy(page, proxy);
      await loadClient(page);
      await page.evaluate(
        async ({ endpointUrl }) => {
          const w = window as unknown as Record<string, unknown> & { tidewire: Sdk };
          const log: string[] = [];
          const off = await w.tidewire.connect({
            endpointUrl,
            uid: 'no-reconnect',
            reconnect: false,
          });
          off.on('reconnecting', () => log.push('off reconnecting'));
          off.on('close', (info: { code: string }) => log.push(`off close ${info.code}`));
          const aborter = new AbortController();
          const aborted = await w.tidewire.connect({
            endpointUrl,
            uid: 'aborted',
            signal: aborter.signal,
            reconnect: { attempts: 5, backoff: { initialMs: 60_000, maxMs: 60_000 } },
          });
          aborted.on('reconnecting', (info: { attempt: number; code: string }) => {
            log.push(`aborted reconnecting ${info.attempt} ${info.code}`);
            aborter.abort();
          });
          aborted.on('gave-up', () => log.push('aborted gave-up'));
          aborted.on('close', (info: { code: string }) => log.push(`aborted close ${info.code}`));
          for (const reconnect of [{ attempts: -1 }, { backoff: { jitter: 2 } }]) {
            try {
              await w.tidewire.connect({ endpointUrl, uid: 'bad', reconnect });
            } catch (err) {
              log.push(`bad ${(err as { code: string }).code}`);
            }
          }
          w.log = log;
        },
        { endpointUrl: base },
      );
      proxy.cut('reset');
      await page.waitForFunction(
        () =>
          (window as unknown as { log: string[] }).log.filter((l) => l.includes('close')).length >=
          2,
        undefined,
        { timeout: 10_000 },
      );
      const log = await page.evaluate(() => (window as unknown as { log: string[] }).log);
      expect(log.sort()).toEqual(
        [
          'aborted close TIDEWIRE_ERR_SOCKET',
          'aborted reconnecting 1 TIDEWIRE_ERR_SOCKET',
          'bad TIDEWIRE_ERR_INVALID_ARGUMENT',
          'bad TIDEWIRE_ERR_INVALID_ARGUMENT',
          'off close TIDEWIRE_ERR_SOCKET',
        ].sort(),
      );
    } finally {
      await page.close();
      await proxy.close();
    }
  }, 30_000);
});

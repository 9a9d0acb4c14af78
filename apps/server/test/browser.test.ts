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
import { installRooms } from '@tidewire/room';
import { createServer, Ok, type TidewireServer } from '@tidewire/server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { bundleBrowserClient } from '../../../packages/client/scripts/bundle-browser.mjs';
import { servePage } from '../src/static-page.ts';

// biome-ignore lint/suspicious/noExplicitAny: the bundle is loaded untyped into the page
type Sdk = any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') {
  throw new Error(`${CHROMIUM} is missing: CI installs the chromium package (.ci/run)`);
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

  afterAll(async () => {
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
});

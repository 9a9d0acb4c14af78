/**
 * The create-tidewire part of `pnpm pack:check`: `npm create tidewire` as a
 * user runs it, from the packed tarball, with the project's @tidewire
 * dependencies pointed at the packed tarballs (`--tarballs`, the generator's
 * option for testing). For each variant: the generator's own npm install, npm test, npm run
 * typecheck, then a bounded `npm start` and, over TCP and UDP, an `npm run
 * client` round trip; over WebSocket (the default) the page and its script
 * are fetched and the page is opened in headless Chromium (Debian's
 * /usr/bin/chromium or CHROMIUM_PATH, driven by playwright-core) until it
 * shows its connected state; the node is then stopped and started again, and
 * the page must show `reconnecting` and connect again with a new session.
 * The `--redis` variant runs two nodes on a real redis-server, checks that
 * sessions go to both, and plays on the second.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

export interface CreateCheckOptions {
  /** A scratch folder outside the workspace. */
  readonly base: string;
  /** Every packed tarball (create-tidewire's and the @tidewire packages', in one folder). */
  readonly tarballs: readonly string[];
}

interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly transport: Transport;
  readonly redis: boolean;
}

type Transport = 'ws' | 'tcp' | 'udp';

const VARIANTS: readonly Variant[] = [
  { name: 'ws-game', args: [], transport: 'ws', redis: false },
  { name: 'tcp-game', args: ['--transport', 'tcp'], transport: 'tcp', redis: false },
  { name: 'udp-game', args: ['--transport', 'udp'], transport: 'udp', redis: false },
  { name: 'cluster-game', args: ['--redis'], transport: 'ws', redis: true },
];

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  if (extra.TIDEWIRE_MESH_URL === undefined) delete env.TIDEWIRE_MESH_URL;
  delete env.npm_config_prefix;
  return env;
}

function npm(
  args: readonly string[],
  cwd: string,
  timeoutMs = 240_000,
  env: NodeJS.ProcessEnv = {},
): string {
  const result = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: cleanEnv(env),
  });
  const out = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) {
    throw new Error(
      `npm ${args.join(' ')} in ${basename(cwd)} failed (${result.status ?? result.error?.message}):\n${out}`,
    );
  }
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM to the process group we started, SIGKILL after 15 s; resolves npm's exit code. */
  stop(): Promise<number | null>;
}

/** Starts `command` in its own process group and waits for `ready` in its output. */
async function startUntil(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  timeoutMs: number,
): Promise<Running> {
  const child = spawn(command, args, {
    cwd,
    env: cleanEnv(env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const running: Running = {
    child,
    output: () => output,
    stop: async () => {
      signalGroup('SIGTERM');
      const kill = setTimeout(() => signalGroup('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (!ready.test(output)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${command} ${args.join(' ')} exited before it was ready:\n${output}`);
    }
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error(`${command} ${args.join(' ')} not ready within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return running;
}

function runClient(dir: string, endpointUrl: string, uid: string): string {
  const out = npm(['run', 'client', '--silent', '--', uid], dir, 60_000, {
    TIDEWIRE_ENDPOINT_URL: endpointUrl,
  });
  if (!out.includes(`hello ${uid}`) || !/opened room \S+/.test(out)) {
    throw new Error(`the client's round trip printed something else:\n${out}`);
  }
  return out;
}

/** `npm start` (over WebSocket its prestart bundles the page first) until the ready line. */
async function startNode(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ node: Running; endpointUrl: string }> {
  // "sessions at http://host:port, players on ..." or "the page at http://host:port/ (...)".
  const ready = /(?:sessions|the page) at (http:\/\/[^,/\s]+)/;
  const node = await startUntil('npm', ['start', '--silent'], dir, env, ready, 90_000);
  const endpointUrl = ready.exec(node.output())?.[1];
  if (endpointUrl === undefined) throw new Error(`no endpoint in:\n${node.output()}`);
  return { node, endpointUrl };
}

/**
 * SIGTERM to the node's process group, as a terminal's Ctrl-C or a process
 * manager would: the server must drain and print "stopped", and nothing of
 * the group may outlive it. (npm itself reports the signal in its own exit
 * code, whatever the server does.)
 */
async function stopGracefully(node: Running, what: string): Promise<void> {
  await node.stop();
  const pid = node.child.pid;
  const groupAlive = (): boolean => {
    try {
      if (pid !== undefined) process.kill(-pid, 0);
      return pid !== undefined;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 15_000;
  while (groupAlive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive()) {
    if (pid !== undefined) process.kill(-pid, 'SIGKILL');
    throw new Error(`${what}: its processes outlived it by 15 s (killed)`);
  }
  if (!/^stopped$/m.test(node.output())) {
    throw new Error(`${what} did not drain and stop on SIGTERM:\n${node.output()}`);
  }
}

async function checkSingleNode(dir: string, transport: Transport): Promise<string> {
  const httpPort = String(await freePort());
  const env: NodeJS.ProcessEnv =
    transport === 'ws'
      ? { HTTP_PORT: httpPort }
      : { HTTP_PORT: httpPort, GAME_PORT: String(await freePort()) };
  const started = await startNode(dir, env);
  let node = started.node;
  try {
    if (transport !== 'ws') {
      runClient(dir, started.endpointUrl, 'alice');
      return 'npm start + client ok';
    }
    await fetchPage(started.endpointUrl);
    const shown = await withPage(started.endpointUrl, async (page, errors) => {
      const first = await waitConnected(page, errors);
      // The node stops and starts again on its port: the page shows the loss,
      // then reconnects with a new session and enters a room again.
      await stopGracefully(node, 'npm start');
      await page.waitForSelector('body[data-state="reconnecting"]', { timeout: 15_000 });
      node = (await startNode(dir, env)).node;
      const again = await waitConnected(page, errors);
      if (!again.status.includes('(new session)'))
        throw new Error(`after the restart the page shows: ${JSON.stringify(again)}`);
      return `"${first.status}", ${first.room.split(' with ')[0]}; node restarted: reconnecting, then "${again.status}"`;
    });
    return `npm start, / and /main.js served, Chromium: ${shown}`;
  } finally {
    await stopGracefully(node, 'npm start');
  }
}

/** GET / (the page, naming its script) and /main.js (the bundle `npm start` made). */
async function fetchPage(endpointUrl: string): Promise<void> {
  const page = await fetch(`${endpointUrl}/`);
  const html = await page.text();
  if (page.status !== 200 || !/^text\/html/.test(page.headers.get('content-type') ?? ''))
    throw new Error(`GET / answered ${page.status} ${page.headers.get('content-type')}:\n${html}`);
  if (!html.includes('<script type="module" src="/main.js">'))
    throw new Error(`GET / is not the page:\n${html}`);
  const script = await fetch(`${endpointUrl}/main.js`);
  const code = await script.text();
  if (script.status !== 200 || !/^text\/javascript/.test(script.headers.get('content-type') ?? ''))
    throw new Error(`GET /main.js answered ${script.status}:\n${code.slice(0, 500)}`);
  if (code.length < 1000 || /\bnode:[a-z]/.test(code))
    throw new Error(`/main.js is not the page's browser bundle (${code.length} bytes)`);
}

/** Opens the page in headless Chromium for `use`, with the page's uncaught errors. */
async function withPage<T>(
  endpointUrl: string,
  use: (page: Page, errors: readonly string[]) => Promise<T>,
): Promise<T> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (set CHROMIUM_PATH)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${endpointUrl}/`, { timeout: 20_000 });
    return await use(page, errors);
  } finally {
    await browser.close();
  }
}

interface Shown {
  readonly status: string;
  readonly room: string;
  readonly log: string;
}

/**
 * Waits (bounded) for the page's connected state: the session fetched, the
 * WebSocket open, hello answered, a room entered. Resolves what it shows.
 */
async function waitConnected(page: Page, errors: readonly string[]): Promise<Shown> {
  try {
    await page.waitForSelector('body[data-state="connected"]', { timeout: 20_000 });
  } catch (err) {
    const state = {
      state: await page.getAttribute('body', 'data-state'),
      status: await page.textContent('#status'),
    };
    throw new Error(
      `the page did not connect (${JSON.stringify(state)}; errors: ${errors.join('; ') || 'none'}): ${(err as Error).message}`,
    );
  }
  const shown: Shown = {
    status: (await page.textContent('#status')) ?? '',
    room: (await page.textContent('#room')) ?? '',
    log: (await page.textContent('#log')) ?? '',
  };
  if (!/^In room \S+/.test(shown.room) || !/hello player-/.test(shown.log))
    throw new Error(`the connected page shows something else: ${JSON.stringify(shown)}`);
  if (!page.url().includes('#room='))
    throw new Error(`the page's address names no room: ${page.url()}`);
  return shown;
}

/** The page, opened until it is connected: what it shows, in short. */
function openPage(endpointUrl: string): Promise<string> {
  return withPage(endpointUrl, async (page, errors) => {
    const shown = await waitConnected(page, errors);
    return `Chromium: "${shown.status}", ${shown.room.split(' with ')[0]}`;
  });
}

async function checkCluster(dir: string, transport: Transport): Promise<string> {
  const redisPort = await freePort();
  const redis = await startUntil(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    dir,
    {},
    /Ready to accept connections/,
    15_000,
  );
  const nodes: Running[] = [];
  try {
    const started = [];
    for (let n = 0; n < 2; n++) {
      const httpPort = await freePort();
      // Over WebSocket players connect to the HTTP port; over TCP and UDP to the game port.
      const gamePort = transport === 'ws' ? httpPort : await freePort();
      const { node, endpointUrl } = await startNode(dir, {
        TIDEWIRE_CONFIG: 'cluster.json',
        TIDEWIRE_MESH_URL: `redis://127.0.0.1:${redisPort}`,
        HTTP_PORT: String(httpPort),
        ...(transport === 'ws' ? {} : { GAME_PORT: String(gamePort) }),
      });
      nodes.push(node);
      started.push({ endpointUrl, gamePort });
    }
    const first = started[0]!;
    const second = started[1]!;
    // Sessions asked of node 1 go to both nodes' game ports.
    const ports = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const response = await fetch(
        `${first.endpointUrl}/v1/endpoint/${transport}/user/spread-${i}`,
      );
      if (!response.ok)
        throw new Error(`session request answered ${response.status}: ${await response.text()}`);
      ports.add(((await response.json()) as { port: number }).port);
    }
    if (!ports.has(first.gamePort) || !ports.has(second.gamePort)) {
      throw new Error(
        `6 sessions went to ports ${[...ports].join(', ')}, not to both ${first.gamePort} and ${second.gamePort}`,
      );
    }
    let played = '';
    if (transport === 'ws') played = `, ${await openPage(second.endpointUrl)} (node 2)`;
    else runClient(dir, second.endpointUrl, 'bob');
    for (const node of nodes.splice(0)) await stopGracefully(node, 'a cluster node');
    return `sessions spread over both nodes (${[...ports].sort().join(', ')})${played}`;
  } finally {
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

/** Runs every variant; resolves a one-line summary, throws on the first failure. */
export async function checkCreateTidewire(options: CreateCheckOptions): Promise<string> {
  const creator = options.tarballs.find((file) => basename(file).startsWith('create-tidewire-'));
  if (creator === undefined) throw new Error('no create-tidewire tarball was packed');
  const tarballDir = dirname(creator);
  const workDir = join(options.base, 'created');
  mkdirSync(workDir, { recursive: true });
  const summary: string[] = [];
  for (const variant of VARIANTS) {
    const started = performance.now();
    // `npm create tidewire@latest <name>` is `npm exec create-tidewire@latest -- <name>`.
    npm(
      [
        'exec',
        '--yes',
        `--package=${creator}`,
        '--',
        'create-tidewire',
        variant.name,
        ...variant.args,
        '--tarballs',
        tarballDir,
      ],
      workDir,
    );
    // The generator ran npm install itself (the project's @tidewire deps: file: tarballs).
    const dir = join(workDir, variant.name);
    const test = npm(['test'], dir, 120_000);
    if (!/# pass [1-9]/.test(test) || !/# fail 0/.test(test))
      throw new Error(`npm test in ${variant.name}:\n${test}`);
    npm(['run', 'typecheck'], dir, 120_000);
    const ran = variant.redis
      ? `two nodes: ${await checkCluster(dir, variant.transport)}`
      : await checkSingleNode(dir, variant.transport);
    summary.push(`${variant.name} ${((performance.now() - started) / 1000).toFixed(0)} s`);
    console.log(`     ${variant.name}: create + npm install, npm test, typecheck, ${ran}`);
  }
  return summary.join('; ');
}

/**
 * bench/peers: the same game-like workload against Colyseus 0.16, Tidewire
 * (TCP, UDP and WebSocket) and bare node:net, node:dgram and `ws` echoes, in
 * the same run:
 * PEERS_CLIENTS clients (500) each sending a 64-byte message PEERS_HZ times a
 * second (20) that the server echoes; round-trip p50/p99, the server's CPU
 * (share of one core) and RSS per client, each server in its own process,
 * PEERS_ROUNDS rounds (3) in a rotating order, medians reported.
 *
 * RSS (and V8 heap) per idle client: each server first opens and closes a
 * warm-up batch of PEERS_RSS_WARMUP connections (200) of its own kind, so
 * that what the first connections cost once (code compiled for the HTTP,
 * upgrade and session paths, the heap grown) is not spread over the
 * clients; then the growth between that point and all PEERS_CLIENTS
 * connected, both after a full GC, before any client sends, divided by the
 * clients. The same for every kind. Without the warm-up (before 2026-12-08)
 * the figure was mostly those one-time costs (Colyseus 22.3 KB, 3.8 KB with
 * it). At 500 clients RSS still moves several KB from run to run (the
 * allocator's and V8's page granularity); the heap figure moves far less.
 *
 *   pnpm install --ignore-workspace --dir bench/peers   (once: the peer frameworks)
 *   node scripts/bench.mjs peers
 *
 * Sweep mode: PEERS_SWEEP=100,250,500,1000 runs each server once per client
 * count; with PEERS_SVG_DIR=docs/img it writes charts of p99 and server CPU
 * against clients (and the data as JSON) for docs/benchmarks.md;
 * PEERS_REDRAW=1 with PEERS_SVG_DIR redraws them from that JSON.
 *
 * A/B mode: PEERS_AB_DIR=<another checkout, installed and built> runs each
 * chosen Tidewire server a second time on that checkout's packages (the same
 * server.ts, compiled into that checkout), as `<kind>@ab`, in the same
 * rounds, and prints `<kind>` against `<kind>@ab`; `@ab` servers are driven
 * by that checkout's @tidewire/client. Separate invocations move
 * 10-30% on this machine; one invocation compares two versions fairly, best
 * with PEERS_TOGETHER=1 (every server of a round at the same time, below).
 *
 * The peer frameworks live in this folder's own package.json, outside the
 * workspace, so no Tidewire package ever depends on them. */

import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, type TidewireClient } from '@tidewire/client';
import { encodeFrame, HEADER_SIZE, Status } from '@tidewire/wire';
import WebSocket from 'ws';
import { type Goal, printGoals } from '../shared/goal.ts';
import { fetchTcpSession, handFramer, sayHello } from '../shared/net-echo.ts';
import { median, percentile } from '../shared/stats.ts';
import { lineChart, type Series } from '../shared/svg-chart.ts';
import { compileServer } from './compile-server.ts';

const CLIENTS = Number(process.env.PEERS_CLIENTS ?? 500);
const HZ = Number(process.env.PEERS_HZ ?? 20);
const MEASURE_MS = Number(process.env.PEERS_TIME_MS ?? 6_000);
const WARMUP_MS = 2_000;
/**
 * Connections each server opens and closes before its idle RSS point
 * (PEERS_RSS_WARMUP, 200; 0: none, the idle point is the fresh process):
 * the first connections' one-time costs are then not counted per connection.
 */
const RSS_WARMUP_CLIENTS = Number(process.env.PEERS_RSS_WARMUP ?? 200);
/** Pause before each RSS point: the closes of the warm-up and the session steps' HTTP sockets settle. */
const RSS_SETTLE_MS = 300;
/** Each server runs once per round, in a rotating order; the table shows medians over rounds. */
const ROUNDS = Number(process.env.PEERS_ROUNDS ?? 3);
/**
 * Which servers to run (comma-separated). Two diagnostics are not run by
 * default: `tidewire-transport` (@tidewire/transport-tcp alone, driven by the
 * bare clients) and `tidewire-tcp-raw` (the Tidewire server driven by the bare
 * clients after the session step and hello): they show what each layer costs.
 * `tidewire-udp-unreliable` sends and answers on the unreliable channel (no
 * ACKs), as a 20 Hz state stream would. `tidewire-udp-ackdelay` is Tidewire
 * UDP (reliable) with clients that announce `ackDelayMs: 60`: the ACK of
 * each answer rides with the next command instead of a datagram of its own. `bare-client` is the bare node:net
 * echo driven by `@tidewire/client` (it answers the session step, hello and
 * keep-alives): Tidewire TCP against it compares two servers under the same
 * clients, whose pace moves a server's CPU too. `bare-udp-acked` is the
 * node:dgram echo whose clients answer each echo with an ACK-sized datagram
 * the server reads and drops: what any reliable UDP protocol whose receiver
 * acknowledges each message at once costs in Node before it does any work
 * of its own. `tidewire-app` is the reference server as `pnpm start` runs it
 * (apps/server's built main.js with its default config: logging, metrics,
 * HTTP routes, demo commands; the clients use its TCP echo), the figure users
 * get; `tidewire-app-nometrics` the same with `metrics.enabled: false`.
 * `tidewire-ws` is Tidewire over WebSocket (@tidewire/transport-ws, on `ws`,
 * as Colyseus is: the like-for-like comparison) and `bare-ws` its floor, a
 * bare `ws` echo server driven by bare `ws` clients; `bare-ws-client` is that
 * floor driven by `@tidewire/client` over WebSocket (the session step, hello
 * and keep-alives answered, as `bare-client` does for TCP).
 */
const KINDS = (
  process.env.PEERS_KINDS ??
  'bare,bare-client,bare-udp,bare-udp-acked,bare-ws,bare-ws-client,tidewire-tcp,tidewire-udp,tidewire-udp-ackdelay,tidewire-udp-unreliable,tidewire-ws,tidewire-app,tidewire-app-nometrics,colyseus'
).split(',');
/**
 * What a `bare-udp-acked` client sends back for each echo: as many bytes as
 * Tidewire's pure ACK datagram (header and one range), marked by its first
 * byte (a frame starts with 0xd1), ignored by the server.
 */
const BARE_ACK = Buffer.alloc(22, 0xac);
/** `ackDelayMs` of the `tidewire-udp-ackdelay` clients: above their 50 ms between commands. */
const ACK_DELAY_MS = 60;
/** When set, each server process writes a V8 CPU profile into this folder. */
const PROFILE_DIR = process.env.PEERS_PROFILE_DIR;
/** Extra node flags for every server process (e.g. `--trace-deopt`); their stdout is shown then. */
const SERVER_NODE_ARGS = (process.env.PEERS_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const serverStdout = SERVER_NODE_ARGS.length > 0 ? 'inherit' : 'ignore';
/** Client counts for the sweep mode (e.g. `100,500,1000`); empty: the one-count rounds. */
const SWEEP = (process.env.PEERS_SWEEP ?? '')
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number);
/** Where the sweep writes its SVG charts and JSON data; not written when unset. */
const SVG_DIR = process.env.PEERS_SVG_DIR;
/**
 * Pinning (default on Linux with taskset and 2+ CPUs; PEERS_PIN=0 turns it
 * off): the load generator runs on CPU 0 and each server on CPU 1. Unpinned,
 * the scheduler moves both processes across the two cores and a server's CPU
 * time depends on what the load generator does beside it (a client library
 * that does more work on the client side made the same server cost ~1.5
 * points more), so servers driven by different clients were not compared on
 * equal terms.
 */
const PIN = process.env.PEERS_PIN !== '0' && pinSelfToCpu0();
/**
 * PEERS_TOGETHER=1: in each round every chosen server runs at the same time
 * (each with its own PEERS_CLIENTS clients, all servers on CPU 1 when
 * pinned), measured over one shared window. The machine's drift then hits
 * every server alike: the CPU of one server against another moves far less
 * from round to round than when they run one after another. Latencies are
 * then those of servers sharing a core; keep the chosen servers' CPU well
 * under one core together (two or three servers at the default load).
 */
const TOGETHER = process.env.PEERS_TOGETHER === '1';
const PLACEMENT = `${PIN ? 'clients on CPU 0, servers on CPU 1' : 'unpinned'}${TOGETHER ? ', servers running together' : ''}`;
/** Moves this process (every thread) to CPU 0; false when that cannot be done here. */
function pinSelfToCpu0(): boolean {
  if (process.platform !== 'linux' || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-c', '-p', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
for (const [name, values] of [
  ['PEERS_CLIENTS', [CLIENTS]],
  ['PEERS_HZ', [HZ]],
  ['PEERS_TIME_MS', [MEASURE_MS]],
  ['PEERS_ROUNDS', [ROUNDS]],
  ['PEERS_SWEEP', SWEEP],
] as const) {
  if (values.some((v) => !Number.isInteger(v) || v <= 0)) {
    console.error(`bench/peers: ${name} must be positive integers, got ${process.env[name]}`);
    process.exit(2);
  }
}
if (!Number.isInteger(RSS_WARMUP_CLIENTS) || RSS_WARMUP_CLIENTS < 0) {
  console.error(
    `bench/peers: PEERS_RSS_WARMUP must be an integer >= 0, got ${process.env.PEERS_RSS_WARMUP}`,
  );
  process.exit(2);
}
/**
 * Diagnostic (with PEERS_AB_DIR): the raw-socket clients of `@ab` servers
 * busy-wait this many microseconds before each send, as a slower client
 * library would. Shows how the clients' pace moves a server's CPU.
 */
const CLIENT_WORK_US = Number(process.env.PEERS_CLIENT_WORK_US ?? 0);
if (!Number.isFinite(CLIENT_WORK_US) || CLIENT_WORK_US < 0) {
  console.error(
    `bench/peers: PEERS_CLIENT_WORK_US must be a number >= 0, got ${process.env.PEERS_CLIENT_WORK_US}`,
  );
  process.exit(2);
}
if (CLIENT_WORK_US > 0 && process.env.PEERS_AB_DIR === undefined) {
  console.error(
    'bench/peers: PEERS_CLIENT_WORK_US slows the clients of `@ab` servers: set PEERS_AB_DIR too',
  );
  process.exit(2);
}
const CLIENT_WORK_MS = CLIENT_WORK_US / 1000;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

if (!existsSync(here('./node_modules/@colyseus/core'))) {
  console.log(
    'bench/peers: skipped: run `pnpm install --ignore-workspace --dir bench/peers` first',
  );
  process.exit(0);
}
const { Client: ColyseusClient } = await import('colyseus.js');
/** The servers run as plain JavaScript: no TypeScript loader thread beside them. */
const SERVER_JS = compileServer(here('.'));
const AB_DIR = process.env.PEERS_AB_DIR;
/** With PEERS_AB_DIR: this server.ts compiled into the other checkout, so it imports that checkout's packages. */
const AB_SERVER_JS = AB_DIR === undefined ? undefined : compileAbServer(AB_DIR);
function compileAbServer(dir: string): string {
  for (const needed of [
    'node_modules/@tidewire/server',
    'packages/client/dist/index.js',
    'bench/peers/node_modules/@colyseus/core',
  ]) {
    if (!existsSync(join(dir, needed))) {
      console.error(
        `bench/peers: PEERS_AB_DIR ${dir} lacks ${needed}: run \`pnpm install\`, \`pnpm build\` and \`pnpm install --ignore-workspace --dir bench/peers\` there`,
      );
      process.exit(2);
    }
  }
  return compileServer(join(dir, 'bench/peers'));
}
/**
 * With PEERS_AB_DIR the `@ab` servers are driven by that checkout's
 * @tidewire/client: how fast a client sends and reads moves the server's CPU
 * too (docs/benchmarks.md), so a client change is A/B'd against its server.
 */
const abConnect: typeof connect | undefined =
  AB_DIR === undefined
    ? undefined
    : (
        (await import(pathToFileURL(join(AB_DIR, 'packages/client/dist/index.js')).href)) as {
          connect: typeof connect;
        }
      ).connect;

type Kind =
  | 'bare'
  | 'bare-client'
  | 'bare-ws-client'
  | 'bare-udp'
  | 'bare-udp-acked'
  | 'bare-ws'
  | 'tidewire-transport'
  | 'tidewire-tcp-raw'
  | 'tidewire-tcp'
  | 'tidewire-udp'
  | 'tidewire-udp-ackdelay'
  | 'tidewire-udp-unreliable'
  | 'tidewire-ws'
  | 'tidewire-app'
  | 'tidewire-app-nometrics'
  | 'colyseus';

/** A server to run: a kind, or with PEERS_AB_DIR a Tidewire kind on the other checkout. */
type Server = Kind | `${Kind}@ab`;
const kindOf = (server: Server): Kind => server.replace(/@ab$/, '') as Kind;
const labelOf = (server: Server): string =>
  server.endsWith('@ab') ? `${LABELS[kindOf(server)]} (${AB_DIR})` : LABELS[kindOf(server)];

/** One client as the bench drives it: send a payload, get echoes. */
interface Driver {
  send(payload: Buffer): void;
  close(): Promise<void>;
}

interface Stats {
  cpuMs: number;
  rss: number;
  /** V8 heap in use (bench servers only; undefined for the reference server's kinds). */
  heapUsed?: number;
}

async function stats(child: ChildProcess, afterGc = false): Promise<Stats> {
  child.send(afterGc ? 'stats-gc' : 'stats');
  const [message] = (await once(child, 'message')) as [Stats];
  return message;
}

const LABELS: Record<Kind, string> = {
  bare: 'bare node:net',
  'bare-client': 'bare node:net, @tidewire/client clients',
  'bare-ws-client': 'bare ws, @tidewire/client clients',
  'bare-udp': 'bare node:dgram',
  'bare-udp-acked': 'bare node:dgram, each echo acknowledged by a datagram',
  'bare-ws': 'bare ws (WebSocket)',
  'tidewire-transport': 'transport-tcp alone',
  'tidewire-tcp-raw': 'Tidewire TCP (raw clients)',
  'tidewire-tcp': 'Tidewire TCP',
  'tidewire-udp': 'Tidewire UDP',
  'tidewire-udp-ackdelay': 'Tidewire UDP, clients with ackDelayMs 60',
  'tidewire-udp-unreliable': 'Tidewire UDP, unreliable channel',
  'tidewire-ws': 'Tidewire WebSocket',
  'tidewire-app': 'tidewire-server as pnpm start runs it (TCP)',
  'tidewire-app-nometrics': 'tidewire-server, metrics.enabled false (TCP)',
  colyseus: 'Colyseus 0.16',
};
const unknownKinds = KINDS.filter((k) => !(k in LABELS));
if (unknownKinds.length > 0) {
  console.error(
    `bench/peers: unknown PEERS_KINDS ${unknownKinds.join(', ')}; known: ${Object.keys(LABELS).join(', ')}`,
  );
  process.exit(2);
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Where a server listens: `port` is its only port, or its HTTP port; `tcpPort` Tidewire's TCP port. */
interface Ports {
  port: number;
  tcpPort: number;
}

async function open(
  server: Server,
  ports: Ports,
  index: number,
  onEcho: (payload: Buffer) => void,
): Promise<Driver> {
  const kind = kindOf(server);
  const { port } = ports;
  if (kind === 'bare' || kind === 'tidewire-transport' || kind === 'tidewire-tcp-raw') {
    const socket: Socket = netConnect({
      host: '127.0.0.1',
      port: kind === 'tidewire-tcp-raw' ? ports.tcpPort : port,
      noDelay: true,
    });
    await once(socket, 'connect');
    if (kind === 'tidewire-tcp-raw') {
      await sayHello(socket, await fetchTcpSession(`http://127.0.0.1:${port}`, `peer-${index}`));
    }
    socket.on(
      'data',
      handFramer((chunk, start, end) => onEcho(chunk.subarray(start + HEADER_SIZE, end))),
    );
    const workMs = server.endsWith('@ab') ? CLIENT_WORK_MS : 0;
    return {
      send: (payload) => {
        if (workMs > 0) busyWait(workMs);
        socket.write(encodeFrame(2, 1, Status.Request, payload));
      },
      close: async () => {
        socket.destroy();
      },
    };
  }
  if (kind === 'bare-udp' || kind === 'bare-udp-acked') {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const acked = kind === 'bare-udp-acked';
    socket.on('message', (datagram) => {
      onEcho(datagram.subarray(HEADER_SIZE));
      if (acked) socket.send(BARE_ACK);
    });
    return {
      send: (payload) => socket.send(encodeFrame(2, 1, Status.Request, payload)),
      close: async () => {
        socket.close();
      },
    };
  }
  if (kind === 'bare-ws') {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await once(socket, 'open');
    socket.on('message', (data: Buffer) => onEcho(data.subarray(HEADER_SIZE)));
    return {
      send: (payload) => socket.send(encodeFrame(2, 1, Status.Request, payload), { binary: true }),
      close: async () => {
        socket.terminate();
      },
    };
  }
  if (kind === 'colyseus') {
    const client = new ColyseusClient(`ws://127.0.0.1:${port}`);
    const room = await client.joinOrCreate('echo');
    room.onMessage('e', (message: Uint8Array) => onEcho(Buffer.from(message)));
    return {
      send: (payload) => room.send('e', payload),
      close: async () => {
        await room.leave(true).catch(() => {});
      },
    };
  }
  const connectClient = server.endsWith('@ab') ? abConnect! : connect;
  const client: TidewireClient = await connectClient({
    endpointUrl: `http://127.0.0.1:${port}`,
    uid: `peer-${index}`,
    transport: kind.startsWith('tidewire-udp')
      ? 'udp'
      : kind === 'tidewire-ws' || kind === 'bare-ws-client'
        ? 'ws'
        : 'tcp',
    keepAliveIntervalMs: Number(process.env.PEERS_KEEPALIVE_MS ?? 3_000),
    ...(kind === 'tidewire-udp-ackdelay' ? { ackDelayMs: ACK_DELAY_MS } : {}),
  });
  client.on('response', (message) => onEcho(message.payload));
  const sendOptions = { reliable: kind !== 'tidewire-udp-unreliable' };
  return {
    send: (payload) => {
      client.send(2, 1, payload, sendOptions);
    },
    close: () => client.close(),
  };
}

interface Result {
  kind: Server;
  p50: number;
  p99: number;
  echoed: number;
  cpuShare: number;
  /** CPU of this process (every client of the run) over the measured window, as a share of one core. */
  clientCpuShare: number;
  rssPerClientKB: number;
  /** The same growth of V8's used heap (NaN where the server does not report it). */
  heapPerClientKB: number;
}

/** The server's ports, or an error when it exits first (it failed to start, or taskset refused CPU 1). */
function whenReady(kind: Server, child: ChildProcess): Promise<Ports> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => {
      reject(
        new Error(`bench/peers: the ${kind} server exited before it was ready (${signal ?? code})`),
      );
    };
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as Ports);
    });
  });
}

/** A server running with its clients sending; its measured window is opened and closed from outside. */
interface Running {
  openWindow(): Promise<void>;
  /** The server's figures over the window (clients' CPU is the caller's to add). */
  closeWindow(): Promise<Omit<Result, 'clientCpuShare'>>;
  stop(): Promise<void>;
}

/** A server process: where it listens, its CPU time and RSS, and how to stop it. */
interface ServerProcess {
  ports: Ports;
  /** `afterGc`: RSS after a full GC (bench servers; the reference server reads /proc as it is). */
  stats(afterGc?: boolean): Promise<Stats>;
  stop(): Promise<void>;
}

/** The bench's own server (server.ts), speaking IPC. */
async function launchBenchServer(server: Server): Promise<ServerProcess> {
  const kind = kindOf(server);
  const serverJs = server.endsWith('@ab') ? AB_SERVER_JS! : SERVER_JS;
  const nodeArgs = [
    ...(PROFILE_DIR
      ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${PROFILE_DIR}`]
      : []),
    ...SERVER_NODE_ARGS,
    '--expose-gc',
  ];
  const child = PIN
    ? spawn('taskset', ['-c', '1', process.execPath, ...nodeArgs, serverJs, kind], {
        stdio: ['ignore', serverStdout, 'inherit', 'ipc'],
      })
    : fork(serverJs, [kind], {
        execArgv: nodeArgs,
        stdio: ['ignore', serverStdout, 'inherit', 'ipc'],
      });
  const ports = await whenReady(server, child);
  return {
    ports,
    stats: (afterGc) => stats(child, afterGc),
    async stop() {
      child.send('exit');
      await once(child, 'exit');
    },
  };
}

/**
 * The reference server as `pnpm start` runs it (apps/server's built main.js
 * with its default config, logging to stdout, metrics, HTTP routes, demo
 * commands, TCP and UDP), on free ports; with `metrics` false the same with
 * `metrics.enabled: false`. Its CPU and RSS are read from /proc.
 */
async function launchApp(server: Server, metrics: boolean): Promise<ServerProcess> {
  const appDir = fileURLToPath(new URL('../../apps/server/', import.meta.url));
  const config = JSON.parse(readFileSync(join(appDir, 'config/default.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  config.metrics = { enabled: metrics };
  const configPath = join(
    tmpdir(),
    `tidewire-peers-app-${process.pid}-${metrics ? 'on' : 'off'}.json`,
  );
  writeFileSync(configPath, JSON.stringify(config));
  const args = [
    ...SERVER_NODE_ARGS,
    join(appDir, 'dist/main.js'),
    '--config',
    configPath,
    '--http-port',
    '0',
    '--tcp-port',
    '0',
    '--udp-port',
    '0',
  ];
  const child = PIN
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<Ports>((resolve, reject) => {
    let text = '';
    const onExit = (code: number | null): void =>
      reject(new Error(`bench/peers: ${server} exited before it was ready (${code}): ${errors}`));
    child.once('exit', onExit);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const ready = /tidewire-server ready: http:\/\/[^:]+:(\d+) tcp [^ ]*:(\d+)/.exec(text);
      if (ready === null) return;
      child.off('exit', onExit);
      text = '';
      resolve({ port: Number(ready[1]), tcpPort: Number(ready[2]) });
    });
  });
  // The logs go on (pino writes them to stderr): read and dropped, as a terminal would show them.
  child.stdout!.resume();
  // With taskset, the server is taskset's child (exec'd: the same pid).
  const pid = child.pid!;
  return {
    ports,
    stats: async () => procStats(pid),
    async stop() {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/** CPU time (user + system) and RSS of a process, from /proc. */
function procStats(pid: number): Stats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], fields[12]: utime, stime in clock ticks (100 a second on Linux).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(
    /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0,
  );
  return { cpuMs: ticks * 10, rss: rssKb * 1024 };
}

async function start(server: Server, clients: number): Promise<Running> {
  const kind = kindOf(server);
  const proc =
    kind === 'tidewire-app' || kind === 'tidewire-app-nometrics'
      ? await launchApp(server, kind === 'tidewire-app')
      : await launchBenchServer(server);
  const ready = proc.ports;
  // RSS per idle connection: a warm-up batch of connections is opened and
  // closed first, for every kind alike, so that what any first connection
  // costs once (the upgrade and HTTP code compiled, the heap grown) is in
  // the idle point; both points after a full GC (garbage of the connection
  // steps is not a connection's cost), before any client sends.
  const warmUp = Math.min(RSS_WARMUP_CLIENTS, clients);
  const warm: Driver[] = [];
  for (let i = 0; i < warmUp; i++) warm.push(await open(server, ready, clients + i, () => {}));
  await Promise.all(warm.map((d) => d.close()));
  await new Promise((r) => setTimeout(r, RSS_SETTLE_MS));
  const idle = await proc.stats(true);
  const latencies: number[] = [];
  let measuring = false;
  const drivers: Driver[] = [];
  for (let i = 0; i < clients; i++) {
    drivers.push(
      await open(server, ready, i, (payload) => {
        if (measuring && payload.length >= 8)
          latencies.push(performance.now() - payload.readDoubleBE(0));
      }),
    );
  }
  await new Promise((r) => setTimeout(r, RSS_SETTLE_MS));
  const connected = await proc.stats(true);
  const timers = drivers.map((driver, i) =>
    setTimeout(
      () => {
        timers[i] = setInterval(() => {
          const payload = Buffer.alloc(64);
          payload.writeDoubleBE(performance.now(), 0);
          driver.send(payload);
        }, 1000 / HZ);
      },
      (i * 1000) / HZ / clients,
    ),
  );
  let before: Stats = idle;
  let started = 0;
  return {
    async openWindow() {
      before = await proc.stats();
      started = performance.now();
      measuring = true;
    },
    async closeWindow() {
      measuring = false;
      const after = await proc.stats();
      const elapsed = performance.now() - started;
      const sorted = latencies.sort((a, b) => a - b);
      return {
        kind: server,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        echoed: sorted.length,
        cpuShare: (after.cpuMs - before.cpuMs) / elapsed,
        rssPerClientKB: (connected.rss - idle.rss) / clients / 1024,
        heapPerClientKB:
          ((connected.heapUsed ?? Number.NaN) - (idle.heapUsed ?? Number.NaN)) / clients / 1024,
      };
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.all(drivers.map((d) => d.close()));
      await proc.stop();
    },
  };
}

/**
 * Runs `servers` with `clients` clients each and measures them over the same
 * window: one after another (the default), or all at once with
 * PEERS_TOGETHER=1 (then the clients' CPU is that of all of them).
 */
async function runRound(servers: readonly Server[], clients: number = CLIENTS): Promise<Result[]> {
  const groups = TOGETHER ? [servers] : servers.map((server) => [server]);
  const results: Result[] = [];
  for (const group of groups) {
    const running: Running[] = [];
    for (const server of group) running.push(await start(server, clients));
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    await Promise.all(running.map((r) => r.openWindow()));
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const clientCpu = process.cpuUsage(clientBefore);
    const clientCpuShare =
      (clientCpu.user + clientCpu.system) / 1000 / (performance.now() - started);
    const measured = await Promise.all(running.map((r) => r.closeWindow()));
    for (const m of measured) results.push({ ...m, clientCpuShare });
    const together = measured.reduce((sum, m) => sum + m.cpuShare, 0);
    if (group.length > 1 && PIN && together > 0.8) {
      console.warn(
        `bench/peers: servers running together used ${(together * 100).toFixed(0)}% of CPU 1: they waited for each other; choose fewer servers or clients`,
      );
    }
    await Promise.all(running.map((r) => r.stop()));
  }
  return results;
}

/** Rotating the order from round to round spreads any drift of the machine over every server. */
function rotate<T>(items: readonly T[], round: number): T[] {
  return items.map((_, i) => items[(i + round) % items.length]!);
}

/** The chosen servers, in the order of LABELS; with PEERS_AB_DIR each Tidewire kind twice. */
const kinds: Server[] = (Object.keys(LABELS) as Kind[])
  .filter((kind) => KINDS.includes(kind))
  .flatMap((kind): Server[] =>
    AB_DIR !== undefined && kind.startsWith('tidewire') && !kind.startsWith('tidewire-app')
      ? [kind, `${kind}@ab`]
      : [kind],
  );

/** Medians of several runs of one server. */
function summarize(runs: Result[]): Result {
  return {
    kind: runs[0]!.kind,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    echoed: median(runs.map((r) => r.echoed)),
    cpuShare: median(runs.map((r) => r.cpuShare)),
    clientCpuShare: median(runs.map((r) => r.clientCpuShare)),
    rssPerClientKB: median(runs.map((r) => r.rssPerClientKB)),
    heapPerClientKB: median(runs.map((r) => r.heapPerClientKB)),
  };
}

if (process.env.PEERS_REDRAW === '1') {
  // Charts again from the data of an earlier sweep (after a change of the chart code).
  if (SVG_DIR === undefined) {
    console.error(
      'bench/peers: PEERS_REDRAW=1 needs PEERS_SVG_DIR (the folder of peers-sweep.json)',
    );
    process.exit(2);
  }
  writeCharts(SVG_DIR, JSON.parse(readFileSync(join(SVG_DIR, 'peers-sweep.json'), 'utf8')));
  console.log(`charts redrawn in ${SVG_DIR}`);
  process.exit(0);
}
if (SWEEP.length > 0) {
  await sweep();
  process.exit(0);
}

/**
 * Latency and CPU against the number of clients: each server once per client
 * count (PEERS_SWEEP), a table, and with PEERS_SVG_DIR two charts (p99 and
 * server CPU against clients) and the data behind them as JSON.
 */
async function sweep(): Promise<void> {
  const rows: Array<Result & { clients: number }> = [];
  for (const clients of SWEEP) {
    const runs: Result[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      runs.push(...(await runRound(rotate(kinds, round), clients)));
    }
    for (const kind of kinds) {
      rows.push({ ...summarize(runs.filter((r) => r.kind === kind)), clients });
    }
  }
  console.log(
    `peers sweep (node ${process.version}, ${HZ} Hz, 64 B, ${MEASURE_MS} ms measured after ${WARMUP_MS} ms, median of ${ROUNDS} runs per point, ${PLACEMENT})`,
  );
  console.table(
    rows.map((r) => ({
      clients: r.clients,
      server: r.kind,
      'p50 ms': r.p50.toFixed(2),
      'p99 ms': r.p99.toFixed(2),
      'echoed/expected': `${r.echoed}/${(r.clients * HZ * MEASURE_MS) / 1000}`,
      'server CPU': `${(r.cpuShare * 100).toFixed(1)}%`,
      'clients CPU': `${(r.clientCpuShare * 100).toFixed(0)}%`,
    })),
  );
  if (SVG_DIR === undefined) return;
  writeCharts(SVG_DIR, rows);
  writeFileSync(join(SVG_DIR, 'peers-sweep.json'), `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`charts and data written to ${SVG_DIR}`);
}

/** The p99 and CPU charts of sweep rows (every kind in them, in the order of LABELS). */
function writeCharts(dir: string, rows: Array<Result & { clients: number }>): void {
  mkdirSync(dir, { recursive: true });
  const charted = kinds.filter((kind) => rows.some((r) => r.kind === kind));
  const series = (field: (r: Result) => number): Series[] =>
    charted.map((kind) => ({
      name: labelOf(kind),
      points: rows.filter((r) => r.kind === kind).map((r) => [r.clients, field(r)]),
    }));
  const subtitle = `${HZ} Hz, 64 B echo, 2 cores, Node ${process.version}`;
  writeFileSync(
    join(dir, 'peers-p99.svg'),
    lineChart(
      series((r) => r.p99),
      {
        title: `Round-trip p99 against clients (${subtitle})`,
        xLabel: 'clients',
        yLabel: 'p99 (ms)',
      },
    ),
  );
  writeFileSync(
    join(dir, 'peers-cpu.svg'),
    lineChart(
      series((r) => r.cpuShare * 100),
      {
        title: `Server CPU against clients (${subtitle})`,
        xLabel: 'clients',
        yLabel: 'server CPU (% of one core)',
      },
    ),
  );
}

const rounds: Result[][] = [];
for (let round = 0; round < ROUNDS; round++) {
  rounds.push(await runRound(rotate(kinds, round)));
}
const of = (kind: Server): Result[] =>
  rounds.map((results) => results.find((r) => r.kind === kind)!);
const summary = (kind: Server): Result => summarize(of(kind));
const expected = (CLIENTS * HZ * MEASURE_MS) / 1000;
console.log(
  `peers bench (node ${process.version}, ${CLIENTS} clients at ${HZ} Hz, 64 B, ${MEASURE_MS} ms measured after ${WARMUP_MS} ms, median of ${ROUNDS} rounds, ${PLACEMENT})`,
);
console.table(
  kinds.map(summary).map((r) => ({
    server: r.kind,
    'p50 ms': r.p50.toFixed(2),
    'p99 ms': r.p99.toFixed(2),
    'echoed/expected': `${r.echoed}/${expected}`,
    'server CPU': `${(r.cpuShare * 100).toFixed(1)}%`,
    'RSS per client': `${r.rssPerClientKB.toFixed(1)} KB`,
    'heap per client': Number.isNaN(r.heapPerClientKB) ? '-' : `${r.heapPerClientKB.toFixed(1)} KB`,
    'clients CPU': `${(r.clientCpuShare * 100).toFixed(0)}%`,
    'CPU per round': of(r.kind)
      .map((x) => `${(x.cpuShare * 100).toFixed(1)}`)
      .join(' / '),
  })),
);
/**
 * `ours / theirs` taken within each round: the median over rounds, with the
 * lowest and highest round beside it (absolute CPU moves between rounds, the
 * spread says how far one figure can be trusted).
 */
const perRoundRatios = (
  ours: Server,
  theirs: Server,
  field: 'cpuShare' | 'p50' | 'p99',
): number[] =>
  rounds.map((results) => {
    const a = results.find((r) => r.kind === ours)!;
    const b = results.find((r) => r.kind === theirs)!;
    return a[field] / b[field];
  });
const ratio = (ours: Server, theirs: Server, field: 'cpuShare' | 'p50' | 'p99'): string => {
  const perRound = perRoundRatios(ours, theirs, field);
  const middle = `${median(perRound).toFixed(2)}x`;
  if (perRound.length < 2) return middle;
  return `${middle} (rounds ${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`;
};
if (kinds.includes('bare-udp-acked') && kinds.includes('bare')) {
  console.log(
    `bare-udp-acked: CPU ${ratio('bare-udp-acked', 'bare', 'cpuShare')} bare node:net (the floor of a reliable UDP protocol that answers each echo with an ACK datagram, in Node)`,
  );
}
for (const kind of kinds) {
  if (!kind.startsWith('tidewire')) continue;
  const parts = [
    kinds.includes('bare') ? `CPU ${ratio(kind, 'bare', 'cpuShare')} bare node:net` : '',
    kindOf(kind) === 'tidewire-tcp' && kinds.includes('bare-client')
      ? `${ratio(kind, 'bare-client', 'cpuShare')} bare node:net under the same @tidewire/client clients`
      : '',
    kind === 'tidewire-ws' && kinds.includes('bare-ws')
      ? `CPU ${ratio(kind, 'bare-ws', 'cpuShare')} bare ws`
      : '',
    kindOf(kind) === 'tidewire-ws' && kinds.includes('bare-ws-client')
      ? `${ratio(kind, 'bare-ws-client', 'cpuShare')} bare ws under the same @tidewire/client clients`
      : '',
    kind.startsWith('tidewire-udp') && kinds.includes('bare-udp')
      ? `${ratio(kind, 'bare-udp', 'cpuShare')} bare node:dgram`
      : '',
    (kindOf(kind) === 'tidewire-udp' || kindOf(kind) === 'tidewire-udp-ackdelay') &&
    kinds.includes('bare-udp-acked')
      ? `${ratio(kind, 'bare-udp-acked', 'cpuShare')} bare node:dgram with ACK datagrams`
      : '',
    kinds.includes('colyseus')
      ? `CPU ${ratio(kind, 'colyseus', 'cpuShare')} Colyseus, p99 ${ratio(kind, 'colyseus', 'p99')} Colyseus`
      : '',
    kind === 'tidewire-app' && kinds.includes('tidewire-app-nometrics')
      ? `CPU ${ratio(kind, 'tidewire-app-nometrics', 'cpuShare')} itself with metrics off`
      : '',
    kinds.includes(`${kindOf(kind)}@ab`) && !kind.endsWith('@ab')
      ? `CPU ${ratio(kind, `${kindOf(kind)}@ab`, 'cpuShare')}, p50 ${ratio(kind, `${kindOf(kind)}@ab`, 'p50')} the same server on PEERS_AB_DIR`
      : '',
  ].filter(Boolean);
  if (parts.length > 0) console.log(`${kind}: ${parts.join(', ')}`);
}
// The goals (docs/benchmarks.md), each for the kinds run together with its baseline.
const goalOf = (
  what: string,
  ours: Server,
  theirs: Server,
  field: 'cpuShare' | 'p99',
  target: number,
): Goal[] =>
  kinds.includes(ours) && kinds.includes(theirs)
    ? [{ what, value: median(perRoundRatios(ours, theirs, field)), bound: '<=', target }]
    : [];
printGoals('peers', [
  ...goalOf('tidewire-tcp server CPU / bare node:net', 'tidewire-tcp', 'bare', 'cpuShare', 1.2),
  ...goalOf(
    'tidewire-udp server CPU / bare-udp-acked (the ACKed floor)',
    'tidewire-udp',
    'bare-udp-acked',
    'cpuShare',
    1.2,
  ),
  ...goalOf(
    'tidewire-udp-unreliable server CPU / bare node:dgram',
    'tidewire-udp-unreliable',
    'bare-udp',
    'cpuShare',
    1.2,
  ),
  ...goalOf(
    'tidewire-app (pnpm start) server CPU / bare node:net',
    'tidewire-app',
    'bare',
    'cpuShare',
    1.2,
  ),
  ...goalOf(
    'tidewire-app metrics on / metrics off',
    'tidewire-app',
    'tidewire-app-nometrics',
    'cpuShare',
    1.05,
  ),
  ...goalOf('tidewire-ws server CPU / bare ws', 'tidewire-ws', 'bare-ws', 'cpuShare', 1.15),
  ...goalOf('tidewire-tcp p99 / Colyseus', 'tidewire-tcp', 'colyseus', 'p99', 0.4),
  ...goalOf('tidewire-udp p99 / Colyseus', 'tidewire-udp', 'colyseus', 'p99', 0.4),
  ...goalOf(
    'tidewire-udp-unreliable p99 / Colyseus',
    'tidewire-udp-unreliable',
    'colyseus',
    'p99',
    0.4,
  ),
  ...goalOf('tidewire-ws p99 / Colyseus', 'tidewire-ws', 'colyseus', 'p99', 0.5),
  ...(kinds.includes('tidewire-ws') && kinds.includes('colyseus')
    ? [
        {
          what: 'tidewire-ws RSS per idle connection / Colyseus',
          value: summary('tidewire-ws').rssPerClientKB / summary('colyseus').rssPerClientKB,
          bound: '<=' as const,
          target: 0.5,
        },
      ]
    : []),
]);

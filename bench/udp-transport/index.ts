/**
 * bench/udp-transport: @tidewire/transport-udp against a bare node:dgram echo,
 * in the same run.
 *
 *   node scripts/bench.mjs udp-transport
 *
 * 1. Round trips per second: each client keeps one request (a 64-byte-payload
 *    frame) in flight; the server echoes it (reliable channel), once with the
 *    bare transport (listenUdp echo) and once through @tidewire/server (UDP
 *    sessions, hello, router, an echo handler). Baseline: a bare node:dgram
 *    echo server and clients doing the same with raw datagrams. 1 and 100
 *    clients; rounds alternate the order; medians; ratios against bare
 *    (goal >= 0.65x).
 * 2. Lossy scenario: 100 clients at 20 Hz send a 64 B reliable request, the
 *    server echoes it, through a userspace proxy with 5 ± 2 ms delay each way,
 *    loss-free and then 5% loss each way, and both again with clients that
 *    delay their ACKs 60 ms (`ackDelayMs`: what that costs loss recovery).
 *    Goodput (echoes per second) ratio
 *    lossy / loss-free (goal >= 0.8x), p50/p99 round trip (goal p99 <= 0.8x
 *    ENet's), and connect time through the lossy proxy (goal <= 0.3 s).
 *    ENet 1.3 runs the same scenario through the same proxy in the same
 *    invocation (enet-echo.c, built here when libenet-dev is installed:
 *    `apt-get install -y libenet-dev`; otherwise the ENet figures
 *    are the reference: p50 11 ms, p99 ~47 ms, connect ~1.5 s).
 *
 * The lossy scenario's tail in the session's simulated link, where runs
 * are reproducible: `node --import tsx bench/udp-transport/sim-tail.ts`.
 *
 * BENCH_TIME_MS (default 2000) sets each round-trip round; BENCH_ROUNDS (5)
 * the number of rounds; LOSSY_TIME_MS (5000) each lossy run; LOSSY_ROUNDS (3)
 * the runs of each lossy case (medians reported).
 */

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, Ok } from '@tidewire/server';
import { dialUdp, listenUdp, type UdpConnection, type UdpListener } from '@tidewire/transport-udp';
import { encodeFrame, Status } from '@tidewire/wire';
import { LossyProxy } from '../../packages/transport-udp/test/lossy-proxy.ts';
import { type Goal, printGoals } from '../shared/goal.ts';
import { median, percentile } from '../shared/stats.ts';

const DURATION_MS = Number(process.env.BENCH_TIME_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LOSSY_MS = Number(process.env.LOSSY_TIME_MS ?? 5000);
/** Runs of each lossy case (Tidewire and ENet alternate); the table shows medians. */
const LOSSY_ROUNDS = Number(process.env.LOSSY_ROUNDS ?? 3);
const PAYLOAD = new Uint8Array(64).fill(7);
const REQUEST = encodeFrame(2, 1, Status.Request, PAYLOAD);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bind(socket: Socket, port = 0): Promise<void> {
  return new Promise((resolve) => socket.bind(port, '127.0.0.1', () => resolve()));
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

// --- Tidewire server ---------------------------------------------------------

async function startServer(): Promise<UdpListener> {
  return listenUdp(
    {
      idleTimeoutMs: 30_000,
      authenticate: () => ({ key: null }),
    },
    (connection) => {
      connection.onFrame = (frame) => {
        connection.sendFrame(frame.ver, frame.cmd, Status.Ok, frame.payload);
      };
    },
  );
}

async function dialMany(
  count: number,
  port: number,
  ackDelayMs = 0,
): Promise<{ connections: UdpConnection[]; connectMs: number[] }> {
  const connectMs: number[] = [];
  const connections = await Promise.all(
    Array.from({ length: count }, async () => {
      const started = performance.now();
      const c = await dialUdp({
        host: '127.0.0.1',
        port,
        sid: randomBytes(16),
        idleTimeoutMs: 30_000,
        connectTimeoutMs: 10_000,
        ackDelayMs,
      });
      connectMs.push(performance.now() - started);
      return c;
    }),
  );
  return { connections, connectMs };
}

// --- 1. round trips ----------------------------------------------------------

/**
 * Each connection keeps one REQUEST in flight (the next leaves when the echo
 * arrives); after 200 ms of warm-up, round trips per second over
 * DURATION_MS. Closes the connections.
 */
async function echoRate(connections: UdpConnection[]): Promise<number> {
  let count = 0;
  let running = true;
  for (const c of connections) {
    c.onFrame = () => {
      count++;
      if (running) c.send(REQUEST);
    };
  }
  for (const c of connections) c.send(REQUEST);
  await sleep(200); // warm-up
  const start = count;
  const t0 = performance.now();
  await sleep(DURATION_MS);
  const rate = ((count - start) * 1000) / (performance.now() - t0);
  running = false;
  await Promise.all(connections.map((c) => c.close()));
  return rate;
}

async function tidewireRoundTrips(clients: number): Promise<number> {
  const listener = await startServer();
  const { connections } = await dialMany(clients, listener.port);
  await sleep(100);
  const rate = await echoRate(connections);
  await listener.close({ graceMs: 200 });
  return rate;
}

/**
 * The same round trips through the whole server path: @tidewire/server with
 * a UDP session per client (HTTP session step and hello done before the
 * clock starts), the command router and an echo handler answering Ok.
 */
async function serverRoundTrips(clients: number): Promise<number> {
  const server = createServer({
    config: {
      http: { port: 0 },
      udp: { port: 0, connectionTTL: 30 },
      commands: { maxQueuedCommands: 4096 },
    },
    env: {},
  });
  await server.setupAsUDPServer();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  await server.start();
  const connections = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const res = await fetch(
        `http://127.0.0.1:${server.httpPort}/v1/endpoint/udp/user/bench-${i}`,
      );
      const session = (await res.json()) as { sid: string; port: number };
      const sid = Buffer.from(session.sid, 'hex');
      const c = await dialUdp({
        host: '127.0.0.1',
        port: session.port,
        sid,
        idleTimeoutMs: 30_000,
      });
      await new Promise<void>((resolve) => {
        c.onFrame = () => resolve();
        c.send(encodeFrame(0, 4, Status.Request, sid));
      });
      return c;
    }),
  );
  const rate = await echoRate(connections);
  await server.close();
  return rate;
}

async function bareRoundTrips(clients: number): Promise<number> {
  const server = createSocket('udp4');
  await bind(server);
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  const port = server.address().port;
  let count = 0;
  let running = true;
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < clients; i++) {
    const socket = createSocket('udp4');
    await bind(socket);
    socket.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let last = performance.now();
    socket.on('message', () => {
      count++;
      last = performance.now();
      if (running) socket.send(REQUEST);
    });
    // a lost datagram would stall this client: resend after 50 ms of silence
    timers.push(
      setInterval(() => {
        if (running && performance.now() - last > 50) socket.send(REQUEST);
      }, 50),
    );
    sockets.push(socket);
  }
  for (const s of sockets) s.send(REQUEST);
  await sleep(200);
  const start = count;
  const t0 = performance.now();
  await sleep(DURATION_MS);
  const rate = ((count - start) * 1000) / (performance.now() - t0);
  running = false;
  for (const t of timers) clearInterval(t);
  await sleep(20);
  await Promise.all(sockets.map(closeSocket));
  await closeSocket(server);
  return rate;
}

const rtRows: Record<string, string>[] = [];
const goals: Goal[] = [];
for (const clients of [1, 100]) {
  const ours: number[] = [];
  const served: number[] = [];
  const bare: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      bare.push(await bareRoundTrips(clients));
      ours.push(await tidewireRoundTrips(clients));
      served.push(await serverRoundTrips(clients));
    } else {
      served.push(await serverRoundTrips(clients));
      ours.push(await tidewireRoundTrips(clients));
      bare.push(await bareRoundTrips(clients));
    }
  }
  const o = median(ours);
  const v = median(served);
  const b = median(bare);
  rtRows.push({
    clients: String(clients),
    'transport RT/s': Math.round(o).toLocaleString('en-US'),
    'server RT/s': Math.round(v).toLocaleString('en-US'),
    'bare dgram RT/s': Math.round(b).toLocaleString('en-US'),
    'transport ratio': `${(o / b).toFixed(2)}x`,
    'server ratio': `${(v / b).toFixed(2)}x`,
  });
  const who = `${clients} client${clients === 1 ? '' : 's'}`;
  goals.push(
    { what: `${who}: transport / bare dgram round trips`, value: o / b, bound: '>=', target: 0.65 },
    { what: `${who}: server / bare dgram round trips`, value: v / b, bound: '>=', target: 0.65 },
  );
}

// --- 2. lossy scenario -------------------------------------------------------

interface LossyResult {
  echoesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  connectP50: number;
  connectP99: number;
  connectMax: number;
  retransmits: number;
  serverRetransmits: number;
  dropped: number;
}

/** `ackDelayMs` of the clients (the server answers at once, its ACKs ride with the echoes). */
async function lossyRun(loss: number, seed: number, ackDelayMs = 0): Promise<LossyResult> {
  const listener = await startServer();
  const link = { loss, delayMs: 3, jitterMs: 4 };
  const proxy = await LossyProxy.start({
    target: { host: '127.0.0.1', port: listener.port },
    seed,
    up: link,
    down: link,
  });
  const { connections, connectMs } = await dialMany(100, proxy.port, ackDelayMs);
  const latencies: number[] = [];
  let measuring = false;
  let echoes = 0;
  let seq = 0;
  const sentAt = new Map<number, number>();
  for (const c of connections) {
    c.onFrame = (frame) => {
      const id = frame.payload.readUInt32BE(0);
      const t = sentAt.get(id);
      sentAt.delete(id);
      if (t !== undefined && measuring) {
        latencies.push(performance.now() - t);
        echoes++;
      }
    };
  }
  const payload = Buffer.alloc(64);
  const timers = connections.map((c, i) => {
    const start = setTimeout(() => {
      timers[i] = setInterval(() => {
        const id = seq++;
        payload.writeUInt32BE(id, 0);
        sentAt.set(id, performance.now());
        c.sendFrame(2, 1, Status.Request, payload);
      }, 50);
    }, Math.random() * 50);
    return start;
  });
  await sleep(1000); // warm-up: RTT estimates settle
  measuring = true;
  const t0 = performance.now();
  await sleep(LOSSY_MS);
  const elapsed = performance.now() - t0;
  for (const t of timers) clearInterval(t);
  await sleep(500); // let late echoes of measured requests arrive
  measuring = false;
  const retransmits = connections.reduce((n, c) => n + c.stats().retransmits, 0);
  // with delayed client ACKs, the server's retransmissions are the ones that change
  let serverRetransmits = 0;
  for (const c of listener.connections) serverRetransmits += c.stats().retransmits;
  await Promise.all(connections.map((c) => c.close()));
  await listener.close({ graceMs: 200 });
  await proxy.close();
  latencies.sort((a, b) => a - b);
  connectMs.sort((a, b) => a - b);
  return {
    echoesPerSecond: (echoes * 1000) / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
    connectP50: percentile(connectMs, 50),
    connectP99: percentile(connectMs, 99),
    connectMax: connectMs[connectMs.length - 1] ?? Number.NaN,
    retransmits,
    serverRetransmits,
    dropped: proxy.counters.dropped,
  };
}

// --- ENet 1.3 on the same scenario, when libenet-dev is installed -----------

/** Builds enet-echo.c into a temporary folder; null (with the reason printed) when it cannot be built. */
function buildEnetEcho(): string | null {
  if (!existsSync('/usr/include/enet/enet.h')) {
    console.log('ENet: skipped: libenet-dev is not installed (apt-get install -y libenet-dev)');
    return null;
  }
  const source = fileURLToPath(new URL('./enet-echo.c', import.meta.url));
  const binary = join(mkdtempSync(join(tmpdir(), 'tidewire-enet-')), 'enet-echo');
  const built = spawnSync('cc', ['-O2', '-o', binary, source, '-lenet'], { encoding: 'utf8' });
  if (built.status !== 0) {
    console.log(
      `ENet: skipped: enet-echo.c did not build: ${built.error?.message ?? built.stderr}`,
    );
    return null;
  }
  return binary;
}

/** The lossy scenario with ENet's own echo server and clients (enet-echo.c) through the same proxy. */
async function enetRun(binary: string, loss: number, seed: number): Promise<LossyResult> {
  const server = spawn(binary, ['server'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  const port = Number(first.split(' ')[1]);
  const link = { loss, delayMs: 3, jitterMs: 4 };
  const proxy = await LossyProxy.start({
    target: { host: '127.0.0.1', port },
    seed,
    up: link,
    down: link,
  });
  const client = spawn(
    binary,
    ['client', '127.0.0.1', String(proxy.port), '100', '20', '1000', String(LOSSY_MS)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  client.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(client, 'exit')) as [number | null];
  const dropped = proxy.counters.dropped;
  await proxy.close();
  server.stdin!.end();
  await once(server, 'exit');
  if (code !== 0) throw new Error(`enet-echo client exited with ${code}`);
  const result = JSON.parse(output) as Omit<
    LossyResult,
    'retransmits' | 'serverRetransmits' | 'dropped'
  >;
  return { ...result, retransmits: Number.NaN, serverRetransmits: Number.NaN, dropped };
}

/** Medians, field by field, of several runs of one case. */
function medianResult(runs: LossyResult[]): LossyResult {
  const of = (field: keyof LossyResult): number => median(runs.map((r) => r[field]));
  return {
    echoesPerSecond: of('echoesPerSecond'),
    p50: of('p50'),
    p99: of('p99'),
    max: of('max'),
    connectP50: of('connectP50'),
    connectP99: of('connectP99'),
    connectMax: of('connectMax'),
    retransmits: of('retransmits'),
    serverRetransmits: of('serverRetransmits'),
    dropped: of('dropped'),
  };
}

const enetBinary = buildEnetEcho();
/** Clients that delay their ACKs up to 60 ms (above their 50 ms between requests): what loss recovery costs then. */
const LOSSY_ACK_DELAY_MS = 60;
const runs = {
  clean: [] as LossyResult[],
  lossy: [] as LossyResult[],
  delayedClean: [] as LossyResult[],
  delayedLossy: [] as LossyResult[],
};
const enetRuns = { clean: [] as LossyResult[], lossy: [] as LossyResult[] };
for (let round = 0; round < LOSSY_ROUNDS; round++) {
  // The same proxy seeds every round: the runs differ only by timing.
  runs.clean.push(await lossyRun(0, 1));
  runs.lossy.push(await lossyRun(0.05, 2));
  runs.delayedClean.push(await lossyRun(0, 1, LOSSY_ACK_DELAY_MS));
  runs.delayedLossy.push(await lossyRun(0.05, 2, LOSSY_ACK_DELAY_MS));
  if (enetBinary !== null) {
    enetRuns.clean.push(await enetRun(enetBinary, 0, 1));
    enetRuns.lossy.push(await enetRun(enetBinary, 0.05, 2));
  }
}
const clean = medianResult(runs.clean);
const lossy = medianResult(runs.lossy);
const delayedClean = medianResult(runs.delayedClean);
const delayedLossy = medianResult(runs.delayedLossy);
const enetClean = enetBinary === null ? null : medianResult(enetRuns.clean);
const enetLossy = enetBinary === null ? null : medianResult(enetRuns.lossy);

console.log(
  `udp-transport bench (node ${process.version}, median of ${ROUNDS} rounds of ${DURATION_MS} ms)`,
);
console.log('\nReliable echo round trips per second (one request in flight per client):');
console.table(rtRows);
console.log(
  `\nLossy scenario: 100 clients x 20 Hz x 64 B reliable echo, 5 ± 2 ms each way, ${LOSSY_MS} ms measured, medians of ${LOSSY_ROUNDS} runs:`,
);
const ms = (v: number): string => `${v.toFixed(1)} ms`;
console.table(
  (
    [
      ['Tidewire, loss-free', clean],
      ['Tidewire, 5% loss each way', lossy],
      [`Tidewire, clients ackDelayMs ${LOSSY_ACK_DELAY_MS}, loss-free`, delayedClean],
      [`Tidewire, clients ackDelayMs ${LOSSY_ACK_DELAY_MS}, 5% loss each way`, delayedLossy],
      ['ENet 1.3, loss-free', enetClean],
      ['ENet 1.3, 5% loss each way', enetLossy],
    ] as Array<[string, LossyResult | null]>
  )
    .filter((row): row is [string, LossyResult] => row[1] !== null)
    .map(([name, x]) => {
      return {
        link: name,
        'echoes/s': Math.round(x.echoesPerSecond),
        p50: ms(x.p50),
        p99: ms(x.p99),
        max: ms(x.max),
        'connect p50': ms(x.connectP50),
        'connect p99': ms(x.connectP99),
        'connect max': ms(x.connectMax),
        retransmits: Number.isNaN(x.retransmits) ? '-' : x.retransmits,
        'server retransmits': Number.isNaN(x.serverRetransmits) ? '-' : x.serverRetransmits,
        'proxy drops': x.dropped,
      };
    }),
);
/** ENet 1.3.17's p99 under the same loss, recorded before ENet was built here. */
const RECORDED_ENET_LOSSY_P99_MS = 47;
if (enetLossy !== null) {
  console.log(
    `ENet in this run: p99 under loss ${ms(enetLossy.p99)}, connect max ${ms(enetLossy.connectMax)}`,
  );
} else {
  console.log(
    `ENet not built (apt-get install -y libenet-dev): p99 under loss compared with the recorded ${RECORDED_ENET_LOSSY_P99_MS} ms`,
  );
}
goals.push(
  {
    what: 'goodput lossy / loss-free',
    value: lossy.echoesPerSecond / clean.echoesPerSecond,
    bound: '>=',
    target: 0.8,
  },
  {
    what: `p99 under 5% loss / ENet's (${enetLossy !== null ? 'this run' : 'recorded'})`,
    value: lossy.p99 / (enetLossy?.p99 ?? RECORDED_ENET_LOSSY_P99_MS),
    bound: '<=',
    target: 0.8,
  },
  {
    what: 'connect max through the lossy proxy',
    value: lossy.connectMax,
    bound: '<=',
    target: 300,
    format: ms,
  },
);
printGoals('udp-transport', goals);

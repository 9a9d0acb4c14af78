/**
 * bench/peers: the same game-like workload against Colyseus 0.16, Tidewire
 * (TCP and UDP) and a bare node:net echo, in the same run: PEERS_CLIENTS
 * clients (500) each sending a 64-byte message PEERS_HZ times a second (20)
 * that the server echoes; round-trip p50/p99, and the server's CPU (share
 * of one core) and RSS per client, each server in its own process.
 *
 *   pnpm install --ignore-workspace --dir bench/peers   (once: the peer frameworks)
 *   node scripts/bench.mjs peers
 *
 * The peer frameworks live in this folder's own package.json, outside the
 * workspace, so no Tidewire package ever depends on them.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, type TidewireClient } from '@tidewire/client';
import { encodeFrame, HEADER_SIZE, Status } from '@tidewire/wire';
import { handFramer } from '../shared/net-echo.ts';

const CLIENTS = Number(process.env.PEERS_CLIENTS ?? 500);
const HZ = Number(process.env.PEERS_HZ ?? 20);
const MEASURE_MS = Number(process.env.PEERS_TIME_MS ?? 10_000);
const WARMUP_MS = 2_000;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

if (!existsSync(here('./node_modules/@colyseus/core'))) {
  console.log(
    'bench/peers: skipped: run `pnpm install --ignore-workspace --dir bench/peers` first',
  );
  process.exit(0);
}
const { Client: ColyseusClient } = await import('colyseus.js');

type Kind = 'bare' | 'tidewire-tcp' | 'tidewire-udp' | 'colyseus';

/** One client as the bench drives it: send a payload, get echoes. */
interface Driver {
  send(payload: Buffer): void;
  close(): Promise<void>;
}

interface Stats {
  cpuMs: number;
  rss: number;
}

async function stats(child: ChildProcess): Promise<Stats> {
  child.send('stats');
  const [message] = (await once(child, 'message')) as [Stats];
  return message;
}

async function open(
  kind: Kind,
  port: number,
  index: number,
  onEcho: (payload: Buffer) => void,
): Promise<Driver> {
  if (kind === 'bare') {
    const socket: Socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
    await once(socket, 'connect');
    socket.on(
      'data',
      handFramer((chunk, start, end) => onEcho(chunk.subarray(start + HEADER_SIZE, end))),
    );
    return {
      send: (payload) => socket.write(encodeFrame(2, 1, Status.Request, payload)),
      close: async () => {
        socket.destroy();
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
  const client: TidewireClient = await connect({
    endpointUrl: `http://127.0.0.1:${port}`,
    uid: `peer-${index}`,
    transport: kind === 'tidewire-udp' ? 'udp' : 'tcp',
    keepAliveIntervalMs: 3_000,
  });
  client.on('response', (message) => onEcho(message.payload));
  return {
    send: (payload) => {
      client.send(2, 1, payload);
    },
    close: () => client.close(),
  };
}

interface Result {
  kind: Kind;
  p50: number;
  p99: number;
  echoed: number;
  cpuShare: number;
  rssPerClientKB: number;
}

async function run(kind: Kind): Promise<Result> {
  const child = fork(here('./server.ts'), [kind], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  const idle = await stats(child);
  const latencies: number[] = [];
  let measuring = false;
  const drivers: Driver[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    drivers.push(
      await open(kind, ready.port, i, (payload) => {
        if (measuring && payload.length >= 8)
          latencies.push(performance.now() - payload.readDoubleBE(0));
      }),
    );
  }
  const connected = await stats(child);
  const timers = drivers.map((driver, i) =>
    setTimeout(
      () => {
        timers[i] = setInterval(() => {
          const payload = Buffer.alloc(64);
          payload.writeDoubleBE(performance.now(), 0);
          driver.send(payload);
        }, 1000 / HZ);
      },
      (i * 1000) / HZ / CLIENTS,
    ),
  );
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const before = await stats(child);
  const started = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  measuring = false;
  const after = await stats(child);
  const elapsed = performance.now() - started;
  for (const t of timers) clearInterval(t);
  await Promise.all(drivers.map((d) => d.close()));
  child.send('exit');
  await once(child, 'exit');
  const sorted = latencies.sort((a, b) => a - b);
  const pick = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  return {
    kind,
    p50: pick(50),
    p99: pick(99),
    echoed: sorted.length,
    cpuShare: (after.cpuMs - before.cpuMs) / elapsed,
    rssPerClientKB: (connected.rss - idle.rss) / CLIENTS / 1024,
  };
}

const results: Result[] = [];
for (const kind of ['bare', 'tidewire-tcp', 'tidewire-udp', 'colyseus'] as const)
  results.push(await run(kind));
const expected = (CLIENTS * HZ * MEASURE_MS) / 1000;
console.log(
  `peers bench (node ${process.version}, ${CLIENTS} clients at ${HZ} Hz, 64 B, ${MEASURE_MS} ms measured after ${WARMUP_MS} ms)`,
);
console.table(
  results.map((r) => ({
    server: r.kind,
    'p50 ms': r.p50.toFixed(2),
    'p99 ms': r.p99.toFixed(2),
    'echoed/expected': `${r.echoed}/${expected}`,
    'server CPU': `${(r.cpuShare * 100).toFixed(1)}%`,
    'RSS per client': `${r.rssPerClientKB.toFixed(1)} KB`,
  })),
);
const by = (kind: Kind): Result => results.find((r) => r.kind === kind)!;
for (const kind of ['tidewire-tcp', 'tidewire-udp'] as const) {
  const r = by(kind);
  console.log(
    `${kind}: CPU ${(r.cpuShare / by('bare').cpuShare).toFixed(2)}x bare (goal <= 1.2x), ${(r.cpuShare / by('colyseus').cpuShare).toFixed(2)}x Colyseus; p99 ${(r.p99 / by('colyseus').p99).toFixed(2)}x Colyseus (goal <= 0.4x)`,
  );
}

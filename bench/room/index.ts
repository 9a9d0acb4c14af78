/**
 * bench/room: a 16-member room where every member broadcasts at 20 Hz, the
 * members spread over 2 server nodes sharing a redis-server (the room on one
 * of them): per-message delivery latency (p50/p99) and messages delivered per
 * second, against a bare node:net server relaying the same traffic among 16
 * sockets in the same run.
 *
 * Rounds alternate (tidewire, bare, tidewire, ...); each figure is the
 * median over the rounds. Latencies are also split by mesh hops (0: sender
 * and receiver on the room's node; 1: one of them elsewhere; 2: both).
 *
 *   node scripts/bench.mjs room   (BENCH_TIME_MS per round, default 5000; BENCH_ROUNDS, default 3)
 */

import { once } from 'node:events';
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { connect, type TidewireClient } from '@tidewire/client';
import { RedisMesh } from '@tidewire/mesh';
import { installRooms, RoomCommand, RoomEvent } from '@tidewire/room';
import { createServer, type TidewireServer } from '@tidewire/server';
import { encodeFrame, pack, Status, unpack } from '@tidewire/wire';
import { startRedis } from '../../packages/mesh/test/redis-server.ts';
import { printGoals } from '../shared/goal.ts';
import { handFramer } from '../shared/net-echo.ts';
import { median, percentile } from '../shared/stats.ts';

const MEMBERS = 16;
const HZ = 20;
const DURATION_MS = Number(process.env.BENCH_TIME_MS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const now = (): number => performance.now();

interface Result {
  delivered: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** Tidewire only: p50/p99 by mesh hops (0: sender and receiver on the room's node; 1; 2). */
  byHops?: { hops: number; count: number; p50: number; p99: number }[];
}

function summarise(latencies: number[], elapsedMs: number): Result {
  const sorted = latencies.sort((a, b) => a - b);
  return {
    delivered: sorted.length,
    perSecond: (sorted.length * 1000) / elapsedMs,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

async function tidewire(redisUrl: string): Promise<Result> {
  const nodes: TidewireServer[] = [];
  for (const id of ['room-a', 'room-b']) {
    const server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0 } },
      mesh: new RedisMesh({ url: redisUrl, nodeId: id, keyPrefix: 'bench-room:' }),
      env: {},
    });
    await server.setupAsTCPServer();
    installRooms(server);
    await server.start();
    nodes.push(server);
  }
  const clients: TidewireClient[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    // Alternate the nodes: the other one is TAKEN while a member connects.
    const [here, there] = i % 2 === 0 ? [nodes[0]!, nodes[1]!] : [nodes[1]!, nodes[0]!];
    there.taken();
    clients.push(
      await connect({
        endpointUrl: `http://127.0.0.1:${here.httpPort}`,
        uid: `m${i}`,
        keepAliveIntervalMs: 0,
      }),
    );
    there.online();
  }
  const call = async (
    c: TidewireClient,
    cmd: number,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> => unpack((await c.request(1, cmd, pack(body))).payload);
  const { roomId } = (await call(clients[0]!, RoomCommand.Create, { maxMembers: MEMBERS })) as {
    roomId: string;
  };
  for (const c of clients.slice(1)) await call(c, RoomCommand.Join, { roomId });
  const latencies: number[] = [];
  const byHops: number[][] = [[], [], []];
  let measuring = false;
  // The room lives on nodes[0], where the even members are.
  const hopsOf = (member: number): number => (member % 2 === 0 ? 0 : 1);
  clients.forEach((c, receiver) => {
    c.on('push', ({ ver, cmd, payload }) => {
      if (ver !== 1 || cmd !== RoomEvent.Message || !measuring) return;
      const { data } = unpack<{ data: Uint8Array }>(payload);
      const bytes = Buffer.from(data);
      const latency = now() - bytes.readDoubleBE(0);
      latencies.push(latency);
      byHops[hopsOf(bytes.readUInt8(8)) + hopsOf(receiver)]!.push(latency);
    });
  });
  const timers = clients.map((c, i) =>
    setTimeout(
      () => {
        const tick = setInterval(() => {
          const data = Buffer.alloc(64);
          data.writeDoubleBE(now(), 0);
          data.writeUInt8(i, 8);
          c.send(1, RoomCommand.Broadcast, pack({ roomId, data }));
        }, 1000 / HZ);
        timers[i] = tick;
      },
      (i * 1000) / HZ / MEMBERS,
    ),
  );
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  measuring = true;
  const started = now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  const elapsed = now() - started;
  for (const t of timers) clearInterval(t);
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(nodes.map((n) => n.close()));
  return {
    ...summarise(latencies, elapsed),
    byHops: byHops.map((list, hops) => {
      const r = summarise(list, elapsed);
      return { hops, count: r.delivered, p50: r.p50, p99: r.p99 };
    }),
  };
}

async function bare(): Promise<Result> {
  const sockets: Socket[] = [];
  const server = createNetServer({ noDelay: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on(
      'data',
      handFramer((chunk, start, end) => {
        const frame = chunk.subarray(start, end);
        for (const other of sockets) if (other !== socket) other.write(frame);
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const latencies: number[] = [];
  let measuring = false;
  const clients: Socket[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const c = netConnect({ host: '127.0.0.1', port, noDelay: true });
    await once(c, 'connect');
    c.on(
      'data',
      handFramer((chunk, start) => {
        if (measuring) latencies.push(now() - chunk.readDoubleBE(start + 10));
      }),
    );
    clients.push(c);
  }
  const timers = clients.map((c) =>
    setInterval(() => {
      const data = Buffer.alloc(64);
      data.writeDoubleBE(now(), 0);
      c.write(encodeFrame(1, RoomEvent.Message, Status.Push, data));
    }, 1000 / HZ),
  );
  await new Promise((r) => setTimeout(r, 500));
  measuring = true;
  const started = now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  const elapsed = now() - started;
  for (const t of timers) clearInterval(t);
  for (const c of clients) c.destroy();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return summarise(latencies, elapsed);
}

/** The per-round results, field by field, reduced to their medians. */
function medianResult(results: Result[]): Result {
  const pick = (f: (r: Result) => number): number => median(results.map(f));
  const merged: Result = {
    delivered: pick((r) => r.delivered),
    perSecond: pick((r) => r.perSecond),
    p50: pick((r) => r.p50),
    p99: pick((r) => r.p99),
  };
  const hops = results[0]?.byHops;
  if (hops !== undefined) {
    merged.byHops = hops.map((_, i) => ({
      hops: i,
      count: pick((r) => r.byHops?.[i]?.count ?? 0),
      p50: pick((r) => r.byHops?.[i]?.p50 ?? Number.NaN),
      p99: pick((r) => r.byHops?.[i]?.p99 ?? Number.NaN),
    }));
  }
  return merged;
}

const redis = await startRedis();
try {
  // Alternating rounds, medians: the machine's noise hits both sides alike.
  const oursRounds: Result[] = [];
  const baseRounds: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    oursRounds.push(await tidewire(redis.url));
    baseRounds.push(await bare());
  }
  const ours = medianResult(oursRounds);
  const base = medianResult(baseRounds);
  const row = (r: Result): Record<string, string> => ({
    'delivered/s': Math.round(r.perSecond).toLocaleString('en-US'),
    'p50 ms': r.p50.toFixed(2),
    'p99 ms': r.p99.toFixed(2),
  });
  console.log(
    `room bench (node ${process.version}, ${MEMBERS} members at ${HZ} Hz, ${ROUNDS} alternating rounds of ${DURATION_MS} ms, medians)`,
  );
  console.table({
    'tidewire room, 2 nodes on Redis': row(ours),
    'bare node:net relay, 1 process': row(base),
  });
  for (const h of ours.byHops ?? []) {
    console.log(
      `  tidewire, ${h.hops} mesh hop(s): ${h.count} deliveries per round, p50 ${h.p50.toFixed(2)} ms, p99 ${h.p99.toFixed(2)} ms`,
    );
  }
  console.log(
    `p50 ratio tidewire / bare: ${(ours.p50 / base.p50).toFixed(2)}x; p99 ratio: ${(ours.p99 / base.p99).toFixed(2)}x; delivered/s ratio: ${(ours.perSecond / base.perSecond).toFixed(2)}x`,
  );
  printGoals('room', []);
} finally {
  await redis.stop();
}

/**
 * bench/notify: time until N connected users have received one notification
 * (p50/p99 of per-user delivery latency from the notify call), through
 * @tidewire/server (notifier, filter-free, one encoded frame per user), against
 * a bare node:net server writing the same frame to the same number of idle
 * sockets in a loop, in the same run. The clients live in a child process
 * (file descriptors), so times are compared across processes with
 * performance.timeOrigin.
 *
 * Then the same across a cluster: 3 server nodes on one redis-server (in this
 * process, each with its own RedisMesh), the users spread over them by the
 * session endpoint, the notification sent from one node.
 *
 *   node scripts/bench.mjs notify          (BENCH_USERS=10000 by default)
 */

import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RedisMesh } from '@tidewire/mesh';
import { createServer, type TidewireServer } from '@tidewire/server';
import { CORE_VER, CoreCommand, encodeFrame, pack, Status } from '@tidewire/wire';
import { startRedis } from '../../packages/mesh/test/redis-server.ts';
import { msText, printGoals } from '../shared/goal.ts';
import { median, percentile } from '../shared/stats.ts';

const USERS = Number(process.env.BENCH_USERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CLIENTS = fileURLToPath(new URL('./clients.ts', import.meta.url));
const now = (): number => performance.timeOrigin + performance.now();

interface Result {
  p50: number;
  p99: number;
  max: number;
}

async function runClients(endpoint: string, send: () => Promise<void> | void): Promise<Result> {
  const child: ChildProcess = fork(CLIENTS, [endpoint, String(USERS)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ ready?: boolean }];
  if (!ready.ready) throw new Error('clients not ready');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const received = once(child, 'message') as Promise<[{ arrivals: number[] }]>;
  const started = now();
  await send();
  const [{ arrivals }] = await received;
  child.send({ exit: true });
  await once(child, 'exit');
  const latencies = arrivals.map((t) => t - started).sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! };
}

async function tidewireRound(round: number): Promise<Result> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0, connectionTTL: 120 } },
  });
  await server.setupAsTCPServer();
  server.enableNotifications();
  await server.start();
  try {
    return await runClients(`http://127.0.0.1:${server.httpPort}`, async () => {
      await server.notify({
        id: `bench-${round}`,
        name: 'bench',
        ver: 0,
        cmd: 400,
        message: Buffer.from('maintenance at 04:00 UTC'),
        ttlMs: 60_000,
      });
    });
  } finally {
    await server.close();
  }
}

async function bareRound(round: number): Promise<Result> {
  const sockets = new Set<Socket>();
  const server = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const frame = encodeFrame(
    CORE_VER,
    CoreCommand.Notification,
    Status.Push,
    pack({ id: `bench-${round}`, name: 'bench', message: Buffer.from('maintenance at 04:00 UTC') }),
  );
  try {
    return await runClients(`bare:${(server.address() as AddressInfo).port}`, () => {
      for (const socket of sockets) socket.write(frame);
    });
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function clusterRound(round: number, redisUrl: string): Promise<Result> {
  const nodes: TidewireServer[] = [];
  for (const id of ['n1', 'n2', 'n3']) {
    const server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0, connectionTTL: 120 } },
      mesh: new RedisMesh({ url: redisUrl, nodeId: id, keyPrefix: `bench-notify-${round}:` }),
      env: {},
    });
    await server.setupAsTCPServer();
    server.enableNotifications();
    await server.start();
    nodes.push(server);
  }
  try {
    return await runClients(`http://127.0.0.1:${nodes[0]!.httpPort}`, async () => {
      await nodes[0]!.notify({
        id: `bench-cluster-${round}`,
        name: 'bench',
        ver: 0,
        cmd: 400,
        message: Buffer.from('maintenance at 04:00 UTC'),
        ttlMs: 60_000,
      });
    });
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

const ours: Result[] = [];
const bare: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  if (round % 2 === 0) {
    ours.push(await tidewireRound(round));
    bare.push(await bareRound(round));
  } else {
    bare.push(await bareRound(round));
    ours.push(await tidewireRound(round));
  }
}
const summary = (list: Result[]): Record<string, string> => ({
  'p50 ms': median(list.map((r) => r.p50)).toFixed(1),
  'p99 ms': median(list.map((r) => r.p99)).toFixed(1),
  'max ms': median(list.map((r) => r.max)).toFixed(1),
});
console.log(`notify bench (node ${process.version}, ${USERS} users, median of ${ROUNDS} rounds)`);
console.table({ 'tidewire notify': summary(ours), 'bare node:net writes': summary(bare) });
const oneNodeP99 = median(ours.map((r) => r.p99));
const ratio = oneNodeP99 / median(bare.map((r) => r.p99));
console.log(`p99 ratio tidewire / bare: ${ratio.toFixed(2)}x`);

let clusterP99 = Number.NaN;
const redis = await startRedis();
try {
  const cluster: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) cluster.push(await clusterRound(round, redis.url));
  console.log(`\nacross 3 nodes through Redis (${USERS} users spread over the nodes)`);
  console.table({
    'tidewire notify, 3 nodes': summary(cluster),
    'bare node:net writes, 1 process': summary(bare),
  });
  clusterP99 = median(cluster.map((r) => r.p99));
  const clusterRatio = clusterP99 / median(bare.map((r) => r.p99));
  console.log(`p99 ratio cluster / bare: ${clusterRatio.toFixed(2)}x`);
} finally {
  await redis.stop();
}
// The goals are set for 10,000 users; a run with BENCH_USERS says how many it had.
const forUsers = USERS === 10_000 ? '10,000 users' : `${USERS} users (the goal is set for 10,000)`;
printGoals('notify', [
  {
    what: `p99 to ${forUsers} on 1 node`,
    value: oneNodeP99,
    bound: '<=',
    target: 50,
    format: msText,
  },
  {
    what: `p99 to ${forUsers} across 3 nodes`,
    value: clusterP99,
    bound: '<=',
    target: 150,
    format: msText,
  },
]);

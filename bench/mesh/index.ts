/**
 * bench/mesh: node-to-node messages through Redis pub/sub with two RedisMesh
 * instances (A sends with sendToNode, B receives), against the publish rate
 * `redis-benchmark` reaches on the same redis-server in the same run (50
 * clients, PUBLISH of a payload of the same size to a channel with one
 * subscriber, a `redis-cli subscribe`). Rounds alternate and medians are
 * compared. Also: p50/p99 latency under load (256 in flight) and unloaded (one
 * in flight), and the rate of acknowledged sendToUser.
 *
 *   node scripts/bench.mjs mesh
 *
 * Needs redis-server, redis-benchmark and redis-cli on PATH.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type NodeRegistration, RedisMesh } from '@tidewire/mesh';
import { startRedis } from '../../packages/mesh/test/redis-server.ts';
import { printGoals } from '../shared/goal.ts';
import { median, percentile } from '../shared/stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 50_000);
const WINDOW = 256;
const PAYLOAD_BYTES = 100;
const UNLOADED = 3000;

const redis = await startRedis();
const nodeInfo = (id: string): NodeRegistration => ({
  id,
  role: 'tcp',
  internalAddress: '127.0.0.1:0',
  publicHost: '127.0.0.1',
  publicPort: 7000,
  state: 'ONLINE',
  ccu: 0,
  load: 0,
});
const a = new RedisMesh({ url: redis.url, nodeId: 'bench-a', keyPrefix: 'bench:' });
const b = new RedisMesh({ url: redis.url, nodeId: 'bench-b', keyPrefix: 'bench:' });
await a.start();
await b.start();
await a.registerNode(nodeInfo('bench-a'));
await b.registerNode(nodeInfo('bench-b'));

// B records one-way latency from the send time A writes in the payload (same process, same clock).
let received = 0;
let latencies = new Float64Array(0);
let onReceived: (() => void) | null = null;
b.onMessage((message) => {
  const sentAt = Buffer.from(message.payload.buffer, message.payload.byteOffset, 8).readDoubleLE(0);
  if (received < latencies.length) latencies[received] = performance.now() - sentAt;
  received++;
  onReceived?.();
});

const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);

/** Sends `count` messages A → B with `window` in flight; resolves with msgs/s and the latencies. */
async function meshRun(
  count: number,
  window: number,
): Promise<{ rate: number; lat: Float64Array }> {
  received = 0;
  latencies = new Float64Array(count);
  let sent = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (sent < count && sent - received < window) {
        payload.writeDoubleLE(performance.now(), 0);
        sent++;
        a.sendToNode('bench-b', 'bench', payload).catch(reject);
      }
    };
    onReceived = () => {
      if (received === count) resolve();
      else pump();
    };
    pump();
  });
  onReceived = null;
  const elapsed = (performance.now() - started) / 1000;
  return { rate: count / elapsed, lat: latencies.slice().sort() };
}

/** Acknowledged sendToUser A → user on B, `window` in flight. */
async function userRun(count: number, window: number): Promise<number> {
  await b.setUserLocation('bench-user', 'bench-sid');
  b.onUserMessage(() => true);
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await a.sendToUser('bench-user', 2, 1, payload);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return count / ((performance.now() - started) / 1000);
}

/** redis-benchmark PUBLISH rate and p99 against the same server, with one subscriber. */
async function redisBenchmark(count: number): Promise<{ rate: number; p99: number }> {
  const child = spawn(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(redis.port),
      '-n',
      String(count),
      '-c',
      '50',
      '--csv',
      'publish',
      'bench:baseline',
      payload.toString('latin1'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`redis-benchmark exited with ${code}`);
  const row = out
    .trim()
    .split('\n')
    .at(-1)!
    .split(',')
    .map((cell) => cell.replace(/"/g, ''));
  return { rate: Number(row[1]), p99: Number(row[6]) };
}

let subscriber: ChildProcess | undefined;
try {
  subscriber = spawn('redis-cli', ['-p', String(redis.port), 'subscribe', 'bench:baseline'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await new Promise((resolve) => setTimeout(resolve, 200));

  await meshRun(5000, WINDOW); // warm-up
  const meshRates: number[] = [];
  const meshP50: number[] = [];
  const meshP99: number[] = [];
  const baseRates: number[] = [];
  const baseP99: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ['mesh', 'redis'] : ['redis', 'mesh'];
    for (const which of order) {
      if (which === 'mesh') {
        const { rate, lat } = await meshRun(MESSAGES, WINDOW);
        meshRates.push(rate);
        meshP50.push(percentile(lat, 50));
        meshP99.push(percentile(lat, 99));
      } else {
        const { rate, p99 } = await redisBenchmark(MESSAGES * 2);
        baseRates.push(rate);
        baseP99.push(p99);
      }
    }
  }
  const unloaded = await meshRun(UNLOADED, 1);
  const userRate = await userRun(Math.floor(MESSAGES / 2), WINDOW);

  const mesh = median(meshRates);
  const base = median(baseRates);
  console.log(
    `mesh bench (node ${process.version}, redis-server ${redis.port}, ${PAYLOAD_BYTES} B payload, median of ${ROUNDS} rounds of ${MESSAGES} messages)`,
  );
  console.table([
    {
      what: `RedisMesh sendToNode A→B (${WINDOW} in flight)`,
      'msgs/s': Math.round(mesh).toLocaleString('en-US'),
      'p50 ms': median(meshP50).toFixed(3),
      'p99 ms': median(meshP99).toFixed(3),
    },
    {
      what: 'RedisMesh sendToNode A→B (1 in flight)',
      'msgs/s': Math.round(unloaded.rate).toLocaleString('en-US'),
      'p50 ms': percentile(unloaded.lat, 50).toFixed(3),
      'p99 ms': percentile(unloaded.lat, 99).toFixed(3),
    },
    {
      what: `RedisMesh sendToUser, acked (${WINDOW} in flight)`,
      'msgs/s': Math.round(userRate).toLocaleString('en-US'),
      'p50 ms': '',
      'p99 ms': '',
    },
    {
      what: 'redis-benchmark PUBLISH (50 clients, 1 subscriber)',
      'msgs/s': Math.round(base).toLocaleString('en-US'),
      'p50 ms': '',
      'p99 ms': median(baseP99).toFixed(3),
    },
  ]);
  console.log(`ratio RedisMesh sendToNode / redis-benchmark PUBLISH: ${(mesh / base).toFixed(2)}x`);
  printGoals('mesh', []);
} finally {
  subscriber?.kill('SIGKILL');
  await a.close();
  await b.close();
  await redis.stop();
}

#!/usr/bin/env node
// pnpm cluster:demo — a local cluster: a redis-server, one session (HTTP) node
// and two UDP nodes of the reference server, sharing the Redis mesh. Prints
// where to point a client; Ctrl-C drains the nodes, stops Redis and exits.
//
//   node scripts/cluster-demo.mjs [--from-source] [--base-port 7000]
//
// --from-source runs the TypeScript sources (no build); otherwise the server
// app is built first. Needs redis-server on PATH.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    'from-source': { type: 'boolean', default: false },
    'base-port': { type: 'string', default: '7000' },
  },
});
const base = Number(values['base-port']);
if (!Number.isInteger(base) || base < 1 || base > 65000) {
  console.error(`cluster-demo: --base-port must be a port, got ${values['base-port']}`);
  process.exit(2);
}
if (spawnSync('redis-server', ['--version']).error) {
  console.error('cluster-demo: redis-server is not on PATH (apt-get install -y redis-server)');
  process.exit(1);
}

let main = [join(root, 'apps/server/dist/main.js')];
if (values['from-source']) {
  main = [
    '--conditions=@tidewire/source',
    '--import',
    'tsx',
    join(root, 'apps/server/src/main.ts'),
  ];
} else {
  const build = spawnSync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      '--filter=@tidewire/server-app...',
      '--output-logs=errors-only',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (build.status !== 0) process.exit(1);
}

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

const children = [];
function start(name, command, args, env = {}) {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push({ name, child });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk) => process.stderr.write(`[${name}] ${chunk}`));
  return {
    child,
    ready: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => (pattern.test(out) ? resolve(out) : undefined);
        child.stdout.on('data', check);
        child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
        check();
      }),
  };
}

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  console.log('\ncluster-demo: draining the nodes...');
  const nodes = children.filter((c) => c.name !== 'redis' && c.child.exitCode === null);
  for (const { child } of nodes) child.kill('SIGTERM');
  await Promise.all(
    nodes.map(({ child }) => (child.exitCode === null ? once(child, 'exit') : null)),
  );
  const redis = children.find((c) => c.name === 'redis');
  if (redis && redis.child.exitCode === null) {
    redis.child.kill('SIGTERM');
    await once(redis.child, 'exit');
  }
  console.log('cluster-demo: stopped');
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const redisPort = await freePort();
  const redis = start('redis', 'redis-server', [
    '--port',
    String(redisPort),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  await redis.ready(/Ready to accept connections/);
  const env = { TIDEWIRE_MESH_URL: `redis://127.0.0.1:${redisPort}` };
  const nodes = [
    ['http', ['--role', 'http', '--http-port', String(base)]],
    ['udp-1', ['--role', 'udp', '--http-port', String(base + 1), '--udp-port', String(base + 100)]],
    ['udp-2', ['--role', 'udp', '--http-port', String(base + 2), '--udp-port', String(base + 101)]],
  ];
  for (const [name, args] of nodes) {
    await start(name, process.execPath, [...main, ...args, '--log-level', 'warn'], env).ready(
      /ready:/,
    );
  }
  console.log(`cluster-demo: ready
  redis        redis://127.0.0.1:${redisPort}
  sessions     http://127.0.0.1:${base}   (point clients here: connect({ endpointUrl: 'http://127.0.0.1:${base}', uid, transport: 'udp' }))
  udp nodes    127.0.0.1:${base + 100}, 127.0.0.1:${base + 101}   (metrics: http://127.0.0.1:${base + 1}/metrics, :${base + 2}/metrics)
Ctrl-C to stop.`);
} catch (err) {
  console.error(`cluster-demo: ${err.message}`);
  await stop(1);
}

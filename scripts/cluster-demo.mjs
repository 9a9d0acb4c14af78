#!/usr/bin/env node
// pnpm cluster:demo — a local cluster: a redis-server, one session (HTTP) node
// and two UDP nodes of the reference server, sharing the Redis mesh. Prints
// where to point a client; Ctrl-C drains the nodes, stops Redis and exits 0.
//
//   pnpm cluster:demo [--base-port 7000] [--from-source]
//
// Ports: the session node's HTTP on the base port, the UDP nodes' HTTP
// (metrics) on base+1 and base+2, their UDP on base+100 and base+101; Redis
// on a free port. The defaults collide with a running `pnpm start`
// (7000/7100): then the demo names the port and the option instead of
// starting. --from-source runs the TypeScript sources (no build); otherwise
// the server app is built first. Needs redis-server on PATH.
//
// Signals: the children run in their own process group, so a Ctrl-C (SIGINT
// to the terminal's whole foreground group) reaches only this script, which
// sends each node one SIGTERM (drain), waits for every node, then stops
// Redis: the nodes keep their mesh while they drain. pnpm forwards the SIGINT
// it gets as well (the package script execs this script, so pnpm's child is
// this process and its exit code is the script's); a SIGINT within 1 s of the
// first is that same Ctrl-C. A later second Ctrl-C stops everything at once
// (exit 1).
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
let values;
try {
  ({ values } = parseArgs({
    // `pnpm cluster:demo -- --base-port 8000` hands the `--` on (pnpm 10).
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      'from-source': { type: 'boolean', default: false },
      'base-port': { type: 'string', default: '7000' },
    },
  }));
} catch (err) {
  console.error(
    `cluster-demo: ${err.message}\nusage: pnpm cluster:demo [--base-port 7000] [--from-source]`,
  );
  process.exit(2);
}
const base = Number(values['base-port']);
if (!Number.isInteger(base) || base < 1 || base > 65000) {
  console.error(`cluster-demo: --base-port must be a port in 1..65000, got ${values['base-port']}`);
  process.exit(2);
}
if (spawnSync('redis-server', ['--version']).error) {
  console.error('cluster-demo: redis-server is not on PATH (apt-get install -y redis-server)');
  process.exit(1);
}

/** Whether 127.0.0.1:port can be bound now (TCP or UDP). */
async function canBind(kind, port) {
  return new Promise((resolve) => {
    const probe = kind === 'tcp' ? createServer() : createSocket('udp4');
    probe.once('error', () => resolve(false));
    const done = () => probe.close(() => resolve(true));
    if (kind === 'tcp') probe.listen(port, '127.0.0.1', done);
    else probe.bind(port, '127.0.0.1', done);
  });
}

const wanted = [
  ['tcp', base, "the session node's HTTP"],
  ['tcp', base + 1, "udp-1's HTTP (metrics)"],
  ['tcp', base + 2, "udp-2's HTTP (metrics)"],
  ['udp', base + 100, 'udp-1'],
  ['udp', base + 101, 'udp-2'],
];
for (const [kind, port, what] of wanted) {
  if (!(await canBind(kind, port))) {
    console.error(
      `cluster-demo: ${kind.toUpperCase()} port ${port} (${what}) is in use on 127.0.0.1` +
        (base === 7000 ? ' (a running `pnpm start` uses 7000, 7100 and 7200)' : '') +
        `.\nStop what uses it, or move the demo: pnpm cluster:demo --base-port ${base === 7000 ? 8000 : base + 1000}` +
        ' (uses the base port to base+2 and base+100, base+101).',
    );
    process.exit(1);
  }
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
    process.execPath,
    [join(root, 'scripts/build-workspace.mjs'), '@tidewire/server-app...'],
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
    // Its own process group: the terminal's Ctrl-C reaches this script only,
    // and each child gets one signal, from stop().
    detached: true,
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

// One Ctrl-C can arrive twice: from the terminal and forwarded by pnpm. A
// SIGINT within this long of the first is that same Ctrl-C.
const SAME_CTRL_C_MS = 1000;
let stopping = null;
async function stop(code, signal = null) {
  if (stopping !== null) {
    if (
      signal === 'SIGINT' &&
      stopping.signal === 'SIGINT' &&
      Date.now() - stopping.at < SAME_CTRL_C_MS
    )
      return;
    console.log('cluster-demo: second signal: stopping everything now');
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    process.exit(1);
  }
  stopping = { signal, at: Date.now() };
  console.log('\ncluster-demo: draining the nodes...');
  const nodes = children.filter((c) => c.name !== 'redis' && c.child.exitCode === null);
  for (const { child } of nodes) child.kill('SIGTERM');
  const codes = await Promise.all(
    nodes.map(async ({ name, child }) => {
      const [exitCode, signal] =
        child.exitCode === null ? await once(child, 'exit') : [child.exitCode, null];
      console.log(`cluster-demo: ${name} stopped (${signal ?? `exit ${exitCode}`})`);
      return exitCode;
    }),
  );
  const redis = children.find((c) => c.name === 'redis');
  if (redis && redis.child.exitCode === null) {
    redis.child.kill('SIGTERM');
    await once(redis.child, 'exit');
  }
  console.log('cluster-demo: stopped');
  process.exit(code !== 0 || codes.every((c) => c === 0) ? code : 1);
}
process.on('SIGINT', () => void stop(0, 'SIGINT'));
process.on('SIGTERM', () => void stop(0, 'SIGTERM'));
// Children are in their own process groups: never leave them behind.
process.on('exit', () => {
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
});

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

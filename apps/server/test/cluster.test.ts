import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { connect, type TidewireClient } from '@tidewire/client';
import { pack, Status, unpack } from '@tidewire/wire';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  skipWithoutRedis,
  startRedis,
} from '../../../packages/mesh/test/redis-server.ts';
import { killAll, type Running, startServer } from './processes.ts';

/**
 * Three reference-server processes on one Redis: one session (HTTP) node and
 * two TCP nodes, as an operator would run them.
 */
const skip = skipWithoutRedis();
let redis: RedisServer;
let dir: string;
let config: string;
const clients: TidewireClient[] = [];
const TTL_MS = 1500;

beforeAll(async () => {
  if (skip) return;
  redis = await startRedis();
  dir = await mkdtemp(joinPath(tmpdir(), 'tidewire-cluster-'));
  config = joinPath(dir, 'cluster.json');
  await writeFile(config, JSON.stringify({ mesh: { ttlMs: TTL_MS } }));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  killAll();
});
afterAll(async () => {
  await redis?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function node(role: 'http' | 'tcp'): Promise<Running> {
  return startServer(['--role', role, '--debug', '--config', config], {
    TIDEWIRE_MESH_URL: redis.url,
  });
}

function tcpPortOf(running: Running): number {
  return Number(/tcp \S+:(\d+)/.exec(running.stdout())![1]);
}

async function join(http: Running, uid: string): Promise<TidewireClient> {
  const c = await connect({ endpointUrl: http.httpUrl, uid, keepAliveIntervalMs: 500 });
  clients.push(c);
  return c;
}

async function sessionStatus(http: Running, uid: string): Promise<number> {
  return (await fetch(`${http.httpUrl}/v1/endpoint/tcp/user/${uid}`)).status;
}

describe.skipIf(skip)('a cluster of reference servers on Redis', () => {
  it('spreads users, honours TAKEN, delivers across nodes, survives a Redis restart and forgets a killed node', async () => {
    const http = await node('http');
    const t1 = await node('tcp');
    const t2 = await node('tcp');
    const ports = [tcpPortOf(t1), tcpPortOf(t2)];

    // Sessions from the HTTP node spread over both TCP nodes.
    const users = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((uid) => join(http, uid)));
    const on = (c: TidewireClient): number => ports.indexOf(c.session.port);
    expect(new Set(users.map(on))).toEqual(new Set([0, 1]));

    // A direct message reaches a user on the other node.
    const sender = users.find((c) => on(c) === 0)!;
    const receiver = users.find((c) => on(c) === 1)!;
    const got = once(receiver, 'push');
    const sent = await sender.request(2, 4, pack({ to: receiver.userId, text: 'hi' }));
    expect(sent.status).toBe(Status.Ok);
    const [push] = (await got) as [{ cmd: number; payload: Buffer }];
    expect(push.cmd).toBe(5);
    expect(unpack(push.payload)).toEqual({ from: sender.userId, text: 'hi' });
    const missing = await sender.request(2, 4, pack({ to: 'nobody', text: 'hi' }));
    expect(missing.status).toBe(Status.Bad);
    expect(unpack<{ code: string }>(missing.payload).code).toBe('TIDEWIRE_ERR_USER_NOT_FOUND');

    // The demo broadcast (2, 2) reaches every user on both nodes, the sender included.
    const pushed = users.map((c) => once(c, 'push'));
    const broadcast = await sender.request(2, 2, Buffer.from('to all nodes'));
    expect(broadcast.status).toBe(Status.Ok);
    for (const got of pushed) {
      const [push] = (await got) as [{ ver: number; cmd: number; payload: Buffer }];
      expect([push.ver, push.cmd, push.payload.toString()]).toEqual([2, 2, 'to all nodes']);
    }

    // TAKEN (debug 901 from a user of t2): new users only go to t1.
    receiver.send(0, 901);
    await new Promise((r) => setTimeout(r, 300));
    const later = [];
    for (const uid of ['u5', 'u6', 'u7']) later.push(await join(http, uid));
    expect(later.map(on)).toEqual([0, 0, 0]);

    // Redis restarts empty: nodes re-register and sessions work again.
    await redis.restart();
    const deadline = Date.now() + 10_000;
    let status = await sessionStatus(http, 'after-restart');
    while (Date.now() < deadline && status !== 200) {
      await new Promise((r) => setTimeout(r, 200));
      status = await sessionStatus(http, 'after-restart');
    }
    expect(status).toBe(200);
    const afterRestart = await join(http, 'u8');
    expect(on(afterRestart)).toBe(0);

    // t1 is killed: within its TTL it is gone, and t2 (TAKEN) gets nobody: 503.
    t1.child.kill('SIGKILL');
    const killedAt = Date.now();
    while ((await sessionStatus(http, 'probe')) !== 503) {
      expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 1500);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});

/** A base port whose TCP neighbours used by the demo (+1, +2) are free (the UDP ones, +100 and +101, are bound by the demo itself). */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [base, base + 1, base + 2];
    const free = await Promise.all(
      ports.map(
        (port) =>
          new Promise<boolean>((resolve) => {
            const probe = createNetServer();
            probe.once('error', () => resolve(false));
            probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free port range');
}

const DEMO = new URL('../../../scripts/cluster-demo.mjs', import.meta.url).pathname;
const REPO = new URL('../../../', import.meta.url).pathname;

describe.skipIf(skip)('pnpm cluster:demo', () => {
  it('starts Redis and three nodes, serves sessions, and one Ctrl-C drains every node and exits 0', async () => {
    const base = await freeBase();
    // Through pnpm, in a process group of its own, signalled as a terminal
    // does: SIGINT to the whole group (pnpm forwards it to the script too).
    const demo = spawn('pnpm', ['cluster:demo', '--from-source', '--base-port', String(base)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    const collect = (chunk: Buffer): void => {
      out += chunk.toString();
    };
    demo.stdout!.on('data', collect);
    demo.stderr!.on('data', collect);
    const exited = once(demo, 'exit');
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('cluster-demo: ready')) {
        if (Date.now() > deadline || demo.exitCode !== null)
          throw new Error(`demo not ready: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const c = await connect({
        endpointUrl: `http://127.0.0.1:${base}`,
        uid: 'demo-user',
        transport: 'udp',
        keepAliveIntervalMs: 0,
      });
      expect([base + 100, base + 101]).toContain(c.session.port);
      expect((await c.request(2, 1, Buffer.from('hello'))).payload.toString()).toBe('hello');
      await c.close();
      process.kill(-demo.pid!, 'SIGINT');
      const [code] = await exited;
      expect(out).not.toContain('second signal');
      expect(out).not.toContain('ELIFECYCLE');
      for (const name of ['http', 'udp-1', 'udp-2'])
        expect(out).toContain(`cluster-demo: ${name} stopped (exit 0)`);
      expect(out).toContain('cluster-demo: stopped');
      expect(code).toBe(0);
      // Everything it started is gone: the session port is free again.
      const probe = createNetServer();
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(base, '127.0.0.1', () => probe.close(() => resolve()));
      });
    } finally {
      if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
    }
  });

  it('a port in use (say, by pnpm start) is named with the --base-port option, before anything starts', async () => {
    const base = await freeBase();
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(base + 1, '127.0.0.1', resolve));
    try {
      const demo = spawn(process.execPath, [DEMO, '--from-source', '--base-port', String(base)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      demo.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      const [code] = await once(demo, 'exit');
      expect(code).toBe(1);
      expect(err).toContain(`TCP port ${base + 1}`);
      expect(err).toContain('--base-port');
      expect(err).not.toContain('EADDRINUSE');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { connect, type TidewireClient } from '@tidewire/client';
import { Status } from '@tidewire/wire';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type RedisServer,
  skipWithoutRedis,
  startRedis,
} from '../../../packages/mesh/test/redis-server.ts';
import { killAll, type Running, startServer } from './processes.ts';

/**
 * Reconnect across reference-server processes on one Redis: a session (HTTP)
 * node and two TCP nodes. A node killed with SIGKILL loses its seats: the
 * client gets a fresh session on the other node and says so; a node that
 * drains (SIGTERM) sees its client move by itself.
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
  dir = await mkdtemp(joinPath(tmpdir(), 'tidewire-resume-cluster-'));
  config = joinPath(dir, 'cluster.json');
  await writeFile(config, JSON.stringify({ mesh: { ttlMs: TTL_MS }, shutdownTimeout: 10 }));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  killAll();
});
afterAll(async () => {
  await redis?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function node(role: 'http' | 'tcp'): Promise<Running> {
  return startServer(['--role', role, '--config', config], { TIDEWIRE_MESH_URL: redis.url });
}

function tcpPortOf(running: Running): number {
  return Number(/tcp \S+:(\d+)/.exec(running.stdout())![1]);
}

async function cluster(): Promise<{ http: Running; nodes: Running[]; ports: number[] }> {
  const http = await node('http');
  const nodes = [await node('tcp'), await node('tcp')];
  return { http, nodes, ports: nodes.map(tcpPortOf) };
}

async function join(http: Running, uid: string): Promise<TidewireClient & { events: string[] }> {
  const c = (await connect({
    endpointUrl: http.httpUrl,
    uid,
    keepAliveIntervalMs: 500,
    connectTimeoutMs: 2000,
    reconnect: { attempts: 40, backoff: { initialMs: 50, maxMs: 300 } },
  })) as TidewireClient & { events: string[] };
  c.events = [];
  for (const event of ['reconnecting', 'resumed', 'reconnected-fresh', 'gave-up'] as const) {
    c.on(event, (info: unknown) => c.events.push(`${event} ${JSON.stringify(info)}`));
  }
  clients.push(c);
  return c;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skip)('reconnect across reference-server processes on Redis', () => {
  it('a node killed with SIGKILL: the client gets a fresh session on the other node and says the state is gone', async () => {
    const { http, nodes, ports } = await cluster();
    const c = await join(http, 'survivor');
    const on = ports.indexOf(c.session.port);
    expect(on).toBeGreaterThanOrEqual(0);
    expect((await c.request(2, 1, Buffer.from('before'))).payload.toString()).toBe('before');
    nodes[on]!.child.kill('SIGKILL');
    await until(() => c.events.some((e) => e.startsWith('reconnected-fresh')), 15_000, 'fresh');
    const fresh = c.events.find((e) => e.startsWith('reconnected-fresh'))!;
    // Nothing listens where the seat was: a fresh session, and the event says why.
    expect(fresh).toContain('TIDEWIRE_ERR_CONNECT_FAILED');
    expect(c.events.some((e) => e.startsWith('resumed'))).toBe(false);
    expect(c.session.port).toBe(ports[1 - on]);
    const after = await c.request(2, 1, Buffer.from('after'));
    expect(after.status).toBe(Status.Ok);
    expect(after.payload.toString()).toBe('after');
  });

  it('a node drained with SIGTERM: the client moves by itself, every request answered', async () => {
    const { http, nodes, ports } = await cluster();
    const c = await join(http, 'mover');
    const on = ports.indexOf(c.session.port);
    const answers: string[] = [];
    const failures: string[] = [];
    const done: Promise<void>[] = [];
    let seq = 0;
    const stream = setInterval(() => {
      const mine = `r${++seq}`;
      done.push(
        c.request(2, 1, Buffer.from(mine)).then(
          (r) => {
            answers.push(r.payload.toString());
          },
          (err: Error) => {
            failures.push(err.message);
          },
        ),
      );
    }, 50);
    try {
      await new Promise((r) => setTimeout(r, 300));
      nodes[on]!.child.kill('SIGTERM');
      await until(() => c.events.some((e) => e.startsWith('reconnected-fresh')), 15_000, 'moved');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      clearInterval(stream);
    }
    await Promise.all(done);
    expect(c.events.find((e) => e.startsWith('reconnected-fresh'))).toContain(
      'TIDEWIRE_ERR_DRAINING',
    );
    expect(c.session.port).toBe(ports[1 - on]);
    expect(failures).toEqual([]);
    expect(answers).toEqual(Array.from({ length: seq }, (_, i) => `r${i + 1}`));
    // The drained node exits 0 once its user has moved (well before its 10 s timeout).
    expect(await nodes[on]!.exit).toBe(0);
  });
});

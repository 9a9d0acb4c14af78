import { connect, type TidewireClient } from '@tidewire/client';
import { MemoryMesh, MemoryMeshHub, type Mesh, RedisMesh } from '@tidewire/mesh';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, skipWithoutRedis, startRedis } from '../../mesh/test/redis-server.ts';
import { createServer, type TidewireServer } from '../src/index.ts';
import { delay, endpointOf, getSession, waitFor } from './helpers.ts';

interface Cluster {
  meshFor(nodeId: string, ttlMs?: number): Mesh;
}

const servers: TidewireServer[] = [];
const clients: TidewireClient[] = [];

async function node(
  cluster: Cluster,
  nodeId: string,
  http: { sessionTTL?: number } = {},
  meshTtlMs?: number,
): Promise<TidewireServer> {
  const server = createServer({
    config: { http: { port: 0, ...http }, tcp: { port: 0 } },
    mesh: cluster.meshFor(nodeId, meshTtlMs),
    env: {},
  });
  servers.push(server);
  await server.setupAsTCPServer();
  server.enableNotifications();
  await server.start();
  return server;
}

async function user(via: TidewireServer, uid: string): Promise<TidewireClient> {
  const c = await connect({ endpointUrl: endpointOf(via), uid, keepAliveIntervalMs: 0 });
  clients.push(c);
  return c;
}

/** The node a client ended up on, by its session's port. */
function nodeOf(c: TidewireClient, nodes: TidewireServer[]): string {
  return nodes.find((s) => s.tcpPort === c.session.port)!.nodeId;
}

function clusterSuite(name: string, makeCluster: () => Cluster, skip = false): void {
  describe.skipIf(skip)(`cluster over ${name}`, () => {
    let cluster: Cluster;
    beforeAll(() => {
      cluster = makeCluster();
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.splice(0).map((s) => s.close()));
    });

    it('spreads sessions over ONLINE nodes, skips TAKEN ones, and drops a stopped node', async () => {
      const [a, b, c] = [
        await node(cluster, 'a'),
        await node(cluster, 'b'),
        await node(cluster, 'c'),
      ];
      const nodes = [a, b, c];
      const first = await Promise.all(['u1', 'u2', 'u3'].map((uid) => user(a, uid)));
      await delay(1_100); // CCU reports reach the registry
      // Concurrent session requests spread: the mesh counts picks not yet reported by the nodes.
      expect(new Set(first.map((x) => nodeOf(x, nodes))).size).toBe(3);
      b.taken();
      await delay(50);
      const later = [];
      for (const uid of ['u4', 'u5', 'u6', 'u7']) later.push(await user(a, uid));
      expect(later.map((x) => nodeOf(x, nodes))).not.toContain('b');
      await c.close();
      const last = await user(a, 'u8');
      expect(nodeOf(last, nodes)).toBe('a');
    });

    it('tickets nobody used stop counting once expired: later users still spread', async () => {
      // A session node of its own (TAKEN: it hands out sessions, takes no users) and three TCP nodes.
      // Registry TTL 1 s: the burst is older than it by the time the late users come.
      const entry = await node(cluster, 'entry', { sessionTTL: 1 }, 1_000);
      entry.taken();
      const nodes = [
        await node(cluster, 'a', {}, 1_000),
        await node(cluster, 'b', {}, 1_000),
        await node(cluster, 'c', {}, 1_000),
      ];
      await delay(50);
      for (let i = 0; i < 300; i += 50) {
        const burst = [];
        for (let j = i; j < i + 50; j++) burst.push(getSession(entry, `unused-${j}`));
        for (const { status } of await Promise.all(burst)) expect(status).toBe(200);
      }
      await delay(1_300); // every ticket of the burst has expired
      const spread = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const c = await user(entry, `late-${i}`);
        const id = nodeOf(c, nodes);
        spread.set(id, (spread.get(id) ?? 0) + 1);
      }
      expect(Math.max(...spread.values())).toBeLessThanOrEqual(15);
    });

    it('sendToUser reaches a user on another node; unknown users are typed errors', async () => {
      const [a, b] = [await node(cluster, 'a'), await node(cluster, 'b')];
      b.taken(); // every session goes to a...
      const onA = await user(b, 'ann');
      expect(nodeOf(onA, [a, b])).toBe('a');
      const pushes: string[] = [];
      onA.on('push', (p) => pushes.push(`${p.ver}:${p.cmd}:${p.payload.toString()}`));
      await b.sendToUser('ann', 7, 9, Buffer.from('from b'));
      await waitFor(() => pushes.length === 1, 2_000, 'cross-node push');
      expect(pushes).toEqual(['7:9:from b']);
      await b.sendPM('a', onA.session.sid, 7, 10, Buffer.from('pm'));
      await waitFor(() => pushes.length === 2, 2_000, 'sendPM');
      await expect(b.sendToUser('nobody', 7, 9, Buffer.from('x'))).rejects.toMatchObject({
        code: 'TIDEWIRE_ERR_USER_NOT_FOUND',
      });
    });

    it('notify reaches the users of every node once, even when every node runs the same service', async () => {
      const [a, b] = [await node(cluster, 'a'), await node(cluster, 'b')];
      const got = new Map<string, string[]>();
      const users = [];
      for (const uid of ['n1', 'n2', 'n3', 'n4']) {
        const c = await user(a, uid);
        got.set(uid, []);
        c.on('notification', (n) => got.get(uid)!.push(n.id));
        users.push(c);
      }
      await delay(1_100);
      expect(new Set(users.map((c) => nodeOf(c, [a, b]))).size).toBe(2);
      const loader = () => ({
        id: 'daily-1',
        name: 'daily',
        ver: 0,
        cmd: 400,
        message: Buffer.from('gift'),
        ttlMs: 60_000,
      });
      a.notificationService('daily', loader, 50);
      b.notificationService('daily', loader, 50);
      await waitFor(
        () => [...got.values()].every((ids) => ids.length >= 1),
        3_000,
        'notifications',
      );
      await delay(200);
      for (const ids of got.values()) expect(ids).toEqual(['daily-1']);
      // A user who moves to the other node does not get it again there.
      const mover = users[0]!;
      const from = nodeOf(mover, [a, b]);
      await mover.close();
      (from === 'a' ? a : b).taken();
      await delay(50);
      const moved = await user(a, 'n1');
      expect(nodeOf(moved, [a, b])).not.toBe(from);
      const again: string[] = [];
      moved.on('notification', (n) => again.push(n.id));
      await delay(300);
      expect(again).toEqual([]);
    });
  });
}

clusterSuite('an in-process MemoryMesh hub', () => {
  const hub = new MemoryMeshHub();
  return {
    meshFor: (nodeId, ttlMs) => new MemoryMesh({ hub, nodeId, ...(ttlMs ? { ttlMs } : {}) }),
  };
});

let redis: RedisServer | null = null;
const skipRedis = skipWithoutRedis();
beforeAll(async () => {
  if (!skipRedis) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
let prefix = 0;
clusterSuite(
  'Redis',
  () => ({
    meshFor: (nodeId, ttlMs) =>
      new RedisMesh({
        url: redis!.url,
        nodeId,
        keyPrefix: `cluster-test-${prefix}:`,
        ...(ttlMs ? { ttlMs } : {}),
      }),
  }),
  skipRedis,
);
afterEach(() => {
  prefix++;
});

import * as diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import * as net from 'node:net';
import { pack } from '@tidewire/wire';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Mesh, MeshChannel, type MeshDroppedEvent, RedisMesh } from '../src/index.ts';
import { meshContract } from './contract.ts';
import { bytes, recordingLogger, sleep, text, waitFor } from './helpers.ts';
import { freePort, type RedisServer, skipWithoutRedis, startRedis } from './redis-server.ts';

const skip = skipWithoutRedis();
let redis: RedisServer | undefined;
let clusterCount = 0;

function url(): string {
  if (redis === undefined) throw new Error('redis-server is not running');
  return redis.url;
}

describe.skipIf(skip)('RedisMesh', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  meshContract('RedisMesh', () => ({
    newCluster() {
      const keyPrefix = `contract${++clusterCount}:`;
      return (options) => new RedisMesh({ ...options, url: url(), keyPrefix });
    },
  }));

  describe('RedisMesh specifics', () => {
    const meshes: Mesh[] = [];
    const clients: Redis[] = [];
    const servers: net.Server[] = [];
    const serverSockets: net.Socket[] = [];

    function mesh(options: Partial<ConstructorParameters<typeof RedisMesh>[0]> = {}): RedisMesh {
      const created = new RedisMesh({ url: url(), keyPrefix: 'spec:', ...options });
      meshes.push(created);
      return created;
    }

    async function rawClient(): Promise<Redis> {
      const client = new Redis(url(), { lazyConnect: true });
      clients.push(client);
      await client.connect();
      return client;
    }

    afterEach(async () => {
      await Promise.all(meshes.splice(0).map((m) => m.close()));
      await Promise.all(clients.splice(0).map((c) => c.quit()));
      for (const socket of serverSockets.splice(0)) socket.destroy();
      for (const server of servers.splice(0)) {
        server.close();
        await once(server, 'close');
      }
    });

    async function registered(m: RedisMesh, role: 'tcp' | 'http' = 'tcp'): Promise<RedisMesh> {
      await m.start();
      await m.registerNode({
        id: m.nodeId,
        role,
        internalAddress: '127.0.0.1:0',
        publicHost: '127.0.0.1',
        publicPort: 7000,
        state: 'ONLINE',
        ccu: 0,
        load: 0,
      });
      return m;
    }

    it('fails start() fast with MESH_UNREACHABLE when nothing listens', async () => {
      const port = await freePort();
      const m = mesh({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1000 });
      const started = Date.now();
      await expect(m.start()).rejects.toMatchObject({
        code: 'TIDEWIRE_ERR_MESH_UNREACHABLE',
        message: expect.stringContaining(`127.0.0.1:${port}`),
      });
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(m.listNodes()).rejects.toMatchObject({ code: 'TIDEWIRE_ERR_MESH_CLOSED' });
    });

    /** A TCP server that accepts, reads and never answers: the ready check never completes. */
    async function silentServer(): Promise<{ port: number; open: () => number }> {
      let open = 0;
      const silent = net.createServer((socket) => {
        open++;
        serverSockets.push(socket);
        socket.on('error', () => {});
        socket.on('close', () => open--);
        socket.resume();
      });
      servers.push(silent);
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      return { port: (silent.address() as net.AddressInfo).port, open: () => open };
    }

    it('fails start() with MESH_UNREACHABLE within connectTimeoutMs when the peer never answers', async () => {
      const silent = await silentServer();
      const m = mesh({
        url: `redis://user:secret@127.0.0.1:${silent.port}`,
        connectTimeoutMs: 300,
      });
      const started = Date.now();
      const error = await m.start().then(
        () => null,
        (err: Error & { code?: string }) => err,
      );
      const elapsed = Date.now() - started;
      expect(error?.code).toBe('TIDEWIRE_ERR_MESH_UNREACHABLE');
      expect(error?.message).toContain('did not answer within 300 ms');
      expect(error?.message).not.toContain('secret');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(1500);
      // Every socket the mesh opened is closed.
      await waitFor(() => silent.open() === 0, 2000, 'sockets closed');
    });

    it('rejects start() with the abort reason when the signal aborts', async () => {
      const silent = await silentServer();
      const m = mesh({ url: `redis://127.0.0.1:${silent.port}`, connectTimeoutMs: 5000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('stop now')), 50);
      const started = Date.now();
      await expect(m.start(controller.signal)).rejects.toThrow('stop now');
      expect(Date.now() - started).toBeLessThan(1000);
      await waitFor(() => silent.open() === 0, 2000, 'sockets closed');
    });

    it('rejects start() with MESH_CLOSED when close() runs while it connects', async () => {
      const silent = await silentServer();
      const m = mesh({ url: `redis://127.0.0.1:${silent.port}`, connectTimeoutMs: 5000 });
      const starting = m.start();
      await waitFor(() => silent.open() > 0, 2000, 'connection');
      const started = Date.now();
      await m.close();
      await expect(starting).rejects.toMatchObject({ code: 'TIDEWIRE_ERR_MESH_CLOSED' });
      expect(Date.now() - started).toBeLessThan(2000);
      await waitFor(() => silent.open() === 0, 2000, 'sockets closed');
    });

    it('keeps registry, users and tickets in keys with TTLs under its prefix', async () => {
      const m = await registered(mesh({ nodeId: 'ttl-node', ttlMs: 3000, keyPrefix: 'ttl:' }));
      await m.setUserLocation('alice', 'sid-1');
      await m.issueTicket(
        {
          sid: 'sid-t',
          key: 'k',
          userId: 'alice',
          nodeId: 'ttl-node',
          transport: 'udp',
          expiresAt: Date.now() + 2000,
        },
        2000,
      );
      const raw = await rawClient();
      const nodeTtl = await raw.pttl('ttl:node:ttl-node');
      expect(nodeTtl).toBeGreaterThan(0);
      expect(nodeTtl).toBeLessThanOrEqual(3000);
      expect(await raw.smembers('ttl:nodes')).toEqual(['ttl-node']);
      expect(await raw.get('ttl:user:alice')).toBe('ttl-node sid-1');
      expect(await raw.pttl('ttl:user:alice')).toBeGreaterThan(0);
      const ticketTtl = await raw.pttl('ttl:ticket:sid-t');
      expect(ticketTtl).toBeGreaterThan(0);
      expect(ticketTtl).toBeLessThanOrEqual(2000);
      await m.close();
      expect(await raw.exists('ttl:node:ttl-node', 'ttl:user:alice')).toBe(0);
      expect(await raw.smembers('ttl:nodes')).toEqual([]);
    });

    it('isolates clusters sharing a Redis by key prefix', async () => {
      const a = await registered(mesh({ nodeId: 'same-id', keyPrefix: 'east:' }));
      const b = await registered(mesh({ nodeId: 'same-id', keyPrefix: 'west:' }));
      const gotA: string[] = [];
      const gotB: string[] = [];
      a.onMessage((m) => gotA.push(text(m.payload)));
      b.onMessage((m) => gotB.push(text(m.payload)));
      await a.broadcast('t', bytes('east'));
      await b.sendToNode('same-id', 't', bytes('west'));
      await waitFor(() => gotA.length === 1 && gotB.length === 1);
      await sleep(50);
      expect(gotA).toEqual(['east']);
      expect(gotB).toEqual(['west']);
      await a.updateNode({ state: 'TAKEN' });
      expect((await b.listNodes())[0]?.state).toBe('ONLINE');
    });

    it('prunes a node whose key expired (it stopped heart-beating) from listings', async () => {
      const observer = await registered(mesh({ nodeId: 'observer', keyPrefix: 'prune:' }));
      const raw = await rawClient();
      // A node record written as a crashed node would have left it.
      await raw.set('prune:node:crashed', pack({ id: 'crashed' }), 'PX', 60);
      await raw.sadd('prune:nodes', 'crashed');
      await sleep(100);
      expect((await observer.listNodes()).map((n) => n.id)).toEqual(['observer']);
      expect(await raw.smembers('prune:nodes')).toEqual(['observer']);
    });

    it('drops malformed bus messages with a log line and keeps working', async () => {
      const logger = recordingLogger();
      const m = await registered(mesh({ nodeId: 'victim', keyPrefix: 'bad:', logger }));
      const dropped: MeshDroppedEvent[] = [];
      const onDropped = (message: unknown): void => {
        dropped.push(message as MeshDroppedEvent);
      };
      diagnosticsChannel.subscribe(MeshChannel.Dropped, onDropped);
      try {
        const got: string[] = [];
        m.onMessage((message) => got.push(text(message.payload)));
        const raw = await rawClient();
        await raw.publish('bad:bus:all', Buffer.from([0xc1, 0xff, 0x00]));
        await raw.publish('bad:bus:node:victim', pack({ not: 'an envelope' }));
        await raw.publish('bad:bus:node:victim', pack([9, 'x', 'y']));
        await raw.publish('bad:bus:all', pack([1, 'x', 'topic', 'not bytes']));
        await raw.publish('bad:bus:node:victim', pack([3, 'x', 1, 99]));
        await m.broadcast('ok', bytes('still here'));
        await waitFor(() => got.length === 1);
        await waitFor(() => dropped.length === 5);
        expect(got).toEqual(['still here']);
        const lines = logger.lines.filter(
          (l) => l.message === 'mesh: dropped malformed bus message',
        );
        expect(lines).toHaveLength(5);
        expect(lines.map((l) => l.fields?.reason)).toEqual([
          'not msgpack',
          'not an array',
          'unknown kind',
          'bad message fields',
          'bad ack fields',
        ]);
        expect(lines.every((l) => l.level === 'warn' && l.fields?.nodeId === 'victim')).toBe(true);
      } finally {
        diagnosticsChannel.unsubscribe(MeshChannel.Dropped, onDropped);
      }
    });

    it('survives a Redis restart: reconnects, re-registers, restores users, delivers again', async () => {
      const logger = recordingLogger();
      const a = await registered(
        mesh({ nodeId: 'ra', keyPrefix: 'restart:', ttlMs: 900, logger }),
        'http',
      );
      const b = await registered(mesh({ nodeId: 'rb', keyPrefix: 'restart:', ttlMs: 900, logger }));
      await b.setUserLocation('erin', 'sid-e');
      const delivered: string[] = [];
      b.onUserMessage((target, _ver, _cmd, payload) => {
        delivered.push(`${target.userId} ${text(payload)}`);
        return true;
      });
      await a.sendToUser('erin', 2, 1, bytes('before'));

      await redis!.restart();
      // The new server is empty until the meshes re-register.
      await waitFor(
        async () => {
          try {
            return (await a.listNodes()).length === 2;
          } catch {
            return false;
          }
        },
        5000,
        're-registration',
      );
      expect((await a.listNodes()).map((n) => n.id)).toEqual(['ra', 'rb']);
      await waitFor(
        async () => {
          try {
            await a.sendToUser('erin', 2, 1, bytes('after'));
            return true;
          } catch {
            return false;
          }
        },
        5000,
        'delivery after restart',
      );
      expect(delivered).toEqual(['erin before', 'erin after']);
      const broadcasts: string[] = [];
      b.onMessage((m) => broadcasts.push(m.topic));
      await a.broadcast('after-restart', bytes(''));
      await waitFor(() => broadcasts.includes('after-restart'));
      expect(logger.lines.some((l) => l.message.includes('lost the connection to redis'))).toBe(
        true,
      );
      expect(logger.lines.some((l) => l.message === 'mesh: reconnected to redis')).toBe(true);
    });

    it('leaves no socket or timer behind after close', async () => {
      const count = (): Record<string, number> => {
        const counts: Record<string, number> = {};
        for (const type of process.getActiveResourcesInfo()) {
          if (type === 'TCPSocketWrap' || type === 'Timeout')
            counts[type] = (counts[type] ?? 0) + 1;
        }
        return counts;
      };
      await sleep(20);
      const before = count();
      for (let i = 0; i < 3; i++) {
        const m = await registered(
          new RedisMesh({ url: url(), nodeId: `leak-${i}`, keyPrefix: 'leak:' }),
          'tcp',
        );
        m.onUserMessage(() => true);
        await m.setUserLocation('u', 's');
        await m.sendToUser('u', 2, 1, bytes('x'));
        await m.broadcast('t', bytes('x'));
        // The measure sees the mesh's two connections while it runs (its heartbeat is unref'd).
        expect(count().TCPSocketWrap ?? 0).toBeGreaterThanOrEqual((before.TCPSocketWrap ?? 0) + 2);
        await m.close();
      }
      await sleep(20);
      const after = count();
      expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(before.TCPSocketWrap ?? 0);
      expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);
    });

    it('fails a command with MESH_UNAVAILABLE after commandTimeoutMs when Redis hangs', async () => {
      const own = await startRedis();
      try {
        const m = mesh({ url: own.url, nodeId: 'hung', commandTimeoutMs: 300 });
        await m.start();
        own.pause();
        const started = Date.now();
        await expect(m.listNodes()).rejects.toMatchObject({
          code: 'TIDEWIRE_ERR_MESH_UNAVAILABLE',
          message: expect.stringContaining('timed out'),
        });
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(1500);
        own.resume();
        expect(await m.listNodes()).toEqual([]);
        await m.close();
      } finally {
        own.resume();
        await own.stop();
      }
    });

    it('fails operations at once with MESH_UNAVAILABLE while Redis is down', async () => {
      const own = await startRedis();
      try {
        const m = mesh({ url: own.url, nodeId: 'down', commandTimeoutMs: 1000 });
        await m.start();
        await own.stop();
        const started = Date.now();
        await expect(m.listNodes()).rejects.toMatchObject({
          code: 'TIDEWIRE_ERR_MESH_UNAVAILABLE',
        });
        await expect(m.broadcast('t', bytes('x'))).rejects.toMatchObject({
          code: 'TIDEWIRE_ERR_MESH_UNAVAILABLE',
        });
        // Failed at once (no offline queue), well before commandTimeoutMs.
        expect(Date.now() - started).toBeLessThan(250);
        // close() does not wait on a dead server: the removals fail at once, nothing to QUIT.
        const closing = Date.now();
        await m.close();
        expect(Date.now() - closing).toBeLessThan(250);
      } finally {
        await own.stop();
      }
    });
  });
});

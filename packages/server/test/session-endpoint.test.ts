import { connect } from '@tidewire/client';
import { MemoryMesh, MemoryMeshHub, type Mesh, RedisMesh } from '@tidewire/mesh';
import type { Logger } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  type RedisServer,
  skipWithoutRedis,
  startRedis,
} from '../../mesh/test/redis-server.ts';
import { createServer, type TidewireServer } from '../src/index.ts';
import { endpointOf, getSession, waitFor } from './helpers.ts';

// The session endpoint's answers beyond the happy path: a transport nobody
// serves, a cluster store that is down, the per-address rate limit, a node
// to pass over, and a second ticket for the same user.

const servers: TidewireServer[] = [];
const meshes: Mesh[] = [];
let redis: RedisServer | null = null;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(meshes.splice(0).map((m) => m.close()));
  await redis?.stop();
  redis = null;
});

async function started(
  options: Parameters<typeof createServer>[0] = {},
  transport: 'tcp' | 'udp' = 'tcp',
): Promise<TidewireServer> {
  const server = createServer({
    env: {},
    ...options,
    config: {
      ...options.config,
      http: { port: 0, ...options.config?.http },
      tcp: { port: 0 },
      udp: { port: 0 },
    },
  });
  servers.push(server);
  if (transport === 'tcp') await server.setupAsTCPServer();
  else await server.setupAsUDPServer();
  await server.start();
  return server;
}

async function request(
  server: TidewireServer,
  path: string,
): Promise<{ status: number; retryAfter: string | null; code: unknown }> {
  const res = await fetch(`${endpointOf(server)}${path}`);
  const body = (await res.json()) as { code?: unknown };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.code };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return { lines, debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
}

describe('session endpoint', () => {
  it('answers 404 for a transport no node serves, 503 when nodes serve it but none accepts', async () => {
    const server = await started();
    expect(await request(server, '/v1/endpoint/udp/user/ann')).toEqual({
      status: 404,
      retryAfter: null,
      code: 'TIDEWIRE_ERR_TRANSPORT_NOT_SERVED',
    });
    server.taken();
    expect(await request(server, '/v1/endpoint/tcp/user/ann')).toEqual({
      status: 503,
      retryAfter: '2',
      code: 'TIDEWIRE_ERR_NOT_ACCEPTING',
    });
  });

  it('limits session requests per address with a token bucket: 429 with Retry-After', async () => {
    const limited = await started({
      config: { http: { rateLimit: 1, rateLimitBurst: 5, rateLimitLoopback: true } },
    });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => request(limited, `/v1/endpoint/tcp/user/u${i}`)),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(7);
    for (const a of refused) {
      expect(a.code).toBe('TIDEWIRE_ERR_TOO_MANY_REQUESTS');
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // Loopback callers are not limited by default (load tests, local tools).
    const open = await started({ config: { http: { rateLimit: 1, rateLimitBurst: 1 } } });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => getSession(open, `v${i}`).then((r) => r.status)),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it("a new ticket for a uid replaces the uid's unused one", async () => {
    const server = await started();
    const first = await getSession(server, 'ann');
    const second = await getSession(server, 'ann');
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(await server.mesh.consumeTicket(first.body.sid as string)).toBeNull();
    expect((await server.mesh.consumeTicket(second.body.sid as string))?.userId).toBe('ann');
  });

  it('passes over the nodes named in ?avoid=', async () => {
    const hub = new MemoryMeshHub();
    const a = await started({ mesh: new MemoryMesh({ hub, nodeId: 'a' }) });
    const b = await started({ mesh: new MemoryMesh({ hub, nodeId: 'b' }) });
    const avoid = `127.0.0.1:${a.tcpPort}`;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${endpointOf(a)}/v1/endpoint/tcp/user/w${i}?avoid=${avoid}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { port: number }).port).toBe(b.tcpPort);
    }
    const both = `avoid=${avoid}&avoid=127.0.0.1:${b.tcpPort}`;
    expect((await request(a, `/v1/endpoint/tcp/user/x?${both}`)).code).toBe(
      'TIDEWIRE_ERR_NOT_ACCEPTING',
    );
  });

  it.skipIf(skipWithoutRedis())(
    'Redis down: 503 CLUSTER_UNAVAILABLE with Retry-After, logged once at the start and once at the end',
    async () => {
      redis = await startRedis();
      const logger = recordingLogger();
      const server = await started({
        logger,
        mesh: new RedisMesh({
          url: redis.url,
          nodeId: 'r1',
          keyPrefix: 'outage:',
          ttlMs: 900,
          commandTimeoutMs: 300,
        }),
      });
      expect((await getSession(server, 'before')).status).toBe(200);
      const port = redis.port;
      await redis.stop();
      for (let i = 0; i < 5; i++) {
        expect(await request(server, `/v1/endpoint/tcp/user/down${i}`)).toEqual({
          status: 503,
          retryAfter: '1',
          code: 'TIDEWIRE_ERR_CLUSTER_UNAVAILABLE',
        });
      }
      const outage = (line: string) => line.includes('cluster store');
      expect(logger.lines.filter(outage)).toEqual([
        'error cluster store unavailable: session requests answer 503 until it is back',
      ]);
      redis = await startRedis({ port });
      let status = 0;
      await waitFor(
        () => {
          getSession(server, 'after').then(
            (r) => {
              status = r.status;
            },
            () => {},
          );
          return status === 200;
        },
        10_000,
        'sessions after Redis is back',
      );
      expect(logger.lines.filter(outage)).toEqual([
        'error cluster store unavailable: session requests answer 503 until it is back',
        'info cluster store available again: session requests served',
      ]);
    },
  );

  const clusters: [string, boolean, () => Promise<(nodeId: string) => Mesh>][] = [
    [
      'in memory',
      false,
      async () => {
        const hub = new MemoryMeshHub();
        return (nodeId) => new MemoryMesh({ hub, nodeId });
      },
    ],
    [
      'over Redis',
      skipWithoutRedis(),
      async () => {
        redis = await startRedis();
        const url = redis.url;
        return (nodeId) => new RedisMesh({ url, nodeId, keyPrefix: 'dead-node:' });
      },
    ],
  ];
  for (const [name, skip, makeCluster] of clusters) {
    it.skipIf(skip)(
      `${name}: the client gets past a node that is registered but gone, by itself`,
      async () => {
        const meshFor = await makeCluster();
        const live = await started({ mesh: meshFor('b-live') });
        // A node killed with -9: its record lives on (until its TTL), nothing listens.
        const dead = meshFor('a-dead');
        meshes.push(dead);
        await dead.start();
        const deadPort = await freePort();
        const record = {
          id: 'a-dead',
          role: 'tcp',
          internalAddress: `127.0.0.1:${deadPort}`,
          publicHost: '127.0.0.1',
          publicPort: deadPort,
          state: 'ONLINE',
          ccu: 0,
          load: 0,
        } as const;
        await dead.registerNode(record);
        const options = { endpointUrl: endpointOf(live), keepAliveIntervalMs: 0 };
        // Without retries the user lands on the dead node (lowest id among equals) and fails.
        await expect(
          connect({ ...options, uid: 'once', connectAttempts: 1 }),
        ).rejects.toMatchObject({ code: 'TIDEWIRE_ERR_CONNECT_FAILED' });
        const users = [];
        for (let i = 0; i < 5; i++) {
          // Re-registered, the dead node counts no pending ticket: with 0 users it is
          // picked first every time, and each client must get past it.
          await dead.registerNode(record);
          const c = await connect({ ...options, uid: `retry-${i}` });
          users.push(c);
          expect(c.session.port).toBe(live.tcpPort);
        }
        await Promise.all(users.map((c) => c.close()));
      },
    );
  }
});

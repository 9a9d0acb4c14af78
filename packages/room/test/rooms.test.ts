import { connect, type TidewireClient } from '@tidewire/client';
import { MemoryMesh, MemoryMeshHub, type Mesh, RedisMesh } from '@tidewire/mesh';
import { createServer, type TidewireServer } from '@tidewire/server';
import { pack, Status, unpack } from '@tidewire/wire';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, skipWithoutRedis, startRedis } from '../../mesh/test/redis-server.ts';
import { installRooms, RoomCommand, RoomEvent, type RoomServiceOptions } from '../src/index.ts';

const servers: TidewireServer[] = [];
const clients: TidewireClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function node(
  mesh: Mesh | undefined,
  options: RoomServiceOptions = {},
): Promise<TidewireServer> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, debug: true },
    env: {},
    ...(mesh ? { mesh } : {}),
  });
  servers.push(server);
  await server.setupAsTCPServer();
  installRooms(server, options);
  await server.start();
  return server;
}

interface Player {
  c: TidewireClient;
  events: { cmd: number; body: Record<string, unknown> }[];
  call(
    cmd: number,
    body?: Record<string, unknown>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function player(server: TidewireServer, uid: string): Promise<Player> {
  const c = await connect({
    endpointUrl: `http://127.0.0.1:${server.httpPort}`,
    uid,
    keepAliveIntervalMs: 0,
  });
  clients.push(c);
  const events: Player['events'] = [];
  c.on('push', (p) => {
    if (p.ver === 1) events.push({ cmd: p.cmd, body: unpack(p.payload) });
  });
  return {
    c,
    events,
    async call(cmd, body = {}) {
      const res = await c.request(1, cmd, pack(body));
      return { status: res.status, body: unpack(res.payload) };
    },
  };
}

const until = async (check: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('rooms on one node', () => {
  it('create, join, broadcast, message, properties, owner hand-over, capacity and dump', async () => {
    const server = await node(undefined);
    const ann = await player(server, 'ann');
    const bob = await player(server, 'bob');
    const cid = await player(server, 'cid');
    const created = await ann.call(RoomCommand.Create, {
      maxMembers: 2,
      properties: { score: 0, map: 'dune' },
    });
    expect(created.status).toBe(Status.Ok);
    const roomId = created.body.roomId as string;
    expect(roomId.startsWith(`${server.nodeId}~`)).toBe(true);
    expect((await bob.call(RoomCommand.Join, { roomId })).body).toMatchObject({
      owner: 'ann',
      members: ['ann', 'bob'],
    });
    const full = await cid.call(RoomCommand.Join, { roomId });
    expect([full.status, full.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_FULL']);
    await until(() => ann.events.some((e) => e.cmd === RoomEvent.MemberJoined), 'join event');

    await ann.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('hello'), reliable: false });
    await until(() => bob.events.some((e) => e.cmd === RoomEvent.Message), 'broadcast');
    expect(
      Buffer.from(
        bob.events.find((e) => e.cmd === RoomEvent.Message)!.body.data as Uint8Array,
      ).toString(),
    ).toBe('hello');
    await bob.call(RoomCommand.Message, { roomId, to: 'ann', data: Buffer.from('psst') });
    await until(() => ann.events.some((e) => e.cmd === RoomEvent.Message), 'message');

    // Atomic increments and compare-and-set.
    await Promise.all(
      [1, 2, 3].map(() =>
        bob.call(RoomCommand.UpdateProperties, { roomId, increment: { score: 10 } }),
      ),
    );
    expect((await ann.call(RoomCommand.GetProperties, { roomId })).body.properties).toMatchObject({
      score: 30,
    });
    const cas = await ann.call(RoomCommand.UpdateProperties, {
      roomId,
      compareAndSet: { key: 'map', expected: 'dune', value: 'moon' },
    });
    expect(cas.body.properties).toMatchObject({ map: 'moon' });
    const stale = await bob.call(RoomCommand.UpdateProperties, {
      roomId,
      compareAndSet: { key: 'map', expected: 'dune', value: 'mars' },
    });
    expect(stale.body.code).toBe('TIDEWIRE_ERR_ROOM_CAS_FAILED');
    const huge = await bob.call(RoomCommand.UpdateProperties, {
      roomId,
      set: { blob: 'x'.repeat(20_000) },
    });
    expect(huge.body.code).toBe('TIDEWIRE_ERR_ROOM_TOO_LARGE');

    // Debug 904 dumps the rooms.
    const dump = JSON.parse((await ann.c.request(0, 904)).payload.toString()) as {
      roomId: string;
      members: string[];
    }[];
    expect(dump).toMatchObject([{ roomId, members: ['ann', 'bob'] }]);

    // The owner leaves: bob owns it; outsiders cannot act; bad ids are typed errors.
    await ann.call(RoomCommand.Leave, { roomId });
    expect((await bob.call(RoomCommand.Members, { roomId })).body).toEqual({
      members: ['bob'],
      owner: 'bob',
    });
    expect(
      (await ann.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('x') })).body.code,
    ).toBe('TIDEWIRE_ERR_ROOM_NOT_MEMBER');
    expect((await cid.call(RoomCommand.Join, { roomId: 'nonsense' })).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_NOT_FOUND',
    );
    expect((await cid.call(RoomCommand.Join, {})).body.code).toBe('TIDEWIRE_ERR_INVALID_ARGUMENT');
  });

  it('hooks can refuse joins; empty rooms live emptyTtlMs; disconnects leave; OFFLINE refuses create only', async () => {
    const destroyed: string[] = [];
    const server = await node(undefined, {
      beforeJoin: (_room, userId) => (userId === 'cheater' ? 'banned from this room' : undefined),
      onDestroy: (room) => destroyed.push(room.roomId),
    });
    const ann = await player(server, 'ann');
    const cheater = await player(server, 'cheater');
    const roomId = (await ann.call(RoomCommand.Create, { emptyTtlMs: 100 })).body.roomId as string;
    const refused = await cheater.call(RoomCommand.Join, { roomId });
    expect(refused.body).toEqual({
      code: 'TIDEWIRE_ERR_ROOM_JOIN_REFUSED',
      message: 'banned from this room',
    });
    await ann.c.close(); // disconnect: ann leaves, the room is empty
    await until(() => destroyed.length === 1, 'empty room destroyed after its TTL');
    expect(destroyed).toEqual([roomId]);

    const bob = await player(server, 'bob');
    const kept = (await bob.call(RoomCommand.Create, {})).body.roomId as string;
    const dan = await player(server, 'dan');
    server.offline();
    expect((await dan.call(RoomCommand.Create, {})).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_NODE_OFFLINE',
    );
    expect((await dan.call(RoomCommand.Join, { roomId: kept })).status).toBe(Status.Ok);
  });
});

function clusterSuite(name: string, meshFor: () => (nodeId: string) => Mesh, skip = false): void {
  describe.skipIf(skip)(`rooms across nodes (${name})`, () => {
    it("members on other nodes join, talk, and see a dead node's rooms disappear", async () => {
      const make = meshFor();
      const a = await node(make('a'));
      const b = await node(make('b'));
      const c = await node(make('c'));
      const ann = await player(a, 'ann');
      // Players are routed by the mesh; force them onto the nodes we want.
      a.taken();
      c.taken();
      const bob = await player(b, 'bob');
      a.online();
      b.taken();
      const cid = await player(a, 'cid');
      expect(bob.c.session.port).toBe(b.tcpPort);
      const roomId = (await ann.call(RoomCommand.Create, {})).body.roomId as string;
      expect((await bob.call(RoomCommand.Join, { roomId })).body.members).toEqual(['ann', 'bob']);
      await bob.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('from b') });
      await until(
        () => ann.events.some((e) => e.cmd === RoomEvent.Message),
        'cross-node broadcast',
      );
      await ann.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('from a') });
      await until(
        () => bob.events.some((e) => e.cmd === RoomEvent.Message),
        'broadcast to the other node',
      );
      await bob.call(RoomCommand.UpdateProperties, { roomId, increment: { n: 1 } });
      expect((await ann.call(RoomCommand.GetProperties, { roomId })).body.properties).toEqual({
        n: 1,
      });
      // A direct message by user id across nodes.
      await ann.call(RoomCommand.DirectMessage, { to: 'bob', data: Buffer.from('dm') });
      await until(
        () => bob.events.some((e) => e.cmd === RoomEvent.DirectMessage),
        'direct message',
      );
      // Bob's node dies gracefully... and node a's room is gone for everyone when a stops.
      await a.close();
      servers.splice(servers.indexOf(a), 1);
      const gone = await bob.call(RoomCommand.Members, { roomId });
      expect(gone.body.code).toBe('TIDEWIRE_ERR_ROOM_NOT_FOUND');
      void cid;
    });
  });
}

clusterSuite('a MemoryMesh hub', () => {
  const hub = new MemoryMeshHub();
  return (nodeId) => new MemoryMesh({ hub, nodeId });
});

const skip = skipWithoutRedis();
let redis: RedisServer | null = null;
beforeAll(async () => {
  if (!skip) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
let prefix = 0;
clusterSuite(
  'Redis',
  () => {
    prefix++;
    return (nodeId) => new RedisMesh({ url: redis!.url, nodeId, keyPrefix: `rooms-${prefix}:` });
  },
  skip,
);

/**
 * Three nodes in one process: on a MemoryMesh hub, and on a real
 * redis-server (RedisMesh). Players are placed on chosen nodes by making the
 * others TAKEN while they connect.
 */
import { MemoryMesh, MemoryMeshHub, type Mesh, RedisMesh } from '@tidewire/mesh';
import { Status } from '@tidewire/wire';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, skipWithoutRedis, startRedis } from '../../mesh/test/redis-server.ts';
import {
  RoomCommand,
  RoomEvent,
  type RoomServiceOptions,
  type RoomSnapshot,
} from '../src/index.ts';
import { cleanup, forget, playerOn, type RoomNode, roomNode, until } from './helpers.ts';

afterEach(cleanup);

type MeshFactory = (nodeId: string) => Mesh;

async function threeNodes(
  make: MeshFactory,
  options: (id: string) => RoomServiceOptions = () => ({}),
): Promise<RoomNode[]> {
  const nodes: RoomNode[] = [];
  for (const id of ['a', 'b', 'c']) nodes.push(await roomNode(make(id), options(id)));
  return nodes;
}

function clusterSuite(name: string, meshes: () => MeshFactory, skip = false): void {
  describe.skipIf(skip)(`rooms across three nodes (${name})`, () => {
    it('create, join, broadcast, message, properties, capacity, owner hand-over and leave across nodes', async () => {
      const nodes = await threeNodes(meshes());
      const [a, b, c] = nodes as [RoomNode, RoomNode, RoomNode];
      const ann = await playerOn(a, nodes, 'ann');
      const bob = await playerOn(b, nodes, 'bob');
      const cid = await playerOn(c, nodes, 'cid');
      const dan = await playerOn(b, nodes, 'dan');
      const roomId = (
        await ann.call(RoomCommand.Create, { maxMembers: 3, properties: { score: 0 } })
      ).body.roomId as string;
      expect(roomId.startsWith('a~')).toBe(true);
      expect((await bob.call(RoomCommand.Join, { roomId })).body).toMatchObject({
        members: ['ann', 'bob'],
        owner: 'ann',
        properties: { score: 0 },
      });
      expect((await cid.call(RoomCommand.Join, { roomId })).body.members).toEqual([
        'ann',
        'bob',
        'cid',
      ]);
      const full = await dan.call(RoomCommand.Join, { roomId });
      expect([full.status, full.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_FULL']);
      await ann.waitFor(RoomEvent.MemberJoined, { roomId, userId: 'cid' });
      await bob.waitFor(RoomEvent.MemberJoined, { roomId, userId: 'cid', owner: 'ann' });

      // A broadcast from b reaches a and c, not b's sender; a message reaches one member.
      await bob.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('from b') });
      await ann.waitFor(RoomEvent.Message, { roomId, from: 'bob' });
      await cid.waitFor(RoomEvent.Message, { roomId, from: 'bob' });
      await cid.call(RoomCommand.Message, { roomId, to: 'bob', data: Buffer.from('psst') });
      const psst = await bob.waitFor(RoomEvent.Message, { roomId, from: 'cid' });
      expect(Buffer.from(psst.data as Uint8Array).toString()).toBe('psst');
      expect(ann.count(RoomEvent.Message)).toBe(1);
      expect(bob.count(RoomEvent.Message)).toBe(1);

      // Increments from two nodes at once are atomic; of two racing CAS, one wins.
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? bob : cid).call(RoomCommand.UpdateProperties, {
            roomId,
            increment: { score: 1 },
          }),
        ),
      );
      expect((await ann.call(RoomCommand.GetProperties, { roomId })).body.properties).toEqual({
        score: 10,
      });
      const race = await Promise.all(
        [bob, cid].map((p) =>
          p.call(RoomCommand.UpdateProperties, {
            roomId,
            compareAndSet: { key: 'winner', expected: null, value: p.uid },
          }),
        ),
      );
      expect(race.map((r) => r.status).sort()).toEqual([Status.Ok, Status.Bad]);
      expect(race.find((r) => r.status === Status.Bad)?.body.code).toBe(
        'TIDEWIRE_ERR_ROOM_CAS_FAILED',
      );
      await ann.waitFor(RoomEvent.PropertiesChanged, { roomId, by: 'cid' });
      const oversized = await cid.call(RoomCommand.UpdateProperties, {
        roomId,
        set: { blob: 'x'.repeat(17_000) },
      });
      expect([oversized.status, oversized.body.code]).toEqual([
        Status.Bad,
        'TIDEWIRE_ERR_ROOM_TOO_LARGE',
      ]);
      expect((await dan.call(RoomCommand.Members, { roomId })).body.code).toBe(
        'TIDEWIRE_ERR_ROOM_NOT_MEMBER',
      );
      for (const bad of ['nonsense', 'ghost~123', '~abc', 'a~', 'a~b~c', 'bad node!~1']) {
        expect([bad, (await dan.call(RoomCommand.Join, { roomId: bad })).body.code]).toEqual([
          bad,
          'TIDEWIRE_ERR_ROOM_NOT_FOUND',
        ]);
      }

      // The owner leaves: the longest present member (bob, on b) owns the room.
      await ann.call(RoomCommand.Leave, { roomId });
      await cid.waitFor(RoomEvent.MemberLeft, { roomId, userId: 'ann', owner: 'bob' });
      expect((await cid.call(RoomCommand.Members, { roomId })).body).toEqual({
        members: ['bob', 'cid'],
        owner: 'bob',
      });
      // A member on another node disconnects: their node makes them leave.
      await bob.c.close();
      await cid.waitFor(RoomEvent.MemberLeft, { roomId, userId: 'bob', owner: 'cid' });
      expect((await dan.call(RoomCommand.Join, { roomId })).body.members).toEqual(['cid', 'dan']);
      const dump = JSON.parse((await ann.c.request(0, 904)).payload.toString()) as RoomSnapshot[];
      expect(dump).toMatchObject([{ roomId, owner: 'cid', members: ['cid', 'dan'] }]);

      // A direct message by user id, across nodes, to a user in no room with the sender.
      await ann.call(RoomCommand.DirectMessage, { to: 'dan', data: Buffer.from('dm') });
      await dan.waitFor(RoomEvent.DirectMessage, { from: 'ann' });

      // Everyone leaves: the room is gone.
      await cid.call(RoomCommand.Leave, { roomId });
      await dan.call(RoomCommand.Leave, { roomId });
      expect(a.rooms.rooms()).toEqual([]);
      expect((await cid.call(RoomCommand.Join, { roomId })).body.code).toBe(
        'TIDEWIRE_ERR_ROOM_NOT_FOUND',
      );
    });

    it("hooks run on the room's node; empty-room TTL; OFFLINE refuses create but allows join", async () => {
      const destroyed: string[] = [];
      const nodes = await threeNodes(meshes(), (id) =>
        id === 'a'
          ? {
              beforeJoin: (_room, userId) => (userId === 'cheater' ? 'banned' : undefined),
              onDestroy: (room, reason) => destroyed.push(`${room.roomId} ${reason}`),
            }
          : {},
      );
      const [a, b, c] = nodes as [RoomNode, RoomNode, RoomNode];
      const ann = await playerOn(a, nodes, 'ann');
      const bob = await playerOn(b, nodes, 'bob');
      const cheater = await playerOn(c, nodes, 'cheater');
      const roomId = (await ann.call(RoomCommand.Create, { emptyTtlMs: 200 })).body
        .roomId as string;
      expect((await cheater.call(RoomCommand.Join, { roomId })).body).toEqual({
        code: 'TIDEWIRE_ERR_ROOM_JOIN_REFUSED',
        message: 'banned',
      });
      await bob.call(RoomCommand.Join, { roomId });
      await ann.call(RoomCommand.Leave, { roomId });
      await bob.call(RoomCommand.Leave, { roomId });
      // Empty but kept for its TTL: joining within it revives the room.
      expect(a.rooms.room(roomId)?.members).toEqual([]);
      expect((await bob.call(RoomCommand.Join, { roomId })).body.owner).toBe('bob');
      await bob.call(RoomCommand.Leave, { roomId });
      await until(() => destroyed.length === 1, 'the empty room is destroyed after its TTL');
      expect(destroyed).toEqual([`${roomId} empty`]);
      expect((await bob.call(RoomCommand.Join, { roomId })).body.code).toBe(
        'TIDEWIRE_ERR_ROOM_NOT_FOUND',
      );

      // OFFLINE: no room is created there, joining works both ways.
      const open = (await ann.call(RoomCommand.Create, {})).body.roomId as string;
      b.server.offline();
      const refused = await bob.call(RoomCommand.Create, {});
      expect([refused.status, refused.body.code]).toEqual([
        Status.Bad,
        'TIDEWIRE_ERR_ROOM_NODE_OFFLINE',
      ]);
      expect((await bob.call(RoomCommand.Join, { roomId: open })).status).toBe(Status.Ok);
      a.server.offline();
      expect((await ann.call(RoomCommand.Create, {})).body.code).toBe(
        'TIDEWIRE_ERR_ROOM_NODE_OFFLINE',
      );
      expect((await cheater.call(RoomCommand.Create, {})).status).toBe(Status.Ok);
      expect((await cheater.call(RoomCommand.Join, { roomId: open })).body.code).toBe(
        'TIDEWIRE_ERR_ROOM_JOIN_REFUSED',
      );
    });

    it("a node that shuts down: its rooms close for everyone at once ('stopping'), its users leave other nodes' rooms", async () => {
      // No node check within the test: only the shutdown itself can tell b.
      const nodes = await threeNodes(meshes(), () => ({ nodeCheckIntervalMs: 60_000 }));
      const [a, b] = nodes as [RoomNode, RoomNode, RoomNode];
      const ann = await playerOn(a, nodes, 'ann');
      const bob = await playerOn(b, nodes, 'bob');
      const cid = await playerOn(b, nodes, 'cid');
      const onA = (await ann.call(RoomCommand.Create, {})).body.roomId as string;
      const onB = (await bob.call(RoomCommand.Create, {})).body.roomId as string;
      await bob.call(RoomCommand.Join, { roomId: onA });
      await cid.call(RoomCommand.Join, { roomId: onA });
      await ann.call(RoomCommand.Join, { roomId: onB });

      await a.server.close();
      forget(a.server);
      // b's users learn that a's room closed (one event each), and it is gone from lookups.
      await bob.waitFor(RoomEvent.RoomClosed, { roomId: onA, reason: 'stopping' });
      await cid.waitFor(RoomEvent.RoomClosed, { roomId: onA, reason: 'stopping' });
      const gone = await bob.call(RoomCommand.Members, { roomId: onA });
      expect([gone.status, gone.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_NOT_FOUND']);
      // a's user left b's room.
      await bob.waitFor(RoomEvent.MemberLeft, { roomId: onB, userId: 'ann', owner: 'bob' });
      expect((await bob.call(RoomCommand.Members, { roomId: onB })).body.members).toEqual(['bob']);
      expect(bob.count(RoomEvent.RoomClosed)).toBe(1);
    });
  });
}

describe('unreliable broadcasts', () => {
  it('reach UDP members on the room node and on another node (reliable: false)', async () => {
    const hub = new MemoryMeshHub();
    const nodes = [
      await roomNode(new MemoryMesh({ hub, nodeId: 'a' }), {}, true),
      await roomNode(new MemoryMesh({ hub, nodeId: 'b' }), {}, true),
    ];
    const [a, b] = nodes as [RoomNode, RoomNode];
    const ann = await playerOn(a, nodes, 'ann');
    const una = await playerOn(a, nodes, 'una', 'udp');
    const ubo = await playerOn(b, nodes, 'ubo', 'udp');
    const roomId = (await ann.call(RoomCommand.Create, {})).body.roomId as string;
    await una.call(RoomCommand.Join, { roomId });
    await ubo.call(RoomCommand.Join, { roomId });
    for (let i = 0; i < 5; i++) {
      await ann.call(RoomCommand.Broadcast, {
        roomId,
        data: Buffer.from(`state ${i}`),
        reliable: false,
      });
    }
    // Loopback loses nothing: every state arrives, on both nodes.
    await until(
      () => una.count(RoomEvent.Message) === 5 && ubo.count(RoomEvent.Message) === 5,
      'five unreliable states each',
    );
    await ubo.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('up'), reliable: false });
    await una.waitFor(RoomEvent.Message, { roomId, from: 'ubo' });
    await ann.waitFor(RoomEvent.Message, { roomId, from: 'ubo' });
  });
});

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

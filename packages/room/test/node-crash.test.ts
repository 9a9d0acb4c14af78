/**
 * A node that dies without a word (SIGKILL): two nodes in this process and
 * one in a child process, on one redis-server. Its rooms disappear from
 * lookups once its registry entry lapses (the mesh TTL), members elsewhere
 * get event 114 `node gone`, and its users leave the other nodes' rooms.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { RedisMesh } from '@tidewire/mesh';
import { Status } from '@tidewire/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, skipWithoutRedis, startRedis } from '../../mesh/test/redis-server.ts';
import { RoomCommand, RoomEvent } from '../src/index.ts';
import { cleanup, player, type RoomNode, roomNode, type Switchable } from './helpers.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/room-node.ts', import.meta.url));
const TTL_MS = 1000;
const skip = skipWithoutRedis();

describe.skipIf(skip)(
  'a node killed with SIGKILL (Redis, child process)',
  { timeout: 30_000 },
  () => {
    let redis: RedisServer;
    let child: ChildProcess | null = null;

    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await cleanup();
      if (child !== null && child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      await redis?.stop();
    });

    it('its rooms go (114 node gone, then NOT_FOUND) and its users leave rooms elsewhere', async () => {
      const mesh = (nodeId: string): RedisMesh =>
        new RedisMesh({ url: redis.url, nodeId, keyPrefix: 'crash:', ttlMs: TTL_MS });
      const a = await roomNode(mesh('a'), { requestTimeoutMs: 300 });
      const b = await roomNode(mesh('b'), { requestTimeoutMs: 300 });
      const k = fork(FIXTURE, [], {
        execArgv: ['--conditions=@tidewire/source', '--import', 'tsx'],
        env: {
          ...process.env,
          REDIS_URL: redis.url,
          NODE_ID: 'k',
          KEY_PREFIX: 'crash:',
          MESH_TTL_MS: String(TTL_MS),
        },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      child = k;
      const [ready] = (await once(k, 'message')) as [{ httpPort: number; tcpPort: number }];
      const remote: Switchable = {
        nodeId: 'k',
        taken: async () => {
          k.send({ op: 'taken' });
          await once(k, 'message');
        },
        online: async () => {
          k.send({ op: 'online' });
          await once(k, 'message');
        },
      };
      const here: RoomNode[] = [a, b];
      const onA = await player(a.server.httpPort, 'ann', {
        mesh: a.server.mesh,
        others: [b.server, remote],
        tcpPort: a.server.tcpPort,
      });
      const onB = await player(b.server.httpPort, 'bob', {
        mesh: b.server.mesh,
        others: [a.server, remote],
        tcpPort: b.server.tcpPort,
      });
      const onK = await player(ready.httpPort, 'kim', {
        mesh: a.server.mesh,
        others: here.map((n) => n.server),
        tcpPort: ready.tcpPort,
      });
      const kRoom = (await onK.call(RoomCommand.Create, {})).body.roomId as string;
      expect(kRoom.startsWith('k~')).toBe(true);
      await onA.call(RoomCommand.Join, { roomId: kRoom });
      await onB.call(RoomCommand.Join, { roomId: kRoom });
      const aRoom = (await onA.call(RoomCommand.Create, {})).body.roomId as string;
      await onK.call(RoomCommand.Join, { roomId: aRoom });
      await onB.call(RoomCommand.Join, { roomId: aRoom });
      expect(a.rooms.room(aRoom)?.members).toEqual(['ann', 'kim', 'bob']);

      // Frozen (SIGSTOP: its Redis connection stays open): requests for its room time out (Err).
      k.kill('SIGSTOP');
      const frozen = await onB.call(RoomCommand.Members, { roomId: kRoom });
      expect([frozen.status, frozen.body.code]).toEqual([Status.Err, 'TIDEWIRE_ERR_ROOM_TIMEOUT']);
      const exited = once(k, 'exit');
      k.kill('SIGKILL');
      await exited;
      const killedAt = Date.now();
      // Then every member elsewhere hears that the room is gone...
      await onA.waitFor(RoomEvent.RoomClosed, { roomId: kRoom, reason: 'node gone' });
      await onB.waitFor(RoomEvent.RoomClosed, { roomId: kRoom, reason: 'node gone' });
      expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 2_000);
      // ...its user leaves a's room (the owner stays)...
      await onB.waitFor(RoomEvent.MemberLeft, { roomId: aRoom, userId: 'kim', owner: 'ann' });
      expect(a.rooms.room(aRoom)?.members).toEqual(['ann', 'bob']);
      // ...and lookups answer NOT_FOUND.
      const late = await onA.call(RoomCommand.Join, { roomId: kRoom });
      expect([late.status, late.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_NOT_FOUND']);
    });
  },
);

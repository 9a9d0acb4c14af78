import { Status } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { RoomCommand, RoomEvent, type RoomSnapshot } from '../src/index.ts';
import { cleanup, player, roomNode, until } from './helpers.ts';

afterEach(cleanup);

describe('rooms on one node', () => {
  it('create, join, broadcast, message, properties, owner hand-over, capacity and dump', async () => {
    const { server } = await roomNode(undefined);
    const ann = await player(server.httpPort, 'ann');
    const bob = await player(server.httpPort, 'bob');
    const cid = await player(server.httpPort, 'cid');
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
      properties: { score: 0, map: 'dune' },
    });
    const full = await cid.call(RoomCommand.Join, { roomId });
    expect([full.status, full.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_FULL']);
    await ann.waitFor(RoomEvent.MemberJoined, { roomId, userId: 'bob', owner: 'ann' });

    await ann.call(RoomCommand.Broadcast, { roomId, data: Buffer.from('hello'), reliable: false });
    const got = await bob.waitFor(RoomEvent.Message, { roomId, from: 'ann' });
    expect(Buffer.from(got.data as Uint8Array).toString()).toBe('hello');
    await bob.call(RoomCommand.Message, { roomId, to: 'ann', data: Buffer.from('psst') });
    await ann.waitFor(RoomEvent.Message, { from: 'bob' });
    expect(ann.count(RoomEvent.Message)).toBe(1); // not her own broadcast

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
    await bob.waitFor(RoomEvent.PropertiesChanged, { by: 'ann' });
    const stale = await bob.call(RoomCommand.UpdateProperties, {
      roomId,
      compareAndSet: { key: 'map', expected: 'dune', value: 'mars' },
    });
    expect([stale.status, stale.body.code]).toEqual([Status.Bad, 'TIDEWIRE_ERR_ROOM_CAS_FAILED']);
    const huge = await bob.call(RoomCommand.UpdateProperties, {
      roomId,
      set: { blob: 'x'.repeat(20_000) },
    });
    expect(huge.body.code).toBe('TIDEWIRE_ERR_ROOM_TOO_LARGE');
    // A refused update changes nothing.
    expect((await ann.call(RoomCommand.GetProperties, { roomId })).body.properties).toEqual({
      score: 30,
      map: 'moon',
    });

    // Debug 904 dumps the rooms.
    const dump = JSON.parse((await ann.c.request(0, 904)).payload.toString()) as RoomSnapshot[];
    expect(dump).toMatchObject([{ roomId, members: ['ann', 'bob'], owner: 'ann', maxMembers: 2 }]);

    // The owner leaves: bob owns it; outsiders cannot act; bad ids are typed errors.
    await ann.call(RoomCommand.Leave, { roomId });
    await bob.waitFor(RoomEvent.MemberLeft, { roomId, userId: 'ann', owner: 'bob' });
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
    expect((await cid.call(RoomCommand.Join, { roomId: `${server.nodeId}~0000` })).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_NOT_FOUND',
    );
    // The last member leaves: the room is gone at once (emptyTtlMs 0).
    await bob.call(RoomCommand.Leave, { roomId });
    expect((await cid.call(RoomCommand.Join, { roomId })).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_NOT_FOUND',
    );
  });

  it('refuses malformed requests with TIDEWIRE_ERR_INVALID_ARGUMENT', async () => {
    const { server } = await roomNode(undefined);
    const ann = await player(server.httpPort, 'ann');
    const roomId = (await ann.call(RoomCommand.Create, { properties: { s: 'x' } })).body
      .roomId as string;
    const invalid: [number, Record<string, unknown>][] = [
      [RoomCommand.Join, {}],
      [RoomCommand.Join, { roomId: 7 }],
      [RoomCommand.Create, { maxMembers: 0 }],
      [RoomCommand.Create, { maxMembers: 1001 }],
      [RoomCommand.Create, { emptyTtlMs: -1 }],
      [RoomCommand.Create, { allowJoin: 'yes' }],
      [RoomCommand.Create, { properties: [1, 2] }],
      [RoomCommand.Broadcast, { roomId, data: 'not bytes' }],
      [RoomCommand.UpdateProperties, { roomId }],
      [RoomCommand.UpdateProperties, { roomId, set: 'abc' }],
      [RoomCommand.UpdateProperties, { roomId, increment: { s: 1 } }],
      [RoomCommand.UpdateProperties, { roomId, increment: { n: 'one' } }],
      [RoomCommand.UpdateProperties, { roomId, compareAndSet: 3 }],
      [RoomCommand.Message, { roomId, data: Buffer.from('x') }],
      [RoomCommand.DirectMessage, { data: Buffer.from('x') }],
    ];
    for (const [cmd, body] of invalid) {
      const answer = await ann.call(cmd, body);
      expect([cmd, answer.status, answer.body.code]).toEqual([
        cmd,
        Status.Bad,
        'TIDEWIRE_ERR_INVALID_ARGUMENT',
      ]);
    }
    const notMap = await ann.c.request(1, RoomCommand.Join, Buffer.from([0x93, 1, 2, 3]));
    expect(notMap.status).toBe(Status.Bad);
    const dmNobody = await ann.call(RoomCommand.DirectMessage, { to: 'nobody' });
    expect([dmNobody.status, dmNobody.body.code]).toEqual([
      Status.Bad,
      'TIDEWIRE_ERR_USER_NOT_FOUND',
    ]);
  });

  it('hooks can refuse joins; allowJoin false; empty rooms live emptyTtlMs; disconnects leave; OFFLINE refuses create only', async () => {
    const calls: string[] = [];
    const { server } = await roomNode(undefined, {
      beforeJoin: (_room, userId) => (userId === 'cheater' ? 'banned from this room' : undefined),
      onCreate: (room) => calls.push(`create ${room.owner}`),
      onJoin: (_room, userId) => calls.push(`join ${userId}`),
      onLeave: (_room, userId) => calls.push(`leave ${userId}`),
      onEmpty: () => calls.push('empty'),
      onDestroy: (_room, reason) => calls.push(`destroy ${reason}`),
    });
    const ann = await player(server.httpPort, 'ann');
    const cheater = await player(server.httpPort, 'cheater');
    const roomId = (await ann.call(RoomCommand.Create, { emptyTtlMs: 150 })).body.roomId as string;
    const refused = await cheater.call(RoomCommand.Join, { roomId });
    expect(refused.body).toEqual({
      code: 'TIDEWIRE_ERR_ROOM_JOIN_REFUSED',
      message: 'banned from this room',
    });
    const closed = (await ann.call(RoomCommand.Create, { allowJoin: false })).body.roomId;
    expect((await cheater.call(RoomCommand.Join, { roomId: closed })).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_CLOSED_TO_JOIN',
    );
    await ann.call(RoomCommand.Leave, { roomId: closed });
    calls.length = 0;
    const started = Date.now();
    await ann.c.close(); // disconnect: ann leaves, the room is empty
    await until(() => calls.includes('destroy empty'), 'empty room destroyed after its TTL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(calls).toEqual(['leave ann', 'empty', 'destroy empty']);

    // Someone joining within the TTL keeps the room.
    const bob = await player(server.httpPort, 'bob');
    const kept = (await bob.call(RoomCommand.Create, { emptyTtlMs: 150 })).body.roomId as string;
    const dan = await player(server.httpPort, 'dan');
    await bob.call(RoomCommand.Leave, { roomId: kept });
    expect((await dan.call(RoomCommand.Join, { roomId: kept })).body).toMatchObject({
      members: ['dan'],
      owner: 'dan',
    });
    await new Promise((r) => setTimeout(r, 250));
    expect((await dan.call(RoomCommand.Members, { roomId: kept })).body.members).toEqual(['dan']);

    server.offline();
    expect((await dan.call(RoomCommand.Create, {})).body.code).toBe(
      'TIDEWIRE_ERR_ROOM_NODE_OFFLINE',
    );
    expect((await bob.call(RoomCommand.Join, { roomId: kept })).status).toBe(Status.Ok);
  });

  it('holds seats while beforeJoin runs: concurrent joins never overfill a room', async () => {
    const { server } = await roomNode(undefined, {
      beforeJoin: () => new Promise((r) => setTimeout(() => r(undefined), 30)),
    });
    const owner = await player(server.httpPort, 'owner');
    const roomId = (await owner.call(RoomCommand.Create, { maxMembers: 3 })).body.roomId;
    const others = await Promise.all(
      ['p1', 'p2', 'p3', 'p4', 'p5'].map((uid) => player(server.httpPort, uid)),
    );
    const answers = await Promise.all(others.map((p) => p.call(RoomCommand.Join, { roomId })));
    expect(answers.filter((a) => a.status === Status.Ok)).toHaveLength(2);
    expect(answers.filter((a) => a.body.code === 'TIDEWIRE_ERR_ROOM_FULL')).toHaveLength(3);
    expect((await owner.call(RoomCommand.Members, { roomId })).body.members).toHaveLength(3);
  });

  it('server code: create for a user, send from the server to all or one, onTick', async () => {
    let ticks = 0;
    const { server, rooms } = await roomNode(undefined, {
      tickIntervalMs: 20,
      onTick: () => {
        ticks++;
      },
    });
    const ann = await player(server.httpPort, 'ann');
    const bob = await player(server.httpPort, 'bob');
    const room = await rooms.create('ann', { properties: { round: 1 } });
    await rooms.join('bob', room.roomId);
    await rooms.send(room.roomId, Buffer.from('state'));
    await ann.waitFor(RoomEvent.Message, { roomId: room.roomId, from: null });
    await bob.waitFor(RoomEvent.Message, { roomId: room.roomId, from: null });
    await rooms.send(room.roomId, Buffer.from('only you'), { to: 'bob' });
    await until(() => bob.count(RoomEvent.Message) === 2, 'bob gets the second message');
    expect(ann.count(RoomEvent.Message)).toBe(1);
    await expect(rooms.send(room.roomId, Buffer.from('x'), { to: 'nobody' })).rejects.toMatchObject(
      { code: 'TIDEWIRE_ERR_ROOM_NOT_MEMBER' },
    );
    expect(await rooms.updateProperties('bob', room.roomId, { increment: { round: 1 } })).toEqual({
      round: 2,
    });
    await until(() => ticks >= 3, 'onTick runs');
    expect(rooms.room(room.roomId)?.members).toEqual(['ann', 'bob']);
    await rooms.close();
    await ann.waitFor(RoomEvent.RoomClosed, { roomId: room.roomId, reason: 'stopping' });
    await expect(rooms.create('ann')).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_ROOM_SERVICE_CLOSED',
    });
    const t = ticks;
    await new Promise((r) => setTimeout(r, 60));
    expect(ticks).toBe(t); // the tick timer stopped with the service
  });
});

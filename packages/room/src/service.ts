import { randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import type { MeshMessage } from '@tidewire/mesh';
import { CommandError, Ok, type TidewireServer, type User } from '@tidewire/server';
import { BUILTIN_VER, isMsgpackMap, type Logger, pack, Status, unpack } from '@tidewire/wire';
import { type Args, bytesOf, fail, parseBody, parseCreate, parseUpdate, textOf } from './args.ts';
import {
  type CreateOptions,
  type EmptyAnswer,
  type MembersAnswer,
  nodeOfRoom,
  type Properties,
  type PropertyUpdate,
  ROOM_ID_SEPARATOR,
  ROOM_MESH_TOPIC,
  type RoomAnswers,
  RoomClosedReason,
  RoomCommand,
  RoomErrorCode,
  RoomEvent,
  type RoomEvents,
  type RoomSnapshot,
} from './protocol.ts';
import { RemoteCalls } from './remote-calls.ts';

/** Server-side hooks; they run on the room's node. A hook that throws is logged and ignored (except `beforeJoin`). */
export interface RoomHooks {
  onCreate?: (room: RoomSnapshot) => void;
  /** Return a reason to refuse the join (`TIDEWIRE_ERR_ROOM_JOIN_REFUSED`), or nothing to let it happen. */
  beforeJoin?: (
    room: RoomSnapshot,
    userId: string,
  ) => string | undefined | Promise<string | undefined>;
  onJoin?: (room: RoomSnapshot, userId: string) => void;
  onLeave?: (room: RoomSnapshot, userId: string) => void;
  /** The last member left; the room is destroyed now or after its `emptyTtlMs` unless someone joins. */
  onEmpty?: (room: RoomSnapshot) => void;
  onDestroy?: (room: RoomSnapshot, reason: string) => void;
  /** Called every `tickIntervalMs` for each room of this node (authoritative game loops). */
  onTick?: (room: RoomSnapshot) => void;
}

export interface RoomServiceOptions extends RoomHooks {
  /** Largest msgpack size of a room's properties. Default 16 KiB. */
  maxPropertyBytes?: number;
  /** How long an operation on another node's room may take. Default 3000 ms. */
  requestTimeoutMs?: number;
  /** How often the node checks that the nodes of remote rooms and members are alive. Default 1000 ms. */
  nodeCheckIntervalMs?: number;
  /** Period of `onTick`. Default 50 ms (20 Hz); used only with `onTick`. */
  tickIntervalMs?: number;
  logger?: Logger;
}

interface Room {
  readonly id: string;
  owner: string | null;
  /** Member → the node their events go to (the node that joined them). */
  readonly members: Map<string, string>;
  readonly maxMembers: number;
  readonly allowJoin: boolean;
  readonly emptyTtlMs: number;
  properties: Properties;
  emptyTimer: NodeJS.Timeout | null;
  /** Joins past the capacity check, waiting for `beforeJoin`: their seats are held. */
  joining: number;
}

type Op = 'join' | 'leave' | 'broadcast' | 'message' | 'send' | 'get' | 'update' | 'members';

/** Room traffic between nodes (topic `room`), msgpack. */
type MeshBody =
  | { t: 'req'; id: number; op: Op; userId: string; args: Args }
  | { t: 'res'; id: number; ok: true; result: unknown }
  | { t: 'res'; id: number; ok: false; code: string; message: string; status: number }
  | {
      t: 'push';
      users: string[];
      cmd: number;
      payload: Uint8Array;
      reliable: boolean;
      gone?: string;
    };

const createChannel = channel('tidewire:room:create');
const joinChannel = channel('tidewire:room:join');
const leaveChannel = channel('tidewire:room:leave');
const destroyChannel = channel('tidewire:room:destroy');
const nodeGoneChannel = channel('tidewire:room:node-gone');

const NODE_UNKNOWN = 'TIDEWIRE_ERR_NODE_UNKNOWN';
const USER_NOT_FOUND = 'TIDEWIRE_ERR_USER_NOT_FOUND';
/** How long `close` waits for the closing events to reach the mesh. */
const CLOSE_SEND_WAIT_MS = 1_000;
const OPS: ReadonlySet<string> = new Set<Op>([
  'join',
  'leave',
  'broadcast',
  'message',
  'send',
  'get',
  'update',
  'members',
]);

/** Resolves when every promise settled or after `ms`, whichever comes first. */
function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void Promise.allSettled(promises).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function snapshot(room: Room): RoomSnapshot {
  return {
    roomId: room.id,
    owner: room.owner,
    members: [...room.members.keys()],
    maxMembers: room.maxMembers,
    allowJoin: room.allowJoin,
    emptyTtlMs: room.emptyTtlMs,
    properties: room.properties,
  };
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Rooms (ver 1 built-in module): a room lives on the node that created it;
 * users anywhere in the cluster join and talk to it through the mesh.
 */
export class RoomService {
  readonly #server: TidewireServer;
  readonly #options: RoomServiceOptions;
  readonly #logger: Logger | undefined;
  readonly #rooms = new Map<string, Room>();
  /** Rooms each local user is in, wherever the rooms live (to leave on disconnect, to see rooms go). */
  readonly #joined = new Map<string, Set<string>>();
  readonly #calls: RemoteCalls;
  readonly #maxPropertyBytes: number;
  #unsubscribe: (() => void) | null = null;
  #watchTimer: NodeJS.Timeout | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #checking = false;
  #closed: Promise<void> | null = null;
  /** While destroying every room: the mesh sends of the closing events, waited for (bounded). */
  #closingSends: Promise<unknown>[] | null = null;

  constructor(server: TidewireServer, options: RoomServiceOptions = {}) {
    this.#server = server;
    this.#options = options;
    this.#logger = options.logger;
    this.#maxPropertyBytes = options.maxPropertyBytes ?? 16 * 1024;
    this.#calls = new RemoteCalls(options.requestTimeoutMs ?? 3_000);
  }

  /** The rooms living on this node. */
  rooms(): RoomSnapshot[] {
    return [...this.#rooms.values()].map(snapshot);
  }

  /** One room of this node, or undefined. */
  room(roomId: string): RoomSnapshot | undefined {
    const room = this.#rooms.get(roomId);
    return room === undefined ? undefined : snapshot(room);
  }

  // ---- the API (server side, any node) -------------------------------------

  /** Creates a room on this node with `userId` as its first member and owner. Refused while OFFLINE. */
  async create(userId: string, options: CreateOptions = {}): Promise<RoomSnapshot> {
    this.#assertOpen();
    textOf(userId, 'userId');
    if (this.#server.state === 'OFFLINE')
      fail(RoomErrorCode.NodeOffline, 'this node is OFFLINE: rooms cannot be created here');
    const checked = parseCreate(options as Args);
    const room: Room = {
      id: `${this.#server.nodeId}${ROOM_ID_SEPARATOR}${randomBytes(8).toString('hex')}`,
      owner: userId,
      members: new Map([[userId, this.#server.nodeId]]),
      maxMembers: checked.maxMembers,
      allowJoin: checked.allowJoin,
      emptyTtlMs: checked.emptyTtlMs,
      properties: this.#checkSize(checked.properties),
      emptyTimer: null,
      joining: 0,
    };
    this.#rooms.set(room.id, room);
    this.#track(userId, room.id);
    if (createChannel.hasSubscribers) createChannel.publish({ roomId: room.id, userId });
    this.#hook('onCreate', room);
    return snapshot(room);
  }

  join(userId: string, roomId: string): Promise<RoomSnapshot> {
    return this.#run('join', userId, roomId, {}) as Promise<RoomSnapshot>;
  }

  leave(userId: string, roomId: string): Promise<void> {
    return this.#run('leave', userId, roomId, {}).then(() => undefined);
  }

  /**
   * Pushes `data` to every other member (event 110). `reliable: false` lets a
   * member's node use the unreliable UDP channel when that member is on UDP.
   */
  broadcast(userId: string, roomId: string, data: Uint8Array, reliable = true): Promise<void> {
    return this.#run('broadcast', userId, roomId, { data, reliable }).then(() => undefined);
  }

  /** Pushes `data` to one member (event 110). */
  message(userId: string, roomId: string, to: string, data: Uint8Array): Promise<void> {
    return this.#run('message', userId, roomId, { to, data }).then(() => undefined);
  }

  /**
   * Pushes `data` from the server (event 110 with `from: null`) to every
   * member, or to member `to`: for game logic such as `onTick`.
   */
  send(
    roomId: string,
    data: Uint8Array,
    options: { to?: string; reliable?: boolean } = {},
  ): Promise<void> {
    const args: Args = { data, reliable: options.reliable !== false };
    if (options.to !== undefined) args.to = options.to;
    return this.#run('send', '', roomId, args).then(() => undefined);
  }

  getProperties(userId: string, roomId: string): Promise<Properties> {
    return this.#run('get', userId, roomId, {}) as Promise<Properties>;
  }

  /** Applies `update` atomically (compare-and-set, then set, then increment); members get event 113. */
  updateProperties(userId: string, roomId: string, update: PropertyUpdate): Promise<Properties> {
    const checked = parseUpdate(update as Args);
    return this.#run('update', userId, roomId, checked as Args) as Promise<Properties>;
  }

  members(userId: string, roomId: string): Promise<MembersAnswer> {
    return this.#run('members', userId, roomId, {}) as Promise<MembersAnswer>;
  }

  /** Pushes `data` to user `to` wherever they are connected (event 115), reliably. */
  async directMessage(from: string, to: string, data: Uint8Array): Promise<void> {
    this.#assertOpen();
    textOf(to, 'to');
    try {
      const body: RoomEvents[typeof RoomEvent.DirectMessage] = { from, data };
      await this.#server.sendToUser(to, BUILTIN_VER, RoomEvent.DirectMessage, pack(body));
    } catch (err) {
      const code = codeOf(err);
      if (code === USER_NOT_FOUND) fail(USER_NOT_FOUND, `user ${to} is not connected`);
      fail(code ?? RoomErrorCode.Timeout, `user ${to} cannot be reached`, Status.Err);
    }
  }

  /**
   * Stops the timers, destroys this node's rooms (members here and on other
   * nodes get event 114 `stopping`), and rejects operations still waiting for
   * another node. Resolves when the events for other nodes have been handed
   * to the mesh (at most `CLOSE_SEND_WAIT_MS`). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed === null) {
      this.#closed = Promise.resolve();
      if (this.#watchTimer !== null) clearInterval(this.#watchTimer);
      if (this.#tickTimer !== null) clearInterval(this.#tickTimer);
      this.#watchTimer = null;
      this.#tickTimer = null;
      const destroyed = this.#destroyAll();
      this.#calls.rejectAll(
        new CommandError(RoomErrorCode.ServiceClosed, 'the room service is closed', Status.Err),
      );
      this.#unsubscribe?.();
      this.#unsubscribe = null;
      this.#joined.clear();
      this.#closed = destroyed;
    }
    return this.#closed;
  }

  /**
   * Destroys this node's rooms with reason `stopping` and waits (at most
   * `CLOSE_SEND_WAIT_MS`) for the events to other nodes to reach the mesh.
   * Runs when the server's shutdown begins, while the mesh is open; the
   * service itself stays up, so users leaving later still leave other
   * nodes' rooms.
   */
  #destroyAll(): Promise<void> {
    const sends: Promise<unknown>[] = [];
    this.#closingSends = sends;
    try {
      for (const room of [...this.#rooms.values()]) this.#destroy(room, RoomClosedReason.Stopping);
    } finally {
      this.#closingSends = null;
    }
    return settleWithin(sends, CLOSE_SEND_WAIT_MS);
  }

  // ---- wiring -------------------------------------------------------------

  /** @internal Registers the commands, the mesh topic, the dump, the disconnect handling and the timers. */
  install(): void {
    const server = this.#server;
    /** Registers command `cmd`: its answer is `run`'s result, an empty map for the commands that only confirm. */
    const handle = <C extends RoomCommand>(
      cmd: C,
      run: (
        user: User,
        body: Args,
      ) => Promise<RoomAnswers[C] extends EmptyAnswer ? void : RoomAnswers[C]>,
    ): void => {
      server.handleBuiltinCommand(cmd, async (ver, c, payload, user) => {
        const result = await run(user, parseBody(payload));
        user.send(ver, c, pack(result ?? {}), Ok);
      });
    };
    const roomIdOf = (b: Args): string => textOf(b.roomId, 'roomId');
    handle(RoomCommand.Create, (user, b) => this.create(user.id, parseCreate(b)));
    handle(RoomCommand.Join, (user, b) => this.join(user.id, roomIdOf(b)));
    handle(RoomCommand.Leave, (user, b) => this.leave(user.id, roomIdOf(b)));
    handle(RoomCommand.Broadcast, (user, b) => {
      if (b.reliable !== undefined && typeof b.reliable !== 'boolean')
        fail(RoomErrorCode.Invalid, 'reliable must be a boolean');
      return this.broadcast(user.id, roomIdOf(b), bytesOf(b.data), b.reliable !== false);
    });
    handle(RoomCommand.Message, (user, b) =>
      this.message(user.id, roomIdOf(b), textOf(b.to, 'to'), bytesOf(b.data)),
    );
    handle(RoomCommand.GetProperties, async (user, b) => ({
      properties: await this.getProperties(user.id, roomIdOf(b)),
    }));
    handle(RoomCommand.UpdateProperties, async (user, b) => ({
      properties: await this.updateProperties(user.id, roomIdOf(b), parseUpdate(b)),
    }));
    handle(RoomCommand.Members, (user, b) => this.members(user.id, roomIdOf(b)));
    handle(RoomCommand.DirectMessage, (user, b) =>
      this.directMessage(user.id, textOf(b.to, 'to'), bytesOf(b.data)),
    );
    this.#unsubscribe = server.mesh.onMessage((message) => {
      if (message.topic === ROOM_MESH_TOPIC) this.#onMesh(message);
    });
    server.setRoomDump(() => this.rooms());
    // A user leaves their rooms when their seat is given up, not when a
    // connection drops and the seat is held for a resume.
    server.onLeave((_reason, user) => {
      const rooms = this.#joined.get(user.id);
      if (rooms === undefined) return;
      this.#joined.delete(user.id);
      for (const roomId of rooms) {
        this.#run('leave', user.id, roomId, {}).catch((err: unknown) => {
          this.#logger?.debug?.('room: leave on disconnect failed', {
            roomId,
            userId: user.id,
            error: String(err),
          });
        });
      }
    });
    // At the start of a shutdown the mesh is still open: other nodes hear 'stopping' at once.
    server.onShutdown(() => this.#destroyAll());
    server.onStop(() => this.close());
    this.#watchTimer = setInterval(() => {
      this.#checkNodes().catch((err: unknown) => {
        this.#logger?.error?.('room: node check threw', { error: String(err) });
      });
    }, this.#options.nodeCheckIntervalMs ?? 1_000);
    this.#watchTimer.unref();
    if (this.#options.onTick !== undefined) {
      this.#tickTimer = setInterval(() => this.#tick(), this.#options.tickIntervalMs ?? 50);
      this.#tickTimer.unref();
    }
  }

  // ---- execution: here, or on the room's node through the mesh ----------------

  async #run(op: Op, userId: string, roomId: string, args: Args): Promise<unknown> {
    this.#assertOpen();
    const node = nodeOfRoom(textOf(roomId, 'roomId'));
    if (node === null) fail(RoomErrorCode.NotFound, `no room ${roomId}: malformed id`);
    const self = this.#server.nodeId;
    const user = op === 'join' ? this.#server.getUser(userId) : undefined;
    let result: unknown;
    try {
      result =
        node === self
          ? await this.#exec(op, userId, self, roomId, args)
          : await this.#remote(node, op, userId, roomId, args);
    } catch (err) {
      if (op !== 'join' && codeOf(err) === RoomErrorCode.NotFound) this.#untrack(userId, roomId);
      throw err;
    }
    if (op === 'join' && user !== undefined) {
      if (this.#server.getUser(userId) === user) this.#track(userId, roomId);
      // The user disconnected while joining: their disconnect did not know this room.
      else this.#run('leave', userId, roomId, {}).catch(() => {});
    }
    if (op === 'leave') this.#untrack(userId, roomId);
    return result;
  }

  async #remote(
    node: string,
    op: Op,
    userId: string,
    roomId: string,
    args: Args,
  ): Promise<unknown> {
    try {
      return await this.#calls.call(node, (id) =>
        this.#server.mesh.sendToNode(
          node,
          ROOM_MESH_TOPIC,
          pack({ t: 'req', id, op, userId, args: { ...args, roomId } }),
        ),
      );
    } catch (err) {
      if (err instanceof CommandError) throw err;
      if (codeOf(err) === NODE_UNKNOWN)
        fail(RoomErrorCode.NotFound, `no room ${roomId}: its node is gone`);
      return fail(
        RoomErrorCode.Timeout,
        `node ${node} cannot be reached: ${(err as Error).message}`,
        Status.Err,
      );
    }
  }

  #onMesh(message: MeshMessage): void {
    let m: MeshBody;
    try {
      m = unpack(message.payload);
    } catch {
      return;
    }
    if (!isMsgpackMap(m)) return;
    if (m.t === 'push') {
      if (!Array.isArray(m.users) || !(m.payload instanceof Uint8Array)) return;
      for (const userId of m.users) {
        if (typeof userId !== 'string') continue;
        this.#pushTo(userId, m.cmd, m.payload, m.reliable !== false);
        if (typeof m.gone === 'string') this.#untrack(userId, m.gone);
      }
      return;
    }
    if (m.t === 'res' && typeof m.id === 'number') {
      if (m.ok === true) this.#calls.answer(m.id, true, m.result);
      else {
        const status = m.status === Status.Err ? Status.Err : Status.Bad;
        this.#calls.answer(
          m.id,
          false,
          new CommandError(
            typeof m.code === 'string' ? m.code : RoomErrorCode.Invalid,
            typeof m.message === 'string' ? m.message : 'refused',
            status,
          ),
        );
      }
      return;
    }
    if (
      m.t === 'req' &&
      typeof m.id === 'number' &&
      typeof m.userId === 'string' &&
      typeof m.op === 'string' &&
      OPS.has(m.op) &&
      isMsgpackMap(m.args)
    ) {
      void this.#answer(message.from, m.id, m.op, m.userId, m.args);
    }
  }

  async #answer(from: string, id: number, op: Op, userId: string, args: Args): Promise<void> {
    let reply: MeshBody;
    try {
      const roomId = textOf(args.roomId, 'roomId');
      reply = { t: 'res', id, ok: true, result: await this.#exec(op, userId, from, roomId, args) };
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown; status?: unknown };
      reply = {
        t: 'res',
        id,
        ok: false,
        code: typeof e.code === 'string' ? e.code : RoomErrorCode.Invalid,
        message: typeof e.message === 'string' ? e.message : String(err),
        status: e.status === Status.Bad ? Status.Bad : Status.Err,
      };
    }
    if (this.#closed !== null) return;
    await this.#server.mesh.sendToNode(from, ROOM_MESH_TOPIC, pack(reply)).catch((err: unknown) => {
      this.#logger?.debug?.('room: answer not sent', { node: from, error: String(err) });
    });
  }

  /** The operations, on the room's own node: one at a time, so each one is atomic. */
  async #exec(op: Op, userId: string, node: string, roomId: string, args: Args): Promise<unknown> {
    const room = this.#rooms.get(roomId);
    if (room === undefined) fail(RoomErrorCode.NotFound, `no room ${roomId}`);
    if (op === 'join') return this.#join(room, userId, node);
    if (op === 'send') {
      const data = bytesOf(args.data);
      const body = { roomId, from: null, data };
      if (args.to === undefined)
        this.#emit(room, RoomEvent.Message, body, null, args.reliable !== false);
      else this.#emitTo(room, textOf(args.to, 'to'), RoomEvent.Message, body);
      return {};
    }
    if (!room.members.has(userId))
      fail(RoomErrorCode.NotMember, `${userId} is not in room ${room.id}`);
    switch (op) {
      case 'leave':
        this.#leave(room, userId);
        return {};
      case 'broadcast':
        this.#emit(
          room,
          RoomEvent.Message,
          { roomId, from: userId, data: bytesOf(args.data) },
          userId,
          args.reliable !== false,
        );
        return {};
      case 'message':
        this.#emitTo(room, textOf(args.to, 'to'), RoomEvent.Message, {
          roomId,
          from: userId,
          data: bytesOf(args.data),
        });
        return {};
      case 'get':
        return room.properties;
      case 'update':
        return this.#update(room, userId, parseUpdate(args));
      case 'members':
        return { members: [...room.members.keys()], owner: room.owner };
    }
  }

  async #join(room: Room, userId: string, node: string): Promise<RoomSnapshot> {
    if (room.members.has(userId)) {
      room.members.set(userId, node); // the same user, joined again (maybe from another node)
      return snapshot(room);
    }
    if (!room.allowJoin) fail(RoomErrorCode.Closed, `room ${room.id} does not allow joining`);
    if (room.members.size + room.joining >= room.maxMembers)
      fail(RoomErrorCode.Full, `room ${room.id} is full (${room.maxMembers})`);
    const beforeJoin = this.#options.beforeJoin;
    if (beforeJoin !== undefined) {
      room.joining++;
      let reason: string | undefined;
      try {
        reason = await beforeJoin(snapshot(room), userId);
      } finally {
        room.joining--;
      }
      if (typeof reason === 'string' && reason !== '') fail(RoomErrorCode.JoinRefused, reason);
      if (this.#rooms.get(room.id) !== room) fail(RoomErrorCode.NotFound, `no room ${room.id}`);
      if (room.members.has(userId)) return snapshot(room);
    }
    if (room.emptyTimer !== null) {
      clearTimeout(room.emptyTimer);
      room.emptyTimer = null;
    }
    room.members.set(userId, node);
    room.owner ??= userId;
    this.#emit(
      room,
      RoomEvent.MemberJoined,
      { roomId: room.id, userId, owner: room.owner },
      userId,
    );
    if (joinChannel.hasSubscribers) joinChannel.publish({ roomId: room.id, userId });
    this.#hook('onJoin', room, userId);
    return snapshot(room);
  }

  #leave(room: Room, userId: string): void {
    if (!room.members.delete(userId)) return;
    if (room.owner === userId) room.owner = room.members.keys().next().value ?? null;
    this.#emit(room, RoomEvent.MemberLeft, { roomId: room.id, userId, owner: room.owner }, null);
    if (leaveChannel.hasSubscribers) leaveChannel.publish({ roomId: room.id, userId });
    this.#hook('onLeave', room, userId);
    if (room.members.size > 0) return;
    this.#hook('onEmpty', room);
    if (room.members.size > 0 || this.#rooms.get(room.id) !== room) return;
    if (room.emptyTtlMs === 0) this.#destroy(room, RoomClosedReason.Empty);
    else if (room.emptyTimer === null) {
      room.emptyTimer = setTimeout(() => {
        room.emptyTimer = null;
        if (room.members.size === 0) this.#destroy(room, RoomClosedReason.Empty);
      }, room.emptyTtlMs);
      room.emptyTimer.unref();
    }
  }

  #update(room: Room, userId: string, update: PropertyUpdate): Properties {
    const next: Properties = { ...room.properties };
    if (update.compareAndSet !== undefined) {
      const { key, expected, value } = update.compareAndSet;
      if (!pack(next[key] ?? null).equals(pack(expected ?? null)))
        fail(RoomErrorCode.CompareFailed, `${key} is not the expected value`);
      next[key] = value;
    }
    if (update.set !== undefined) Object.assign(next, update.set);
    for (const [key, delta] of Object.entries(update.increment ?? {})) {
      const current = next[key] ?? 0;
      if (typeof current !== 'number') fail(RoomErrorCode.Invalid, `${key} is not a number`);
      next[key] = current + delta;
    }
    room.properties = this.#checkSize(next);
    this.#emit(
      room,
      RoomEvent.PropertiesChanged,
      { roomId: room.id, properties: room.properties, by: userId },
      null,
    );
    return room.properties;
  }

  #destroy(room: Room, reason: RoomClosedReason): void {
    if (this.#rooms.get(room.id) !== room) return;
    this.#rooms.delete(room.id);
    if (room.emptyTimer !== null) clearTimeout(room.emptyTimer);
    room.emptyTimer = null;
    if (room.members.size > 0)
      this.#emit(room, RoomEvent.RoomClosed, { roomId: room.id, reason }, null, true, room.id);
    for (const userId of room.members.keys()) this.#untrack(userId, room.id);
    if (destroyChannel.hasSubscribers) destroyChannel.publish({ roomId: room.id, reason });
    const hook = this.#options.onDestroy;
    if (hook !== undefined) {
      try {
        hook(snapshot(room), reason);
      } catch (err) {
        this.#logger?.error?.('room: onDestroy threw', { roomId: room.id, error: String(err) });
      }
    }
  }

  #checkSize(properties: Properties): Properties {
    const size = pack(properties).length;
    if (size > this.#maxPropertyBytes) {
      fail(
        RoomErrorCode.TooLarge,
        `properties are ${size} bytes; the limit is ${this.#maxPropertyBytes}`,
      );
    }
    return properties;
  }

  // ---- delivery -----------------------------------------------------------

  /**
   * Pushes an event to the members (but `except`): directly to this node's
   * users, and one mesh message per other node carrying its members' ids.
   */
  #emit<E extends RoomEvent>(
    room: Room,
    event: E,
    body: RoomEvents[E],
    except: string | null,
    reliable = true,
    gone?: string,
  ): void {
    const payload = pack(body);
    const self = this.#server.nodeId;
    let remote: Map<string, string[]> | null = null;
    for (const [userId, node] of room.members) {
      if (userId === except) continue;
      if (node === self) {
        this.#pushTo(userId, event, payload, reliable);
        continue;
      }
      remote ??= new Map();
      const users = remote.get(node);
      if (users === undefined) remote.set(node, [userId]);
      else users.push(userId);
    }
    if (remote === null) return;
    for (const [node, users] of remote) {
      const push: MeshBody = { t: 'push', users, cmd: event, payload, reliable };
      if (gone !== undefined) push.gone = gone;
      const sent = this.#server.mesh
        .sendToNode(node, ROOM_MESH_TOPIC, pack(push))
        .catch((err: unknown) => {
          // The node is gone: the node check removes its members.
          this.#logger?.debug?.('room: event not sent', { node, error: String(err) });
        });
      this.#closingSends?.push(sent);
    }
  }

  #emitTo<E extends RoomEvent>(room: Room, to: string, event: E, body: RoomEvents[E]): void {
    const node = room.members.get(to);
    if (node === undefined) fail(RoomErrorCode.NotMember, `${to} is not in room ${room.id}`);
    const payload = pack(body);
    if (node === this.#server.nodeId) this.#pushTo(to, event, payload, true);
    else {
      const push: MeshBody = { t: 'push', users: [to], cmd: event, payload, reliable: true };
      this.#server.mesh.sendToNode(node, ROOM_MESH_TOPIC, pack(push)).catch((err: unknown) => {
        this.#logger?.debug?.('room: event not sent', { node, error: String(err) });
      });
    }
  }

  /** To a user of this node; one joined through server code from elsewhere is found through the mesh. */
  #pushTo(userId: string, event: number, payload: Uint8Array, reliable: boolean): void {
    const local = this.#server.getUser(userId);
    if (local !== undefined) {
      local.push(BUILTIN_VER, event, payload, reliable ? undefined : { reliable: false });
      return;
    }
    if (this.#closed !== null) return;
    this.#server.sendToUser(userId, BUILTIN_VER, event, payload).catch(() => {
      // Not connected anywhere: their node's disconnect handling removes them.
    });
  }

  // ---- node loss, ticks, bookkeeping ------------------------------------------

  /**
   * Finds the nodes this node depends on (those of rooms its users are in,
   * those of its rooms' members) that left the cluster: their rooms are gone
   * for this node's users (event 114 `node gone`), their members leave this
   * node's rooms.
   */
  async #checkNodes(): Promise<void> {
    if (this.#checking || this.#closed !== null) return;
    const self = this.#server.nodeId;
    const watched = new Set<string>();
    for (const rooms of this.#joined.values()) {
      for (const roomId of rooms) {
        const node = nodeOfRoom(roomId);
        if (node !== null && node !== self) watched.add(node);
      }
    }
    for (const room of this.#rooms.values()) {
      for (const node of room.members.values()) if (node !== self) watched.add(node);
    }
    if (watched.size === 0) return;
    this.#checking = true;
    let alive: Set<string>;
    try {
      alive = new Set((await this.#server.mesh.listNodes()).map((n) => n.id));
    } catch (err) {
      this.#logger?.debug?.('room: node check failed', { error: String(err) });
      return;
    } finally {
      this.#checking = false;
    }
    if (this.#closed !== null) return;
    const gone = [...watched].filter((node) => !alive.has(node));
    if (gone.length === 0) return;
    const dead = new Set(gone);
    for (const node of gone) {
      this.#logger?.info?.('room: a node left the cluster; its rooms and members are gone', {
        node,
      });
      if (nodeGoneChannel.hasSubscribers) nodeGoneChannel.publish({ nodeId: node });
    }
    for (const [userId, rooms] of [...this.#joined]) {
      for (const roomId of [...rooms]) {
        if (!dead.has(nodeOfRoom(roomId) ?? '')) continue;
        this.#untrack(userId, roomId);
        const body: RoomEvents[typeof RoomEvent.RoomClosed] = {
          roomId,
          reason: RoomClosedReason.NodeGone,
        };
        this.#pushTo(userId, RoomEvent.RoomClosed, pack(body), true);
      }
    }
    for (const room of [...this.#rooms.values()]) {
      for (const [userId, node] of [...room.members]) {
        if (dead.has(node)) this.#leave(room, userId);
      }
    }
  }

  #tick(): void {
    const onTick = this.#options.onTick;
    if (onTick === undefined) return;
    for (const room of this.#rooms.values()) {
      try {
        onTick(snapshot(room));
      } catch (err) {
        this.#logger?.error?.('room: onTick threw', { roomId: room.id, error: String(err) });
      }
    }
  }

  #hook(name: 'onCreate' | 'onEmpty', room: Room): void;
  #hook(name: 'onJoin' | 'onLeave', room: Room, userId: string): void;
  #hook(name: 'onCreate' | 'onEmpty' | 'onJoin' | 'onLeave', room: Room, userId?: string): void {
    const hook = this.#options[name] as ((room: RoomSnapshot, userId: string) => void) | undefined;
    if (hook === undefined) return;
    try {
      hook(snapshot(room), userId ?? '');
    } catch (err) {
      this.#logger?.error?.(`room: ${name} threw`, { roomId: room.id, error: String(err) });
    }
  }

  #assertOpen(): void {
    if (this.#closed !== null)
      fail(RoomErrorCode.ServiceClosed, 'the room service is closed', Status.Err);
  }

  /** Remembers that a user of this node is in `roomId` (users of other nodes are not tracked here). */
  #track(userId: string, roomId: string): void {
    if (this.#server.getUser(userId) === undefined) return;
    let rooms = this.#joined.get(userId);
    if (rooms === undefined) {
      rooms = new Set();
      this.#joined.set(userId, rooms);
    }
    rooms.add(roomId);
  }

  #untrack(userId: string, roomId: string): void {
    const rooms = this.#joined.get(userId);
    if (rooms === undefined) return;
    rooms.delete(roomId);
    if (rooms.size === 0) this.#joined.delete(userId);
  }
}

/** Installs the room module on `server` (ver 1 commands 100-108, debug 904); call before `start()`. */
export function installRooms(
  server: TidewireServer,
  options: RoomServiceOptions = {},
): RoomService {
  const service = new RoomService(server, options);
  service.install();
  return service;
}

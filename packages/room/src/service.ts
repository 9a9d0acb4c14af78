import { randomBytes } from 'node:crypto';
import { CommandError, Ok, type TidewireServer, type User } from '@tidewire/server';
import { BUILTIN_VER, pack, Status, unpack } from '@tidewire/wire';
import {
  nodeOfRoom,
  ROOM_ID_SEPARATOR,
  RoomCommand,
  RoomErrorCode,
  RoomEvent,
} from './protocol.ts';

export type Properties = Record<string, unknown>;

export interface CreateOptions {
  /** Default 16; at most 1000. */
  maxMembers?: number;
  /** Whether others may join. Default true. */
  allowJoin?: boolean;
  /** An empty room is destroyed after this many ms. Default 0: at once. */
  emptyTtlMs?: number;
  properties?: Properties;
}

/** A room as the dump (debug 904) and the hooks see it. */
export interface RoomSnapshot {
  roomId: string;
  owner: string | null;
  members: string[];
  maxMembers: number;
  allowJoin: boolean;
  properties: Properties;
}

export interface PropertyUpdate {
  /** Keys to set. */
  set?: Properties;
  /** Numeric keys to add to (a missing key counts as 0). */
  increment?: Record<string, number>;
  /** Set `key` to `value` only if it currently equals `expected` (msgpack equality). */
  compareAndSet?: { key: string; expected: unknown; value: unknown };
}

export interface RoomHooks {
  onCreate?: (room: RoomSnapshot) => void;
  /** Return a reason to refuse the join, or nothing to let it happen. */
  beforeJoin?: (
    room: RoomSnapshot,
    userId: string,
  ) => string | undefined | Promise<string | undefined>;
  onLeave?: (room: RoomSnapshot, userId: string) => void;
  onDestroy?: (room: RoomSnapshot) => void;
}

export interface RoomServiceOptions extends RoomHooks {
  /** Largest msgpack size of a room's properties. Default 16 KiB. */
  maxPropertyBytes?: number;
  /** How long an operation on another node's room may take. Default 3000 ms. */
  requestTimeoutMs?: number;
}

interface Room {
  readonly id: string;
  owner: string | null;
  readonly members: Set<string>;
  readonly maxMembers: number;
  readonly allowJoin: boolean;
  readonly emptyTtlMs: number;
  properties: Properties;
  emptyTimer: NodeJS.Timeout | null;
}

type Op = 'join' | 'leave' | 'broadcast' | 'message' | 'get' | 'update' | 'members';
type Args = Record<string, unknown>;

const TOPIC = 'room';
const MAX_MEMBERS = 1000;

function fail(code: string, message: string, status: 4 | 5 = Status.Bad): never {
  throw new CommandError(code, message, status);
}

function snapshot(room: Room): RoomSnapshot {
  return {
    roomId: room.id,
    owner: room.owner,
    members: [...room.members],
    maxMembers: room.maxMembers,
    allowJoin: room.allowJoin,
    properties: room.properties,
  };
}

/**
 * Rooms (ver 1 built-in module): a room lives on the node that created it;
 * users anywhere in the cluster join and talk to it through the mesh.
 */
export class RoomService {
  readonly #server: TidewireServer;
  readonly #options: RoomServiceOptions;
  readonly #rooms = new Map<string, Room>();
  /** Rooms each local user is in, wherever the rooms live (for leaving on disconnect). */
  readonly #joined = new Map<string, Set<string>>();
  readonly #pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }
  >();
  readonly #maxPropertyBytes: number;
  readonly #timeoutMs: number;

  constructor(server: TidewireServer, options: RoomServiceOptions = {}) {
    this.#server = server;
    this.#options = options;
    this.#maxPropertyBytes = options.maxPropertyBytes ?? 16 * 1024;
    this.#timeoutMs = options.requestTimeoutMs ?? 3_000;
  }

  /** The rooms living on this node. */
  rooms(): RoomSnapshot[] {
    return [...this.#rooms.values()].map(snapshot);
  }

  // ---- the API (server side, any node) -------------------------------------

  /** Creates a room on this node with `userId` as its first member and owner. Refused while OFFLINE. */
  async create(userId: string, options: CreateOptions = {}): Promise<RoomSnapshot> {
    if (this.#server.state === 'OFFLINE')
      fail(RoomErrorCode.NodeOffline, 'this node is OFFLINE: rooms cannot be created here');
    const maxMembers = options.maxMembers ?? 16;
    if (!Number.isInteger(maxMembers) || maxMembers < 1 || maxMembers > MAX_MEMBERS) {
      fail(RoomErrorCode.Invalid, `maxMembers must be 1-${MAX_MEMBERS}`);
    }
    const emptyTtlMs = options.emptyTtlMs ?? 0;
    if (!Number.isInteger(emptyTtlMs) || emptyTtlMs < 0)
      fail(RoomErrorCode.Invalid, 'emptyTtlMs must be an integer >= 0');
    const properties = this.#checkProperties(options.properties ?? {});
    const room: Room = {
      id: `${this.#server.nodeId}${ROOM_ID_SEPARATOR}${randomBytes(6).toString('hex')}`,
      owner: userId,
      members: new Set([userId]),
      maxMembers,
      allowJoin: options.allowJoin ?? true,
      emptyTtlMs,
      properties,
      emptyTimer: null,
    };
    this.#rooms.set(room.id, room);
    this.#track(userId, room.id, true);
    this.#options.onCreate?.(snapshot(room));
    return snapshot(room);
  }

  join(userId: string, roomId: string): Promise<RoomSnapshot> {
    return this.#run('join', userId, { roomId }) as Promise<RoomSnapshot>;
  }

  leave(userId: string, roomId: string): Promise<void> {
    return this.#run('leave', userId, { roomId }).then(() => undefined);
  }

  /**
   * Pushes `data` to every other member; `reliable: false` uses the
   * unreliable UDP channel for members on the room's node (others get it
   * through the mesh, reliably; TCP is always reliable).
   */
  broadcast(userId: string, roomId: string, data: Uint8Array, reliable = true): Promise<void> {
    return this.#run('broadcast', userId, { roomId, data, reliable }).then(() => undefined);
  }

  /** Pushes `data` to one member. */
  message(userId: string, roomId: string, to: string, data: Uint8Array): Promise<void> {
    return this.#run('message', userId, { roomId, to, data }).then(() => undefined);
  }

  getProperties(userId: string, roomId: string): Promise<Properties> {
    return this.#run('get', userId, { roomId }) as Promise<Properties>;
  }

  /** Applies `update` atomically; members get `PropertiesChanged`. */
  updateProperties(userId: string, roomId: string, update: PropertyUpdate): Promise<Properties> {
    return this.#run('update', userId, { roomId, ...update }) as Promise<Properties>;
  }

  members(userId: string, roomId: string): Promise<{ members: string[]; owner: string | null }> {
    return this.#run('members', userId, { roomId }) as Promise<{
      members: string[];
      owner: string | null;
    }>;
  }

  /** Stops timers and forgets this node's rooms (members get `RoomClosed`). */
  close(): void {
    for (const room of [...this.#rooms.values()]) this.#destroy(room, 'server stopping');
    for (const entry of this.#pending.values()) clearTimeout(entry.timer);
    this.#pending.clear();
  }

  // ---- wiring -------------------------------------------------------------

  /** @internal Registers the commands, the mesh topic, the dump and the disconnect handling. */
  install(): void {
    const server = this.#server;
    const handle = (cmd: number, run: (user: User, body: Args) => Promise<unknown>): void => {
      server.handleBuiltinCommand(cmd, async (ver, c, payload, user) => {
        const body = parseBody(payload);
        const result = await run(user, body);
        user.send(ver, c, pack(result ?? {}), Ok);
      });
    };
    handle(RoomCommand.Create, (user, b) =>
      this.create(user.id, {
        ...(b.maxMembers !== undefined ? { maxMembers: b.maxMembers as number } : {}),
        ...(b.allowJoin !== undefined ? { allowJoin: b.allowJoin === true } : {}),
        ...(b.emptyTtlMs !== undefined ? { emptyTtlMs: b.emptyTtlMs as number } : {}),
        ...(b.properties !== undefined ? { properties: b.properties as Properties } : {}),
      }),
    );
    handle(RoomCommand.Join, (user, b) => this.join(user.id, roomIdOf(b)));
    handle(RoomCommand.Leave, (user, b) => this.leave(user.id, roomIdOf(b)));
    handle(RoomCommand.Broadcast, (user, b) =>
      this.broadcast(user.id, roomIdOf(b), bytesOf(b.data), b.reliable !== false),
    );
    handle(RoomCommand.Message, (user, b) =>
      this.message(user.id, roomIdOf(b), textOf(b.to, 'to'), bytesOf(b.data)),
    );
    handle(RoomCommand.GetProperties, async (user, b) => ({
      properties: await this.getProperties(user.id, roomIdOf(b)),
    }));
    handle(RoomCommand.UpdateProperties, async (user, b) => ({
      properties: await this.updateProperties(user.id, roomIdOf(b), b as PropertyUpdate),
    }));
    handle(RoomCommand.Members, (user, b) => this.members(user.id, roomIdOf(b)));
    handle(RoomCommand.DirectMessage, async (user, b) => {
      const to = textOf(b.to, 'to');
      try {
        await server.sendToUser(
          to,
          BUILTIN_VER,
          RoomEvent.DirectMessage,
          pack({ from: user.id, data: bytesOf(b.data) }),
        );
      } catch (err) {
        fail(
          (err as { code?: string }).code ?? RoomErrorCode.NotFound,
          `user ${to} cannot be reached`,
        );
      }
      return {};
    });
    server.mesh.onMessage((message) => {
      if (message.topic === TOPIC) void this.#onMesh(message.from, message.payload);
    });
    server.setRoomDump(() => this.rooms());
    server.onDisconnect((_reason, user) => {
      const rooms = this.#joined.get(user.id);
      if (rooms === undefined) return;
      this.#joined.delete(user.id);
      for (const roomId of rooms) void this.#run('leave', user.id, { roomId }).catch(() => {});
    });
    server.onStop(() => this.close());
  }

  // ---- execution: here, or on the room's node through the mesh ----------------

  async #run(op: Op, userId: string, args: Args): Promise<unknown> {
    const roomId = String(args.roomId ?? '');
    const node = nodeOfRoom(roomId);
    if (node === null) fail(RoomErrorCode.NotFound, `no room ${roomId}`);
    const result =
      node === this.#server.nodeId
        ? await this.#exec(op, userId, args)
        : await this.#remote(node, op, userId, args);
    if (op === 'join') this.#track(userId, roomId, true);
    if (op === 'leave') this.#track(userId, roomId, false);
    return result;
  }

  #remote(node: string, op: Op, userId: string, args: Args): Promise<unknown> {
    const id = randomBytes(8).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new CommandError(
            RoomErrorCode.Timeout,
            `the room's node ${node} did not answer`,
            Status.Err,
          ),
        );
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#server.mesh
        .sendToNode(node, TOPIC, pack({ t: 'req', id, op, userId, args }))
        .catch(() => {
          clearTimeout(timer);
          this.#pending.delete(id);
          reject(
            new CommandError(
              RoomErrorCode.NotFound,
              `no room ${String(args.roomId)}: its node is gone`,
              Status.Bad,
            ),
          );
        });
    });
  }

  async #onMesh(from: string, payload: Uint8Array): Promise<void> {
    let m: {
      t?: string;
      id?: string;
      op?: Op;
      userId?: string;
      args?: Args;
      ok?: boolean;
      result?: unknown;
      code?: string;
      message?: string;
    };
    try {
      m = unpack(payload);
    } catch {
      return;
    }
    if (m.t === 'res' && typeof m.id === 'string') {
      const entry = this.#pending.get(m.id);
      if (entry === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(entry.timer);
      if (m.ok === true) entry.resolve(m.result);
      else
        entry.reject(
          new CommandError(m.code ?? RoomErrorCode.Invalid, m.message ?? 'refused', Status.Bad),
        );
      return;
    }
    if (
      m.t !== 'req' ||
      typeof m.id !== 'string' ||
      typeof m.userId !== 'string' ||
      typeof m.op !== 'string'
    )
      return;
    let reply: Record<string, unknown>;
    try {
      reply = {
        t: 'res',
        id: m.id,
        ok: true,
        result: await this.#exec(m.op, m.userId, m.args ?? {}),
      };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      reply = {
        t: 'res',
        id: m.id,
        ok: false,
        code: e.code ?? RoomErrorCode.Invalid,
        message: e.message ?? String(err),
      };
    }
    await this.#server.mesh.sendToNode(from, TOPIC, pack(reply)).catch(() => {});
  }

  /** The operations, on the room's own node: single-threaded, so each one is atomic. */
  async #exec(op: Op, userId: string, args: Args): Promise<unknown> {
    const room = this.#rooms.get(String(args.roomId));
    if (room === undefined) fail(RoomErrorCode.NotFound, `no room ${String(args.roomId)}`);
    if (op === 'join') return this.#join(room, userId);
    if (!room.members.has(userId))
      fail(RoomErrorCode.NotMember, `${userId} is not in room ${room.id}`);
    switch (op) {
      case 'leave':
        this.#leave(room, userId);
        return {};
      case 'broadcast': {
        const data = bytesOf(args.data);
        const reliable = args.reliable !== false;
        for (const member of room.members) {
          if (member !== userId) {
            this.#push(
              member,
              RoomEvent.Message,
              { roomId: room.id, from: userId, data },
              reliable,
            );
          }
        }
        return {};
      }
      case 'message': {
        const to = textOf(args.to, 'to');
        if (!room.members.has(to)) fail(RoomErrorCode.NotMember, `${to} is not in room ${room.id}`);
        this.#push(to, RoomEvent.Message, {
          roomId: room.id,
          from: userId,
          data: bytesOf(args.data),
        });
        return {};
      }
      case 'get':
        return room.properties;
      case 'update':
        return this.#update(room, userId, args as PropertyUpdate);
      case 'members':
        return { members: [...room.members], owner: room.owner };
      default:
        return fail(RoomErrorCode.Invalid, `unknown operation ${String(op)}`);
    }
  }

  async #join(room: Room, userId: string): Promise<RoomSnapshot> {
    if (room.members.has(userId)) return snapshot(room);
    if (!room.allowJoin) fail(RoomErrorCode.Closed, `room ${room.id} does not allow joining`);
    if (room.members.size >= room.maxMembers)
      fail(RoomErrorCode.Full, `room ${room.id} is full (${room.maxMembers})`);
    const reason = await this.#options.beforeJoin?.(snapshot(room), userId);
    if (typeof reason === 'string' && reason !== '') fail(RoomErrorCode.JoinRefused, reason);
    if (!this.#rooms.has(room.id)) fail(RoomErrorCode.NotFound, `no room ${room.id}`);
    if (room.emptyTimer !== null) {
      clearTimeout(room.emptyTimer);
      room.emptyTimer = null;
    }
    room.members.add(userId);
    room.owner ??= userId;
    for (const member of room.members) {
      if (member !== userId)
        this.#push(member, RoomEvent.MemberJoined, { roomId: room.id, userId, owner: room.owner });
    }
    return snapshot(room);
  }

  #leave(room: Room, userId: string): void {
    room.members.delete(userId);
    if (room.owner === userId) room.owner = room.members.values().next().value ?? null;
    for (const member of room.members) {
      this.#push(member, RoomEvent.MemberLeft, { roomId: room.id, userId, owner: room.owner });
    }
    this.#options.onLeave?.(snapshot(room), userId);
    if (room.members.size > 0) return;
    if (room.emptyTtlMs === 0) this.#destroy(room, 'empty');
    else {
      room.emptyTimer = setTimeout(() => {
        if (room.members.size === 0) this.#destroy(room, 'empty');
      }, room.emptyTtlMs);
      room.emptyTimer.unref();
    }
  }

  #update(room: Room, userId: string, update: PropertyUpdate): Properties {
    const next: Properties = { ...room.properties };
    if (update.compareAndSet !== undefined) {
      const { key, expected, value } = update.compareAndSet;
      if (typeof key !== 'string')
        fail(RoomErrorCode.Invalid, 'compareAndSet.key must be a string');
      if (!pack(next[key] ?? null).equals(pack(expected ?? null))) {
        fail(RoomErrorCode.CompareFailed, `${key} is not the expected value`);
      }
      next[key] = value;
    }
    for (const [key, value] of Object.entries(update.set ?? {})) next[key] = value;
    for (const [key, delta] of Object.entries(update.increment ?? {})) {
      const current = next[key] ?? 0;
      if (typeof current !== 'number' || typeof delta !== 'number')
        fail(RoomErrorCode.Invalid, `${key} is not a number`);
      next[key] = current + delta;
    }
    room.properties = this.#checkProperties(next);
    for (const member of room.members) {
      this.#push(member, RoomEvent.PropertiesChanged, {
        roomId: room.id,
        properties: room.properties,
        by: userId,
      });
    }
    return room.properties;
  }

  #destroy(room: Room, reason: string): void {
    if (!this.#rooms.delete(room.id)) return;
    if (room.emptyTimer !== null) clearTimeout(room.emptyTimer);
    for (const member of room.members)
      this.#push(member, RoomEvent.RoomClosed, { roomId: room.id, reason });
    this.#options.onDestroy?.(snapshot(room));
  }

  #checkProperties(properties: unknown): Properties {
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
      fail(RoomErrorCode.Invalid, 'properties must be a map');
    }
    const size = pack(properties).length;
    if (size > this.#maxPropertyBytes) {
      fail(
        RoomErrorCode.TooLarge,
        `properties are ${size} bytes; the limit is ${this.#maxPropertyBytes}`,
      );
    }
    return properties as Properties;
  }

  /** To a member wherever they are: directly when on this node, else through the mesh. */
  #push(userId: string, event: number, body: Record<string, unknown>, reliable = true): void {
    const payload = pack(body);
    const local = this.#server.getUser(userId);
    if (local !== undefined) {
      local.push(BUILTIN_VER, event, payload, { reliable });
      return;
    }
    this.#server.sendToUser(userId, BUILTIN_VER, event, payload).catch(() => {
      // the member left the cluster; their node's disconnect handling removes them
    });
  }

  #track(userId: string, roomId: string, joined: boolean): void {
    if (this.#server.getUser(userId) === undefined) return; // only this node's users
    let rooms = this.#joined.get(userId);
    if (joined) {
      if (rooms === undefined) {
        rooms = new Set();
        this.#joined.set(userId, rooms);
      }
      rooms.add(roomId);
    } else rooms?.delete(roomId);
  }
}

function parseBody(payload: Buffer): Args {
  try {
    const value = payload.length === 0 ? {} : unpack(payload);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Args;
  } catch {
    // fall through
  }
  return fail(RoomErrorCode.Invalid, 'payload must be a msgpack map');
}

function roomIdOf(b: Args): string {
  return textOf(b.roomId, 'roomId');
}

function textOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '')
    fail(RoomErrorCode.Invalid, `${name} must be a non-empty string`);
  return value;
}

function bytesOf(value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) fail(RoomErrorCode.Invalid, 'data must be bytes');
  return value;
}

/** Installs the room module on `server` (ver 1 commands 100-108, debug 904). */
export function installRooms(
  server: TidewireServer,
  options: RoomServiceOptions = {},
): RoomService {
  const service = new RoomService(server, options);
  service.install();
  return service;
}

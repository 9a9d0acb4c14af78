/**
 * The room protocol: command and event numbers, codes, and the shapes of the
 * msgpack maps they carry (docs/protocol.md section 12). No imports: pages
 * load it as `@tidewire/room/protocol` without the server.
 */

/** Room commands a client sends (ver 1). Payloads and answers are msgpack maps (docs/protocol.md section 12). */
export const RoomCommand = {
  Create: 100,
  Join: 101,
  Leave: 102,
  Broadcast: 103,
  Message: 104,
  GetProperties: 105,
  UpdateProperties: 106,
  Members: 107,
  /** Direct message to a user by id, wherever they are: `{ to, data }`. */
  DirectMessage: 108,
} as const;

export type RoomCommand = (typeof RoomCommand)[keyof typeof RoomCommand];

/** Room events pushed to members (ver 1). */
export const RoomEvent = {
  /** `{ roomId, from, data }`: a broadcast or a message from a member (`from: null`: from the server). */
  Message: 110,
  /** `{ roomId, userId, owner }`: someone joined. */
  MemberJoined: 111,
  /** `{ roomId, userId, owner }`: someone left; `owner` is the (possibly new) owner. */
  MemberLeft: 112,
  /** `{ roomId, properties, by }`: properties changed. */
  PropertiesChanged: 113,
  /** `{ roomId, reason }`: the room is gone (`reason`: a `RoomClosedReason`). */
  RoomClosed: 114,
  /** `{ from, data }`: a direct message. */
  DirectMessage: 115,
} as const;

export type RoomEvent = (typeof RoomEvent)[keyof typeof RoomEvent];

/** Why a room closed, as event 114 tells its members. */
export const RoomClosedReason = {
  /** The last member left (at once, or after the room's `emptyTtlMs`). */
  Empty: 'empty',
  /** The room's node is stopping. */
  Stopping: 'stopping',
  /** The room's node left the cluster (stopped or died): sent by the member's own node. */
  NodeGone: 'node gone',
} as const;

export type RoomClosedReason = (typeof RoomClosedReason)[keyof typeof RoomClosedReason];

/** Error codes of the room module (answered `Bad` unless noted). */
export const RoomErrorCode = {
  NotFound: 'TIDEWIRE_ERR_ROOM_NOT_FOUND',
  Full: 'TIDEWIRE_ERR_ROOM_FULL',
  Closed: 'TIDEWIRE_ERR_ROOM_CLOSED_TO_JOIN',
  JoinRefused: 'TIDEWIRE_ERR_ROOM_JOIN_REFUSED',
  NotMember: 'TIDEWIRE_ERR_ROOM_NOT_MEMBER',
  NodeOffline: 'TIDEWIRE_ERR_ROOM_NODE_OFFLINE',
  CompareFailed: 'TIDEWIRE_ERR_ROOM_CAS_FAILED',
  TooLarge: 'TIDEWIRE_ERR_ROOM_TOO_LARGE',
  Invalid: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** The room's node did not answer in time, or the mesh failed (answered `Err`). */
  Timeout: 'TIDEWIRE_ERR_ROOM_TIMEOUT',
  /** The room service of this node is closed (answered `Err`). */
  ServiceClosed: 'TIDEWIRE_ERR_ROOM_SERVICE_CLOSED',
} as const;

export type RoomErrorCode = (typeof RoomErrorCode)[keyof typeof RoomErrorCode];

/** Room ids are `<nodeId>~<random>`: `~` never appears in node ids. */
export const ROOM_ID_SEPARATOR = '~';

/** The mesh topic of room traffic between nodes. */
export const ROOM_MESH_TOPIC = 'room';

const NODE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The node a room id names, or null when the id is malformed: exactly one
 * `~`, a valid node id (1-128 of `A-Z a-z 0-9 . _ : -`) before it, something after it.
 */
export function nodeOfRoom(roomId: string): string | null {
  const at = roomId.indexOf(ROOM_ID_SEPARATOR);
  if (at <= 0 || at === roomId.length - 1 || roomId.includes(ROOM_ID_SEPARATOR, at + 1))
    return null;
  const node = roomId.slice(0, at);
  return NODE_ID.test(node) ? node : null;
}

// ---- the msgpack maps of commands and events (types only) -------------------

/** Room properties: a msgpack map. */
export type Properties = Record<string, unknown>;

/** What `create` takes (command 100's payload). */
export interface CreateOptions {
  /** Default 16; 1 to 1000. */
  maxMembers?: number;
  /** Whether others may join. Default true. */
  allowJoin?: boolean;
  /** An empty room is destroyed after this many ms. Default 0: at once. */
  emptyTtlMs?: number;
  properties?: Properties;
}

/** One atomic change of a room's properties (command 106's payload, with `roomId`). */
export interface PropertyUpdate {
  /** Keys to set. */
  set?: Properties;
  /** Numeric keys to add to (a missing key counts as 0). */
  increment?: Record<string, number>;
  /** Set `key` to `value` only if it currently equals `expected` (msgpack equality; missing = nil). */
  compareAndSet?: { key: string; expected: unknown; value: unknown };
}

/** A room as commands 100 and 101 answer it (and as the dump, the hooks and the API see it). */
export interface RoomSnapshot {
  roomId: string;
  owner: string | null;
  /** In joining order: the first is the longest present. */
  members: string[];
  maxMembers: number;
  allowJoin: boolean;
  emptyTtlMs: number;
  properties: Properties;
}

/** The payload of commands that name only a room (101, 102, 105, 107). */
export interface RoomIdRequest {
  roomId: string;
}

/** Command 103's payload. `data` is absent or nil for an empty message. */
export interface BroadcastRequest {
  roomId: string;
  data?: Uint8Array;
  /** Default true; false may use the unreliable UDP channel to members on UDP. */
  reliable?: boolean;
}

/** Command 104's payload: to one member. */
export interface MessageRequest {
  roomId: string;
  to: string;
  data?: Uint8Array;
}

/** Command 106's payload. */
export interface UpdatePropertiesRequest extends PropertyUpdate {
  roomId: string;
}

/** Command 108's payload: to a user by id, wherever they are connected. */
export interface DirectMessageRequest {
  to: string;
  data?: Uint8Array;
}

/** The answer of commands 105 and 106. */
export interface PropertiesAnswer {
  properties: Properties;
}

/** The answer of command 107. */
export interface MembersAnswer {
  members: string[];
  owner: string | null;
}

/** The answer of commands that only confirm (102, 103, 104, 108): an empty map. */
export type EmptyAnswer = Record<string, never>;

/** Each command's payload, by command number. */
export interface RoomRequests {
  [RoomCommand.Create]: CreateOptions;
  [RoomCommand.Join]: RoomIdRequest;
  [RoomCommand.Leave]: RoomIdRequest;
  [RoomCommand.Broadcast]: BroadcastRequest;
  [RoomCommand.Message]: MessageRequest;
  [RoomCommand.GetProperties]: RoomIdRequest;
  [RoomCommand.UpdateProperties]: UpdatePropertiesRequest;
  [RoomCommand.Members]: RoomIdRequest;
  [RoomCommand.DirectMessage]: DirectMessageRequest;
}

/** Each command's `Ok` answer, by command number (a refusal is `{ code, message }`). */
export interface RoomAnswers {
  [RoomCommand.Create]: RoomSnapshot;
  [RoomCommand.Join]: RoomSnapshot;
  [RoomCommand.Leave]: EmptyAnswer;
  [RoomCommand.Broadcast]: EmptyAnswer;
  [RoomCommand.Message]: EmptyAnswer;
  [RoomCommand.GetProperties]: PropertiesAnswer;
  [RoomCommand.UpdateProperties]: PropertiesAnswer;
  [RoomCommand.Members]: MembersAnswer;
  [RoomCommand.DirectMessage]: EmptyAnswer;
}

/** Event 110: a broadcast or a message; `from` is null when server code sent it. */
export interface RoomMessageEvent {
  roomId: string;
  from: string | null;
  data: Uint8Array;
}

/** Events 111 (joined) and 112 (left); `owner` is the room's owner after the change. */
export interface MemberEvent {
  roomId: string;
  userId: string;
  owner: string | null;
}

/** Event 113: the room's properties after a change, and who made it. */
export interface PropertiesChangedEvent {
  roomId: string;
  properties: Properties;
  by: string;
}

/** Event 114: the room is gone. */
export interface RoomClosedEvent {
  roomId: string;
  reason: RoomClosedReason;
}

/** Event 115: a direct message (command 108). */
export interface DirectMessageEvent {
  from: string;
  data: Uint8Array;
}

/** Each event's payload, by event number. */
export interface RoomEvents {
  [RoomEvent.Message]: RoomMessageEvent;
  [RoomEvent.MemberJoined]: MemberEvent;
  [RoomEvent.MemberLeft]: MemberEvent;
  [RoomEvent.PropertiesChanged]: PropertiesChangedEvent;
  [RoomEvent.RoomClosed]: RoomClosedEvent;
  [RoomEvent.DirectMessage]: DirectMessageEvent;
}

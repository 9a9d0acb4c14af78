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

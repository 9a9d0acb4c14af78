/** Status byte of a frame. Requests carry `Request`; responses `Ok`, `Bad` or `Err`; server pushes `Push`. */
export const Status = {
  Request: 0,
  Ok: 1,
  Bad: 4,
  Err: 5,
  Push: 0xff,
} as const;

export type Status = (typeof Status)[keyof typeof Status];

/** Command version 0: the core protocol. Applications may not register it. */
export const CORE_VER = 0;
/** Command version 1: built-in modules (rooms, P2P, ...). Applications may not register it. */
export const BUILTIN_VER = 1;
/** The first command version open to applications. */
export const FIRST_APP_VER = 2;

/** Commands of ver 0, the core protocol. */
export const CoreCommand = {
  /** Either side closes; payload: msgpack `{ code, reason }`. */
  Disconnect: 0,
  /** Keep-alive echo; the reply carries server time, state and pending notifications. */
  KeepAlive: 1,
  /** Sent by a draining server: connect to another node. */
  Reconnect: 2,
  /** Round-trip probe; the reply echoes the payload. */
  Ping: 3,
  /** First frame of a session: sid (16 bytes) and optional client info. */
  Hello: 4,
  /** First frame of a new connection in place of hello: resumes a held seat (protocol section 13). */
  Resume: 5,
  /** Numbered frames received so far, `{ received }`; never answered (protocol section 13.3). */
  Ack: 6,
  /** Notification push. */
  Notification: 400,
  /** Debug: set server state ONLINE. */
  DebugOnline: 900,
  /** Debug: set server state TAKEN. */
  DebugTaken: 901,
  /** Debug: set server state OFFLINE. */
  DebugOffline: 902,
  /** Debug: terminate the server after connected clients leave. */
  DebugTerminate: 903,
  /** Debug: dump room data as JSON. */
  DebugRoomDump: 904,
  /** Debug: dump the calling user's data as JSON (`UserDataDump`). */
  DebugUserDump: 905,
} as const;

export type CoreCommand = (typeof CoreCommand)[keyof typeof CoreCommand];

/** True when `ver` is reserved for the core protocol or built-in modules (0 and 1). */
export function isReservedVer(ver: number): boolean {
  return ver === CORE_VER || ver === BUILTIN_VER;
}

/** True for the debug commands of ver 0 (900 to 905). */
export function isDebugCommand(ver: number, cmd: number): boolean {
  return ver === CORE_VER && cmd >= CoreCommand.DebugOnline && cmd <= CoreCommand.DebugUserDump;
}

import { TidewireError } from '@tidewire/wire';

/** Error codes raised by `@tidewire/mesh`. */
export const MeshErrorCode = {
  /** `start()` could not reach Redis within `connectTimeoutMs` (refused, unknown host, timeout). */
  Unreachable: 'TIDEWIRE_ERR_MESH_UNREACHABLE',
  /** A Redis command failed or did not answer within `commandTimeoutMs` after start. */
  Unavailable: 'TIDEWIRE_ERR_MESH_UNAVAILABLE',
  /** The target node did not acknowledge a user message within `requestTimeoutMs`. */
  Timeout: 'TIDEWIRE_ERR_MESH_TIMEOUT',
  /** The node is not registered or its registration expired (missed heartbeats). */
  NodeUnknown: 'TIDEWIRE_ERR_NODE_UNKNOWN',
  /** The user has no location, or the target node answered that the user or session is not there. */
  UserNotFound: 'TIDEWIRE_ERR_USER_NOT_FOUND',
  /** The target node has no `onUserMessage` handler, or it threw. */
  DeliveryFailed: 'TIDEWIRE_ERR_MESH_DELIVERY_FAILED',
  /** The mesh was closed (before or while the operation ran). */
  Closed: 'TIDEWIRE_ERR_MESH_CLOSED',
  /** An operation that needs `start()` ran before it resolved. */
  NotStarted: 'TIDEWIRE_ERR_MESH_NOT_STARTED',
  /** `updateNode` ran before `registerNode`. */
  NotRegistered: 'TIDEWIRE_ERR_MESH_NOT_REGISTERED',
  /** `createMesh` got a config or `TIDEWIRE_MESH_URL` it cannot use. */
  InvalidConfig: 'TIDEWIRE_ERR_MESH_INVALID_CONFIG',
  /** An argument is out of range or of the wrong type (the same code as `WireErrorCode.InvalidArgument`). */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
} as const;

export type MeshErrorCode = (typeof MeshErrorCode)[keyof typeof MeshErrorCode];

export function meshError(code: MeshErrorCode, message: string, cause?: unknown): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

/** The error an aborted signal rejects with: its reason, or a DOMException named AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

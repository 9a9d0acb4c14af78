import { TidewireError } from '@tidewire/wire';

/** Error codes raised by `@tidewire/server`. */
export const ServerErrorCode = {
  /** A configuration file or object is invalid; the message names the key and the file. */
  InvalidConfig: 'TIDEWIRE_ERR_INVALID_CONFIG',
  /** A method was called in a state that does not allow it (e.g. setup twice, start before setup). */
  InvalidState: 'TIDEWIRE_ERR_INVALID_STATE',
  /** An argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** The first frame of a connection was not a hello. */
  HelloRequired: 'TIDEWIRE_ERR_HELLO_REQUIRED',
  /** The hello's sid is unknown, used or expired, or was issued for another node or transport. */
  SessionInvalid: 'TIDEWIRE_ERR_SESSION_INVALID',
  /** The server is TAKEN or OFFLINE and accepts no new users. */
  NotAccepting: 'TIDEWIRE_ERR_NOT_ACCEPTING',
  /** Session endpoint: the cluster store (Redis) does not answer; retry after `Retry-After`. */
  ClusterUnavailable: 'TIDEWIRE_ERR_CLUSTER_UNAVAILABLE',
  /** Session endpoint: no node of the cluster serves the transport asked for (404). */
  TransportNotServed: 'TIDEWIRE_ERR_TRANSPORT_NOT_SERVED',
  /** Session endpoint: too many session requests from one address (429, `Retry-After`). */
  TooManyRequests: 'TIDEWIRE_ERR_TOO_MANY_REQUESTS',
  /** The user's commands stopped being processed (a handler never called next). */
  UserStalled: 'TIDEWIRE_ERR_USER_STALLED',
  /** The user sent commands faster than they are processed. */
  QueueOverflow: 'TIDEWIRE_ERR_QUEUE_OVERFLOW',
  /** The user sent commands faster than `commands.rateLimit` (action 'disconnect'). */
  RateLimited: 'TIDEWIRE_ERR_RATE_LIMITED',
  /** The server asked the client to reconnect to another node (drain). */
  Draining: 'TIDEWIRE_ERR_DRAINING',
  /** The server is shutting down. */
  ServerClosing: 'TIDEWIRE_ERR_SERVER_CLOSING',
  /** Disconnected by the application. */
  Kicked: 'TIDEWIRE_ERR_KICKED',
  /** The same user connected again elsewhere; the older connection is closed. */
  Replaced: 'TIDEWIRE_ERR_REPLACED',
} as const;

export type ServerErrorCode = (typeof ServerErrorCode)[keyof typeof ServerErrorCode];

export function serverError(
  code: ServerErrorCode,
  message: string,
  cause?: unknown,
): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

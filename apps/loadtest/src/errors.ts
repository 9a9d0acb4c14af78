import { TidewireError } from '@tidewire/wire';

/** Error codes raised or reported by `@tidewire/loadtest`. */
export const LoadtestErrorCode = {
  /** An option or argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** The first connection failed: the target is unreachable or refuses sessions; the run does not start. */
  TargetUnreachable: 'TIDEWIRE_ERR_LOADTEST_TARGET_UNREACHABLE',
  /** A connection attempt did not complete within the connect timeout. */
  ConnectTimeout: 'TIDEWIRE_ERR_LOADTEST_CONNECT_TIMEOUT',
  /** A connection attempt failed with an error that carries no Tidewire code. */
  ConnectFailed: 'TIDEWIRE_ERR_LOADTEST_CONNECT_FAILED',
  /** The session endpoint sent the client to a host other than the target's (or loopback): refused. */
  ForeignHost: 'TIDEWIRE_ERR_LOADTEST_FOREIGN_HOST',
  /** A request was still unanswered when the run ended (after the drain period). */
  Unanswered: 'TIDEWIRE_ERR_LOADTEST_UNANSWERED',
  /** An echo came back Ok but with a payload of another length. */
  BadEcho: 'TIDEWIRE_ERR_LOADTEST_BAD_ECHO',
  /** A send was skipped because the client already had `maxInFlight` requests unanswered. */
  InFlightLimit: 'TIDEWIRE_ERR_LOADTEST_IN_FLIGHT_LIMIT',
  /** A response arrived that no request of this client was waiting for. */
  UnexpectedResponse: 'TIDEWIRE_ERR_LOADTEST_UNEXPECTED_RESPONSE',
  /** The server answered Bad or Err with a payload that is not `{ code, message }`. */
  ErrorStatus: 'TIDEWIRE_ERR_LOADTEST_ERROR_STATUS',
} as const;

export type LoadtestErrorCode = (typeof LoadtestErrorCode)[keyof typeof LoadtestErrorCode];

export function loadtestError(
  code: LoadtestErrorCode,
  message: string,
  cause?: unknown,
): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

/** The error kind to count for `err`: its Tidewire (or Node) code, else a generic one. */
export function errorKind(err: unknown, fallback: LoadtestErrorCode): string {
  if (err instanceof TidewireError) return err.code;
  if (err instanceof DOMException && err.name === 'TimeoutError') {
    return LoadtestErrorCode.ConnectTimeout;
  }
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : fallback;
}

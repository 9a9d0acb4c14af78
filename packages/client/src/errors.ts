import { TidewireError } from '@tidewire/wire/portable';

/** Error codes raised by `@tidewire/client`. */
export const ClientErrorCode = {
  /** The HTTP session endpoint refused or failed; `status` and the server's code are in the message. */
  SessionRequestFailed: 'TIDEWIRE_ERR_SESSION_REQUEST_FAILED',
  /** The server answered the hello with a refusal (unknown sid, server not accepting users...). */
  HelloRefused: 'TIDEWIRE_ERR_HELLO_REFUSED',
  /** No response arrived within the request timeout. */
  RequestTimeout: 'TIDEWIRE_ERR_REQUEST_TIMEOUT',
  /** The connection is closed (or closed while the request was pending). */
  Closed: 'TIDEWIRE_ERR_CLOSED',
  /** An argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export function clientError(
  code: ClientErrorCode,
  message: string,
  cause?: unknown,
): TidewireError {
  return new TidewireError(code, message, cause === undefined ? undefined : { cause });
}

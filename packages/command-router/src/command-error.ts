import { Status, TidewireError } from '@tidewire/wire';
import { RouterErrorCode } from './errors.ts';

/**
 * An error a handler passes to `next(err)` (or throws) on purpose. Its code
 * and message reach the client; `status` picks the response status: `Bad`
 * (4, the client's fault) or `Err` (5, the server's; the default).
 */
export class CommandError extends TidewireError {
  readonly status: typeof Status.Bad | typeof Status.Err;

  constructor(
    code: string,
    message: string,
    status: typeof Status.Bad | typeof Status.Err = Status.Err,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.name = 'CommandError';
    this.status = status;
  }
}

/** What the client is told about a failed chain. */
export interface ErrorResponse {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/**
 * The response policy for a failed chain. An error with a string `code`
 * (a `TidewireError`, a `CommandError` or any coded error) is sent as is;
 * with `status: 4` it is a `Bad`, otherwise an `Err`. Anything else (a bug:
 * `TypeError`, a thrown string) is sent as `TIDEWIRE_ERR_HANDLER_FAILED` with
 * a generic message, so internals never reach clients; the logs have details.
 */
export function errorResponse(err: unknown): ErrorResponse {
  if (typeof err === 'object' && err !== null) {
    const { code, message, status } = err as {
      code?: unknown;
      message?: unknown;
      status?: unknown;
    };
    if (typeof code === 'string' && code !== '') {
      return {
        status: status === Status.Bad ? Status.Bad : Status.Err,
        code,
        message: typeof message === 'string' ? message : '',
      };
    }
  }
  return {
    status: Status.Err,
    code: RouterErrorCode.HandlerFailed,
    message: 'command handler failed',
  };
}

/** A short description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

/** Error codes raised or sent by `@tidewire/command-router`. */
export const RouterErrorCode = {
  /** An application tried to register a handler for ver 0 or 1 (reserved for the framework). */
  ReservedCommand: 'TIDEWIRE_ERR_RESERVED_COMMAND',
  /** ver, cmd or a handler argument is out of range or of the wrong type. */
  InvalidArgument: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
  /** Sent to a client (status Bad) for a (ver, cmd) that has no handler. */
  UnknownCommand: 'TIDEWIRE_ERR_UNKNOWN_COMMAND',
  /** Sent to a client (status Err) when a handler failed with an error that has no string `code`. */
  HandlerFailed: 'TIDEWIRE_ERR_HANDLER_FAILED',
  /** Sent to a client (status Bad) for a command over its rate limit (action 'bad'). */
  RateLimited: 'TIDEWIRE_ERR_RATE_LIMITED',
} as const;

export type RouterErrorCode = (typeof RouterErrorCode)[keyof typeof RouterErrorCode];

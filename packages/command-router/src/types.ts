import type { Logger } from '@tidewire/wire';

/** Moves a chain on: `next()` runs the following handler, `next(err)` stops the chain and reports `err`. */
export type Next = (err?: unknown) => void;

/** A command handler, as in the seed's `HandleCommand`: `(ver, cmd, payload, user, next)`. May be async. */
export type CommandHandler<U extends RouterUser> = (
  ver: number,
  cmd: number,
  payload: Buffer,
  user: U,
  next: Next,
) => void | Promise<void>;

/** The command a hook runs before. */
export interface CommandInfo {
  readonly ver: number;
  readonly cmd: number;
  readonly payload: Buffer;
}

/** A hook run before every command's chain (the seed's `HookAllCommands(userData, next)`). */
export type CommandHook<U extends RouterUser> = (
  user: U,
  next: Next,
  command: CommandInfo,
) => void | Promise<void>;

/** A keep-alive handler (the seed's `OnKeepAlive(userData, next)`). */
export type KeepAliveHandler<U extends RouterUser> = (user: U, next: Next) => void | Promise<void>;

/** The seed's deprecated `Command(ver, cmd, func(userData, next))` handler form. */
export type LegacyCommandHandler<U extends RouterUser> = (
  user: U,
  next: Next,
) => void | Promise<void>;

/** What the router needs from a user: it knows nothing of sockets. */
export interface RouterUser {
  readonly id: string;
  /**
   * Count of responses (status Ok, Bad or Err) sent to this user so far. The
   * router compares it before and after a chain to know whether the chain answered.
   */
  readonly responsesSent: number;
  /** Sends a framework response (unknown command, chain error) to the user. */
  sendResponse(ver: number, cmd: number, status: number, payload: Uint8Array): void;
}

/** Details of a stalled command. */
export interface StallInfo {
  readonly ver: number;
  readonly cmd: number;
  readonly elapsedMs: number;
}

/** What happens to a command over the rate limit: dropped silently, answered `Bad`, or the user disconnected. */
export type RateLimitAction = 'drop' | 'bad' | 'disconnect';

/** The limits of a router, given to its constructor or to `configure()`. */
export type RouterLimits = Pick<
  CommandRouterOptions<RouterUser>,
  'rateLimit' | 'stallWarningMs' | 'stallTimeoutMs' | 'maxQueuedCommands'
>;

export interface CommandRouterOptions<U extends RouterUser> {
  /**
   * Per-user command rate limit (a token bucket; keep-alives are not
   * counted): `commandsPerSecond`, `burst` (default: one second's worth) and
   * the `action` for commands over it (default 'bad':
   * `TIDEWIRE_ERR_RATE_LIMITED`). Off by default.
   */
  rateLimit?: { commandsPerSecond: number; burst?: number; action?: RateLimitAction };
  /** With `rateLimit.action: 'disconnect'`: called for each command over the limit (the server disconnects the user). */
  onRateLimited?: (user: U, info: { ver: number; cmd: number }) => void;
  /** A handler that has not called `next` after this many ms is logged and published on `tidewire:router:stall`. Default 5000. */
  stallWarningMs?: number;
  /** A user whose queue has been stuck this long gets `onUserStalled` (once). Default 10000. */
  stallTimeoutMs?: number;
  /** Commands waiting per user beyond the running one; more is an overflow. Default 512. */
  maxQueuedCommands?: number;
  /** Called once when a user's command has been running for `stallTimeoutMs`. The server disconnects the user. */
  onUserStalled?: (user: U, info: StallInfo) => void;
  /** Called once when a user's queue overflows; the overflowing command is dropped. */
  onQueueOverflow?: (user: U, queued: number) => void;
  /** Called after a keep-alive chain completed (with or without error). The server answers the keep-alive there. */
  onKeepAliveDone?: (user: U) => void;
  logger?: Logger;
}

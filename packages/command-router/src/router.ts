import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import {
  CORE_VER,
  CoreCommand,
  isReservedVer,
  type Logger,
  pack,
  Status,
  TidewireError,
} from '@tidewire/wire';
import { describeError, errorResponse } from './command-error.ts';
import { RouterErrorCode } from './errors.ts';
import type {
  CommandHandler,
  CommandHook,
  CommandRouterOptions,
  KeepAliveHandler,
  LegacyCommandHandler,
  Next,
  RateLimitAction,
  RouterLimits,
  RouterUser,
  StallInfo,
} from './types.ts';

const commandChannel = channel('tidewire:router:command');
const errorChannel = channel('tidewire:router:error');
const stallChannel = channel('tidewire:router:stall');
const rateChannel = channel('tidewire:router:rate-limited');

const DEFAULT_STALL_WARNING_MS = 5_000;
const DEFAULT_STALL_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_QUEUED_COMMANDS = 512;
/** The stall sweep runs at a quarter of the smallest threshold, within these bounds. */
const MIN_SWEEP_MS = 5;
const MAX_SWEEP_MS = 1_000;

const EMPTY_STEPS: readonly never[] = [];
const EMPTY_PAYLOAD = Buffer.alloc(0);

const KIND_COMMAND = 0;
const KIND_KEEP_ALIVE = 1;

/** Every step of a chain is called as a command handler: hooks and keep-alive handlers are adapted at registration. */
type Step<U extends RouterUser> = CommandHandler<U>;

/** Package-internal: lets a lane hand its commands to its router's queueing. */
let enqueueOnLane: <U extends RouterUser>(
  lane: UserQueue<U>,
  kind: typeof KIND_COMMAND | typeof KIND_KEEP_ALIVE,
  ver: number,
  cmd: number,
  payload: Buffer,
) => void;

/**
 * One user's place in a router: the serial queue of its commands and
 * keep-alives. `router.lane(user)` hands it out; a server keeps it with the
 * user's connection and dispatches through it, so a command costs no lookup
 * of the user's queue. After `removeUser` the lane drops what it is given.
 */
export interface RouterLane<U extends RouterUser = RouterUser> {
  /** The user whose queue this is. */
  readonly user: U;
  /** Queues a command; it runs after the user's earlier commands. Returns at once. */
  dispatch(ver: number, cmd: number, payload: Buffer): void;
  /** Queues the keep-alive chain, in the same queue as commands. */
  dispatchKeepAlive(): void;
}

/** A lane's state. */
class UserQueue<U extends RouterUser> implements RouterLane<U> {
  readonly router: CommandRouter<U>;
  readonly user: U;
  readonly waiting: Chain<U>[] = [];
  head = 0;
  running: Chain<U> | null = null;
  /** True while `#drain` loops over this queue: completions then return to the loop. */
  draining = false;
  removed = false;
  overflowReported = false;
  /** Rate limit: commands the user may still send now (a token bucket), and when it was last filled. */
  tokens: number;
  filledAt = 0;

  constructor(router: CommandRouter<U>, user: U, tokens: number) {
    this.router = router;
    this.user = user;
    this.tokens = tokens;
  }

  /** Chains waiting behind the running one: `waiting` from `head` on. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  dispatch(ver: number, cmd: number, payload: Buffer): void {
    enqueueOnLane(this, KIND_COMMAND, ver, cmd, payload);
  }

  dispatchKeepAlive(): void {
    enqueueOnLane(this, KIND_KEEP_ALIVE, CORE_VER, CoreCommand.KeepAlive, EMPTY_PAYLOAD);
  }
}

/**
 * One command (or keep-alive): what arrived and how far its hooks and handlers
 * have got. Created when the command is dispatched; waits in its user's queue
 * when the user is busy.
 */
class Chain<U extends RouterUser> {
  readonly queue: UserQueue<U>;
  readonly kind: typeof KIND_COMMAND | typeof KIND_KEEP_ALIVE;
  readonly ver: number;
  readonly cmd: number;
  readonly payload: Buffer;
  hooks: readonly Step<U>[] = EMPTY_STEPS;
  handlers: readonly Step<U>[] = EMPTY_STEPS;
  /** performance.now() at start; 0 until measured (only when observed or when the chain goes async). */
  startedAt = 0;
  /** In `#running` (the stall sweep's set): only chains that did not complete synchronously. */
  tracked = false;
  /** The user's `responsesSent` when the chain started. */
  responsesBefore = 0;
  index = 0;
  done = false;
  warned = false;
  stalled = false;

  constructor(
    queue: UserQueue<U>,
    kind: typeof KIND_COMMAND | typeof KIND_KEEP_ALIVE,
    ver: number,
    cmd: number,
    payload: Buffer,
  ) {
    this.queue = queue;
    this.kind = kind;
    this.ver = ver;
    this.cmd = cmd;
    this.payload = payload;
  }
}

function commandKey(ver: number, cmd: number): number {
  return ver * 0x10000 + cmd;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TidewireError(
      RouterErrorCode.InvalidArgument,
      `${name} must be a positive number, got ${String(value)}`,
    );
  }
  return value;
}

function assertCommand(ver: number, cmd: number, handler: unknown): void {
  if (!Number.isInteger(ver) || ver < 0 || ver > 0xff) {
    throw new TidewireError(
      RouterErrorCode.InvalidArgument,
      `ver must be an integer 0-255, got ${String(ver)}`,
    );
  }
  if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffff) {
    throw new TidewireError(
      RouterErrorCode.InvalidArgument,
      `cmd must be an integer 0-65535, got ${String(cmd)}`,
    );
  }
  if (typeof handler !== 'function') {
    throw new TidewireError(RouterErrorCode.InvalidArgument, 'handler must be a function');
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

let legacyWarningEmitted = false;

/**
 * Maps (ver, cmd) to ordered handler chains, runs hooks before them, and
 * processes each user's commands and keep-alives one after another.
 */
export class CommandRouter<U extends RouterUser> {
  readonly #handlers = new Map<number, Step<U>[]>();
  readonly #hooks: Step<U>[] = [];
  readonly #keepAlive: Step<U>[] = [];
  // Weak: a user's queue lives as long as the user, with no per-command allocation and no leak.
  readonly #queues = new WeakMap<U, UserQueue<U>>();
  readonly #running = new Set<Chain<U>>();
  #stallWarningMs = DEFAULT_STALL_WARNING_MS;
  #stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS;
  #maxQueued = DEFAULT_MAX_QUEUED_COMMANDS;
  #sweepMs = MAX_SWEEP_MS;
  readonly #logger: Logger;
  readonly #onUserStalled: ((user: U, info: StallInfo) => void) | undefined;
  readonly #onQueueOverflow: ((user: U, queued: number) => void) | undefined;
  readonly #onKeepAliveDone: ((user: U) => void) | undefined;
  #sweepTimer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Commands per second per user; 0: no limit. */
  #rate = 0;
  #rateBurst = 0;
  #rateAction: RateLimitAction = 'bad';
  readonly #onRateLimited: ((user: U, info: { ver: number; cmd: number }) => void) | undefined;

  static {
    enqueueOnLane = (lane, kind, ver, cmd, payload) => {
      lane.router.#enqueue(lane, kind, ver, cmd, payload);
    };
  }

  constructor(options: CommandRouterOptions<U> = {}) {
    this.configure(options);
    this.#logger = options.logger ?? {};
    this.#onUserStalled = options.onUserStalled;
    this.#onQueueOverflow = options.onQueueOverflow;
    this.#onKeepAliveDone = options.onKeepAliveDone;
    this.#onRateLimited = options.onRateLimited;
  }

  /**
   * Sets the limits (`stallWarningMs`, `stallTimeoutMs`, `maxQueuedCommands`,
   * `rateLimit`) as the constructor does; a limit left out goes back to its
   * default. Takes effect for every user from their next command (a user's
   * bucket keeps its tokens; a running command is judged by the new stall
   * limits). Throws `TIDEWIRE_ERR_INVALID_ARGUMENT` and changes nothing on a
   * bad value.
   */
  configure(limits: RouterLimits): void {
    const stallWarningMs = positive(
      'stallWarningMs',
      limits.stallWarningMs,
      DEFAULT_STALL_WARNING_MS,
    );
    const stallTimeoutMs = positive(
      'stallTimeoutMs',
      limits.stallTimeoutMs,
      DEFAULT_STALL_TIMEOUT_MS,
    );
    const maxQueued = positive(
      'maxQueuedCommands',
      limits.maxQueuedCommands,
      DEFAULT_MAX_QUEUED_COMMANDS,
    );
    if (!Number.isInteger(maxQueued)) {
      throw new TidewireError(
        RouterErrorCode.InvalidArgument,
        'maxQueuedCommands must be an integer',
      );
    }
    const limit = limits.rateLimit;
    const rate =
      limit === undefined ? 0 : positive('rateLimit.commandsPerSecond', limit.commandsPerSecond, 0);
    const rateBurst =
      limit === undefined ? 0 : positive('rateLimit.burst', limit.burst, Math.max(1, rate));
    const rateAction = limit?.action ?? 'bad';
    if (!['drop', 'bad', 'disconnect'].includes(rateAction)) {
      throw new TidewireError(
        RouterErrorCode.InvalidArgument,
        'rateLimit.action must be drop, bad or disconnect',
      );
    }
    this.#stallWarningMs = stallWarningMs;
    this.#stallTimeoutMs = stallTimeoutMs;
    this.#maxQueued = maxQueued;
    const smallest = Math.min(stallWarningMs, stallTimeoutMs);
    this.#sweepMs = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, smallest / 4));
    if (this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = setInterval(this.#sweep, this.#sweepMs);
    }
    this.#rate = rate;
    this.#rateBurst = rateBurst;
    this.#rateAction = rateAction;
  }

  /** Token bucket: refills at `#rate` per second up to `#rateBurst`; takes one token. */
  #takeToken(queue: UserQueue<U>): boolean {
    const now = performance.now();
    if (queue.filledAt === 0) queue.filledAt = now;
    queue.tokens = Math.min(
      this.#rateBurst,
      queue.tokens + ((now - queue.filledAt) * this.#rate) / 1000,
    );
    queue.filledAt = now;
    if (queue.tokens < 1) return false;
    queue.tokens -= 1;
    return true;
  }

  #rateLimited(queue: UserQueue<U>, ver: number, cmd: number): void {
    const { user } = queue;
    if (rateChannel.hasSubscribers) {
      rateChannel.publish({ user, ver, cmd, action: this.#rateAction });
    }
    if (this.#rateAction === 'bad') {
      const body = {
        code: RouterErrorCode.RateLimited,
        message: `more than ${this.#rate} commands per second`,
      };
      this.#callSafely('sendResponse', () => user.sendResponse(ver, cmd, Status.Bad, pack(body)));
    } else if (this.#rateAction === 'disconnect') {
      this.#callSafely('onRateLimited', () => this.#onRateLimited?.(user, { ver, cmd }));
    }
  }

  // ---- registration ------------------------------------------------------

  /**
   * Registers a handler for (ver, cmd). Several handlers for the same command
   * run in registration order. ver 0 and 1 are reserved for the framework.
   */
  handleCommand(ver: number, cmd: number, handler: CommandHandler<U>): void {
    assertCommand(ver, cmd, handler);
    if (isReservedVer(ver)) {
      throw new TidewireError(
        RouterErrorCode.ReservedCommand,
        `ver ${ver} is reserved for the framework; applications use ver 2-255`,
      );
    }
    this.#add(ver, cmd, handler);
  }

  /** Registers a framework handler for ver 0 or 1 (debug commands, built-in modules). */
  handleReservedCommand(ver: number, cmd: number, handler: CommandHandler<U>): void {
    assertCommand(ver, cmd, handler);
    if (!isReservedVer(ver)) {
      throw new TidewireError(
        RouterErrorCode.InvalidArgument,
        `handleReservedCommand takes ver 0 or 1, got ${ver}`,
      );
    }
    this.#add(ver, cmd, handler);
  }

  /**
   * The seed's deprecated `Command(ver, cmd, func(userData, next))`.
   * @deprecated Use `handleCommand`.
   */
  command(ver: number, cmd: number, handler: LegacyCommandHandler<U>): void {
    assertCommand(ver, cmd, handler);
    if (!legacyWarningEmitted) {
      legacyWarningEmitted = true;
      process.emitWarning('command() is deprecated: use handleCommand(ver, cmd, handler)', {
        type: 'DeprecationWarning',
        code: 'TIDEWIRE_DEP_COMMAND',
      });
    }
    this.handleCommand(ver, cmd, (_ver, _cmd, _payload, user, next) => handler(user, next));
  }

  /** Registers a hook that runs, in registration order, before every command's chain (not keep-alives). */
  hookAllCommands(hook: CommandHook<U>): void {
    if (typeof hook !== 'function')
      throw new TidewireError(RouterErrorCode.InvalidArgument, 'hook must be a function');
    this.#hooks.push((ver, cmd, payload, user, next) => hook(user, next, { ver, cmd, payload }));
  }

  /** Registers a handler that runs on every keep-alive, in the user's queue. */
  onKeepAlive(handler: KeepAliveHandler<U>): void {
    if (typeof handler !== 'function') {
      throw new TidewireError(RouterErrorCode.InvalidArgument, 'handler must be a function');
    }
    this.#keepAlive.push((_ver, _cmd, _payload, user, next) => handler(user, next));
  }

  /** True when a handler is already registered for (ver, cmd). */
  isCommandDuplicate(ver: number, cmd: number): boolean {
    return this.#handlers.has(commandKey(ver, cmd));
  }

  /** True when (ver, cmd) has at least one handler. */
  hasHandler(ver: number, cmd: number): boolean {
    return this.#handlers.has(commandKey(ver, cmd));
  }

  #add(ver: number, cmd: number, handler: CommandHandler<U>): void {
    const key = commandKey(ver, cmd);
    let list = this.#handlers.get(key);
    if (list === undefined) {
      list = [];
      this.#handlers.set(key, list);
    }
    list.push(handler);
  }

  // ---- dispatch ----------------------------------------------------------

  /**
   * `user`'s lane: the same object on every call until `removeUser(user)`.
   * Dispatching through a kept lane skips the lookup `dispatch` makes.
   */
  lane(user: U): RouterLane<U> {
    return this.#laneOf(user);
  }

  /** Queues a command for `user`; it runs after the user's earlier commands. Returns at once. */
  dispatch(user: U, ver: number, cmd: number, payload: Buffer): void {
    this.#laneOf(user).dispatch(ver, cmd, payload);
  }

  /** Queues the keep-alive chain for `user`, in the same queue as commands. */
  dispatchKeepAlive(user: U): void {
    this.#laneOf(user).dispatchKeepAlive();
  }

  /** Commands (and keep-alives) of `user` waiting behind the running one. */
  queued(user: U): number {
    return this.#queues.get(user)?.queued ?? 0;
  }

  /** True while one of `user`'s commands is running. */
  isBusy(user: U): boolean {
    return this.#queues.get(user)?.running != null;
  }

  /**
   * Drops `user`'s waiting commands (call it on disconnect). A running handler
   * may still finish; its `next` is then ignored and nothing is sent. The
   * user's lane drops what it is given from now on; a later `dispatch(user)`
   * or `lane(user)` starts a new one.
   */
  removeUser(user: U): void {
    const queue = this.#queues.get(user);
    if (queue === undefined) return;
    this.#discard(queue);
  }

  /** Stops the stall sweep and drops every queue. Later dispatches are ignored. */
  close(): void {
    this.#closed = true;
    // Only queues with a running chain hold waiting work.
    for (const chain of [...this.#running]) this.#discard(chain.queue);
    if (this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
  }

  #discard(queue: UserQueue<U>): void {
    queue.removed = true;
    queue.waiting.length = 0;
    queue.head = 0;
    if (queue.running !== null) {
      queue.running.done = true;
      this.#running.delete(queue.running);
      queue.running = null;
    }
    this.#queues.delete(queue.user);
  }

  #laneOf(user: U): UserQueue<U> {
    let queue = this.#queues.get(user);
    if (queue === undefined) {
      queue = new UserQueue(this, user, this.#rateBurst);
      this.#queues.set(user, queue);
    }
    return queue;
  }

  #enqueue(
    queue: UserQueue<U>,
    kind: typeof KIND_COMMAND | typeof KIND_KEEP_ALIVE,
    ver: number,
    cmd: number,
    payload: Buffer,
  ): void {
    const { user } = queue;
    if (this.#closed || queue.removed) {
      this.#logger.debug?.(
        this.#closed ? 'router closed: command dropped' : 'user removed: command dropped',
        { userId: user.id, ver, cmd },
      );
      return;
    }
    if (this.#rate > 0 && kind === KIND_COMMAND && !this.#takeToken(queue)) {
      this.#rateLimited(queue, ver, cmd);
      return;
    }
    if (queue.running === null && !queue.draining && queue.queued === 0) {
      // Idle user: run at once, no queueing.
      this.#runNow(queue, new Chain(queue, kind, ver, cmd, payload));
      return;
    }
    const waiting = queue.queued;
    if (waiting >= this.#maxQueued) {
      this.#logger.warn?.('command queue overflow: command dropped', {
        userId: user.id,
        ver,
        cmd,
        queued: waiting,
      });
      if (!queue.overflowReported) {
        queue.overflowReported = true;
        this.#callSafely('onQueueOverflow', () => this.#onQueueOverflow?.(user, waiting));
      }
      return;
    }
    queue.waiting.push(new Chain(queue, kind, ver, cmd, payload));
    if (queue.running === null && !queue.draining) this.#drain(queue);
  }

  /** Runs one chain for an idle user; a synchronous chain completes before this returns. */
  #runNow(queue: UserQueue<U>, chain: Chain<U>): void {
    queue.draining = true;
    this.#start(chain);
    queue.draining = false;
    if (queue.running === null && queue.queued > 0) this.#drain(queue);
  }

  /** Starts waiting chains one after another while chains complete synchronously. */
  #drain(queue: UserQueue<U>): void {
    queue.draining = true;
    while (queue.running === null && !queue.removed && queue.queued > 0) {
      const chain = queue.waiting[queue.head]!;
      queue.head++;
      this.#start(chain);
    }
    queue.draining = false;
    if (queue.queued === 0) {
      if (queue.head > 0) {
        queue.waiting.length = 0;
        queue.head = 0;
      }
    } else if (queue.head > 1024 && queue.head * 2 > queue.waiting.length) {
      queue.waiting.splice(0, queue.head);
      queue.head = 0;
    }
  }

  #start(chain: Chain<U>): void {
    const queue = chain.queue;
    if (chain.kind === KIND_COMMAND) {
      chain.hooks = this.#hooks;
      chain.handlers = this.#handlers.get(commandKey(chain.ver, chain.cmd)) ?? EMPTY_STEPS;
    } else {
      chain.handlers = this.#keepAlive;
    }
    if (commandChannel.hasSubscribers) chain.startedAt = performance.now();
    chain.responsesBefore = queue.user.responsesSent;
    queue.running = chain;
    this.#runStep(chain);
    if (chain.done) return;
    // Still running after its synchronous part: watch it for stalls.
    if (chain.startedAt === 0) chain.startedAt = performance.now();
    chain.tracked = true;
    this.#running.add(chain);
    if (this.#sweepTimer === null) {
      // Ref'd on purpose: it only runs while a command is running, and close() clears it.
      this.#sweepTimer = setInterval(this.#sweep, this.#sweepMs);
    }
  }

  #runStep(chain: Chain<U>): void {
    const { hooks, handlers, queue } = chain;
    const index = chain.index;
    if (index >= hooks.length + handlers.length) {
      if (chain.kind === KIND_COMMAND && handlers.length === 0) this.#respondUnknown(chain);
      this.#complete(chain, true);
      return;
    }
    const step = index < hooks.length ? hooks[index]! : handlers[index - hooks.length]!;
    let called = false;
    const next: Next = (err) => {
      if (called) {
        if (!chain.done) {
          this.#logger.warn?.('next() called more than once: ignored', {
            userId: queue.user.id,
            ver: chain.ver,
            cmd: chain.cmd,
          });
        }
        return;
      }
      called = true;
      this.#advance(chain, err);
    };
    try {
      const result = step(chain.ver, chain.cmd, chain.payload, queue.user, next);
      if (isPromiseLike(result)) {
        result.then(
          () => {
            // An async handler that returns without calling next moves the chain on.
            if (!called) next();
          },
          (err: unknown) => {
            if (!called) next(err ?? new Error('handler rejected'));
            else this.#lateError(chain, err);
          },
        );
      }
    } catch (err) {
      if (!called) next(err ?? new Error('handler threw'));
      else this.#lateError(chain, err);
    }
  }

  #advance(chain: Chain<U>, err: unknown): void {
    if (chain.done) return;
    if (err != null) {
      this.#fail(chain, err);
      return;
    }
    chain.index++;
    this.#runStep(chain);
  }

  #fail(chain: Chain<U>, err: unknown): void {
    const { ver, cmd, queue } = chain;
    const user = queue.user;
    const response = errorResponse(err);
    this.#logger.warn?.('command chain failed', {
      userId: user.id,
      ver,
      cmd,
      code: response.code,
      error: describeError(err),
    });
    if (errorChannel.hasSubscribers) errorChannel.publish({ user, ver, cmd, error: err });
    if (chain.kind === KIND_COMMAND && user.responsesSent === chain.responsesBefore) {
      this.#respond(chain, response.status, { code: response.code, message: response.message });
    }
    this.#complete(chain, false);
  }

  #lateError(chain: Chain<U>, err: unknown): void {
    this.#logger.warn?.('handler failed after calling next(): error ignored', {
      userId: chain.queue.user.id,
      ver: chain.ver,
      cmd: chain.cmd,
      error: describeError(err),
    });
  }

  #respondUnknown(chain: Chain<U>): void {
    if (chain.queue.user.responsesSent !== chain.responsesBefore) return;
    const { ver, cmd } = chain;
    this.#respond(chain, Status.Bad, {
      code: RouterErrorCode.UnknownCommand,
      message: `no handler for command (${ver}, ${cmd})`,
    });
  }

  #respond(chain: Chain<U>, status: number, body: { code: string; message: string }): void {
    const { ver, cmd, queue } = chain;
    this.#callSafely('sendResponse', () => queue.user.sendResponse(ver, cmd, status, pack(body)));
  }

  #complete(chain: Chain<U>, ok: boolean): void {
    chain.done = true;
    const { queue } = chain;
    if (chain.tracked) this.#running.delete(chain);
    if (queue.running === chain) queue.running = null;
    if (commandChannel.hasSubscribers && chain.startedAt !== 0) {
      commandChannel.publish({
        user: queue.user,
        ver: chain.ver,
        cmd: chain.cmd,
        durationMs: performance.now() - chain.startedAt,
        ok,
      });
    }
    if (chain.kind === KIND_KEEP_ALIVE)
      this.#callSafely('onKeepAliveDone', () => this.#onKeepAliveDone?.(queue.user));
    if (!queue.draining && !queue.removed) this.#drain(queue);
  }

  #callSafely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error?.(`${what} threw`, { error: describeError(err) });
    }
  }

  readonly #sweep = (): void => {
    if (this.#running.size === 0) {
      if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
      return;
    }
    const now = performance.now();
    for (const chain of this.#running) {
      const elapsedMs = now - chain.startedAt;
      if (elapsedMs < this.#stallWarningMs && elapsedMs < this.#stallTimeoutMs) continue;
      const { user } = chain.queue;
      const info: StallInfo = {
        ver: chain.ver,
        cmd: chain.cmd,
        elapsedMs: Math.round(elapsedMs),
      };
      if (!chain.warned && elapsedMs >= this.#stallWarningMs) {
        chain.warned = true;
        this.#logger.warn?.('command handler has not called next()', { userId: user.id, ...info });
        if (stallChannel.hasSubscribers) stallChannel.publish({ user, ...info, stage: 'warning' });
      }
      if (!chain.stalled && elapsedMs >= this.#stallTimeoutMs) {
        chain.stalled = true;
        this.#logger.warn?.('user stalled: command did not finish in time', {
          userId: user.id,
          ...info,
        });
        if (stallChannel.hasSubscribers) stallChannel.publish({ user, ...info, stage: 'timeout' });
        this.#callSafely('onUserStalled', () => this.#onUserStalled?.(user, info));
      }
    }
  };
}

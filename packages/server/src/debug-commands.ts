/**
 * The debug commands (ver 0, 900-905): online, taken, offline, terminate,
 * room dump and user dump, each with an optional application callback, run
 * only for users the authorizer allows (default: loopback) and invisible to
 * the others.
 */
import { CommandError, type CommandRouter } from '@tidewire/command-router';
import { CORE_VER, CoreCommand, type Logger, Status } from '@tidewire/wire';
import { isLoopbackAddress } from './connector.ts';
import { ServerErrorCode, serverError } from './errors.ts';
import type { User } from './user.ts';

/**
 * A debug command callback (the engine's `SetDebugCommandCallback`): gets the
 * user and payload; `respond(err, data)` answers `Err`, or `Ok` with `data`,
 * or nothing when both are absent.
 */
export type DebugCommandCallback = (
  user: User,
  payload: Buffer,
  respond: (err: Error | null, data?: Uint8Array) => void,
) => void;

/** The built-in actions of 900-903. */
export interface DebugActions {
  online(): void;
  taken(): void;
  offline(): void;
  terminate(): void;
}

export class DebugCommands {
  readonly #router: CommandRouter<User>;
  readonly #logger: Logger;
  readonly #actions: DebugActions;
  readonly #callbacks = new Map<number, DebugCommandCallback>();
  #enabled = false;
  #authorizer: ((user: User) => boolean) | null = null;
  #roomDump: (() => unknown[]) | null = null;

  constructor(router: CommandRouter<User>, logger: Logger, actions: DebugActions) {
    this.#router = router;
    this.#logger = logger;
    this.#actions = actions;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Registers 900-905 on the router, once. */
  expose(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    const actions = this.#actions;
    const none = (action: () => void) => (): undefined => {
      action();
      return undefined;
    };
    this.#register(
      CoreCommand.DebugOnline,
      none(() => actions.online()),
    );
    this.#register(
      CoreCommand.DebugTaken,
      none(() => actions.taken()),
    );
    this.#register(
      CoreCommand.DebugOffline,
      none(() => actions.offline()),
    );
    this.#register(
      CoreCommand.DebugTerminate,
      none(() => actions.terminate()),
    );
    this.#register(CoreCommand.DebugRoomDump, () => Buffer.from(JSON.stringify(this.roomDump())));
    this.#register(CoreCommand.DebugUserDump, (user) => Buffer.from(JSON.stringify(user.dump())));
  }

  setAuthorizer(authorize: (user: User) => boolean): void {
    if (typeof authorize !== 'function') {
      throw serverError(ServerErrorCode.InvalidArgument, 'authorize must be a function');
    }
    this.#authorizer = authorize;
  }

  setCallback(cmd: number, callback: DebugCommandCallback): void {
    if (
      !Number.isInteger(cmd) ||
      cmd < CoreCommand.DebugOnline ||
      cmd > CoreCommand.DebugUserDump
    ) {
      throw serverError(ServerErrorCode.InvalidArgument, `debug commands are 900-905, got ${cmd}`);
    }
    this.#callbacks.set(cmd, callback);
  }

  roomDump(): unknown[] {
    return this.#roomDump?.() ?? [];
  }

  setRoomDump(provider: () => unknown[]): void {
    this.#roomDump = provider;
  }

  #register(cmd: number, builtin: (user: User) => Uint8Array | undefined): void {
    this.#router.handleReservedCommand(CORE_VER, cmd, (_ver, _cmd, payload, user, next) => {
      if (!this.#allowed(user)) {
        // As if the command did not exist: nothing tells an outsider debug is on.
        next(
          new CommandError(
            'TIDEWIRE_ERR_UNKNOWN_COMMAND',
            `no handler for command (${CORE_VER}, ${cmd})`,
            Status.Bad,
          ),
        );
        return;
      }
      const data = builtin(user);
      const callback = this.#callbacks.get(cmd);
      if (callback === undefined) {
        if (data !== undefined) user.send(CORE_VER, cmd, data, Status.Ok);
        next();
        return;
      }
      callback(user, payload, (err, custom) => {
        if (err) next(err);
        else {
          const reply = custom ?? data;
          if (reply !== undefined) user.send(CORE_VER, cmd, reply, Status.Ok);
          next();
        }
      });
    });
  }

  #allowed(user: User): boolean {
    if (this.#authorizer !== null) {
      try {
        return this.#authorizer(user) === true;
      } catch (err) {
        this.#logger.warn?.('debug command authorizer threw: refused', {
          userId: user.id,
          error: String(err),
        });
        return false;
      }
    }
    return isLoopbackAddress(user.remoteAddress);
  }
}

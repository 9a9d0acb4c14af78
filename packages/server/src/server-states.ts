/**
 * The node's state (ONLINE, TAKEN, OFFLINE): who may join, the
 * `markServerAsTakenIf` poll, and `tidewire:server:state` on every change.
 * Admission reads it; cluster presence reports it.
 */
import { channel } from 'node:diagnostics_channel';
import type { Logger } from '@tidewire/wire';
import { ServerErrorCode, serverError } from './errors.ts';
import { ServerState, TAKEN_POLL_INTERVAL_MS } from './state.ts';

const stateChannel = channel('tidewire:server:state');

export interface ServerStatesContext {
  readonly logger: Logger;
  /** The object `tidewire:server:state` names as `server`. */
  readonly server: object;
  /** Runs after every change (the registry hears of it). */
  onChange(state: ServerState): void;
}

export class ServerStates {
  readonly #context: ServerStatesContext;
  #state: ServerState = ServerState.Online;
  #takenPoll: NodeJS.Timeout | null = null;

  constructor(context: ServerStatesContext) {
    this.#context = context;
  }

  get current(): ServerState {
    return this.#state;
  }

  set(next: ServerState): void {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#context.logger.info?.('server state changed', { from: previous, to: next });
    this.#context.onChange(next);
    if (stateChannel.hasSubscribers)
      stateChannel.publish({ server: this.#context.server, from: previous, to: next });
  }

  /** Polls `callback` every 2 s: true marks TAKEN, false ONLINE; ignored while OFFLINE. */
  markServerAsTakenIf(callback: () => boolean): void {
    if (typeof callback !== 'function') {
      throw serverError(ServerErrorCode.InvalidArgument, 'markServerAsTakenIf needs a function');
    }
    this.stopPolling();
    this.#takenPoll = setInterval(() => {
      if (this.#state === ServerState.Offline) return;
      let taken: boolean;
      try {
        taken = callback() === true;
      } catch (err) {
        this.#context.logger.warn?.('markServerAsTakenIf callback threw', { error: String(err) });
        return;
      }
      this.set(taken ? ServerState.Taken : ServerState.Online);
    }, TAKEN_POLL_INTERVAL_MS);
    this.#takenPoll.unref();
  }

  stopPolling(): void {
    if (this.#takenPoll !== null) clearInterval(this.#takenPoll);
    this.#takenPoll = null;
  }
}

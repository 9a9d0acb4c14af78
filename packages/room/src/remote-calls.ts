import { CommandError } from '@tidewire/server';
import { Status } from '@tidewire/wire';
import { RoomErrorCode } from './protocol.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

/** Requests to other nodes waiting for their answer: correlation ids and timeouts. */
export class RemoteCalls {
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 1;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Registers a call, hands its id to `send`, and settles with the answer,
   * a `TIDEWIRE_ERR_ROOM_TIMEOUT` (`Err`) after the timeout, or what `send` rejects with.
   */
  call(node: string, send: (id: number) => Promise<void>): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new CommandError(
            RoomErrorCode.Timeout,
            `node ${node} did not answer within ${this.#timeoutMs} ms`,
            Status.Err,
          ),
        );
      }, this.#timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      send(id).catch((err: unknown) => this.#settle(id, false, err));
    });
  }

  /** Settles call `id` (an answer from the mesh); false when unknown or already settled. */
  answer(id: number, ok: boolean, value: unknown): boolean {
    return this.#settle(id, ok, value);
  }

  /** Rejects every pending call (the service closes). */
  rejectAll(error: unknown): void {
    for (const [id] of this.#pending) this.#settle(id, false, error);
  }

  #settle(id: number, ok: boolean, value: unknown): boolean {
    const entry = this.#pending.get(id);
    if (entry === undefined) return false;
    this.#pending.delete(id);
    clearTimeout(entry.timer);
    if (ok) entry.resolve(value);
    else entry.reject(value);
    return true;
  }
}

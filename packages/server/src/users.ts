/**
 * The users connected to this node: by session id and by user id, replaced
 * when the same user connects again, announced to the mesh, the notifier and
 * `tidewire:server:user`, and forgotten when their connection closes.
 */
import { channel } from 'node:diagnostics_channel';
import type { CommandRouter } from '@tidewire/command-router';
import type { Mesh } from '@tidewire/mesh';
import { encodeFrame, type Logger, Status } from '@tidewire/wire';
import { ServerErrorCode } from './errors.ts';
import type { User } from './user.ts';
import type { UserConnection } from './user-connection.ts';

const userChannel = channel('tidewire:server:user');

/** Called when a user's connection ends: the reason code, then the user. */
export type DisconnectCallback = (reason: string, user: User) => void;
/** Called when a user's seat is given up (after `onDisconnect`, at once or when a held seat is released). */
export type LeaveCallback = (reason: string, user: User) => void;
/** Called when a held seat is resumed on a new connection. */
export type ResumeCallback = (user: User) => void;

export interface UserRegistryContext {
  readonly logger: Logger;
  readonly router: CommandRouter<User>;
  mesh(): Mesh;
  /** True while the mesh is open: a closing user's location is removed from it. */
  meshOpen(): boolean;
  /** Runs after a user joined (notifications kept for late joiners). */
  onJoined(user: User): void;
  /** The connection ended: true when the seat is held for a resume (the user stays). */
  hold(user: User, code: string): boolean;
}

export class UserRegistry {
  readonly #context: UserRegistryContext;
  readonly #bySid = new Map<string, User>();
  readonly #byId = new Map<string, User>();
  readonly #disconnectCallbacks: DisconnectCallback[] = [];
  readonly #leaveCallbacks: LeaveCallback[] = [];
  readonly #resumeCallbacks: ResumeCallback[] = [];

  constructor(context: UserRegistryContext) {
    this.#context = context;
  }

  get size(): number {
    return this.#bySid.size;
  }

  values(): IterableIterator<User> {
    return this.#bySid.values();
  }

  byId(userId: string): User | undefined {
    return this.#byId.get(userId);
  }

  bySid(sid: string): User | undefined {
    return this.#bySid.get(sid);
  }

  onDisconnect(callback: DisconnectCallback): void {
    this.#disconnectCallbacks.push(callback);
  }

  onLeave(callback: LeaveCallback): void {
    this.#leaveCallbacks.push(callback);
  }

  onResume(callback: ResumeCallback): void {
    this.#resumeCallbacks.push(callback);
  }

  /** A resumed connection: its close is the user's. Runs `onResume`. */
  reattach(user: User, connection: UserConnection): void {
    connection.onClose = (code) => this.#closed(user, code);
    this.#run(this.#resumeCallbacks, 'onResume', user, (callback) => callback(user));
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'resume' });
  }

  /** A connection a resume replaced: its close reports `onDisconnect` only. */
  detach(user: User, connection: UserConnection): void {
    connection.onClose = (code) => this.#disconnected(user, code);
  }

  /** Records an admitted user; an older connection of the same user id is closed. */
  add(user: User, connection: UserConnection): void {
    const previous = this.#byId.get(user.id);
    if (previous !== undefined) {
      void previous.disconnect(ServerErrorCode.Replaced, 'the same user connected again');
    }
    this.#bySid.set(user.sid, user);
    this.#byId.set(user.id, user);
    connection.onClose = (code) => this.#closed(user, code);
  }

  /** After the hello answer: tells subscribers, the mesh and the notifier. */
  announce(user: User): void {
    const context = this.#context;
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'connect' });
    context
      .mesh()
      .setUserLocation(user.id, user.sid)
      .catch((err: unknown) => {
        context.logger.warn?.('mesh: user location not recorded', {
          userId: user.id,
          error: String(err),
        });
      });
    context.onJoined(user);
  }

  /** Pushes one frame to every user; returns how many it was sent to. */
  broadcast(ver: number, cmd: number, payload: Uint8Array): number {
    const frame = encodeFrame(ver, cmd, Status.Push, payload);
    let count = 0;
    for (const user of this.#bySid.values()) {
      if (user.sendEncoded(frame)) count++;
    }
    return count;
  }

  /** The mesh's user-message handler: delivers to a user of this node. */
  deliver(
    target: { userId?: string; sid: string },
    ver: number,
    cmd: number,
    payload: Uint8Array,
  ): boolean {
    const user = this.#bySid.get(target.sid);
    if (user === undefined || (target.userId !== undefined && user.id !== target.userId))
      return false;
    return user.push(ver, cmd, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  }

  /** Closes every user's connection with `code`. */
  async disconnectAll(code: string, reason: string): Promise<void> {
    await Promise.all([...this.#bySid.values()].map((user) => user.disconnect(code, reason)));
  }

  /**
   * The connection ended. Held seat: `onDisconnect` only (the user stays).
   * Otherwise, as before resume existed: the user is forgotten, then
   * `onDisconnect`, then `onLeave`.
   */
  #closed(user: User, reason: string): void {
    if (this.#context.hold(user, reason)) {
      this.#disconnected(user, reason);
      return;
    }
    this.leave(user, reason, () => this.#disconnected(user, reason));
  }

  #disconnected(user: User, reason: string): void {
    this.#run(this.#disconnectCallbacks, 'onDisconnect', user, (callback) =>
      callback(reason, user),
    );
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'disconnect', reason });
  }

  /** The user's seat is given up: forgotten here, in the mesh and the router; `onLeave` runs. */
  leave(user: User, reason: string, beforeLeave?: () => void): void {
    const context = this.#context;
    if (this.#bySid.get(user.sid) === user) this.#bySid.delete(user.sid);
    if (this.#byId.get(user.id) === user) this.#byId.delete(user.id);
    if (context.meshOpen()) {
      context
        .mesh()
        .removeUserLocation(user.id, user.sid)
        .catch((err: unknown) => {
          context.logger.debug?.('mesh: user location not removed', {
            userId: user.id,
            error: String(err),
          });
        });
    }
    context.router.removeUser(user);
    beforeLeave?.();
    this.#run(this.#leaveCallbacks, 'onLeave', user, (callback) => callback(reason, user));
    if (userChannel.hasSubscribers) userChannel.publish({ user, event: 'leave', reason });
  }

  #run<T>(callbacks: T[], what: string, user: User, call: (callback: T) => void): void {
    for (const callback of callbacks) {
      try {
        call(callback);
      } catch (err) {
        this.#context.logger.error?.(`${what} callback threw`, {
          error: String(err),
          user: user.id,
        });
      }
    }
  }
}

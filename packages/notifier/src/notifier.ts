import { channel } from 'node:diagnostics_channel';
import {
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Logger,
  pack,
  Status,
  TidewireError,
  unpack,
} from '@tidewire/wire';
import { NotifierErrorCode } from './errors.ts';
import { MemoryDeliveryLedger } from './memory-ledger.ts';
import type {
  DeliveryLedger,
  Notification,
  NotificationBus,
  NotificationFilter,
  NotificationLoader,
  NotificationServiceOptions,
  NotifierOptions,
  NotifierUser,
} from './types.ts';

/** The bus topic of notification messages. */
export const NOTIFICATION_TOPIC = 'notification';
const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024;
const DEFAULT_DEDUPE_WINDOW_MS = 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 1_000;

const deliverChannel = channel('tidewire:notifier:deliver');

interface Active {
  readonly notification: Notification;
  readonly expiresAt: number;
  readonly frame: Buffer;
}

interface Service {
  readonly controller: AbortController;
  timer: NodeJS.Timeout | null;
}

/** On the bus: a notification to accept, or an id to delete, everywhere. */
type BusMessage =
  | { op: 'notify'; n: Omit<Notification, 'message'> & { message: Uint8Array }; expiresAt: number }
  | { op: 'delete'; id: string };

function invalid(code: string, message: string): TidewireError {
  return new TidewireError(code, message);
}

/**
 * Delivers notifications to the users of this node, keeps them for users who
 * connect before they expire, dedupes by id, and runs notification services.
 * With a bus, `notify` reaches every node of the cluster.
 */
export class Notifier<U extends NotifierUser> {
  readonly #users: () => Iterable<U>;
  readonly #bus: NotificationBus | undefined;
  readonly #ledger: DeliveryLedger;
  readonly #maxMessageBytes: number;
  readonly #dedupeWindowMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #active = new Map<string, Active>();
  /** Ids seen (delivered or deleted) and when to forget them. */
  readonly #seen = new Map<string, number>();
  readonly #filters = new Map<string, NotificationFilter<U>>();
  readonly #services = new Map<string, Service>();
  readonly #unsubscribe: (() => void) | null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: NotifierOptions<U>) {
    if (typeof options?.users !== 'function') {
      throw invalid(
        NotifierErrorCode.InvalidArgument,
        'users must be a function returning the connected users',
      );
    }
    this.#users = options.users;
    this.#bus = options.bus;
    this.#now = options.now ?? Date.now;
    this.#ledger = options.ledger ?? new MemoryDeliveryLedger(this.#now);
    this.#maxMessageBytes = positiveInteger(
      'maxMessageBytes',
      options.maxMessageBytes,
      DEFAULT_MAX_MESSAGE_BYTES,
    );
    this.#dedupeWindowMs = positiveInteger(
      'dedupeWindowMs',
      options.dedupeWindowMs,
      DEFAULT_DEDUPE_WINDOW_MS,
    );
    this.#logger = options.logger ?? {};
    this.#unsubscribe = this.#bus?.onMessage((message) => this.#onBusMessage(message)) ?? null;
  }

  /**
   * Sends `notification` to every connected user that passes the filter of its
   * name, and keeps it for users who connect within `ttlMs`. Without `local`
   * (and with a bus) every node of the cluster delivers it to its users.
   * Resolves false when the id was used before (the notification is ignored).
   */
  async notify(notification: Notification, options: { local?: boolean } = {}): Promise<boolean> {
    this.#assertOpen();
    this.#validate(notification);
    const now = this.#now();
    if (this.#isSeen(notification.id, now)) {
      this.#logger.debug?.('notification id already used: ignored', { id: notification.id });
      return false;
    }
    const expiresAt = now + notification.ttlMs;
    if (options.local === true || this.#bus === undefined) {
      await this.#accept(copyOf(notification), expiresAt);
      return true;
    }
    const message: BusMessage = { op: 'notify', n: copyOf(notification), expiresAt };
    await this.#bus.broadcast(NOTIFICATION_TOPIC, pack(message));
    return true;
  }

  /**
   * Registers the filter for notifications named `name` (the engine's
   * `SetOnNotification`); it replaces an earlier one. Without a filter every
   * user receives them.
   */
  setOnNotification(name: string, filter: NotificationFilter<U>): void {
    if (typeof name !== 'string' || name === '') {
      throw invalid(NotifierErrorCode.InvalidArgument, 'name must be a non-empty string');
    }
    if (typeof filter !== 'function')
      throw invalid(NotifierErrorCode.InvalidArgument, 'filter must be a function');
    this.#filters.set(name, filter);
  }

  /**
   * Deletes a notification on every node: users who connect later do not get
   * it, and its id stays used.
   */
  async deleteNotification(id: string): Promise<void> {
    this.#assertOpen();
    if (typeof id !== 'string' || id === '') {
      throw invalid(NotifierErrorCode.InvalidArgument, 'id must be a non-empty string');
    }
    this.#delete(id);
    if (this.#bus !== undefined) {
      const message: BusMessage = { op: 'delete', id };
      await this.#bus.broadcast(NOTIFICATION_TOPIC, pack(message));
    }
  }

  /**
   * Calls `loader` every `intervalMs`, the first time one interval after this
   * call as the seed does (`options.immediate`: the first time at once),
   * never two calls at once (a slow loader delays the next call), and
   * notifies what it returns, across the cluster. A loader that throws is
   * logged and called again next time. Every node should run the same
   * services; ids dedupe the copies. Returns a function that stops the service.
   */
  notificationService(
    name: string,
    loader: NotificationLoader,
    intervalMs: number,
    options: NotificationServiceOptions = {},
  ): () => void {
    this.#assertOpen();
    if (typeof name !== 'string' || name === '') {
      throw invalid(NotifierErrorCode.InvalidArgument, 'name must be a non-empty string');
    }
    if (typeof loader !== 'function')
      throw invalid(NotifierErrorCode.InvalidArgument, 'loader must be a function');
    positiveInteger('intervalMs', intervalMs, 0);
    if (this.#services.has(name)) {
      throw invalid(
        NotifierErrorCode.InvalidArgument,
        `a notification service named ${name} is running`,
      );
    }
    const service: Service = { controller: new AbortController(), timer: null };
    this.#services.set(name, service);
    const { signal } = service.controller;
    const run = async (): Promise<void> => {
      service.timer = null;
      const started = Date.now();
      try {
        const result = await loader(signal);
        const list =
          result == null ? [] : Array.isArray(result) ? result : [result as Notification];
        for (const notification of list) {
          if (signal.aborted) break;
          await this.notify({ ...notification, name: notification.name || name });
        }
      } catch (err) {
        if (!signal.aborted) {
          this.#logger.error?.('notification service failed', {
            service: name,
            error: String(err),
          });
        }
      }
      if (signal.aborted) return;
      service.timer = setTimeout(run, Math.max(0, intervalMs - (Date.now() - started)));
    };
    service.timer = setTimeout(run, options.immediate === true ? 0 : intervalMs);
    return () => this.#stopService(name, service);
  }

  /** Delivers the active notifications to a user who just connected (after the hello). */
  async onUserJoined(user: U): Promise<void> {
    if (this.#closed || this.#active.size === 0) return;
    const now = this.#now();
    for (const entry of [...this.#active.values()]) {
      if (entry.expiresAt <= now) continue;
      await this.#deliver(entry, [user]);
    }
  }

  /** Notifications currently kept for late joiners. */
  get activeCount(): number {
    return this.#active.size;
  }

  /** Stops the services and timers and leaves the bus. Later calls reject with `TIDEWIRE_ERR_NOTIFIER_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [name, service] of this.#services) this.#stopService(name, service);
    this.#unsubscribe?.();
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#active.clear();
    this.#seen.clear();
  }

  // ---- internals -----------------------------------------------------------

  #stopService(name: string, service: Service): void {
    service.controller.abort();
    if (service.timer !== null) clearTimeout(service.timer);
    service.timer = null;
    if (this.#services.get(name) === service) this.#services.delete(name);
  }

  async #accept(notification: Notification, expiresAt: number): Promise<void> {
    if (this.#closed) return;
    const now = this.#now();
    if (this.#isSeen(notification.id, now)) return;
    this.#seen.set(notification.id, Math.max(expiresAt, now) + this.#dedupeWindowMs);
    const entry: Active = { notification, expiresAt, frame: frameOf(notification) };
    if (expiresAt > now) this.#active.set(notification.id, entry);
    this.#startSweep();
    await this.#deliver(entry, this.#users());
  }

  #delete(id: string): void {
    const now = this.#now();
    const entry = this.#active.get(id);
    this.#active.delete(id);
    if (!this.#isSeen(id, now))
      this.#seen.set(id, Math.max(entry?.expiresAt ?? now, now) + this.#dedupeWindowMs);
    this.#startSweep();
    void Promise.resolve(this.#ledger.forget(id)).catch((err: unknown) => {
      this.#logger.warn?.('delivery ledger forget failed', { id, error: String(err) });
    });
  }

  async #deliver(entry: Active, users: Iterable<U>): Promise<void> {
    const { notification } = entry;
    const filter = this.#filters.get(notification.name);
    const targets: U[] = [];
    const ids: string[] = [];
    for (const user of users) {
      if (filter !== undefined && !this.#passes(filter, user, notification)) continue;
      targets.push(user);
      ids.push(user.id);
    }
    if (targets.length === 0) return;
    const keepMs = Math.max(0, entry.expiresAt - this.#now()) + this.#dedupeWindowMs;
    let first: boolean[];
    try {
      first = await this.#ledger.markDelivered(notification.id, ids, keepMs);
    } catch (err) {
      this.#logger.error?.('delivery ledger failed: notification not delivered', {
        id: notification.id,
        error: String(err),
      });
      return;
    }
    // Deleted while the ledger answered: users must not get it any more.
    if (!this.#active.has(notification.id) && entry.expiresAt > this.#now()) return;
    let sent = 0;
    for (let i = 0; i < targets.length; i++) {
      if (first[i] === true && targets[i]!.sendEncoded(entry.frame)) sent++;
    }
    if (deliverChannel.hasSubscribers) {
      deliverChannel.publish({ id: notification.id, name: notification.name, users: sent });
    }
  }

  #passes(filter: NotificationFilter<U>, user: U, notification: Notification): boolean {
    try {
      return filter(user, notification) === true;
    } catch (err) {
      this.#logger.warn?.('notification filter threw: user skipped', {
        name: notification.name,
        userId: user.id,
        error: String(err),
      });
      return false;
    }
  }

  #onBusMessage(message: { topic: string; payload: Uint8Array }): void {
    if (message.topic !== NOTIFICATION_TOPIC || this.#closed) return;
    let body: BusMessage;
    try {
      body = unpack<BusMessage>(message.payload);
      if (body?.op === 'notify') {
        this.#validate(body.n);
        if (typeof body.expiresAt !== 'number') throw new Error('expiresAt missing');
      } else if (body?.op !== 'delete' || typeof body.id !== 'string') {
        throw new Error('unknown message');
      }
    } catch (err) {
      this.#logger.warn?.('malformed notification message on the bus: dropped', {
        error: String(err),
      });
      return;
    }
    if (body.op === 'delete') {
      this.#delete(body.id);
      return;
    }
    const notification = { ...body.n, message: Buffer.from(body.n.message) };
    this.#accept(notification, body.expiresAt).catch((err: unknown) => {
      this.#logger.error?.('notification delivery failed', {
        id: notification.id,
        error: String(err),
      });
    });
  }

  #isSeen(id: string, now: number): boolean {
    const forgetAt = this.#seen.get(id);
    return forgetAt !== undefined && forgetAt > now;
  }

  #startSweep(): void {
    if (this.#sweepTimer !== null) return;
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, entry] of this.#active) if (entry.expiresAt <= now) this.#active.delete(id);
    for (const [id, forgetAt] of this.#seen) if (forgetAt <= now) this.#seen.delete(id);
    if (this.#active.size === 0 && this.#seen.size === 0 && this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw invalid(NotifierErrorCode.Closed, 'the notifier is closed');
  }

  #validate(n: Notification): void {
    if (typeof n !== 'object' || n === null) {
      throw invalid(NotifierErrorCode.InvalidNotification, 'a notification must be an object');
    }
    if (typeof n.id !== 'string' || n.id === '') {
      throw invalid(
        NotifierErrorCode.InvalidNotification,
        'notification id must be a non-empty string',
      );
    }
    if (typeof n.name !== 'string') {
      throw invalid(NotifierErrorCode.InvalidNotification, 'notification name must be a string');
    }
    if (!Number.isInteger(n.ver) || n.ver < 0 || n.ver > 0xff) {
      throw invalid(
        NotifierErrorCode.InvalidNotification,
        `notification ver must be 0-255, got ${String(n.ver)}`,
      );
    }
    if (!Number.isInteger(n.cmd) || n.cmd < 0 || n.cmd > 0xffff) {
      throw invalid(
        NotifierErrorCode.InvalidNotification,
        `notification cmd must be 0-65535, got ${String(n.cmd)}`,
      );
    }
    if (!(n.message instanceof Uint8Array)) {
      throw invalid(
        NotifierErrorCode.InvalidNotification,
        'notification message must be a Uint8Array (or Buffer)',
      );
    }
    if (n.message.length > this.#maxMessageBytes) {
      throw invalid(
        NotifierErrorCode.MessageTooLarge,
        `notification message is ${n.message.length} bytes; the limit is ${this.#maxMessageBytes}`,
      );
    }
    if (typeof n.ttlMs !== 'number' || !Number.isInteger(n.ttlMs) || n.ttlMs < 0) {
      throw invalid(
        NotifierErrorCode.InvalidTtl,
        `notification ttlMs must be an integer number of milliseconds >= 0, got ${String(n.ttlMs)}`,
      );
    }
  }
}

function copyOf(n: Notification): Notification {
  return { id: n.id, name: n.name, ver: n.ver, cmd: n.cmd, message: n.message, ttlMs: n.ttlMs };
}

/**
 * The push users receive: for (0, 400), msgpack `{ id, name, message }` (the
 * client's `notification` event); for any other (ver, cmd), the message bytes.
 */
function frameOf(n: Notification): Buffer {
  const payload =
    n.ver === CORE_VER && n.cmd === CoreCommand.Notification
      ? pack({ id: n.id, name: n.name, message: n.message })
      : n.message;
  return encodeFrame(n.ver, n.cmd, Status.Push, payload);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw invalid(
      NotifierErrorCode.InvalidArgument,
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

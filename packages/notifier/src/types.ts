import type { Logger } from '@tidewire/wire';

/**
 * A notification (the engine's `Notification`). `ttlMs` is in milliseconds:
 * the notification is kept that long after `notify` and delivered to users
 * who connect before it expires; 0 delivers only to users connected now.
 */
export interface Notification {
  /** Unique id: a user never receives the same id twice; a second notify with a used id is ignored. */
  readonly id: string;
  /** Associates the notification with a filter (`setOnNotification`). */
  readonly name: string;
  /** Command version of the push. ver 0, cmd 400 is the client's `notification` event. */
  readonly ver: number;
  /** Command id of the push. */
  readonly cmd: number;
  /** The message bytes. */
  readonly message: Uint8Array;
  /** Milliseconds the notification stays available to users who connect later. */
  readonly ttlMs: number;
}

/** What the notifier needs from a connected user. */
export interface NotifierUser {
  readonly id: string;
  /** Sends an already encoded frame; false when it could not be queued. */
  sendEncoded(frame: Uint8Array): boolean;
}

/**
 * Decides who receives notifications of one name (the engine's
 * `NotificationHandler`): called once per user per notification; return true
 * to deliver. Keep no reference to the user after the call.
 */
export type NotificationFilter<U extends NotifierUser> = (
  user: U,
  notification: Readonly<Notification>,
) => boolean;

/** Options of `notificationService`. */
export interface NotificationServiceOptions {
  /** Call the loader at once, then every interval. Default false: the first call is one interval later. */
  immediate?: boolean;
}

/**
 * Produces notifications for a `notificationService` (the engine's
 * `NotificationLoader`): a notification, several, or nothing this time.
 */
export type NotificationLoader = (
  signal: AbortSignal,
) =>
  | Notification
  | readonly Notification[]
  | null
  | undefined
  | Promise<Notification | readonly Notification[] | null | undefined>;

/** A cluster bus: `@tidewire/mesh`'s `Mesh` fits. Messages must reach every node, this one included. */
export interface NotificationBus {
  broadcast(topic: string, payload: Uint8Array): Promise<void>;
  onMessage(
    handler: (message: { from: string; topic: string; payload: Uint8Array }) => void,
  ): () => void;
}

/**
 * Remembers which users received which notification, so that a user never
 * gets an id twice, even after moving to another node. `@tidewire/mesh`
 * provides a cluster-wide one; `MemoryDeliveryLedger` is the per-process default.
 */
export interface DeliveryLedger {
  /**
   * Records deliveries of `notificationId` to `userIds`; answers, for each
   * user, true when this is the first delivery (send it) and false otherwise.
   * Records are kept at least `keepMs`.
   */
  markDelivered(
    notificationId: string,
    userIds: readonly string[],
    keepMs: number,
  ): Promise<boolean[]> | boolean[];
  /** Forgets a notification's records (after a delete). */
  forget(notificationId: string): Promise<void> | void;
}

export interface NotifierOptions<U extends NotifierUser> {
  /** The users connected to this node now. */
  users: () => Iterable<U>;
  /** Cluster delivery; without it every notify is local. */
  bus?: NotificationBus;
  /** Default: a `MemoryDeliveryLedger` (dedupe within this process). */
  ledger?: DeliveryLedger;
  /** Largest message, in bytes. Default 16384. */
  maxMessageBytes?: number;
  /** How long ids are remembered after their TTL, to ignore repeats from notification services. Default 1 hour. */
  dedupeWindowMs?: number;
  /** Clock, ms since epoch. Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

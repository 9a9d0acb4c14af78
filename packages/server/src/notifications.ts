/**
 * Notifications on this node (`@tidewire/notifier`), once enabled: over the
 * mesh's bus, with cluster-wide delivery records, to the connected users.
 */
import type { Mesh } from '@tidewire/mesh';
import { Notifier } from '@tidewire/notifier';
import type { Logger } from '@tidewire/wire';
import { ServerErrorCode, serverError } from './errors.ts';
import type { NotificationOptions } from './options.ts';
import type { User } from './user.ts';

export class ServerNotifications {
  readonly #logger: Logger;
  readonly #users: () => IterableIterator<User>;
  #notifier: Notifier<User> | null = null;

  constructor(logger: Logger, users: () => IterableIterator<User>) {
    this.#logger = logger;
    this.#users = users;
  }

  enable(mesh: Mesh, options: NotificationOptions): void {
    if (this.#notifier !== null) return;
    this.#notifier = new Notifier<User>({
      users: this.#users,
      bus: mesh,
      // Cluster-wide: a user who moves to another node is not served again.
      ledger: {
        markDelivered: (id, userIds, keepMs) => mesh.claim(`notify:${id}`, userIds, keepMs),
        forget: (id) => mesh.releaseClaims(`notify:${id}`),
      },
      ...options,
      logger: this.#logger,
    });
  }

  /** The notifier; throws `TIDEWIRE_ERR_INVALID_STATE` before `enable`. */
  get notifier(): Notifier<User> {
    if (this.#notifier === null) {
      throw serverError(ServerErrorCode.InvalidState, 'call enableNotifications() first');
    }
    return this.#notifier;
  }

  /** Delivers what a new user should still get. */
  onUserJoined(user: User): void {
    this.#notifier?.onUserJoined(user).catch((err: unknown) => {
      this.#logger.error?.('notification delivery on join failed', {
        userId: user.id,
        error: String(err),
      });
    });
  }

  close(): void {
    this.#notifier?.close();
  }
}

import type { DeliveryLedger } from './types.ts';

interface Record {
  readonly users: Set<string>;
  keepUntil: number;
}

const PRUNE_INTERVAL_MS = 1_000;

/** The per-process `DeliveryLedger`: which user got which notification, kept for `keepMs`. */
export class MemoryDeliveryLedger implements DeliveryLedger {
  readonly #records = new Map<string, Record>();
  readonly #now: () => number;
  #prunedAt = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  markDelivered(notificationId: string, userIds: readonly string[], keepMs: number): boolean[] {
    const now = this.#now();
    this.#prune(now);
    let record = this.#records.get(notificationId);
    if (record === undefined || record.keepUntil <= now) {
      record = { users: new Set(), keepUntil: now + keepMs };
      this.#records.set(notificationId, record);
    } else {
      record.keepUntil = Math.max(record.keepUntil, now + keepMs);
    }
    const { users } = record;
    return userIds.map((id) => {
      if (users.has(id)) return false;
      users.add(id);
      return true;
    });
  }

  forget(notificationId: string): void {
    this.#records.delete(notificationId);
  }

  /** Notifications with records (for tests and metrics). */
  get size(): number {
    return this.#records.size;
  }

  #prune(now: number): void {
    if (now - this.#prunedAt < PRUNE_INTERVAL_MS) return;
    this.#prunedAt = now;
    for (const [id, record] of this.#records) {
      if (record.keepUntil <= now) this.#records.delete(id);
    }
  }
}

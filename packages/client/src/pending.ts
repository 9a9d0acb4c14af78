/**
 * The requests waiting for their answers, per (ver, cmd) in send order (a
 * `null` marks a `send` with no waiter, or a waiter that gave up), and the
 * commands parked while the client moves to another node. Shared by the
 * Node and browser clients.
 */

/** A waiting request as both clients keep it. */
export interface PendingEntry {
  reject: (err: unknown) => void;
  /** Clears its timer and abort listener and frees its slot. */
  cleanup: () => void;
}

/** Waiters by `keyOf(ver, cmd)`. */
export type PendingTable<P extends PendingEntry> = Map<number, (P | null)[]>;

/** A command made while moving: it goes out on the new connection (its waiter is queued). */
export interface ParkedCommand {
  ver: number;
  cmd: number;
  payload: Uint8Array;
  options: { reliable?: boolean };
}

export const keyOf = (ver: number, cmd: number): number => ver * 0x10000 + cmd;

/** The queue of (ver, cmd), created when missing. */
export function queueOf<P extends PendingEntry>(
  pending: PendingTable<P>,
  ver: number,
  cmd: number,
): (P | null)[] {
  const key = keyOf(ver, cmd);
  let queue = pending.get(key);
  if (queue === undefined) {
    queue = [];
    pending.set(key, queue);
  }
  return queue;
}

/** Slots per key that belong to parked commands (they wait at the tail of their queues). */
function parkedSlots(parked: readonly ParkedCommand[]): Map<number, number> {
  const slots = new Map<number, number>();
  for (const p of parked) {
    const key = keyOf(p.ver, p.cmd);
    slots.set(key, (slots.get(key) ?? 0) + 1);
  }
  return slots;
}

/** True while a slot ahead of the parked ones still waits for its answer. */
export function hasUnparked(
  pending: PendingTable<PendingEntry>,
  parked: readonly ParkedCommand[],
): boolean {
  const slots = parkedSlots(parked);
  for (const [key, queue] of pending) {
    if (queue.length > (slots.get(key) ?? 0)) return true;
  }
  return false;
}

/** Fails the waiters ahead of the parked ones (their answers were due from the old node). */
export function failUnparked(
  pending: PendingTable<PendingEntry>,
  parked: readonly ParkedCommand[],
  error: Error,
): void {
  const slots = parkedSlots(parked);
  for (const [key, queue] of pending) {
    const drop = queue.splice(0, Math.max(0, queue.length - (slots.get(key) ?? 0)));
    for (const entry of drop) {
      if (entry) {
        entry.cleanup();
        entry.reject(error);
      }
    }
  }
}

/** Fails every waiter and empties the table. */
export function failAll(pending: PendingTable<PendingEntry>, error: Error): void {
  const entries = [...pending.values()].flat();
  pending.clear();
  for (const entry of entries) {
    if (entry) {
      entry.cleanup();
      entry.reject(error);
    }
  }
}

/**
 * Reassembly of unreliable messages sent as UNRELIABLE_FRAGMENT units.
 * Bounded in memory (`maxBytes` over all incomplete messages, counting a
 * fixed overhead per message and per fragment so that tiny fragments cannot
 * exhaust memory unaccounted; a message that would exceed it is dropped) and
 * in time (an incomplete message is dropped `timeoutMs` after its first
 * fragment arrived).
 */

interface Pending {
  count: number;
  /** What the memory bound charges for this message. */
  charged: number;
  /** Fragment bytes held. */
  size: number;
  parts: Map<number, Buffer>;
  deadline: number;
}

/** Bytes charged per message and per fragment held, on top of the fragment bytes. */
export const FRAGMENT_ENTRY_OVERHEAD = 64;

export type FragmentDropReason = 'fragment-memory' | 'fragment-timeout' | 'fragment-invalid';

export class FragmentAssembler {
  readonly maxBytes: number;
  readonly maxMessageBytes: number;
  readonly timeoutMs: number;
  /** Insertion order is deadline order: every message gets the same timeout. */
  readonly #pending = new Map<number, Pending>();
  /** Message ids completed or dropped while fragments may still arrive: ignored until they expire. */
  readonly #ignored = new Map<number, number>();
  #charged = 0;
  dropped = 0;

  constructor(maxBytes: number, maxMessageBytes: number, timeoutMs: number) {
    this.maxBytes = maxBytes;
    this.maxMessageBytes = maxMessageBytes;
    this.timeoutMs = timeoutMs;
  }

  /** Bytes charged to incomplete messages (fragment bytes plus the per-entry overhead). */
  get bytes(): number {
    return this.#charged;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Adds one fragment. Returns the whole message once its last fragment
   * arrived, null otherwise (incomplete, duplicate or dropped).
   */
  add(
    messageId: number,
    index: number,
    count: number,
    data: Buffer,
    now: number,
    onDrop?: (reason: FragmentDropReason) => void,
  ): Buffer | null {
    if (this.#ignored.has(messageId)) return null;
    if (count < 1 || index >= count) {
      onDrop?.('fragment-invalid');
      return null;
    }
    let entry = this.#pending.get(messageId);
    if (entry !== undefined && entry.count !== count) {
      // The id was reused by a newer message (u16 wrap): the old one is stale.
      this.#forget(messageId, entry);
      entry = undefined;
    }
    const charge = data.length + FRAGMENT_ENTRY_OVERHEAD;
    if (entry === undefined) {
      entry = { count, charged: 0, size: 0, parts: new Map(), deadline: now + this.timeoutMs };
      if (!this.#fits(entry, data.length, charge + FRAGMENT_ENTRY_OVERHEAD)) {
        this.#drop(messageId, entry.deadline, onDrop);
        return null;
      }
      entry.charged = FRAGMENT_ENTRY_OVERHEAD;
      this.#charged += FRAGMENT_ENTRY_OVERHEAD;
      this.#pending.set(messageId, entry);
    } else if (entry.parts.has(index)) {
      return null;
    } else if (!this.#fits(entry, data.length, charge)) {
      this.#forget(messageId, entry);
      this.#drop(messageId, entry.deadline, onDrop);
      return null;
    }
    entry.parts.set(index, data);
    entry.charged += charge;
    entry.size += data.length;
    this.#charged += charge;
    if (entry.parts.size < entry.count) return null;
    this.#forget(messageId, entry);
    this.#ignored.set(messageId, entry.deadline);
    const whole = Buffer.allocUnsafe(entry.size);
    let offset = 0;
    for (let i = 0; i < entry.count; i++) {
      const part = entry.parts.get(i)!;
      part.copy(whole, offset);
      offset += part.length;
    }
    return whole;
  }

  /** Drops the messages whose deadline passed. */
  expire(now: number, onDrop?: (reason: FragmentDropReason) => void): void {
    for (const [id, entry] of this.#pending) {
      if (entry.deadline > now) break;
      this.#forget(id, entry);
      this.dropped++;
      onDrop?.('fragment-timeout');
    }
    for (const [id, deadline] of this.#ignored) {
      if (deadline > now) break;
      this.#ignored.delete(id);
    }
  }

  /** When `expire` has something to do next, or Infinity. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.#pending.size === 0 && this.#ignored.size === 0) return next;
    for (const entry of this.#pending.values()) {
      next = entry.deadline;
      break;
    }
    for (const deadline of this.#ignored.values()) {
      if (deadline < next) next = deadline;
      break;
    }
    return next;
  }

  clear(): void {
    this.#pending.clear();
    this.#ignored.clear();
    this.#charged = 0;
  }

  #fits(entry: Pending, size: number, charge: number): boolean {
    return entry.size + size <= this.maxMessageBytes && this.#charged + charge <= this.maxBytes;
  }

  #drop(id: number, deadline: number, onDrop?: (reason: FragmentDropReason) => void): void {
    this.#ignored.set(id, deadline);
    this.dropped++;
    onDrop?.('fragment-memory');
  }

  #forget(id: number, entry: Pending): void {
    this.#pending.delete(id);
    this.#charged -= entry.charged;
  }
}

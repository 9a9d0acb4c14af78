/**
 * Reassembly of unreliable messages sent as UNRELIABLE_FRAGMENT units.
 * Bounded in memory (`maxBytes` over all incomplete messages; a message that
 * would exceed it is dropped) and in time (an incomplete message is dropped
 * `timeoutMs` after its first fragment arrived).
 */

interface Partial {
  count: number;
  received: number;
  bytes: number;
  parts: (Buffer | undefined)[];
  deadline: number;
}

export type FragmentDropReason = 'fragment-memory' | 'fragment-timeout' | 'fragment-invalid';

export class FragmentAssembler {
  readonly maxBytes: number;
  readonly maxMessageBytes: number;
  readonly timeoutMs: number;
  /** Insertion order is deadline order: every message gets the same timeout. */
  readonly #pending = new Map<number, Partial>();
  /** Message ids completed or dropped while fragments may still arrive: ignored until they expire. */
  readonly #dropped = new Map<number, number>();
  #bytes = 0;
  dropped = 0;

  constructor(maxBytes: number, maxMessageBytes: number, timeoutMs: number) {
    this.maxBytes = maxBytes;
    this.maxMessageBytes = maxMessageBytes;
    this.timeoutMs = timeoutMs;
  }

  /** Bytes held by incomplete messages. */
  get bytes(): number {
    return this.#bytes;
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
    if (this.#dropped.has(messageId)) return null;
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
    if (entry === undefined) {
      entry = {
        count,
        received: 0,
        bytes: 0,
        parts: new Array(count),
        deadline: now + this.timeoutMs,
      };
      this.#pending.set(messageId, entry);
    }
    if (entry.parts[index] !== undefined) return null;
    if (
      entry.bytes + data.length > this.maxMessageBytes ||
      this.#bytes + data.length > this.maxBytes
    ) {
      this.#forget(messageId, entry);
      this.#dropped.set(messageId, entry.deadline);
      this.dropped++;
      onDrop?.('fragment-memory');
      return null;
    }
    entry.parts[index] = data;
    entry.received++;
    entry.bytes += data.length;
    this.#bytes += data.length;
    if (entry.received < entry.count) return null;
    this.#forget(messageId, entry);
    this.#dropped.set(messageId, entry.deadline);
    return Buffer.concat(entry.parts as Buffer[], entry.bytes);
  }

  /** Drops the messages whose deadline passed. */
  expire(now: number, onDrop?: (reason: FragmentDropReason) => void): void {
    for (const [id, entry] of this.#pending) {
      if (entry.deadline > now) break;
      this.#forget(id, entry);
      this.dropped++;
      onDrop?.('fragment-timeout');
    }
    for (const [id, deadline] of this.#dropped) {
      if (deadline > now) break;
      this.#dropped.delete(id);
    }
  }

  /** When `expire` has something to do next, or Infinity. */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.#pending.size === 0 && this.#dropped.size === 0) return next;
    for (const entry of this.#pending.values()) {
      next = entry.deadline;
      break;
    }
    for (const deadline of this.#dropped.values()) {
      if (deadline < next) next = deadline;
      break;
    }
    return next;
  }

  clear(): void {
    this.#pending.clear();
    this.#dropped.clear();
    this.#bytes = 0;
  }

  #forget(id: number, entry: Partial): void {
    this.#pending.delete(id);
    this.#bytes -= entry.bytes;
  }
}

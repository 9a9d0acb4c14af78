import { ReplayWindow, readU16, readU32, writeU16, writeU32 } from '@tidewire/wire';
import { expandNear, U32 } from './packet-numbers.ts';
import { SEND_WINDOW } from './send-window.ts';
import type { SessionOptions } from './session-types.ts';
import {
  ACK_RANGE_SIZE,
  ACK_UNIT_OVERHEAD,
  FRAGMENT_UNIT_OVERHEAD,
  MAX_ACK_RANGES,
  RELIABLE_UNIT_OVERHEAD,
  UNRELIABLE_UNIT_OVERHEAD,
  UnitKind,
} from './units.ts';

/**
 * Packets carrying data that repeat the ACK ranges after an ack-eliciting
 * packet arrived or a packet opened a gap (redundancy against lost ACKs);
 * after that, data packets carry no ACK until there is news to report.
 */
export const ACK_REPEATS = 4;
export const UNITS_OK = 0;
export const UNITS_MALFORMED = 1;
export const UNITS_BEYOND_WINDOW = 2;

/** Where the receive window hands reliable messages, whole and in order. */
export interface ReliableSink {
  /** A whole reliable message, `data[start, end)` (a view: copy what you keep). */
  reliableMessage(data: Buffer, start: number, end: number): void;
  /** A reliable message grew past `maxPayloadLength + 10`: the connection must end. */
  reliableTooLarge(): void;
}

interface ReceivedPiece {
  data: Buffer;
  more: boolean;
}

/**
 * The receiving half of a reliable-UDP peer: which packet numbers arrived
 * (replays, the ranges an ACK reports), when an ACK is owed or may wait for
 * data to ride with, and the reliable pieces put back in order and joined
 * into messages. Owned by a session, which reads the units and packs the
 * ACKs this window writes.
 */
export class ReceiveWindow {
  readonly #options: SessionOptions;
  readonly #sink: ReliableSink;
  readonly #window = new ReplayWindow(1024);
  /** Received packet numbers as [high, low] pairs, highest first, at most MAX_ACK_RANGES of them. */
  #ranges: number[] = [];
  #largestReceivedTime = 0;
  #ackPending = false;
  /** Ack-eliciting packets received since the last ACK sent. */
  #unackedEliciting = 0;
  /** When a delayed ACK is due (Infinity: none waiting). */
  #ackDueAt = Number.POSITIVE_INFINITY;
  /** Data packets that still carry the ranges unasked (see ACK_REPEATS). */
  #ackRepeats = 0;
  /** We retransmitted a reliable piece: the next ack-eliciting packet received is acknowledged at once. */
  #ackAtOnce = false;
  /** When we last sent a packet with data (reliable, unreliable or PING): an ACK may wait for the next only until `ackDelayMs` after it. */
  #dataSentAt = Number.NEGATIVE_INFINITY;
  #nextExpected = 0;
  /** Reliable pieces received out of order; made at a gap, dropped once it is filled. */
  #received: Map<number, ReceivedPiece> | null = null;
  #assembly: Buffer[] = [];
  #assemblyBytes = 0;

  constructor(options: SessionOptions, sink: ReliableSink) {
    this.#options = options;
    this.#sink = sink;
  }

  /** The highest packet number received so far, or -1. */
  get highest(): number {
    return this.#window.highest;
  }

  /** True when packet `pn` was received before or is older than the replay window. */
  isReplay(pn: number): boolean {
    return this.#window.isReplay(pn);
  }

  /** An ACK is owed now. */
  get ackPending(): boolean {
    return this.#ackPending;
  }

  /** Data packets should still repeat the latest ranges. */
  get repeatsRanges(): boolean {
    return this.#ackRepeats > 0 && this.#ranges.length > 0;
  }

  /** When a delayed ACK is due, or Infinity. */
  get ackDueAt(): number {
    return this.#ackDueAt;
  }

  /**
   * One pass over the units of `body` from `start`: every kind known,
   * nothing past the end, ACK range counts in 1..32, reliable pieces below
   * `next expected + window`. Returns a UNITS_* value.
   */
  checkUnits(body: Buffer, start: number): number {
    let offset = start;
    const end = body.length;
    const limit = this.#nextExpected + SEND_WINDOW;
    while (offset < end) {
      const kind = body[offset]!;
      if (kind === UnitKind.Reliable || kind === UnitKind.ReliableMore) {
        if (offset + RELIABLE_UNIT_OVERHEAD > end) return UNITS_MALFORMED;
        if (expandNear(readU32(body, offset + 1), this.#nextExpected) >= limit) {
          return UNITS_BEYOND_WINDOW;
        }
        offset += RELIABLE_UNIT_OVERHEAD + readU16(body, offset + 5);
      } else if (kind === UnitKind.Ack) {
        if (offset + ACK_UNIT_OVERHEAD > end) return UNITS_MALFORMED;
        const count = body[offset + 3]!;
        if (count < 1 || count > MAX_ACK_RANGES) return UNITS_MALFORMED;
        offset += ACK_UNIT_OVERHEAD + count * ACK_RANGE_SIZE;
      } else if (kind === UnitKind.Unreliable) {
        if (offset + UNRELIABLE_UNIT_OVERHEAD > end) return UNITS_MALFORMED;
        offset += UNRELIABLE_UNIT_OVERHEAD + readU16(body, offset + 1);
      } else if (kind === UnitKind.UnreliableFragment) {
        if (offset + FRAGMENT_UNIT_OVERHEAD > end) return UNITS_MALFORMED;
        offset += FRAGMENT_UNIT_OVERHEAD + readU16(body, offset + 7);
      } else if (kind === UnitKind.Ping) {
        offset += 1;
      } else if (kind === UnitKind.Fin) {
        if (offset + 2 > end) return UNITS_MALFORMED;
        const codeEnd = offset + 2 + body[offset + 1]!;
        if (codeEnd + 2 > end) return UNITS_MALFORMED;
        offset = codeEnd + 2 + readU16(body, codeEnd);
      } else {
        return UNITS_MALFORMED;
      }
      if (offset > end) return UNITS_MALFORMED;
    }
    return UNITS_OK;
  }

  /**
   * Packet `pn` (checked: not a replay, units valid) is taken. Returns true
   * when it is the next number after the highest received: no gap, no
   * reordering.
   */
  accept(pn: number, now: number): boolean {
    const inOrder = pn === this.#window.highest + 1;
    this.#window.accept(pn);
    this.#recordReceived(pn, now);
    return inOrder;
  }

  /** The full sequence number a received low-32-bit one stands for. */
  expandSeq(low: number): number {
    return expandNear(low, this.#nextExpected);
  }

  /**
   * A received reliable piece, `body[start, end)`: a view of it is kept only
   * when it must wait. Returns false when it is a duplicate (the peer sent it
   * again).
   */
  receivePiece(seq: number, body: Buffer, start: number, end: number, more: boolean): boolean {
    if (seq === this.#nextExpected) {
      // the common case: in order, no buffering
      this.#nextExpected++;
      this.#take(body, start, end, more);
      return true;
    }
    if (seq < this.#nextExpected || this.#received?.has(seq) === true) return false;
    this.#received ??= new Map();
    this.#received.set(seq, { data: body.subarray(start, end), more });
    return true;
  }

  /** Delivers the pieces that waited for a gap the last packet filled. */
  deliverInOrder(): void {
    const received = this.#received;
    if (received === null) return;
    // `clear` (the session ended while delivering) replaces `#received`
    while (received.size > 0 && this.#received === received) {
      const piece = received.get(this.#nextExpected);
      if (piece === undefined) return;
      received.delete(this.#nextExpected);
      this.#nextExpected++;
      this.#take(piece.data, 0, piece.data.length, piece.more);
    }
    // emptied: let it go, so that packets in order do not look at it (nor keep it)
    if (received.size === 0 && this.#received === received) this.#received = null;
  }

  /**
   * The packet just taken elicits an ACK (reliable data, PING, FIN):
   * owed at once, or waiting up to `ackDelayMs` for data to ride with.
   */
  elicited(now: number, inOrder: boolean, fin: boolean): void {
    this.#ackRepeats = ACK_REPEATS;
    this.#unackedEliciting++;
    const delay = this.#options.ackDelayMs;
    if (
      now - this.#dataSentAt >= delay ||
      this.#unackedEliciting > 1 ||
      !inOrder ||
      fin ||
      this.#ackAtOnce
    ) {
      this.#ackPending = true;
      this.#ackAtOnce = false;
    } else if (this.#ackDueAt === Number.POSITIVE_INFINITY) {
      // wait for something to send (the ACK rides with it), at most `delay`
      this.#ackDueAt = now + delay;
    }
  }

  /** We retransmitted: the peer's next ack-eliciting packet is acknowledged at once. */
  ackNextAtOnce(): void {
    this.#ackAtOnce = true;
  }

  /** We sent a packet with data: a delayed ACK may wait for the next one from now. */
  dataSent(now: number): void {
    this.#dataSentAt = now;
  }

  /** A delayed ACK whose time has come is owed. */
  onTimer(now: number): void {
    if (now >= this.#ackDueAt) this.#ackPending = true;
  }

  /** Writes an ACK unit of at most `maxRanges` ranges at `target[0]`; returns its length. */
  writeAck(target: Buffer, now: number, maxRanges: number): number {
    const ranges = this.#ranges;
    const fit = Math.floor((this.#options.bodyBudget - ACK_UNIT_OVERHEAD) / ACK_RANGE_SIZE);
    const count = Math.min(ranges.length / 2, maxRanges, fit);
    target[0] = UnitKind.Ack;
    writeU16(target, 1, Math.min(0xffff, Math.max(0, Math.round(now - this.#largestReceivedTime))));
    target[3] = count;
    let offset = ACK_UNIT_OVERHEAD;
    for (let i = 0; i < count; i++) {
      writeU32(target, offset, ranges[2 * i]! % U32);
      writeU32(target, offset + 4, ranges[2 * i + 1]! % U32);
      offset += ACK_RANGE_SIZE;
    }
    if (this.#ackRepeats > 0) this.#ackRepeats--;
    return offset;
  }

  /** A packet left: it carried an ACK when `withAck`. No ACK is owed until news comes. */
  packetSent(withAck: boolean): void {
    this.#ackPending = false;
    if (withAck) {
      // this packet acknowledges everything received: a delayed ACK is no longer owed
      this.#unackedEliciting = 0;
      this.#ackDueAt = Number.POSITIVE_INFINITY;
    }
  }

  /** Lets go of everything (the session ended). */
  clear(): void {
    this.#received = null;
    this.#assembly = [];
  }

  #recordReceived(pn: number, now: number): void {
    const r = this.#ranges;
    const before = r.length;
    if (r.length === 0 || pn > r[0]!) this.#largestReceivedTime = now;
    let i = 0;
    for (; i < r.length; i += 2) {
      const high = r[i]!;
      const low = r[i + 1]!;
      if (pn > high + 1) {
        r.splice(i, 0, pn, pn);
        break;
      }
      if (pn === high + 1) {
        r[i] = pn;
        break;
      }
      if (pn >= low) break;
      if (pn === low - 1) {
        r[i + 1] = pn;
        if (i + 2 < r.length && r[i + 2] === pn - 1) {
          r[i + 1] = r[i + 3]!;
          r.splice(i + 2, 2);
        }
        break;
      }
    }
    if (i >= r.length) r.push(pn, pn);
    // a new range beside earlier ones is a gap (packets missing or late): the sender should hear of it
    if (before > 0 && r.length > before) this.#ackRepeats = ACK_REPEATS;
    if (r.length > 2 * MAX_ACK_RANGES) r.length = 2 * MAX_ACK_RANGES;
  }

  /**
   * The next piece in sequence, `data[start, end)`: part of a message, or its
   * end (then the message is delivered).
   */
  #take(data: Buffer, start: number, end: number, more: boolean): void {
    const length = end - start;
    if (this.#assemblyBytes + length > this.#options.maxPayloadLength + 10) {
      this.#sink.reliableTooLarge();
      return;
    }
    if (more) {
      this.#assembly.push(data.subarray(start, end));
      this.#assemblyBytes += length;
      return;
    }
    if (this.#assembly.length === 0) {
      this.#sink.reliableMessage(data, start, end);
      return;
    }
    this.#assembly.push(data.subarray(start, end));
    const message = Buffer.concat(this.#assembly, this.#assemblyBytes + length);
    this.#assembly = [];
    this.#assemblyBytes = 0;
    this.#sink.reliableMessage(message, 0, message.length);
  }
}

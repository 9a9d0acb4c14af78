import { copyBytes, readU16, readU32, TidewireError, writeU16 } from '@tidewire/wire';
import { UdpCloseCode, UdpErrorCode } from './errors.ts';
import { FragmentAssembler, type FragmentDropReason } from './fragments.ts';
import { expandNear } from './packet-numbers.ts';
import { packet, packetUnits, replacePacketBuffer, reservePacketUnits } from './packet-scratch.ts';
import {
  ReceiveWindow,
  type ReliableSink,
  UNITS_BEYOND_WINDOW,
  UNITS_OK,
} from './receive-window.ts';
import { MAX_KEPT_SLOTS, SendWindow } from './send-window.ts';
import type { SessionHandler, SessionOptions, SessionStats } from './session-types.ts';
import {
  ACK_RANGE_SIZE,
  ACK_RANGES_WITH_DATA,
  ACK_RESERVE,
  ACK_UNIT_OVERHEAD,
  FRAGMENT_UNIT_OVERHEAD,
  finSize,
  MAX_ACK_RANGES,
  RELIABLE_UNIT_OVERHEAD,
  UNRELIABLE_UNIT_OVERHEAD,
  UnitKind,
  writeFin,
} from './units.ts';

export { expandNear } from './packet-numbers.ts';
export { PACKET_HEADER_ROOM } from './packet-scratch.ts';
export { ACK_REPEATS } from './receive-window.ts';
export { REORDER_THRESHOLD, SEND_WINDOW } from './send-window.ts';
export {
  DEFAULT_SESSION_OPTIONS,
  resolveSessionOptions,
  type SessionHandler,
  type SessionOptions,
  type SessionStats,
} from './session-types.ts';

const MAX_FIN_REASON_BYTES = 256;
const MAX_FIN_CODE_BYTES = 64;
/** A packet number this far past the highest received is not from a live peer: dropped. */
export const MAX_PACKET_NUMBER_JUMP = 65_536;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;
const EMPTY = Buffer.alloc(0);

/**
 * A fragment of an unreliable message too long for one packet, as its whole
 * unit (header included). A message that fits waits in the unreliable queue
 * as itself: its unit header is written when it is packed.
 */
class FragmentUnit {
  readonly unit: Buffer;
  constructor(unit: Buffer) {
    this.unit = unit;
  }
}

/**
 * One side of a reliable-UDP connection, without sockets or timers: the
 * owner feeds it received packet bodies and the current time, calls `flush`
 * after sending or receiving and `onTimer` at `nextDeadline()`, and puts the
 * packets it hands to `transmit` on the wire. Everything is driven by the
 * `now` values passed in, so tests control the clock.
 *
 * The session composes two state machines and keeps what lies between them:
 * `SendWindow` (reliable pieces, packets in flight, loss, retransmission,
 * RTT) and `ReceiveWindow` (packet numbers received, ACK generation,
 * reordering, reassembly). It reads the units of a packet, packs the units
 * of the next, and keeps the unreliable queue, keep-alive, close and stats.
 */
export class RudpSession<O = unknown> {
  readonly options: SessionOptions;
  // Counters of `stats` that are the session's own (the windows keep theirs).
  #packetsSent = 0;
  #packetsReceived = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #messagesSent = 0;
  #messagesReceived = 0;
  #duplicates = 0;
  #droppedCount = 0;

  readonly #handler: SessionHandler<O>;
  readonly #owner: O;
  readonly #send: SendWindow<O>;
  readonly #receive: ReceiveWindow;
  readonly #wholeMax: number;
  readonly #fragmentMax: number;
  readonly #highWater: number;
  #state = OPEN;

  /**
   * Unreliable messages (or fragments) waiting to be sent, `[head..tail)`;
   * sent slots hold EMPTY. Emptied, both indexes go back to 0 (the array's
   * storage is kept).
   */
  #unreliable: (Uint8Array | FragmentUnit)[] = [];
  #unreliableHead = 0;
  #unreliableTail = 0;
  #unreliableBytes = 0;
  #nextMessageId = 0;
  #needDrain = false;
  /** When this side last sent a packet (any: data, ACK, PING). */
  #lastSent: number;
  /**
   * When the keep-alive is next looked at: a PING goes out then if nothing
   * was sent for `keepAliveMs`, else the check moves to `keepAliveMs` after
   * the last send. Checked lazily, so a stream of packets does not move the
   * connection's deadline with every one of them.
   */
  #keepAliveAt: number;
  #pingPending = false;
  #closeCode: string = UdpCloseCode.Normal;
  #closeReason = '';
  #closeDeadline = Number.POSITIVE_INFINITY;
  /** Made on the first unreliable fragment: most connections never need one. */
  #fragments: FragmentAssembler | null = null;
  /** Counts what `#fragments` drops; made with it. */
  #onFragmentDrop: ((reason: FragmentDropReason) => void) | undefined;
  #lastReceive: number;

  constructor(options: SessionOptions, handler: SessionHandler<O>, owner: O, now: number) {
    this.options = options;
    this.#handler = handler;
    this.#owner = owner;
    reservePacketUnits(options.bodyBudget);
    const pieceMax = options.bodyBudget - RELIABLE_UNIT_OVERHEAD - ACK_RESERVE;
    this.#wholeMax = options.bodyBudget - UNRELIABLE_UNIT_OVERHEAD - ACK_RESERVE;
    this.#fragmentMax = options.bodyBudget - FRAGMENT_UNIT_OVERHEAD - ACK_RESERVE;
    if (this.#fragmentMax < 64) throw new RangeError('bodyBudget is too small');
    this.#highWater = Math.min(64 * 1024, options.maxBufferedBytes);
    this.#send = new SendWindow(options, handler, owner, pieceMax);
    const sink: ReliableSink = {
      reliableMessage: (data, start, end) => this.#deliver(data, start, end, true),
      reliableTooLarge: () =>
        this.#fail(
          UdpErrorCode.FrameTooLarge,
          `reliable message exceeds maxPayloadLength + 10 (${options.maxPayloadLength + 10})`,
          this.#lastReceive,
        ),
    };
    this.#receive = new ReceiveWindow(options, sink);
    this.#lastReceive = now;
    this.#lastSent = now;
    this.#keepAliveAt = now + options.keepAliveMs;
  }

  /** Counters since the session began (a new object each call). */
  get stats(): SessionStats {
    const send = this.#send;
    return {
      packetsSent: this.#packetsSent,
      packetsReceived: this.#packetsReceived,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      retransmits: send.retransmits,
      duplicates: this.#duplicates,
      packetsLost: send.packetsLost,
      spuriousLosses: send.spuriousLosses,
      dropped: this.#droppedCount,
      messagesSent: this.#messagesSent,
      messagesReceived: this.#messagesReceived,
    };
  }

  get closed(): boolean {
    return this.#state === CLOSED;
  }

  /** True once `close` was called or the session ended. */
  get closing(): boolean {
    return this.#state !== OPEN;
  }

  /** Unacknowledged reliable bytes plus unsent unreliable bytes. */
  get bufferedBytes(): number {
    return this.#send.bufferedBytes + this.#unreliableBytes;
  }

  /** Smoothed RTT in ms (the initial RTO before any sample). */
  get rttMs(): number {
    const srtt = this.#send.srtt;
    return srtt < 0 ? this.options.initialRtoMs : srtt;
  }

  get rtoMs(): number {
    return this.#send.rtoMs;
  }

  /** Packets sent and not yet acknowledged or declared lost. */
  get inflightPackets(): number {
    return this.#send.inflightPackets;
  }

  /** Bytes held for reassembly (reliable out-of-order pieces are not counted here). */
  get fragmentBytes(): number {
    return this.#fragments?.bytes ?? 0;
  }

  /** The highest packet number received so far, or -1. */
  get largestReceived(): number {
    return this.#receive.highest;
  }

  /** The full packet number a received low-32-bit number stands for. */
  expandPacketNumber(low: number): number {
    return expandNear(low, this.#receive.highest + 1);
  }

  /** True when packet `pn` was received before or is older than the replay window. */
  isReplay(pn: number): boolean {
    return this.#receive.isReplay(pn);
  }

  /** Counts a packet the owner dropped as a replay. */
  countDuplicate(): void {
    this.#duplicates++;
  }

  /**
   * Queues one reliable message. The session keeps a reference to `message`
   * until it is acknowledged (as `socket.write` does): do not modify it
   * afterwards. Returns false when the queue is at or past its high-water
   * mark (wait for `drain`) or the session is closing. Past
   * `maxBufferedBytes` the session closes with `TIDEWIRE_ERR_SLOW_CONSUMER`.
   */
  sendReliable(message: Uint8Array, now: number): boolean {
    if (this.#state !== OPEN) return false;
    const length = message.length;
    this.#checkSize(length);
    if (this.bufferedBytes + length > this.options.maxBufferedBytes) {
      this.#fail(
        UdpErrorCode.SlowConsumer,
        `send queue would exceed maxBufferedBytes (${this.options.maxBufferedBytes})`,
        now,
      );
      return false;
    }
    this.#send.queue(
      Buffer.isBuffer(message)
        ? message
        : Buffer.from(message.buffer, message.byteOffset, message.byteLength),
    );
    this.#messagesSent++;
    return this.#belowHighWater();
  }

  /**
   * Queues one unreliable message, split into fragments (copies) when it does
   * not fit one unit. A message that fits is kept by reference until it is
   * packed into a datagram: do not modify it afterwards. Returns false when
   * it was dropped (the queue would pass `maxBufferedBytes`, or the session
   * is closing) or the queue is past its high-water mark.
   */
  sendUnreliable(message: Uint8Array, now: number): boolean {
    if (this.#state !== OPEN) return false;
    const length = message.length;
    this.#checkSize(length);
    if (this.bufferedBytes + length > this.options.maxBufferedBytes) {
      this.#dropped('unreliable-queue-full');
      this.#needDrain = true;
      return false;
    }
    void now;
    if (length <= this.#wholeMax) {
      // kept by reference until packed, as reliable frames are until acknowledged
      this.#unreliable[this.#unreliableTail++] = message;
    } else {
      const count = Math.ceil(length / this.#fragmentMax);
      const id = this.#nextMessageId;
      this.#nextMessageId = (id + 1) & 0xffff;
      for (let index = 0; index < count; index++) {
        const start = index * this.#fragmentMax;
        const part = message.subarray(start, Math.min(length, start + this.#fragmentMax));
        const unit = Buffer.allocUnsafe(FRAGMENT_UNIT_OVERHEAD + part.length);
        unit[0] = UnitKind.UnreliableFragment;
        writeU16(unit, 1, id);
        writeU16(unit, 3, index);
        writeU16(unit, 5, count);
        writeU16(unit, 7, part.length);
        copyBytes(unit, part, FRAGMENT_UNIT_OVERHEAD);
        this.#unreliable[this.#unreliableTail++] = new FragmentUnit(unit);
      }
    }
    this.#unreliableBytes += length;
    this.#messagesSent++;
    return this.#belowHighWater();
  }

  /**
   * Takes one received DATA body (already opened when sealed), the bytes of
   * `body` from `start` on, with its full packet number. Returns false when
   * the packet was dropped.
   */
  receive(pn: number, body: Buffer, now: number, start = 0): boolean {
    if (this.#state === CLOSED) return false;
    const receive = this.#receive;
    if (receive.isReplay(pn)) {
      this.#duplicates++;
      return false;
    }
    if (pn > receive.highest + MAX_PACKET_NUMBER_JUMP) {
      this.#dropped('packet-number-jump');
      return false;
    }
    const check = receive.checkUnits(body, start);
    if (check !== UNITS_OK) {
      this.#dropped(check === UNITS_BEYOND_WINDOW ? 'reliable-beyond-window' : 'malformed-units');
      return false;
    }
    const inOrder = receive.accept(pn, now);
    this.#lastReceive = now;
    this.#packetsReceived++;
    this.#bytesReceived += body.length - start;

    let eliciting = false;
    let data = false;
    let fin: { code: string; reason: string } | null = null;
    let offset = start;
    while (offset < body.length) {
      const kind = body[offset]!;
      switch (kind) {
        case UnitKind.Reliable:
        case UnitKind.ReliableMore: {
          const seq = receive.expandSeq(readU32(body, offset + 1));
          const length = readU16(body, offset + 5);
          const start = offset + RELIABLE_UNIT_OVERHEAD;
          if (
            !receive.receivePiece(seq, body, start, start + length, kind === UnitKind.ReliableMore)
          ) {
            this.#duplicates++;
            this.#send.peerRetransmitted();
          }
          offset = start + length;
          eliciting = true;
          break;
        }
        case UnitKind.Unreliable: {
          const length = readU16(body, offset + 1);
          const start = offset + UNRELIABLE_UNIT_OVERHEAD;
          data = true;
          this.#deliver(body, start, start + length, false);
          offset = start + length;
          break;
        }
        case UnitKind.UnreliableFragment: {
          const id = readU16(body, offset + 1);
          const index = readU16(body, offset + 3);
          const count = readU16(body, offset + 5);
          const length = readU16(body, offset + 7);
          const start = offset + FRAGMENT_UNIT_OVERHEAD;
          data = true;
          if (this.#fragments === null) {
            this.#fragments = new FragmentAssembler(
              this.options.fragmentMemory,
              this.options.maxPayloadLength + 10,
              this.options.fragmentTimeoutMs,
            );
            this.#onFragmentDrop = (reason) => this.#dropped(reason);
          }
          const whole = this.#fragments.add(
            id,
            index,
            count,
            body.subarray(start, start + length),
            now,
            this.#onFragmentDrop,
          );
          if (whole !== null) this.#deliver(whole, 0, whole.length, false);
          offset = start + length;
          break;
        }
        case UnitKind.Ack: {
          const count = body[offset + 3]!;
          if (
            this.#send.onAck(body, offset, now, inOrder) &&
            this.#send.finAcked &&
            this.#state === CLOSING
          ) {
            this.#terminate(this.#closeCode, this.#closeReason, false);
          }
          offset += ACK_UNIT_OVERHEAD + count * ACK_RANGE_SIZE;
          break;
        }
        case UnitKind.Ping:
          eliciting = true;
          offset += 1;
          break;
        default: {
          // FIN (checkUnits admits nothing else)
          const codeLength = body[offset + 1]!;
          const codeEnd = offset + 2 + codeLength;
          const reasonLength = readU16(body, codeEnd);
          fin = {
            code: body.toString('utf8', offset + 2, codeEnd),
            reason: body.toString('utf8', codeEnd + 2, codeEnd + 2 + reasonLength),
          };
          eliciting = true;
          offset = codeEnd + 2 + reasonLength;
          break;
        }
      }
      if (this.#state === CLOSED) return true;
    }
    receive.deliverInOrder();
    if (this.#state === CLOSED) return true;
    if (eliciting || data) this.#send.peerSentData(now);
    if (eliciting) receive.elicited(now, inOrder, fin !== null);
    if (fin !== null) {
      this.flush(now);
      this.#terminate(fin.code || UdpCloseCode.Normal, fin.reason, true);
      return true;
    }
    this.#checkDrain();
    if (this.#state === CLOSING) this.#maybeFinish(now);
    return true;
  }

  /** Sends what is due: ACK, retransmissions, new pieces within the window, unreliable units, FIN, PING. */
  flush(now: number): void {
    if (this.#state === CLOSED) return;
    const send = this.#send;
    const receive = this.#receive;
    if (
      this.#state === CLOSING &&
      !send.finSent &&
      send.allAcknowledged &&
      this.#unreliableHead === this.#unreliableTail
    ) {
      send.requestFin();
    }
    const budget = this.options.bodyBudget;
    for (;;) {
      const scratch = packetUnits();
      let offset = 0;
      // An owed ACK goes out, alone if need be; the next ACK_REPEATS packets
      // with data repeat the latest ranges (redundancy against lost ACKs).
      // Unreliable streams thus stop carrying ACKs when nothing is new.
      const data = this.#hasDataToSend();
      const withAck = receive.ackPending || (data && receive.repeatsRanges);
      if (withAck) {
        offset = receive.writeAck(scratch, now, data ? ACK_RANGES_WITH_DATA : MAX_ACK_RANGES);
      }
      // retransmissions first; reliable data only while the flight window has room
      offset = send.writePieces(scratch, offset, budget);
      if (offset < 0) {
        this.#fail(
          UdpErrorCode.PeerGone,
          `reliable piece ${send.exhaustedSeq} unacknowledged after ${this.options.maxRetries} retransmissions`,
          now,
        );
        return;
      }
      if (send.packetRetransmits) receive.ackNextAtOnce();
      let eliciting = send.packetHasPieces;
      // unreliable units
      let unreliableUnits = 0;
      while (this.#unreliableHead < this.#unreliableTail) {
        const entry = this.#unreliable[this.#unreliableHead]!;
        if (entry instanceof FragmentUnit) {
          const unit = entry.unit;
          if (offset + unit.length > budget) break;
          copyBytes(scratch, unit, offset);
          offset += unit.length;
          this.#unreliableBytes -= unit.length - FRAGMENT_UNIT_OVERHEAD;
        } else {
          if (offset + UNRELIABLE_UNIT_OVERHEAD + entry.length > budget) break;
          scratch[offset] = UnitKind.Unreliable;
          writeU16(scratch, offset + 1, entry.length);
          copyBytes(scratch, entry, offset + UNRELIABLE_UNIT_OVERHEAD);
          offset += UNRELIABLE_UNIT_OVERHEAD + entry.length;
          this.#unreliableBytes -= entry.length;
        }
        unreliableUnits++;
        this.#unreliable[this.#unreliableHead++] = EMPTY;
      }
      if (this.#unreliableHead === this.#unreliableTail && this.#unreliableHead > 0) {
        this.#emptyUnreliable();
      }
      let fin = false;
      if (send.finPending && offset + finSize(this.#closeCode, this.#closeReason) <= budget) {
        offset += writeFin(scratch, offset, this.#closeCode, this.#closeReason);
        send.finWritten();
        fin = true;
        eliciting = true;
      }
      if (this.#pingPending && offset < budget) {
        if (!eliciting) {
          scratch[offset++] = UnitKind.Ping;
          eliciting = true;
        }
        this.#pingPending = false;
      }
      // a packet with nothing but an ACK goes out only when an ACK is owed
      if (offset === 0 || (!eliciting && unreliableUnits === 0 && !receive.ackPending)) break;
      const pn = send.nextPacketNumber();
      if (eliciting || unreliableUnits > 0) receive.dataSent(now);
      if (eliciting) send.sentEliciting(pn, now, fin);
      receive.packetSent(withAck);
      this.#lastSent = now;
      this.#packetsSent++;
      this.#bytesSent += offset;
      if (this.#handler.transmit(this.#owner, pn, packet(), offset)) replacePacketBuffer();
    }
    this.#checkDrain();
  }

  /** Runs timeouts: idle TTL, loss by RTO, keep-alive, fragment expiry, close linger. Then flushes. */
  onTimer(now: number): void {
    if (this.#state === CLOSED) return;
    if (now - this.#lastReceive >= this.options.idleTimeoutMs) {
      this.#fail(
        UdpErrorCode.IdleTimeout,
        `no packet received for ${this.options.idleTimeoutMs} ms`,
        now,
      );
      return;
    }
    this.#fragments?.expire(now, this.#onFragmentDrop);
    if (this.#state === CLOSING && now >= this.#closeDeadline) {
      if (!this.#send.finSent) {
        this.#send.requestFin();
        this.flush(now);
      }
      this.#terminate(this.#closeCode, this.#closeReason, false);
      return;
    }
    this.#send.onTimer(now);
    this.#receive.onTimer(now);
    const keepAliveDue = now >= this.#keepAliveAt;
    if (keepAliveDue && this.#state === OPEN && now - this.#lastSent >= this.options.keepAliveMs) {
      this.#pingPending = true;
    }
    this.flush(now);
    if (keepAliveDue) this.#keepAliveAt = this.#lastSent + this.options.keepAliveMs;
  }

  /** When `onTimer` has work next (absolute, in the clock's ms), or Infinity once closed. */
  nextDeadline(): number {
    if (this.#state === CLOSED) return Number.POSITIVE_INFINITY;
    let next = this.#lastReceive + this.options.idleTimeoutMs;
    if (this.#state === OPEN) {
      next = Math.min(next, this.#keepAliveAt);
    } else {
      next = Math.min(next, this.#closeDeadline);
    }
    next = Math.min(next, this.#send.nextDeadline(), this.#receive.ackDueAt);
    return this.#fragments === null ? next : Math.min(next, this.#fragments.nextDeadline());
  }

  /**
   * Graceful close: no new messages; queued reliable data is still delivered,
   * then FIN is sent and retransmitted until acknowledged. After
   * `closeLingerMs` the session ends regardless (sending FIN once if it had
   * not been sent).
   */
  close(code: string, reason: string, now: number): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#setFin(code, reason);
    this.#closeDeadline = now + this.options.closeLingerMs;
    this.#dropUnreliable();
    this.flush(now);
  }

  /** Asks for an acknowledgement now (a PING unless the next packet elicits one anyway). */
  ping(now: number): void {
    if (this.#state !== OPEN) return;
    this.#pingPending = true;
    this.flush(now);
  }

  /** Ends the session now: one FIN (best effort), no linger. */
  abort(code: string, reason: string, now: number): void {
    this.#fail(code, reason, now);
  }

  /** Ends the session without sending anything. */
  terminate(code: string, reason: string, remote: boolean): void {
    this.#terminate(code, reason, remote);
  }

  /** True when `flush` has something to send now: an owed ACK, data within the window, a FIN or a PING. */
  get hasOutput(): boolean {
    return (
      this.#receive.ackPending ||
      this.#hasDataToSend() ||
      (this.#state === CLOSING && !this.#send.finSent)
    );
  }

  // --- send side helpers ---

  #checkSize(length: number): void {
    if (length > this.options.maxPayloadLength + 10) {
      throw new TidewireError(
        UdpErrorCode.FrameTooLarge,
        `message of ${length} bytes exceeds maxPayloadLength + 10 (${this.options.maxPayloadLength + 10})`,
      );
    }
  }

  #belowHighWater(): boolean {
    if (this.bufferedBytes < this.#highWater) return true;
    this.#needDrain = true;
    return false;
  }

  #checkDrain(): void {
    if (this.#needDrain && this.#state === OPEN && this.bufferedBytes < this.#highWater / 2) {
      this.#needDrain = false;
      this.#handler.drain(this.#owner);
    }
  }

  #hasDataToSend(): boolean {
    return (
      this.#send.hasDue ||
      this.#unreliableHead < this.#unreliableTail ||
      this.#send.finPending ||
      this.#pingPending
    );
  }

  #dropUnreliable(): void {
    for (let i = this.#unreliableHead; i < this.#unreliableTail; i++) {
      const entry = this.#unreliable[i]!;
      this.#unreliableBytes -=
        entry instanceof FragmentUnit ? entry.unit.length - FRAGMENT_UNIT_OVERHEAD : entry.length;
      this.#unreliable[i] = EMPTY;
    }
    this.#emptyUnreliable();
  }

  /** Empties the (already sent or dropped) unreliable queue, keeping a small array's storage. */
  #emptyUnreliable(): void {
    if (this.#unreliable.length > MAX_KEPT_SLOTS) this.#unreliable = [];
    this.#unreliableHead = 0;
    this.#unreliableTail = 0;
  }

  #maybeFinish(now: number): void {
    if (!this.#send.finSent && this.#send.allAcknowledged) this.flush(now);
  }

  // --- receive side helpers ---

  #deliver(data: Buffer, start: number, end: number, reliable: boolean): void {
    this.#messagesReceived++;
    this.#handler.message(this.#owner, data, start, end, reliable);
  }

  #dropped(reason: string): void {
    this.#droppedCount++;
    this.#handler.drop?.(this.#owner, reason);
  }

  // --- ending ---

  #fail(code: string, reason: string, now: number): void {
    if (this.#state === CLOSED) return;
    if (!this.#send.finSent) {
      this.#setFin(code, reason);
      this.#state = CLOSING;
      // one FIN, best effort: nothing else is sent
      this.#send.giveUp();
      this.#dropUnreliable();
      this.#pingPending = false;
      this.#send.requestFin();
      this.flush(now);
    }
    this.#terminate(code, reason, false);
  }

  /** Code and reason of our FIN, cut so that the unit always fits a packet beside an ACK. */
  #setFin(code: string, reason: string): void {
    this.#closeCode = truncateUtf8(code, MAX_FIN_CODE_BYTES);
    const room = this.options.bodyBudget - ACK_RESERVE - 4 - Buffer.byteLength(this.#closeCode);
    this.#closeReason = truncateUtf8(reason, Math.max(0, Math.min(MAX_FIN_REASON_BYTES, room)));
  }

  #terminate(code: string, reason: string, remote: boolean): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#send.clear();
    this.#receive.clear();
    this.#fragments?.clear();
    this.#unreliable = [];
    this.#unreliableHead = 0;
    this.#unreliableTail = 0;
    this.#handler.closed(this.#owner, code, reason, remote);
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text).subarray(0, maxBytes);
  return bytes.toString('utf8').replace(/\uFFFD+$/, '');
}

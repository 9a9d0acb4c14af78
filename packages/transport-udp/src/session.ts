import {
  copyBytes,
  ReplayWindow,
  readU16,
  readU32,
  TidewireError,
  writeU16,
  writeU32,
} from '@tidewire/wire';
import { UdpCloseCode, UdpErrorCode } from './errors.ts';
import { FragmentAssembler, type FragmentDropReason } from './fragments.ts';
import { DATA_HEADER_SIZE } from './packets.ts';
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

const U32 = 0x1_0000_0000;
const HALF_U32 = 0x8000_0000;
/** Reliable pieces in flight (and accepted ahead of the next expected one). */
export const SEND_WINDOW = 1024;
/** Packets sent after a packet that make it lost once acknowledged (fast retransmit). */
export const REORDER_THRESHOLD = 3;
const MAX_FIN_REASON_BYTES = 256;
const MAX_FIN_CODE_BYTES = 64;
const UNITS_OK = 0;
const UNITS_MALFORMED = 1;
const UNITS_BEYOND_WINDOW = 2;
/**
 * Packets declared lost that are remembered in case their ACK comes late, at
 * most; each is forgotten twice the longest RTO (`maxRtoMs` plus the peer's
 * ack delay) after it was sent.
 */
const MAX_REMEMBERED_LOST = 2048;
/** The RTO floor learnt from a late ACK (see `#stallFloor`) is this many times its lateness... */
const STALL_FLOOR_MARGIN = 1.25;
/** ...and keeps this share of itself at each RTT sample (it halves in about 70 samples). */
const STALL_FLOOR_DECAY = 0.99;
/** An emptied send-side list keeps its array up to this many slots (a burst's bigger one is let go). */
const MAX_KEPT_SLOTS = 64;
/** A packet number this far past the highest received is not from a live peer: dropped. */
export const MAX_PACKET_NUMBER_JUMP = 65_536;
/**
 * Packets carrying data that repeat the ACK ranges after an ack-eliciting
 * packet arrived or a packet opened a gap (redundancy against lost ACKs);
 * after that, data packets carry no ACK until there is news to report.
 */
export const ACK_REPEATS = 4;

/** Tunables of one RUDP session; `resolveSessionOptions` fills the defaults. */
export interface SessionOptions {
  /** Bytes of units one packet may carry: the mtu, minus the 16-byte tag when sealed. */
  bodyBudget: number;
  /** Largest frame payload accepted and sent (a reliable message may be 10 bytes more). */
  maxPayloadLength: number;
  /** Retransmissions of one reliable piece before the peer is declared gone. */
  maxRetries: number;
  /** Cap on unacknowledged reliable bytes plus unsent unreliable bytes. */
  maxBufferedBytes: number;
  /**
   * Flight window: packets carrying reliable data that may be unacknowledged
   * at once (a fixed window, no congestion controller, as KCP's nocwnd mode).
   * It keeps bursts below socket buffer sizes.
   */
  maxInflightPackets: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** RTO before the first RTT sample. */
  initialRtoMs: number;
  /** A first RTT sample (the handshake's), or -1. */
  initialRttMs: number;
  /** Reassembly memory for incomplete unreliable messages. */
  fragmentMemory: number;
  fragmentTimeoutMs: number;
  /** How long a graceful close waits for acknowledgements before giving up. */
  closeLingerMs: number;
  /**
   * How long a pure ACK may wait for data to ride with (0: end of the turn),
   * when this side sent data in that much time before (a side that sends
   * nothing has nothing for the ACK to wait for). It still leaves at once
   * for a second unacknowledged ack-eliciting packet, a packet out of order,
   * FIN, and the first packet after this side retransmitted a reliable piece.
   */
  ackDelayMs: number;
  /** The peer's `ackDelayMs` (from the handshake): added to the RTO. */
  peerAckDelayMs: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  bodyBudget: 1200,
  maxPayloadLength: 64 * 1024,
  maxRetries: 10,
  maxBufferedBytes: 1024 * 1024,
  maxInflightPackets: 128,
  idleTimeoutMs: 10_000,
  keepAliveMs: 2500,
  minRtoMs: 10,
  maxRtoMs: 2000,
  initialRtoMs: 200,
  initialRttMs: -1,
  fragmentMemory: 1024 * 1024,
  fragmentTimeoutMs: 1000,
  closeLingerMs: 1000,
  ackDelayMs: 0,
  peerAckDelayMs: 0,
};

/**
 * What a session asks of its owner (the socket layer, or a test). One handler
 * serves every session of a kind of owner and is given the session's owner
 * with each call, so that owners need no closures of their own.
 */
export interface SessionHandler<O = unknown> {
  /**
   * Send one DATA packet whose units are `packet[PACKET_HEADER_ROOM,
   * PACKET_HEADER_ROOM + length)`; the bytes before them are free for the
   * datagram header. Return true when `packet` was kept (a send queued
   * behind others): the session then assembles its next packets in a new
   * buffer. Return false when it may be reused at once (copy what you keep).
   */
  transmit(owner: O, packetNumber: number, packet: Buffer, length: number): boolean;
  /**
   * A whole message, `data[start, end)` (a view into the received datagram:
   * copy what you keep): reliable ones exactly once and in order.
   */
  message(owner: O, data: Buffer, start: number, end: number, reliable: boolean): void;
  /** The session ended; called once. */
  closed(owner: O, code: string, reason: string, remote: boolean): void;
  /** Buffered bytes fell below half the high-water mark after `send*` returned false. */
  drain(owner: O): void;
  /** A reliable piece is sent again. */
  retransmit?(owner: O, seq: number, sends: number): void;
  /**
   * A packet declared lost was acknowledged after all, `lateMs` after it was
   * sent. `late`: its ACK came late (no gap in the peer's packets; the RTO
   * floor rose), else it came after a gap (an ACK of the peer's was lost).
   */
  spuriousLoss?(owner: O, lateMs: number, late: boolean): void;
  /** Something received was dropped. */
  drop?(owner: O, reason: string): void;
}

export interface SessionStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  duplicates: number;
  packetsLost: number;
  /** Packets declared lost and acknowledged after all: their retransmission was not needed. */
  spuriousLosses: number;
  dropped: number;
  messagesSent: number;
  messagesReceived: number;
}

interface Piece {
  seq: number;
  data: Buffer;
  /** `data.length`, kept so that an acknowledgement need not read the (by then cold) buffer. */
  size: number;
  more: boolean;
  acked: boolean;
  queued: boolean;
  sends: number;
}

interface SentPacket {
  pn: number;
  time: number;
  /** The one reliable piece of the packet (the common case), or -1. */
  seq: number;
  /** Pieces when there is more than one, else null. */
  seqs: number[] | null;
  fin: boolean;
  /** Acknowledged or declared lost. */
  done: boolean;
  acked: boolean;
}

interface ReceivedPiece {
  data: Buffer;
  more: boolean;
}

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
 * Bytes before a packet's units in the buffer handed to `transmit`: room for
 * the owner's datagram header, written in place (no copy of the packet).
 */
export const PACKET_HEADER_ROOM: number = DATA_HEADER_SIZE;

/**
 * One packet buffer for every session of the process, `units` being its part
 * from PACKET_HEADER_ROOM on: a packet is assembled there and handed to
 * `transmit` synchronously, so sessions never hold it across turns (a
 * datagram's worth of memory per process, not per connection). An owner
 * that keeps it (its socket queued the send) makes the next packet go to a
 * new buffer.
 */
let packetBuffer = Buffer.allocUnsafeSlow(PACKET_HEADER_ROOM);
let units = packetBuffer.subarray(PACKET_HEADER_ROOM);
function newPacketBuffer(bodyBudget: number): void {
  packetBuffer = Buffer.allocUnsafeSlow(PACKET_HEADER_ROOM + bodyBudget);
  units = packetBuffer.subarray(PACKET_HEADER_ROOM);
}

/** Full number nearest to `expected` whose low 32 bits are `low` (never negative). */
export function expandNear(low: number, expected: number): number {
  const diff = (low - (expected % U32) + U32) % U32;
  const up = expected + diff;
  if (diff < HALF_U32) return up;
  const down = up - U32;
  return down >= 0 ? down : up;
}

/** Full number at or below `largest` whose low 32 bits are `low`, or -1. */
function expandBelow(low: number, largest: number): number {
  const diff = ((largest % U32) - low + U32) % U32;
  return largest - diff;
}

/**
 * One side of a reliable-UDP connection, without sockets or timers: the
 * owner feeds it received packet bodies and the current time, calls `flush`
 * after sending or receiving and `onTimer` at `nextDeadline()`, and puts the
 * packets it hands to `transmit` on the wire. Everything is driven by the
 * `now` values passed in, so tests control the clock.
 */
export class RudpSession<O = unknown> {
  readonly options: SessionOptions;
  // Counters of `stats`, kept as fields of the session (which every packet
  // touches anyway) rather than in an object of their own.
  #packetsSent = 0;
  #packetsReceived = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #messagesSent = 0;
  #messagesReceived = 0;
  #retransmits = 0;
  #duplicates = 0;
  #packetsLost = 0;
  #spuriousLosses = 0;
  #droppedCount = 0;

  readonly #handler: SessionHandler<O>;
  readonly #owner: O;
  readonly #pieceMax: number;
  readonly #wholeMax: number;
  readonly #fragmentMax: number;
  readonly #highWater: number;
  #state = OPEN;

  // send side
  // The lists below are `[head..tail)` of their arrays. An emptied list moves
  // both indexes back to 0 instead of truncating the array: truncating frees
  // its storage, and request/response traffic would allocate it again for
  // every message. Slots outside the list may hold stale entries.
  /** Reliable pieces from `#sendBase` on. */
  #pieces: Piece[] = [];
  #pieceHead = 0;
  #pieceTail = 0;
  #sendBase = 0;
  #nextSeq = 0;
  #nextNew = 0;
  #resend: number[] = [];
  #resendHead = 0;
  /** Unreliable messages (or fragments) waiting to be sent; sent slots hold EMPTY. */
  #unreliable: (Uint8Array | FragmentUnit)[] = [];
  #unreliableHead = 0;
  #unreliableTail = 0;
  #nextMessageId = 0;
  #buffered = 0;
  #needDrain = false;
  #nextPn = 0;
  /** Packets with data, in packet-number order, from the oldest not known done. */
  #sent: SentPacket[] = [];
  #sentHead = 0;
  #sentTail = 0;
  /** Packets in `#sent` neither acknowledged nor declared lost. */
  #inflightCount = 0;
  /**
   * Packets declared lost, remembered for late ACKs (they still acknowledge
   * their pieces); null while there are none, so that ACKs do not touch it.
   */
  #lost: Map<number, SentPacket> | null = null;
  /** When the oldest packet of `#lost` is to be forgotten. */
  #lostExpiresAt = Number.POSITIVE_INFINITY;
  #latestRtt = 0;
  #largestAcked = -1;
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
  #finPending = false;
  #finSent = false;
  #finAcked = false;
  #closeCode: string = UdpCloseCode.Normal;
  #closeReason = '';
  #closeDeadline = Number.POSITIVE_INFINITY;

  // RTT
  #srtt = -1;
  #rttvar = 0;
  #rto: number;
  /**
   * A floor under the RTO learnt from late ACKs. A packet declared lost and
   * then acknowledged after all, in a packet that follows the peer's
   * previous one without a gap, was not lost and neither was an ACK of it
   * (that would leave a gap): its ACK came late, because the peer's process
   * stalled (a busy event loop, a GC pause) or the path slowed. The floor
   * is raised to STALL_FLOOR_MARGIN times that lateness (at most
   * `initialRtoMs`) and decays at each RTT sample, so that a peer that
   * keeps stalling is not sent every answer twice. A lost ACK does not
   * raise it: loss recovery keeps the short RTO.
   */
  #stallFloor = 0;
  /**
   * Our packets numbered below this time out without the peer's ack delay
   * in their RTO. A repeated reliable piece from the peer says it
   * retransmitted, and a peer that did acknowledges the next packet it
   * receives at once (`#ackAtOnce` on its side): the bound is then Infinity
   * (every packet sent) until the peer's next ACK comes, and our next packet
   * number after that.
   */
  #promptBelow = 0;
  /** We retransmitted a reliable piece: the next ack-eliciting packet received is acknowledged at once. */
  #ackAtOnce = false;
  /** When we last sent a packet with data (reliable, unreliable or PING): an ACK may wait for the next only until `ackDelayMs` after it. */
  #dataSentAt = Number.NEGATIVE_INFINITY;
  /** When a packet with data last came from the peer: it holds its ACKs only while it sends data. */
  #peerDataAt = Number.NEGATIVE_INFINITY;

  // receive side
  readonly #window = new ReplayWindow(1024);
  #ranges: number[] = [];
  #largestReceivedTime = 0;
  #ackPending = false;
  /** Ack-eliciting packets received since the last ACK sent. */
  #unackedEliciting = 0;
  /** When a delayed ACK is due (Infinity: none waiting). */
  #ackDueAt = Number.POSITIVE_INFINITY;
  /** Data packets that still carry the ranges unasked (see ACK_REPEATS). */
  #ackRepeats = 0;
  #nextExpected = 0;
  /** Reliable pieces received out of order; made at a gap, dropped once it is filled. */
  #received: Map<number, ReceivedPiece> | null = null;
  #assembly: Buffer[] = [];
  #assemblyBytes = 0;
  /** Made on the first unreliable fragment: most connections never need one. */
  #fragments: FragmentAssembler | null = null;
  /** Counts what `#fragments` drops; made with it. */
  #onFragmentDrop: ((reason: FragmentDropReason) => void) | undefined;
  #lastReceive: number;

  constructor(options: SessionOptions, handler: SessionHandler<O>, owner: O, now: number) {
    this.options = options;
    this.#handler = handler;
    this.#owner = owner;
    if (units.length < options.bodyBudget) newPacketBuffer(options.bodyBudget);
    this.#pieceMax = options.bodyBudget - RELIABLE_UNIT_OVERHEAD - ACK_RESERVE;
    this.#wholeMax = options.bodyBudget - UNRELIABLE_UNIT_OVERHEAD - ACK_RESERVE;
    this.#fragmentMax = options.bodyBudget - FRAGMENT_UNIT_OVERHEAD - ACK_RESERVE;
    if (this.#fragmentMax < 64) throw new RangeError('bodyBudget is too small');
    this.#highWater = Math.min(64 * 1024, options.maxBufferedBytes);
    this.#rto = options.initialRtoMs + options.peerAckDelayMs;
    if (options.initialRttMs >= 0) this.#sample(options.initialRttMs);
    this.#lastReceive = now;
    this.#lastSent = now;
    this.#keepAliveAt = now + options.keepAliveMs;
  }

  /** Counters since the session began (a new object each call). */
  get stats(): SessionStats {
    return {
      packetsSent: this.#packetsSent,
      packetsReceived: this.#packetsReceived,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      retransmits: this.#retransmits,
      duplicates: this.#duplicates,
      packetsLost: this.#packetsLost,
      spuriousLosses: this.#spuriousLosses,
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
    return this.#buffered;
  }

  /** Smoothed RTT in ms (the initial RTO before any sample). */
  get rttMs(): number {
    return this.#srtt < 0 ? this.options.initialRtoMs : this.#srtt;
  }

  get rtoMs(): number {
    return this.#rto;
  }

  /** Packets sent and not yet acknowledged or declared lost. */
  get inflightPackets(): number {
    return this.#inflightCount;
  }

  /** Bytes held for reassembly (reliable out-of-order pieces are not counted here). */
  get fragmentBytes(): number {
    return this.#fragments?.bytes ?? 0;
  }

  /** The highest packet number received so far, or -1. */
  get largestReceived(): number {
    return this.#window.highest;
  }

  /** The full packet number a received low-32-bit number stands for. */
  expandPacketNumber(low: number): number {
    return expandNear(low, this.#window.highest + 1);
  }

  /** True when packet `pn` was received before or is older than the replay window. */
  isReplay(pn: number): boolean {
    return this.#window.isReplay(pn);
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
    if (this.#buffered + length > this.options.maxBufferedBytes) {
      this.#fail(
        UdpErrorCode.SlowConsumer,
        `send queue would exceed maxBufferedBytes (${this.options.maxBufferedBytes})`,
        now,
      );
      return false;
    }
    const copy = Buffer.isBuffer(message)
      ? message
      : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    if (length <= this.#pieceMax) {
      this.#pieces[this.#pieceTail++] = {
        seq: this.#nextSeq++,
        data: copy,
        size: length,
        more: false,
        acked: false,
        queued: false,
        sends: 0,
      };
      this.#buffered += length;
      this.#messagesSent++;
      return this.#belowHighWater();
    }
    let offset = 0;
    do {
      const end = Math.min(length, offset + this.#pieceMax);
      this.#pieces[this.#pieceTail++] = {
        seq: this.#nextSeq++,
        data: copy.subarray(offset, end),
        size: end - offset,
        more: end < length,
        acked: false,
        queued: false,
        sends: 0,
      };
      offset = end;
    } while (offset < length);
    this.#buffered += length;
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
    if (this.#buffered + length > this.options.maxBufferedBytes) {
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
    this.#buffered += length;
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
    if (this.isReplay(pn)) {
      this.#duplicates++;
      return false;
    }
    if (pn > this.#window.highest + MAX_PACKET_NUMBER_JUMP) {
      this.#dropped('packet-number-jump');
      return false;
    }
    const check = this.#checkUnits(body, start);
    if (check !== UNITS_OK) {
      this.#dropped(check === UNITS_BEYOND_WINDOW ? 'reliable-beyond-window' : 'malformed-units');
      return false;
    }
    // the next number after the highest received (or the first): no gap, no reordering
    const inOrder = pn === this.#window.highest + 1;
    this.#window.accept(pn);
    this.#lastReceive = now;
    this.#packetsReceived++;
    this.#bytesReceived += body.length - start;
    this.#recordReceived(pn, now);

    let eliciting = false;
    let data = false;
    let fin: { code: string; reason: string } | null = null;
    let offset = start;
    while (offset < body.length) {
      const kind = body[offset]!;
      switch (kind) {
        case UnitKind.Reliable:
        case UnitKind.ReliableMore: {
          const seq = expandNear(readU32(body, offset + 1), this.#nextExpected);
          const length = readU16(body, offset + 5);
          const start = offset + RELIABLE_UNIT_OVERHEAD;
          this.#receivePiece(seq, body, start, start + length, kind === UnitKind.ReliableMore);
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
          this.#onAck(body, offset, now, inOrder);
          offset += ACK_UNIT_OVERHEAD + count * ACK_RANGE_SIZE;
          break;
        }
        case UnitKind.Ping:
          eliciting = true;
          offset += 1;
          break;
        default: {
          // FIN (validUnits admits nothing else)
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
    this.#deliverInOrder();
    if (this.#state === CLOSED) return true;
    if (eliciting || data) this.#peerDataAt = now;
    if (eliciting) {
      this.#ackRepeats = ACK_REPEATS;
      this.#unackedEliciting++;
      const delay = this.options.ackDelayMs;
      if (
        now - this.#dataSentAt >= delay ||
        this.#unackedEliciting > 1 ||
        !inOrder ||
        fin !== null ||
        this.#ackAtOnce
      ) {
        this.#ackPending = true;
        this.#ackAtOnce = false;
      } else if (this.#ackDueAt === Number.POSITIVE_INFINITY) {
        // wait for something to send (the ACK rides with it), at most `delay`
        this.#ackDueAt = now + delay;
      }
    }
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
    if (
      this.#state === CLOSING &&
      !this.#finSent &&
      this.#sendBase === this.#nextSeq &&
      this.#unreliableHead === this.#unreliableTail
    ) {
      this.#finPending = true;
    }
    const budget = this.options.bodyBudget;
    for (;;) {
      const scratch = units;
      let offset = 0;
      // An owed ACK goes out, alone if need be; the next ACK_REPEATS packets
      // with data repeat the latest ranges (redundancy against lost ACKs).
      // Unreliable streams thus stop carrying ACKs when nothing is new.
      const data = this.#hasDataToSend();
      const withAck = this.#ackPending || (data && this.#ackRepeats > 0 && this.#ranges.length > 0);
      if (withAck) {
        offset = this.#writeAck(now, data ? ACK_RANGES_WITH_DATA : MAX_ACK_RANGES);
        if (this.#ackRepeats > 0) this.#ackRepeats--;
      }
      let firstSeq = -1;
      let seqs: number[] | null = null;
      let eliciting = false;
      // retransmissions first; reliable data only while the flight window has room
      const reliableRoom = this.#inflightCount < this.options.maxInflightPackets;
      while (reliableRoom && this.#resendHead < this.#resend.length) {
        const seq = this.#resend[this.#resendHead]!;
        const piece = this.#piece(seq);
        if (piece === undefined || piece.acked) {
          this.#resendHead++;
          continue;
        }
        if (offset + RELIABLE_UNIT_OVERHEAD + piece.data.length > budget) break;
        if (piece.sends > this.options.maxRetries) {
          this.#fail(
            UdpErrorCode.PeerGone,
            `reliable piece ${seq} unacknowledged after ${this.options.maxRetries} retransmissions`,
            now,
          );
          return;
        }
        offset = this.#writePiece(offset, piece);
        piece.queued = false;
        this.#resendHead++;
        if (firstSeq < 0) firstSeq = seq;
        else if (seqs === null) seqs = [firstSeq, seq];
        else seqs.push(seq);
        eliciting = true;
        this.#retransmits++;
        this.#ackAtOnce = true;
        this.#handler.retransmit?.(this.#owner, seq, piece.sends);
      }
      if (this.#resendHead === this.#resend.length && this.#resendHead > 0) {
        this.#resend.length = 0;
        this.#resendHead = 0;
      }
      // new pieces, within the send window
      while (
        reliableRoom &&
        this.#nextNew < this.#nextSeq &&
        this.#nextNew < this.#sendBase + SEND_WINDOW
      ) {
        const piece = this.#piece(this.#nextNew)!;
        if (offset + RELIABLE_UNIT_OVERHEAD + piece.data.length > budget) break;
        offset = this.#writePiece(offset, piece);
        if (firstSeq < 0) firstSeq = piece.seq;
        else if (seqs === null) seqs = [firstSeq, piece.seq];
        else seqs.push(piece.seq);
        eliciting = true;
        this.#nextNew++;
      }
      // unreliable units
      let unreliableUnits = 0;
      while (this.#unreliableHead < this.#unreliableTail) {
        const entry = this.#unreliable[this.#unreliableHead]!;
        if (entry instanceof FragmentUnit) {
          const unit = entry.unit;
          if (offset + unit.length > budget) break;
          copyBytes(scratch, unit, offset);
          offset += unit.length;
          this.#buffered -= unit.length - FRAGMENT_UNIT_OVERHEAD;
        } else {
          if (offset + UNRELIABLE_UNIT_OVERHEAD + entry.length > budget) break;
          scratch[offset] = UnitKind.Unreliable;
          writeU16(scratch, offset + 1, entry.length);
          copyBytes(scratch, entry, offset + UNRELIABLE_UNIT_OVERHEAD);
          offset += UNRELIABLE_UNIT_OVERHEAD + entry.length;
          this.#buffered -= entry.length;
        }
        unreliableUnits++;
        this.#unreliable[this.#unreliableHead++] = EMPTY;
      }
      if (this.#unreliableHead === this.#unreliableTail && this.#unreliableHead > 0) {
        this.#emptyUnreliable();
      }
      let fin = false;
      if (this.#finPending && offset + finSize(this.#closeCode, this.#closeReason) <= budget) {
        offset += writeFin(scratch, offset, this.#closeCode, this.#closeReason);
        this.#finPending = false;
        this.#finSent = true;
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
      if (offset === 0 || (!eliciting && unreliableUnits === 0 && !this.#ackPending)) break;
      const pn = this.#nextPn++;
      if (eliciting || unreliableUnits > 0) this.#dataSentAt = now;
      if (eliciting) {
        const packet: SentPacket = {
          pn,
          time: now,
          seq: firstSeq,
          seqs,
          fin,
          done: false,
          acked: false,
        };
        this.#sent[this.#sentTail++] = packet;
        this.#inflightCount++;
      }
      this.#ackPending = false;
      if (withAck) {
        // this packet acknowledges everything received: a delayed ACK is no longer owed
        this.#unackedEliciting = 0;
        this.#ackDueAt = Number.POSITIVE_INFINITY;
      }
      this.#lastSent = now;
      this.#packetsSent++;
      this.#bytesSent += offset;
      if (this.#handler.transmit(this.#owner, pn, packetBuffer, offset))
        newPacketBuffer(units.length);
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
      if (!this.#finSent) {
        this.#finPending = true;
        this.flush(now);
      }
      this.#terminate(this.#closeCode, this.#closeReason, false);
      return;
    }
    const oldest = this.#oldestInflight();
    if (oldest !== undefined && now - oldest.time >= this.#rtoOf(oldest)) {
      for (let i = this.#sentHead; i < this.#sentTail; i++) {
        const packet = this.#sent[i]!;
        if (now - packet.time < this.#rtoOf(packet)) break;
        if (!packet.done) this.#lose(packet);
      }
      this.#popDone();
      this.#rto = Math.min(this.#rto * 2, this.options.maxRtoMs + this.options.peerAckDelayMs);
    }
    if (now >= this.#ackDueAt) this.#ackPending = true;
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
    const oldest = this.#oldestInflight();
    if (oldest !== undefined) next = Math.min(next, oldest.time + this.#rtoOf(oldest));
    next = Math.min(next, this.#ackDueAt);
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
    if (this.#buffered < this.#highWater) return true;
    this.#needDrain = true;
    return false;
  }

  #checkDrain(): void {
    if (this.#needDrain && this.#state === OPEN && this.#buffered < this.#highWater / 2) {
      this.#needDrain = false;
      this.#handler.drain(this.#owner);
    }
  }

  /** True when `flush` has something to send now: an owed ACK, data within the window, a FIN or a PING. */
  get hasOutput(): boolean {
    return this.#ackPending || this.#hasDataToSend() || (this.#state === CLOSING && !this.#finSent);
  }

  #hasDataToSend(): boolean {
    return (
      (this.#inflightCount < this.options.maxInflightPackets &&
        (this.#resendHead < this.#resend.length ||
          (this.#nextNew < this.#nextSeq && this.#nextNew < this.#sendBase + SEND_WINDOW))) ||
      this.#unreliableHead < this.#unreliableTail ||
      this.#finPending ||
      this.#pingPending
    );
  }

  #piece(seq: number): Piece | undefined {
    if (seq < this.#sendBase) return undefined;
    const index = this.#pieceHead + (seq - this.#sendBase);
    return index < this.#pieceTail ? this.#pieces[index] : undefined;
  }

  #writePiece(offset: number, piece: Piece): number {
    const scratch = units;
    scratch[offset] = piece.more ? UnitKind.ReliableMore : UnitKind.Reliable;
    writeU32(scratch, offset + 1, piece.seq % U32);
    writeU16(scratch, offset + 5, piece.data.length);
    copyBytes(scratch, piece.data, offset + RELIABLE_UNIT_OVERHEAD);
    piece.sends++;
    return offset + RELIABLE_UNIT_OVERHEAD + piece.data.length;
  }

  #writeAck(now: number, maxRanges: number): number {
    const scratch = units;
    const ranges = this.#ranges;
    const fit = Math.floor((this.options.bodyBudget - ACK_UNIT_OVERHEAD) / ACK_RANGE_SIZE);
    const count = Math.min(ranges.length / 2, maxRanges, fit);
    scratch[0] = UnitKind.Ack;
    writeU16(
      scratch,
      1,
      Math.min(0xffff, Math.max(0, Math.round(now - this.#largestReceivedTime))),
    );
    scratch[3] = count;
    let offset = ACK_UNIT_OVERHEAD;
    for (let i = 0; i < count; i++) {
      writeU32(scratch, offset, ranges[2 * i]! % U32);
      writeU32(scratch, offset + 4, ranges[2 * i + 1]! % U32);
      offset += ACK_RANGE_SIZE;
    }
    return offset;
  }

  /** `inOrder`: the packet carrying the ACK came right after the peer's previous one (no gap). */
  #onAck(body: Buffer, offset: number, now: number, inOrder: boolean): void {
    const largestSent = this.#nextPn - 1;
    if (largestSent < 0) return;
    if (this.#promptBelow === Number.POSITIVE_INFINITY) this.#promptBelow = this.#nextPn;
    if (now >= this.#lostExpiresAt) this.#forgetOldLost(now);
    const delay = readU16(body, offset + 1);
    const count = body[offset + 3]!;
    let top = -1;
    let bottom = -1;
    let topPacket: SentPacket | undefined;
    let position = offset + ACK_UNIT_OVERHEAD;
    for (let i = 0; i < count; i++, position += ACK_RANGE_SIZE) {
      const high = expandBelow(readU32(body, position), largestSent);
      const low = expandBelow(readU32(body, position + 4), largestSent);
      if (high < 0 || low < 0 || low > high) continue;
      bottom = low;
      if (i === 0) {
        top = high;
        const index = this.#sentIndex(high);
        const candidate = index < this.#sentTail ? this.#sent[index] : undefined;
        if (candidate !== undefined && candidate.pn === high && !candidate.done)
          topPacket = candidate;
      }
      const sent = this.#sent;
      for (let k = this.#sentIndex(low); k < this.#sentTail; k++) {
        const packet = sent[k]!;
        if (packet.pn > high) break;
        if (!packet.acked) this.#acked(packet);
      }
      if (this.#lost !== null) this.#ackLost(low, high, now, inOrder);
    }
    if (top < 0) return;
    if (topPacket !== undefined) this.#sample(Math.max(0, now - topPacket.time - delay));
    if (top > this.#largestAcked) this.#largestAcked = top;
    // fast retransmit: a packet REORDER_THRESHOLD packets older than an acknowledged
    // one is lost, once it is also 9/8 of an RTT old (so that reordering is not loss)
    const lossDelay = this.#srtt < 0 ? 0 : 1.125 * Math.max(this.#srtt, this.#latestRtt);
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      if (packet.pn + REORDER_THRESHOLD > this.#largestAcked) break;
      if (!packet.done && now - packet.time >= lossDelay) this.#lose(packet);
    }
    if (this.#srtt >= 0) this.#loseMissing(bottom, now, lossDelay);
    this.#popDone();
    if (this.#finAcked && this.#state === CLOSING)
      this.#terminate(this.#closeCode, this.#closeReason, false);
  }

  /**
   * The ranges of an ACK are the peer's as it sent the packet carrying them,
   * held or not (`ackDelayMs` delays sending an ACK, never what it says). A
   * packet of ours at or above their lowest number that they leave out, sent
   * longer ago than a round trip, would have reached the peer before that
   * packet left: it is lost. "Longer than a round trip" is at least 9/8 of
   * the RTT (as for reordering), SRTT + 2 RTTVAR (jitter) and the RTO's floor
   * (`minRtoMs`, or the one learnt from late ACKs). This finds the loss of a
   * packet nothing followed (the answer to the peer's last request) as soon
   * as the peer sends anything, instead of at the RTO, which has to wait out
   * the peer's ack delay besides.
   */
  #loseMissing(bottom: number, now: number, lossDelay: number): void {
    if (bottom < 0) return;
    const age = Math.max(
      lossDelay,
      this.#srtt + 2 * this.#rttvar,
      this.options.minRtoMs,
      this.#stallFloor,
    );
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      // packets are in the order they were sent: the rest are younger
      if (now - packet.time < age) break;
      if (!packet.done && packet.pn >= bottom) this.#lose(packet);
    }
  }

  /** Index of the first packet in `#sent` (from its head) whose number is at least `pn`. */
  #sentIndex(pn: number): number {
    const sent = this.#sent;
    let lo = this.#sentHead;
    let hi = this.#sentTail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sent[mid]!.pn < pn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Late ACKs for packets already declared lost: their pieces count as received. */
  #ackLost(low: number, high: number, now: number, inOrder: boolean): void {
    const lost = this.#lost;
    if (lost === null) return;
    if (high - low + 1 <= lost.size) {
      for (let pn = low; pn <= high; pn++) {
        const packet = lost.get(pn);
        if (packet !== undefined) this.#lostAcked(packet, now, inOrder);
      }
    } else {
      for (const packet of lost.values()) {
        if (packet.pn >= low && packet.pn <= high) this.#lostAcked(packet, now, inOrder);
      }
    }
  }

  /** A packet declared lost is acknowledged after all; a late ACK (see `#stallFloor`) raises the RTO floor. */
  #lostAcked(packet: SentPacket, now: number, inOrder: boolean): void {
    this.#spuriousLosses++;
    const lateMs = now - packet.time;
    if (inOrder) {
      const floor = Math.min(
        STALL_FLOOR_MARGIN * (lateMs - this.options.peerAckDelayMs),
        this.options.initialRtoMs,
      );
      if (floor > this.#stallFloor) this.#stallFloor = floor;
    }
    this.#acked(packet);
    this.#handler.spuriousLoss?.(this.#owner, lateMs, inOrder);
  }

  #acked(packet: SentPacket): void {
    // done and not acknowledged: declared lost
    if (!packet.done) this.#inflightCount--;
    else if (this.#lost !== null) this.#forgetLost(packet.pn);
    packet.done = true;
    packet.acked = true;
    if (packet.fin) this.#finAcked = true;
    const seqs = packet.seqs;
    if (seqs === null) {
      if (packet.seq < 0) return;
      this.#ackPiece(packet.seq);
    } else {
      for (let i = 0; i < seqs.length; i++) this.#ackPiece(seqs[i]!);
    }
    // slide the window past acknowledged pieces
    let head = this.#pieceHead;
    const tail = this.#pieceTail;
    const pieces = this.#pieces;
    while (head < tail && pieces[head]!.acked) {
      head++;
      this.#sendBase++;
    }
    if (head === tail) {
      if (pieces.length > MAX_KEPT_SLOTS) this.#pieces = [];
      this.#pieceTail = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > tail) {
      this.#pieces = pieces.slice(head, tail);
      this.#pieceTail = tail - head;
      head = 0;
    }
    this.#pieceHead = head;
  }

  #ackPiece(seq: number): void {
    const piece = this.#piece(seq);
    if (piece === undefined || piece.acked) return;
    piece.acked = true;
    this.#buffered -= piece.size;
    piece.data = EMPTY;
  }

  #lose(packet: SentPacket): void {
    if (!packet.done) this.#inflightCount--;
    packet.done = true;
    if (this.#lost === null) {
      this.#lost = new Map();
      this.#lostExpiresAt = packet.time + this.#lostMemoryMs();
    }
    const lostPackets = this.#lost;
    lostPackets.set(packet.pn, packet);
    if (lostPackets.size > MAX_REMEMBERED_LOST) {
      for (const pn of lostPackets.keys()) {
        lostPackets.delete(pn);
        break;
      }
    }
    this.#packetsLost++;
    if (packet.fin && !this.#finAcked) this.#finPending = true;
    const seqs = packet.seqs;
    if (seqs === null) {
      if (packet.seq >= 0) this.#queueResend(packet.seq);
    } else {
      for (let i = 0; i < seqs.length; i++) this.#queueResend(seqs[i]!);
    }
  }

  /**
   * How long after it was sent a packet declared lost is remembered: twice
   * the longest RTO, so at least the longest RTO after it was declared lost
   * (which happens at most one RTO after it was sent).
   */
  #lostMemoryMs(): number {
    return 2 * (this.options.maxRtoMs + this.options.peerAckDelayMs);
  }

  #forgetLost(pn: number): void {
    const lost = this.#lost!;
    lost.delete(pn);
    if (lost.size === 0) {
      this.#lost = null;
      this.#lostExpiresAt = Number.POSITIVE_INFINITY;
    }
  }

  /** Forgets the lost packets sent longer ago than a late ACK of them can come. */
  #forgetOldLost(now: number): void {
    const lost = this.#lost!;
    const memory = this.#lostMemoryMs();
    this.#lostExpiresAt = Number.POSITIVE_INFINITY;
    // in the order they were declared lost, near enough the order they were sent
    for (const [pn, packet] of lost) {
      if (now - packet.time < memory) {
        this.#lostExpiresAt = packet.time + memory;
        break;
      }
      lost.delete(pn);
    }
    if (lost.size === 0) this.#lost = null;
  }

  #queueResend(seq: number): void {
    const piece = this.#piece(seq);
    if (piece === undefined || piece.acked || piece.queued) return;
    piece.queued = true;
    this.#resend.push(seq);
  }

  #popDone(): void {
    let head = this.#sentHead;
    const tail = this.#sentTail;
    const sent = this.#sent;
    while (head < tail && sent[head]!.done) head++;
    if (head === tail) {
      if (sent.length > MAX_KEPT_SLOTS) this.#sent = [];
      this.#sentTail = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > tail) {
      this.#sent = sent.slice(head, tail);
      this.#sentTail = tail - head;
      head = 0;
    }
    this.#sentHead = head;
  }

  /**
   * The RTO of `packet`: without the peer's ack delay when the peer
   * acknowledges it at once, because it had sent us no data for its delay
   * before the packet left (it holds an ACK only while it sends data) or it
   * retransmitted (`#promptBelow`).
   */
  #rtoOf(packet: SentPacket): number {
    const delay = this.options.peerAckDelayMs;
    return packet.pn < this.#promptBelow || this.#peerDataAt < packet.time - delay
      ? this.#rto - delay
      : this.#rto;
  }

  #oldestInflight(): SentPacket | undefined {
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      if (!packet.done) return packet;
    }
    return undefined;
  }

  #sample(rtt: number): void {
    if (this.#srtt < 0) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
      this.#latestRtt = rtt;
    } else {
      this.#latestRtt = rtt;
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
    const rto = this.#srtt + Math.max(1, 4 * this.#rttvar);
    this.#stallFloor *= STALL_FLOOR_DECAY;
    const floor = Math.max(this.options.minRtoMs, this.#stallFloor);
    // the peer may hold its ACK up to its ackDelayMs: wait that much longer
    this.#rto = Math.min(this.options.maxRtoMs, Math.max(floor, rto)) + this.options.peerAckDelayMs;
  }

  #dropUnreliable(): void {
    for (let i = this.#unreliableHead; i < this.#unreliableTail; i++) {
      const entry = this.#unreliable[i]!;
      this.#buffered -=
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
    if (!this.#finSent && this.#sendBase === this.#nextSeq) this.flush(now);
  }

  // --- receive side helpers ---

  /**
   * One pass over the units: every kind known, nothing past the end, ACK
   * range counts in 1..32, reliable pieces below `next expected + window`.
   */
  #checkUnits(body: Buffer, start: number): number {
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

  /** A received reliable piece, `body[start, end)`: a view of it is kept only when it must wait. */
  #receivePiece(seq: number, body: Buffer, start: number, end: number, more: boolean): void {
    if (seq === this.#nextExpected) {
      // the common case: in order, no buffering
      this.#nextExpected++;
      this.#take(body, start, end, more);
      return;
    }
    if (seq < this.#nextExpected || this.#received?.has(seq) === true) {
      this.#duplicates++;
      this.#promptBelow = Number.POSITIVE_INFINITY;
      return;
    }
    this.#received ??= new Map();
    this.#received.set(seq, { data: body.subarray(start, end), more });
  }

  #deliverInOrder(): void {
    const received = this.#received;
    if (received === null) return;
    while (received.size > 0 && this.#state !== CLOSED) {
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
   * The next piece in sequence, `data[start, end)`: part of a message, or its
   * end (then the message is delivered).
   */
  #take(data: Buffer, start: number, end: number, more: boolean): void {
    const length = end - start;
    if (this.#assemblyBytes + length > this.options.maxPayloadLength + 10) {
      this.#fail(
        UdpErrorCode.FrameTooLarge,
        `reliable message exceeds maxPayloadLength + 10 (${this.options.maxPayloadLength + 10})`,
        this.#lastReceive,
      );
      return;
    }
    if (more) {
      this.#assembly.push(data.subarray(start, end));
      this.#assemblyBytes += length;
      return;
    }
    if (this.#assembly.length === 0) {
      this.#deliver(data, start, end, true);
      return;
    }
    this.#assembly.push(data.subarray(start, end));
    const message = Buffer.concat(this.#assembly, this.#assemblyBytes + length);
    this.#assembly = [];
    this.#assemblyBytes = 0;
    this.#deliver(message, 0, message.length, true);
  }

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
    if (!this.#finSent) {
      this.#setFin(code, reason);
      this.#state = CLOSING;
      // one FIN, best effort: nothing else is sent
      this.#resend.length = 0;
      this.#resendHead = 0;
      this.#nextNew = this.#nextSeq;
      this.#dropUnreliable();
      this.#pingPending = false;
      this.#finPending = true;
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
    this.#pieces = [];
    this.#pieceHead = 0;
    this.#pieceTail = 0;
    this.#sent = [];
    this.#sentHead = 0;
    this.#sentTail = 0;
    this.#inflightCount = 0;
    this.#lost = null;
    this.#received = null;
    this.#assembly = [];
    this.#fragments?.clear();
    this.#unreliable = [];
    this.#unreliableHead = 0;
    this.#unreliableTail = 0;
    this.#resend = [];
    this.#handler.closed(this.#owner, code, reason, remote);
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bytes = Buffer.from(text).subarray(0, maxBytes);
  return bytes.toString('utf8').replace(/\uFFFD+$/, '');
}

/** `DEFAULT_SESSION_OPTIONS` with `overrides` applied. */
export function resolveSessionOptions(overrides: Partial<SessionOptions>): SessionOptions {
  return { ...DEFAULT_SESSION_OPTIONS, ...overrides };
}

import { copyBytes, readU16, readU32, writeU16, writeU32 } from '@tidewire/wire';
import { expandBelow, U32 } from './packet-numbers.ts';
import { RttEstimator } from './rtt.ts';
import type { SessionHandler, SessionOptions } from './session-types.ts';
import { ACK_RANGE_SIZE, ACK_UNIT_OVERHEAD, RELIABLE_UNIT_OVERHEAD, UnitKind } from './units.ts';

/** Reliable pieces in flight (and accepted ahead of the next expected one). */
export const SEND_WINDOW = 1024;
/** Packets sent after a packet that make it lost once acknowledged (fast retransmit). */
export const REORDER_THRESHOLD = 3;
/**
 * Packets declared lost that are remembered in case their ACK comes late, at
 * most; each is forgotten twice the longest RTO (`maxRtoMs` plus the peer's
 * ack delay) after it was sent.
 */
const MAX_REMEMBERED_LOST = 2048;
/** An emptied list keeps its array up to this many slots (a burst's bigger one is let go). */
export const MAX_KEPT_SLOTS = 64;
const EMPTY = Buffer.alloc(0);

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

/**
 * The sending half of a reliable-UDP peer: packet numbers, the reliable
 * pieces from the oldest unacknowledged one on, the packets in flight, what
 * the peer's ACKs say of them, loss (by reordering, by ACK ranges, by RTO),
 * retransmission and the RTT. The FIN is one more reliable thing: sent,
 * declared lost, sent again until acknowledged. Owned by a session, which
 * packs the packets and decides when to send.
 */
export class SendWindow<O = unknown> {
  readonly #options: SessionOptions;
  readonly #handler: SessionHandler<O>;
  readonly #owner: O;
  readonly #pieceMax: number;
  readonly #rtt: RttEstimator;

  #retransmits = 0;
  #packetsLost = 0;
  #spuriousLosses = 0;

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
  /** Reliable bytes queued and not yet acknowledged. */
  #buffered = 0;
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
  #largestAcked = -1;
  /** Pieces written into the packet being packed: the first, and all of them past one. */
  #packetFirstSeq = -1;
  #packetSeqs: number[] | null = null;
  #packetRetransmits = false;
  /** The piece that ran out of retransmissions, or -1. */
  #exhaustedSeq = -1;
  #finPending = false;
  #finSent = false;
  #finAcked = false;
  /**
   * Our packets numbered below this time out without the peer's ack delay
   * in their RTO. A repeated reliable piece from the peer says it
   * retransmitted, and a peer that did acknowledges the next packet it
   * receives at once: the bound is then Infinity (every packet sent) until
   * the peer's next ACK comes, and our next packet number after that.
   */
  #promptBelow = 0;
  /** When a packet with data last came from the peer: it holds its ACKs only while it sends data. */
  #peerDataAt = Number.NEGATIVE_INFINITY;

  constructor(options: SessionOptions, handler: SessionHandler<O>, owner: O, pieceMax: number) {
    this.#options = options;
    this.#handler = handler;
    this.#owner = owner;
    this.#pieceMax = pieceMax;
    this.#rtt = new RttEstimator(options);
  }

  get retransmits(): number {
    return this.#retransmits;
  }

  get packetsLost(): number {
    return this.#packetsLost;
  }

  get spuriousLosses(): number {
    return this.#spuriousLosses;
  }

  /** Reliable bytes not yet acknowledged. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Smoothed RTT in ms, or -1 before any sample. */
  get srtt(): number {
    return this.#rtt.srtt;
  }

  get rtoMs(): number {
    return this.#rtt.rto;
  }

  /** Packets sent and not yet acknowledged or declared lost. */
  get inflightPackets(): number {
    return this.#inflightCount;
  }

  /** Every reliable piece queued is acknowledged. */
  get allAcknowledged(): boolean {
    return this.#sendBase === this.#nextSeq;
  }

  /** Retransmissions or new pieces are waiting and the flight window has room for them. */
  get hasDue(): boolean {
    return (
      this.#inflightCount < this.#options.maxInflightPackets &&
      (this.#resendHead < this.#resend.length ||
        (this.#nextNew < this.#nextSeq && this.#nextNew < this.#sendBase + SEND_WINDOW))
    );
  }

  get finPending(): boolean {
    return this.#finPending;
  }

  get finSent(): boolean {
    return this.#finSent;
  }

  get finAcked(): boolean {
    return this.#finAcked;
  }

  /** The piece that ran out of retransmissions in the last `writePieces`, or -1. */
  get exhaustedSeq(): number {
    return this.#exhaustedSeq;
  }

  /** The packet being packed carries a retransmitted piece. */
  get packetRetransmits(): boolean {
    return this.#packetRetransmits;
  }

  /** Queues `message` (kept by reference until acknowledged) as pieces of at most one packet. */
  queue(message: Buffer): void {
    const length = message.length;
    if (length <= this.#pieceMax) {
      this.#pieces[this.#pieceTail++] = {
        seq: this.#nextSeq++,
        data: message,
        size: length,
        more: false,
        acked: false,
        queued: false,
        sends: 0,
      };
      this.#buffered += length;
      return;
    }
    let offset = 0;
    do {
      const end = Math.min(length, offset + this.#pieceMax);
      this.#pieces[this.#pieceTail++] = {
        seq: this.#nextSeq++,
        data: message.subarray(offset, end),
        size: end - offset,
        more: end < length,
        acked: false,
        queued: false,
        sends: 0,
      };
      offset = end;
    } while (offset < length);
    this.#buffered += length;
  }

  /** Sends nothing more but a FIN: queued retransmissions and unsent pieces are given up. */
  giveUp(): void {
    this.#resend.length = 0;
    this.#resendHead = 0;
    this.#nextNew = this.#nextSeq;
  }

  /** A FIN is to be sent (again). */
  requestFin(): void {
    this.#finPending = true;
  }

  /** The FIN was written into the packet being packed. */
  finWritten(): void {
    this.#finPending = false;
    this.#finSent = true;
  }

  /**
   * Writes retransmissions, then new pieces within the send window, into
   * `target` from `offset` up to `budget`, while the flight window has room.
   * Returns the new offset, or -1 when a piece ran out of retransmissions
   * (see `exhaustedSeq`): the peer is gone.
   */
  writePieces(target: Buffer, offset: number, budget: number): number {
    this.#packetFirstSeq = -1;
    this.#packetSeqs = null;
    this.#packetRetransmits = false;
    if (this.#inflightCount >= this.#options.maxInflightPackets) return offset;
    while (this.#resendHead < this.#resend.length) {
      const seq = this.#resend[this.#resendHead]!;
      const piece = this.#piece(seq);
      if (piece === undefined || piece.acked) {
        this.#resendHead++;
        continue;
      }
      if (offset + RELIABLE_UNIT_OVERHEAD + piece.data.length > budget) break;
      if (piece.sends > this.#options.maxRetries) {
        this.#exhaustedSeq = seq;
        return -1;
      }
      offset = writePiece(target, offset, piece);
      piece.queued = false;
      this.#resendHead++;
      this.#addToPacket(seq);
      this.#retransmits++;
      this.#packetRetransmits = true;
      this.#handler.retransmit?.(this.#owner, seq, piece.sends);
    }
    if (this.#resendHead === this.#resend.length && this.#resendHead > 0) {
      this.#resend.length = 0;
      this.#resendHead = 0;
    }
    while (this.#nextNew < this.#nextSeq && this.#nextNew < this.#sendBase + SEND_WINDOW) {
      const piece = this.#piece(this.#nextNew)!;
      if (offset + RELIABLE_UNIT_OVERHEAD + piece.data.length > budget) break;
      offset = writePiece(target, offset, piece);
      this.#addToPacket(piece.seq);
      this.#nextNew++;
    }
    return offset;
  }

  /** True when the packet being packed carries reliable pieces. */
  get packetHasPieces(): boolean {
    return this.#packetFirstSeq >= 0;
  }

  /** Numbers the next packet. */
  nextPacketNumber(): number {
    return this.#nextPn++;
  }

  /** Packet `pn` left with what `writePieces` wrote into it (and the FIN when `fin`): it is in flight. */
  sentEliciting(pn: number, now: number, fin: boolean): void {
    this.#sent[this.#sentTail++] = {
      pn,
      time: now,
      seq: this.#packetFirstSeq,
      seqs: this.#packetSeqs,
      fin,
      done: false,
      acked: false,
    };
    this.#inflightCount++;
    this.#packetSeqs = null;
  }

  /** A packet with data came from the peer. */
  peerSentData(now: number): void {
    this.#peerDataAt = now;
  }

  /** The peer sent a reliable piece again: it acknowledges our next packets at once. */
  peerRetransmitted(): void {
    this.#promptBelow = Number.POSITIVE_INFINITY;
  }

  /**
   * The ACK unit at `body[offset]`. `inOrder`: the packet carrying it came
   * right after the peer's previous one (no gap). Returns false when it
   * acknowledged nothing we sent.
   */
  onAck(body: Buffer, offset: number, now: number, inOrder: boolean): boolean {
    const largestSent = this.#nextPn - 1;
    if (largestSent < 0) return false;
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
    if (top < 0) return false;
    const rtt = this.#rtt;
    if (topPacket !== undefined) rtt.sample(Math.max(0, now - topPacket.time - delay));
    if (top > this.#largestAcked) this.#largestAcked = top;
    // fast retransmit: a packet REORDER_THRESHOLD packets older than an acknowledged
    // one is lost, once it is also 9/8 of an RTT old (so that reordering is not loss)
    const lossDelay = rtt.srtt < 0 ? 0 : 1.125 * Math.max(rtt.srtt, rtt.latestRtt);
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      if (packet.pn + REORDER_THRESHOLD > this.#largestAcked) break;
      if (!packet.done && now - packet.time >= lossDelay) this.#lose(packet);
    }
    if (rtt.srtt >= 0) this.#loseMissing(bottom, now, lossDelay);
    this.#popDone();
    return true;
  }

  /** Declares lost the packets whose RTO expired, and backs the RTO off. */
  onTimer(now: number): void {
    const oldest = this.#oldestInflight();
    if (oldest === undefined || now - oldest.time < this.#rtoOf(oldest)) return;
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      if (now - packet.time < this.#rtoOf(packet)) break;
      if (!packet.done) this.#lose(packet);
    }
    this.#popDone();
    this.#rtt.backOff();
  }

  /** When the oldest packet in flight times out, or Infinity. */
  nextDeadline(): number {
    const oldest = this.#oldestInflight();
    return oldest === undefined ? Number.POSITIVE_INFINITY : oldest.time + this.#rtoOf(oldest);
  }

  /** Lets go of everything (the session ended). */
  clear(): void {
    this.#pieces = [];
    this.#pieceHead = 0;
    this.#pieceTail = 0;
    this.#sent = [];
    this.#sentHead = 0;
    this.#sentTail = 0;
    this.#inflightCount = 0;
    this.#lost = null;
    this.#resend = [];
  }

  #addToPacket(seq: number): void {
    if (this.#packetFirstSeq < 0) this.#packetFirstSeq = seq;
    else if (this.#packetSeqs === null) this.#packetSeqs = [this.#packetFirstSeq, seq];
    else this.#packetSeqs.push(seq);
  }

  #piece(seq: number): Piece | undefined {
    if (seq < this.#sendBase) return undefined;
    const index = this.#pieceHead + (seq - this.#sendBase);
    return index < this.#pieceTail ? this.#pieces[index] : undefined;
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
    const rtt = this.#rtt;
    const age = Math.max(
      lossDelay,
      rtt.srtt + 2 * rtt.rttvar,
      this.#options.minRtoMs,
      rtt.stallFloor,
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

  /** A packet declared lost is acknowledged after all; a late ACK (see `RttEstimator.stallFloor`) raises the RTO floor. */
  #lostAcked(packet: SentPacket, now: number, inOrder: boolean): void {
    this.#spuriousLosses++;
    const lateMs = now - packet.time;
    if (inOrder) this.#rtt.raiseStallFloor(lateMs);
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
    return 2 * (this.#options.maxRtoMs + this.#options.peerAckDelayMs);
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
    const delay = this.#options.peerAckDelayMs;
    const rto = this.#rtt.rto;
    return packet.pn < this.#promptBelow || this.#peerDataAt < packet.time - delay
      ? rto - delay
      : rto;
  }

  #oldestInflight(): SentPacket | undefined {
    for (let i = this.#sentHead; i < this.#sentTail; i++) {
      const packet = this.#sent[i]!;
      if (!packet.done) return packet;
    }
    return undefined;
  }
}

function writePiece(target: Buffer, offset: number, piece: Piece): number {
  target[offset] = piece.more ? UnitKind.ReliableMore : UnitKind.Reliable;
  writeU32(target, offset + 1, piece.seq % U32);
  writeU16(target, offset + 5, piece.data.length);
  copyBytes(target, piece.data, offset + RELIABLE_UNIT_OVERHEAD);
  piece.sends++;
  return offset + RELIABLE_UNIT_OVERHEAD + piece.data.length;
}

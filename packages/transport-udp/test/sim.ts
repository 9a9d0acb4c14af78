/**
 * A socket-free network for two RudpSessions: a virtual clock, and a link per
 * direction that drops, duplicates, delays and reorders packets from a seeded
 * PRNG. Everything runs synchronously, so a run is a pure function of its seed.
 */
import {
  PACKET_HEADER_ROOM,
  RudpSession,
  resolveSessionOptions,
  type RudpSession as Session,
  type SessionHandler,
  type SessionOptions,
} from '../src/session.ts';
import { mulberry32 } from './prng.ts';

export interface LinkConditions {
  loss: number;
  duplicate: number;
  delayMs: number;
  jitterMs: number;
}

interface InFlight {
  at: number;
  order: number;
  to: 0 | 1;
  pn: number;
  body: Buffer;
}

export interface Peer {
  side: 0 | 1;
  session: Session<Peer>;
  reliable: Buffer[];
  unreliable: Buffer[];
  closed: { code: string; reason: string; remote: boolean } | null;
  drains: number;
  /** Runs as each reliable message arrives (what it sends rides with this turn's ACK). */
  onReliable: ((data: Buffer) => void) | null;
}

export class SimNet {
  now = 0;
  readonly peers: [Peer, Peer];
  readonly #random: () => number;
  readonly #conditions: LinkConditions;
  #queue: InFlight[] = [];
  #order = 0;
  #dirty = new Set<0 | 1>();
  transmitted = 0;
  /** Packets each side sent (before the link drops any). */
  readonly sentBy: [number, number] = [0, 0];
  /**
   * Until when (ms) each side's process is stalled: it reads no packet and
   * runs no timer before then; packets wait for it, as in a socket buffer.
   */
  readonly stalledUntil: [number, number] = [0, 0];
  /** Sees every packet sent (`to` is the receiving side); returning false drops it. */
  onTransmit: ((to: 0 | 1, body: Buffer) => boolean) | null = null;

  /** `options` apply to both peers, or a pair gives each its own. */
  constructor(
    seed: number,
    conditions: LinkConditions,
    options: Partial<SessionOptions> | [Partial<SessionOptions>, Partial<SessionOptions>] = {},
  ) {
    this.#random = mulberry32(seed);
    this.#conditions = conditions;
    const [first, second] = Array.isArray(options) ? options : [options, options];
    this.peers = [
      this.#peer(0, resolveSessionOptions(first)),
      this.#peer(1, resolveSessionOptions(second)),
    ];
  }

  #peer(side: 0 | 1, options: SessionOptions): Peer {
    const peer = {
      side,
      reliable: [] as Buffer[],
      unreliable: [] as Buffer[],
      closed: null as Peer['closed'],
      drains: 0,
      onReliable: null,
    } as Peer;
    peer.session = new RudpSession(options, this.#handler, peer, this.now);
    return peer;
  }

  /** One handler for both peers, as the socket layer has one for every connection. */
  readonly #handler: SessionHandler<Peer> = {
    transmit: (peer, pn, packet, length) => {
      const units = packet.subarray(PACKET_HEADER_ROOM, PACKET_HEADER_ROOM + length);
      this.#transmit(peer.side === 0 ? 1 : 0, pn, units);
      return false;
    },
    message: (peer, data, start, end, reliable) => {
      const copy = Buffer.from(data.subarray(start, end));
      (reliable ? peer.reliable : peer.unreliable).push(copy);
      if (reliable) peer.onReliable?.(copy);
    },
    closed: (peer, code, reason, remote) => {
      peer.closed = { code, reason, remote };
    },
    drain: (peer) => {
      peer.drains++;
    },
  };

  #transmit(to: 0 | 1, pn: number, body: Buffer): void {
    this.transmitted++;
    this.sentBy[to === 0 ? 1 : 0]++;
    if (this.onTransmit !== null && !this.onTransmit(to, body)) return;
    const { loss, duplicate, delayMs, jitterMs } = this.#conditions;
    const copies = this.#random() < loss ? 0 : this.#random() < duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = this.now + delayMs + Math.floor(this.#random() * (jitterMs + 1));
      this.#queue.push({ at, order: this.#order++, to, pn, body: Buffer.from(body) });
    }
  }

  /** Marks a side as having something to send at the end of this turn. */
  touch(side: 0 | 1): void {
    this.#dirty.add(side);
  }

  /** Advances the clock by one step: deliver what is due, run timers, flush. */
  step(stepMs = 1): void {
    this.now += stepMs;
    const isDue = (p: InFlight): boolean => p.at <= this.now && this.stalledUntil[p.to] <= this.now;
    const due = this.#queue.filter(isDue).sort((a, b) => a.at - b.at || a.order - b.order);
    if (due.length > 0) this.#queue = this.#queue.filter((p) => !isDue(p));
    for (const packet of due) {
      const session = this.peers[packet.to].session;
      session.receive(packet.pn, packet.body, this.now);
      this.#dirty.add(packet.to);
    }
    for (const side of [0, 1] as const) {
      if (this.stalledUntil[side] > this.now) continue;
      const session = this.peers[side].session;
      if (session.nextDeadline() <= this.now) session.onTimer(this.now);
      else if (this.#dirty.has(side)) session.flush(this.now);
      this.#dirty.delete(side);
    }
  }

  run(until: () => boolean, maxMs: number, stepMs = 1): boolean {
    const end = this.now + maxMs;
    while (this.now < end) {
      if (until()) return true;
      this.step(stepMs);
    }
    return until();
  }
}

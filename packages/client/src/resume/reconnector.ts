/**
 * Reconnect and resume as a client does it by itself (protocol section 13),
 * whatever its transport: it opts in to resume, numbers and keeps what it
 * sends, counts and acknowledges what it receives, and when the connection
 * is lost it runs the reconnect loop (resume, else a fresh session) and
 * tells the application (reconnecting, resumed, reconnected-fresh,
 * gave-up). On reconnect-elsewhere it moves to another node. The Node and
 * browser clients each give it a host that dials their transport and swaps
 * connections; everything else is here, once.
 */
import { CORE_VER, CoreCommand, type KeptFrame, unpackBytes } from '@tidewire/wire/portable';
import { ClientErrorCode, clientError } from '../errors.ts';
import {
  failAll,
  failUnparked,
  hasUnparked,
  type ParkedCommand,
  type PendingEntry,
  type PendingTable,
} from '../pending.ts';
import type { ResolvedReconnect } from './backoff.ts';
import { reconnectLoop } from './loop.ts';
import { ClientSeat, RECONNECT_CODES, type ResumeOffer } from './seat.ts';

/** The events a reconnecting client emits. */
export interface ReconnectEvents {
  /** The connection was lost (`code`); attempt `attempt` starts after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; code: string; error?: string }];
  /** The seat was resumed on a new connection: nothing was lost, pending requests carried over. */
  resumed: [info: { attempt: number }];
  /** Reconnected with a new session: the server state of the old one is gone. */
  'reconnected-fresh': [info: { reason: string }];
  /** Every attempt failed; `close` follows. */
  'gave-up': [info: { attempts: number; code: string }];
}

/** How a connection ended, as the client reports it. */
export interface LossInfo {
  code: string;
  reason: string;
  remote: boolean;
}

/** A new connection, answered and ready, that the client has not taken yet. */
export interface Candidate {
  /** The answer's resume offer (the next token). */
  offer: ResumeOffer | null;
  /**
   * Makes it the client's connection (its session, state, cipher). The old
   * connection is dropped, or closed cleanly with `cleanClose` (a move: the
   * old node releases the seat).
   */
  adopt(cleanClose?: string): void;
  /** Gives it up (a failed check). */
  discard(): void;
}

/** A resumed connection: `received` numbered frames reached the node. */
export interface Resumption extends Candidate {
  received: number;
}

/** What the reconnector needs of a client. */
export interface ReconnectorHost {
  readonly pending: PendingTable<PendingEntry>;
  /** The application's signal: it ends reconnecting too. */
  readonly signal: AbortSignal | undefined;
  /** Bound on one attempt (session, connection, answer), ms. */
  readonly connectTimeoutMs: number;
  /** How long a move waits for the answers of the old connection, ms. */
  readonly requestTimeoutMs: number;
  readonly closed: boolean;
  emit<K extends keyof ReconnectEvents>(event: K, ...args: ReconnectEvents[K]): void;
  /** Opens a connection to the session's node and resumes `seat` on it. */
  dialResume(seat: ClientSeat, signal: AbortSignal): Promise<Resumption>;
  /** Gets a new session, opens its connection and says hello. */
  dialFresh(signal: AbortSignal): Promise<Candidate>;
  /** Sends an ack (ver 0, cmd 6) on the current connection. */
  sendAck(received: number): void;
  /** Sends a kept numbered frame again on the current connection. */
  resend(frame: KeptFrame): void;
  /** Sends a parked command on the current connection. */
  transmit(command: ParkedCommand): void;
  /** The connection is gone or leaving: stop keep-alives. */
  pause(): void;
  /** The current connection carries the client now: its frames, its close, keep-alives. */
  start(): void;
  /** Closes the client for good (a `close` event). */
  close(info: LossInfo): void;
}

/** The client's reconnect state: its seat, the attempts under way, the commands parked by a move. */
export class Reconnector {
  readonly #host: ReconnectorHost;
  readonly #options: ResolvedReconnect;
  #seat: ClientSeat | null = null;
  /** Set while reconnecting or moving: aborts the attempts. */
  #reconnecting: AbortController | null = null;
  /** The move's attempts, while moving. */
  #moving: AbortController | null = null;
  #parked: ParkedCommand[] | null = null;

  constructor(host: ReconnectorHost, options: ResolvedReconnect) {
    this.#host = host;
    this.#options = options;
  }

  /** True when the client reconnects by itself (`attempts` > 0). */
  get enabled(): boolean {
    return this.#options.attempts > 0;
  }

  /** True while reconnecting (commands wait for the new connection). */
  get reconnecting(): boolean {
    return this.#reconnecting !== null;
  }

  /** Commands made while moving (they go out on the new connection), or null. */
  get parked(): ParkedCommand[] | null {
    return this.#parked;
  }

  /**
   * After a hello answer: takes part in resume when the server offered it
   * and reconnect is on (the ack that opts in is the first frame after it).
   */
  optIn(offer: ResumeOffer | null): void {
    if (offer === null || !this.enabled) {
      this.#seat = null;
      return;
    }
    this.#seat = new ClientSeat(offer, (received) => this.#host.sendAck(received));
    this.#host.sendAck(0);
  }

  /** Numbers and keeps a reliable frame the client sends (when it takes part in resume). */
  sent(ver: number, cmd: number, status: number, payload: Uint8Array): void {
    // A copy: the caller may reuse its buffer.
    this.#seat?.log.append(ver, cmd, status, new Uint8Array(payload));
  }

  /**
   * A frame from the server: an ack is taken here ('ack', or 'invalid' when
   * out of range: the connection must end); any other reliable one but a
   * disconnect is counted ('frame': the client handles it). A disconnect is
   * written by the node's transport as it closes, outside the numbered
   * stream (protocol section 13.1): counted, a resume after it would claim
   * one frame more than the node sent.
   */
  received(
    ver: number,
    cmd: number,
    payload: Uint8Array,
    reliable: boolean,
  ): 'ack' | 'invalid' | 'frame' {
    const seat = this.#seat;
    if (seat === null) return 'frame';
    if (ver === CORE_VER && cmd === CoreCommand.Ack) {
      const received = ackReceived(payload);
      return received !== null && seat.log.acknowledge(received) ? 'ack' : 'invalid';
    }
    if (reliable && !(ver === CORE_VER && cmd === CoreCommand.Disconnect)) seat.acks.count();
    return 'frame';
  }

  /** The application closes: no more attempts, and the server releases the seat. */
  release(): void {
    this.#reconnecting?.abort();
    this.#seat?.acks.stop();
    this.#seat = null;
  }

  /** The client closed for good. */
  stop(): void {
    this.#reconnecting?.abort();
    this.#seat?.acks.stop();
  }

  /**
   * The current connection ended. Returns false when the client should
   * close (reconnect is off, a clean end); otherwise it reconnects.
   */
  lost(info: LossInfo): boolean {
    if (this.#moving !== null) {
      // Lost while moving: the move stops, the loss is handled as any other.
      this.#moving.abort();
      this.#moving = null;
      this.#reconnecting = null;
    }
    if (this.#reconnecting !== null) return true;
    if (!this.enabled || !RECONNECT_CODES.has(info.code)) return false;
    void this.#reconnectAfter(info);
    return true;
  }

  async #reconnectAfter(info: LossInfo): Promise<void> {
    const host = this.#host;
    const controller = new AbortController();
    this.#reconnecting = controller;
    const signal = host.signal
      ? AbortSignal.any([host.signal, controller.signal])
      : controller.signal;
    host.pause();
    // The server holds no seat after it shut down: straight to a fresh session.
    let noSeatReason = info.code;
    if (info.code === 'TIDEWIRE_ERR_SERVER_CLOSING') this.#seat = null;
    // Past its bound the client no longer kept what it sent: a resume would lose it.
    if (this.#seat?.log.overflowed === true) {
      this.#seat = null;
      noSeatReason = 'TIDEWIRE_ERR_RESUME_OVERFLOW';
    }
    if (this.#seat !== null) {
      this.#seat.acks.stop();
      this.#seat.lostAt = Date.now();
    }
    let lastAttempt = 0;
    const { outcome, lastError } = await reconnectLoop(
      {
        seat: this.#seat,
        noSeatReason,
        resume: (attemptSignal) => this.#resume(attemptSignal),
        fresh: (reason, attemptSignal) => this.#fresh(reason, attemptSignal),
        onAttempt: ({ attempt, delayMs, error }) => {
          lastAttempt = attempt;
          host.emit('reconnecting', {
            attempt,
            delayMs,
            code: info.code,
            ...(error !== undefined ? { error } : {}),
          });
        },
      },
      this.#options,
      signal,
    );
    this.#reconnecting = null;
    if (outcome === 'resumed') {
      host.emit('resumed', { attempt: lastAttempt });
      return;
    }
    if (outcome === 'fresh' || host.closed) return;
    const code = (lastError as { code?: unknown } | null)?.code;
    if (outcome === 'gave-up') {
      host.emit('gave-up', {
        attempts: this.#options.attempts,
        code: code !== undefined ? String(code) : info.code,
      });
    }
    host.close(info);
  }

  /** One resume attempt (protocol section 13.6): on success the client goes on over the new connection. */
  async #resume(signal: AbortSignal): Promise<void> {
    const seat = this.#seat;
    if (seat === null) throw clientError(ClientErrorCode.Closed, 'no seat');
    const host = this.#host;
    const resumed = await host.dialResume(seat, this.#bounded(signal));
    if (!seat.log.acknowledge(resumed.received)) {
      resumed.discard();
      throw clientError(ClientErrorCode.Closed, 'resume: the server received more than was sent');
    }
    resumed.adopt();
    if (resumed.offer !== null) {
      seat.token = resumed.offer.token;
      seat.ttlMs = resumed.offer.ttlMs;
    }
    seat.lostAt = 0;
    // First an ack: it tells the server the new token arrived (the old one dies).
    host.sendAck(seat.acks.received);
    // What the server did not receive goes again, in order, before anything new.
    for (const kept of seat.log.after(resumed.received)) host.resend(kept);
    seat.acks.rebind((received) => host.sendAck(received));
    this.#reconnecting = null;
    host.start();
  }

  /** A new session and hello: the old seat's server state is gone. */
  async #fresh(reason: string, signal: AbortSignal): Promise<void> {
    const host = this.#host;
    const opened = await host.dialFresh(this.#bounded(signal));
    this.#seat?.acks.stop();
    failAll(
      host.pending,
      clientError(ClientErrorCode.Closed, `reconnected with a new session (${reason})`),
    );
    opened.adopt();
    this.optIn(opened.offer);
    this.#reconnecting = null;
    host.start();
    host.emit('reconnected-fresh', { reason });
  }

  #bounded(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#host.connectTimeoutMs)]);
  }

  /**
   * Reconnect-elsewhere (the node drains): new commands wait; once the old
   * connection answered what it had (at most the request timeout), a fresh
   * session elsewhere takes over, the old connection is closed cleanly (the
   * node releases the seat) and the waiting commands go out there.
   */
  async move(): Promise<void> {
    if (!this.enabled || this.#parked !== null) return;
    const host = this.#host;
    const parked: ParkedCommand[] = [];
    this.#parked = parked;
    const waitUntil = Date.now() + host.requestTimeoutMs;
    while (hasUnparked(host.pending, parked) && Date.now() < waitUntil && !host.closed) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (host.closed || this.#reconnecting !== null) {
      // Closed or lost meanwhile: what waited goes with the rest of the client.
      this.#unpark();
      return;
    }
    const controller = new AbortController();
    this.#reconnecting = controller;
    this.#moving = controller;
    const signal = host.signal
      ? AbortSignal.any([host.signal, controller.signal])
      : controller.signal;
    const { outcome } = await reconnectLoop(
      {
        seat: null,
        resume: async () => {},
        fresh: async (_reason, attemptSignal) => {
          const opened = await host.dialFresh(this.#bounded(attemptSignal));
          this.#seat?.acks.stop();
          this.#seat = null; // a clean close: the draining node releases the seat
          host.pause();
          // Answers the old node never gave: those requests may or may not have run there.
          failUnparked(
            host.pending,
            parked,
            clientError(ClientErrorCode.Closed, 'no answer before moving to another node'),
          );
          opened.adopt('moved to another node');
          this.optIn(opened.offer);
          this.#reconnecting = null;
          this.#unpark();
          host.start();
        },
        onAttempt: () => {},
      },
      { attempts: this.#options.attempts, backoff: { ...this.#options.backoff, initialMs: 0 } },
      signal,
    );
    if (this.#reconnecting === controller) this.#reconnecting = null;
    if (this.#moving === controller) this.#moving = null;
    if (outcome === 'fresh') {
      host.emit('reconnected-fresh', { reason: 'TIDEWIRE_ERR_DRAINING' });
      return;
    }
    // No other node took us: stay where we are until the node closes.
    this.#unpark();
  }

  /** Sends the parked commands on the current connection, in order. */
  #unpark(): void {
    const parked = this.#parked ?? [];
    this.#parked = null;
    for (const command of parked) this.#host.transmit(command);
  }
}

function ackReceived(payload: Uint8Array): number | null {
  try {
    const body = unpackBytes(payload) as { received?: unknown } | null;
    return typeof body?.received === 'number' ? body.received : null;
  } catch {
    return null;
  }
}

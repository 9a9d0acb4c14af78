/**
 * The transport-neutral parts of resume (protocol section 13), shared by the
 * node, the Node client and the browser client: the codes, the log of
 * numbered frames a side keeps until the other acknowledges them, and when
 * to acknowledge. No `node:` imports (it is part of `@tidewire/wire/portable`).
 */
import { invalidArgument } from './errors.ts';

/** A resume token: 16 random bytes (128 bits). */
export const RESUME_TOKEN_LENGTH = 16;
/** A side acknowledges after this many numbered frames since its last ack... */
export const ACK_EVERY_FRAMES = 32;
/** ...or this long after the first numbered frame it has not acknowledged. */
export const ACK_DELAY_MS = 1000;
/** Bytes a kept frame counts besides its payload: its header. */
export const KEPT_FRAME_OVERHEAD = 10;

/** Codes of resume refusals and seat releases (protocol section 13.7). */
export const ResumeErrorCode = {
  /** Unknown or used token, malformed resume, a body that does not open, a `received` out of range. */
  Invalid: 'TIDEWIRE_ERR_RESUME_INVALID',
  /** The seat was held for `resumeTtlMs` and released. */
  Expired: 'TIDEWIRE_ERR_RESUME_EXPIRED',
  /** The seat passed its bound of kept frames and was released. */
  Overflow: 'TIDEWIRE_ERR_RESUME_OVERFLOW',
  /** This connection was replaced by a resume on another one. */
  Resumed: 'TIDEWIRE_ERR_RESUMED',
} as const;

export type ResumeErrorCode = (typeof ResumeErrorCode)[keyof typeof ResumeErrorCode];

/**
 * Close codes of a connection that died for a link reason (protocol 13.5),
 * the same on every transport (a WebSocket that dropped, 1006, closes with
 * `TIDEWIRE_ERR_SOCKET`): the server holds the seat after these only, and
 * the client reconnects after these (and after a node that shut down).
 */
export const LINK_LOSS_CODES: ReadonlySet<string> = new Set([
  'TIDEWIRE_CLOSE_PEER_ENDED',
  'TIDEWIRE_ERR_TRUNCATED',
  'TIDEWIRE_ERR_CONNECTION_RESET',
  'TIDEWIRE_ERR_SOCKET',
  'TIDEWIRE_ERR_IDLE_TIMEOUT',
  'TIDEWIRE_ERR_PEER_GONE',
  'TIDEWIRE_ERR_SLOW_CONSUMER',
]);

/** One numbered frame, kept in plaintext (it is sealed again on the next connection). */
export interface KeptFrame {
  readonly number: number;
  readonly ver: number;
  readonly cmd: number;
  readonly status: number;
  readonly payload: Uint8Array;
}

export interface NumberedLogBounds {
  /** Most frames kept. */
  maxFrames: number;
  /** Most bytes kept (payload plus 10 per frame). */
  maxBytes: number;
}

/**
 * The numbered frames one side sent and the other has not acknowledged:
 * numbers count from 1 and go on across connections. `append` refuses a
 * frame that would pass a bound (the log is then `overflowed` and keeps
 * nothing more: resume is off for it).
 */
export class NumberedLog {
  readonly #bounds: NumberedLogBounds;
  /** Acknowledged slots before #head are emptied at once: a kept frame lives until its ack, no longer. */
  #frames: (KeptFrame | undefined)[] = [];
  /** Index of the oldest kept frame in #frames (shifting a big array per ack costs). */
  #head = 0;
  #sent = 0;
  #acknowledged = 0;
  #bytes = 0;
  #overflowed = false;

  constructor(bounds: NumberedLogBounds) {
    if (!(bounds.maxFrames >= 1) || !(bounds.maxBytes >= 1)) {
      throw invalidArgument('numbered log bounds must be at least 1');
    }
    this.#bounds = bounds;
  }

  /** The number of the last frame appended (0 before any). */
  get sent(): number {
    return this.#sent;
  }

  /** The highest number the other side acknowledged. */
  get acknowledged(): number {
    return this.#acknowledged;
  }

  /** Frames kept now. */
  get length(): number {
    return this.#frames.length - this.#head;
  }

  /** Bytes kept now (payload plus 10 per frame). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once a frame did not fit: nothing is kept any more. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /**
   * Numbers a frame and keeps it. Returns its number, or 0 when it passed
   * a bound: the log then drops everything and is overflowed for good.
   */
  append(ver: number, cmd: number, status: number, payload: Uint8Array): number {
    const number = ++this.#sent;
    if (this.#overflowed) return 0;
    const size = payload.length + KEPT_FRAME_OVERHEAD;
    if (this.length + 1 > this.#bounds.maxFrames || this.#bytes + size > this.#bounds.maxBytes) {
      this.#overflowed = true;
      this.#frames = [];
      this.#head = 0;
      this.#bytes = 0;
      return 0;
    }
    this.#frames.push({ number, ver, cmd, status, payload });
    this.#bytes += size;
    return number;
  }

  /**
   * The other side received every frame up to `received`: they are forgotten.
   * False (and nothing changes) when `received` is below an earlier
   * acknowledgement or above what was sent: a protocol error.
   */
  acknowledge(received: number): boolean {
    if (!Number.isInteger(received) || received < this.#acknowledged || received > this.#sent) {
      return false;
    }
    this.#acknowledged = received;
    const frames = this.#frames;
    while (this.#head < frames.length && frames[this.#head]!.number <= received) {
      this.#bytes -= frames[this.#head]!.payload.length + KEPT_FRAME_OVERHEAD;
      // Emptied now: an acknowledged frame (and the buffer its payload is a
      // view of) must not outlive its ack until the next compaction, which
      // would carry every frame into the old generation.
      frames[this.#head] = undefined;
      this.#head++;
    }
    if (this.#head === frames.length) {
      frames.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > frames.length) {
      this.#frames = frames.slice(this.#head);
      this.#head = 0;
    }
    return true;
  }

  /** The kept frames after `received`, in order (what a resume sends again). */
  after(received: number): KeptFrame[] {
    const out: KeptFrame[] = [];
    for (let i = this.#head; i < this.#frames.length; i++) {
      const frame = this.#frames[i]!;
      if (frame.number > received) out.push(frame);
    }
    return out;
  }
}

/**
 * When a side acknowledges what it received: after `ACK_EVERY_FRAMES`
 * numbered frames since its last ack, or `ACK_DELAY_MS` after the first one
 * it has not acknowledged. `send(received)` writes the ack.
 */
export class AckSchedule {
  #received: number;
  #acked: number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #send: (received: number) => void;
  readonly #everyFrames: number;
  readonly #delayMs: number;

  constructor(
    send: (received: number) => void,
    options: { received?: number; everyFrames?: number; delayMs?: number } = {},
  ) {
    this.#send = send;
    this.#received = options.received ?? 0;
    this.#acked = this.#received;
    this.#everyFrames = options.everyFrames ?? ACK_EVERY_FRAMES;
    this.#delayMs = options.delayMs ?? ACK_DELAY_MS;
  }

  /** Numbered frames received so far. */
  get received(): number {
    return this.#received;
  }

  /** Counts one numbered frame received; returns its number. */
  count(): number {
    this.#received++;
    if (this.#received - this.#acked >= this.#everyFrames) this.flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.flush();
      }, this.#delayMs);
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return this.#received;
  }

  /** Sends an ack now if anything is unacknowledged. */
  flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#received === this.#acked) return;
    this.#acked = this.#received;
    this.#send(this.#received);
  }

  /** A new connection: acks go through `send` now; `received` carries on. */
  rebind(send: (received: number) => void): void {
    this.#send = send;
    this.#acked = this.#received;
  }

  /** Stops the timer (the connection is gone); nothing is sent. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/**
 * Seats: reconnect and resume (protocol section 13), written once above the
 * transport seam. A user who opted in has a seat: its reliable frames are
 * numbered and kept until the client acknowledges them, the client's frames
 * are counted, and when the connection dies for a link reason the seat is
 * held for `resume.ttlMs`. A resume request on a new connection (any
 * transport) with the seat's single-use token reattaches the user, sends
 * again what the client missed, and tells the client what the node
 * received, so the client sends again only what never arrived: nothing is
 * lost, nothing runs twice.
 *
 *   hello ok --open()--> seat (token 1) --ack first--> numbered both ways
 *   link loss --closed()--> held --resume(token n)--> attached (token n+1)
 *                                 --ttl / bound / kick--> released (onLeave)
 */
import type { RouterLane } from '@tidewire/command-router';
import {
  AckSchedule,
  CORE_VER,
  CoreCommand,
  createResumeToken,
  deriveResumeKey,
  type Frame,
  LINK_LOSS_CODES,
  type Logger,
  NumberedLog,
  openFrame,
  pack,
  RESUME_TOKEN_LENGTH,
  ResumeErrorCode,
  SessionCipher,
  Status,
  unpack,
} from '@tidewire/wire';
import type { ResumeSection } from './config.ts';
import { ServerErrorCode } from './errors.ts';
import type { ServerState } from './state.ts';
import type { Transport } from './transport-types.ts';
import type { User, UserOutbox } from './user.ts';
import type { UserConnection } from './user-connection.ts';

/** Release codes a late resume is told (others are just invalid). */
const TOLD_CODES: ReadonlySet<string> = new Set([
  ResumeErrorCode.Expired,
  ResumeErrorCode.Overflow,
  ServerErrorCode.Replaced,
  ServerErrorCode.ServerClosing,
]);

/** Released tokens remembered (to tell a late resume why), at most. */
const MAX_RELEASED = 10_000;

export interface SeatsContext {
  readonly logger: Logger;
  resume(): ResumeSection;
  state(): ServerState;
  /** Whether the server seals sessions of `transport` itself (TCP with encryption). */
  encryption(transport: Transport): boolean;
  lane(user: User): RouterLane<User>;
  readonly onUserFrame: (frame: Frame, connection: UserConnection, reliable: boolean) => void;
  /** The seat is given up: the user leaves (rooms, mesh, router, `onLeave`). */
  leave(user: User, code: string): void;
  /** A resumed connection: closes of it go where the user's closes go. */
  reattach(user: User, connection: UserConnection): void;
  /** A connection replaced by a resume: its close only reports `onDisconnect`. */
  detach(user: User, connection: UserConnection): void;
}

/** What the hello answer carries about resume. */
export interface ResumeOffer {
  token: Buffer;
  ttlMs: number;
}

type OptIn = 'pending' | 'yes' | 'no';

class Seat implements UserOutbox {
  held = false;
  optIn: OptIn = 'pending';
  token: Buffer;
  /**
   * The token the last resume used, still accepted until the client's first
   * frame on the resumed connection shows it has the new one (the answer
   * may have been lost with the connection).
   */
  previousKey: string | null = null;
  connection: UserConnection;
  timer: NodeJS.Timeout | null = null;
  readonly user: User;
  /** The session key (hex-decoded); resumed connections of a sealed seat derive theirs from it. */
  readonly sessionKey: Buffer;
  /** True when the session was encrypted (by the server or by the transport). */
  readonly sealed: boolean;
  readonly log: NumberedLog;
  readonly acks: AckSchedule;
  readonly #seats: Seats;

  constructor(
    seats: Seats,
    user: User,
    connection: UserConnection,
    sessionKey: Buffer,
    sealed: boolean,
    bounds: ResumeSection,
  ) {
    this.#seats = seats;
    this.user = user;
    this.connection = connection;
    this.sessionKey = sessionKey;
    this.sealed = sealed;
    this.token = createResumeToken();
    this.log = new NumberedLog({
      maxFrames: bounds.maxBufferedFrames,
      maxBytes: bounds.maxBufferedBytes,
    });
    this.acks = new AckSchedule((received) =>
      user.write(CORE_VER, CoreCommand.Ack, Status.Push, pack({ received })),
    );
  }

  record(ver: number, cmd: number, status: number, payload: Uint8Array): void {
    if (this.log.append(ver, cmd, status, payload) === 0) this.#seats.overflow(this);
  }

  release(code: string): void {
    this.#seats.release(this, code);
  }
}

export class Seats {
  readonly #context: SeatsContext;
  readonly #byToken = new Map<string, Seat>();
  readonly #byUser = new Map<User, Seat>();
  /** Tokens of released seats and why, oldest first, until `until` (ms since epoch). */
  readonly #released = new Map<string, { code: string; until: number }>();

  constructor(context: SeatsContext) {
    this.#context = context;
  }

  /** Seats that exist now (connected or held). */
  get size(): number {
    return this.#byUser.size;
  }

  /** Seats held now. */
  get heldCount(): number {
    let held = 0;
    for (const seat of this.#byUser.values()) if (seat.held) held++;
    return held;
  }

  /**
   * A user said hello: gives it a seat and returns what the hello answer
   * offers, or null when resume is off. The seat takes the user's frames
   * from now on, so the hello answer must be written (unnumbered) first.
   */
  open(
    user: User,
    connection: UserConnection,
    sessionKey: Buffer,
    sealed: boolean,
  ): ResumeOffer | null {
    const config = this.#context.resume();
    if (config.ttlMs <= 0) return null;
    const seat = new Seat(this, user, connection, sessionKey, sealed, config);
    this.#byToken.set(seat.token.toString('hex'), seat);
    this.#byUser.set(user, seat);
    return { token: seat.token, ttlMs: config.ttlMs };
  }

  /** After the hello answer went out: numbered frames from here on. */
  start(user: User): void {
    const seat = this.#byUser.get(user);
    if (seat !== undefined) user.setOutbox(seat);
  }

  /**
   * Every frame an admitted user sends, before anything else looks at it:
   * true when it was an ack (consumed here). Counts the numbered ones.
   */
  frameIn(user: User, frame: Frame, reliable: boolean): boolean {
    const seat = this.#byUser.get(user);
    if (seat === undefined) return false;
    if (seat.previousKey !== null) this.#retirePrevious(seat);
    const ack = frame.ver === CORE_VER && frame.cmd === CoreCommand.Ack;
    if (ack) {
      this.#onAck(seat, frame);
      return true;
    }
    if (!reliable || (frame.ver === CORE_VER && frame.cmd === CoreCommand.Hello)) return false;
    if (seat.optIn === 'pending') this.#optOut(seat);
    else if (seat.optIn === 'yes') seat.acks.count();
    return false;
  }

  #onAck(seat: Seat, frame: Frame): void {
    if (seat.optIn === 'no') return;
    let received: unknown;
    try {
      received = unpack<{ received?: unknown }>(frame.payload)?.received;
    } catch {
      received = undefined;
    }
    if (typeof received !== 'number' || !seat.log.acknowledge(received)) {
      void seat.user.disconnect(ResumeErrorCode.Invalid, 'ack out of range');
      return;
    }
    seat.optIn = 'yes';
  }

  /** The client did not opt in: no seat, nothing kept, the connection ends as before. */
  #optOut(seat: Seat): void {
    seat.optIn = 'no';
    this.#forget(seat);
    seat.user.setOutbox(null);
  }

  /** The seat passed its bound: it can no longer be resumed (released now if held). */
  overflow(seat: Seat): void {
    if (seat.held) {
      this.release(seat, ResumeErrorCode.Overflow);
      return;
    }
    this.#remember(seat.token, ResumeErrorCode.Overflow);
    this.#forget(seat);
    seat.user.setOutbox(null);
    this.#context.logger.warn?.('resume: kept frames passed their bound; the seat cannot resume', {
      userId: seat.user.id,
    });
  }

  /**
   * The user's connection ended (after `onDisconnect`): true when the seat
   * is held, false when the user leaves now (the caller runs the leave).
   */
  closed(user: User, code: string): boolean {
    const seat = this.#byUser.get(user);
    if (seat === undefined) return false;
    const ttlMs = this.#context.resume().ttlMs;
    if (
      seat.optIn !== 'yes' ||
      seat.log.overflowed ||
      user.closedByServer ||
      ttlMs <= 0 ||
      !LINK_LOSS_CODES.has(code)
    ) {
      this.#remember(seat.token, code);
      this.#forget(seat);
      return false;
    }
    seat.held = true;
    seat.acks.stop();
    seat.timer = setTimeout(() => this.release(seat, ResumeErrorCode.Expired), ttlMs);
    seat.timer.unref();
    return true;
  }

  /** Gives the seat up: the token dies and the user leaves with `code`. */
  release(seat: Seat, code: string): void {
    if (this.#byUser.get(seat.user) !== seat) return;
    this.#remember(seat.token, code);
    this.#forget(seat);
    seat.held = false;
    seat.user.setOutbox(null);
    this.#context.leave(seat.user, code);
  }

  #retirePrevious(seat: Seat): void {
    if (seat.previousKey !== null && this.#byToken.get(seat.previousKey) === seat) {
      this.#byToken.delete(seat.previousKey);
    }
    seat.previousKey = null;
  }

  #forget(seat: Seat): void {
    this.#retirePrevious(seat);
    if (seat.timer !== null) clearTimeout(seat.timer);
    seat.timer = null;
    seat.acks.stop();
    const key = seat.token.toString('hex');
    if (this.#byToken.get(key) === seat) this.#byToken.delete(key);
    if (this.#byUser.get(seat.user) === seat) this.#byUser.delete(seat.user);
  }

  #remember(token: Buffer, code: string): void {
    const released = this.#released;
    released.set(token.toString('hex'), {
      code,
      until: Date.now() + this.#context.resume().ttlMs,
    });
    if (released.size > MAX_RELEASED) {
      const oldest = released.keys().next();
      if (oldest.done !== true) released.delete(oldest.value);
    }
  }

  /** Why a token is no good: its release code while remembered, else invalid. */
  #refusal(key: string): string {
    const released = this.#released.get(key);
    if (released === undefined) return ResumeErrorCode.Invalid;
    if (released.until < Date.now()) {
      this.#released.delete(key);
      return ResumeErrorCode.Invalid;
    }
    return TOLD_CODES.has(released.code) ? released.code : ResumeErrorCode.Invalid;
  }

  /**
   * For a transport that checks its id in its own handshake (UDP's INIT):
   * the key that seals a resume with this token, while the token names a
   * seat that can resume (it is not consumed: the resume frame does that).
   */
  resumeKey(token: Uint8Array): Buffer | null {
    if (token.length !== RESUME_TOKEN_LENGTH) return null;
    const seat = this.#byToken.get(Buffer.from(token).toString('hex'));
    if (seat === undefined || seat.optIn !== 'yes') return null;
    return deriveResumeKey(seat.sessionKey, seat.token);
  }

  /**
   * A resume request, the first frame of `connection` (protocol 13.6).
   * `handshakeToken`: the token a UDP handshake accepted (the request must
   * name it). `refuse` answers `Bad` and closes.
   */
  resume(
    connection: UserConnection,
    frame: Frame,
    handshakeToken: Buffer | undefined,
    refuse: (code: string, message: string) => void,
  ): void {
    const context = this.#context;
    if (frame.payload.length < RESUME_TOKEN_LENGTH) {
      refuse(ResumeErrorCode.Invalid, 'resume must carry the 16-byte token');
      return;
    }
    const token = frame.payload.subarray(0, RESUME_TOKEN_LENGTH);
    if (handshakeToken !== undefined && !handshakeToken.equals(token)) {
      refuse(ResumeErrorCode.Invalid, 'resume names another token than its handshake');
      return;
    }
    const key = token.toString('hex');
    const seat = this.#byToken.get(key);
    if (seat === undefined || seat.optIn !== 'yes') {
      refuse(this.#refusal(key), 'no seat to resume with this token');
      return;
    }
    const transport = connection.transport;
    const serverSeals = !connection.sealed && context.encryption(transport);
    if (seat.sealed !== (connection.sealed || serverSeals)) {
      refuse(ResumeErrorCode.Invalid, 'an encrypted seat resumes only encrypted, and the reverse');
      return;
    }
    let cipher: SessionCipher | null = null;
    let body = frame.payload.subarray(RESUME_TOKEN_LENGTH);
    if (serverSeals) {
      cipher = new SessionCipher(deriveResumeKey(seat.sessionKey, seat.token), 'server');
      try {
        body = openFrame(cipher, { ...frame, payload: body }).payload;
      } catch {
        refuse(ResumeErrorCode.Invalid, 'resume must be sealed with the resume key');
        return;
      }
    }
    let received: unknown;
    try {
      received = unpack<{ received?: unknown }>(body)?.received;
    } catch {
      received = undefined;
    }
    if (typeof received !== 'number' || !seat.log.acknowledge(received)) {
      refuse(ResumeErrorCode.Invalid, 'resume: received is out of range');
      return;
    }
    // Accepted; the newest connection wins. The token used stays good only
    // until the client shows (its first frame here) that it got the next one.
    const current = seat.token.toString('hex');
    if (current !== key && this.#byToken.get(current) === seat) this.#byToken.delete(current);
    if (seat.previousKey !== null && seat.previousKey !== key) this.#retirePrevious(seat);
    seat.previousKey = key;
    if (seat.timer !== null) clearTimeout(seat.timer);
    seat.timer = null;
    const previous = seat.connection;
    if (!previous.closed) {
      // Not noticed dead yet (a blackholed path): nothing more is read from it.
      previous.onFrame = null;
      context.detach(seat.user, previous); // its close reports onDisconnect only
      void previous.close(ResumeErrorCode.Resumed, 'the seat was resumed on another connection');
    }
    seat.acks.stop();
    const user = seat.user;
    seat.held = false;
    seat.connection = connection;
    seat.token = Buffer.from(createResumeToken());
    this.#byToken.set(seat.token.toString('hex'), seat);
    user.attach(connection, connection.transport, cipher);
    connection.data = context.lane(user);
    connection.onFrame = context.onUserFrame;
    context.reattach(user, connection);
    user.write(
      CORE_VER,
      CoreCommand.Resume,
      Status.Ok,
      pack({
        userId: user.id,
        serverTime: Date.now(),
        state: context.state(),
        received: seat.acks.received,
        resume: { token: seat.token, ttlMs: context.resume().ttlMs },
      }),
    );
    for (const kept of seat.log.after(received)) {
      user.write(kept.ver, kept.cmd, kept.status, kept.payload);
    }
    seat.acks.rebind((n) =>
      user.write(CORE_VER, CoreCommand.Ack, Status.Push, pack({ received: n })),
    );
  }

  /** Releases every seat (shutdown): held ones leave with `code`. */
  releaseAll(code: string): void {
    for (const seat of [...this.#byUser.values()]) if (seat.held) this.release(seat, code);
  }
}

/**
 * Reconnect and resume, the client's side (protocol section 13): the
 * client's seat (numbered frames it sent and has not seen acknowledged, the
 * count of numbered frames it received, the single-use token), the backoff,
 * the resume handshake on a new connection, and the loop that tries to
 * resume and falls back to a fresh session. The client core calls
 * `reconnectLoop` with a small host of its own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dialTcp, type TcpConnection } from '@tidewire/transport-tcp';
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
import {
  AckSchedule,
  CORE_VER,
  CoreCommand,
  deriveResumeKey,
  encodeFrame,
  type Frame,
  HEADER_SIZE,
  NumberedLog,
  openFrame,
  pack,
  ResumeErrorCode,
  SessionCipher,
  Status,
  sealFrame,
  TidewireError,
  unpack,
} from '@tidewire/wire';
import { ClientErrorCode, clientError } from './errors.ts';
import type { Session } from './session.ts';

/** The transport connection under a client: TCP or reliable UDP. */
export type ClientConnection = TcpConnection | UdpConnection;

export interface BackoffOptions {
  /** Delay before the first attempt, ms. Default 100. */
  initialMs?: number;
  /** Largest delay, ms. Default 5000. */
  maxMs?: number;
  /** Each attempt waits this many times the previous. Default 2. */
  factor?: number;
  /** Fraction of each delay drawn at random (0..1): the delay is `d * (1 - jitter * random)`. Default 0.5. */
  jitter?: number;
}

export interface ReconnectOptions {
  /** Attempts (resume or fresh session) before giving up. Default 10; 0 turns reconnecting off. */
  attempts?: number;
  backoff?: BackoffOptions;
}

export interface ResolvedReconnect {
  attempts: number;
  backoff: Required<BackoffOptions>;
}

export function resolveReconnect(options: ReconnectOptions | false | undefined): ResolvedReconnect {
  if (options === false) return { attempts: 0, backoff: resolveBackoff({}) };
  const attempts = options?.attempts ?? 10;
  if (!Number.isInteger(attempts) || attempts < 0) {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      'reconnect.attempts must be an integer >= 0',
    );
  }
  return { attempts, backoff: resolveBackoff(options?.backoff ?? {}) };
}

function resolveBackoff(b: BackoffOptions): Required<BackoffOptions> {
  const out = {
    initialMs: b.initialMs ?? 100,
    maxMs: b.maxMs ?? 5000,
    factor: b.factor ?? 2,
    jitter: b.jitter ?? 0.5,
  };
  if (
    !(out.initialMs >= 0) ||
    !(out.maxMs >= out.initialMs) ||
    !(out.factor >= 1) ||
    !(out.jitter >= 0 && out.jitter <= 1)
  ) {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      'reconnect.backoff: initialMs >= 0, maxMs >= initialMs, factor >= 1, jitter in 0..1',
    );
  }
  return out;
}

/** The wait before attempt `attempt` (0-based): exponential, capped, with jitter. */
export function backoffDelay(
  attempt: number,
  backoff: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** attempt);
  return Math.round(base * (1 - backoff.jitter * random()));
}

/** Most numbered frames the client keeps unacknowledged (past it, it cannot resume). */
const CLIENT_LOG_BOUNDS = { maxFrames: 4096, maxBytes: 4 * 1024 * 1024 };

/** The client's side of a seat. */
export class ClientSeat {
  token: Buffer;
  ttlMs: number;
  /** When the connection was lost (ms since epoch), 0 while connected. */
  lostAt = 0;
  readonly log: NumberedLog = new NumberedLog(CLIENT_LOG_BOUNDS);
  readonly acks: AckSchedule;

  constructor(token: Buffer, ttlMs: number, sendAck: (received: number) => void) {
    this.token = token;
    this.ttlMs = ttlMs;
    this.acks = new AckSchedule(sendAck);
  }
}

/** The `resume` of a hello or resume answer, when well formed. */
export function resumeOffer(
  body: Record<string, unknown>,
): { token: Buffer; ttlMs: number } | null {
  const resume = body.resume as { token?: unknown; ttlMs?: unknown } | undefined;
  if (typeof resume !== 'object' || resume === null) return null;
  if (!(resume.token instanceof Uint8Array) || resume.token.length !== 16) return null;
  if (typeof resume.ttlMs !== 'number' || !(resume.ttlMs > 0)) return null;
  return { token: Buffer.from(resume.token), ttlMs: resume.ttlMs };
}

/** Frames and a close that arrive between an answer and the client taking over. */
export interface EarlyEvents {
  readonly frames: { frame: Frame; reliable: boolean }[];
  close: { code: string; reason: string; remote: boolean } | null;
}

export interface DialOptions {
  idleTimeoutMs: number;
  /** UDP handshake bound, ms (the transport's default otherwise). */
  udpConnectTimeoutMs?: number;
  maxPayloadLength?: number;
  mtu?: number;
  ackDelayMs?: number;
}

/** Opens a transport connection to the session's node with the given 16-byte id and key. */
export async function dialSession(
  session: Session,
  id: Buffer,
  key: Buffer,
  options: DialOptions,
  signal: AbortSignal,
): Promise<ClientConnection> {
  const maxPayload =
    options.maxPayloadLength !== undefined ? { maxPayloadLength: options.maxPayloadLength } : {};
  if (session.serverType === 'tcp') {
    return dialTcp({
      host: session.host,
      port: session.port,
      signal,
      idleTimeoutMs: options.idleTimeoutMs,
      ...maxPayload,
    });
  }
  return dialUdp({
    host: session.host,
    port: session.port,
    sid: id,
    key,
    encryption: session.encryption === true,
    signal,
    ...(options.udpConnectTimeoutMs !== undefined
      ? { connectTimeoutMs: options.udpConnectTimeoutMs }
      : {}),
    ...(options.idleTimeoutMs > 0 ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
    ...(options.ackDelayMs !== undefined ? { ackDelayMs: options.ackDelayMs } : {}),
    ...maxPayload,
  });
}

/** Waits for the answer (ver 0, `cmd`) and buffers what comes right behind it. */
export function awaitAnswer(
  conn: ClientConnection,
  cmd: number,
  cipher: SessionCipher | null,
  signal: AbortSignal,
): Promise<{ body: Record<string, unknown>; early: EarlyEvents }> {
  const early: EarlyEvents = { frames: [], close: null };
  return new Promise((resolve, reject) => {
    const finish = (fn: () => void): void => {
      signal.removeEventListener('abort', onAbort);
      conn.onFrame = (f: Frame, reliable?: unknown) =>
        early.frames.push({ frame: f, reliable: reliable !== false });
      conn.onClose = (info) => {
        early.close = { code: info.code, reason: info.reason, remote: info.remote };
      };
      fn();
    };
    const onAbort = (): void => finish(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    conn.onFrame = (received: Frame) => {
      if (received.ver !== CORE_VER || received.cmd !== cmd) return;
      finish(() => {
        let body: Record<string, unknown>;
        let frame = received;
        try {
          // A sealed answer (Ok) proves the server holds the key too; refusals are plain.
          if (cipher !== null && received.status === Status.Ok) frame = openFrame(cipher, received);
          body = unpack<Record<string, unknown>>(frame.payload);
        } catch (err) {
          reject(clientError(ClientErrorCode.HelloRefused, 'malformed answer', err));
          return;
        }
        if (frame.status !== Status.Ok) {
          reject(
            new TidewireError(
              typeof body.code === 'string' && cmd === CoreCommand.Resume
                ? body.code
                : ClientErrorCode.HelloRefused,
              `${cmd === CoreCommand.Resume ? 'resume' : 'hello'} refused: ${String(body.code)} ${String(body.message)}`,
            ),
          );
          return;
        }
        resolve({ body, early });
      });
    };
    conn.onClose = (info) =>
      finish(() =>
        reject(
          clientError(
            ClientErrorCode.HelloRefused,
            `closed during ${cmd === CoreCommand.Resume ? 'resume' : 'hello'}: ${info.code} ${info.reason}`,
          ),
        ),
      );
  });
}

export interface Resumed {
  conn: ClientConnection;
  cipher: SessionCipher | null;
  /** Numbered frames the node received. */
  received: number;
  state: string;
  next: { token: Buffer; ttlMs: number } | null;
  early: EarlyEvents;
}

/** Opens a new connection and resumes the seat on it (protocol section 13.6). */
export async function resumeSeat(
  session: Session,
  seat: ClientSeat,
  options: DialOptions,
  signal: AbortSignal,
): Promise<Resumed> {
  const token = seat.token;
  const resumeKey = deriveResumeKey(Buffer.from(session.key, 'hex'), token);
  const conn = await dialSession(session, token, resumeKey, options, signal);
  try {
    const cipher =
      session.serverType === 'tcp' && session.encryption === true
        ? new SessionCipher(resumeKey, 'client')
        : null;
    const body = pack({ received: seat.acks.received });
    const sealedBody =
      cipher === null
        ? body
        : sealFrame(cipher, CORE_VER, CoreCommand.Resume, Status.Request, body).subarray(
            HEADER_SIZE,
          );
    const answer = awaitAnswer(conn, CoreCommand.Resume, cipher, signal);
    conn.send(
      encodeFrame(CORE_VER, CoreCommand.Resume, Status.Request, Buffer.concat([token, sealedBody])),
    );
    const { body: ok, early } = await answer;
    if (typeof ok.received !== 'number') {
      throw clientError(ClientErrorCode.HelloRefused, 'resume answer without received');
    }
    return {
      conn,
      cipher,
      received: ok.received,
      state: String(ok.state),
      next: resumeOffer(ok),
      early,
    };
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

/** Refusals after which this seat cannot resume: the client goes for a fresh session. */
export function isSeatGone(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    code === ResumeErrorCode.Invalid ||
    code === ResumeErrorCode.Expired ||
    code === ResumeErrorCode.Overflow ||
    code === 'TIDEWIRE_ERR_REPLACED' ||
    code === 'TIDEWIRE_ERR_SERVER_CLOSING' ||
    code === 'TIDEWIRE_ERR_HELLO_REQUIRED' ||
    // Nothing listens there any more: the node is gone.
    code === 'TIDEWIRE_ERR_CONNECT_FAILED'
  );
}

/** What the reconnect loop needs of the client core. */
export interface ReconnectHost {
  /** The seat to resume, or null (the client goes straight for a fresh session). */
  readonly seat: ClientSeat | null;
  /** Why a fresh session when there is no seat to resume (the close code). */
  readonly noSeatReason?: string;
  /** Resumes the seat on a new connection (throws on failure). */
  resume(signal: AbortSignal): Promise<void>;
  /** Gets a new session and says hello (throws on failure); `reason`: why not resumed. */
  fresh(reason: string, signal: AbortSignal): Promise<void>;
  /** Before each attempt; `error`: the code of the previous attempt's failure, if any. */
  onAttempt(info: { attempt: number; delayMs: number; error?: string }): void;
}

/**
 * Tries to resume, with backoff, while the seat can be held; then a fresh
 * session. Resolves 'resumed', 'fresh' or 'gave-up' (attempts spent, or
 * aborted: 'aborted').
 */
export async function reconnectLoop(
  host: ReconnectHost,
  options: ResolvedReconnect,
  signal: AbortSignal,
): Promise<{ outcome: 'resumed' | 'fresh' | 'gave-up' | 'aborted'; lastError: unknown }> {
  let resumable = host.seat !== null;
  let reason = host.seat === null ? (host.noSeatReason ?? 'TIDEWIRE_ERR_RESUME_UNAVAILABLE') : '';
  let lastError: unknown = null;
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    const delayMs = backoffDelay(attempt, options.backoff);
    const error = (lastError as { code?: unknown } | null)?.code;
    host.onAttempt({
      attempt: attempt + 1,
      delayMs,
      ...(error !== undefined ? { error: String(error) } : {}),
    });
    try {
      await sleep(delayMs, undefined, { signal });
    } catch {
      return { outcome: 'aborted', lastError };
    }
    const seat = host.seat;
    if (resumable && seat !== null && Date.now() - seat.lostAt >= seat.ttlMs) {
      resumable = false;
      reason = ResumeErrorCode.Expired;
    }
    try {
      if (resumable) {
        await host.resume(signal);
        return { outcome: 'resumed', lastError };
      }
      await host.fresh(reason, signal);
      return { outcome: 'fresh', lastError };
    } catch (err) {
      if (signal.aborted) return { outcome: 'aborted', lastError: err };
      lastError = err;
      if (resumable && isSeatGone(err)) {
        resumable = false;
        reason = String((err as { code?: unknown }).code);
      }
    }
  }
  return { outcome: 'gave-up', lastError };
}

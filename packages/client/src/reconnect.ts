/**
 * Reconnect and resume over Node's transports (protocol section 13): dialing
 * a session's node over TCP, UDP or WebSocket, waiting for the hello or
 * resume answer, and the resume handshake on a new connection. What does
 * not depend on the transport (the seat, the backoff, the loop, the
 * reconnector) is under resume/, shared with the browser client.
 */
import { dialTcp, type TcpConnection } from '@tidewire/transport-tcp';
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
import { dialWs, type WsConnection } from '@tidewire/transport-ws';
import {
  CORE_VER,
  CoreCommand,
  deriveResumeKey,
  encodeFrame,
  type Frame,
  HEADER_SIZE,
  openFrame,
  pack,
  SessionCipher,
  Status,
  sealFrame,
  TidewireError,
  unpack,
} from '@tidewire/wire';
import { ClientErrorCode, clientError } from './errors.ts';
import { type ClientSeat, type ResumeOffer, resumeOffer } from './resume/seat.ts';
import type { Session } from './session.ts';

/** The transport connection under a client: TCP or reliable UDP. */
export type ClientConnection = TcpConnection | UdpConnection | WsConnection;

/** What every transport's `onClose` is told. */
export interface TransportCloseInfo {
  code: string;
  reason: string;
  remote: boolean;
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
  if (session.serverType === 'ws') {
    return dialWs({
      url: session.url ?? '',
      signal,
      ...(options.udpConnectTimeoutMs !== undefined
        ? { connectTimeoutMs: options.udpConnectTimeoutMs }
        : {}),
      idleTimeoutMs: options.idleTimeoutMs,
      ...maxPayload,
    });
  }
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
      conn.onClose = (info: TransportCloseInfo) => {
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
    conn.onClose = (info: TransportCloseInfo) =>
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
  next: ResumeOffer | null;
  early: EarlyEvents;
}

/** Opens a new connection and resumes the seat on it (protocol section 13.6). */
export async function resumeSeat(
  session: Session,
  seat: ClientSeat,
  options: DialOptions,
  signal: AbortSignal,
): Promise<Resumed> {
  const token = Buffer.from(seat.token);
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

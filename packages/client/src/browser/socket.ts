/**
 * The browser's WebSocket under the client: opening one, and waiting for the
 * hello or resume answer on it while keeping what comes right behind the
 * answer for the client to take over.
 */
import {
  CORE_VER,
  CoreCommand,
  decodeFrameBytes,
  type FrameBytes,
  Status,
  TidewireError,
  unpackBytes,
} from '@tidewire/wire/portable';
import { ClientErrorCode, clientError } from '../errors.ts';

/** A WebSocket that did not open or broke: a link loss, worth another attempt. */
export const SOCKET_ERROR = 'TIDEWIRE_ERR_SOCKET';

/** Frames and a close that arrive between an answer and the client taking over. */
export interface SocketEarly {
  readonly frames: FrameBytes[];
  close: { code: number; reason: string } | null;
}

/** Opens a binary WebSocket to `url`; rejects `TIDEWIRE_ERR_SOCKET` when it does not open. */
export function openSocket(url: string, signal: AbortSignal): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    const settle = (err?: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      socket.onopen = socket.onerror = socket.onclose = null;
      if (err === undefined) {
        resolve(socket);
        return;
      }
      socket.close();
      reject(err);
    };
    const onAbort = (): void => settle(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.onopen = () => settle();
    socket.onerror = socket.onclose = () =>
      settle(new TidewireError(SOCKET_ERROR, `cannot open ${url}`));
  });
}

/**
 * Waits for the answer (ver 0, `cmd`) on `socket`; frames after it, and a
 * close, wait in `early`. A refused resume rejects with the server's code.
 */
export function awaitAnswer(
  socket: WebSocket,
  cmd: number,
  maxPayloadLength: number,
  signal: AbortSignal,
): Promise<{ body: Record<string, unknown>; early: SocketEarly }> {
  const what = cmd === CoreCommand.Resume ? 'resume' : 'hello';
  const early: SocketEarly = { frames: [], close: null };
  return new Promise((resolve, reject) => {
    let answered = false;
    const fail = (err: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      socket.onmessage = socket.onclose = null;
      socket.close();
      reject(err);
    };
    const onAbort = (): void => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const onAnswer = (frame: FrameBytes): void => {
      let body: Record<string, unknown>;
      try {
        body = unpackBytes(frame.payload) as Record<string, unknown>;
      } catch (err) {
        fail(clientError(ClientErrorCode.HelloRefused, 'malformed answer', err));
        return;
      }
      if (frame.status !== Status.Ok) {
        const code =
          typeof body.code === 'string' && cmd === CoreCommand.Resume
            ? body.code
            : ClientErrorCode.HelloRefused;
        fail(
          new TidewireError(code, `${what} refused: ${String(body.code)} ${String(body.message)}`),
        );
        return;
      }
      answered = true;
      signal.removeEventListener('abort', onAbort);
      socket.onclose = (event) => {
        early.close = { code: event.code, reason: event.reason };
      };
      resolve({ body, early });
    };
    socket.onmessage = (event) => {
      try {
        decodeFrameBytes(
          new Uint8Array(event.data as ArrayBuffer),
          (frame) => {
            if (answered) early.frames.push(frame);
            else if (frame.ver === CORE_VER && frame.cmd === cmd) onAnswer(frame);
          },
          maxPayloadLength,
        );
      } catch (err) {
        if (!answered) fail(clientError(ClientErrorCode.HelloRefused, 'malformed answer', err));
        else early.close = { code: 1002, reason: (err as { code?: string }).code ?? '' };
      }
    };
    socket.onclose = (event) =>
      fail(
        clientError(
          ClientErrorCode.HelloRefused,
          `closed during ${what}: ${event.code} ${event.reason}`,
        ),
      );
  });
}

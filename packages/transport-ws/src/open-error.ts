import type { TidewireError } from '@tidewire/wire';
import { WsErrorCode, wsError } from './errors.ts';

/**
 * Socket errors that mean a connection was made and then broke (reset, or
 * closed by the peer or a middlebox before the upgrade answer): the path
 * failed, not the server. Anything else (refused, unreachable, no such
 * host, an HTTP refusal of the upgrade) means nothing there takes the
 * WebSocket.
 */
const BROKEN_AFTER_CONNECT: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** The typed error for a WebSocket that did not open. */
export function openError(url: string, err: Error): TidewireError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && BROKEN_AFTER_CONNECT.has(code)) {
    return wsError(
      WsErrorCode.SocketClosed,
      `${url}: the connection broke while opening (${err.message})`,
      err,
    );
  }
  return wsError(WsErrorCode.ConnectFailed, `cannot open ${url}: ${err.message}`, err);
}

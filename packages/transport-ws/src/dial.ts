import WebSocket from 'ws';
import { WsConnection } from './connection.ts';
import { WsErrorCode, wsError } from './errors.ts';
import { openError } from './open-error.ts';
import type { WsConnectionOptions } from './options.ts';

export interface WsDialOptions extends WsConnectionOptions {
  /** The full `ws://` or `wss://` URL. */
  url: string;
  /** Sent as the Origin header (browsers send their page's). */
  origin?: string;
  /** Bound on the TCP connect and the opening handshake together. Default 5000 ms. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_WS_CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens a WebSocket (Node, with `ws`) and resolves with its connection once
 * open. Rejects with `TIDEWIRE_ERR_CONNECT_FAILED` (nothing accepted the
 * connection, or the server refused the upgrade with an HTTP status),
 * `TIDEWIRE_ERR_CONNECT_TIMEOUT` (not open within `connectTimeoutMs`: a
 * stalled path), `TIDEWIRE_ERR_SOCKET` (the connection broke during the
 * opening handshake: a link loss), or the signal's reason on abort.
 */
export function dialWs(options: WsDialOptions): Promise<WsConnection> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_WS_CONNECT_TIMEOUT_MS;
    const socket = new WebSocket(options.url, {
      perMessageDeflate: false,
      ...(options.maxMessageBytes !== undefined ? { maxPayload: options.maxMessageBytes } : {}),
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
    });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('open', onOpen);
      socket.off('error', onError);
    };
    const fail = (err: unknown): void => {
      cleanup();
      // Terminating a socket that is still opening reports an error of its own: not ours any more.
      socket.on('error', () => {});
      socket.terminate();
      reject(err);
    };
    const onAbort = (): void => fail(signal?.reason);
    const onError = (err: Error): void => fail(openError(options.url, err));
    const onOpen = (): void => {
      cleanup();
      const raw = (
        socket as unknown as { _socket?: { remoteAddress?: string; remotePort?: number } }
      )._socket;
      resolve(
        new WsConnection(
          socket,
          { address: raw?.remoteAddress ?? '', port: raw?.remotePort ?? 0 },
          options,
        ),
      );
    };
    const timer = setTimeout(
      () =>
        fail(
          wsError(WsErrorCode.ConnectTimeout, `${options.url} did not open within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('open', onOpen);
    socket.once('error', onError);
  });
}

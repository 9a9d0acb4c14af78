import WebSocket from 'ws';
import { WsConnection } from './connection.ts';
import { WsErrorCode, wsError } from './errors.ts';
import type { WsConnectionOptions } from './options.ts';

export interface WsDialOptions extends WsConnectionOptions {
  /** The full `ws://` or `wss://` URL. */
  url: string;
  /** Sent as the Origin header (browsers send their page's). */
  origin?: string;
  /** Default 5000 ms. */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Opens a WebSocket (Node, with `ws`) and resolves with its connection once open. */
export function dialWs(options: WsDialOptions): Promise<WsConnection> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(options.url, {
      perMessageDeflate: false,
      handshakeTimeout: options.connectTimeoutMs ?? 5000,
      ...(options.maxMessageBytes !== undefined ? { maxPayload: options.maxMessageBytes } : {}),
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
    });
    const onAbort = (): void => {
      socket.terminate();
      reject(options.signal?.reason);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('open', () => {
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
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
    });
    socket.once('error', (err) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(wsError(WsErrorCode.ConnectFailed, `cannot open ${options.url}: ${err.message}`, err));
    });
  });
}

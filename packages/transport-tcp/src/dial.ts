import * as net from 'node:net';
import { TcpConnection } from './connection.ts';
import { abortReason, TcpErrorCode, tcpError } from './errors.ts';
import { checkInteger, resolveConnectionOptions, type TcpConnectionOptions } from './options.ts';

export interface TcpDialOptions extends TcpConnectionOptions {
  host: string;
  port: number;
  /** Aborting before the connection is up destroys the socket and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Default 5000; 0 disables. */
  connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects to a Tidewire TCP endpoint. Rejects with a `TidewireError`
 * (`TIDEWIRE_ERR_CONNECT_FAILED` with the socket error as `cause`,
 * `TIDEWIRE_ERR_CONNECT_TIMEOUT`), or with the signal's reason on abort.
 */
export function dialTcp(options: TcpDialOptions): Promise<TcpConnection> {
  return new Promise<TcpConnection>((resolve, reject) => {
    const { host, port, signal } = options;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    checkInteger('connectTimeoutMs', timeoutMs, 0, 0x7fff_ffff);
    checkInteger('port', port, 1, 65535);
    const resolved = resolveConnectionOptions(options);
    // Node passes stream options through to the socket; @types/node omits this one.
    const connectOptions: net.TcpNetConnectOpts & { writableHighWaterMark: number } = {
      host,
      port,
      noDelay: resolved.noDelay,
      writableHighWaterMark: resolved.highWaterMark,
    };
    const socket = net.connect(connectOptions);
    let timer: NodeJS.Timeout | null = null;

    const cleanup = (): void => {
      if (timer !== null) clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => {
      cleanup();
      try {
        resolve(new TcpConnection(socket, options));
      } catch (err) {
        socket.destroy();
        reject(err);
      }
    };
    const onError = (err: Error): void => {
      fail(
        tcpError(
          TcpErrorCode.ConnectFailed,
          `cannot connect to ${host}:${port}: ${err.message}`,
          err,
        ),
      );
    };
    const onTimeout = (): void => {
      timer = null;
      fail(
        tcpError(
          TcpErrorCode.ConnectTimeout,
          `no connection to ${host}:${port} within ${timeoutMs} ms`,
        ),
      );
    };
    const onAbort = (): void => {
      fail(abortReason(signal as AbortSignal));
    };

    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs > 0) {
      timer = setTimeout(onTimeout, timeoutMs);
    }
  });
}

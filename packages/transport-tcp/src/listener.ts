import * as net from 'node:net';
import { type Logger, TidewireError, WireErrorCode } from '@tidewire/wire';
import { setGoneHook, TcpConnection } from './connection.ts';
import { abortReason, TcpErrorCode, tcpError } from './errors.ts';
import {
  CLOSE_TIMEOUT_MS,
  checkInteger,
  resolveConnectionOptions,
  type TcpConnectionOptions,
} from './options.ts';

export interface TcpListenerOptions extends TcpConnectionOptions {
  /** Address to bind. Default '127.0.0.1'. */
  host?: string;
  /** Port to bind. Default 0: an ephemeral port (read it from `listener.port`). */
  port?: number;
  /** Length of the kernel's queue of pending connections. Default: Node's (511). */
  backlog?: number;
  /** Connections beyond this many open ones are destroyed as soon as accepted. Default Infinity. */
  maxConnections?: number;
  /** Aborting closes the listener, as `close()` does. */
  signal?: AbortSignal;
}

export interface TcpListenerCloseOptions {
  /** How long open connections get to close after the disconnect frame before they are destroyed. Default 1000. */
  graceMs?: number;
}

export interface TcpListener {
  /** The bound address. */
  readonly host: string;
  /** The bound port. */
  readonly port: number;
  /** Open connections (accepted and not yet gone). */
  readonly connections: ReadonlySet<TcpConnection>;
  /**
   * Stops accepting, sends every open connection a disconnect frame with code
   * `TIDEWIRE_ERR_SERVER_CLOSING`, destroys those still open after `graceMs`,
   * and resolves when every socket is gone. Idempotent.
   */
  close(options?: TcpListenerCloseOptions): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Listens for TCP connections speaking wire frames and calls `onConnection`
 * for each accepted one (set `onFrame` / `onClose` there). Rejects with
 * `TIDEWIRE_ERR_LISTEN_FAILED` when the address cannot be bound, or with the
 * signal's reason when `signal` is aborted first.
 */
export async function listenTcp(
  options: TcpListenerOptions,
  onConnection: (connection: TcpConnection) => void,
): Promise<TcpListener> {
  const { signal } = options;
  if (signal?.aborted) throw abortReason(signal);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  checkInteger('port', port, 0, 65535);
  const maxConnections = options.maxConnections ?? Number.POSITIVE_INFINITY;
  if (!(maxConnections >= 0)) {
    throw new TidewireError(
      WireErrorCode.InvalidArgument,
      `maxConnections must be >= 0, got ${String(maxConnections)}`,
    );
  }
  const resolved = resolveConnectionOptions(options);
  const server = net.createServer({
    noDelay: resolved.noDelay,
    highWaterMark: resolved.highWaterMark,
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        tcpError(
          TcpErrorCode.ListenFailed,
          `cannot listen on ${host}:${port}: ${err.message}`,
          err,
        ),
      );
    };
    server.once('error', onError);
    const listenOptions: net.ListenOptions = { host, port };
    if (options.backlog !== undefined) listenOptions.backlog = options.backlog;
    server.listen(listenOptions, () => {
      server.off('error', onError);
      resolve();
    });
  });
  if (signal?.aborted) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw abortReason(signal);
  }
  return new Listener(server, options, maxConnections, resolved.logger, onConnection);
}

class Listener implements TcpListener {
  readonly host: string;
  readonly port: number;
  readonly #connections = new Set<TcpConnection>();
  readonly #server: net.Server;
  readonly #options: TcpConnectionOptions;
  readonly #maxConnections: number;
  readonly #logger: Logger | undefined;
  readonly #onConnection: (connection: TcpConnection) => void;
  readonly #signal: AbortSignal | undefined;
  #closing: Promise<void> | null = null;

  constructor(
    server: net.Server,
    options: TcpListenerOptions,
    maxConnections: number,
    logger: Logger | undefined,
    onConnection: (connection: TcpConnection) => void,
  ) {
    const address = server.address() as net.AddressInfo;
    this.host = address.address;
    this.port = address.port;
    this.#server = server;
    this.#options = options;
    this.#maxConnections = maxConnections;
    this.#logger = logger;
    this.#onConnection = onConnection;
    this.#signal = options.signal;
    server.on('connection', this.#onSocket);
    server.on('error', this.#onServerError);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get connections(): ReadonlySet<TcpConnection> {
    return this.#connections;
  }

  close(options: TcpListenerCloseOptions = {}): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    const graceMs = options.graceMs ?? CLOSE_TIMEOUT_MS;
    checkInteger('graceMs', graceMs, 0, 0x7fff_ffff);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const server = this.#server;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    const closing: Promise<void>[] = [serverClosed];
    for (const connection of this.#connections) {
      closing.push(
        connection.close(TcpErrorCode.ServerClosing, 'server is closing', { timeoutMs: graceMs }),
      );
    }
    this.#closing = Promise.all(closing).then(() => {
      server.off('connection', this.#onSocket);
      server.off('error', this.#onServerError);
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  readonly #onSocket = (socket: net.Socket): void => {
    if (this.#closing !== null || this.#connections.size >= this.#maxConnections) {
      this.#logger?.debug?.('tcp: connection refused', {
        remoteAddress: socket.remoteAddress,
        reason: this.#closing !== null ? 'closing' : 'maxConnections',
      });
      socket.destroy();
      return;
    }
    let connection: TcpConnection;
    try {
      connection = new TcpConnection(socket, this.#options);
    } catch (err) {
      // The peer reset before we saw it (no remote address): nothing to serve.
      this.#logger?.debug?.('tcp: dropped a socket that closed while accepted', { error: err });
      socket.destroy();
      return;
    }
    this.#connections.add(connection);
    setGoneHook(connection, this.#onGone);
    try {
      this.#onConnection(connection);
    } catch (err) {
      this.#logger?.error?.('tcp: onConnection threw; destroying the connection', { error: err });
      connection.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  };

  readonly #onGone = (connection: TcpConnection): void => {
    this.#connections.delete(connection);
  };

  readonly #onServerError = (err: Error): void => {
    this.#logger?.error?.('tcp: listener error', { host: this.host, port: this.port, error: err });
  };

  readonly #onAbort = (): void => {
    void this.close();
  };
}

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Logger, TidewireError, WireErrorCode } from '@tidewire/wire';
import { WebSocketServer } from 'ws';
import { rejectChannel } from './channels.ts';
import { WsConnection } from './connection.ts';
import { WsErrorCode, wsError } from './errors.ts';
import { DEFAULT_WS_PATH, resolveWsOptions, type WsConnectionOptions } from './options.ts';
import { type OriginPolicy, originAllowed } from './origin.ts';

/** Refuses an upgrade: the HTTP status and a short reason sent back. */
export interface UpgradeRefusal {
  status: number;
  reason: string;
}

export interface WsListenerOptions extends WsConnectionOptions {
  /**
   * Attach to this HTTP server's `upgrade` event (one origin and one port for
   * pages). Without it the listener opens an HTTP server of its own on
   * `host`/`port`.
   */
  server?: Server;
  /** Address and port of the listener's own server (without `server`). Default 127.0.0.1:0. */
  host?: string;
  port?: number;
  /** The upgrade path. Default '/v1/ws'. */
  path?: string;
  /** Allowed page origins (see `originAllowed`). Default: the node's own host and localhost. */
  allowedOrigins?: OriginPolicy;
  /** permessage-deflate. Default false (CPU and memory per connection; frames are small). */
  perMessageDeflate?: boolean;
  /** Upgrades beyond this many open connections are refused with 503. Default Infinity. */
  maxConnections?: number;
  /**
   * Runs before the upgrade is accepted: return a refusal to answer an HTTP
   * error instead (e.g. check a token in the URL). Default: accept.
   */
  verifyUpgrade?: (
    request: IncomingMessage,
  ) => UpgradeRefusal | null | Promise<UpgradeRefusal | null>;
}

export interface WsListener {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly connections: ReadonlySet<WsConnection>;
  /** Stops accepting, closes every connection with `TIDEWIRE_ERR_SERVER_CLOSING` (1001), resolves when all are gone. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Accepts WebSocket upgrades on `path` and calls `onConnection` for each
 * (set `onFrame` / `onClose` there). Refused upgrades get an HTTP answer:
 * 403 for an Origin not allowed, 503 past `maxConnections` or while closing,
 * or what `verifyUpgrade` says.
 */
export async function listenWs(
  options: WsListenerOptions,
  onConnection: (connection: WsConnection) => void,
): Promise<WsListener> {
  const resolved = resolveWsOptions(options);
  let server = options.server;
  let own = false;
  if (server === undefined) {
    own = true;
    server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('websocket upgrade required');
    });
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    const target = server;
    await new Promise<void>((resolve, reject) => {
      target.once('error', (err) =>
        reject(
          wsError(
            WsErrorCode.ListenFailed,
            `cannot listen on ${host}:${port}: ${err.message}`,
            err,
          ),
        ),
      );
      target.listen(port, host, () => resolve());
    });
  } else if (!server.listening) {
    throw new TidewireError(WireErrorCode.InvalidArgument, 'the HTTP server must be listening');
  }
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: resolved.maxMessageBytes,
    perMessageDeflate: options.perMessageDeflate ?? false,
    clientTracking: false,
  });
  return new Listener(server, own, wss, options, resolved.logger, onConnection);
}

class Listener implements WsListener {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly #connections = new Set<WsConnection>();
  readonly #server: Server;
  readonly #own: boolean;
  readonly #wss: WebSocketServer;
  readonly #options: WsListenerOptions;
  readonly #logger: Logger | undefined;
  readonly #onConnection: (connection: WsConnection) => void;
  readonly #maxConnections: number;
  #upgrading = 0;
  #closing: Promise<void> | null = null;

  constructor(
    server: Server,
    own: boolean,
    wss: WebSocketServer,
    options: WsListenerOptions,
    logger: Logger | undefined,
    onConnection: (connection: WsConnection) => void,
  ) {
    const address = server.address() as AddressInfo;
    this.host = address.address;
    this.port = address.port;
    this.path = options.path ?? DEFAULT_WS_PATH;
    this.#server = server;
    this.#own = own;
    this.#wss = wss;
    this.#options = options;
    this.#logger = logger;
    this.#onConnection = onConnection;
    this.#maxConnections = options.maxConnections ?? Number.POSITIVE_INFINITY;
    server.on('upgrade', this.#onUpgrade);
  }

  get connections(): ReadonlySet<WsConnection> {
    return this.#connections;
  }

  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#server.off('upgrade', this.#onUpgrade);
    const closing: Promise<void>[] = [];
    for (const connection of this.#connections) {
      closing.push(connection.close(WsErrorCode.ServerClosing, 'server is closing'));
    }
    this.#closing = Promise.all(closing).then(async () => {
      this.#wss.close();
      if (this.#own) {
        const server = this.#server;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      }
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = (request.url ?? '/').split('?', 1)[0];
    if (pathname !== this.path) {
      // Another upgrade listener may own that path; alone, answer 404.
      if (this.#server.listenerCount('upgrade') === 1) refuse(socket, request, 404, 'not found');
      return;
    }
    socket.on('error', ignore);
    if (this.#closing !== null) {
      refuse(socket, request, 503, 'server is closing');
      return;
    }
    if (this.#connections.size + this.#upgrading >= this.#maxConnections) {
      refuse(socket, request, 503, 'too many connections');
      return;
    }
    if (!originAllowed(request, this.#options.allowedOrigins)) {
      this.#logger?.info?.('ws: upgrade refused: origin not allowed', {
        origin: request.headers.origin,
      });
      refuse(socket, request, 403, 'origin not allowed');
      return;
    }
    this.#upgrading++;
    const verify = this.#options.verifyUpgrade;
    Promise.resolve(verify === undefined ? null : verify(request))
      .then((refusal) => {
        if (refusal !== null) {
          this.#upgrading--;
          refuse(socket, request, refusal.status, refusal.reason);
          return;
        }
        if (this.#closing !== null || socket.destroyed) {
          this.#upgrading--;
          refuse(socket, request, 503, 'server is closing');
          return;
        }
        this.#wss.handleUpgrade(request, socket, head, (ws) => {
          this.#upgrading--;
          this.#accept(ws, request);
        });
      })
      .catch((err: unknown) => {
        this.#upgrading--;
        this.#logger?.error?.('ws: verifyUpgrade threw', { error: err });
        refuse(socket, request, 500, 'internal error');
      });
  };

  #accept(ws: import('ws').WebSocket, request: IncomingMessage): void {
    const connection = new WsConnection(
      ws,
      {
        address: request.socket.remoteAddress ?? '',
        port: request.socket.remotePort ?? 0,
        ...(request.headers.origin !== undefined ? { origin: request.headers.origin } : {}),
      },
      this.#options,
    );
    this.#connections.add(connection);
    void connection.whenClosed().then(() => this.#connections.delete(connection));
    if (this.#closing !== null) {
      void connection.close(WsErrorCode.ServerClosing, 'server is closing');
      return;
    }
    try {
      this.#onConnection(connection);
    } catch (err) {
      this.#logger?.error?.('ws: onConnection threw; dropping the connection', { error: err });
      connection.destroy();
    }
  }
}

function ignore(): void {}

function refuse(socket: Duplex, request: IncomingMessage, status: number, reason: string): void {
  if (rejectChannel.hasSubscribers) {
    rejectChannel.publish({ remoteAddress: request.socket.remoteAddress ?? '', status, reason });
  }
  if (!socket.destroyed && socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
    );
  }
  setTimeout(() => socket.destroy(), 1000).unref();
}

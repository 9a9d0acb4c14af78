/**
 * The WebSocket transport behind the server's seam (`@tidewire/transport-ws`):
 * upgrades on the HTTP endpoint's port at `ws.path` (or a port of its own),
 * then the first frame is the hello, as over TCP.
 */
import { listenWs, type WsConnection } from '@tidewire/transport-ws';
import type { Frame } from '@tidewire/wire';
import { WSType } from '../transport-types.ts';
import type { TransportAdapter, UserConnection } from '../user-connection.ts';

/** A WebSocket connection as a `UserConnection`; `reliable: false` is delivered reliably. */
class WsUserConnection implements UserConnection {
  readonly transport = WSType;
  readonly sealed = false;
  readonly rttMs = 0;
  onFrame: ((frame: Frame, connection: UserConnection, reliable: boolean) => void) | null = null;
  onClose: ((code: string) => void) | null = null;
  data: unknown = undefined;
  readonly #connection: WsConnection;

  constructor(connection: WsConnection) {
    this.#connection = connection;
    connection.data = this;
    connection.onFrame = forwardFrame;
    connection.onClose = (info) => this.onClose?.(info.code);
  }

  get remoteAddress(): string {
    return this.#connection.remoteAddress;
  }

  get remotePort(): number {
    return this.#connection.remotePort;
  }

  get closed(): boolean {
    return this.#connection.closed;
  }

  send(frame: Uint8Array): boolean {
    return this.#connection.send(frame);
  }

  close(code?: string, reason?: string): Promise<void> {
    return this.#connection.close(code, reason);
  }

  destroy(): void {
    this.#connection.destroy();
  }
}

function forwardFrame(frame: Frame, connection: WsConnection): void {
  const user = connection.data as WsUserConnection;
  // Every WebSocket frame is reliable: resume numbers it (protocol section 13.1).
  user.onFrame?.(frame, user, true);
}

export const wsTransport: TransportAdapter = {
  type: WSType,
  // WebSocket sessions are not sealed by Tidewire: use wss:// (TLS at a proxy).
  encryption: () => false,
  maxConnections: (config) => config.ws.maxConnections,
  async listen(config, host) {
    const ws = config.ws;
    const origins = ws.allowedOrigins;
    const listener = await listenWs(
      {
        ...(ws.port === 0 ? { server: host.httpServer } : { host: ws.address, port: ws.port }),
        path: ws.path,
        maxPayloadLength: ws.maxRcvSize,
        idleTimeoutMs: ws.connectionTTL * 1000,
        maxBufferedBytes: ws.maxSendQueue,
        perMessageDeflate: ws.perMessageDeflate,
        allowedOrigins: origins.includes('*') ? '*' : origins,
        ...(ws.maxConnections > 0 ? { maxConnections: ws.maxConnections } : {}),
        logger: host.logger,
      },
      (connection) => host.accept(new WsUserConnection(connection)),
    );
    return { host: listener.host, port: listener.port, close: () => listener.close() };
  },
};

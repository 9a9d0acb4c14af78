/** The TCP transport behind the server's seam (`@tidewire/transport-tcp`). */
import { listenTcp, type TcpConnection } from '@tidewire/transport-tcp';
import type { Frame } from '@tidewire/wire';
import { TCPType } from '../transport-types.ts';
import type { TransportAdapter, UserConnection } from '../user-connection.ts';

/** A TCP connection as a `UserConnection`: frames are never sealed by TCP itself. */
class TcpUserConnection implements UserConnection {
  readonly transport = TCPType;
  readonly sealed = false;
  readonly rttMs = 0;
  onFrame: ((frame: Frame, connection: UserConnection, reliable: boolean) => void) | null = null;
  onClose: ((code: string) => void) | null = null;
  data: unknown = undefined;
  readonly #connection: TcpConnection;

  constructor(connection: TcpConnection) {
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

/** One function for every connection: no closure per connection on the frame path. */
function forwardFrame(frame: Frame, connection: TcpConnection): void {
  const user = connection.data as TcpUserConnection;
  user.onFrame?.(frame, user, true);
}

export const tcpTransport: TransportAdapter = {
  type: TCPType,
  encryption: (config) => config.tcp.enableEncryption,
  maxConnections: (config) => config.tcp.maxConnections,
  async listen(config, host) {
    const tcp = config.tcp;
    const listener = await listenTcp(
      {
        host: tcp.address,
        port: tcp.port,
        maxPayloadLength: tcp.maxRcvSize,
        idleTimeoutMs: tcp.connectionTTL * 1000,
        maxBufferedBytes: tcp.maxSendQueue,
        noDelay: tcp.noDelay,
        ...(tcp.maxConnections > 0 ? { maxConnections: tcp.maxConnections } : {}),
        logger: host.logger,
      },
      (connection) => host.accept(new TcpUserConnection(connection)),
    );
    return {
      host: listener.host,
      port: listener.port,
      close: () => listener.close({ graceMs: 200 }),
    };
  },
};

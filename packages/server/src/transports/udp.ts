/**
 * The reliable UDP transport behind the server's seam
 * (`@tidewire/transport-udp`). UDP checks the session in its own handshake
 * (the INIT carries the sid; its ticket's key seals the connection), so the
 * adapter claims the ticket there and hands it over with the connection.
 */
import type { SessionTicket } from '@tidewire/mesh';
import { listenUdp, type UdpConnection } from '@tidewire/transport-udp';
import type { Frame } from '@tidewire/wire';
import { formatEndpoint } from '../config.ts';
import { UDPType } from '../transport-types.ts';
import type { SendOptions } from '../user.ts';
import type { ResumeHandshake, TransportAdapter, UserConnection } from '../user-connection.ts';

/** A UDP connection as a `UserConnection`: sealed by the transport when encryption is on. */
class UdpUserConnection implements UserConnection {
  readonly transport = UDPType;
  onFrame: ((frame: Frame, connection: UserConnection, reliable: boolean) => void) | null = null;
  onClose: ((code: string) => void) | null = null;
  data: unknown = undefined;
  readonly #connection: UdpConnection;

  constructor(connection: UdpConnection) {
    this.#connection = connection;
    connection.data = this;
    connection.onFrame = forwardFrame;
    connection.onClose = (info) => this.onClose?.(info.code);
  }

  get sealed(): boolean {
    return this.#connection.encrypted;
  }

  get rttMs(): number {
    return this.#connection.rttMs;
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

  send(frame: Uint8Array, options?: SendOptions): boolean {
    return this.#connection.send(frame, options);
  }

  close(code?: string, reason?: string): Promise<void> {
    return this.#connection.close(code, reason);
  }

  destroy(): void {
    this.#connection.destroy();
  }
}

/** One function for every connection. */
function forwardFrame(frame: Frame, reliable: boolean, connection: UdpConnection): void {
  const user = connection.data as UdpUserConnection;
  user.onFrame?.(frame, user, reliable);
}

export const udpTransport: TransportAdapter = {
  type: UDPType,
  encryption: (config) => config.udp.enableEncryption,
  maxConnections: (config) => config.udp.maxConnections,
  async listen(config, host) {
    const udp = config.udp;
    /** Tickets claimed by handshakes, by "address:port", until the connection is made. */
    const handshakes = new Map<string, SessionTicket | ResumeHandshake>();
    const listener = await listenUdp(
      {
        host: udp.address,
        port: udp.port,
        mtu: udp.mtu,
        maxPayloadLength: udp.maxRcvSize,
        idleTimeoutMs: udp.connectionTTL * 1000,
        maxBufferedBytes: udp.maxSendQueue,
        ackDelayMs: udp.ackDelay,
        minRtoMs: udp.minRto,
        encryption: udp.enableEncryption,
        ...(udp.maxConnections > 0 ? { maxConnections: udp.maxConnections } : {}),
        authenticate: async (sid, remote) => {
          const at = formatEndpoint(remote.address, remote.port);
          const ticket = await host.claimTicket(UDPType, sid);
          if (ticket === null) {
            // A resume (protocol section 13.6): the INIT carries the seat's token.
            const key = host.resumeKey(sid);
            if (key === null) return null;
            handshakes.set(at, { resumeToken: Buffer.from(sid) });
            return { key };
          }
          handshakes.set(at, ticket);
          return { key: Buffer.from(ticket.key, 'hex') };
        },
        logger: host.logger,
      },
      (connection) => {
        const at = formatEndpoint(connection.remoteAddress, connection.remotePort);
        const ticket = handshakes.get(at) ?? null;
        handshakes.delete(at);
        host.accept(new UdpUserConnection(connection), ticket);
      },
    );
    return {
      host: listener.host,
      port: listener.port,
      close: async () => {
        await listener.close({ graceMs: 200 });
        handshakes.clear();
      },
    };
  },
};

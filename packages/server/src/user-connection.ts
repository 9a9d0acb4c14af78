/**
 * The seam between the server and its transports. A transport adapter
 * (one file under `transports/`) turns its listener's connections into
 * `UserConnection`s and hands each to `TransportHost.accept`; everything
 * above the seam (hello, session tickets, admission by state, close codes,
 * commands) is written once, in `admission.ts` and `user-frames.ts`, and
 * knows no transport.
 *
 *   transport listener --accept(UserConnection)--> Admission --hello ok--> UserRegistry
 *   UserConnection.onFrame --frames--> user-frames --commands--> CommandRouter
 *   User.send / disconnect --frames, close codes--> UserConnection.send / close
 */

import type { Server as HttpServer } from 'node:http';
import type { SessionTicket } from '@tidewire/mesh';
import type { Frame, Logger } from '@tidewire/wire';
import type { ServerConfig } from './config.ts';
import type { Transport } from './transport-types.ts';
import type { ClientConnection, SendOptions } from './user.ts';

/** One client's connection, as any transport hands it to the server. */
export interface UserConnection extends ClientConnection {
  /** The transport type this connection came in on. */
  readonly transport: Transport;
  /** The peer's address and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** True once the connection accepts no more sends (closing or gone). */
  readonly closed: boolean;
  /**
   * True when the transport itself seals every frame with the session key
   * (UDP's DATA packets): the server then sends and reads plain frames. When
   * false and the transport's encryption setting is on, the server seals
   * each frame itself and the hello proves the key (protocol section 7).
   */
  readonly sealed: boolean;
  /** The transport's own round-trip estimate in ms, if it measures one (else 0). */
  readonly rttMs: number;
  /** Sends one encoded frame; `reliable: false` may use an unreliable channel. False under backpressure or when closed. */
  send(frame: Uint8Array, options?: SendOptions): boolean;
  /** Closes with a disconnect frame carrying `code` and `reason`; resolves when gone. */
  close(code?: string, reason?: string): Promise<void>;
  /** Drops the connection now, sending nothing. */
  destroy(): void;
  /**
   * Set by the server: every whole frame received, in order; `reliable` is
   * false for a frame of an unreliable channel (UDP), which resume does not
   * number (protocol section 13).
   */
  onFrame: ((frame: Frame, connection: UserConnection, reliable: boolean) => void) | null;
  /** Set by the server: called once when the connection is gone, with the close code. */
  onClose: ((code: string) => void) | null;
  /** The server's per-connection value (the user's command lane), read back in `onFrame`. */
  data: unknown;
}

/** What the server offers a transport adapter. */
export interface TransportHost {
  readonly logger: Logger;
  /**
   * The node's HTTP server, already listening: a transport that attaches to
   * it (WebSocket upgrades on the HTTP port) listens there instead of binding
   * a port of its own.
   */
  readonly httpServer: HttpServer;
  /**
   * Hands a new connection to the server, which waits for its hello.
   * `handshakeTicket`: for a transport that checks the session in its own
   * handshake (UDP's INIT), the ticket `claimTicket` gave it (the hello must
   * name its sid), or null when the handshake claimed none (the connection is
   * refused). Leave it out when the transport has no handshake of its own.
   */
  accept(
    connection: UserConnection,
    handshakeTicket?: SessionTicket | ResumeHandshake | null,
  ): void;
  /**
   * For a transport with its own handshake: consumes the ticket of `sid`
   * (16 raw bytes) if it is live, was issued for this node and `transport`,
   * and the node accepts users; else null. Single use.
   */
  claimTicket(transport: Transport, sid: Uint8Array): Promise<SessionTicket | null>;
  /**
   * For a transport with its own handshake: when `id` is the resume token of
   * a seat that can resume (protocol section 13.6), the key that seals the
   * resumed connection; else null. Does not consume the token.
   */
  resumeKey(id: Uint8Array): Buffer | null;
}

/** What a transport's handshake hands over when its id was a resume token. */
export interface ResumeHandshake {
  readonly resumeToken: Buffer;
}

/** A running transport listener. */
export interface TransportListener {
  /** The bound address and port. */
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes every connection (code `TIDEWIRE_ERR_SERVER_CLOSING`). */
  close(): Promise<void>;
}

/** One transport, as the server runs it. Register it in `transports/registry.ts`. */
export interface TransportAdapter {
  readonly type: Transport;
  /** Whether this transport's sessions are encrypted, from the config. */
  encryption(config: ServerConfig): boolean;
  /** The most connections this transport accepts (0: no limit), for the node's reported load. */
  maxConnections(config: ServerConfig): number;
  /** Binds the listener; every connection it accepts goes to `host.accept`. */
  listen(config: ServerConfig, host: TransportHost): Promise<TransportListener>;
}

import type { RouterUser } from '@tidewire/command-router';
import { encodeFrame, HEADER_SIZE, type SessionCipher, Status, sealFrame } from '@tidewire/wire';
import type { Transport } from './transport-types.ts';

export type { Transport } from './transport-types.ts';

/** What the server needs of a transport connection (TCP and UDP connections both fit). */
export interface ClientConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly closed: boolean;
  send(frame: Uint8Array, options?: { reliable?: boolean }): boolean;
  close(code?: string, reason?: string): Promise<void>;
}

/** What a user's seat does with its numbered frames (resume, protocol section 13). */
export interface UserOutbox {
  /** True while the seat is held: frames are kept, not written. */
  readonly held: boolean;
  /** Numbers and keeps a reliable frame sent to the user. */
  record(ver: number, cmd: number, status: number, payload: Uint8Array): void;
  /** Releases a held seat with `code` (`disconnect()` on a held user). */
  release(code: string): void;
}

/** Options of `User.send`. */
export interface SendOptions {
  /** UDP only: send on the unreliable channel. TCP is always reliable. Default true. */
  reliable?: boolean;
}

/** The JSON shape of debug command 905, as the engine defines it. */
export interface UserDataDump {
  ID: string;
  SID: string;
  Data: Record<string, unknown>;
  Latency: number;
}

/**
 * A connected user. Handlers receive it; it carries the user's id and session
 * id, an application data map, the measured latency, and the means to answer.
 */
export class User implements RouterUser {
  /** The user id the session was issued for. */
  readonly id: string;
  /** The session id (hex) the user connected with. */
  readonly sid: string;
  #transport: Transport;
  /** Application data: anything handlers want to keep per user. Dumped by debug command 905. */
  readonly data: Record<string, unknown> = {};
  /** Client information sent with the hello, if any. */
  readonly clientInfo: Readonly<Record<string, unknown>>;
  /** When the user connected (ms since epoch). */
  readonly connectedAt: number = Date.now();
  #latency = 0;
  #responsesSent = 0;
  #connection: ClientConnection;
  #cipher: SessionCipher | null;
  /** The seat's record of numbered frames (resume), once the user takes part in resume. */
  #outbox: UserOutbox | null = null;
  /** True once the server itself closes the connection (a kick, a replacement...): no seat is held. */
  #closedByServer = false;

  constructor(
    id: string,
    sid: string,
    transport: Transport,
    connection: ClientConnection,
    clientInfo: Record<string, unknown> = {},
    cipher: SessionCipher | null = null,
  ) {
    this.#cipher = cipher;
    this.id = id;
    this.sid = sid;
    this.#transport = transport;
    this.#connection = connection;
    this.clientInfo = clientInfo;
  }

  /** Round-trip latency in ms, from keep-alives (0 until measured). */
  get latency(): number {
    const rtt = (this.#connection as { rttMs?: number }).rttMs;
    return typeof rtt === 'number' && rtt > 0 ? Math.round(rtt) : this.#latency;
  }

  /** @internal Records the round trip the client measured on its last keep-alive. */
  setLatency(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0 && ms < 600_000) this.#latency = Math.round(ms);
  }

  /** Responses (Ok, Bad, Err) sent so far; the command router uses it. */
  get responsesSent(): number {
    return this.#responsesSent;
  }

  get remoteAddress(): string {
    return this.#connection.remoteAddress;
  }

  get remotePort(): number {
    return this.#connection.remotePort;
  }

  /** True once the user's connection is closed. */
  get disconnected(): boolean {
    return this.#connection.closed;
  }

  /**
   * Sends a frame to the user: a response (`Ok`, `Bad`, `Err`) to the command
   * being handled, or a push (`Status.Push`). Returns false under backpressure
   * or when the user is gone (nothing is thrown).
   */
  send(
    ver: number,
    cmd: number,
    payload: Uint8Array = Buffer.alloc(0),
    status: number = Status.Ok,
    options?: SendOptions,
  ): boolean {
    if (status !== Status.Push && status !== Status.Request) this.#responsesSent++;
    const outbox = this.#outbox;
    if (this.#cipher === null) {
      const frame = encodeFrame(ver, cmd, status, payload);
      if (outbox !== null && this.#numbered(options)) {
        outbox.record(ver, cmd, status, frame.subarray(HEADER_SIZE));
        if (outbox.held) return true;
      }
      return this.#connection.send(frame, options);
    }
    if (outbox !== null && this.#numbered(options)) {
      // Sealed: the seat keeps the plaintext, sealed again on the next connection.
      outbox.record(ver, cmd, status, Buffer.from(payload));
      if (outbox.held) return true;
    }
    return this.#connection.send(sealFrame(this.#cipher, ver, cmd, status, payload), options);
  }

  /** Reliable frames are numbered (resume): all of them on streams, UDP's reliable channel. */
  #numbered(options: SendOptions | undefined): boolean {
    return options?.reliable !== false || this.#transport !== 'udp';
  }

  /** TCP with encryption: seals what is sent, opens what arrives (the server does). Never dumped. */
  get cipher(): SessionCipher | null {
    return this.#cipher;
  }

  /** True while the user's seat is held for a resume (its connection died; see protocol section 13). */
  get held(): boolean {
    return this.#outbox?.held === true;
  }

  /** @internal The seat takes the user's numbered frames from now on (resume). */
  setOutbox(outbox: UserOutbox | null): void {
    this.#outbox = outbox;
  }

  /** The transport of the user's connection (a resume may move it to another). */
  get transport(): Transport {
    return this.#transport;
  }

  /** @internal A resume: the user goes on over `connection` (of `transport`), sealed with `cipher`. */
  attach(connection: ClientConnection, transport: Transport, cipher: SessionCipher | null): void {
    this.#connection = connection;
    this.#transport = transport;
    this.#cipher = cipher;
    this.#closedByServer = false;
  }

  /** @internal True when the server closed the connection (no seat is held then). */
  get closedByServer(): boolean {
    return this.#closedByServer;
  }

  /** @internal Writes a frame without numbering it (acks, replays, the resume answer). */
  write(ver: number, cmd: number, status: number, payload: Uint8Array): boolean {
    const frame =
      this.#cipher === null
        ? encodeFrame(ver, cmd, status, payload)
        : sealFrame(this.#cipher, ver, cmd, status, payload);
    return this.#connection.send(frame);
  }

  /** Sends an unsolicited message (status Push). */
  push(
    ver: number,
    cmd: number,
    payload: Uint8Array = Buffer.alloc(0),
    options?: SendOptions,
  ): boolean {
    return this.send(ver, cmd, payload, Status.Push, options);
  }

  /** Router interface: framework responses go out as ordinary responses. */
  sendResponse(ver: number, cmd: number, status: number, payload: Uint8Array): void {
    this.send(ver, cmd, payload, status);
  }

  /** Sends an already-encoded frame (e.g. one broadcast frame to many users). */
  sendEncoded(frame: Uint8Array, options?: SendOptions): boolean {
    const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    const outbox = this.#outbox;
    if (outbox !== null && this.#numbered(options)) {
      outbox.record(bytes[2]!, bytes.readUInt16BE(3), bytes[5]!, bytes.subarray(HEADER_SIZE));
      if (outbox.held) return true;
    }
    if (this.#cipher === null) return this.#connection.send(frame, options);
    // A frame encoded once for many users (broadcasts): sealed for this one.
    const sealed = sealFrame(
      this.#cipher,
      bytes[2]!,
      bytes.readUInt16BE(3),
      bytes[5]!,
      bytes.subarray(HEADER_SIZE),
    );
    return this.#connection.send(sealed, options);
  }

  /** Closes the user's connection with a disconnect frame carrying `code` and `reason`. */
  disconnect(code = 'TIDEWIRE_ERR_KICKED', reason = 'disconnected by the server'): Promise<void> {
    if (this.#outbox?.held === true) {
      // A held seat has no connection: it is released with the code.
      this.#outbox.release(code);
      return Promise.resolve();
    }
    this.#closedByServer = true;
    return this.#connection.close(code, reason);
  }

  /** The engine's `UserDataDump` (debug command 905). Session keys are never part of it. */
  dump(): UserDataDump {
    return { ID: this.id, SID: this.sid, Data: { ...this.data }, Latency: this.latency };
  }

  toJSON(): UserDataDump {
    return this.dump();
  }
}

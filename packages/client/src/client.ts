import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import {
  BUILTIN_VER,
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Frame,
  HEADER_SIZE,
  openFrame,
  pack,
  SessionCipher,
  Status,
  sealFrame,
  TidewireError,
  unpack,
} from '@tidewire/wire';
import { endpointKey, isUnreachable, retryUnreachable } from './connect-retry.ts';
import { ClientErrorCode, clientError } from './errors.ts';
import { openP2PSocket, P2PChannel, type PeerAddresses } from './p2p.ts';
import { failAll, keyOf, type ParkedCommand, queueOf } from './pending.ts';
import {
  awaitAnswer,
  type ClientConnection,
  type DialOptions,
  dialSession,
  type EarlyEvents,
  resumeSeat,
  type TransportCloseInfo,
} from './reconnect.ts';
import {
  type ReconnectOptions,
  type ResolvedReconnect,
  resolveReconnect,
} from './resume/backoff.ts';
import {
  type Candidate,
  Reconnector,
  type ReconnectorHost,
  type Resumption,
} from './resume/reconnector.ts';
import { type ResumeOffer, resumeOffer } from './resume/seat.ts';
import { requestSession, type Session } from './session.ts';

// Built-in peer-to-peer commands (ver 1), as in @tidewire/server's P2PCommand.
const P2P_CONNECT = 10;
const P2P_OFFER = 11;
const P2P_ANSWER = 12;
const P2P_ANSWERED = 13;
const P2P_RELAY = 14;
const P2P_RELAYED = 15;

export interface ConnectOptions {
  /** Base URL of the HTTP session endpoint, e.g. `http://127.0.0.1:7000`. */
  endpointUrl: string;
  /** The user id to ask a session for. */
  uid: string;
  /**
   * 'tcp' (default) or 'udp' (reliable UDP: the handshake is bound to the
   * session, and `send(..., { reliable: false })` uses the unreliable channel).
   */
  transport?: 'tcp' | 'udp' | 'ws';
  /**
   * UDP only: datagram payload budget, bytes. A server that sends its own in
   * ACCEPT (every current one) sets it for the connection; this applies only
   * against older servers. Default 1200.
   */
  mtu?: number;
  /**
   * UDP only: how long the acknowledgement of a reliable message from the
   * server may wait for a command to ride with, ms (0..250). Default 0 (at
   * once). A client that sends at a steady rate (inputs at 20 Hz: 60) spares
   * the server one datagram per reliable message. The acknowledgement waits
   * only while the client sends (an idle client acknowledges at once), and
   * a lost answer is sent again about as soon as without a delay (the
   * repeated request shows the loss). See transport-udp's `ackDelayMs`.
   */
  ackDelayMs?: number;
  /** Sent with the hello (a msgpack map): app version, platform... */
  clientInfo?: Record<string, unknown>;
  /** Headers for the session request (tokens for the server's authenticate hook). */
  headers?: Record<string, string>;
  /** Interval of keep-alives, ms. Default 3000; 0 disables them (the server then drops the client after its TTL). */
  keepAliveIntervalMs?: number;
  /** Default timeout of `request`, ms. Default 10000. */
  requestTimeoutMs?: number;
  /** Bound on the session request, the TCP connect and the hello together, ms. Default 10000. */
  connectTimeoutMs?: number;
  /**
   * Attempts to reach a node, each with a new session, within
   * `connectTimeoutMs`. A node that cannot be reached (killed, still listed
   * by the cluster's registry for a few seconds) is named in the next
   * session request (`?avoid=host:port`) so that another node is picked;
   * backoff 100 ms doubled per attempt, with jitter. Default 3; 1 turns
   * retries off.
   */
  connectAttempts?: number;
  /** Largest frame payload accepted from the server. Default 64 KiB. */
  maxPayloadLength?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /**
   * Reconnect by itself when the connection is lost (protocol section 13):
   * resume the seat on a new connection while the server holds it (pending
   * requests carry over, nothing is lost or doubled), else a fresh session
   * (event `reconnected-fresh`: the server state is gone). On by default
   * (10 attempts, backoff 100 ms doubling to 5 s, half of each drawn at
   * random); `false` or `attempts: 0` turns it off. `signal` aborts it too.
   */
  reconnect?: ReconnectOptions | false;
}

/** A response to a request. */
export interface Response {
  /** 1 Ok, 4 Bad, 5 Err. */
  status: number;
  ok: boolean;
  payload: Buffer;
}

/** An unsolicited message from the server. */
export interface PushMessage {
  ver: number;
  cmd: number;
  payload: Buffer;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ClientCloseInfo {
  code: string;
  reason: string;
  /** True when the server closed the connection. */
  remote: boolean;
}

/** A notification (ver 0, cmd 400) as the client receives it. */
export interface ClientNotification {
  id: string;
  name: string;
  message: Buffer;
}

interface Hello {
  userId: string;
  state: string;
  early: EarlyEvents;
  /** The server's resume offer (protocol section 13.2), if any. */
  resume: ResumeOffer | null;
}

export interface ClientEvents {
  push: [message: PushMessage];
  /** A response that no `request` was waiting for (an answer to `send`). */
  response: [message: PushMessage & { status: number }];
  /** ver 0, cmd 400: a notification. Malformed ones are dropped. */
  notification: [notification: ClientNotification];
  /** The server is draining: get a new session and connect elsewhere. */
  reconnect: [info: { reason: string }];
  /** Another user opened a peer-to-peer channel to us (after the punching attempt). */
  p2p: [channel: P2PChannel];
  /** The connection was lost (`code`); attempt `attempt` starts after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; code: string; error?: string }];
  /** The seat was resumed on a new connection: nothing was lost, pending requests carried over. */
  resumed: [info: { attempt: number }];
  /**
   * Reconnected with a new session: the server state of the old one (rooms,
   * user data) is gone and the application rebuilds it; requests pending at
   * the loss were failed (`TIDEWIRE_ERR_CLOSED`). `reason`: why it could not
   * resume (`TIDEWIRE_ERR_RESUME_EXPIRED`, `_RESUME_INVALID`,
   * `TIDEWIRE_ERR_CONNECT_FAILED` for a node that is gone,
   * `TIDEWIRE_ERR_DRAINING` for a move after reconnect-elsewhere...).
   */
  'reconnected-fresh': [info: { reason: string }];
  /** Every attempt failed; `close` follows. */
  'gave-up': [info: { attempts: number; code: string }];
  close: [info: ClientCloseInfo];
}

/** What the client needs to reconnect by itself. */
interface ReconnectContext {
  options: ConnectOptions;
  dial: DialOptions;
  reconnect: ResolvedReconnect;
  connectTimeoutMs: number;
}

interface Pending {
  resolve: (response: Response) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

/** How long a periodic keep-alive waits, at most, for a command to ride with. */
const MAX_RIDE_MS = 250;

/** A connected Tidewire client. Create it with `connect()`. */
export class TidewireClient extends EventEmitter<ClientEvents> {
  readonly userId: string;
  #session: Session;
  #serverState: string;
  #latency = 0;
  #conn: ClientConnection;
  #cipher: SessionCipher | null;
  /** What it needs to reconnect (the options, how to dial); null when reconnect is off. */
  readonly #reconnect: ReconnectContext | null;
  /** Reconnect and resume: the seat, the attempts, the commands parked by a move. */
  readonly #reconnector: Reconnector;
  /** Frames and a close that came with the answer of an adopted connection, until `start`. */
  #early: EarlyEvents;
  readonly #keepAliveIntervalMs: number;
  /** Peer-to-peer channels by peer user id. */
  readonly #channels = new Map<string, P2PChannel>();
  /** p2pConnect calls waiting for the peer's addresses. */
  readonly #answers = new Map<string, (addresses: PeerAddresses) => void>();
  readonly #requestTimeoutMs: number;
  /** Per (ver, cmd): waiting requests in send order; null marks a `send` with no waiter. */
  readonly #pending = new Map<number, (Pending | null)[]>();
  #keepAlive: NodeJS.Timeout | null = null;
  /**
   * A periodic keep-alive waiting to ride with the next command (see
   * `#onKeepAliveTimer`): its encoded frame, and the call that marks it sent.
   */
  #rider: { frame: Buffer; sent: () => void } | null = null;
  #riderTimer: NodeJS.Timeout | null = null;
  readonly #rideMs: number;
  #closeInfo: ClientCloseInfo | null = null;

  /** @internal Use `connect()`. */
  constructor(
    conn: ClientConnection,
    session: Session,
    hello: Hello,
    options: {
      keepAliveIntervalMs: number;
      requestTimeoutMs: number;
      cipher?: SessionCipher | null;
      reconnect?: ReconnectContext;
    },
  ) {
    super();
    this.#conn = conn;
    this.#session = session;
    this.userId = hello.userId;
    this.#serverState = hello.state;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#cipher = options.cipher ?? null;
    this.#reconnect =
      options.reconnect !== undefined && options.reconnect.reconnect.attempts > 0
        ? options.reconnect
        : null;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs;
    this.#rideMs = Math.min(MAX_RIDE_MS, Math.floor(options.keepAliveIntervalMs / 4));
    this.#reconnector = new Reconnector(
      this.#reconnectorHost(options.reconnect?.connectTimeoutMs ?? 10_000),
      options.reconnect?.reconnect ?? resolveReconnect(false),
    );
    this.#early = hello.early;
    this.#reconnector.optIn(hello.resume);
    // Events that arrived with the hello answer are emitted on the next turn
    // of the event loop, after `await connect(...)` has attached listeners.
    setImmediate(() => this.#attach(conn, hello.early));
    this.#startKeepAlive();
  }

  /** The session the client is connected with (a new one after `reconnected-fresh`). */
  get session(): Session {
    return this.#session;
  }

  /** True while the client is reconnecting (requests wait for the new connection). */
  get reconnecting(): boolean {
    return this.#reconnector.reconnecting;
  }

  /** What the reconnector needs of this client: its transports, its connection swap. */
  #reconnectorHost(connectTimeoutMs: number): ReconnectorHost {
    const client = this;
    const context = (): ReconnectContext => {
      if (this.#reconnect === null) throw clientError(ClientErrorCode.Closed, 'reconnect is off');
      return this.#reconnect;
    };
    return {
      pending: this.#pending,
      signal: this.#reconnect?.options.signal,
      connectTimeoutMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      get closed() {
        return client.closed;
      },
      emit: (event, ...args) => {
        (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
      },
      dialResume: async (seat, signal): Promise<Resumption> => {
        const resumed = await resumeSeat(this.#session, seat, context().dial, signal);
        return {
          received: resumed.received,
          offer: resumed.next,
          adopt: () =>
            this.#adopt(resumed.conn, resumed.cipher, this.#session, resumed.state, resumed.early),
          discard: () => resumed.conn.destroy(),
        };
      },
      dialFresh: async (signal): Promise<Candidate> => {
        const opened = await openSession(context().options, context().dial, signal);
        return {
          offer: opened.hello.resume,
          adopt: (cleanClose) =>
            this.#adopt(
              opened.conn,
              opened.cipher,
              opened.session,
              opened.hello.state,
              opened.hello.early,
              cleanClose,
            ),
          discard: () => opened.conn.destroy(),
        };
      },
      sendAck: (received) => this.#sendAck(received),
      resend: (kept) => {
        this.#conn.send(
          this.#cipher === null
            ? encodeFrame(kept.ver, kept.cmd, kept.status, kept.payload)
            : sealFrame(this.#cipher, kept.ver, kept.cmd, kept.status, kept.payload),
        );
      },
      transmit: (command) => this.#transmitLater(command),
      pause: () => this.#stopKeepAlive(),
      start: () => {
        this.#attach(this.#conn, this.#early);
        this.#startKeepAlive();
      },
      close: (info) => this.#onClose(info),
    };
  }

  /** Makes `conn` the client's connection; the old one is dropped, or closed cleanly with `cleanClose`. */
  #adopt(
    conn: ClientConnection,
    cipher: SessionCipher | null,
    session: Session,
    state: string,
    early: EarlyEvents,
    cleanClose?: string,
  ): void {
    const old = this.#conn;
    old.onFrame = null;
    old.onClose = null;
    if (cleanClose === undefined) old.destroy();
    else void old.close('TIDEWIRE_ERR_CLIENT_CLOSED', cleanClose);
    this.#conn = conn;
    this.#cipher = cipher;
    this.#session = session;
    this.#serverState = state;
    this.#early = early;
  }

  #startKeepAlive(): void {
    if (this.#keepAliveIntervalMs > 0 && this.#keepAlive === null) {
      this.#keepAlive = setInterval(() => this.#onKeepAliveTimer(), this.#keepAliveIntervalMs);
    }
  }

  #stopKeepAlive(): void {
    if (this.#keepAlive !== null) clearInterval(this.#keepAlive);
    this.#keepAlive = null;
    this.#takeRider();
  }

  #sendAck(received: number): void {
    const payload = pack({ received });
    this.#conn.send(
      this.#cipher === null
        ? encodeFrame(CORE_VER, CoreCommand.Ack, Status.Request, payload)
        : sealFrame(this.#cipher, CORE_VER, CoreCommand.Ack, Status.Request, payload),
    );
  }

  /** Takes the connection over: what arrived early first, then its frames and its close. */
  #attach(conn: ClientConnection, early: EarlyEvents): void {
    for (const { frame, reliable } of early.frames) this.#onFrame(frame, reliable);
    early.frames.length = 0;
    if (early.close !== null) {
      this.#onConnectionClosed(conn, early.close);
      return;
    }
    conn.onFrame = (frame: Frame, reliable?: unknown) => {
      if (conn === this.#conn) this.#onFrame(frame, reliable !== false);
    };
    conn.onClose = (info: TransportCloseInfo) =>
      this.#onConnectionClosed(conn, { code: info.code, reason: info.reason, remote: info.remote });
  }

  /**
   * A periodic keep-alive waits up to a quarter of the interval (at most
   * 250 ms) for the next command and leaves in the same write or datagram:
   * sent alone, each keep-alive woke the server once more (with 500 clients
   * every 3 s, that was 7% of a TCP server's CPU in the peers bench). With
   * no command in that time it goes alone.
   */
  #onKeepAliveTimer(): void {
    if (this.#rider !== null || this.closed || this.#reconnector.reconnecting) return;
    let sentAt = performance.now();
    const { frame, answer } = this.#prepare(
      CORE_VER,
      CoreCommand.KeepAlive,
      pack({ rtt: this.#latency }),
      {},
    );
    this.#rider = {
      frame,
      sent: () => {
        sentAt = performance.now();
      },
    };
    answer
      .then((response) => this.#onKeepAliveAnswer(response, sentAt))
      .catch(() => {
        // a missed keep-alive shows as a timeout; the connection's own TTL decides
      });
    if (this.#rideMs <= 0) {
      this.#sendRiderAlone();
      return;
    }
    this.#riderTimer = setTimeout(() => this.#sendRiderAlone(), this.#rideMs);
  }

  #sendRiderAlone(): void {
    const rider = this.#takeRider();
    if (rider === null || this.closed) return;
    rider.sent();
    this.#conn.send(rider.frame);
  }

  #takeRider(): { frame: Buffer; sent: () => void } | null {
    const rider = this.#rider;
    this.#rider = null;
    if (this.#riderTimer !== null) {
      clearTimeout(this.#riderTimer);
      this.#riderTimer = null;
    }
    return rider;
  }

  /** Sends a command's frame, with a waiting keep-alive ahead of it (one write on TCP, one datagram on UDP). */
  #transmit(frame: Buffer, options?: { reliable?: boolean }): boolean {
    const rider = this.#rider === null ? null : this.#takeRider();
    if (rider === null) return this.#conn.send(frame, options);
    rider.sent();
    if (this.session.serverType !== 'udp') {
      return this.#conn.send(Buffer.concat([rider.frame, frame]));
    }
    // UDP: frames queued in one tick leave together.
    this.#conn.send(rider.frame);
    return this.#conn.send(frame, options);
  }

  /** The server's state at the last hello or keep-alive: ONLINE, TAKEN or OFFLINE. */
  get serverState(): string {
    return this.#serverState;
  }

  /** Round-trip time of the last keep-alive or ping, ms. */
  get latency(): number {
    return this.#latency;
  }

  get closed(): boolean {
    return this.#closeInfo !== null;
  }

  /**
   * Sends a command without waiting; a response to it is emitted as
   * `response`. False under backpressure or when closed. Over UDP,
   * `{ reliable: false }` uses the unreliable channel (state updates that a
   * newer one replaces); TCP is always reliable. Answers carry no request id:
   * do not mix unreliable sends and `request` on the same (ver, cmd), whose
   * answers could not be told apart.
   */
  send(
    ver: number,
    cmd: number,
    payload: Uint8Array = Buffer.alloc(0),
    options: { reliable?: boolean } = {},
  ): boolean {
    if (this.closed) return false;
    const parked = this.#reconnector.parked;
    if (parked !== null) {
      if (options.reliable !== false || this.session.serverType !== 'udp')
        queueOf(this.#pending, ver, cmd).push(null);
      parked.push({ ver, cmd, payload, options });
      return true;
    }
    const numbered = options.reliable !== false || this.session.serverType !== 'udp';
    const frame = this.#encode(ver, cmd, payload, numbered);
    // A reliable send holds its place among the answers of (ver, cmd), which
    // come in order. An unreliable one may be lost and its answer never come:
    // it holds none (else a later request would get an older send's answer,
    // or none), and an answer to it comes as a 'response' event when no
    // request of that command is waiting.
    if (options.reliable !== false || this.session.serverType !== 'udp') {
      queueOf(this.#pending, ver, cmd).push(null);
    }
    return this.#transmit(frame, options);
  }

  /** The transport of this client: 'tcp' or 'udp'. */
  get transport(): 'tcp' | 'udp' | 'ws' {
    return this.session.serverType;
  }

  /**
   * Sends a command and resolves with its response. Responses to one
   * (ver, cmd) are matched in order, so each request must be answered exactly
   * once by the server. Rejects on timeout, abort or close.
   */
  request(
    ver: number,
    cmd: number,
    payload: Uint8Array = Buffer.alloc(0),
    options: RequestOptions = {},
  ): Promise<Response> {
    if (this.#closeInfo !== null) {
      return Promise.reject(
        clientError(ClientErrorCode.Closed, `connection closed: ${this.#closeInfo.code}`),
      );
    }
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    const parked = this.#reconnector.parked;
    if (parked !== null) {
      const answer = this.#wait(ver, cmd, options);
      parked.push({ ver, cmd, payload, options: {} });
      return answer;
    }
    const { frame, answer } = this.#prepare(ver, cmd, payload, options);
    this.#transmit(frame);
    return answer;
  }

  /** Encodes a request and queues its waiter; the caller sends the frame. */
  #prepare(
    ver: number,
    cmd: number,
    payload: Uint8Array,
    options: RequestOptions,
  ): { frame: Buffer; answer: Promise<Response> } {
    const frame = this.#encode(ver, cmd, payload);
    return { frame, answer: this.#wait(ver, cmd, options) };
  }

  /** Queues a waiter for the next answer of (ver, cmd), with its timeout and abort. */
  #wait(ver: number, cmd: number, options: RequestOptions): Promise<Response> {
    const signal = options.signal;
    return new Promise<Response>((resolve, reject) => {
      const queue = queueOf(this.#pending, ver, cmd);
      const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
      const onAbort = (): void => {
        entry.cleanup();
        reject(signal?.reason);
      };
      const entry: Pending = {
        resolve,
        reject,
        timer: setTimeout(() => {
          entry.cleanup();
          reject(
            clientError(
              ClientErrorCode.RequestTimeout,
              `no response to (${ver}, ${cmd}) within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs),
        cleanup: () => {
          clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
          // Keep the slot so later responses still match in order; mark it answered-by-nobody.
          const index = queue.indexOf(entry);
          if (index >= 0) queue[index] = null;
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(entry);
    });
  }

  /** Sends a keep-alive and resolves with the server's answer; updates `latency` and `serverState`. */
  async keepAlive(): Promise<{ serverTime: number; state: string }> {
    const started = performance.now();
    const response = await this.request(
      CORE_VER,
      CoreCommand.KeepAlive,
      pack({ rtt: this.#latency }),
    );
    return this.#onKeepAliveAnswer(response, started);
  }

  #onKeepAliveAnswer(response: Response, sentAt: number): { serverTime: number; state: string } {
    this.#latency = performance.now() - sentAt;
    const body = unpack<{ serverTime: number; state: string; notifications?: unknown[] }>(
      response.payload,
    );
    this.#serverState = body.state;
    if (Array.isArray(body.notifications)) {
      for (const n of body.notifications) this.#emitNotification(n);
    }
    return { serverTime: body.serverTime, state: body.state };
  }

  /** Measures a round trip with the core ping (ver 0, cmd 3); resolves with ms. */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.request(CORE_VER, CoreCommand.Ping, Buffer.from('ping'));
    this.#latency = performance.now() - started;
    return this.#latency;
  }

  /** Closes the connection (a disconnect frame first); stops reconnecting. */
  async close(): Promise<void> {
    this.#reconnector.release(); // a clean close: the server releases the seat
    await this.#conn.close('TIDEWIRE_ERR_CLIENT_CLOSED', 'client closed');
    this.#onClose({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed', remote: false });
  }

  /** A connection ended: reconnect when it was lost and reconnect is on, else the client closes. */
  #onConnectionClosed(conn: ClientConnection, info: ClientCloseInfo): void {
    if (conn !== this.#conn || this.#closeInfo !== null) return;
    if (this.#reconnector.lost(info)) {
      for (const channel of [...this.#channels.values()]) void channel.close();
      return;
    }
    this.#onClose(info);
  }

  /** Sends a parked command (its waiter is already queued). */
  #transmitLater(p: ParkedCommand): void {
    const numbered = p.options.reliable !== false || this.session.serverType !== 'udp';
    this.#transmit(this.#encode(p.ver, p.cmd, p.payload, numbered), p.options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A request frame, sealed when the session is (TCP with encryption). */
  #encode(ver: number, cmd: number, payload: Uint8Array, numbered = true): Buffer {
    // Resume: reliable frames are numbered and kept until acknowledged (protocol section 13).
    if (numbered) this.#reconnector.sent(ver, cmd, Status.Request, payload);
    return this.#cipher === null
      ? encodeFrame(ver, cmd, Status.Request, payload)
      : sealFrame(this.#cipher, ver, cmd, Status.Request, payload);
  }

  #onFrame(received: Frame, reliable = true): void {
    let frame = received;
    if (this.#cipher !== null) {
      try {
        frame = openFrame(this.#cipher, received);
      } catch (err) {
        // A forged or damaged frame: nothing after it can be trusted.
        this.#conn.destroy(err as Error);
        return;
      }
    }
    const seen = this.#reconnector.received(frame.ver, frame.cmd, frame.payload, reliable);
    if (seen === 'invalid') {
      this.#conn.destroy(clientError(ClientErrorCode.Closed, 'ack out of range'));
      return;
    }
    if (seen === 'ack') return;
    if (frame.status === Status.Push) {
      this.#onPush(frame);
      return;
    }
    const key = keyOf(frame.ver, frame.cmd);
    const queue = this.#pending.get(key);
    // An emptied queue stays in the map: deleting and re-adding it on every
    // request/response made the map reallocate its table each time, and a
    // long-lived map allocates that table in the old generation (garbage that
    // only a full GC frees: 7-16 ms pauses every few seconds at 500 clients).
    const entry = queue?.shift();
    if (entry) {
      entry.cleanup();
      entry.resolve({
        status: frame.status,
        ok: frame.status === Status.Ok,
        payload: frame.payload,
      });
    } else {
      this.emit('response', {
        ver: frame.ver,
        cmd: frame.cmd,
        status: frame.status,
        payload: frame.payload,
      });
    }
  }

  // ---- peer to peer ------------------------------------------------------

  /**
   * Opens a message channel to `peer` (another user, on a server with
   * `udp.enableP2P`): both sides learn their public address from the server,
   * exchange addresses through it, and punch a direct UDP path; when none
   * opens within `timeoutMs` (or `direct: false`), messages are relayed by
   * the server. UDP sessions only.
   */
  async p2pConnect(
    peer: string,
    options: { timeoutMs?: number; direct?: boolean } = {},
  ): Promise<P2PChannel> {
    if (this.session.serverType !== 'udp') {
      throw clientError(ClientErrorCode.InvalidArgument, 'peer-to-peer needs a UDP session');
    }
    if (this.#channels.has(peer))
      throw clientError(ClientErrorCode.InvalidArgument, `a channel to ${peer} is open`);
    const timeoutMs = options.timeoutMs ?? 1_500;
    const { socket, addresses } = await openP2PSocket(this.session, timeoutMs);
    const channel = this.#newChannel(peer, socket);
    try {
      const answered = new Promise<PeerAddresses | null>((resolve) => {
        const timer = setTimeout(() => {
          this.#answers.delete(peer);
          resolve(null);
        }, timeoutMs);
        this.#answers.set(peer, (peerAddresses) => {
          clearTimeout(timer);
          resolve(peerAddresses);
        });
      });
      const res = await this.request(BUILTIN_VER, P2P_CONNECT, pack({ peer, ...addresses }));
      if (!res.ok) {
        const body = safeMap(res.payload);
        throw new TidewireError(
          String(body.code ?? ClientErrorCode.InvalidArgument),
          String(body.message ?? 'refused'),
        );
      }
      const theirs = await answered;
      if (theirs !== null && options.direct !== false)
        await channel.punch([theirs.public, theirs.local], timeoutMs);
      return channel;
    } catch (err) {
      this.#answers.delete(peer);
      await channel.close();
      throw err;
    }
  }

  #newChannel(peer: string, socket: Socket): P2PChannel {
    const channel = new P2PChannel(
      peer,
      socket,
      (data) => this.send(BUILTIN_VER, P2P_RELAY, pack({ to: peer, data })),
      () => {
        if (this.#channels.get(peer) === channel) this.#channels.delete(peer);
      },
    );
    this.#channels.set(peer, channel);
    return channel;
  }

  #onP2P(frame: Frame): void {
    const body = safeMap(frame.payload);
    const from = typeof body.from === 'string' ? body.from : null;
    if (from === null) return;
    if (frame.cmd === P2P_RELAYED) {
      if (body.data instanceof Uint8Array)
        this.#channels.get(from)?.deliver(Buffer.from(body.data));
      return;
    }
    if (typeof body.public !== 'string' || typeof body.local !== 'string') return;
    const theirs = { public: body.public, local: body.local };
    if (frame.cmd === P2P_ANSWERED) {
      this.#answers.get(from)?.(theirs);
      this.#answers.delete(from);
      return;
    }
    // An offer: answer with our addresses, punch, and hand the channel to the app.
    if (this.#channels.has(from)) return;
    void (async () => {
      const { socket, addresses } = await openP2PSocket(this.session, 1_500);
      const channel = this.#newChannel(from, socket);
      await this.request(BUILTIN_VER, P2P_ANSWER, pack({ to: from, ...addresses }));
      await channel.punch([theirs.public, theirs.local], 1_500);
      this.emit('p2p', channel);
    })().catch(() => {
      // the requester times out and falls back to the relay on its side
    });
  }

  #emitNotification(value: unknown): void {
    const notification = toNotification(value);
    if (notification !== null) this.emit('notification', notification);
  }

  #onPush(frame: Frame): void {
    if (frame.ver === BUILTIN_VER && frame.cmd >= P2P_OFFER && frame.cmd <= P2P_RELAYED) {
      this.#onP2P(frame);
      return;
    }
    if (frame.ver === CORE_VER) {
      if (frame.cmd === CoreCommand.Reconnect) {
        this.emit('reconnect', safeMap(frame.payload) as { reason: string });
        void this.#reconnector.move();
        return;
      }
      if (frame.cmd === CoreCommand.Notification) {
        let body: unknown;
        try {
          body = unpack(frame.payload);
        } catch {
          return; // not msgpack: dropped
        }
        this.#emitNotification(body);
        return;
      }
    }
    this.emit('push', { ver: frame.ver, cmd: frame.cmd, payload: frame.payload });
  }

  #onClose(info: ClientCloseInfo): void {
    if (this.#closeInfo !== null) return;
    this.#closeInfo = info;
    this.#reconnector.stop();
    for (const channel of [...this.#channels.values()]) void channel.close();
    this.#stopKeepAlive();
    failAll(
      this.#pending,
      clientError(ClientErrorCode.Closed, `connection closed: ${info.code} ${info.reason}`),
    );
    this.emit('close', info);
  }
}

function toNotification(value: unknown): ClientNotification | null {
  if (typeof value !== 'object' || value === null) return null;
  const { id, name, message } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof name !== 'string' || !(message instanceof Uint8Array))
    return null;
  return { id, name, message: Buffer.from(message.buffer, message.byteOffset, message.byteLength) };
}

function safeMap(payload: Buffer): Record<string, unknown> {
  try {
    const value = unpack(payload);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : { value };
  } catch {
    return { raw: payload };
  }
}

/**
 * Gets a session from the HTTP endpoint, connects, and says hello.
 * Resolves with a connected client; rejects with a `TidewireError`.
 */
export async function connect(options: ConnectOptions): Promise<TidewireClient> {
  const transport = options.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'udp' && transport !== 'ws') {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      `transport must be 'tcp', 'udp' or 'ws', got ${String(options.transport)}`,
    );
  }
  const reconnect = resolveReconnect(options.reconnect);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const attempts = options.connectAttempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      `connectAttempts must be an integer >= 1, got ${String(options.connectAttempts)}`,
    );
  }
  const deadline = AbortSignal.timeout(connectTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 3000;
  const dial: DialOptions = {
    idleTimeoutMs: keepAliveIntervalMs > 0 ? keepAliveIntervalMs * 3 + 1000 : 0,
    // UDP: a share of the deadline, so that a node that does not answer leaves time for another.
    udpConnectTimeoutMs: Math.max(1, Math.floor(connectTimeoutMs / attempts)),
    ...(options.maxPayloadLength !== undefined
      ? { maxPayloadLength: options.maxPayloadLength }
      : {}),
    ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
    ...(options.ackDelayMs !== undefined ? { ackDelayMs: options.ackDelayMs } : {}),
  };
  const { session, conn, cipher, hello } = await openSession(options, dial, signal);
  return new TidewireClient(conn, session, hello, {
    keepAliveIntervalMs,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    cipher,
    reconnect: { options, dial, reconnect, connectTimeoutMs },
  });
}

/**
 * A session from the HTTP endpoint, a connection to its node, and the
 * hello; a node that cannot be reached is avoided in the next session
 * request (`connectAttempts` in all).
 */
async function openSession(
  options: ConnectOptions,
  dial: DialOptions,
  signal: AbortSignal,
): Promise<{
  session: Session;
  conn: ClientConnection;
  cipher: SessionCipher | null;
  hello: Hello;
}> {
  const transport = options.transport ?? 'tcp';
  let tried: string | null = null;
  const { session, conn } = await retryUnreachable(
    { attempts: options.connectAttempts ?? 3, signal },
    async (avoid) => {
      const session = await requestSession({
        endpointUrl: options.endpointUrl,
        uid: options.uid,
        transport,
        signal,
        avoid,
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
      tried = endpointKey(session.host, session.port);
      const id = Buffer.from(session.sid, 'hex');
      const conn = await dialSession(session, id, Buffer.from(session.key, 'hex'), dial, signal);
      return { session, conn };
    },
    (err) => (isUnreachable(err) ? tried : null),
  );
  const key = Buffer.from(session.key, 'hex');
  // TCP sealing happens here; UDP seals in its transport.
  const cipher =
    transport === 'tcp' && session.encryption === true ? new SessionCipher(key, 'client') : null;
  try {
    const hello = await sayHello(conn, session, options.clientInfo, signal, cipher);
    return { session, conn, cipher, hello };
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

async function sayHello(
  conn: ClientConnection,
  session: Session,
  clientInfo: Record<string, unknown> | undefined,
  signal: AbortSignal,
  cipher: SessionCipher | null,
): Promise<Hello> {
  const answer = awaitAnswer(conn, CoreCommand.Hello, cipher, signal);
  const sid = Buffer.from(session.sid, 'hex');
  const info = clientInfo === undefined ? Buffer.alloc(0) : pack(clientInfo);
  if (cipher === null) {
    conn.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.concat([sid, info])));
  } else {
    // TCP with encryption: the client info is sealed, proving we hold the session key.
    const sealed = sealFrame(cipher, CORE_VER, CoreCommand.Hello, Status.Request, info);
    conn.send(
      encodeFrame(
        CORE_VER,
        CoreCommand.Hello,
        Status.Request,
        Buffer.concat([sid, sealed.subarray(HEADER_SIZE)]),
      ),
    );
  }
  const { body, early } = await answer;
  return {
    userId: String(body.userId),
    state: String(body.state),
    early,
    resume: resumeOffer(body),
  };
}

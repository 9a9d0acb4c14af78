import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { dialTcp, type TcpConnection } from '@tidewire/transport-tcp';
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
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
  transport?: 'tcp' | 'udp';
  /** UDP only: datagram payload budget, bytes. Default 1200. */
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

/** Frames and a close that arrive between the hello answer and the client taking over. */
interface EarlyEvents {
  readonly frames: Frame[];
  close: ClientCloseInfo | null;
}

interface Hello {
  userId: string;
  state: string;
  early: EarlyEvents;
}

/** The transport connection under a client: TCP or reliable UDP. */
type ClientConnection = TcpConnection | UdpConnection;

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
  close: [info: ClientCloseInfo];
}

interface Pending {
  resolve: (response: Response) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

const keyOf = (ver: number, cmd: number): number => ver * 0x10000 + cmd;
/** How long a periodic keep-alive waits, at most, for a command to ride with. */
const MAX_RIDE_MS = 250;

/** A connected Tidewire client. Create it with `connect()`. */
export class TidewireClient extends EventEmitter<ClientEvents> {
  readonly userId: string;
  readonly session: Session;
  #serverState: string;
  #latency = 0;
  readonly #conn: ClientConnection;
  readonly #cipher: SessionCipher | null;
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
    },
  ) {
    super();
    this.#conn = conn;
    this.session = session;
    this.userId = hello.userId;
    this.#serverState = hello.state;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#cipher = options.cipher ?? null;
    // Events that arrived with the hello answer are emitted on the next turn
    // of the event loop, after `await connect(...)` has attached listeners.
    const { early } = hello;
    conn.onFrame = (frame: Frame) => early.frames.push(frame);
    conn.onClose = (info) => {
      early.close = { code: info.code, reason: info.reason, remote: info.remote };
    };
    setImmediate(() => {
      for (const frame of early.frames) this.#onFrame(frame);
      early.frames.length = 0;
      if (early.close !== null) {
        this.#onClose(early.close);
        return;
      }
      conn.onFrame = (frame: Frame) => this.#onFrame(frame);
      conn.onClose = (info) =>
        this.#onClose({ code: info.code, reason: info.reason, remote: info.remote });
    });
    this.#rideMs = Math.min(MAX_RIDE_MS, Math.floor(options.keepAliveIntervalMs / 4));
    if (options.keepAliveIntervalMs > 0) {
      this.#keepAlive = setInterval(() => this.#onKeepAliveTimer(), options.keepAliveIntervalMs);
    }
  }

  /**
   * A periodic keep-alive waits up to a quarter of the interval (at most
   * 250 ms) for the next command and leaves in the same write or datagram:
   * sent alone, each keep-alive woke the server once more (with 500 clients
   * every 3 s, that was 7% of a TCP server's CPU in the peers bench). With
   * no command in that time it goes alone.
   */
  #onKeepAliveTimer(): void {
    if (this.#rider !== null || this.closed) return;
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
    if (this.session.serverType === 'tcp') {
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
    const frame = this.#encode(ver, cmd, payload);
    // A reliable send holds its place among the answers of (ver, cmd), which
    // come in order. An unreliable one may be lost and its answer never come:
    // it holds none (else a later request would get an older send's answer,
    // or none), and an answer to it comes as a 'response' event when no
    // request of that command is waiting.
    if (options.reliable !== false || this.session.serverType === 'tcp') {
      this.#queue(ver, cmd).push(null);
    }
    return this.#transmit(frame, options);
  }

  /** The transport of this client: 'tcp' or 'udp'. */
  get transport(): 'tcp' | 'udp' {
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
    const signal = options.signal;
    const answer = new Promise<Response>((resolve, reject) => {
      const queue = this.#queue(ver, cmd);
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
    return { frame, answer };
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

  /** Closes the connection (a disconnect frame first). */
  async close(): Promise<void> {
    await this.#conn.close('TIDEWIRE_ERR_CLIENT_CLOSED', 'client closed');
    this.#onClose({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed', remote: false });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #queue(ver: number, cmd: number): (Pending | null)[] {
    const key = keyOf(ver, cmd);
    let queue = this.#pending.get(key);
    if (queue === undefined) {
      queue = [];
      this.#pending.set(key, queue);
    }
    return queue;
  }

  /** A request frame, sealed when the session is (TCP with encryption). */
  #encode(ver: number, cmd: number, payload: Uint8Array): Buffer {
    return this.#cipher === null
      ? encodeFrame(ver, cmd, Status.Request, payload)
      : sealFrame(this.#cipher, ver, cmd, Status.Request, payload);
  }

  #onFrame(received: Frame): void {
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
    for (const channel of [...this.#channels.values()]) void channel.close();
    if (this.#keepAlive !== null) clearInterval(this.#keepAlive);
    this.#keepAlive = null;
    this.#takeRider();
    const error = clientError(
      ClientErrorCode.Closed,
      `connection closed: ${info.code} ${info.reason}`,
    );
    for (const queue of this.#pending.values()) {
      for (const entry of queue) {
        if (entry) {
          clearTimeout(entry.timer);
          entry.reject(error);
        }
      }
    }
    this.#pending.clear();
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
  if (transport !== 'tcp' && transport !== 'udp') {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      `transport must be 'tcp' or 'udp', got ${String(options.transport)}`,
    );
  }
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
  const idleTimeoutMs = keepAliveIntervalMs > 0 ? keepAliveIntervalMs * 3 + 1000 : 0;
  const maxPayload =
    options.maxPayloadLength !== undefined ? { maxPayloadLength: options.maxPayloadLength } : {};
  let tried: string | null = null;
  const { session, conn } = await retryUnreachable(
    { attempts, signal },
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
      const conn: ClientConnection =
        transport === 'tcp'
          ? await dialTcp({
              host: session.host,
              port: session.port,
              signal,
              idleTimeoutMs,
              ...maxPayload,
            })
          : await dialUdp({
              host: session.host,
              port: session.port,
              sid: Buffer.from(session.sid, 'hex'),
              key: Buffer.from(session.key, 'hex'),
              encryption: session.encryption === true,
              signal,
              // A share of the deadline, so that a node that does not answer leaves time for another.
              connectTimeoutMs: Math.max(1, Math.floor(connectTimeoutMs / attempts)),
              // The UDP transport keeps its own liveness (keep-alive echo) even without app keep-alives.
              ...(idleTimeoutMs > 0 ? { idleTimeoutMs } : {}),
              ...(options.mtu !== undefined ? { mtu: options.mtu } : {}),
              ...(options.ackDelayMs !== undefined ? { ackDelayMs: options.ackDelayMs } : {}),
              ...maxPayload,
            });
      return { session, conn };
    },
    (err) => (isUnreachable(err) ? tried : null),
  );
  // TCP sealing happens here; UDP seals in its transport.
  const cipher =
    transport === 'tcp' && session.encryption === true
      ? new SessionCipher(Buffer.from(session.key, 'hex'), 'client')
      : null;
  try {
    const hello = await sayHello(conn, session, options.clientInfo, signal, cipher);
    return new TidewireClient(conn, session, hello, {
      keepAliveIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      cipher,
    });
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

function sayHello(
  conn: ClientConnection,
  session: Session,
  clientInfo: Record<string, unknown> | undefined,
  signal: AbortSignal,
  cipher: SessionCipher | null,
): Promise<Hello> {
  const early: EarlyEvents = { frames: [], close: null };
  return new Promise((resolve, reject) => {
    const finish = (fn: () => void): void => {
      signal.removeEventListener('abort', onAbort);
      // Frames right behind the hello answer (notifications, pushes) wait
      // here until the client takes over the connection.
      conn.onFrame = (f: Frame) => early.frames.push(f);
      conn.onClose = (info) => {
        early.close = { code: info.code, reason: info.reason, remote: info.remote };
      };
      fn();
    };
    const onAbort = (): void => finish(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    conn.onFrame = (received: Frame) => {
      if (received.ver !== CORE_VER || received.cmd !== CoreCommand.Hello) return;
      finish(() => {
        let body: Record<string, unknown>;
        let frame = received;
        try {
          // A sealed answer (Ok) proves the server holds the key too; refusals are plain.
          if (cipher !== null && received.status === Status.Ok) frame = openFrame(cipher, received);
          body = unpack<Record<string, unknown>>(frame.payload);
        } catch (err) {
          reject(clientError(ClientErrorCode.HelloRefused, 'malformed hello answer', err));
          return;
        }
        if (frame.status !== Status.Ok) {
          reject(
            new TidewireError(
              ClientErrorCode.HelloRefused,
              `hello refused: ${String(body.code)} ${String(body.message)}`,
            ),
          );
          return;
        }
        resolve({ userId: String(body.userId), state: String(body.state), early });
      });
    };
    conn.onClose = (info) =>
      finish(() =>
        reject(
          clientError(
            ClientErrorCode.HelloRefused,
            `closed during hello: ${info.code} ${info.reason}`,
          ),
        ),
      );
    const sid = Buffer.from(session.sid, 'hex');
    const info = clientInfo === undefined ? Buffer.alloc(0) : pack(clientInfo);
    if (cipher === null) {
      conn.send(
        encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.concat([sid, info])),
      );
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
  });
}

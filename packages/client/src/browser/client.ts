/**
 * The Tidewire client for browsers: the same API as the Node client over a
 * WebSocket (`fetch` for the session, the global `WebSocket`, `Uint8Array`
 * payloads). Frames are those of every transport; `reliable: false` is
 * delivered reliably (a WebSocket has no unreliable channel). It reconnects
 * and resumes by itself as the Node client does (the reconnector under
 * resume/ is the same code).
 */
import {
  CORE_VER,
  CoreCommand,
  decodeFrameBytes,
  encodeFrameBytes,
  type FrameBytes,
  packBytes as pack,
  Status,
  TidewireError,
  unpackBytes as unpack,
} from '@tidewire/wire/portable';
import { ClientErrorCode, clientError } from '../errors.ts';
import { failAll, type ParkedCommand, type PendingEntry, queueOf } from '../pending.ts';
import {
  type ReconnectOptions,
  type ResolvedReconnect,
  resolveReconnect,
} from '../resume/backoff.ts';
import {
  type Candidate,
  type ReconnectEvents,
  Reconnector,
  type ReconnectorHost,
  type Resumption,
} from '../resume/reconnector.ts';
import { type ClientSeat, type ResumeOffer, resumeOffer } from '../resume/seat.ts';
import { requestSession, type Session } from '../session.ts';
import { Emitter } from './emitter.ts';
import { awaitAnswer, openSocket, SOCKET_ERROR, type SocketEarly } from './socket.ts';

export interface BrowserConnectOptions {
  /** Base URL of the HTTP endpoint, e.g. `http://127.0.0.1:7000` (default: the page's origin). */
  endpointUrl?: string;
  uid: string;
  /** Only 'ws' in browsers (the default). */
  transport?: 'ws';
  /** Sent in the hello (msgpack). */
  clientInfo?: Record<string, unknown>;
  /** Extra headers of the session request (an auth token). */
  headers?: Record<string, string>;
  /**
   * Keep-alive period, ms; 0 turns it off. Default 3000. Nothing heard for
   * three periods and a second is a lost connection (a stalled path).
   */
  keepAliveIntervalMs?: number;
  /** Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Session, socket and hello together (each reconnect attempt too). Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Largest frame payload accepted. Default 65536. */
  maxPayloadLength?: number;
  signal?: AbortSignal;
  /**
   * Reconnect by itself when the connection is lost, as the Node client
   * does (protocol section 13): resume the seat while the server holds it,
   * else a fresh session (`reconnected-fresh`). On by default (10 attempts,
   * backoff 100 ms doubling to 5 s, half of each drawn at random); `false`
   * or `attempts: 0` turns it off. `signal` aborts it too.
   */
  reconnect?: ReconnectOptions | false;
}

export interface BrowserResponse {
  ver: number;
  cmd: number;
  status: number;
  ok: boolean;
  payload: Uint8Array;
}

export interface BrowserPushMessage {
  ver: number;
  cmd: number;
  payload: Uint8Array;
}

export interface BrowserNotification {
  id: string;
  name: string;
  message: Uint8Array;
}

export interface BrowserCloseInfo {
  code: string;
  reason: string;
  remote: boolean;
}

export interface BrowserClientEvents extends ReconnectEvents, Record<string, unknown[]> {
  push: [message: BrowserPushMessage];
  response: [message: BrowserPushMessage & { status: number }];
  notification: [notification: BrowserNotification];
  /** The server is draining: the client moves to another node by itself (reconnect on). */
  reconnect: [info: { reason: string }];
  close: [info: BrowserCloseInfo];
}

interface Pending extends PendingEntry {
  resolve: (response: BrowserResponse) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** What the client needs to open sessions and sockets again. */
interface Dialing {
  options: BrowserConnectOptions;
  reconnect: ResolvedReconnect;
  connectTimeoutMs: number;
  maxPayloadLength: number;
}

/** A session, its socket, and the hello's answer. */
interface Opened {
  session: Session;
  socket: WebSocket;
  userId: string;
  state: string;
  offer: ResumeOffer | null;
  early: SocketEarly;
}

const EMPTY = new Uint8Array(0);

/** A connected client in a browser. Create it with `connect()`. */
export class TidewireClient extends Emitter<BrowserClientEvents> {
  readonly userId: string;
  #session: Session;
  #socket: WebSocket;
  /** What came with the answer of the socket just adopted, until it is attached. */
  #early: SocketEarly;
  /** A disconnect frame the server sent on the current socket, read at its close. */
  #disconnect: BrowserCloseInfo | null = null;
  readonly #dialing: Dialing;
  readonly #reconnector: Reconnector;
  readonly #requestTimeoutMs: number;
  readonly #keepAliveIntervalMs: number;
  readonly #pending = new Map<number, (Pending | null)[]>();
  #latency = 0;
  #serverState: string;
  #closeInfo: BrowserCloseInfo | null = null;
  #keepAliveTimer: ReturnType<typeof setInterval> | null = null;
  /** When a frame last arrived (performance.now()). */
  #heardAt = 0;

  /** @internal Use `connect()`. */
  constructor(
    opened: Opened,
    dialing: Dialing,
    options: { keepAliveIntervalMs: number; requestTimeoutMs: number },
  ) {
    super();
    this.#socket = opened.socket;
    this.#session = opened.session;
    this.#early = opened.early;
    this.userId = opened.userId;
    this.#serverState = opened.state;
    this.#dialing = dialing;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs;
    this.#reconnector = new Reconnector(this.#reconnectorHost(), dialing.reconnect);
    this.#reconnector.optIn(opened.offer);
    // What came with the hello answer is emitted after `await connect(...)` attached listeners.
    setTimeout(() => this.#start(), 0);
  }

  /** The session the client is connected with (a new one after `reconnected-fresh`). */
  get session(): Session {
    return this.#session;
  }

  /** Always 'ws' in a browser. */
  get transport(): 'ws' {
    return 'ws';
  }

  /** Round-trip time of the last keep-alive or ping, ms. */
  get latency(): number {
    return this.#latency;
  }

  /** The server's state at the last hello or keep-alive. */
  get serverState(): string {
    return this.#serverState;
  }

  get closed(): boolean {
    return this.#closeInfo !== null;
  }

  /** True while the client is reconnecting (requests wait for the new connection). */
  get reconnecting(): boolean {
    return this.#reconnector.reconnecting;
  }

  /** Bytes the browser has queued and not yet sent (backpressure). */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /**
   * Sends a command without waiting for an answer (an answer comes as a
   * 'response' event). `reliable: false` is accepted and delivered reliably.
   * False when closed.
   */
  send(
    ver: number,
    cmd: number,
    payload: Uint8Array = EMPTY,
    options: { reliable?: boolean } = {},
  ): boolean {
    if (this.closed) return false;
    queueOf(this.#pending, ver, cmd).push(null);
    this.#transmit({ ver, cmd, payload, options });
    return true;
  }

  /** Sends a command and resolves with its response; rejects on timeout, abort or close. */
  request(
    ver: number,
    cmd: number,
    payload: Uint8Array = EMPTY,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<BrowserResponse> {
    if (this.#closeInfo !== null) {
      return Promise.reject(
        clientError(ClientErrorCode.Closed, `client is closed (${this.#closeInfo.code})`),
      );
    }
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    const answer = this.#wait(ver, cmd, options);
    this.#transmit({ ver, cmd, payload, options: {} });
    return answer;
  }

  /** Sends now, or parks the command while the client moves to another node. */
  #transmit(command: ParkedCommand): void {
    const parked = this.#reconnector.parked;
    if (parked !== null) {
      parked.push(command);
      return;
    }
    // Numbered and kept until acknowledged (protocol section 13): sent again on resume.
    this.#reconnector.sent(command.ver, command.cmd, Status.Request, command.payload);
    this.#socket.send(encodeFrameBytes(command.ver, command.cmd, Status.Request, command.payload));
  }

  /** Queues a waiter for the next answer of (ver, cmd), with its timeout and abort. */
  #wait(
    ver: number,
    cmd: number,
    options: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<BrowserResponse> {
    const signal = options.signal;
    return new Promise((resolve, reject) => {
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
              `no response to ${ver}/${cmd} in ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs),
        cleanup: () => {
          clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
          // The slot stays so that later answers still match in order.
          const i = queue.indexOf(entry);
          if (i >= 0) queue[i] = null;
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(entry);
    });
  }

  /** Sends a keep-alive; updates `latency` and `serverState`; notifications riding it are emitted. */
  async keepAlive(): Promise<{ serverTime: number; state: string }> {
    const started = performance.now();
    const response = await this.request(
      CORE_VER,
      CoreCommand.KeepAlive,
      pack({ rtt: this.#latency }),
    );
    this.#latency = performance.now() - started;
    const body = unpack(response.payload) as {
      serverTime: number;
      state: string;
      notifications?: unknown[];
    };
    this.#serverState = body.state;
    for (const n of body.notifications ?? []) this.#emitNotification(n);
    return { serverTime: body.serverTime, state: body.state };
  }

  /** Round trip of a ping, ms (also sets `latency`). */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.request(CORE_VER, CoreCommand.Ping, new TextEncoder().encode('ping'));
    this.#latency = performance.now() - started;
    return this.#latency;
  }

  /** Sends a disconnect frame and closes the socket (the server releases the seat); stops reconnecting. */
  close(): Promise<void> {
    this.#reconnector.release();
    const socket = this.#socket;
    if (this.#closeInfo === null) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(
          encodeFrameBytes(
            CORE_VER,
            CoreCommand.Disconnect,
            Status.Push,
            pack({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed' }),
          ),
        );
      }
      this.#finish({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed', remote: false });
    }
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      socket.addEventListener('close', () => resolve(), { once: true });
      socket.close(1000, 'TIDEWIRE_CLOSE_NORMAL');
    });
  }

  /** What the reconnector needs of this client: sockets, sessions, the swap. */
  #reconnectorHost(): ReconnectorHost {
    const client = this;
    const dialing = this.#dialing;
    return {
      pending: this.#pending,
      signal: dialing.options.signal,
      connectTimeoutMs: dialing.connectTimeoutMs,
      requestTimeoutMs: this.#requestTimeoutMs,
      get closed() {
        return client.closed;
      },
      emit: (event, ...args) => this.emit(event, ...(args as BrowserClientEvents[typeof event])),
      dialResume: (seat, signal) => this.#dialResume(seat, signal),
      dialFresh: async (signal): Promise<Candidate> => {
        const opened = await openWsSession(dialing, signal);
        return {
          offer: opened.offer,
          adopt: (cleanClose) =>
            this.#adopt(opened.socket, opened.session, opened.state, opened.early, cleanClose),
          discard: () => opened.socket.close(),
        };
      },
      sendAck: (received) =>
        this.#socket.send(
          encodeFrameBytes(CORE_VER, CoreCommand.Ack, Status.Request, pack({ received })),
        ),
      resend: (kept) =>
        this.#socket.send(encodeFrameBytes(kept.ver, kept.cmd, kept.status, kept.payload)),
      transmit: (command) => this.#transmit(command),
      pause: () => this.#stopKeepAlive(),
      start: () => this.#start(),
      close: (info) => this.#finish(info),
    };
  }

  /** Opens a socket to the session's node and resumes the seat on it (protocol section 13.6). */
  async #dialResume(seat: ClientSeat, signal: AbortSignal): Promise<Resumption> {
    const session = this.#session;
    const socket = await openSocket(session.url ?? '', signal);
    const answer = awaitAnswer(socket, CoreCommand.Resume, this.#dialing.maxPayloadLength, signal);
    const body = pack({ received: seat.acks.received });
    const payload = new Uint8Array(seat.token.length + body.length);
    payload.set(seat.token);
    payload.set(body, seat.token.length);
    socket.send(encodeFrameBytes(CORE_VER, CoreCommand.Resume, Status.Request, payload));
    const { body: ok, early } = await answer;
    if (typeof ok.received !== 'number') {
      socket.close();
      throw clientError(ClientErrorCode.HelloRefused, 'resume answer without received');
    }
    return {
      received: ok.received,
      offer: resumeOffer(ok),
      adopt: () => this.#adopt(socket, session, String(ok.state), early),
      discard: () => socket.close(),
    };
  }

  /** Makes `socket` the client's; the old one is dropped, or closed cleanly with `cleanClose`. */
  #adopt(
    socket: WebSocket,
    session: Session,
    state: string,
    early: SocketEarly,
    cleanClose?: string,
  ): void {
    const old = this.#socket;
    old.onmessage = old.onclose = null;
    if (cleanClose !== undefined && old.readyState === WebSocket.OPEN) {
      old.send(
        encodeFrameBytes(
          CORE_VER,
          CoreCommand.Disconnect,
          Status.Push,
          pack({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: cleanClose }),
        ),
      );
    }
    old.close(1000, 'TIDEWIRE_CLOSE_NORMAL');
    this.#socket = socket;
    this.#session = session;
    this.#serverState = state;
    this.#early = early;
    this.#disconnect = null;
  }

  /** The current socket carries the client: what came early first, then its messages and close. */
  #start(): void {
    const socket = this.#socket;
    const early = this.#early;
    this.#heardAt = performance.now();
    for (const frame of early.frames.splice(0)) this.#onFrame(frame);
    if (early.close !== null) {
      this.#onSocketClose(socket, early.close.code, early.close.reason);
      return;
    }
    socket.onmessage = (event) => this.#onMessage(socket, event.data as ArrayBuffer);
    socket.onclose = (event) => this.#onSocketClose(socket, event.code, event.reason);
    if (this.#keepAliveIntervalMs > 0 && this.#keepAliveTimer === null) {
      this.#keepAliveTimer = setInterval(() => this.#onKeepAliveTimer(), this.#keepAliveIntervalMs);
    }
  }

  #stopKeepAlive(): void {
    if (this.#keepAliveTimer !== null) clearInterval(this.#keepAliveTimer);
    this.#keepAliveTimer = null;
  }

  /** A keep-alive, unless nothing was heard for three periods and a second: then the path is lost. */
  #onKeepAliveTimer(): void {
    if (performance.now() - this.#heardAt > this.#keepAliveIntervalMs * 3 + 1000) {
      const socket = this.#socket;
      socket.onmessage = socket.onclose = null;
      socket.close();
      this.#lost({ code: 'TIDEWIRE_ERR_IDLE_TIMEOUT', reason: 'nothing heard', remote: false });
      return;
    }
    this.keepAlive().catch(() => {});
  }

  #onMessage(socket: WebSocket, data: ArrayBuffer | string): void {
    if (socket !== this.#socket || typeof data === 'string') return;
    this.#heardAt = performance.now();
    try {
      decodeFrameBytes(
        new Uint8Array(data),
        (frame) => this.#onFrame(frame),
        this.#dialing.maxPayloadLength,
      );
    } catch (err) {
      const code = err instanceof TidewireError ? err.code : 'TIDEWIRE_ERR_DECODER_FAILED';
      this.#finish({ code, reason: String((err as Error).message), remote: false });
      socket.close(1002, code);
    }
  }

  #onFrame(frame: FrameBytes): void {
    const seen = this.#reconnector.received(frame.ver, frame.cmd, frame.payload, true);
    if (seen === 'invalid') {
      const socket = this.#socket;
      socket.onmessage = socket.onclose = null;
      socket.close(4000, 'TIDEWIRE_ERR_RESUME_INVALID');
      this.#finish({
        code: 'TIDEWIRE_ERR_RESUME_INVALID',
        reason: 'ack out of range',
        remote: false,
      });
      return;
    }
    if (seen === 'ack') return;
    if (frame.status === Status.Push) {
      this.#onPush(frame);
      return;
    }
    const queue = this.#pending.get(frame.ver * 0x10000 + frame.cmd);
    const entry = queue?.shift();
    const response = {
      ver: frame.ver,
      cmd: frame.cmd,
      status: frame.status,
      ok: frame.status === Status.Ok,
      payload: frame.payload,
    };
    if (entry === undefined || entry === null) {
      this.emit('response', response);
      return;
    }
    entry.cleanup();
    entry.resolve(response);
  }

  #onPush(frame: FrameBytes): void {
    if (frame.ver === CORE_VER) {
      if (frame.cmd === CoreCommand.Disconnect) {
        // The close of the socket follows; it decides (a node that shuts down: reconnect).
        const body = safeMap(frame.payload);
        this.#disconnect = {
          code: typeof body.code === 'string' ? body.code : 'TIDEWIRE_CLOSE_UNSPECIFIED',
          reason: typeof body.reason === 'string' ? body.reason : '',
          remote: true,
        };
        return;
      }
      if (frame.cmd === CoreCommand.Reconnect) {
        this.emit('reconnect', safeMap(frame.payload) as { reason: string });
        void this.#reconnector.move();
        return;
      }
      if (frame.cmd === CoreCommand.Notification) {
        this.#emitNotification(safeMap(frame.payload));
        return;
      }
    }
    this.emit('push', { ver: frame.ver, cmd: frame.cmd, payload: frame.payload });
  }

  #emitNotification(value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    const { id, name, message } = value as Record<string, unknown>;
    if (typeof id !== 'string' || typeof name !== 'string' || !(message instanceof Uint8Array))
      return;
    this.emit('notification', { id, name, message });
  }

  #onSocketClose(socket: WebSocket, wsCode: number, wsReason: string): void {
    if (socket !== this.#socket) return;
    this.#lost(
      this.#disconnect ?? {
        code: wsReason.startsWith('TIDEWIRE_') ? wsReason : SOCKET_ERROR,
        reason: `websocket closed with ${wsCode}`,
        remote: true,
      },
    );
  }

  /** The socket is gone: reconnect when it was lost and reconnect is on, else the client closes. */
  #lost(info: BrowserCloseInfo): void {
    if (this.#closeInfo !== null) return;
    if (!this.#reconnector.lost(info)) this.#finish(info);
  }

  #finish(info: BrowserCloseInfo): void {
    if (this.#closeInfo !== null) return;
    this.#closeInfo = info;
    this.#reconnector.stop();
    this.#stopKeepAlive();
    failAll(this.#pending, clientError(ClientErrorCode.Closed, `connection closed: ${info.code}`));
    this.emit('close', info);
  }
}

function safeMap(payload: Uint8Array): Record<string, unknown> {
  try {
    const value: unknown = unpack(payload);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A WS session from the HTTP endpoint (CORS), its socket, and the hello. */
async function openWsSession(dialing: Dialing, signal: AbortSignal): Promise<Opened> {
  const { options } = dialing;
  const session = await requestSession({
    endpointUrl:
      options.endpointUrl ??
      (globalThis as { location?: { origin: string } }).location?.origin ??
      '',
    uid: options.uid,
    transport: 'ws',
    signal,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  const socket = await openSocket(session.url ?? '', signal).catch((err: unknown) => {
    throw signal.aborted
      ? err
      : clientError(ClientErrorCode.HelloRefused, `cannot open ${String(session.url)}`, err);
  });
  const answer = awaitAnswer(socket, CoreCommand.Hello, dialing.maxPayloadLength, signal);
  const sid = hexBytes(session.sid);
  const info = options.clientInfo === undefined ? EMPTY : pack(options.clientInfo);
  const body = new Uint8Array(sid.length + info.length);
  body.set(sid);
  body.set(info, sid.length);
  socket.send(encodeFrameBytes(CORE_VER, CoreCommand.Hello, Status.Request, body));
  const { body: hello, early } = await answer;
  return {
    session,
    socket,
    userId: String(hello.userId),
    state: String(hello.state),
    offer: resumeOffer(hello),
    early,
  };
}

/**
 * Gets a WS session from the HTTP endpoint (CORS), opens its URL, says hello.
 * Resolves with a connected client; rejects with a `TidewireError`.
 */
export async function connect(options: BrowserConnectOptions): Promise<TidewireClient> {
  if (options.transport !== undefined && options.transport !== 'ws') {
    throw clientError(
      ClientErrorCode.InvalidArgument,
      `transport must be 'ws' in a browser, got ${String(options.transport)}`,
    );
  }
  const dialing: Dialing = {
    options,
    reconnect: resolveReconnect(options.reconnect),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    maxPayloadLength: options.maxPayloadLength ?? 65_536,
  };
  const deadline = AbortSignal.timeout(dialing.connectTimeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const opened = await openWsSession(dialing, signal);
  return new TidewireClient(opened, dialing, {
    keepAliveIntervalMs: options.keepAliveIntervalMs ?? 3000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
  });
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

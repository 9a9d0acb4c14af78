/**
 * The Tidewire client for browsers: the same API as the Node client over a
 * WebSocket (`fetch` for the session, the global `WebSocket`, `Uint8Array`
 * payloads). Frames are those of every transport; `reliable: false` is
 * delivered reliably (a WebSocket has no unreliable channel).
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
import { requestSession, type Session } from '../session.ts';
import { Emitter } from './emitter.ts';

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
  /** Keep-alive period, ms; 0 turns it off. Default 3000. */
  keepAliveIntervalMs?: number;
  /** Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Session, socket and hello together. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Largest frame payload accepted. Default 65536. */
  maxPayloadLength?: number;
  signal?: AbortSignal;
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

export interface BrowserClientEvents extends Record<string, unknown[]> {
  push: [message: BrowserPushMessage];
  response: [message: BrowserPushMessage & { status: number }];
  notification: [notification: BrowserNotification];
  reconnect: [info: { reason: string }];
  close: [info: BrowserCloseInfo];
}

interface Pending {
  resolve: (response: BrowserResponse) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

const EMPTY = new Uint8Array(0);
const keyOf = (ver: number, cmd: number): number => ver * 0x10000 + cmd;

/** A connected client in a browser. Create it with `connect()`. */
export class TidewireClient extends Emitter<BrowserClientEvents> {
  readonly session: Session;
  readonly userId: string;
  readonly #socket: WebSocket;
  readonly #requestTimeoutMs: number;
  readonly #maxPayloadLength: number;
  readonly #pending = new Map<number, (Pending | null)[]>();
  #latency = 0;
  #serverState: string;
  #closeInfo: BrowserCloseInfo | null = null;
  #keepAliveTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    socket: WebSocket,
    session: Session,
    hello: { userId: string; state: string },
    options: { keepAliveIntervalMs: number; requestTimeoutMs: number; maxPayloadLength: number },
  ) {
    super();
    this.#socket = socket;
    this.session = session;
    this.userId = hello.userId;
    this.#serverState = hello.state;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#maxPayloadLength = options.maxPayloadLength;
    socket.onmessage = (event) => this.#onMessage(event.data as ArrayBuffer);
    socket.onclose = (event) => this.#onSocketClose(event.code, event.reason);
    if (options.keepAliveIntervalMs > 0) {
      this.#keepAliveTimer = setInterval(() => {
        this.keepAlive().catch(() => {});
      }, options.keepAliveIntervalMs);
    }
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
    _options: { reliable?: boolean } = {},
  ): boolean {
    if (this.closed) return false;
    this.#queue(ver, cmd).push(null);
    this.#socket.send(encodeFrameBytes(ver, cmd, Status.Request, payload));
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
    return new Promise((resolve, reject) => {
      const queue = this.#queue(ver, cmd);
      const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
      const entry: Pending = {
        resolve: (r) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          options.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        timer: setTimeout(() => {
          const i = queue.indexOf(entry);
          if (i >= 0) queue[i] = null;
          entry.reject(
            clientError(
              ClientErrorCode.RequestTimeout,
              `no response to ${ver}/${cmd} in ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs),
      };
      const onAbort = (): void => {
        clearTimeout(entry.timer);
        const i = queue.indexOf(entry);
        if (i >= 0) queue[i] = null;
        reject(options.signal?.reason);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(entry);
      this.#socket.send(encodeFrameBytes(ver, cmd, Status.Request, payload));
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

  /** Sends a disconnect frame and closes the socket; resolves when it is closed. */
  close(): Promise<void> {
    if (this.#closeInfo === null) {
      this.#socket.send(
        encodeFrameBytes(
          CORE_VER,
          CoreCommand.Disconnect,
          Status.Push,
          pack({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed' }),
        ),
      );
      this.#finish({ code: 'TIDEWIRE_ERR_CLIENT_CLOSED', reason: 'client closed', remote: false });
    }
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.addEventListener('close', () => resolve(), { once: true });
      this.#socket.close(1000, 'TIDEWIRE_CLOSE_NORMAL');
    });
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

  #onMessage(data: ArrayBuffer | string): void {
    if (typeof data === 'string') return;
    try {
      decodeFrameBytes(
        new Uint8Array(data),
        (frame) => this.#onFrame(frame),
        this.#maxPayloadLength,
      );
    } catch (err) {
      const code = err instanceof TidewireError ? err.code : 'TIDEWIRE_ERR_DECODER_FAILED';
      this.#finish({ code, reason: String((err as Error).message), remote: false });
      this.#socket.close(1002, code);
    }
  }

  #onFrame(frame: FrameBytes): void {
    if (frame.status === Status.Push) {
      this.#onPush(frame);
      return;
    }
    const queue = this.#pending.get(keyOf(frame.ver, frame.cmd));
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
    clearTimeout(entry.timer);
    entry.resolve(response);
  }

  #onPush(frame: FrameBytes): void {
    if (frame.ver === CORE_VER) {
      if (frame.cmd === CoreCommand.Disconnect) {
        const body = safeMap(frame.payload);
        this.#finish({
          code: typeof body.code === 'string' ? body.code : 'TIDEWIRE_CLOSE_UNSPECIFIED',
          reason: typeof body.reason === 'string' ? body.reason : '',
          remote: true,
        });
        return;
      }
      if (frame.cmd === CoreCommand.Reconnect) {
        this.emit('reconnect', safeMap(frame.payload) as { reason: string });
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

  #onSocketClose(wsCode: number, wsReason: string): void {
    this.#finish({
      code: wsReason.startsWith('TIDEWIRE_') ? wsReason : 'TIDEWIRE_ERR_SOCKET',
      reason: `websocket closed with ${wsCode}`,
      remote: true,
    });
  }

  #finish(info: BrowserCloseInfo): void {
    if (this.#closeInfo !== null) return;
    this.#closeInfo = info;
    if (this.#keepAliveTimer !== null) clearInterval(this.#keepAliveTimer);
    this.#keepAliveTimer = null;
    for (const queue of this.#pending.values()) {
      for (const entry of queue) {
        if (entry === null) continue;
        clearTimeout(entry.timer);
        entry.reject(clientError(ClientErrorCode.Closed, `connection closed: ${info.code}`));
      }
    }
    this.#pending.clear();
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
  const deadline = AbortSignal.timeout(options.connectTimeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
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
  const socket = new WebSocket(session.url ?? '');
  socket.binaryType = 'arraybuffer';
  const hello = await new Promise<{ userId: string; state: string }>((resolve, reject) => {
    const fail = (err: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close();
      reject(err);
    };
    const onAbort = (): void => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.onerror = () =>
      fail(clientError(ClientErrorCode.HelloRefused, `cannot open ${String(session.url)}`));
    socket.onclose = (event) =>
      fail(
        clientError(
          ClientErrorCode.HelloRefused,
          `closed during hello: ${event.code} ${event.reason}`,
        ),
      );
    socket.onopen = () => {
      const sid = hexBytes(session.sid);
      const info = options.clientInfo === undefined ? EMPTY : pack(options.clientInfo);
      const body = new Uint8Array(sid.length + info.length);
      body.set(sid);
      body.set(info, sid.length);
      socket.send(encodeFrameBytes(CORE_VER, CoreCommand.Hello, Status.Request, body));
    };
    socket.onmessage = (event) => {
      let answer: FrameBytes | null = null;
      try {
        decodeFrameBytes(
          new Uint8Array(event.data as ArrayBuffer),
          (frame) => {
            if (answer === null && frame.ver === CORE_VER && frame.cmd === CoreCommand.Hello) {
              answer = frame;
            }
          },
          options.maxPayloadLength ?? 65_536,
        );
      } catch (err) {
        fail(clientError(ClientErrorCode.HelloRefused, 'malformed hello answer', err));
        return;
      }
      const frame = answer as FrameBytes | null;
      if (frame === null) return;
      const body = safeMap(frame.payload);
      if (frame.status !== Status.Ok) {
        fail(
          new TidewireError(
            ClientErrorCode.HelloRefused,
            `hello refused: ${String(body.code)} ${String(body.message)}`,
          ),
        );
        return;
      }
      signal.removeEventListener('abort', onAbort);
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      resolve({ userId: String(body.userId), state: String(body.state) });
    };
  });
  return new TidewireClient(socket, session, hello, {
    keepAliveIntervalMs: options.keepAliveIntervalMs ?? 3000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    maxPayloadLength: options.maxPayloadLength ?? 65_536,
  });
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

import type { Socket } from 'node:net';
import {
  CORE_VER,
  CoreCommand,
  EMPTY_PAYLOAD,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_SIZE,
  packFrame,
  readU32,
  Status,
  TidewireError,
  unpack,
  WireErrorCode,
} from '@tidewire/wire';
import { bytesChannel, byteTotals, closeChannel, connectionChannel } from './channels.ts';
import { corkUntilEndOfTick, currentEpoch, newEpoch } from './coalesce.ts';
import { TcpCloseCode, TcpErrorCode } from './errors.ts';
import {
  CLOSE_TIMEOUT_MS,
  checkInteger,
  type ResolvedConnectionOptions,
  resolveConnectionOptions,
  type TcpConnectionOptions,
} from './options.ts';

/** Why and how a connection ended; passed once to `onClose`. */
export interface CloseInfo {
  /** A `TIDEWIRE_ERR_*` or `TIDEWIRE_CLOSE_*` code, or the code the peer sent in its disconnect frame. */
  code: string;
  reason: string;
  /** True when the peer ended the connection (disconnect frame, end of stream, reset). */
  remote: boolean;
  /** The error behind the close, when there is one. */
  error?: Error;
}

export interface TcpCloseOptions {
  /** Destroy the socket if the peer has not closed within this many ms. Default 1000. */
  timeoutMs?: number;
}

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

let nextId = 1;

/** Package-internal: lets the listener learn when a connection is gone, before `onClose` runs. */
export let setGoneHook: (
  connection: TcpConnection,
  hook: (connection: TcpConnection) => void,
) => void;

/** The socket's connection, set when the connection takes the socket. */
const kConnection = Symbol('tidewire.tcpConnection');
type OwnedSocket = Socket & { [kConnection]: TcpConnection };

/**
 * Socket listeners and timer callbacks shared by every connection instead of
 * closures of its own: each finds its connection (on the socket, or passed
 * to the timer) and calls its private method. Set by TcpConnection's static
 * block.
 */
let onSocketData: (this: OwnedSocket, chunk: Buffer) => void;
let onSocketEnd: (this: OwnedSocket) => void;
let onSocketError: (this: OwnedSocket, err: Error) => void;
let onSocketClose: (this: OwnedSocket) => void;
let onSocketDrain: (this: OwnedSocket) => void;
let onIdleTimer: (connection: TcpConnection) => void;
let onCloseTimeout: (connection: TcpConnection) => void;

/**
 * One TCP connection speaking wire frames. Created by `listenTcp` (accepted)
 * or `dialTcp` (dialed); you may also wrap a connected `net.Socket` yourself.
 * It takes over the socket: do not read from or write to it afterwards.
 */
export class TcpConnection {
  /** Unique in the process. */
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  /**
   * Called once per received frame, in order, with the connection itself.
   * Payloads may be views of the read chunk (see FrameDecoder).
   */
  onFrame: ((frame: Frame, connection: TcpConnection) => void) | null = null;
  /**
   * Anything the owner keeps with the connection (its session, its user).
   * One `onFrame` function can then serve every connection, reading `data`
   * from the connection it is given, instead of a closure per connection:
   * with thousands of connections, each closure is one more cold object a
   * frame touches.
   */
  data: unknown = undefined;
  /** Called exactly once, when the socket is gone. */
  onClose: ((info: CloseInfo) => void) | null = null;
  /** Called when the send queue has drained after `send` returned false. */
  onDrain: (() => void) | null = null;

  readonly #socket: Socket;
  readonly #options: ResolvedConnectionOptions;
  readonly #decoder: FrameDecoder;
  #state: number = OPEN;
  /** False once nothing more is delivered to `onFrame` (closing, or a disconnect frame arrived). */
  #receiving = true;
  #closeInfo: CloseInfo | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #lastFrameAt = 0;
  #framesReceived = 0;
  #waitingDrain = false;
  #lastSendEpoch = -1;
  #corkedEpoch = -1;
  #handlerError: unknown = null;
  #handlerThrew = false;
  #gone: ((connection: TcpConnection) => void) | null = null;
  /** Made when first asked for (most connections end without anyone waiting). */
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;

  static {
    setGoneHook = (connection, hook) => {
      connection.#gone = hook;
    };
    // Socket events call their listeners with the socket as `this`.
    onSocketData = function (this: OwnedSocket, chunk: Buffer) {
      this[kConnection].#onData(chunk);
    };
    onSocketEnd = function (this: OwnedSocket) {
      this[kConnection].#onEnd();
    };
    onSocketError = function (this: OwnedSocket, err: Error) {
      this[kConnection].#onError(err);
    };
    onSocketClose = function (this: OwnedSocket) {
      this[kConnection].#onSocketClose();
    };
    onSocketDrain = function (this: OwnedSocket) {
      this[kConnection].#onSocketDrain();
    };
    onIdleTimer = (connection) => connection.#onIdleTimer();
    onCloseTimeout = (connection) => connection.#onCloseTimeout();
  }

  constructor(socket: Socket, options: TcpConnectionOptions = {}) {
    if (socket.destroyed || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      throw new TidewireError(WireErrorCode.InvalidArgument, 'socket is not connected');
    }
    this.id = nextId++;
    this.#socket = socket;
    this.#options = resolveConnectionOptions(options);
    this.#decoder = new FrameDecoder({ maxPayloadLength: this.#options.maxPayloadLength });
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    socket.setNoDelay(this.#options.noDelay);
    (socket as OwnedSocket)[kConnection] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);

    if (this.#options.idleTimeoutMs > 0) {
      this.#lastFrameAt = Date.now();
      this.#armIdle(this.#options.idleTimeoutMs);
    }
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ connection: this });
  }

  /** True once the connection accepts no more sends: closing, destroyed or gone. */
  get closed(): boolean {
    return this.#state !== OPEN;
  }

  /** Why the connection is closing or closed, or null while open. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes queued for sending and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  /** `send` returns false while `bufferedBytes` is at or above this: min(64 KiB, maxBufferedBytes). */
  get highWaterMark(): number {
    return this.#options.highWaterMark;
  }

  /** Frames received since the connection opened (disconnect frames included). */
  get framesReceived(): number {
    return this.#framesReceived;
  }

  /** Bytes read from / written to the socket so far. */
  get bytesRead(): number {
    return this.#socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.#socket.bytesWritten;
  }

  /**
   * Queues already-encoded frame bytes (one frame or several concatenated).
   * Returns false when the queue is at or above the high-water mark (slow
   * down and wait for `onDrain`), when the connection is closed (nothing is
   * sent), or when these bytes would push the queue past `maxBufferedBytes`:
   * then the connection is destroyed with `TIDEWIRE_ERR_SLOW_CONSUMER`.
   */
  send(frame: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    const socket = this.#socket;
    const queued = socket.writableLength + frame.length;
    if (queued > this.#options.maxBufferedBytes) {
      this.#slowConsumer(queued);
      return false;
    }
    byteTotals.out += frame.length;
    if (bytesChannel.hasSubscribers) {
      bytesChannel.publish({ connection: this, direction: 'out', bytes: frame.length });
    }
    if (this.#options.coalesceWrites) {
      const epoch = currentEpoch();
      if (this.#lastSendEpoch !== epoch) {
        this.#lastSendEpoch = epoch;
      } else if (this.#corkedEpoch !== epoch) {
        this.#corkedEpoch = epoch;
        corkUntilEndOfTick(socket);
      }
    }
    socket.write(frame);
    if (socket.writableLength < this.#options.highWaterMark) return true;
    if (!this.#waitingDrain) {
      this.#waitingDrain = true;
      // The socket emits 'drain' only if its own write() returned false; when
      // its high-water mark is above ours, an empty write tells us instead.
      if (!socket.writableNeedDrain) {
        socket.write(EMPTY_PAYLOAD, (err?: Error | null) => {
          if (err == null) this.#onSocketDrain();
        });
      }
    }
    return false;
  }

  /** Encodes and sends one frame; same result as `send`. Throws on out-of-range fields. */
  sendFrame(ver: number, cmd: number, status: number, payload?: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    return this.send(encodeFrame(ver, cmd, status, payload));
  }

  /** Stops reading from the socket (the peer's sends then back up). */
  pause(): void {
    this.#socket.pause();
  }

  /** Resumes reading after `pause`. */
  resume(): void {
    this.#socket.resume();
  }

  /**
   * Sends a disconnect frame (ver 0, cmd 0, status Push, msgpack `{ code, reason }`),
   * ends the socket, and destroys it if the peer has not closed within
   * `timeoutMs` (default 1000). Resolves when the socket is closed. Idempotent.
   */
  close(
    code: string = TcpCloseCode.Normal,
    reason = '',
    options: TcpCloseOptions = {},
  ): Promise<void> {
    if (this.#state === OPEN) {
      const timeoutMs = options.timeoutMs ?? CLOSE_TIMEOUT_MS;
      checkInteger('timeoutMs', timeoutMs, 0, 0x7fff_ffff);
      this.#closeGracefully({ code, reason, remote: false }, true, timeoutMs);
    }
    return this.whenClosed();
  }

  /** Destroys the socket now; queued bytes are dropped. `onClose` follows asynchronously. */
  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    if (this.#closeInfo === null) {
      this.#closeInfo =
        error === undefined
          ? { code: TcpErrorCode.Destroyed, reason: 'destroyed', remote: false }
          : {
              code: error instanceof TidewireError ? error.code : TcpErrorCode.Destroyed,
              reason: error.message,
              remote: false,
              error,
            };
    }
    this.#state = CLOSING;
    this.#receiving = false;
    this.#clearIdle();
    this.#socket.destroy();
  }

  /** Resolves when the socket is gone (after `onClose` ran). */
  whenClosed(): Promise<void> {
    if (this.#closed === null) {
      if (this.#state === CLOSED) this.#closed = Promise.resolve();
      else {
        this.#closed = new Promise<void>((resolve) => {
          this.#resolveClosed = resolve;
        });
      }
    }
    return this.#closed;
  }

  // --- receive path -------------------------------------------------------

  #onData(chunk: Buffer): void {
    newEpoch();
    byteTotals.in += chunk.length;
    if (bytesChannel.hasSubscribers) {
      bytesChannel.publish({ connection: this, direction: 'in', bytes: chunk.length });
    }
    if (!this.#receiving) return;
    if (this.#options.coalesceWrites && holdsSeveralFrames(chunk, this.#decoder)) {
      // Several whole frames in one read (a client's burst, a keep-alive riding
      // with a command): their answers leave together at the end of the tick.
      const epoch = currentEpoch();
      this.#corkedEpoch = epoch;
      this.#lastSendEpoch = epoch;
      corkUntilEndOfTick(this.#socket);
    }
    const before = this.#framesReceived;
    try {
      this.#decoder.push(chunk, this.#deliver);
    } catch (err) {
      this.#onDecodeError(err);
      return;
    }
    if (this.#framesReceived !== before && this.#idleTimer !== null) {
      this.#lastFrameAt = Date.now();
    }
  }

  readonly #deliver = (frame: Frame): void => {
    if (!this.#receiving) return;
    this.#framesReceived++;
    if (frame.ver === CORE_VER && frame.cmd === CoreCommand.Disconnect) {
      this.#onRemoteDisconnect(frame.payload);
      return;
    }
    const handler = this.onFrame;
    if (handler === null) return;
    try {
      handler(frame, this);
    } catch (err) {
      this.#handlerThrew = true;
      this.#handlerError = err;
      throw err;
    }
  };

  #onDecodeError(err: unknown): void {
    if (this.#handlerThrew) {
      const error = asError(this.#handlerError);
      this.#options.logger?.error?.('tcp: onFrame threw; closing the connection', {
        id: this.id,
        error,
      });
      this.#closeGracefully(
        {
          code: TcpErrorCode.HandlerFailed,
          reason: `onFrame threw: ${error.message}`,
          remote: false,
          error,
        },
        true,
        CLOSE_TIMEOUT_MS,
      );
      return;
    }
    const error = asError(err);
    const code = error instanceof TidewireError ? error.code : WireErrorCode.DecoderFailed;
    this.#options.logger?.warn?.('tcp: protocol error; closing the connection', {
      id: this.id,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      code,
      reason: error.message,
    });
    this.#closeGracefully(
      { code, reason: error.message, remote: false, error },
      true,
      CLOSE_TIMEOUT_MS,
    );
  }

  #onRemoteDisconnect(payload: Buffer): void {
    let code: string = TcpCloseCode.Unspecified;
    let reason = '';
    try {
      const value: unknown = unpack(payload);
      if (typeof value === 'object' && value !== null) {
        const fields = value as { code?: unknown; reason?: unknown };
        if (typeof fields.code === 'string' && fields.code.length > 0) code = fields.code;
        if (typeof fields.reason === 'string') reason = fields.reason;
      }
    } catch {
      // A malformed disconnect payload still means the peer is leaving.
    }
    this.#closeGracefully({ code, reason, remote: true }, false, CLOSE_TIMEOUT_MS);
  }

  #onEnd(): void {
    if (this.#state !== OPEN) return;
    let info: CloseInfo = {
      code: TcpCloseCode.PeerEnded,
      reason: 'peer ended the stream',
      remote: true,
    };
    try {
      this.#decoder.end();
    } catch (err) {
      const error = asError(err);
      const code = error instanceof TidewireError ? error.code : WireErrorCode.Truncated;
      info = { code, reason: error.message, remote: true, error };
    }
    this.#closeGracefully(info, false, CLOSE_TIMEOUT_MS);
  }

  #onError(err: Error): void {
    const errno = (err as NodeJS.ErrnoException).code;
    const reset = errno === 'ECONNRESET' || errno === 'EPIPE';
    this.#closeInfo ??= {
      code: reset ? TcpErrorCode.ConnectionReset : TcpErrorCode.SocketError,
      reason: err.message,
      remote: reset,
      error: err,
    };
    this.#state = CLOSING;
    this.#receiving = false;
    this.#clearIdle();
    this.#options.logger?.debug?.('tcp: socket error', { id: this.id, error: err });
  }

  // --- close path ---------------------------------------------------------

  #closeGracefully(info: CloseInfo, sendDisconnect: boolean, timeoutMs: number): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#receiving = false;
    this.#closeInfo = info;
    this.#clearIdle();
    const socket = this.#socket;
    if (sendDisconnect && socket.writable) {
      socket.write(
        packFrame(CORE_VER, CoreCommand.Disconnect, Status.Push, {
          code: info.code,
          reason: info.reason,
        }),
      );
    }
    socket.end();
    this.#closeTimer = setTimeout(onCloseTimeout, timeoutMs, this);
  }

  #onCloseTimeout(): void {
    this.#closeTimer = null;
    this.#socket.destroy();
  }

  #slowConsumer(queued: number): void {
    const max = this.#options.maxBufferedBytes;
    this.#closeInfo = {
      code: TcpErrorCode.SlowConsumer,
      reason: `send queue would hold ${queued} bytes, above maxBufferedBytes (${max})`,
      remote: false,
    };
    this.#options.logger?.warn?.('tcp: slow consumer; destroying the connection', {
      id: this.id,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      queued,
      maxBufferedBytes: max,
    });
    this.destroy();
  }

  #onSocketClose(): void {
    this.#state = CLOSED;
    this.#receiving = false;
    this.#clearIdle();
    if (this.#closeTimer !== null) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
    }
    this.#closeInfo ??= { code: TcpErrorCode.Destroyed, reason: 'socket closed', remote: false };
    const info = this.#closeInfo;
    this.#options.logger?.debug?.('tcp: connection closed', {
      id: this.id,
      code: info.code,
      reason: info.reason,
      remote: info.remote,
    });
    if (closeChannel.hasSubscribers) {
      closeChannel.publish({
        connection: this,
        code: info.code,
        reason: info.reason,
        remote: info.remote,
      });
    }
    const gone = this.#gone;
    this.#gone = null;
    gone?.(this);
    const onClose = this.onClose;
    this.onFrame = null;
    this.onDrain = null;
    this.onClose = null;
    if (onClose !== null) {
      try {
        onClose(info);
      } catch (err) {
        this.#options.logger?.error?.('tcp: onClose threw', { id: this.id, error: err });
      }
    }
    this.#resolveClosed?.();
  }

  #onSocketDrain(): void {
    if (!this.#waitingDrain || this.#state !== OPEN) return;
    this.#waitingDrain = false;
    this.onDrain?.();
  }

  // --- idle TTL: one timer per connection, re-armed lazily -----------------
  // Timers stay ref'd: they live only while their socket does (which holds the
  // process anyway) and are cleared when it closes, so leak checks can see them.

  #armIdle(delayMs: number): void {
    this.#idleTimer = setTimeout(onIdleTimer, delayMs, this);
  }

  #onIdleTimer(): void {
    this.#idleTimer = null;
    if (this.#state !== OPEN) return;
    const ttl = this.#options.idleTimeoutMs;
    const idle = Date.now() - this.#lastFrameAt;
    if (idle < ttl) {
      this.#armIdle(ttl - idle);
      return;
    }
    this.#closeGracefully(
      { code: TcpErrorCode.IdleTimeout, reason: `no frame received for ${ttl} ms`, remote: false },
      true,
      CLOSE_TIMEOUT_MS,
    );
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
  }
}

/** True when `chunk`, read at a frame boundary, holds more than its first frame. */
function holdsSeveralFrames(chunk: Buffer, decoder: FrameDecoder): boolean {
  return (
    decoder.bufferedBytes === 0 &&
    chunk.length > HEADER_SIZE &&
    HEADER_SIZE + readU32(chunk, 6) < chunk.length
  );
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

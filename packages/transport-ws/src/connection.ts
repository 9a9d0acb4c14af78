import {
  CORE_VER,
  CoreCommand,
  decodeFrames,
  type Frame,
  packFrame,
  Status,
  TidewireError,
  unpack,
  WireErrorCode,
} from '@tidewire/wire';
import type WebSocket from 'ws';
import { closeChannel, connectionChannel } from './channels.ts';
import { WsCloseCode, WsErrorCode, wsCloseCodeFor } from './errors.ts';
import {
  CLOSE_TIMEOUT_MS,
  type ResolvedWsOptions,
  resolveWsOptions,
  type WsConnectionOptions,
} from './options.ts';

/** Why and how a connection ended; passed once to `onClose`. */
export interface WsCloseInfo {
  /** A `TIDEWIRE_ERR_*` / `TIDEWIRE_CLOSE_*` code, or the code of the peer's disconnect frame. */
  code: string;
  reason: string;
  /** True when the peer ended the connection. */
  remote: boolean;
  /** The WebSocket close code seen on the wire (1006 when the socket dropped). */
  wsCode: number;
}

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;
let nextId = 1;

/**
 * One WebSocket connection speaking wire frames: every binary message holds
 * one or more whole frames. Wraps a `ws` socket (accepted by `listenWs`, or
 * dialed with `dialWs`) and takes it over.
 */
export class WsConnection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The Origin header of the upgrade ('' when none). */
  readonly origin: string;
  /** Called once per received frame, in order. */
  onFrame: ((frame: Frame, connection: WsConnection) => void) | null = null;
  /** Anything the owner keeps with the connection. */
  data: unknown = undefined;
  /** Called exactly once, when the socket is gone. */
  onClose: ((info: WsCloseInfo) => void) | null = null;
  /** Called when the send queue drained after `send` returned false. */
  onDrain: (() => void) | null = null;

  readonly #socket: WebSocket;
  readonly #options: ResolvedWsOptions;
  #state = OPEN;
  #closeInfo: Omit<WsCloseInfo, 'wsCode'> | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #lastFrameAt = 0;
  #waitingDrain = false;
  #closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(
    socket: WebSocket,
    remote: { address: string; port: number; origin?: string },
    options: WsConnectionOptions = {},
  ) {
    this.id = nextId++;
    this.#socket = socket;
    this.#options = resolveWsOptions(options);
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.origin = remote.origin ?? '';
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    socket.on('close', (code, reason) => this.#onSocketClose(code, reason.toString()));
    socket.on('error', (err) => this.#onError(err));
    if (this.#options.idleTimeoutMs > 0) {
      this.#lastFrameAt = Date.now();
      this.#idleTimer = setTimeout(() => this.#onIdle(), this.#options.idleTimeoutMs);
    }
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ connection: this });
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  /** Bytes queued by the socket and not yet written. */
  get bufferedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  get highWaterMark(): number {
    return this.#options.highWaterMark;
  }

  /**
   * Sends encoded frame bytes (one or several whole frames) as one binary
   * message. False at or above the high-water mark (wait for `onDrain`) or
   * when closed; when the bytes would push the queue past `maxBufferedBytes`
   * the connection is dropped with `TIDEWIRE_ERR_SLOW_CONSUMER`. A WebSocket
   * is reliable: `{ reliable: false }` is accepted and delivered reliably.
   */
  send(frames: Uint8Array, _options?: { reliable?: boolean }): boolean {
    if (this.#state !== OPEN) return false;
    const queued = this.#socket.bufferedAmount + frames.length;
    if (queued > this.#options.maxBufferedBytes) {
      this.#options.logger?.warn?.('ws: slow consumer; dropping the connection', {
        id: this.id,
        remoteAddress: this.remoteAddress,
        queued,
      });
      this.#closeInfo = {
        code: WsErrorCode.SlowConsumer,
        reason: `send queue would hold ${queued} bytes, above maxBufferedBytes (${this.#options.maxBufferedBytes})`,
        remote: false,
      };
      this.destroy();
      return false;
    }
    if (queued < this.#options.highWaterMark) {
      this.#socket.send(frames, { binary: true });
      return true;
    }
    if (!this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#socket.send(frames, { binary: true }, () => this.#drained());
    } else {
      this.#socket.send(frames, { binary: true });
    }
    return false;
  }

  /**
   * Sends a disconnect frame (`{ code, reason }`), then a WebSocket close with
   * the mapped close code (docs/protocol.md) and `code` as its reason;
   * terminates if the peer has not closed within 1 s. Resolves when gone.
   */
  close(code: string = WsCloseCode.Normal, reason = ''): Promise<void> {
    if (this.#state === OPEN) this.#closeGracefully({ code, reason, remote: false }, true);
    return this.#closed;
  }

  /** Drops the socket now (no close handshake); `error`'s code and message become the close info. */
  destroy(error?: Error): void {
    if (this.#state === CLOSED) return;
    this.#closeInfo ??= {
      code: error instanceof TidewireError ? error.code : WsErrorCode.Destroyed,
      reason: error?.message ?? 'destroyed',
      remote: false,
    };
    this.#state = CLOSING;
    this.#clearIdle();
    this.#socket.terminate();
  }

  whenClosed(): Promise<void> {
    return this.#closed;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#state !== OPEN) return;
    if (!isBinary) {
      this.#closeGracefully(
        {
          code: WsErrorCode.TextMessage,
          reason: 'text messages are not accepted: send frames in binary messages',
          remote: false,
        },
        false,
      );
      return;
    }
    try {
      decodeFrames(data, this.#deliver, this.#options.maxPayloadLength);
    } catch (err) {
      if (this.#state !== OPEN) return;
      const handlerFailed = !(err instanceof TidewireError) || this.#handlerThrew;
      const code = handlerFailed
        ? WsErrorCode.HandlerFailed
        : (err as TidewireError).code || WireErrorCode.DecoderFailed;
      const reason = err instanceof Error ? err.message : String(err);
      this.#options.logger?.warn?.('ws: closing the connection', {
        id: this.id,
        remoteAddress: this.remoteAddress,
        code,
        reason,
      });
      this.#closeGracefully({ code, reason, remote: false }, true);
      return;
    }
    if (this.#idleTimer !== null) this.#lastFrameAt = Date.now();
  }

  #handlerThrew = false;

  readonly #deliver = (frame: Frame): void => {
    if (this.#state !== OPEN) return;
    if (frame.ver === CORE_VER && frame.cmd === CoreCommand.Disconnect) {
      this.#onRemoteDisconnect(frame.payload);
      return;
    }
    try {
      this.onFrame?.(frame, this);
    } catch (err) {
      this.#handlerThrew = true;
      throw err;
    }
  };

  #onRemoteDisconnect(payload: Buffer): void {
    let code: string = WsCloseCode.Unspecified;
    let reason = '';
    try {
      const value = unpack(payload) as { code?: unknown; reason?: unknown } | null;
      if (typeof value?.code === 'string' && value.code.length > 0) code = value.code;
      if (typeof value?.reason === 'string') reason = value.reason;
    } catch {
      // A malformed disconnect payload still means the peer is leaving.
    }
    this.#closeGracefully({ code, reason, remote: true }, false);
  }

  #closeGracefully(info: Omit<WsCloseInfo, 'wsCode'>, sendDisconnect: boolean): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#closeInfo = info;
    this.#clearIdle();
    const socket = this.#socket;
    if (socket.readyState === socket.OPEN) {
      if (sendDisconnect) {
        socket.send(
          packFrame(CORE_VER, CoreCommand.Disconnect, Status.Push, {
            code: info.code,
            reason: info.reason,
          }),
        );
      }
      socket.close(wsCloseCodeFor(info.code), info.code.slice(0, 123));
    }
    this.#closeTimer = setTimeout(() => socket.terminate(), CLOSE_TIMEOUT_MS);
  }

  #onError(err: Error): void {
    this.#options.logger?.debug?.('ws: socket error', { id: this.id, error: err });
    const code = (err as { code?: string }).code;
    if (this.#closeInfo === null && code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.#closeInfo = { code: WsErrorCode.MessageTooLarge, reason: err.message, remote: false };
    } else {
      this.#closeInfo ??= { code: WsErrorCode.SocketClosed, reason: err.message, remote: true };
    }
    this.#state = CLOSING;
    this.#clearIdle();
  }

  #onSocketClose(wsCode: number, wsReason: string): void {
    this.#state = CLOSED;
    this.#clearIdle();
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    const info: WsCloseInfo = {
      ...(this.#closeInfo ?? peerClose(wsCode, wsReason)),
      wsCode,
    };
    if (closeChannel.hasSubscribers) {
      closeChannel.publish({
        connection: this,
        code: info.code,
        reason: info.reason,
        remote: info.remote,
      });
    }
    const onClose = this.onClose;
    this.onClose = null;
    this.onFrame = null;
    this.onDrain = null;
    try {
      onClose?.(info);
    } catch (err) {
      this.#options.logger?.error?.('ws: onClose threw', { id: this.id, error: err });
    }
    this.#resolveClosed();
  }

  #drained(): void {
    if (!this.#waitingDrain || this.#state !== OPEN) return;
    this.#waitingDrain = false;
    this.onDrain?.();
  }

  #onIdle(): void {
    this.#idleTimer = null;
    if (this.#state !== OPEN) return;
    const ttl = this.#options.idleTimeoutMs;
    const idle = Date.now() - this.#lastFrameAt;
    if (idle < ttl) {
      this.#idleTimer = setTimeout(() => this.#onIdle(), ttl - idle);
      return;
    }
    this.#closeGracefully(
      { code: WsErrorCode.IdleTimeout, reason: `no frame received for ${ttl} ms`, remote: false },
      true,
    );
  }

  #clearIdle(): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }
}

/** The close info of a WebSocket the peer closed without a disconnect frame. */
function peerClose(wsCode: number, wsReason: string): Omit<WsCloseInfo, 'wsCode'> {
  if (wsCode === 1000 || wsCode === 1001) {
    return { code: WsCloseCode.PeerEnded, reason: wsReason || 'peer closed', remote: true };
  }
  if (wsCode === 1009) {
    return { code: WsErrorCode.MessageTooLarge, reason: 'message too large', remote: true };
  }
  return {
    code: wsReason.startsWith('TIDEWIRE_') ? wsReason : WsErrorCode.SocketClosed,
    reason: `websocket closed with ${wsCode}${wsReason ? ` ${wsReason}` : ''}`,
    remote: true,
  };
}

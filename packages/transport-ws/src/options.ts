import {
  DEFAULT_MAX_PAYLOAD_LENGTH,
  HEADER_SIZE,
  type Logger,
  MAX_PAYLOAD_LENGTH_LIMIT,
  TidewireError,
  WireErrorCode,
} from '@tidewire/wire';

/** Options of one WebSocket connection (both ends). */
export interface WsConnectionOptions {
  /** Frames announcing a longer payload are a protocol error (close 1002/1009). Default 64 KiB. */
  maxPayloadLength?: number;
  /**
   * Largest WebSocket message accepted, bytes; a larger one closes with 1009
   * before it is buffered (ws `maxPayload`). Default maxPayloadLength + 10
   * (one frame of the largest payload).
   */
  maxMessageBytes?: number;
  /** Close after this long without a received frame. Default 10 000 ms; 0 disables. */
  idleTimeoutMs?: number;
  /** Bound on bytes queued (`bufferedAmount`); past it the connection is dropped (slow consumer). Default 1 MiB. */
  maxBufferedBytes?: number;
  logger?: Logger;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BUFFERED_BYTES: number = 1024 * 1024;
/** `send` reports backpressure at or above min(this, maxBufferedBytes), as TCP does. */
export const MAX_HIGH_WATER_MARK: number = 64 * 1024;
/** How long `close()` waits for the peer's close frame before terminating. */
export const CLOSE_TIMEOUT_MS = 1000;
/** The default upgrade path on the node's HTTP server. */
export const DEFAULT_WS_PATH = '/v1/ws';

export interface ResolvedWsOptions {
  maxPayloadLength: number;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxBufferedBytes: number;
  highWaterMark: number;
  logger: Logger | undefined;
}

const resolved = new WeakMap<WsConnectionOptions, ResolvedWsOptions>();

/** `options` checked and with their defaults; one shared result per options object. */
export function resolveWsOptions(options: WsConnectionOptions): ResolvedWsOptions {
  let found = resolved.get(options);
  if (found !== undefined) return found;
  const maxPayloadLength = options.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
  checkInteger('maxPayloadLength', maxPayloadLength, 0, MAX_PAYLOAD_LENGTH_LIMIT);
  const maxMessageBytes = options.maxMessageBytes ?? maxPayloadLength + HEADER_SIZE;
  checkInteger('maxMessageBytes', maxMessageBytes, HEADER_SIZE, Number.MAX_SAFE_INTEGER);
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  checkInteger('idleTimeoutMs', idleTimeoutMs, 0, 0x7fff_ffff);
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  checkInteger('maxBufferedBytes', maxBufferedBytes, 1, Number.MAX_SAFE_INTEGER);
  found = {
    maxPayloadLength,
    maxMessageBytes,
    idleTimeoutMs,
    maxBufferedBytes,
    highWaterMark: Math.min(MAX_HIGH_WATER_MARK, maxBufferedBytes),
    logger: options.logger,
  };
  resolved.set(options, found);
  return found;
}

export function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TidewireError(
      WireErrorCode.InvalidArgument,
      `${name} must be an integer in ${min}..${max}, got ${String(value)}`,
    );
  }
}

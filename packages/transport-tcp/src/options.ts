import {
  DEFAULT_MAX_PAYLOAD_LENGTH,
  type Logger,
  MAX_PAYLOAD_LENGTH_LIMIT,
  TidewireError,
  WireErrorCode,
} from '@tidewire/wire';

/** Options shared by both ends of a TCP connection. */
export interface TcpConnectionOptions {
  /** Frames announcing a longer payload are a protocol error. Default 64 KiB. */
  maxPayloadLength?: number;
  /** Close after this long without a received frame; any frame resets it. Default 10 000 ms; 0 disables. */
  idleTimeoutMs?: number;
  /** Bound on bytes queued for sending; past it the connection is closed (slow consumer). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Disable Nagle's algorithm. Default true. */
  noDelay?: boolean;
  /**
   * Coalesce several sends to one connection within one tick into one write
   * (the first goes out at once; later ones are corked until the end of the
   * tick). Default true.
   */
  coalesceWrites?: boolean;
  logger?: Logger;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BUFFERED_BYTES: number = 1024 * 1024;
/** `send` reports backpressure above min(this, maxBufferedBytes). */
export const MAX_HIGH_WATER_MARK: number = 64 * 1024;
/** How long `close()` waits for the peer to close before destroying the socket. */
export const CLOSE_TIMEOUT_MS = 1000;

export interface ResolvedConnectionOptions {
  maxPayloadLength: number;
  idleTimeoutMs: number;
  maxBufferedBytes: number;
  highWaterMark: number;
  noDelay: boolean;
  coalesceWrites: boolean;
  logger: Logger | undefined;
}

/**
 * Resolved options by the options object they came from: a listener passes
 * the same object for every connection, which then share one resolved copy.
 */
const resolved = new WeakMap<TcpConnectionOptions, ResolvedConnectionOptions>();

/** `options` checked and with their defaults; one shared result per options object. */
export function resolveConnectionOptions(options: TcpConnectionOptions): ResolvedConnectionOptions {
  let found = resolved.get(options);
  if (found === undefined) {
    found = resolveOptionsOnce(options);
    resolved.set(options, found);
  }
  return found;
}

function resolveOptionsOnce(options: TcpConnectionOptions): ResolvedConnectionOptions {
  const maxPayloadLength = options.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_LENGTH;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  checkInteger('maxPayloadLength', maxPayloadLength, 0, MAX_PAYLOAD_LENGTH_LIMIT);
  checkInteger('idleTimeoutMs', idleTimeoutMs, 0, 0x7fff_ffff);
  checkInteger('maxBufferedBytes', maxBufferedBytes, 1, Number.MAX_SAFE_INTEGER);
  return {
    maxPayloadLength,
    idleTimeoutMs,
    maxBufferedBytes,
    highWaterMark: Math.min(MAX_HIGH_WATER_MARK, maxBufferedBytes),
    noDelay: options.noDelay ?? true,
    coalesceWrites: options.coalesceWrites ?? true,
    logger: options.logger,
  };
}

export function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TidewireError(
      WireErrorCode.InvalidArgument,
      `${name} must be an integer in ${min}..${max}, got ${String(value)}`,
    );
  }
}

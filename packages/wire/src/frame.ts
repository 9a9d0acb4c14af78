import { copyBytes, readU16, readU32, writeU16, writeU32 } from './bytes.ts';
import { invalidArgument, TidewireError, WireErrorCode } from './errors.ts';

/** First byte of every frame. */
export const MAGIC_0 = 0xd1;
/** Second byte of every frame. */
export const MAGIC_1 = 0xde;
/** Bytes before the payload: magic (2), ver (1), cmd (2), status (1), length (4). */
export const HEADER_SIZE = 10;
/** Default bound on a frame's payload: 64 KiB. */
export const DEFAULT_MAX_PAYLOAD_LENGTH: number = 64 * 1024;
/** The largest payload the u32 length field can describe. */
export const MAX_PAYLOAD_LENGTH_LIMIT = 0xffff_ffff;

/** One decoded frame. `payload` may be a view into a buffer the caller passed in (see FrameDecoder). */
export interface Frame {
  ver: number;
  cmd: number;
  status: number;
  payload: Buffer;
}

export const EMPTY_PAYLOAD: Buffer = Buffer.alloc(0);

/** Throws unless ver, cmd and status fit their fields. */
export function assertFrameFields(ver: number, cmd: number, status: number): void {
  if (!Number.isInteger(ver) || ver < 0 || ver > 0xff) {
    throw invalidArgument(`ver must be an integer in 0..255, got ${String(ver)}`);
  }
  if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffff) {
    throw invalidArgument(`cmd must be an integer in 0..65535, got ${String(cmd)}`);
  }
  if (!Number.isInteger(status) || status < 0 || status > 0xff) {
    throw invalidArgument(`status must be an integer in 0..255, got ${String(status)}`);
  }
}

/**
 * Writes the 10-byte header at `offset`. The caller guarantees room and valid
 * fields (see `assertFrameFields`); this is the one place the layout lives.
 */
export function writeHeader(
  target: Uint8Array,
  offset: number,
  ver: number,
  cmd: number,
  status: number,
  length: number,
): void {
  target[offset] = MAGIC_0;
  target[offset + 1] = MAGIC_1;
  target[offset + 2] = ver;
  writeU16(target, offset + 3, cmd);
  target[offset + 5] = status;
  writeU32(target, offset + 6, length);
}

/** Reads the payload length of the header at `offset` (the caller has checked there are 10 bytes). */
export function readPayloadLength(source: Uint8Array, offset: number): number {
  return readU32(source, offset + 6);
}

/**
 * The frame whose header is at `offset` of `source` (the caller has checked
 * there are 10 bytes), with `payload`: what `writeHeader` wrote, read back.
 */
export function frameFromHeader(source: Uint8Array, offset: number, payload: Buffer): Frame {
  return {
    ver: source[offset + 2]!,
    cmd: readU16(source, offset + 3),
    status: source[offset + 5]!,
    payload,
  };
}

/** Throws `BadMagic` unless the bytes at `offset` (as many as exist, up to 2) are the magic. */
export function checkMagic(source: Uint8Array, offset: number, available: number): void {
  if (
    (available > 0 && source[offset] !== MAGIC_0) ||
    (available > 1 && source[offset + 1] !== MAGIC_1)
  ) {
    throw new TidewireError(
      WireErrorCode.BadMagic,
      `bad frame magic 0x${hex(source[offset])}${available > 1 ? hex(source[offset + 1]) : ''}, expected 0xd1de`,
    );
  }
}

function hex(byte: number | undefined): string {
  return (byte ?? 0).toString(16).padStart(2, '0');
}

export function frameTooLarge(length: number, max: number): TidewireError {
  return new TidewireError(
    WireErrorCode.FrameTooLarge,
    `frame payload of ${length} bytes exceeds the maximum of ${max} bytes`,
  );
}

/** Encodes one frame into a new buffer of `HEADER_SIZE + payload.length` bytes. */
export function encodeFrame(
  ver: number,
  cmd: number,
  status: number,
  payload: Uint8Array = EMPTY_PAYLOAD,
): Buffer {
  assertFrameFields(ver, cmd, status);
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(out, 0, ver, cmd, status, payload.length);
  copyBytes(out, payload, HEADER_SIZE);
  return out;
}

/**
 * Encodes one frame into `target` at `offset` and returns the number of bytes
 * written. Throws `InvalidArgument` when the frame does not fit.
 */
export function encodeFrameInto(
  target: Uint8Array,
  offset: number,
  ver: number,
  cmd: number,
  status: number,
  payload: Uint8Array = EMPTY_PAYLOAD,
): number {
  assertFrameFields(ver, cmd, status);
  const size = HEADER_SIZE + payload.length;
  if (!Number.isInteger(offset) || offset < 0 || offset + size > target.length) {
    throw invalidArgument(
      `frame of ${size} bytes does not fit in ${target.length} bytes at offset ${offset}`,
    );
  }
  writeHeader(target, offset, ver, cmd, status, payload.length);
  copyBytes(target, payload, offset + HEADER_SIZE);
  return size;
}

/**
 * Decodes every frame of a buffer that holds whole frames only (a datagram,
 * a test fixture). Payloads are views into `source`. Throws `Truncated` when
 * the buffer ends inside a frame.
 */
export function decodeFrames(
  source: Buffer,
  onFrame: (frame: Frame) => void,
  maxPayloadLength: number = DEFAULT_MAX_PAYLOAD_LENGTH,
): number {
  let offset = 0;
  let count = 0;
  while (offset < source.length) {
    const available = source.length - offset;
    checkMagic(source, offset, available);
    if (available < HEADER_SIZE) {
      throw truncated(available);
    }
    const length = readPayloadLength(source, offset);
    if (length > maxPayloadLength) throw frameTooLarge(length, maxPayloadLength);
    const end = offset + HEADER_SIZE + length;
    if (end > source.length) throw truncated(available);
    const frame = frameFromHeader(source, offset, source.subarray(offset + HEADER_SIZE, end));
    offset = end;
    count++;
    onFrame(frame);
  }
  return count;
}

export function truncated(pendingBytes: number): TidewireError {
  return new TidewireError(
    WireErrorCode.Truncated,
    `input ended inside a frame (${pendingBytes} bytes of an incomplete frame)`,
  );
}

import { TidewireError, WireErrorCode } from './errors.ts';

/** One frame read by `decodeFrameBytes`; `payload` is a view into the source. */
export interface FrameBytes {
  ver: number;
  cmd: number;
  status: number;
  payload: Uint8Array;
}

const HEADER = 10;

/** Encodes one frame (magic, ver, cmd, status, length, payload) into a new Uint8Array. */
export function encodeFrameBytes(
  ver: number,
  cmd: number,
  status: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0xd1;
  out[1] = 0xde;
  out[2] = ver;
  view.setUint16(3, cmd);
  out[5] = status;
  view.setUint32(6, payload.length);
  out.set(payload, HEADER);
  return out;
}

/**
 * Decodes a buffer of whole frames (a WebSocket message), calling `onFrame`
 * for each; throws a `TidewireError` (BAD_MAGIC, FRAME_TOO_LARGE, TRUNCATED)
 * on a bad frame.
 */
export function decodeFrameBytes(
  source: Uint8Array,
  onFrame: (frame: FrameBytes) => void,
  maxPayloadLength: number,
): void {
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  let offset = 0;
  while (offset < source.length) {
    if (source[offset] !== 0xd1 || (offset + 1 < source.length && source[offset + 1] !== 0xde)) {
      throw new TidewireError(WireErrorCode.BadMagic, 'frame does not start with 0xD1 0xDE');
    }
    if (source.length - offset < HEADER) {
      throw new TidewireError(WireErrorCode.Truncated, 'message ends inside a frame header');
    }
    const length = view.getUint32(offset + 6);
    if (length > maxPayloadLength) {
      throw new TidewireError(
        WireErrorCode.FrameTooLarge,
        `frame payload of ${length} bytes is above the limit of ${maxPayloadLength}`,
      );
    }
    const end = offset + HEADER + length;
    if (end > source.length) {
      throw new TidewireError(WireErrorCode.Truncated, 'message ends inside a frame payload');
    }
    onFrame({
      ver: source[offset + 2]!,
      cmd: view.getUint16(offset + 3),
      status: source[offset + 5]!,
      payload: source.subarray(offset + HEADER, end),
    });
    offset = end;
  }
}

import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { TidewireError, WireErrorCode } from './errors.ts';
import { assertFrameFields, HEADER_SIZE, writeHeader } from './frame.ts';

/**
 * The one msgpack configuration of the wire: plain maps become plain objects,
 * no records or structures (so any msgpack implementation can read it), and
 * 64-bit integers come back as numbers.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  int64AsType: 'number',
});

/** Encodes `value` as msgpack. The buffer is the caller's to keep. */
export function pack(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (err) {
    throw new TidewireError(WireErrorCode.MsgpackEncode, 'value cannot be encoded as msgpack', {
      cause: err,
    });
  }
}

/** Decodes one msgpack value; throws `TIDEWIRE_ERR_MSGPACK_DECODE` on malformed input. */
export function unpack<T = unknown>(data: Uint8Array): T {
  try {
    return packr.unpack(data) as T;
  } catch (err) {
    throw new TidewireError(WireErrorCode.MsgpackDecode, 'payload is not valid msgpack', {
      cause: err,
    });
  }
}

/**
 * Encodes a frame whose payload is `value` as msgpack, in one buffer and with
 * no copy: the payload is packed after a reserved header.
 */
export function packFrame(ver: number, cmd: number, status: number, value: unknown): Buffer {
  assertFrameFields(ver, cmd, status);
  let out: Buffer;
  try {
    out = packr.pack(value, RESERVE_START_SPACE | HEADER_SIZE);
  } catch (err) {
    throw new TidewireError(WireErrorCode.MsgpackEncode, 'value cannot be encoded as msgpack', {
      cause: err,
    });
  }
  writeHeader(out, 0, ver, cmd, status, out.length - HEADER_SIZE);
  return out;
}

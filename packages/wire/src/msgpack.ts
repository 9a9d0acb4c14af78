import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { TidewireError, WireErrorCode } from './errors.ts';
import { assertFrameFields, HEADER_SIZE, writeHeader } from './frame.ts';
import { SmallUnpacker } from './small-unpack.ts';

/**
 * The one msgpack configuration of the wire: plain maps become plain objects,
 * no records or structures (so any msgpack implementation can read it), and
 * 64-bit integers come back as numbers.
 */
const options = {
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  int64AsType: 'number',
} as const;
const packr = new Packr(options);
/** Small payloads decode from a copy, without a DataView per decode (see small-unpack.ts). */
const small = new SmallUnpacker(options);

/** One msgpack value from `data`; throws what msgpackr throws. */
function decode(data: Uint8Array): unknown {
  return small.takes(data.length) ? small.unpack(data) : packr.unpack(data);
}

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
    return decode(data) as T;
  } catch (err) {
    throw new TidewireError(WireErrorCode.MsgpackDecode, 'payload is not valid msgpack', {
      cause: err,
    });
  }
}

/**
 * True for what a msgpack map decodes to: a plain object. Arrays, bytes and
 * msgpackr's own marker objects (0xc1) have other prototypes.
 */
export function isMsgpackMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Decodes a msgpack map. Returns undefined when `data` is not valid msgpack
 * or holds anything but a map, so that each caller answers with its own error.
 */
export function unpackMap(data: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = decode(data);
  } catch {
    return undefined;
  }
  return isMsgpackMap(value) ? value : undefined;
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

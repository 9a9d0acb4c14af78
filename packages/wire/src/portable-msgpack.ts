/**
 * A small msgpack codec over Uint8Array for browsers: the subset the wire
 * uses (nil, booleans, integers, float64, strings, binary, arrays, maps as
 * plain objects; no extensions), the same bytes msgpackr reads and writes
 * with the wire's configuration, at a fraction of its size in a page.
 */
import { TidewireError, WireErrorCode } from './errors.ts';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Encodes `value` as msgpack. */
export function packBytes(value: unknown): Uint8Array {
  const out: number[] = [];
  write(out, value);
  return Uint8Array.from(out);
}

function u(out: number[], value: number, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
}

function write(out: number[], value: unknown): void {
  if (value === null || value === undefined) out.push(0xc0);
  else if (value === false) out.push(0xc2);
  else if (value === true) out.push(0xc3);
  else if (typeof value === 'number') writeNumber(out, value);
  else if (typeof value === 'string') {
    const bytes = utf8.encode(value);
    const n = bytes.length;
    if (n < 32) out.push(0xa0 | n);
    else if (n < 0x100) out.push(0xd9, n);
    else if (n < 0x10000) out.push(0xda, n >> 8, n & 0xff);
    else out.push(0xdb), u(out, n, 4);
    for (const b of bytes) out.push(b);
  } else if (value instanceof Uint8Array) {
    const n = value.length;
    if (n < 0x100) out.push(0xc4, n);
    else if (n < 0x10000) out.push(0xc5, n >> 8, n & 0xff);
    else out.push(0xc6), u(out, n, 4);
    for (const b of value) out.push(b);
  } else if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) out.push(0x90 | n);
    else if (n < 0x10000) out.push(0xdc, n >> 8, n & 0xff);
    else out.push(0xdd), u(out, n, 4);
    for (const item of value) write(out, item);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    const n = entries.length;
    if (n < 16) out.push(0x80 | n);
    else if (n < 0x10000) out.push(0xde, n >> 8, n & 0xff);
    else out.push(0xdf), u(out, n, 4);
    for (const [k, v] of entries) {
      write(out, k);
      write(out, v);
    }
  } else {
    throw new TidewireError(WireErrorCode.MsgpackEncode, `cannot encode a ${typeof value}`);
  }
}

function writeNumber(out: number[], n: number): void {
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) {
    if (n >= 0) {
      if (n < 0x80) out.push(n);
      else if (n < 0x100) out.push(0xcc, n);
      else if (n < 0x10000) out.push(0xcd, n >> 8, n & 0xff);
      else if (n < 0x1_0000_0000) out.push(0xce), u(out, n, 4);
      else out.push(0xcf), u(out, n, 8);
      return;
    }
    if (n >= -32) out.push(n & 0xff);
    else if (n >= -0x80) out.push(0xd0, n & 0xff);
    else if (n >= -0x8000) out.push(0xd1, (n >> 8) & 0xff, n & 0xff);
    else if (n >= -0x8000_0000) out.push(0xd2), u(out, n >>> 0, 4);
    else {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, BigInt(n));
      out.push(0xd3, ...b);
    }
    return;
  }
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n);
  out.push(0xcb, ...b);
}

/** Decodes one msgpack value; throws `TIDEWIRE_ERR_MSGPACK_DECODE` on bad or truncated input. */
export function unpackBytes(source: Uint8Array): unknown {
  const view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  let at = 0;
  const need = (n: number): number => {
    if (at + n > source.length) throw bad('truncated msgpack');
    const start = at;
    at += n;
    return start;
  };
  const bytes = (n: number): Uint8Array => {
    const s = need(n);
    return source.subarray(s, s + n);
  };
  const str = (n: number): string => fromUtf8.decode(bytes(n));
  const arr = (n: number): unknown[] => Array.from({ length: n }, read);
  const map = (n: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) o[String(read())] = read();
    return o;
  };
  const read = (): unknown => {
    const t = source[need(1)]!;
    if (t < 0x80) return t;
    if (t < 0x90) return map(t & 0x0f);
    if (t < 0xa0) return arr(t & 0x0f);
    if (t < 0xc0) return str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bytes(view.getUint8(need(1)));
      case 0xc5:
        return bytes(view.getUint16(need(2)));
      case 0xc6:
        return bytes(view.getUint32(need(4)));
      case 0xca:
        return view.getFloat32(need(4));
      case 0xcb:
        return view.getFloat64(need(8));
      case 0xcc:
        return view.getUint8(need(1));
      case 0xcd:
        return view.getUint16(need(2));
      case 0xce:
        return view.getUint32(need(4));
      case 0xcf:
        return Number(view.getBigUint64(need(8)));
      case 0xd0:
        return view.getInt8(need(1));
      case 0xd1:
        return view.getInt16(need(2));
      case 0xd2:
        return view.getInt32(need(4));
      case 0xd3:
        return Number(view.getBigInt64(need(8)));
      case 0xd9:
        return str(view.getUint8(need(1)));
      case 0xda:
        return str(view.getUint16(need(2)));
      case 0xdb:
        return str(view.getUint32(need(4)));
      case 0xdc:
        return arr(view.getUint16(need(2)));
      case 0xdd:
        return arr(view.getUint32(need(4)));
      case 0xde:
        return map(view.getUint16(need(2)));
      case 0xdf:
        return map(view.getUint32(need(4)));
      default:
        throw bad(`unsupported msgpack type 0x${t.toString(16)}`);
    }
  };
  const value = read();
  if (at !== source.length) throw bad('trailing bytes after the msgpack value');
  return value;
}

function bad(message: string): TidewireError {
  return new TidewireError(WireErrorCode.MsgpackDecode, message);
}

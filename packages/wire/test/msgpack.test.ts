import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  HEADER_SIZE,
  pack,
  packFrame,
  Status,
  unpack,
  unpackMap,
  WireErrorCode,
} from '../src/index.ts';

describe('msgpack helpers', () => {
  it('round-trips JSON-like values', () => {
    fc.assert(
      // msgpackr renames `__proto__` keys (prototype-pollution guard): see the next test.
      fc.property(
        fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (value) => {
          expect(unpack(pack(value))).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never lets a __proto__ key reach an object prototype', () => {
    const evil = Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01]);
    const out = unpack<Record<string, unknown>>(evil);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('encodes maps as plain msgpack maps (map16 header, no extension types)', () => {
    // map16 of 1 entry: key "a" (fixstr), value 1 (positive fixint)
    expect([...pack({ a: 1 })]).toEqual([0xde, 0x00, 0x01, 0xa1, 0x61, 0x01]);
  });

  it('round-trips binary payloads as bytes', () => {
    const out = unpack<{ sid: Uint8Array }>(pack({ sid: Buffer.from([1, 2, 3]) }));
    expect([...out.sid]).toEqual([1, 2, 3]);
  });

  it('rejects malformed msgpack with a typed error', () => {
    // A str32 longer than the input, an array missing an element, trailing bytes, nothing.
    for (const bad of [[0xdb, 0xff, 0xff, 0xff, 0xff, 0x61], [0x92, 1], [1, 2], []]) {
      expect(() => unpack(Buffer.from(bad))).toThrow(
        expect.objectContaining({ code: WireErrorCode.MsgpackDecode }),
      );
    }
  });

  it('rejects values msgpack cannot carry with a typed error', () => {
    expect(() => pack(Symbol('x'))).toThrow(
      expect.objectContaining({ code: WireErrorCode.MsgpackEncode }),
    );
  });

  it('packFrame writes a valid frame whose payload is the packed value', () => {
    const value = { userId: 'u1', serverTime: 1234567890123, state: 'ONLINE' };
    const frame = packFrame(0, 4, Status.Ok, value);
    expect(frame.readUInt32BE(6)).toBe(frame.length - HEADER_SIZE);
    const decoder = new FrameDecoder();
    let decoded: unknown;
    decoder.push(frame, (f) => {
      expect([f.ver, f.cmd, f.status]).toEqual([0, 4, Status.Ok]);
      decoded = unpack(f.payload);
    });
    expect(decoded).toEqual(value);
  });

  it('packFrame results stay intact when more frames are packed', () => {
    const first = packFrame(2, 1, 0, 'first');
    const copy = Buffer.from(first);
    for (let i = 0; i < 2000; i++) packFrame(2, 1, 0, { i, filler: 'x'.repeat(64) });
    expect(first.equals(copy)).toBe(true);
  });
});

describe('unpackMap', () => {
  it('returns a decoded map and undefined for anything else', () => {
    expect(unpackMap(pack({ a: 1, b: 'x' }))).toEqual({ a: 1, b: 'x' });
    expect(unpackMap(pack({}))).toEqual({});
    expect(unpackMap(pack([1, 2]))).toBeUndefined();
    expect(unpackMap(pack(Buffer.from('bytes')))).toBeUndefined();
    expect(unpackMap(pack(null))).toBeUndefined();
    expect(unpackMap(pack('text'))).toBeUndefined();
    expect(unpackMap(Buffer.from([0xc1]))).toBeUndefined(); // never-used byte: not msgpack
    expect(unpackMap(new Uint8Array(0))).toBeUndefined();
  });
});

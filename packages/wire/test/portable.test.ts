import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, pack, unpack } from '../src/index.ts';
import { decodeFrameBytes, encodeFrameBytes, packBytes, unpackBytes } from '../src/portable.ts';

const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }),
    fc.string(),
    fc.uint8Array(),
    fc.array(tie('any'), { maxLength: 20 }),
    fc.dictionary(
      fc.string().filter((k) => k !== '__proto__'),
      tie('any'),
      { maxKeys: 20 },
    ),
  ),
})).any;

/** Buffers compare as Uint8Arrays. */
const plain = (v: unknown): unknown =>
  JSON.parse(
    JSON.stringify(v, (_k, x) =>
      x instanceof Uint8Array || (x && x.type === 'Buffer') ? [...(x.data ?? x)] : x,
    ),
  );

describe('wire/portable', () => {
  it('packBytes and unpackBytes agree with msgpackr in the wire configuration, both ways', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(plain(unpack(packBytes(v)))).toEqual(plain(v));
        expect(plain(unpackBytes(pack(v)))).toEqual(plain(v));
      }),
      { numRuns: 300 },
    );
  });

  it('encodeFrameBytes writes the bytes of encodeFrame, and decodeFrameBytes reads them back', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const bytes = encodeFrameBytes(2, 513, 1, payload);
    expect(Buffer.from(bytes)).toEqual(encodeFrame(2, 513, 1, payload));
    const frames: unknown[] = [];
    decodeFrameBytes(
      new Uint8Array([...bytes, ...bytes]),
      (f) => frames.push({ ...f, payload: [...f.payload] }),
      100,
    );
    expect(frames).toEqual([
      { ver: 2, cmd: 513, status: 1, payload: [1, 2, 3] },
      { ver: 2, cmd: 513, status: 1, payload: [1, 2, 3] },
    ]);
    expect(() => decodeFrameBytes(bytes.subarray(0, 11), () => {}, 100)).toThrow(
      /TRUNCATED|ends inside/,
    );
    expect(() => decodeFrameBytes(new Uint8Array(12), () => {}, 100)).toThrow();
    expect(() => decodeFrameBytes(bytes, () => {}, 2)).toThrow(/above the limit/);
  });
});

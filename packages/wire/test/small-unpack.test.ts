import fc from 'fast-check';
import { addExtension, pack as rawPack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { pack, unpack } from '../src/index.ts';
import { SMALL_PAYLOAD_MAX } from '../src/small-unpack.ts';

/** A map `{ body }` whose msgpack is exactly `size` bytes (size >= 40). */
function packedOfSize(size: number): { packed: Buffer; body: string } {
  const overhead = pack({ body: '' }).length;
  for (let extra = 0; extra < 8; extra++) {
    const body = 'x'.repeat(size - overhead - extra);
    const packed = pack({ body });
    if (packed.length === size) return { packed, body };
  }
  throw new Error(`no payload of ${size} bytes`);
}

describe('unpack of small payloads', () => {
  it('keeps binary values intact when later payloads are decoded', () => {
    const first = unpack<{ b: Uint8Array }>(pack({ b: Buffer.from([1, 2, 3]) }));
    unpack(pack({ b: Buffer.from([9, 9, 9]) }));
    unpack(pack('a string that overwrites the first bytes of the decode buffer'));
    expect([...first.b]).toEqual([1, 2, 3]);
  });

  it('returns what was packed, also when kept across many decodes of other lengths', () => {
    const value = fc.record({
      id: fc.integer(),
      x: fc.double({ noNaN: true }).map((x) => x + 0), // msgpack has no -0
      name: fc.string({ maxLength: 40 }),
      bytes: fc.uint8Array({ maxLength: 300 }),
      list: fc.array(fc.integer({ min: -1e12, max: 1e12 }), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 30 }), (values) => {
        const decoded = values.map((v) => unpack<typeof v>(pack(v)));
        decoded.forEach((d, i) => {
          const v = values[i]!;
          expect({ ...d, bytes: [...d.bytes] }).toEqual({ ...v, bytes: [...v.bytes] });
        });
      }),
      { numRuns: 200 },
    );
  });

  it('decodes payloads at, under and over the bound', () => {
    for (const size of [SMALL_PAYLOAD_MAX - 1, SMALL_PAYLOAD_MAX, SMALL_PAYLOAD_MAX + 1]) {
      const { packed, body } = packedOfSize(size);
      expect(unpack(packed)).toEqual({ body });
    }
  });

  it('decodes a payload whose extension handler decodes another payload meanwhile', () => {
    // An application extension (msgpackr registers it for every decoder) that
    // decodes a longer payload while the outer decode is under way: the outer
    // one must not read the inner one's bytes.
    const { packed: inner, body } = packedOfSize(200);
    addExtension({
      type: 0x33,
      Class: class TestInner {},
      pack: () => Buffer.alloc(0),
      unpack: () => unpack(inner),
    });
    // A map of 2: "a" is a fixext 1 of type 0x33, "b" a string.
    const fixext = [0xd4, 0x33, 0x00];
    const outer = Buffer.from([
      0x82,
      ...rawPack('a'),
      ...fixext,
      ...rawPack('b'),
      ...rawPack('tail'),
    ]);
    expect(unpack(outer)).toEqual({ a: { body }, b: 'tail' });
  });
});

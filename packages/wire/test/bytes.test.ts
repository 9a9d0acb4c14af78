import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyBytes, readU16, readU32, writeU16, writeU32 } from '../src/index.ts';

describe('byte helpers', () => {
  it('read what Buffer reads, big-endian, at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 64 }), fc.nat(), (bytes, at) => {
        const buffer = Buffer.from(bytes);
        const offset = at % (buffer.length - 3);
        expect(readU16(buffer, offset)).toBe(buffer.readUInt16BE(offset));
        expect(readU32(buffer, offset)).toBe(buffer.readUInt32BE(offset));
      }),
    );
  });

  it('write what Buffer writes, at the edges of their ranges too', () => {
    for (const value of [0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff]) {
      const ours = Buffer.alloc(6, 0xee);
      const theirs = Buffer.alloc(6, 0xee);
      writeU16(ours, 3, value);
      theirs.writeUInt16BE(value, 3);
      expect(ours).toEqual(theirs);
    }
    for (const value of [
      0, 1, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff,
    ]) {
      const ours = Buffer.alloc(8, 0xee);
      const theirs = Buffer.alloc(8, 0xee);
      writeU32(ours, 2, value);
      theirs.writeUInt32BE(value, 2);
      expect(ours).toEqual(theirs);
      expect(readU32(ours, 2)).toBe(value);
    }
  });

  it('copy a source into a target at an offset, and refuse one that does not fit', () => {
    const target = Buffer.alloc(8, 0);
    copyBytes(target, Uint8Array.of(1, 2, 3), 4);
    expect([...target]).toEqual([0, 0, 0, 0, 1, 2, 3, 0]);
    copyBytes(target, Buffer.alloc(0), 8);
    expect(() => copyBytes(target, Uint8Array.of(1, 2), 7)).toThrow(RangeError);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_SIZE,
  isTidewireError,
  WireErrorCode,
} from '../src/index.ts';

interface Spec {
  ver: number;
  cmd: number;
  status: number;
  payload: Uint8Array;
}

const frameSpec: fc.Arbitrary<Spec> = fc.record({
  ver: fc.integer({ min: 0, max: 255 }),
  cmd: fc.integer({ min: 0, max: 65535 }),
  status: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

/** Splits `data` at the given cut points (any byte boundary, any count). */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(data.subarray(last, p));
    last = p;
  }
  chunks.push(data.subarray(last));
  return chunks;
}

function decodeAll(chunks: Uint8Array[], max?: number): Frame[] {
  const decoder = new FrameDecoder(max === undefined ? {} : { maxPayloadLength: max });
  const frames: Frame[] = [];
  for (const chunk of chunks) decoder.push(chunk, (f) => frames.push(f));
  decoder.end();
  return frames;
}

const plain = (f: Frame | Spec) => ({
  ver: f.ver,
  cmd: f.cmd,
  status: f.status,
  payload: [...f.payload],
});

describe('FrameDecoder', () => {
  it('decodes any concatenation of frames split at any byte boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(frameSpec, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (specs, cuts) => {
          const stream = Buffer.concat(
            specs.map((s) => encodeFrame(s.ver, s.cmd, s.status, s.payload)),
          );
          const frames = decodeAll(split(stream, cuts), 300);
          expect(frames.map(plain)).toEqual(specs.map(plain));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodes a stream fed one byte at a time', () => {
    const stream = Buffer.concat([
      encodeFrame(2, 7, 0, Buffer.from('hello')),
      encodeFrame(0, 1, 1),
      encodeFrame(9, 300, 4, Buffer.alloc(1000, 7)),
    ]);
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const frames = decodeAll(chunks, 1000);
    expect(frames.map((f) => [f.ver, f.cmd, f.status, f.payload.length])).toEqual([
      [2, 7, 0, 5],
      [0, 1, 1, 0],
      [9, 300, 4, 1000],
    ]);
  });

  it('gives views of the pushed chunk for whole frames (zero copy) and own buffers otherwise', () => {
    const whole = encodeFrame(2, 1, 0, Buffer.from('abc'));
    const decoder = new FrameDecoder();
    let payload: Buffer | undefined;
    decoder.push(whole, (f) => {
      payload = f.payload;
    });
    expect(payload!.buffer).toBe(whole.buffer);
    expect(payload!.byteOffset).toBe(whole.byteOffset + HEADER_SIZE);

    decoder.push(whole.subarray(0, 11), () => {});
    decoder.push(whole.subarray(11), (f) => {
      payload = f.payload;
    });
    expect(payload!.toString()).toBe('abc');
    whole.fill(0); // the assembled payload is a copy: later writes to the chunk do not reach it
    expect(payload!.toString()).toBe('abc');
  });

  it('accepts Uint8Array chunks as well as Buffers', () => {
    const whole = encodeFrame(2, 1, 0, Buffer.from('xyz'));
    const frames = decodeAll([new Uint8Array(whole)]);
    expect(frames[0]!.payload.toString()).toBe('xyz');
  });

  it('rejects a length over the maximum before allocating the payload', () => {
    const header = Buffer.from([0xd1, 0xde, 2, 0, 1, 0, 0xff, 0xff, 0xff, 0xff]);
    const decoder = new FrameDecoder({ maxPayloadLength: 1024 });
    expect(() => decoder.push(header, () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.FrameTooLarge }),
    );
    // The same header arriving a byte at a time is rejected when its length is complete.
    const slow = new FrameDecoder({ maxPayloadLength: 1024 });
    for (let i = 0; i < 9; i++) slow.push(header.subarray(i, i + 1), () => {});
    expect(slow.bufferedBytes).toBe(9);
    expect(() => slow.push(header.subarray(9), () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.FrameTooLarge }),
    );
  });

  it('accepts a payload of exactly the maximum', () => {
    const frames = decodeAll([encodeFrame(2, 1, 0, Buffer.alloc(64))], 64);
    expect(frames[0]!.payload.length).toBe(64);
  });

  it('rejects bad magic as soon as the first wrong byte arrives', () => {
    const decoder = new FrameDecoder();
    expect(() => decoder.push(Buffer.from([0x47]), () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.BadMagic }),
    );
    const second = new FrameDecoder();
    second.push(Buffer.from([0xd1]), () => {});
    expect(() => second.push(Buffer.from([0x00]), () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.BadMagic }),
    );
  });

  it('reports truncation at end of stream, and nothing when the stream ended cleanly', () => {
    const whole = encodeFrame(2, 1, 0, Buffer.from('abcdef'));
    for (const cut of [1, 5, 10, 12]) {
      const decoder = new FrameDecoder();
      decoder.push(whole.subarray(0, cut), () => {});
      expect(decoder.bufferedBytes).toBe(cut);
      expect(() => decoder.end()).toThrow(
        expect.objectContaining({ code: WireErrorCode.Truncated }),
      );
    }
    const clean = new FrameDecoder();
    clean.push(whole, () => {});
    expect(() => clean.end()).not.toThrow();
  });

  it('refuses further input after an error', () => {
    const decoder = new FrameDecoder();
    expect(() => decoder.push(Buffer.from('GET / HTTP/1.1\r\n'), () => {})).toThrow();
    expect(decoder.failed).toBe(true);
    expect(() => decoder.push(encodeFrame(2, 1, 0), () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.DecoderFailed }),
    );
  });

  it('poisons the decoder when the frame handler throws', () => {
    const decoder = new FrameDecoder();
    const boom = new Error('handler failure');
    expect(() =>
      decoder.push(encodeFrame(2, 1, 0), () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(() => decoder.push(encodeFrame(2, 1, 0), () => {})).toThrow(
      expect.objectContaining({ code: WireErrorCode.DecoderFailed }),
    );
  });

  it('random bytes never throw anything but typed errors', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }),
        fc.boolean(),
        (chunks, withMagic) => {
          const decoder = new FrameDecoder({ maxPayloadLength: 256 });
          const input = withMagic
            ? [Buffer.from([0xd1, 0xde]), ...chunks.map((c) => Buffer.from(c))]
            : chunks.map((c) => Buffer.from(c));
          try {
            for (const chunk of input) decoder.push(chunk, () => {});
            decoder.end();
          } catch (err) {
            expect(isTidewireError(err)).toBe(true);
            expect([
              WireErrorCode.BadMagic,
              WireErrorCode.FrameTooLarge,
              WireErrorCode.Truncated,
            ]).toContain((err as { code: string }).code);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('validates its options', () => {
    expect(() => new FrameDecoder({ maxPayloadLength: -1 })).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
    expect(() => new FrameDecoder({ maxPayloadLength: 2 ** 32 })).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
  });
});

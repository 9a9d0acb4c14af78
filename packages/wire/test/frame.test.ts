import { describe, expect, it } from 'vitest';
import {
  decodeFrames,
  encodeFrame,
  encodeFrameInto,
  type Frame,
  frameFromHeader,
  HEADER_SIZE,
  isTidewireError,
  readPayloadLength,
  Status,
  WireErrorCode,
} from '../src/index.ts';

describe('frame layout', () => {
  it('encodes magic, ver, cmd BE, status, length BE, payload', () => {
    const frame = encodeFrame(2, 0x1234, Status.Ok, Buffer.from([0xaa, 0xbb, 0xcc]));
    expect([...frame]).toEqual([
      0xd1, 0xde, 0x02, 0x12, 0x34, 0x01, 0x00, 0x00, 0x00, 0x03, 0xaa, 0xbb, 0xcc,
    ]);
  });

  it('reads back a header at an offset: fields, and the payload length', () => {
    const target = Buffer.alloc(40, 0xee);
    encodeFrameInto(target, 7, 255, 0xfedc, Status.Push, Buffer.alloc(21, 1));
    const payload = target.subarray(7 + HEADER_SIZE, 7 + HEADER_SIZE + 21);
    const frame = frameFromHeader(target, 7, payload);
    expect(frame).toEqual({ ver: 255, cmd: 0xfedc, status: Status.Push, payload });
    expect(frame.payload).toBe(payload);
    expect(readPayloadLength(target, 7)).toBe(21);
    const big = encodeFrame(0, 0, Status.Ok);
    big[6] = 0xff;
    big[9] = 0x01;
    expect(readPayloadLength(big, 0)).toBe(0xff00_0001);
  });

  it('encodes an empty payload as a bare header', () => {
    const frame = encodeFrame(0, 1, Status.Request);
    expect(frame.length).toBe(HEADER_SIZE);
    expect([...frame]).toEqual([0xd1, 0xde, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('writes into a caller buffer at an offset and reports the size', () => {
    const target = Buffer.alloc(32, 0xee);
    const written = encodeFrameInto(target, 5, 3, 65535, Status.Push, Buffer.from('hi'));
    expect(written).toBe(12);
    expect(target[4]).toBe(0xee);
    expect([...target.subarray(5, 17)]).toEqual([
      0xd1, 0xde, 3, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0x68, 0x69,
    ]);
    expect(target[17]).toBe(0xee);
  });

  it('rejects a frame that does not fit the caller buffer', () => {
    expect(() => encodeFrameInto(Buffer.alloc(11), 0, 2, 1, 0, Buffer.alloc(2))).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
  });

  it.each([
    [256, 1, 0],
    [-1, 1, 0],
    [1.5, 1, 0],
    [2, 65536, 0],
    [2, -1, 0],
    [2, 1, 256],
    [2, Number.NaN, 0],
  ])('rejects out-of-range fields ver=%s cmd=%s status=%s', (ver, cmd, status) => {
    expect(() => encodeFrame(ver, cmd, status)).toThrow(
      expect.objectContaining({ code: WireErrorCode.InvalidArgument }),
    );
  });

  it('decodes several whole frames from one buffer as views', () => {
    const a = encodeFrame(2, 1, 0, Buffer.from('one'));
    const b = encodeFrame(0, 400, Status.Push, Buffer.from('two!'));
    const joined = Buffer.concat([a, b]);
    const frames: Frame[] = [];
    expect(decodeFrames(joined, (f) => frames.push(f))).toBe(2);
    expect(frames.map((f) => [f.ver, f.cmd, f.status, f.payload.toString()])).toEqual([
      [2, 1, 0, 'one'],
      [0, 400, 0xff, 'two!'],
    ]);
    expect(frames[0]!.payload.buffer).toBe(joined.buffer);
  });

  it('reports a truncated buffer, bad magic and an oversized length with codes', () => {
    const whole = encodeFrame(2, 1, 0, Buffer.from('abcdef'));
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        if (isTidewireError(err)) return err.code;
        throw err;
      }
      return undefined;
    };
    expect(codeOf(() => decodeFrames(whole.subarray(0, 12), () => {}))).toBe(
      WireErrorCode.Truncated,
    );
    expect(codeOf(() => decodeFrames(whole.subarray(0, 4), () => {}))).toBe(
      WireErrorCode.Truncated,
    );
    expect(codeOf(() => decodeFrames(Buffer.from([0xd1, 0xdf, 0, 0]), () => {}))).toBe(
      WireErrorCode.BadMagic,
    );
    expect(codeOf(() => decodeFrames(whole, () => {}, 5))).toBe(WireErrorCode.FrameTooLarge);
  });
});

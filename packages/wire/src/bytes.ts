/**
 * Big-endian reads and writes by index, and a byte copy, for the code every
 * frame and datagram runs through.
 *
 * Why not `buf.readUInt32BE()` and friends: on Node 20 optimized code does
 * not fold the load of a Buffer.prototype method into a constant; every call
 * first runs a generic property-load stub (`LoadIC`), which was 2.5% of a busy
 * UDP server's CPU (perf, docs/benchmarks.md). Indexed byte access compiles
 * to plain loads and stores.
 *
 * No bounds checks: callers check lengths before they read (a read past the
 * end gives a wrong number, 0 or NaN; a write past the end is ignored).
 */

export function readU16(source: Uint8Array, offset: number): number {
  return (source[offset]! << 8) | source[offset + 1]!;
}

export function readU32(source: Uint8Array, offset: number): number {
  return (
    source[offset]! * 0x100_0000 +
    ((source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!)
  );
}

/** `value` in 0..0xffff. */
export function writeU16(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 8;
  target[offset + 1] = value;
}

/** `value` in 0..0xffff_ffff. */
export function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = value >>> 16;
  target[offset + 2] = value >>> 8;
  target[offset + 3] = value;
}

const typedArraySet = Uint8Array.prototype.set;

/**
 * `target.set(source, offset)` without looking `set` up on the receiver's
 * prototype chain at each call (see above). Throws RangeError when `source`
 * does not fit, as `set` does.
 */
export function copyBytes(target: Uint8Array, source: Uint8Array, offset: number): void {
  typedArraySet.call(target, source, offset);
}

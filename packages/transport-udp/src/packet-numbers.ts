/** Packet numbers and reliable sequence numbers: full numbers on the wire as their low 32 bits. */

export const U32 = 0x1_0000_0000;
const HALF_U32 = 0x8000_0000;

/** Full number nearest to `expected` whose low 32 bits are `low` (never negative). */
export function expandNear(low: number, expected: number): number {
  const diff = (low - (expected % U32) + U32) % U32;
  const up = expected + diff;
  if (diff < HALF_U32) return up;
  const down = up - U32;
  return down >= 0 ? down : up;
}

/** Full number at or below `largest` whose low 32 bits are `low`, or -1. */
export function expandBelow(low: number, largest: number): number {
  const diff = ((largest % U32) - low + U32) % U32;
  return largest - diff;
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FragmentAssembler, FRAGMENT_ENTRY_OVERHEAD as O } from '../src/fragments.ts';

function split(message: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < message.length; i += size) parts.push(message.subarray(i, i + size));
  return parts;
}

describe('FragmentAssembler', () => {
  it('reassembles any order of fragments, duplicates included, exactly once (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 20_000 }),
        fc.integer({ min: 16, max: 1200 }),
        fc.infiniteStream(fc.nat()),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, size, order, duplicates) => {
          const message = Buffer.from(bytes);
          const parts = split(message, size);
          const sequence = parts.map((_, i) => i);
          const it = order[Symbol.iterator]();
          for (let i = sequence.length - 1; i > 0; i--) {
            const j = it.next().value! % (i + 1);
            [sequence[i], sequence[j]] = [sequence[j]!, sequence[i]!];
          }
          for (const d of duplicates)
            sequence.splice(d % (sequence.length + 1), 0, d % parts.length);
          const assembler = new FragmentAssembler(1 << 20, 1 << 20, 1000);
          const complete: Buffer[] = [];
          for (const index of sequence) {
            const whole = assembler.add(7, index, parts.length, parts[index]!, 0);
            if (whole !== null) complete.push(whole);
          }
          expect(complete.length).toBe(1);
          expect(complete[0]!.equals(message)).toBe(true);
          expect(assembler.bytes).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drops incomplete messages after the timeout', () => {
    const assembler = new FragmentAssembler(1 << 20, 1 << 20, 1000);
    const reasons: string[] = [];
    expect(assembler.add(1, 0, 2, Buffer.alloc(10), 0)).toBeNull();
    expect(assembler.bytes).toBe(10 + 2 * O);
    expect(assembler.nextDeadline()).toBe(1000);
    assembler.expire(999, (r) => reasons.push(r));
    expect(assembler.pendingCount).toBe(1);
    assembler.expire(1000, (r) => reasons.push(r));
    expect(assembler.pendingCount).toBe(0);
    expect(assembler.bytes).toBe(0);
    expect(reasons).toEqual(['fragment-timeout']);
    // the late second half starts a new message that never completes
    expect(assembler.add(1, 1, 2, Buffer.alloc(10), 1001)).toBeNull();
  });

  it('bounds reassembly memory: the message that would exceed it is dropped', () => {
    const assembler = new FragmentAssembler(3000, 1 << 20, 1000);
    const reasons: string[] = [];
    expect(assembler.add(1, 0, 3, Buffer.alloc(1000), 0)).toBeNull();
    expect(assembler.add(2, 0, 2, Buffer.alloc(1000), 0)).toBeNull();
    expect(assembler.add(1, 1, 3, Buffer.alloc(1000), 0, (r) => reasons.push(r))).toBeNull();
    expect(reasons).toEqual(['fragment-memory']);
    expect(assembler.bytes).toBe(1000 + 2 * O);
    // later fragments of the dropped message are ignored, the other one completes
    expect(assembler.add(1, 2, 3, Buffer.alloc(1000), 0)).toBeNull();
    expect(assembler.bytes).toBe(1000 + 2 * O);
    expect(assembler.add(2, 1, 2, Buffer.alloc(1000), 0)?.length).toBe(2000);
    expect(assembler.bytes).toBe(0);
  });

  it('charges per entry: many tiny fragments of huge messages stay within the bound', () => {
    const assembler = new FragmentAssembler(64 * 1024, 1 << 20, 1000);
    let dropped = 0;
    for (let id = 0; id < 65_536; id++) {
      assembler.add(id, 0, 65_535, Buffer.alloc(1), 0, () => {
        dropped++;
      });
    }
    expect(assembler.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(assembler.pendingCount).toBeLessThan(600);
    expect(dropped).toBeGreaterThan(64_000);
  });

  it('refuses fragments with an index past the count', () => {
    const assembler = new FragmentAssembler(1 << 20, 1 << 20, 1000);
    const reasons: string[] = [];
    expect(assembler.add(1, 3, 3, Buffer.alloc(1), 0, (r) => reasons.push(r))).toBeNull();
    expect(assembler.add(1, 0, 0, Buffer.alloc(1), 0, (r) => reasons.push(r))).toBeNull();
    expect(reasons).toEqual(['fragment-invalid', 'fragment-invalid']);
  });
});

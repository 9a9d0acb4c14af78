import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoadtestErrorCode } from '../src/errors.ts';
import { LatencyHistogram } from '../src/histogram.ts';

/** Nearest-rank percentile over a sorted array: the reference. */
function exactPercentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

const value = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 100_000 }),
  fc.integer({ min: 0, max: 3_600_000_000 }),
);

describe('LatencyHistogram', () => {
  it('percentiles are within the precision of a sorted-array reference', () => {
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 400 }),
        fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 2, max: 12 }),
        (values, ps, bits) => {
          const h = new LatencyHistogram({ precisionBits: bits });
          for (const v of values) h.record(v);
          const sorted = [...values].sort((a, b) => a - b);
          const half = 2 ** (bits - 1);
          for (const p of [...ps, 0, 50, 90, 99, 99.9, 100]) {
            const exact = exactPercentile(sorted, p);
            const got = h.percentile(p);
            expect(got).toBeGreaterThanOrEqual(exact);
            expect(got - exact).toBeLessThanOrEqual(exact / half);
            if (exact < 2 * half) expect(got).toBe(exact);
          }
          expect(h.count).toBe(values.length);
          expect(h.min).toBe(sorted[0]);
          expect(h.max).toBe(sorted[sorted.length - 1]);
          expect(h.percentile(100)).toBe(h.max);
          expect(h.percentile(0)).toBe(h.min);
          const mean = values.reduce((a, b) => a + b, 0) / values.length;
          expect(h.mean).toBeCloseTo(mean, 3);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merging equals recording everything in one', () => {
    fc.assert(
      fc.property(
        fc.array(value, { maxLength: 200 }),
        fc.array(value, { maxLength: 200 }),
        (a, b) => {
          const ha = new LatencyHistogram();
          const hb = new LatencyHistogram();
          const all = new LatencyHistogram();
          for (const v of a) ha.record(v);
          for (const v of b) hb.record(v);
          for (const v of [...a, ...b]) all.record(v);
          ha.merge(hb);
          expect(ha.summary()).toEqual(all.summary());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rounds to whole microseconds, clamps below 0 and above the highest value', () => {
    const h = new LatencyHistogram({ highestMicros: 10_000 });
    h.record(-5);
    h.record(Number.NaN);
    h.record(1.4);
    h.record(1.6);
    h.record(1e12);
    expect(h.count).toBe(5);
    expect(h.min).toBe(0);
    expect(h.max).toBe(10_000);
    expect(h.percentile(40)).toBe(0);
    expect(h.percentile(60)).toBe(1);
    expect(h.percentile(80)).toBe(2);
    expect(h.percentile(100)).toBe(10_000);
  });

  it('keeps a fixed, small footprint whatever it records', () => {
    const h = new LatencyHistogram();
    const before = h.footprintBytes;
    expect(before).toBeLessThan(64 * 1024);
    for (let i = 0; i < 100_000; i++) h.record((i * 7919) % 5_000_000);
    expect(h.footprintBytes).toBe(before);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.summary()).toEqual({
      count: 0,
      min: 0,
      max: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p999: 0,
    });
  });

  it('rejects bad options and percentiles with a typed error', () => {
    expect(() => new LatencyHistogram({ precisionBits: 1 })).toThrow(
      expect.objectContaining({ code: LoadtestErrorCode.InvalidArgument }),
    );
    expect(() => new LatencyHistogram({ highestMicros: 10 })).toThrow(
      expect.objectContaining({ code: LoadtestErrorCode.InvalidArgument }),
    );
    const h = new LatencyHistogram();
    expect(() => h.percentile(101)).toThrow(
      expect.objectContaining({ code: LoadtestErrorCode.InvalidArgument }),
    );
    expect(() => h.merge(new LatencyHistogram({ precisionBits: 4 }))).toThrow(
      expect.objectContaining({ code: LoadtestErrorCode.InvalidArgument }),
    );
  });
});

import { TidewireError } from '@tidewire/wire';
import { LoadtestErrorCode } from './errors.ts';

export interface LatencyHistogramOptions {
  /**
   * Bits of precision: values are kept exactly below 2^bits and, above, with
   * a relative error under 2^-(bits-1). Default 8 (under 0.79 %); 2..16.
   */
  precisionBits?: number;
  /** Largest value kept apart, in microseconds; larger ones count as this one. Default 3_600_000_000 (1 h). */
  highestMicros?: number;
}

/** What a histogram holds, summarized (microseconds). */
export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

/**
 * A log-linear latency histogram in the manner of HdrHistogram: integer
 * microseconds, exact below 2^precisionBits, then buckets whose width doubles
 * at each power of two, each split into 2^(precisionBits-1) equal slots.
 * Memory is fixed at construction (a few KiB), whatever is recorded.
 */
export class LatencyHistogram {
  readonly precisionBits: number;
  readonly highestMicros: number;
  readonly #half: number;
  readonly #counts: Float64Array;
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  constructor(options: LatencyHistogramOptions = {}) {
    const bits = options.precisionBits ?? 8;
    const highest = options.highestMicros ?? 3_600_000_000;
    if (!Number.isInteger(bits) || bits < 2 || bits > 16) {
      throw new TidewireError(
        LoadtestErrorCode.InvalidArgument,
        `precisionBits must be an integer in 2..16, got ${bits}`,
      );
    }
    if (!Number.isSafeInteger(highest) || highest < 2 ** bits) {
      throw new TidewireError(
        LoadtestErrorCode.InvalidArgument,
        `highestMicros must be a safe integer >= ${2 ** bits}, got ${highest}`,
      );
    }
    this.precisionBits = bits;
    this.highestMicros = highest;
    this.#half = 2 ** (bits - 1);
    this.#counts = new Float64Array(this.#indexOf(highest) + 1);
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#count;
  }

  /** Smallest value recorded (µs, exact); 0 when empty. */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** Largest value recorded (µs, exact, clamped to `highestMicros`); 0 when empty. */
  get max(): number {
    return this.#max;
  }

  /** Mean of the values recorded (µs, exact up to rounding to whole µs); 0 when empty. */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** Records one value in microseconds: rounded to a whole µs, negative counts as 0, above `highestMicros` as `highestMicros`. */
  record(micros: number): void {
    let value = Math.round(micros);
    if (!(value > 0))
      value = 0; // also NaN
    else if (value > this.highestMicros) value = this.highestMicros;
    const index = this.#indexOf(value);
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.#count++;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * The value at percentile `p` (0..100) by nearest rank: the smallest
   * recorded value such that at least p % of the values are at or below it,
   * reported as the upper end of its slot (never above `max`; rank 1 is
   * `min` itself). It is at least the exact value and exceeds it by less than
   * 2^-(precisionBits-1) of it. 0 when empty.
   */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) {
      throw new TidewireError(
        LoadtestErrorCode.InvalidArgument,
        `percentile must be in 0..100, got ${p}`,
      );
    }
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    if (rank === 1) return this.#min;
    let seen = 0;
    const counts = this.#counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i] ?? 0;
      if (seen >= rank) {
        const upper = this.#highestEquivalent(i);
        return Math.max(this.#min, Math.min(upper, this.#max));
      }
    }
    return this.#max;
  }

  /** Adds every value of `other` (same precision and range) to this one. */
  merge(other: LatencyHistogram): void {
    if (other.precisionBits !== this.precisionBits || other.highestMicros !== this.highestMicros) {
      throw new TidewireError(
        LoadtestErrorCode.InvalidArgument,
        'cannot merge histograms of different precision or range',
      );
    }
    const from = other.#counts;
    for (let i = 0; i < from.length; i++) {
      const n = from[i] ?? 0;
      if (n !== 0) this.#counts[i] = (this.#counts[i] ?? 0) + n;
    }
    if (other.#count === 0) return;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Forgets every value. */
  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Number.POSITIVE_INFINITY;
    this.#max = 0;
  }

  /** count, min, max, mean and p50/p90/p99/p99.9, in µs. */
  summary(): LatencySummary {
    return {
      count: this.count,
      min: this.min,
      max: this.max,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
    };
  }

  /** Bytes held by the counters. */
  get footprintBytes(): number {
    return this.#counts.byteLength;
  }

  #indexOf(value: number): number {
    if (value < this.#half * 2) return value;
    // e = floor(log2(value)), corrected where Math.log2 rounds near a power of two.
    let e = Math.floor(Math.log2(value));
    if (2 ** e > value) e--;
    else if (2 ** (e + 1) <= value) e++;
    // The slot width is 2^shift (shift >= 1) and sub is in [half, 2 * half).
    const shift = e - (this.precisionBits - 1);
    return shift * this.#half + Math.floor(value / 2 ** shift);
  }

  #highestEquivalent(index: number): number {
    const full = this.#half * 2;
    if (index < full) return index;
    const shift = Math.floor(index / this.#half) - 1;
    const sub = index - shift * this.#half;
    return (sub + 1) * 2 ** shift - 1;
  }
}

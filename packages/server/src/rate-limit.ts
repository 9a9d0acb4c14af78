/**
 * Token buckets keyed by client address, for the session endpoint: each key
 * holds up to `burst` tokens and gains `perSecond` a second; a request takes
 * one. Buckets that have filled up again are forgotten, so memory is bounded
 * by the keys active within `burst / perSecond` seconds.
 */
export class TokenBuckets {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond;
    this.#burst = Math.max(1, burst);
  }

  /** Takes a token for `key`: 0 when granted, else the ms until the next token. */
  take(key: string, now: number = Date.now()): number {
    if (this.#buckets.size >= 10_000) this.#forgetFull(now);
    const bucket = this.#buckets.get(key);
    const tokens =
      bucket === undefined
        ? this.#burst
        : Math.min(this.#burst, bucket.tokens + ((now - bucket.at) * this.#perSecond) / 1000);
    if (tokens < 1) {
      if (bucket !== undefined) {
        bucket.tokens = tokens;
        bucket.at = now;
      }
      return Math.ceil(((1 - tokens) * 1000) / this.#perSecond);
    }
    if (bucket === undefined) this.#buckets.set(key, { tokens: tokens - 1, at: now });
    else {
      bucket.tokens = tokens - 1;
      bucket.at = now;
    }
    return 0;
  }

  /** Keys with a bucket (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #forgetFull(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.#perSecond) / 1000 >= this.#burst) {
        this.#buckets.delete(key);
      }
    }
  }
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return plain === '::1' || plain.startsWith('127.');
}

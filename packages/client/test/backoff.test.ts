import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/index.ts';

const backoff = { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5 };

describe('backoffDelay', () => {
  it('doubles from initialMs up to maxMs without jitter', () => {
    const none = { ...backoff, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, none))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
  });

  it('draws up to `jitter` of each delay at random', () => {
    expect(backoffDelay(3, backoff, () => 0)).toBe(800);
    expect(backoffDelay(3, backoff, () => 1)).toBe(400);
    expect(backoffDelay(3, backoff, () => 0.5)).toBe(600);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(10, backoff);
      expect(d).toBeGreaterThanOrEqual(2500);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });
});

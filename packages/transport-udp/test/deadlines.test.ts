import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Deadline, schedule } from '../src/deadlines.ts';
import { catchTickErrors } from './helpers.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const timers = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

const entries: Deadline[] = [];
afterEach(() => {
  for (const entry of entries) schedule(entry, Number.POSITIVE_INFINITY);
  entries.length = 0;
});

function track(fire: () => void): Deadline {
  const entry = new Deadline<unknown>(fire, null);
  entries.push(entry);
  return entry;
}

describe('process-wide deadlines', () => {
  it('fires each entry once, not before its deadline, in deadline order', async () => {
    const fired: Array<{ name: string; at: number; due: number }> = [];
    const start = performance.now();
    const plan = [
      { name: 'c', delay: 30 },
      { name: 'a', delay: 5 },
      { name: 'b', delay: 15 },
    ];
    for (const { name, delay } of plan) {
      const due = start + delay;
      schedule(
        track(() => fired.push({ name, at: performance.now(), due })),
        due,
      );
    }
    await sleep(60);
    expect(fired.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(f.due);
  });

  it('moves an entry later or earlier, and cancels it with Infinity', async () => {
    let fires = 0;
    const entry = track(() => fires++);
    schedule(entry, performance.now() + 5);
    schedule(entry, performance.now() + 40); // later: the 5 ms slot no longer holds it
    await sleep(20);
    expect(fires).toBe(0);
    schedule(entry, performance.now() + 1); // earlier again
    await sleep(20);
    expect(fires).toBe(1);
    schedule(entry, performance.now() + 5);
    schedule(entry, Number.POSITIVE_INFINITY);
    await sleep(20);
    expect(fires).toBe(1);
  });

  it('lets a callback schedule itself and others without firing them in the same pass', async () => {
    const log: string[] = [];
    let rounds = 0;
    const other = track(() => log.push('other'));
    const self: Deadline = track(() => {
      log.push('self');
      if (++rounds < 3) schedule(self, performance.now()); // already due: next slot, not this pass
      schedule(other, performance.now() + 2);
    });
    schedule(self, performance.now() + 1);
    await sleep(60);
    expect(rounds).toBe(3);
    expect(log.filter((x) => x === 'self')).toHaveLength(3);
    expect(log.at(-1)).toBe('other');
  });

  it('holds one timer while anything is scheduled and none after the last cancel', async () => {
    await sleep(5);
    const before = timers();
    const many = Array.from({ length: 100 }, () => track(() => {}));
    for (const [i, entry] of many.entries()) schedule(entry, performance.now() + 1_000 + i * 7);
    expect(timers()).toBe(before + 1);
    for (const entry of many) schedule(entry, Number.POSITIVE_INFINITY);
    expect(timers()).toBe(before);
  });
});

describe('process-wide deadlines: a callback that throws', () => {
  it('does not stop the others, and its error is rethrown on the next tick', async () => {
    const rethrown = await catchTickErrors('handler failed', async () => {
      const fired: string[] = [];
      const at = performance.now() + 2;
      schedule(
        track(() => fired.push('first')),
        at,
      );
      schedule(
        track(() => {
          fired.push('thrower');
          throw new Error('handler failed');
        }),
        at,
      );
      schedule(
        track(() => fired.push('last')),
        at,
      );
      schedule(
        track(() => fired.push('later')),
        at + 20,
      );
      await sleep(50);
      expect([...fired].sort()).toEqual(['first', 'last', 'later', 'thrower']);
    });
    expect(rethrown).toHaveLength(1);
  });
});

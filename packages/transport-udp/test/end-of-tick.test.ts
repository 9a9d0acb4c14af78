import { describe, expect, it, vi } from 'vitest';
import { atEndOfTick } from '../src/end-of-tick.ts';

describe('end-of-tick flushes', () => {
  it('runs every queued flush once at the end of the tick, including flushes queued meanwhile', async () => {
    const order: string[] = [];
    atEndOfTick(() => {
      order.push('a');
      atEndOfTick(() => order.push('c'));
    });
    atEndOfTick(() => order.push('b'));
    expect(order).toEqual([]);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('keeps working after a flush throws: the others run and the error is rethrown once', async () => {
    // Catch the rethrown error where process.nextTick runs the batch.
    const errors: unknown[] = [];
    const realNextTick = process.nextTick.bind(process);
    const spy = vi.spyOn(process, 'nextTick').mockImplementation(((
      fn: (...args: unknown[]) => void,
      ...args: unknown[]
    ) => {
      realNextTick(() => {
        try {
          fn(...args);
        } catch (err) {
          if ((err as Error).message !== 'onDrain failed') throw err;
          errors.push(err);
        }
      });
    }) as typeof process.nextTick);
    try {
      const ran: string[] = [];
      atEndOfTick(() => {
        throw new Error('onDrain failed');
      });
      atEndOfTick(() => ran.push('after the failure'));
      await new Promise((r) => setTimeout(r, 5));
      expect(ran).toEqual(['after the failure']);
      expect(errors).toHaveLength(1);
      // the next tick's flushes are scheduled again
      atEndOfTick(() => ran.push('next tick'));
      await new Promise((r) => setTimeout(r, 5));
      expect(ran).toEqual(['after the failure', 'next tick']);
    } finally {
      spy.mockRestore();
    }
  });
});

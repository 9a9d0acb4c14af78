import { describe, expect, it } from 'vitest';
import { atEndOfTick } from '../src/end-of-tick.ts';
import { catchTickErrors } from './helpers.ts';

describe('end-of-tick flushes', () => {
  it('runs every queued flush once at the end of the tick, including flushes queued meanwhile', async () => {
    const order: string[] = [];
    const record = (name: string): void => {
      order.push(name);
    };
    atEndOfTick((name) => {
      record(name);
      atEndOfTick(record, 'c');
    }, 'a');
    atEndOfTick(record, 'b');
    expect(order).toEqual([]);
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('keeps working after a flush throws: the others run and the error is rethrown once', async () => {
    const ran: string[] = [];
    const errors = await catchTickErrors('onDrain failed', async () => {
      const record = (what: string): void => {
        ran.push(what);
      };
      atEndOfTick(() => {
        throw new Error('onDrain failed');
      }, null);
      atEndOfTick(record, 'after the failure');
      await new Promise((r) => setTimeout(r, 5));
      expect(ran).toEqual(['after the failure']);
      // the next tick's flushes are scheduled again
      atEndOfTick(record, 'next tick');
      await new Promise((r) => setTimeout(r, 5));
      expect(ran).toEqual(['after the failure', 'next tick']);
    });
    expect(errors).toHaveLength(1);
  });
});

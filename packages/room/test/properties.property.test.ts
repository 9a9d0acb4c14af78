/**
 * Property updates against a model: any sequence of set / increment /
 * compare-and-set gives the model's properties, and a refused update
 * (CAS mismatch, not a number, too large) changes nothing.
 */
import { pack } from '@tidewire/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Properties, PropertyUpdate } from '../src/index.ts';
import { cleanup, type RoomNode, roomNode } from './helpers.ts';

const LIMIT = 120;
const keys = fc.constantFrom('a', 'b', 'c');
const value = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('x', 'yy', null));
const update: fc.Arbitrary<PropertyUpdate> = fc
  .record(
    {
      set: fc.dictionary(keys, fc.oneof(value, fc.string({ maxLength: 60 })), { maxKeys: 2 }),
      increment: fc.dictionary(keys, fc.integer({ min: -3, max: 3 }), { minKeys: 1, maxKeys: 2 }),
      compareAndSet: fc.record({ key: keys, expected: value, value }),
    },
    { requiredKeys: [] },
  )
  .filter((u) => Object.keys(u).length > 0);

/** The documented semantics: compare-and-set, then set, then increment; all or nothing. */
function model(current: Properties, u: PropertyUpdate): Properties | string {
  const next: Properties = { ...current };
  if (u.compareAndSet !== undefined) {
    const { key, expected, value } = u.compareAndSet;
    if (!pack(next[key] ?? null).equals(pack(expected ?? null)))
      return 'TIDEWIRE_ERR_ROOM_CAS_FAILED';
    next[key] = value;
  }
  Object.assign(next, u.set ?? {});
  for (const [key, delta] of Object.entries(u.increment ?? {})) {
    const now = next[key] ?? 0;
    if (typeof now !== 'number') return 'TIDEWIRE_ERR_INVALID_ARGUMENT';
    next[key] = now + delta;
  }
  return pack(next).length > LIMIT ? 'TIDEWIRE_ERR_ROOM_TOO_LARGE' : next;
}

describe('property updates', () => {
  let node: RoomNode;
  beforeAll(async () => {
    node = await roomNode(undefined, { maxPropertyBytes: LIMIT });
  });
  afterAll(cleanup);

  it('match the model, and refusals change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update, { minLength: 1, maxLength: 15 }), async (updates) => {
        const { roomId } = await node.rooms.create('owner');
        let expected: Properties = {};
        for (const u of updates) {
          const outcome = model(expected, u);
          if (typeof outcome === 'string') {
            await expect(node.rooms.updateProperties('owner', roomId, u)).rejects.toMatchObject({
              code: outcome,
            });
          } else {
            expect(await node.rooms.updateProperties('owner', roomId, u)).toEqual(outcome);
            expected = outcome;
          }
          expect(await node.rooms.getProperties('owner', roomId)).toEqual(expected);
        }
        await node.rooms.leave('owner', roomId);
        expect(node.rooms.room(roomId)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });
});

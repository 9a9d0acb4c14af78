import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AckSchedule,
  CoreCommand,
  createResumeToken,
  deriveResumeKey,
  NumberedLog,
  RESUME_TOKEN_LENGTH,
} from '../src/index.ts';

describe('resume token and key', () => {
  it('tokens are 16 random bytes, never repeated', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const token = createResumeToken();
      expect(token.length).toBe(RESUME_TOKEN_LENGTH);
      seen.add(token.toString('hex'));
    }
    expect(seen.size).toBe(1000);
  });

  it('the resume key is HKDF-SHA256(session key, token, "tidewire resume v1")', () => {
    // Computed independently (RFC 5869 extract and expand with Python's hmac).
    const key = deriveResumeKey(
      Buffer.from([...Array(16).keys()]),
      Buffer.from([...Array(16).keys()].map((i) => i + 16)),
    );
    expect(key.toString('hex')).toBe('62f32f83bcfdc70add3c08d89489ed1b');
  });

  it('another token gives another key; wrong lengths are refused', () => {
    const sessionKey = Buffer.alloc(16, 7);
    expect(deriveResumeKey(sessionKey, createResumeToken())).not.toEqual(
      deriveResumeKey(sessionKey, createResumeToken()),
    );
    expect(() => deriveResumeKey(Buffer.alloc(15), createResumeToken())).toThrow(
      /session key must be 16 bytes/,
    );
    expect(() => deriveResumeKey(sessionKey, Buffer.alloc(8))).toThrow(/resume token/);
  });

  it('resume and ack are core commands 5 and 6', () => {
    expect(CoreCommand.Resume).toBe(5);
    expect(CoreCommand.Ack).toBe(6);
  });
});

const frame = (n: number): Buffer => Buffer.alloc(n % 7, n);

describe('NumberedLog', () => {
  it('numbers from 1, forgets what is acknowledged, sends again what follows', () => {
    const log = new NumberedLog({ maxFrames: 10, maxBytes: 1000 });
    for (let i = 1; i <= 5; i++) expect(log.append(2, i, 1, frame(i))).toBe(i);
    expect(log.acknowledge(2)).toBe(true);
    expect(log.length).toBe(3);
    expect(log.after(3).map((f) => f.number)).toEqual([4, 5]);
    expect(log.after(2).map((f) => f.cmd)).toEqual([3, 4, 5]);
    expect(log.bytes).toBe([3, 4, 5].reduce((sum, i) => sum + (i % 7) + 10, 0));
  });

  it('refuses acknowledgements below an earlier one or above what was sent', () => {
    const log = new NumberedLog({ maxFrames: 10, maxBytes: 1000 });
    log.append(2, 1, 1, frame(1));
    log.append(2, 1, 1, frame(2));
    expect(log.acknowledge(3)).toBe(false);
    expect(log.acknowledge(2)).toBe(true);
    expect(log.acknowledge(1)).toBe(false);
    expect(log.acknowledge(1.5)).toBe(false);
    expect(log.acknowledged).toBe(2);
  });

  it('past the frame bound it overflows for good and keeps nothing', () => {
    const log = new NumberedLog({ maxFrames: 3, maxBytes: 1000 });
    for (let i = 1; i <= 3; i++) log.append(2, 1, 1, frame(i));
    expect(log.append(2, 1, 1, frame(4))).toBe(0);
    expect(log.overflowed).toBe(true);
    expect(log.length).toBe(0);
    expect(log.bytes).toBe(0);
    log.acknowledge(4);
    expect(log.append(2, 1, 1, frame(5))).toBe(0);
    expect(log.sent).toBe(5);
  });

  it('past the byte bound it overflows (10 bytes of header per frame count)', () => {
    const log = new NumberedLog({ maxFrames: 100, maxBytes: 50 });
    expect(log.append(2, 1, 1, Buffer.alloc(20))).toBe(1);
    expect(log.append(2, 1, 1, Buffer.alloc(10))).toBe(2);
    expect(log.append(2, 1, 1, Buffer.alloc(1))).toBe(0);
    expect(log.overflowed).toBe(true);
  });

  it('an acknowledged frame frees its room', () => {
    const log = new NumberedLog({ maxFrames: 2, maxBytes: 1000 });
    log.append(2, 1, 1, frame(1));
    log.append(2, 1, 1, frame(2));
    log.acknowledge(1);
    expect(log.append(2, 1, 1, frame(3))).toBe(3);
    expect(log.overflowed).toBe(false);
  });

  it('lets go of an acknowledged frame at once, not at the next compaction', async () => {
    // A full GC on demand: --expose-gc for a fresh context only.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const log = new NumberedLog({ maxFrames: 100, maxBytes: 100_000 });
    let payload: Uint8Array | null = new Uint8Array(64);
    const kept = new WeakRef(payload);
    log.append(2, 1, 0, payload);
    log.append(2, 1, 0, new Uint8Array(64));
    payload = null;
    expect(log.acknowledge(1)).toBe(true);
    expect(log.length).toBe(1);
    // WeakRefs are cleared only after the job that created them: let it end.
    await sleep(0);
    gc();
    expect(kept.deref()).toBeUndefined();
  });

  it('any interleaving of appends and acks: after(n) is every kept frame above n, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('append' as const), fc.nat(3000)), { maxLength: 3000 }),
        (ops) => {
          const log = new NumberedLog({ maxFrames: 100_000, maxBytes: 10_000_000 });
          let acked = 0;
          for (const op of ops) {
            if (op === 'append') log.append(2, 1, 1, frame(log.sent + 1));
            else {
              const target = Math.min(log.sent, acked + (op % 50));
              expect(log.acknowledge(target)).toBe(true);
              acked = target;
            }
          }
          const rest = log.after(acked).map((f) => f.number);
          expect(rest).toEqual(Array.from({ length: log.sent - acked }, (_, i) => acked + i + 1));
          expect(log.length).toBe(log.sent - acked);
        },
      ),
    );
  });
});

describe('AckSchedule', () => {
  it('acks after 32 frames at once, and after the delay for fewer', async () => {
    const acks: number[] = [];
    const schedule = new AckSchedule((n) => acks.push(n), { delayMs: 50 });
    for (let i = 0; i < 32; i++) schedule.count();
    expect(acks).toEqual([32]);
    schedule.count();
    expect(acks).toEqual([32]);
    await sleep(120);
    expect(acks).toEqual([32, 33]);
    schedule.stop();
  });

  it('rebind carries the count on and counts it as acknowledged; stop sends nothing', async () => {
    const first: number[] = [];
    const second: number[] = [];
    const schedule = new AckSchedule((n) => first.push(n), { delayMs: 30 });
    schedule.count();
    schedule.count();
    schedule.stop();
    schedule.rebind((n) => second.push(n));
    await sleep(60);
    expect(first).toEqual([]);
    schedule.count();
    schedule.flush();
    expect(second).toEqual([3]);
  });
});

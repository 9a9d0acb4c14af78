import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { Status, unpack } from '@tidewire/wire';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommandRouter, type Next, type StallInfo } from '../src/index.ts';

class TestUser {
  responsesSent = 0;
  readonly responses: { cmd: number; status: number; body: unknown }[] = [];
  constructor(readonly id: string) {}
  sendResponse(_ver: number, cmd: number, status: number, payload: Uint8Array): void {
    this.responsesSent++;
    this.responses.push({ cmd, status, body: unpack(payload) });
  }
}

const empty = Buffer.alloc(0);
let router: CommandRouter<TestUser>;
afterEach(() => router?.close());

describe('per-user serial queues', () => {
  it('completes each user’s commands in arrival order while users overlap (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), {
          minLength: 2,
          maxLength: 40,
        }),
        async (commands) => {
          router = new CommandRouter();
          const users = [0, 1, 2, 3].map((i) => new TestUser(`u${i}`));
          const completed = new Map<string, number[]>();
          let running = 0;
          let maxRunning = 0;
          let finished = 0;
          // cmd carries the arrival index; the payload the delay in ms (0 = synchronous).
          router.handleCommand(2, 1, (_v, _c, payload, user, next) => {
            const index = payload.readUInt16BE(0);
            const delay = payload.readUInt8(2);
            running++;
            maxRunning = Math.max(maxRunning, running);
            const done = (): void => {
              running--;
              const list = completed.get(user.id) ?? [];
              list.push(index);
              completed.set(user.id, list);
              finished++;
              next();
            };
            if (delay === 0) done();
            else setTimeout(done, delay);
          });
          const sent = new Map<string, number[]>();
          commands.forEach(([userIndex, delay], index) => {
            const user = users[userIndex]!;
            const payload = Buffer.alloc(3);
            payload.writeUInt16BE(index, 0);
            payload.writeUInt8(delay, 2);
            const list = sent.get(user.id) ?? [];
            list.push(index);
            sent.set(user.id, list);
            router.dispatch(user, 2, 1, payload);
          });
          await vi.waitFor(() => expect(finished).toBe(commands.length), {
            timeout: 2_000,
            interval: 2,
          });
          expect(completed).toEqual(sent);
          // Never two commands of one user at a time, so at most one per distinct user.
          expect(maxRunning).toBeLessThanOrEqual(sent.size);
          const slowUsers = new Set(commands.filter(([, d]) => d > 0).map(([u]) => u));
          if (slowUsers.size >= 2) expect(maxRunning).toBeGreaterThanOrEqual(2);
          for (const user of users) expect(router.queued(user)).toBe(0);
          router.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a stalled user does not delay another, and is reported once after the timeout', async () => {
    const stalled: [string, StallInfo][] = [];
    const warnings: string[] = [];
    router = new CommandRouter({
      stallWarningMs: 20,
      stallTimeoutMs: 60,
      onUserStalled: (user, info) => stalled.push([user.id, info]),
      logger: { warn: (message) => warnings.push(message) },
    });
    const stages: string[] = [];
    const onStall = (message: unknown): void => {
      stages.push((message as { stage: string }).stage);
    };
    subscribe('tidewire:router:stall', onStall);
    try {
      let parked: Next | null = null;
      const handled: string[] = [];
      router.handleCommand(2, 1, (_v, _c, _p, user, next) => {
        if (user.id === 'slow') parked = next;
        else {
          handled.push(user.id);
          next();
        }
      });
      const slow = new TestUser('slow');
      const fast = new TestUser('fast');
      router.dispatch(slow, 2, 1, empty);
      router.dispatch(slow, 2, 1, empty);
      router.dispatchKeepAlive(slow);
      router.dispatch(fast, 2, 1, empty);
      expect(handled).toEqual(['fast']);
      expect(router.queued(slow)).toBe(2);
      await vi.waitFor(() => expect(stalled).toHaveLength(1), { timeout: 2_000 });
      expect(stalled[0]![0]).toBe('slow');
      expect(stalled[0]![1]).toMatchObject({ ver: 2, cmd: 1 });
      expect(stalled[0]![1].elapsedMs).toBeGreaterThanOrEqual(60);
      expect(stages).toEqual(['warning', 'timeout']);
      expect(warnings).toContain('command handler has not called next()');
      await sleep(40);
      expect(stalled).toHaveLength(1);
      // The server disconnects the user: its queue goes, a late next() is ignored.
      router.removeUser(slow);
      expect(router.queued(slow)).toBe(0);
      (parked as Next | null)?.();
      expect(slow.responses).toEqual([]);
    } finally {
      unsubscribe('tidewire:router:stall', onStall);
    }
  });

  it('keep-alives wait in the same queue as commands', async () => {
    const order: string[] = [];
    router = new CommandRouter({ onKeepAliveDone: () => order.push('keep-alive answered') });
    router.handleCommand(2, 1, async () => {
      await sleep(5);
      order.push('command');
    });
    router.onKeepAlive((_u, next) => {
      order.push('keep-alive handler');
      next();
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, empty);
    router.dispatchKeepAlive(user);
    expect(order).toEqual([]);
    await vi.waitFor(() => expect(order).toHaveLength(3));
    expect(order).toEqual(['command', 'keep-alive handler', 'keep-alive answered']);
  });

  it('a failed keep-alive chain is logged and still answered, with no response frame', () => {
    const answered: string[] = [];
    const warnings: string[] = [];
    router = new CommandRouter({
      onKeepAliveDone: (user) => answered.push(user.id),
      logger: { warn: (message) => warnings.push(message) },
    });
    router.onKeepAlive((_u, next) => next(new Error('boom')));
    const user = new TestUser('u1');
    router.dispatchKeepAlive(user);
    expect(answered).toEqual(['u1']);
    expect(user.responses).toEqual([]);
    expect(warnings).toEqual(['command chain failed']);
  });

  it('drops commands beyond maxQueuedCommands and reports the overflow once', () => {
    const overflows: [string, number][] = [];
    router = new CommandRouter({
      maxQueuedCommands: 3,
      onQueueOverflow: (user, queued) => overflows.push([user.id, queued]),
    });
    const parked: Next[] = [];
    const seen: number[] = [];
    router.handleCommand(2, 1, (_v, _c, payload, _u, next) => {
      seen.push(payload[0]!);
      parked.push(next);
    });
    const user = new TestUser('u1');
    for (let i = 0; i < 6; i++) router.dispatch(user, 2, 1, Buffer.from([i]));
    expect(router.queued(user)).toBe(3);
    expect(overflows).toEqual([['u1', 3]]);
    for (let i = 0; i < 4; i++) parked[i]!();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(router.queued(user)).toBe(0);
  });

  it('removeUser drops waiting commands and silences the running one', () => {
    router = new CommandRouter();
    const parked: Next[] = [];
    let runs = 0;
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      runs++;
      parked.push(next);
    });
    const user = new TestUser('u1');
    router.dispatch(user, 2, 1, empty);
    router.dispatch(user, 2, 1, empty);
    router.removeUser(user);
    parked[0]!(new Error('too late'));
    expect(runs).toBe(1);
    expect(user.responses).toEqual([]);
    // The user may come back (reconnect): a fresh queue.
    router.dispatch(user, 2, 1, empty);
    expect(runs).toBe(2);
  });

  it('a lane is the user’s queue: the same order as dispatch(user), and it drops after removeUser', () => {
    router = new CommandRouter();
    const parked: Next[] = [];
    const seen: string[] = [];
    router.handleCommand(2, 1, (_v, _c, p, _u, next) => {
      seen.push(p.toString());
      parked.push(next);
    });
    router.onKeepAlive((_u, next) => {
      seen.push('keep-alive');
      next();
    });
    const user = new TestUser('u1');
    const lane = router.lane(user);
    expect(router.lane(user)).toBe(lane);
    lane.dispatch(2, 1, Buffer.from('a'));
    router.dispatch(user, 2, 1, Buffer.from('b'));
    lane.dispatchKeepAlive();
    lane.dispatch(2, 1, Buffer.from('c'));
    expect(router.queued(user)).toBe(3);
    parked[0]!();
    parked[1]!();
    expect(seen).toEqual(['a', 'b', 'keep-alive', 'c']);
    router.removeUser(user);
    lane.dispatch(2, 1, Buffer.from('dropped'));
    expect(seen).toHaveLength(4);
    // A new lane for the same user (it came back) works; the old one stays dropped.
    const again = router.lane(user);
    expect(again).not.toBe(lane);
    again.dispatch(2, 1, Buffer.from('d'));
    lane.dispatch(2, 1, Buffer.from('still dropped'));
    expect(seen).toEqual(['a', 'b', 'keep-alive', 'c', 'd']);
  });

  it('processes thousands of synchronous commands without growing the stack', () => {
    router = new CommandRouter({ maxQueuedCommands: 100_000 });
    let parkedFirst: Next | null = null;
    let count = 0;
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      count++;
      if (parkedFirst === null && count === 1) parkedFirst = next;
      else next();
    });
    const user = new TestUser('u1');
    for (let i = 0; i < 50_000; i++) router.dispatch(user, 2, 1, empty);
    expect(router.queued(user)).toBe(49_999);
    (parkedFirst as Next | null)?.();
    expect(count).toBe(50_000);
    expect(router.queued(user)).toBe(0);
  });
});

describe('observability and lifecycle', () => {
  it('publishes every completed chain on tidewire:router:command and errors on tidewire:router:error', () => {
    router = new CommandRouter();
    const commands: { ver: number; cmd: number; ok: boolean; durationMs: number }[] = [];
    const errors: { cmd: number; error: unknown }[] = [];
    const onCommand = (m: unknown): void => {
      commands.push(m as never);
    };
    const onError = (m: unknown): void => {
      errors.push(m as never);
    };
    subscribe('tidewire:router:command', onCommand);
    subscribe('tidewire:router:error', onError);
    try {
      router.handleCommand(2, 1, (_v, _c, _p, _u, next) => next());
      router.handleCommand(2, 2, (_v, _c, _p, _u, next) => next(new Error('nope')));
      const user = new TestUser('u1');
      router.dispatch(user, 2, 1, empty);
      router.dispatch(user, 2, 2, empty);
      router.dispatch(user, 2, 3, empty);
      expect(commands.map((c) => [c.cmd, c.ok])).toEqual([
        [1, true],
        [2, false],
        [3, true],
      ]);
      expect(commands.every((c) => c.durationMs >= 0)).toBe(true);
      expect(errors.map((e) => e.cmd)).toEqual([2]);
      expect(user.responses.map((r) => [r.cmd, r.status])).toEqual([
        [2, Status.Err],
        [3, Status.Bad],
      ]);
    } finally {
      unsubscribe('tidewire:router:command', onCommand);
      unsubscribe('tidewire:router:error', onError);
    }
  });

  it('close() clears its timer and ignores later dispatches', async () => {
    router = new CommandRouter({ stallWarningMs: 1_000, stallTimeoutMs: 2_000 });
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    let runs = 0;
    router.handleCommand(2, 1, () => {
      runs++;
    });
    router.dispatch(new TestUser('u1'), 2, 1, empty);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(
      timersBefore + 1,
    );
    router.close();
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(
      timersBefore,
    );
    router.dispatch(new TestUser('u2'), 2, 1, empty);
    expect(runs).toBe(1);
  });

  it('a sendResponse that throws is logged, never thrown into the transport', () => {
    const errors: string[] = [];
    router = new CommandRouter({ logger: { error: (m) => errors.push(m), warn: () => {} } });
    const user = new TestUser('u1');
    user.sendResponse = () => {
      throw new Error('socket gone');
    };
    expect(() => router.dispatch(user, 2, 99, empty)).not.toThrow();
    expect(errors).toEqual(['sendResponse threw']);
  });
});

describe('rate limit', () => {
  it("answers Bad over the limit (action 'bad'), refills with time, and never counts keep-alives", async () => {
    // 5/s: a token every 200 ms, far above how long the dispatches below take
    // on a loaded machine (at 50/s a token came back during them now and then)
    router = new CommandRouter({ rateLimit: { commandsPerSecond: 5, burst: 3 } });
    let handled = 0;
    let keepAlives = 0;
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => {
      handled++;
      next();
    });
    router.onKeepAlive((_u, next) => {
      keepAlives++;
      next();
    });
    const user = new TestUser('u1');
    for (let i = 0; i < 5; i++) router.dispatch(user, 2, 1, empty);
    for (let i = 0; i < 5; i++) router.dispatchKeepAlive(user);
    expect(handled).toBe(3);
    expect(keepAlives).toBe(5);
    expect(user.responses).toEqual([
      {
        cmd: 1,
        status: Status.Bad,
        body: { code: 'TIDEWIRE_ERR_RATE_LIMITED', message: 'more than 5 commands per second' },
      },
      {
        cmd: 1,
        status: Status.Bad,
        body: { code: 'TIDEWIRE_ERR_RATE_LIMITED', message: 'more than 5 commands per second' },
      },
    ]);
    await sleep(450); // 5/s: two tokens back (a third only after 600 ms)
    for (let i = 0; i < 3; i++) router.dispatch(user, 2, 1, empty);
    expect(handled).toBe(5);
    // Another user has a bucket of their own.
    router.dispatch(new TestUser('u2'), 2, 1, empty);
    expect(handled).toBe(6);
  });

  it("drops silently (action 'drop') or reports for a disconnect (action 'disconnect')", () => {
    router = new CommandRouter({ rateLimit: { commandsPerSecond: 1, burst: 1, action: 'drop' } });
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => next());
    const quiet = new TestUser('q');
    router.dispatch(quiet, 2, 1, empty);
    router.dispatch(quiet, 2, 1, empty);
    expect(quiet.responses).toEqual([]);
    router.close();

    const limited: string[] = [];
    router = new CommandRouter({
      rateLimit: { commandsPerSecond: 1, burst: 1, action: 'disconnect' },
      onRateLimited: (user, { cmd }) => limited.push(`${user.id}:${cmd}`),
    });
    router.handleCommand(2, 1, (_v, _c, _p, _u, next) => next());
    const loud = new TestUser('l');
    router.dispatch(loud, 2, 1, empty);
    router.dispatch(loud, 2, 1, empty);
    expect(limited).toEqual(['l:1']);
    expect(loud.responses).toEqual([]);
    expect(
      () => new CommandRouter({ rateLimit: { commandsPerSecond: 1, action: 'ban' as never } }),
    ).toThrow(/rateLimit.action/);
  });
});

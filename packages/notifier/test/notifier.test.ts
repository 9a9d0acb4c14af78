import { setTimeout as sleep } from 'node:timers/promises';
import { type Frame, FrameDecoder, Status, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Notification, Notifier, NotifierErrorCode } from '../src/index.ts';

class TestUser {
  readonly frames: Frame[] = [];
  readonly #decoder = new FrameDecoder();
  connected = true;
  constructor(
    readonly id: string,
    readonly level = 1,
  ) {}
  sendEncoded(frame: Uint8Array): boolean {
    if (!this.connected) return false;
    this.#decoder.push(Buffer.from(frame), (f) => this.frames.push(f));
    return true;
  }
  notifications(): { id: string; name: string; message: string }[] {
    return this.frames
      .filter((f) => f.ver === 0 && f.cmd === 400)
      .map((f) => {
        const body = unpack<{ id: string; name: string; message: Uint8Array }>(f.payload);
        return { id: body.id, name: body.name, message: Buffer.from(body.message).toString() };
      });
  }
}

function note(id: string, overrides: Partial<Notification> = {}): Notification {
  return {
    id,
    name: 'news',
    ver: 0,
    cmd: 400,
    message: Buffer.from(`msg ${id}`),
    ttlMs: 60_000,
    ...overrides,
  };
}

let clock = 1_000_000;
const now = (): number => clock;
let notifier: Notifier<TestUser>;
let users: TestUser[];
afterEach(() => notifier?.close());

function setup(
  list: TestUser[],
  options: Partial<ConstructorParameters<typeof Notifier<TestUser>>[0]> = {},
): void {
  users = list;
  notifier = new Notifier<TestUser>({
    users: () => users.filter((u) => u.connected),
    now,
    ...options,
  });
}

describe('notify', () => {
  it('delivers to every connected user as a (0, 400) push with id, name and message', async () => {
    setup([new TestUser('a'), new TestUser('b')]);
    expect(await notifier.notify(note('n1'))).toBe(true);
    for (const user of users) {
      expect(user.frames.map((f) => [f.ver, f.cmd, f.status])).toEqual([[0, 400, Status.Push]]);
      expect(user.notifications()).toEqual([{ id: 'n1', name: 'news', message: 'msg n1' }]);
    }
  });

  it('pushes the raw message for an application (ver, cmd)', async () => {
    setup([new TestUser('a')]);
    await notifier.notify(note('n1', { ver: 5, cmd: 77, message: Buffer.from('raw') }));
    expect(users[0]!.frames.map((f) => [f.ver, f.cmd, f.payload.toString()])).toEqual([
      [5, 77, 'raw'],
    ]);
  });

  it('applies the filter registered for the name, and only to that name', async () => {
    setup([new TestUser('low', 1), new TestUser('high', 9)]);
    const calls: string[] = [];
    notifier.setOnNotification('vip', (user, n) => {
      calls.push(`${user.id}:${n.id}`);
      return user.level > 5;
    });
    await notifier.notify(note('v1', { name: 'vip' }));
    await notifier.notify(note('e1', { name: 'everyone' }));
    expect(users[0]!.notifications().map((n) => n.id)).toEqual(['e1']);
    expect(users[1]!.notifications().map((n) => n.id)).toEqual(['v1', 'e1']);
    expect(calls).toEqual(['low:v1', 'high:v1']);
  });

  it('a filter that throws skips the user and is logged', async () => {
    const warnings: string[] = [];
    setup([new TestUser('a'), new TestUser('b')], { logger: { warn: (m) => warnings.push(m) } });
    notifier.setOnNotification('news', (user) => {
      if (user.id === 'a') throw new Error('boom');
      return true;
    });
    await notifier.notify(note('n1'));
    expect(users[0]!.frames).toEqual([]);
    expect(users[1]!.frames).toHaveLength(1);
    expect(warnings).toEqual(['notification filter threw: user skipped']);
  });

  it('ignores a second notify with a used id', async () => {
    setup([new TestUser('a')]);
    expect(await notifier.notify(note('n1'))).toBe(true);
    expect(await notifier.notify(note('n1', { message: Buffer.from('other') }))).toBe(false);
    expect(users[0]!.notifications()).toHaveLength(1);
  });

  it('rejects malformed notifications with typed errors', async () => {
    setup([new TestUser('a')]);
    const cases: [Partial<Notification> & Record<string, unknown>, string][] = [
      [{ id: '' }, NotifierErrorCode.InvalidNotification],
      [{ id: undefined as never }, NotifierErrorCode.InvalidNotification],
      [{ ver: 256 }, NotifierErrorCode.InvalidNotification],
      [{ cmd: -1 }, NotifierErrorCode.InvalidNotification],
      [{ message: 'text' as never }, NotifierErrorCode.InvalidNotification],
      [{ ttlMs: -1 }, NotifierErrorCode.InvalidTtl],
      [{ ttlMs: 1.5 }, NotifierErrorCode.InvalidTtl],
      [{ ttlMs: '60' as never }, NotifierErrorCode.InvalidTtl],
      [{ message: Buffer.alloc(16 * 1024 + 1) }, NotifierErrorCode.MessageTooLarge],
    ];
    for (const [overrides, code] of cases) {
      await expect(
        notifier.notify({ ...note('x'), ...overrides } as Notification),
      ).rejects.toMatchObject({ code });
    }
    expect(users[0]!.frames).toEqual([]);
  });
});

describe('TTL', () => {
  it('delivers to users who join before expiry, not after, and never twice', async () => {
    setup([new TestUser('early')]);
    await notifier.notify(note('n1', { ttlMs: 10_000 }));
    await notifier.notify(note('n0', { ttlMs: 0 }));
    const late = new TestUser('late');
    users.push(late);
    clock += 5_000;
    await notifier.onUserJoined(late);
    expect(late.notifications().map((n) => n.id)).toEqual(['n1']);
    // Reconnecting (same user id) does not deliver it again.
    await notifier.onUserJoined(late);
    await notifier.onUserJoined(users[0]!);
    expect(late.notifications()).toHaveLength(1);
    expect(users[0]!.notifications().map((n) => n.id)).toEqual(['n1', 'n0']);
    clock += 5_001;
    const tooLate = new TestUser('too-late');
    await notifier.onUserJoined(tooLate);
    expect(tooLate.frames).toEqual([]);
  });

  it('deleteNotification removes it for later joiners and keeps the id used', async () => {
    setup([new TestUser('a')]);
    await notifier.notify(note('n1'));
    expect(notifier.activeCount).toBe(1);
    await notifier.deleteNotification('n1');
    expect(notifier.activeCount).toBe(0);
    const late = new TestUser('late');
    await notifier.onUserJoined(late);
    expect(late.frames).toEqual([]);
    expect(await notifier.notify(note('n1'))).toBe(false);
  });
});

describe('notificationService', () => {
  it('calls the loader every interval, and notifies what it returns', async () => {
    setup([new TestUser('a')]);
    let calls = 0;
    const stop = notifier.notificationService(
      'daily',
      () => {
        calls++;
        return calls === 2 ? null : { ...note(`d${calls}`), name: '' };
      },
      20,
    );
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(3));
    stop();
    const seen = users[0]!.notifications();
    expect(seen.map((n) => n.id).slice(0, 2)).toEqual(['d1', 'd3']);
    expect(seen[0]!.name).toBe('daily');
    const after = calls;
    await sleep(60);
    expect(calls).toBe(after);
  });

  it('calls the loader first one interval after the call, or at once with immediate', async () => {
    setup([new TestUser('a')]);
    const seedCalls: number[] = [];
    const immediateCalls: number[] = [];
    const started = performance.now();
    const loader = (calls: number[]) => () => {
      calls.push(performance.now() - started);
      return null;
    };
    const stopSeed = notifier.notificationService('seed', loader(seedCalls), 300);
    const stopNow = notifier.notificationService('now', loader(immediateCalls), 300, {
      immediate: true,
    });
    await sleep(150);
    expect(seedCalls).toEqual([]);
    expect(immediateCalls).toHaveLength(1);
    await vi.waitFor(() => expect(seedCalls).toHaveLength(1), { timeout: 2_000 });
    expect(seedCalls[0]).toBeGreaterThanOrEqual(290);
    stopSeed();
    stopNow();
  });

  it('never overlaps a slow loader and survives a throwing one', async () => {
    const errors: string[] = [];
    setup([new TestUser('a')], { logger: { error: (m) => errors.push(m) } });
    let running = 0;
    let maxRunning = 0;
    let slowCalls = 0;
    notifier.notificationService(
      'slow',
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        slowCalls++;
        await sleep(30);
        running--;
        return null;
      },
      5,
    );
    let failing = 0;
    notifier.notificationService(
      'failing',
      () => {
        failing++;
        if (failing === 1) throw new Error('database down');
        return note(`f${failing}`);
      },
      10,
    );
    await vi.waitFor(() => expect(slowCalls).toBeGreaterThanOrEqual(3), { timeout: 2_000 });
    await vi.waitFor(() => expect(users[0]!.notifications().length).toBeGreaterThanOrEqual(1));
    expect(maxRunning).toBe(1);
    expect(errors).toContain('notification service failed');
    expect(() => notifier.notificationService('slow', () => null, 10)).toThrow(/is running/);
    expect(() => notifier.notificationService('x', () => null, 0)).toThrow(/intervalMs/);
  });

  it('close() stops the services and rejects later calls', async () => {
    setup([new TestUser('a')]);
    let calls = 0;
    notifier.notificationService(
      's',
      () => {
        calls++;
        return null;
      },
      10,
    );
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(1));
    notifier.close();
    const after = calls;
    await sleep(40);
    expect(calls).toBe(after);
    await expect(notifier.notify(note('z'))).rejects.toMatchObject({
      code: NotifierErrorCode.Closed,
    });
  });
});

describe('scale and memory', () => {
  it('10k users all receive one notification', async () => {
    setup(Array.from({ length: 10_000 }, (_, i) => new TestUser(`u${i}`)));
    await notifier.notify(note('big'));
    expect(users.every((u) => u.frames.length === 1)).toBe(true);
  });

  it('keeps no reference to users or filter results after delivery', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'run with --expose-gc').toBeTypeOf('function');
    setup([]);
    notifier.setOnNotification('news', (user) => user.level > 0);
    const refs: WeakRef<TestUser>[] = [];
    (() => {
      const batch = Array.from({ length: 1000 }, (_, i) => new TestUser(`g${i}`));
      for (const user of batch) refs.push(new WeakRef(user));
      users = batch;
    })();
    await notifier.notify(note('n1'));
    await notifier.onUserJoined(users[0]!);
    users = [];
    await sleep(0);
    gc!();
    await sleep(0);
    gc!();
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });
});

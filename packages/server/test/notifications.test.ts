import type { ClientNotification, TidewireClient } from '@tidewire/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Notification, TidewireServer } from '../src/index.ts';
import { client, delay, testServer, waitFor } from './helpers.ts';

let server: TidewireServer;
const clients: TidewireClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

function collect(c: TidewireClient): ClientNotification[] {
  const list: ClientNotification[] = [];
  c.on('notification', (n) => list.push(n));
  return list;
}

async function join(uid: string): Promise<{ c: TidewireClient; got: ClientNotification[] }> {
  const c = await client(server, uid);
  clients.push(c);
  return { c, got: collect(c) };
}

const news = (id: string, ttlMs = 60_000): Notification => ({
  id,
  name: 'news',
  ver: 0,
  cmd: 400,
  message: Buffer.from(`hello ${id}`),
  ttlMs,
});

describe('notifications over TCP', () => {
  it('reach every connected user as the client notification event, filtered by name', async () => {
    server = await testServer({}, (s) => {
      s.enableNotifications();
      s.setOnNotification('vip', (user) => user.data.vip === true);
    });
    const ann = await join('ann');
    const bob = await join('bob');
    server.getUser('bob')!.data.vip = true;
    expect(await server.notify(news('n1'))).toBe(true);
    expect(await server.notify({ ...news('v1'), name: 'vip' })).toBe(true);
    await waitFor(() => ann.got.length === 1 && bob.got.length === 2, 2_000, 'notifications');
    expect(ann.got).toEqual([{ id: 'n1', name: 'news', message: Buffer.from('hello n1') }]);
    expect(bob.got.map((n) => n.id)).toEqual(['n1', 'v1']);
  });

  it('a user who connects before the TTL ends gets it after the hello, once; deleted ones are not delivered', async () => {
    server = await testServer({}, (s) => s.enableNotifications());
    await server.notify(news('keep', 60_000));
    await server.notify(news('gone', 60_000));
    await server.deleteNotification('gone');
    await server.notify(news('short', 50));
    await delay(80);
    const late = await join('late');
    await waitFor(() => late.got.length >= 1, 2_000, 'late delivery');
    await delay(50);
    expect(late.got.map((n) => n.id)).toEqual(['keep']);
    // The same user reconnecting does not get it again.
    await late.c.close();
    const again = await join('late');
    await delay(100);
    expect(again.got).toEqual([]);
  });

  it('notification services stop with the server; using notifications before enabling is an error', async () => {
    server = await testServer();
    expect(() => server.setOnNotification('x', () => true)).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_STATE' }),
    );
    server.enableNotifications();
    let calls = 0;
    server.notificationService(
      'tick',
      () => {
        calls++;
        return news(`t${calls}`);
      },
      20,
    );
    const user = await join('u');
    await waitFor(() => user.got.length >= 2, 2_000, 'service notifications');
    await server.close();
    const after = calls;
    await delay(60);
    expect(calls).toBe(after);
  });

  it('notificationService runs its loader one interval after the call (the seed), or at once with immediate', async () => {
    server = await testServer();
    server.enableNotifications();
    const user = await join('waiting');
    const started = performance.now();
    const runs: number[] = [];
    server.notificationService(
      'seed',
      () => {
        runs.push(performance.now() - started);
        return news(`s${runs.length}`);
      },
      400,
    );
    await delay(200);
    expect(runs).toEqual([]);
    expect(user.got).toEqual([]);
    await waitFor(() => user.got.length >= 1, 2_000, 'the first service notification');
    expect(runs[0]).toBeGreaterThanOrEqual(390);
    expect(user.got[0]?.id).toBe('s1');

    const immediate: number[] = [];
    const at = performance.now();
    server.notificationService(
      'now',
      () => {
        immediate.push(performance.now() - at);
        return null;
      },
      60_000,
      { immediate: true },
    );
    await waitFor(() => immediate.length === 1, 1_000, 'the immediate run');
    expect(immediate[0]).toBeLessThan(200);
  });
});

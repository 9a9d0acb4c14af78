import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ok, type TidewireServer } from '../src/index.ts';
import { client, testServer, waitFor } from './helpers.ts';

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

describe('1000 clients', () => {
  let server: TidewireServer;
  beforeAll(async () => {
    server = await testServer({}, (s) =>
      s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      }),
    );
  });
  afterAll(() => server.close());

  it('connect, exchange commands and disconnect with no leaked sockets or timers', async () => {
    const before = resourceCounts();
    for (let batch = 0; batch < 10; batch++) {
      const clients = await Promise.all(
        Array.from({ length: 100 }, (_, i) => client(server, `user-${batch}-${i}`)),
      );
      const answers = await Promise.all(
        clients.map((c, i) =>
          c.request(2, 1, Buffer.from(`m${i}`)).then((r) => r.payload.toString()),
        ),
      );
      expect(answers).toEqual(clients.map((_, i) => `m${i}`));
      await Promise.all(clients.map((c) => c.close()));
    }
    await waitFor(() => server.ccu === 0, 5000, 'all users gone');
    await waitFor(
      () => {
        const after = resourceCounts();
        return (
          (after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0) &&
          (after.Timeout ?? 0) <= (before.Timeout ?? 0) + 2
        );
      },
      5000,
      'sockets and timers released',
    );
    const after = resourceCounts();
    expect(after.TCPSocketWrap ?? 0).toBeLessThanOrEqual(before.TCPSocketWrap ?? 0);
  }, 60_000);
});

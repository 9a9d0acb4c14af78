import { describe, expect, it } from 'vitest';
import { dialTcp, listenTcp, type TcpConnection } from '../src/index.ts';
import { waitFor } from './helpers.ts';

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'] as const;

function countResources(): Record<(typeof WATCHED)[number], number> {
  const counts = { TCPSocketWrap: 0, TCPServerWrap: 0, Timeout: 0 };
  for (const name of process.getActiveResourcesInfo()) {
    if (name in counts) counts[name as keyof typeof counts]++;
  }
  return counts;
}

describe('resource leaks', () => {
  it('1000 connections opened and closed leave no socket, server or timer behind', async () => {
    const before = countResources();
    const listener = await listenTcp({ idleTimeoutMs: 5000 }, (connection) => {
      connection.onFrame = (frame) => connection.sendFrame(frame.ver, frame.cmd, 1, frame.payload);
    });
    let echoes = 0;
    for (let batch = 0; batch < 10; batch++) {
      const clients: TcpConnection[] = await Promise.all(
        Array.from({ length: 100 }, () =>
          dialTcp({ host: '127.0.0.1', port: listener.port, idleTimeoutMs: 5000 }),
        ),
      );
      await waitFor(() => listener.connections.size === 100);
      // The count sees our sockets (both ends) and idle timers while they are open.
      const open = countResources();
      expect(open.TCPSocketWrap).toBeGreaterThanOrEqual(before.TCPSocketWrap + 200);
      expect(open.Timeout).toBeGreaterThan(before.Timeout);
      for (const client of clients) {
        client.onFrame = () => echoes++;
        client.sendFrame(2, 1, 0);
      }
      await waitFor(() => echoes === (batch + 1) * 100, 10_000);
      // Half close from the client, half are closed by the server.
      const closing = clients.map((client, i) => {
        if (i % 2 === 0) return client.close();
        return client.whenClosed();
      });
      let i = 0;
      for (const connection of listener.connections) {
        if (i++ % 2 === 1) void connection.close();
      }
      await Promise.all(closing);
      await waitFor(() => listener.connections.size === 0);
    }
    expect(echoes).toBe(1000);
    await listener.close();
    // Sockets are released by libuv on the next loop turns.
    await waitFor(() => {
      const now = countResources();
      return WATCHED.every((name) => now[name] <= before[name]);
    }, 3000).catch(() => {});
    const after = countResources();
    for (const name of WATCHED) expect(after[name], name).toBeLessThanOrEqual(before[name]);
  }, 20_000);
});

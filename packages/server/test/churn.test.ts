import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TidewireServer } from '../src/index.ts';
import { runChurn } from './churn/harness.ts';
import { startEchoServer } from './echo-server.ts';

describe('churn', () => {
  let server: TidewireServer;
  beforeAll(async () => {
    server = await startEchoServer();
  });
  afterAll(() => server.close());

  it('1000 TCP, 1000 UDP and 1000 WS connect/command/disconnect cycles leave no users, sockets or timers', async () => {
    // Small here; `pnpm churn` runs 100k per transport.
    const report = await runChurn(server, 1_000);
    expect(report.cycles).toEqual({ tcp: 1_000, udp: 1_000, ws: 1_000 });
    expect(report.ccuAfter).toBe(0);
    for (const kind of ['TCPSocketWrap', 'UDPWrap']) {
      expect(report.resourcesAfter[kind] ?? 0, kind).toBeLessThanOrEqual(
        report.resourcesBefore[kind] ?? 0,
      );
    }
    expect(report.resourcesAfter.Timeout ?? 0).toBeLessThanOrEqual(
      (report.resourcesBefore.Timeout ?? 0) + 2,
    );
  }, 120_000);
});

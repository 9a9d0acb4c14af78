import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TidewireServer } from '../src/index.ts';
import { runSoak, startSoakServer } from './soak/harness.ts';

describe('resume soak (small)', () => {
  let server: TidewireServer;
  let ranTwice: () => number;
  beforeAll(async () => {
    ({ server, ranTwice } = await startSoakServer());
  });
  afterAll(() => server.close());

  it('24 cuts of 0.1-4 s over 6 users (TCP, UDP and WS): nothing lost, doubled or reordered', async () => {
    // Small here; `pnpm soak:resume` makes 1,000 cuts of 0.1-10 s over 50 users.
    const report = await runSoak(server, ranTwice, {
      cuts: 24,
      users: 6,
      minOutageMs: 100,
      maxOutageMs: 4000,
      maxDurationMs: 60_000,
      seed: 7,
    });
    expect(report.cuts).toBe(24);
    expect(report.usersByTransport).toEqual({ tcp: 2, udp: 2, ws: 2 });
    // WebSocket paths were cut too (reset, FIN or blackhole).
    const wsCuts = Object.entries(report.cutsByKind).filter(([kind]) => kind.startsWith('ws '));
    expect(wsCuts.reduce((sum, [, n]) => sum + n, 0)).toBeGreaterThan(0);
    expect(report.requests.sent).toBeGreaterThan(200);
    expect(report.requests).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(report.pushes).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(report.pushes.received).toBeGreaterThan(200);
    expect(report.serverRanTwice).toBe(0);
    expect(report.gaveUp).toBe(0);
    expect(report.freshReasons).toEqual({});
    expect(report.reconnectedFresh).toBe(0);
  }, 120_000);
});

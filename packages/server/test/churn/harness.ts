/**
 * Churn: connect, exchange a command and disconnect, over and over, over TCP,
 * UDP and WS (each the server serves), then check that nothing stayed
 * behind: users, sockets, timers and heap. The test suite runs it small;
 * `pnpm churn` runs 100k cycles per transport (CHURN_CYCLES).
 */
import { connect, type TidewireClient } from '@tidewire/client';
import type { TidewireServer } from '../../src/index.ts';

type ChurnTransport = 'tcp' | 'udp' | 'ws';

export interface ChurnReport {
  cycles: Partial<Record<ChurnTransport, number>>;
  elapsedMs: number;
  /** Time of each transport's cycles. */
  elapsedMsByTransport: Partial<Record<ChurnTransport, number>>;
  /** Active resources (process.getActiveResourcesInfo) before and after, by kind. */
  resourcesBefore: Record<string, number>;
  resourcesAfter: Record<string, number>;
  heapBeforeMB: number;
  heapAfterMB: number;
  ccuAfter: number;
}

export function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

export async function runChurn(
  server: TidewireServer,
  cyclesPerTransport: number,
  concurrency = 50,
): Promise<ChurnReport> {
  const endpointUrl = `http://127.0.0.1:${server.httpPort}`;
  gc();
  const resourcesBefore = resourceCounts();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const served: Record<ChurnTransport, boolean> = {
    tcp: server.isTCP(),
    udp: server.isUDP(),
    ws: server.isWS(),
  };
  const transports = (['tcp', 'udp', 'ws'] as const).filter((t) => served[t]);
  const cycles: Partial<Record<ChurnTransport, number>> = {};
  const elapsedMsByTransport: Partial<Record<ChurnTransport, number>> = {};
  for (const transport of transports) {
    cycles[transport] = 0;
    const transportStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < cyclesPerTransport) {
          const n = next++;
          const c: TidewireClient = await connect({
            endpointUrl,
            uid: `churn-${transport}-${n}`,
            transport,
            keepAliveIntervalMs: 0,
          });
          const answer = await c.request(2, 1, Buffer.from(`c${n}`));
          if (answer.payload.toString() !== `c${n}`) throw new Error(`wrong answer in cycle ${n}`);
          await c.close();
          cycles[transport] = (cycles[transport] ?? 0) + 1;
        }
      }),
    );
    elapsedMsByTransport[transport] = Math.round(performance.now() - transportStarted);
  }
  const deadline = Date.now() + 10_000;
  while (server.ccu > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // Closing sockets and grace timers settle within a second; the HTTP
  // keep-alive connections of the session requests (fetch's pool, the
  // endpoint's 5 s keep-alive) within about 5 s.
  await new Promise((r) => setTimeout(r, 6_000));
  gc();
  return {
    cycles,
    elapsedMs: Math.round(performance.now() - started),
    elapsedMsByTransport,
    resourcesBefore,
    resourcesAfter: resourceCounts(),
    heapBeforeMB: heapBefore / 2 ** 20,
    heapAfterMB: process.memoryUsage().heapUsed / 2 ** 20,
    ccuAfter: server.ccu,
  };
}

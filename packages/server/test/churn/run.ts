/**
 * `pnpm churn`: CHURN_CYCLES (default 100,000) connect/command/disconnect
 * cycles over TCP, then UDP, then WS; exits 1 when users, sockets or timers
 * stayed behind. Run with --expose-gc for the heap figures.
 */
import { startEchoServer } from '../echo-server.ts';
import { runChurn } from './harness.ts';

const cycles = Number(process.env.CHURN_CYCLES ?? 100_000);
const server = await startEchoServer({});
const report = await runChurn(server, cycles);
await server.close();
console.log(JSON.stringify(report, null, 2));
const leaked = (kind: string): boolean =>
  (report.resourcesAfter[kind] ?? 0) >
  (report.resourcesBefore[kind] ?? 0) + (kind === 'Timeout' ? 2 : 0);
const ok = report.ccuAfter === 0 && !['TCPSocketWrap', 'UDPWrap', 'Timeout'].some(leaked);
process.exit(ok ? 0 : 1);

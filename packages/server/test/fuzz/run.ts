/**
 * `pnpm fuzz`: the fuzz harness at full size against a server with TCP, UDP
 * (encryption on) and WS. FUZZ_FRAMES, FUZZ_DATAGRAMS and FUZZ_MESSAGES
 * (default 1,000,000 each), FUZZ_SEED. Exits 1 if a well-behaved client
 * missed an answer or got a wrong one.
 */
import { startEchoServer } from '../echo-server.ts';
import { runFuzz } from './harness.ts';

const frames = Number(process.env.FUZZ_FRAMES ?? 1_000_000);
const datagrams = Number(process.env.FUZZ_DATAGRAMS ?? 1_000_000);
const messages = Number(process.env.FUZZ_MESSAGES ?? 1_000_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
const server = await startEchoServer({ udp: { enableEncryption: true } });
const rssBefore = process.memoryUsage().rss;
const report = await runFuzz({ server, frames, datagrams, messages, seed });
const rssAfter = process.memoryUsage().rss;
await server.close();
console.log(
  JSON.stringify(
    { seed, ...report, rssBeforeMB: rssBefore / 2 ** 20, rssAfterMB: rssAfter / 2 ** 20 },
    null,
    2,
  ),
);
const ok =
  report.wellBehaved.wrong === 0 &&
  report.wellBehaved.failed === 0 &&
  report.wellBehaved.answered === report.wellBehaved.sent;
process.exit(ok ? 0 : 1);

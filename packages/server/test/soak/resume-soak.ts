/**
 * `pnpm soak:resume`: SOAK_CUTS (default 1000) cuts of 0.1 to 10 s
 * (SOAK_MIN_MS, SOAK_MAX_MS) over SOAK_USERS (default 50) parallel users
 * taking the transports of SOAK_TRANSPORTS in turn (default "tcp,udp,ws":
 * TCP and WebSocket paths reset, FIN, blackhole; UDP paths dead,
 * blackhole), each with a 20 Hz request stream and 20 Hz server pushes,
 * bounded by SOAK_MAX_S (default 600) seconds. Prints the report; exits 1
 * when anything was lost, doubled, out of order or run twice.
 */
import { runSoak, SOAK_TRANSPORTS, type SoakTransport, startSoakServer } from './harness.ts';

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`${name} must be a number >= 0, got ${process.env[name]}`);
    process.exit(2);
  }
  return value;
};

const transports = (process.env.SOAK_TRANSPORTS ?? SOAK_TRANSPORTS.join(','))
  .split(',')
  .map((t) => t.trim())
  .filter((t) => t !== '');
const unknown = transports.filter((t) => !SOAK_TRANSPORTS.includes(t as SoakTransport));
if (transports.length === 0 || unknown.length > 0) {
  console.error(
    `SOAK_TRANSPORTS must list some of ${SOAK_TRANSPORTS.join(',')}, got ${process.env.SOAK_TRANSPORTS}`,
  );
  process.exit(2);
}

const { server, ranTwice } = await startSoakServer();
const report = await runSoak(server, ranTwice, {
  cuts: env('SOAK_CUTS', 1000),
  users: env('SOAK_USERS', 50),
  transports: transports as SoakTransport[],
  minOutageMs: env('SOAK_MIN_MS', 100),
  maxOutageMs: env('SOAK_MAX_MS', 10_000),
  maxDurationMs: env('SOAK_MAX_S', 600) * 1000,
  seed: env('SOAK_SEED', 1),
});
await server.close();
console.log(JSON.stringify(report, null, 2));
const ok =
  report.requests.lost === 0 &&
  report.requests.duplicated === 0 &&
  report.requests.outOfOrder === 0 &&
  report.pushes.lost === 0 &&
  report.pushes.duplicated === 0 &&
  report.pushes.outOfOrder === 0 &&
  report.serverRanTwice === 0 &&
  report.gaveUp === 0;
process.exit(ok ? 0 : 1);

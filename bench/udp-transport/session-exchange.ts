/**
 * bench/udp-transport/session-exchange.ts: what one request/answer exchange
 * costs two RUDP sessions (`RudpSession`), in one process, without sockets
 * or timers: the protocol's own work, A/B against another checkout's
 * session in the same run.
 *
 *   SESSION_AB_DIR=<checkout> node --conditions=@tidewire/source --import tsx bench/udp-transport/session-exchange.ts
 *
 * A client session sends a reliable 74 B frame, the server session receives
 * it and answers within the same receive (as a connection flushes answers
 * with the ACK), the client receives the answer and sends its ACK at once
 * (the clients' default), the server receives the ACK. The clock moves
 * 50 ms per exchange (20 Hz) and each session's `onTimer` runs whenever its
 * `nextDeadline()` has passed, as a connection's deadline does. Every
 * packet is copied out as a socket would send it. Nothing here depends on
 * the machine's timing but the measurement: the same exchanges run on both
 * versions, each in a process of its own, alternating, SESSION_ROUNDS (9)
 * rounds; in each, after a warm-up, the least of 5 batches of
 * SESSION_EXCHANGES (100,000), in the process's CPU time (not wall time: a
 * shared machine's preemption does not count). The figure is the least
 * over the rounds (what a version costs when the machine leaves it alone;
 * a busy machine only adds), with the medians beside it.
 *
 * SESSION_AB_DIR: a checkout whose `packages/transport-udp/src/session.ts`
 * is the baseline (its `@tidewire/wire` resolves from that checkout). Without
 * it, only this checkout's session runs (ns per exchange, no ratio).
 * Goal: at most 1.02x the baseline's time (a change to the session costs
 * nothing measurable).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encodeFrame, Status } from '@tidewire/wire';
import { printGoals } from '../shared/goal.ts';
import { median } from '../shared/stats.ts';

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(
      `bench/udp-transport/session-exchange: ${name} must be a positive integer, got ${process.env[name]}`,
    );
    process.exit(2);
  }
  return value;
}

const ROUNDS = positive('SESSION_ROUNDS', 9);
const EXCHANGES = positive('SESSION_EXCHANGES', 100_000);
const WARMUP = 50_000;
const BATCHES = 5;
const STEP_MS = 50;
const REQUEST = encodeFrame(2, 1, Status.Request, new Uint8Array(64).fill(7));
const ANSWER = encodeFrame(2, 1, Status.Ok, new Uint8Array(64).fill(7));

/** What this bench uses of a session module; the same in every version since the split. */
interface SessionLike {
  sendReliable(message: Uint8Array, now: number): boolean;
  receive(pn: number, body: Buffer, now: number, start?: number): boolean;
  flush(now: number): void;
  onTimer(now: number): void;
  nextDeadline(): number;
  readonly hasOutput: boolean;
  readonly stats: { messagesReceived: number };
}
interface SessionModule {
  RudpSession: new (options: unknown, handler: unknown, owner: unknown, now: number) => SessionLike;
  resolveSessionOptions(overrides: object): unknown;
  PACKET_HEADER_ROOM: number;
}

/** One side: its session, and the packets it sent that the other side has yet to read. */
interface Side {
  session: SessionLike;
  outbox: { pn: number; body: Buffer }[];
  answer: boolean;
}

function pair(module: SessionModule): { client: Side; server: Side } {
  const room = module.PACKET_HEADER_ROOM;
  const handler = {
    transmit(side: Side, pn: number, packet: Buffer, length: number): boolean {
      side.outbox.push({ pn, body: Buffer.from(packet.subarray(room, room + length)) });
      return false;
    },
    message(side: Side): void {
      if (side.answer) side.session.sendReliable(ANSWER, now);
    },
    closed(_side: Side, code: string, reason: string): void {
      throw new Error(`bench/udp-transport/session-exchange: a session closed: ${code} ${reason}`);
    },
    drain(): void {},
  };
  const options = module.resolveSessionOptions({});
  const client: Side = { session: null as unknown as SessionLike, outbox: [], answer: false };
  const server: Side = { session: null as unknown as SessionLike, outbox: [], answer: true };
  client.session = new module.RudpSession(options, handler, client, now);
  server.session = new module.RudpSession(options, handler, server, now);
  return { client, server };
}

let now = 0;

/** `to` reads what `from` sent, then flushes (its answers and ACK), as a connection does after a datagram. */
function deliver(from: Side, to: Side): void {
  const packets = from.outbox;
  from.outbox = [];
  for (const { pn, body } of packets) {
    to.session.receive(pn, body, now, 0);
    if (to.session.hasOutput) to.session.flush(now);
    to.session.nextDeadline();
  }
}

function timers(side: Side): void {
  if (side.session.nextDeadline() <= now) side.session.onTimer(now);
}

function exchanges(sides: { client: Side; server: Side }, count: number): void {
  const { client, server } = sides;
  for (let i = 0; i < count; i++) {
    now += STEP_MS;
    timers(client);
    timers(server);
    client.session.sendReliable(REQUEST, now);
    client.session.flush(now);
    deliver(client, server); // request in, answer out
    deliver(server, client); // answer in, ACK out
    deliver(client, server); // ACK in
  }
}

/**
 * ns of CPU per exchange on a fresh warm pair: the least of BATCHES runs of
 * EXCHANGES (the run least disturbed by the rest of the machine); checks
 * that every answer arrived.
 */
function measure(module: SessionModule): number {
  const sides = pair(module);
  exchanges(sides, WARMUP);
  let least = Number.POSITIVE_INFINITY;
  for (let batch = 0; batch < BATCHES; batch++) {
    const started = process.cpuUsage();
    exchanges(sides, EXCHANGES);
    const used = process.cpuUsage(started);
    least = Math.min(least, ((used.user + used.system) * 1000) / EXCHANGES);
  }
  const got = sides.client.session.stats.messagesReceived;
  const expected = WARMUP + BATCHES * EXCHANGES;
  if (got !== expected) {
    throw new Error(`bench/udp-transport/session-exchange: ${got} answers of ${expected}`);
  }
  return least;
}

const child = process.env.SESSION_CHILD;
if (child !== undefined) {
  // one version per process: a driver shared by two versions' classes would
  // be compiled for both and slow the one measured second
  const module = (await import(pathToFileURL(child).href)) as SessionModule;
  process.stdout.write(`${measure(module)}\n`);
  process.exit(0);
}

/** ns of CPU per exchange of the session at `path`, measured in a process of its own. */
function measureIn(path: string, exchanges = EXCHANGES): number {
  const run = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, SESSION_CHILD: path, SESSION_EXCHANGES: String(exchanges) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ns = Number(run.stdout.trim());
  if (run.status !== 0 || !Number.isFinite(ns)) {
    throw new Error(`bench/udp-transport/session-exchange: ${path} failed (${run.status})`);
  }
  return ns;
}

const ours = fileURLToPath(new URL('../../packages/transport-udp/src/session.ts', import.meta.url));
const abDir = process.env.SESSION_AB_DIR;
const base = abDir === undefined ? undefined : join(abDir, 'packages/transport-udp/src/session.ts');
if (base !== undefined && !existsSync(base)) {
  console.error(`bench/udp-transport/session-exchange: SESSION_AB_DIR has no ${base}`);
  process.exit(2);
}

// a first run of each version outside the measurement: the TypeScript
// loader's cache then holds both, so no measured run pays for a transform
for (const path of base === undefined ? [ours] : [ours, base]) measureIn(path, 1);

const oursNs: number[] = [];
const baseNs: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // alternate which runs first
  const order: [string, number[]][] = [[ours, oursNs]];
  if (base !== undefined) order.push([base, baseNs]);
  if (round % 2 === 1) order.reverse();
  for (const [path, into] of order) into.push(measureIn(path));
  const line = [`round ${round + 1}: this ${oursNs.at(-1)!.toFixed(0)} ns`];
  if (base !== undefined) line.push(`baseline ${baseNs.at(-1)!.toFixed(0)} ns`);
  console.log(line.join(', '));
}
const least = (values: number[]): number => Math.min(...values);
console.log(
  `this checkout: ${least(oursNs).toFixed(0)} ns per exchange (least of ${ROUNDS} rounds; median ${median(oursNs).toFixed(0)})`,
);
if (base !== undefined) {
  console.log(
    `baseline (${abDir}): ${least(baseNs).toFixed(0)} ns per exchange (median ${median(baseNs).toFixed(0)})`,
  );
  const ratio = least(oursNs) / least(baseNs);
  console.log(
    `ratio this / baseline: ${ratio.toFixed(3)}x (least of each); medians ${(median(oursNs) / median(baseNs)).toFixed(3)}x`,
  );
  printGoals('udp-transport/session-exchange', [
    { what: 'session exchange / baseline (CPU time)', value: ratio, bound: '<=', target: 1.02 },
  ]);
} else {
  console.log(
    'bench/udp-transport/session-exchange: no baseline; SESSION_AB_DIR=<checkout> gives the ratio and its goal (<= 1.02x)',
  );
}

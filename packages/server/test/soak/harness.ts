/**
 * The resume soak: many users, each behind its own cutting proxy, run a
 * 20 Hz request stream while the server pushes to each at 20 Hz; the
 * users take the transports in turn (TCP, UDP, WebSocket: a TCP proxy
 * under the WS connection); the harness cuts their paths (reset, FIN,
 * UDP dead path, blackhole) for 0.1
 * to 10 s at random moments until it made `cuts` cuts, then counts what
 * was lost, doubled or out of order. A user whose seat could not be
 * resumed (`reconnected-fresh`) is counted apart: its failed requests are
 * reported, not silently lost.
 */
import { connect, type TidewireClient } from '@tidewire/client';
import { pack, unpack } from '@tidewire/wire';
import { createServer, Ok, type TidewireServer, type User } from '../../src/index.ts';
import type { CutProxy } from '../cut-proxy.ts';
import { type ProxiedTransport, proxyFor, viaProxy } from '../proxied-session.ts';

export type SoakTransport = ProxiedTransport;

export const SOAK_TRANSPORTS: readonly SoakTransport[] = ['tcp', 'udp', 'ws'];

export interface SoakOptions {
  cuts: number;
  users: number;
  /** The transports the users take in turn. Default all of SOAK_TRANSPORTS. */
  transports?: readonly SoakTransport[];
  /** Shortest and longest outage, ms. */
  minOutageMs: number;
  maxOutageMs: number;
  /** Stop cutting after this long, ms, whatever the count. */
  maxDurationMs: number;
  /** Deterministic choices (kinds, moments, lengths). */
  seed?: number;
}

export interface SoakReport {
  cuts: number;
  cutsByKind: Record<string, number>;
  users: number;
  /** Users per transport. */
  usersByTransport: Record<string, number>;
  durationMs: number;
  requests: {
    sent: number;
    answered: number;
    lost: number;
    duplicated: number;
    outOfOrder: number;
    failedOnFresh: number;
  };
  pushes: { received: number; lost: number; duplicated: number; outOfOrder: number };
  serverRanTwice: number;
  resumed: number;
  reconnectedFresh: number;
  /** Why each fresh session was needed, by reason. */
  freshReasons: Record<string, number>;
  gaveUp: number;
}

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface SoakUser {
  uid: string;
  transport: SoakTransport;
  proxy: CutProxy;
  client: TidewireClient;
  seq: number;
  /** Answers seen per sequence number. */
  answers: Map<number, number>;
  lastAnswer: number;
  outOfOrder: number;
  failed: number;
  pending: Set<Promise<void>>;
  /** Pushes of the current seat (restart at 1 after a fresh session). */
  lastPush: number;
  pushes: number;
  pushLost: number;
  pushDup: number;
  pushOrder: number;
  resumed: number;
  fresh: number;
  freshReasons: string[];
  gaveUp: number;
}

export async function startSoakServer(): Promise<{
  server: TidewireServer;
  ranTwice: () => number;
}> {
  const server = createServer({
    config: {
      http: { port: 0 },
      tcp: { port: 0, connectionTTL: 3 },
      udp: { port: 0, connectionTTL: 3 },
      ws: { connectionTTL: 3 },
      resume: { ttlMs: 20_000 },
    },
    env: {},
  });
  await server.setupAsTCPServer();
  await server.setupAsUDPServer();
  await server.setupAsWSServer();
  const runs = new Map<string, number>();
  let twice = 0;
  const pushers = new Map<User, NodeJS.Timeout>();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    const key = `${user.sid} ${unpack<number>(payload)}`;
    const count = (runs.get(key) ?? 0) + 1;
    runs.set(key, count);
    if (count > 1) twice++;
    user.send(ver, cmd, payload, Ok);
    next();
  });
  server.handleCommand(2, 2, (ver, cmd, _payload, user, next) => {
    let n = 0;
    clearInterval(pushers.get(user));
    pushers.set(
      user,
      setInterval(() => user.push(2, 3, pack(++n)), 50),
    );
    user.send(ver, cmd, pack(0), Ok);
    next();
  });
  server.onLeave((_reason, user) => {
    clearInterval(pushers.get(user));
    pushers.delete(user);
  });
  server.onStop(() => {
    for (const timer of pushers.values()) clearInterval(timer);
  });
  await server.start();
  return { server, ranTwice: () => twice };
}

async function startUser(
  server: TidewireServer,
  index: number,
  transport: SoakTransport,
): Promise<SoakUser> {
  const proxy = await proxyFor(server, transport);
  const uid = `soak-${index}`;
  const client = await connect({
    endpointUrl: `http://127.0.0.1:${server.httpPort}`,
    uid,
    transport,
    keepAliveIntervalMs: 1000,
    requestTimeoutMs: 120_000,
    connectTimeoutMs: 2000,
    fetch: viaProxy(proxy),
    reconnect: { attempts: 1000, backoff: { initialMs: 50, maxMs: 1000 } },
  });
  const user: SoakUser = {
    uid,
    transport,
    proxy,
    client,
    seq: 0,
    answers: new Map(),
    lastAnswer: 0,
    outOfOrder: 0,
    failed: 0,
    pending: new Set(),
    lastPush: 0,
    pushes: 0,
    pushLost: 0,
    pushDup: 0,
    pushOrder: 0,
    resumed: 0,
    fresh: 0,
    freshReasons: [],
    gaveUp: 0,
  };
  client.on('push', (message) => {
    if (message.cmd !== 3) return;
    const n = unpack<number>(message.payload);
    user.pushes++;
    if (n === user.lastPush + 1) user.lastPush = n;
    else if (n <= user.lastPush) user.pushDup++;
    else {
      user.pushLost += n - user.lastPush - 1;
      user.pushOrder++;
      user.lastPush = n;
    }
  });
  client.on('resumed', () => user.resumed++);
  client.on('gave-up', () => user.gaveUp++);
  const errors: string[] = [];
  client.on('reconnecting', ({ error }) => {
    if (error !== undefined) errors.push(error);
  });
  client.on('resumed', () => {
    errors.length = 0;
  });
  client.on('reconnected-fresh', ({ reason }) => {
    user.fresh++;
    user.freshReasons.push(
      `${reason} after ${[...new Set(errors)].join(',') || 'no failed attempt'}`,
    );
    errors.length = 0;
    // A new seat: its pushes count from 1 again, once it asks for them.
    user.lastPush = 0;
    void client.request(2, 2).catch(() => {});
  });
  await client.request(2, 2);
  return user;
}

function tick(user: SoakUser): void {
  const seq = ++user.seq;
  const done = user.client
    .request(2, 1, pack(seq))
    .then((response) => {
      const got = unpack<number>(response.payload);
      user.answers.set(got, (user.answers.get(got) ?? 0) + 1);
      if (got < user.lastAnswer) user.outOfOrder++;
      user.lastAnswer = Math.max(user.lastAnswer, got);
    })
    .catch(() => {
      user.failed++;
    })
    .finally(() => user.pending.delete(done));
  user.pending.add(done);
}

/** What can happen to a path: TCP flows (WebSocket's too) end or stall; UDP flows die or stall. */
const KINDS: Record<SoakTransport, readonly string[]> = {
  tcp: ['reset', 'close', 'blackhole'],
  ws: ['reset', 'close', 'blackhole'],
  udp: ['dead', 'blackhole'],
};

/** One outage on one user's path: cut (new flows wait out the outage) or a stall. */
async function outage(user: SoakUser, kind: string, ms: number): Promise<void> {
  const proxy = user.proxy;
  proxy.blackhole(); // new flows during the outage wait too
  if (kind === 'reset') proxy.cut('reset');
  else if (kind === 'close') proxy.cut('close');
  else if (kind === 'dead') proxy.cut();
  await sleep(ms);
  proxy.restore();
}

export async function runSoak(
  server: TidewireServer,
  ranTwice: () => number,
  options: SoakOptions,
): Promise<SoakReport> {
  const random = prng(options.seed ?? 1);
  const started = Date.now();
  const transports = options.transports ?? SOAK_TRANSPORTS;
  if (transports.length === 0) throw new Error('soak: no transport');
  const users: SoakUser[] = [];
  for (let i = 0; i < options.users; i++) {
    users.push(await startUser(server, i, transports[i % transports.length]!));
  }
  const stream = setInterval(() => {
    for (const user of users) if (!user.client.closed) tick(user);
  }, 50);
  const cutsByKind: Record<string, number> = {};
  let cuts = 0;
  const deadline = started + options.maxDurationMs;
  // Each user loops: up for a while, then an outage, until the cuts are made.
  await Promise.all(
    users.map(async (user) => {
      while (cuts < options.cuts && Date.now() < deadline) {
        await sleep(200 + random() * 1500);
        if (cuts >= options.cuts) break;
        const kinds = KINDS[user.transport];
        const kind = kinds[Math.floor(random() * kinds.length)]!;
        const ms = options.minOutageMs + random() * (options.maxOutageMs - options.minOutageMs);
        cuts++;
        cutsByKind[`${user.transport} ${kind}`] =
          (cutsByKind[`${user.transport} ${kind}`] ?? 0) + 1;
        await outage(user, kind, ms);
        // Each cut on its own: the next comes once the user is back (a round
        // trip answered), so outages do not add up past the seat's ttl.
        await user.client.ping().catch(() => {});
      }
    }),
  );
  clearInterval(stream);
  // Let every user come back and every request be answered.
  const settle = Date.now() + 60_000;
  while (Date.now() < settle && users.some((u) => u.pending.size > 0 || u.client.reconnecting)) {
    await sleep(100);
  }
  await sleep(300); // the last pushes in flight
  const report: SoakReport = {
    cuts,
    cutsByKind,
    users: users.length,
    usersByTransport: {},
    durationMs: Date.now() - started,
    requests: { sent: 0, answered: 0, lost: 0, duplicated: 0, outOfOrder: 0, failedOnFresh: 0 },
    pushes: { received: 0, lost: 0, duplicated: 0, outOfOrder: 0 },
    serverRanTwice: ranTwice(),
    resumed: 0,
    reconnectedFresh: 0,
    freshReasons: {},
    gaveUp: 0,
  };
  for (const user of users) {
    report.usersByTransport[user.transport] = (report.usersByTransport[user.transport] ?? 0) + 1;
    report.requests.sent += user.seq;
    let answered = 0;
    for (const [, count] of user.answers) {
      answered++;
      if (count > 1) report.requests.duplicated += count - 1;
    }
    report.requests.answered += answered;
    report.requests.outOfOrder += user.outOfOrder;
    if (user.fresh > 0) report.requests.failedOnFresh += user.failed;
    else report.requests.lost += user.seq - answered;
    report.pushes.received += user.pushes;
    report.pushes.lost += user.pushLost;
    report.pushes.duplicated += user.pushDup;
    report.pushes.outOfOrder += user.pushOrder;
    report.resumed += user.resumed;
    report.reconnectedFresh += user.fresh;
    for (const reason of user.freshReasons) {
      report.freshReasons[reason] = (report.freshReasons[reason] ?? 0) + 1;
    }
    report.gaveUp += user.gaveUp;
  }
  for (const user of users) {
    await user.client.close();
    await user.proxy.close();
  }
  return report;
}

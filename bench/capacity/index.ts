/**
 * bench/capacity: how many idle sessions the server holds, and its RSS per
 * idle connection (VmRSS of the server process from /proc/<pid>/status, after
 * a full GC, before and after the connections). Four measurements, each
 * against fresh server children (server-child.ts):
 *
 * 1. TCP: tidewire sessions against a bare node:net server holding the same
 *    number of idle sockets (the baseline).
 * 2. UDP: tidewire reliable-UDP sessions. No bare baseline: a bare node:dgram
 *    server keeps no per-peer state.
 * 3. TCP and UDP together: ONE tidewire server holds both at once; RSS
 *    before, with the TCP sessions, and with the UDP ones too. The server
 *    needs one fd per TCP session but none per UDP session (one socket serves
 *    them all), so both fit under its fd limit. The client side does not fit
 *    in one process (one fd per TCP socket and per dialed UDP session), so
 *    this process holds the TCP sessions and clients.ts processes, each below
 *    the fd limit, hold the UDP ones.
 * 4. The machine ("20k + 20k" on this 2-core machine, issue #10): TWO
 *    tidewire servers, one per core, each with its own ports (as the nodes of
 *    a cluster are deployed), together hold CAPACITY_TCP TCP and CAPACITY_UDP
 *    UDP idle sessions at once, split evenly between them: each server's TCP
 *    share fits under its own fd limit. The client side of every session is
 *    held by clients.ts processes (TCP and UDP, each below the fd limit); this
 *    process only warms the servers up. Per server and in total: sessions
 *    held, RSS before (after the warm-up of both paths) and with both, the
 *    growth per session, open fds, and the goal, met only if both kinds
 *    reached 20,000 at once at <= 6 KB each.
 *
 * 5. WebSocket ("20,000 idle WS connections held on this machine", issue
 *    #26): TWO tidewire servers serving WebSocket only (setupAsWSServer, the
 *    upgrade on the HTTP endpoint's port), one per core, together hold
 *    CAPACITY_WS idle WS sessions (the session request, the upgrade and the
 *    hello), split evenly; then TWO bare `ws` servers hold as many idle
 *    WebSockets (the baseline). The client side lives in clients.ts
 *    processes. Per server and in total: held, RSS before and after, the
 *    growth per connection; the ratio tidewire / bare ws.
 *
 * All five run by default, one after another (CAPACITY_ONLY=ws runs the
 * fifth alone): the whole bench took 2 min 19 s
 * on this 2-core machine (2026-12-03, while it was shared).
 *
 * Sessions are real ones: an HTTP session request, a TCP connect or the RUDP
 * handshake, the hello, then nothing; tcp-session.ts and udp-session.ts open
 * them, in this process and in clients.ts alike. When ephemeral ports run out,
 * TCP connections are bound to source addresses 127.0.0.2, 127.0.0.3...
 * (`localAddress`).
 *
 *   node scripts/bench.mjs capacity
 *   bash -c 'ulimit -n 65536 && CAPACITY_TCP=50000 node scripts/bench.mjs capacity'
 *
 * CAPACITY_TCP, CAPACITY_UDP, CAPACITY_WS: sessions asked for (20000 each;
 * the WS opening stops after CAPACITY_WS_DEADLINE_MS, 120 s). Node raises its
 * soft fd limit to the hard one at start; every process holding one fd per
 * session is capped 300 below that limit (room for HTTP sockets and the
 * runtime): with a hard limit of 20,000, TCP stops at 19,700 in measurements
 * 1 and 3 (one server), while UDP in 3 reaches 20,000 (split over client
 * processes) and measurement 4 asks each of its two servers for 10,000 TCP.
 * Goal (issue #10): 20,000 TCP + 20,000 UDP sessions at <= 6 KB each.
 * Goal (issue #26): 20,000 idle WS sessions held at once.
 *
 *   CAPACITY_ONLY=ws node scripts/bench.mjs capacity
 */

import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { UdpConnection } from '@tidewire/transport-udp';
import { type Goal, goalLine, printGoals } from '../shared/goal.ts';
import type { ClientsReport, ClientsRequest } from './clients.ts';
import { describeErrors, openMany } from './open-many.ts';
import { dial, type SourceAddress, tcpSessions } from './tcp-session.ts';
import { udpSessions } from './udp-session.ts';
import { bareWsSockets, wsSessions } from './ws-session.ts';

const REQUESTED = Number(process.env.CAPACITY_TCP ?? 20_000);
const REQUESTED_UDP = Number(process.env.CAPACITY_UDP ?? 20_000);
const REQUESTED_WS = Number(process.env.CAPACITY_WS ?? 20_000);
/** `ws`: only the WebSocket measurement (5); unset: all five. */
const ONLY = process.env.CAPACITY_ONLY;
if (ONLY !== undefined && ONLY !== 'ws') {
  console.error(`bench/capacity: CAPACITY_ONLY must be 'ws' or unset, got ${ONLY}`);
  process.exit(2);
}
const CONCURRENCY = Number(process.env.CAPACITY_CONCURRENCY ?? 128);
const GOAL_BYTES = 6 * 1024;
const GOAL_SESSIONS = 20_000;
const WARMUP = 500;
const DEADLINE_MS = Number(process.env.CAPACITY_DEADLINE_MS ?? 45_000);
const OPEN_OPTIONS = { concurrency: CONCURRENCY, deadlineMs: DEADLINE_MS };
/** WebSocket sessions open slower (HTTP session, upgrade, hello): 20,000 took 43 s on 2026-12-07. */
const WS_DEADLINE_MS = Number(process.env.CAPACITY_WS_DEADLINE_MS ?? 120_000);

/** Server processes of the machine measurement: one per core of this 2-core machine. */
const MACHINE_SERVERS = 2;

/** The server's HTTP keep-alive timeout (5 s, http-endpoint.ts) plus margin: idle session-request sockets are gone by then. */
const KEEP_ALIVE_WAIT_MS = 7000;

function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.split(/\s+/)[3]);
  return Number.isFinite(soft) ? soft : 1024;
}

/** RSS growth per session held (NaN when none was held). */
function growthPer(rssBefore: number, rssAfter: number, held: number): number {
  return held > 0 ? (rssAfter - rssBefore) / held : Number.NaN;
}

function vmRssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1]) * 1024;
}

interface Child {
  process: ChildProcess;
  httpPort: number;
  tcpPort: number;
  udpPort: number;
}

/** Time allowed a child to start, to answer a GC request and to exit when asked. */
const CHILD_ANSWER_MS = 30_000;

/** The child's next IPC message; rejects if it exits first or says nothing within `ms`. */
function nextMessage<T>(child: ChildProcess, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: unknown): void => {
      settle();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      settle();
      reject(new Error(`${what}: the child exited (${code ?? signal})`));
    };
    const timer = setTimeout(() => {
      settle();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks a child to exit and waits for it; kills it if it is still there after `CHILD_ANSWER_MS`. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.send('exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_ANSWER_MS);
  await exited;
  clearTimeout(timer);
}

type ServerKind = 'tidewire' | 'bare' | 'tidewire-ws' | 'bare-ws';

async function startChild(kind: ServerKind): Promise<Child> {
  const child = fork(fileURLToPath(new URL('./server-child.ts', import.meta.url)), [kind], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const message = await nextMessage<{ httpPort: number; tcpPort: number; udpPort?: number }>(
      child,
      CHILD_ANSWER_MS,
      `server child (${kind})`,
    );
    return {
      process: child,
      httpPort: message.httpPort,
      tcpPort: message.tcpPort,
      udpPort: message.udpPort ?? 0,
    };
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

async function stopChild(child: Child): Promise<void> {
  await stopProcess(child.process);
}

async function settledRss(child: Child): Promise<number> {
  const answered = nextMessage(child.process, CHILD_ANSWER_MS, 'full GC');
  child.process.send('gc');
  await answered;
  return vmRssBytes(child.process.pid!);
}

async function closeAll(sockets: Socket[]): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 200));
}

interface Measured {
  held: number;
  rssBefore: number;
  rssAfter: number;
  perConnection: number;
  seconds: number;
  errors: string;
}

async function measure(kind: 'tidewire' | 'bare', target: number): Promise<Measured> {
  const child = await startChild(kind);
  try {
    const opener = (offset: number): ((index: number) => Promise<Socket>) => {
      if (kind === 'tidewire') return tcpSessions(child, offset);
      const source: SourceAddress = { index: 0 };
      return () => dial(child.tcpPort, source);
    };
    // Warm-up: the code paths, pools and heap the first sessions bring in are
    // not per-connection costs. Open and close a few hundred, then measure.
    const warm = await openMany(Math.min(WARMUP, target), opener(target), OPEN_OPTIONS);
    await closeAll(warm.items);
    const rssBefore = await settledRss(child);
    const held = await openMany(target, opener(0), OPEN_OPTIONS);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stillOpen = held.items.filter((s) => !s.destroyed).length;
    const rssAfter = await settledRss(child);
    // The server side closes first, so this side's ports are not left in TIME_WAIT.
    await stopChild(child);
    await closeAll(held.items);
    return {
      held: stillOpen,
      rssBefore,
      rssAfter,
      perConnection: growthPer(rssBefore, rssAfter, stillOpen),
      seconds: held.seconds,
      errors: describeErrors(held.errors),
    };
  } finally {
    await stopChild(child);
  }
}

const limit = openFileLimit();
// Each side holds one fd per session; keep room for HTTP sockets and the runtime.
const target = Math.min(REQUESTED, limit - 300);
if (target < REQUESTED) {
  console.log(
    `capacity: the fd limit is ${limit}; target lowered from ${REQUESTED} to ${target} (run under 'ulimit -n 65536' to go further)`,
  );
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KB`;
const mb = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
if (ONLY === 'ws') {
  const met = printGoals('capacity', await reportWs());
  process.exit(met ? 0 : 1);
}
const ours = await measure('tidewire', target);
const bare = await measure('bare', target);
console.log(
  `capacity bench (node ${process.version}, target ${target} idle TCP sessions, fd limit ${limit}, ${CONCURRENCY} opening at once)`,
);
console.log('Server RSS per idle connection: (VmRSS after - before, both after a full GC) / held');
console.table([
  { server: 'tidewire (session + hello, idle)', ...row(ours) },
  { server: 'bare node:net (idle socket)', ...row(bare) },
]);
console.log(
  `ratio tidewire / bare per connection: ${(ours.perConnection / bare.perConnection).toFixed(2)}x`,
);
console.log(
  goalLine({ what: 'RSS per idle TCP session', ...perSessionGoal(ours.perConnection) }) +
    ` (sessions held ${ours.held}/${GOAL_SESSIONS}` +
    (target < REQUESTED ? `, target capped by the fd limit ${limit})` : ')'),
);

// --- UDP: idle reliable-UDP sessions (session + handshake + hello) ----------

/**
 * Holds `target` idle UDP sessions against the tidewire child and reports its
 * RSS growth per session. No bare baseline: a bare node:dgram server keeps no
 * per-peer state, so the figure stands against the 6 KB goal alone.
 */
async function measureUdp(target: number): Promise<Measured> {
  const child = await startChild('tidewire');
  const held: UdpConnection[] = [];
  try {
    const warm = await openMany(Math.min(WARMUP, target), udpSessions(child, target), OPEN_OPTIONS);
    await Promise.all(warm.items.map((c) => c.close()));
    const rssBefore = await settledRss(child);
    const opened = await openMany(target, udpSessions(child, 0), OPEN_OPTIONS);
    held.push(...opened.items);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const stillOpen = held.filter((c) => !c.closed).length;
    const rssAfter = await settledRss(child);
    return {
      held: stillOpen,
      rssBefore,
      rssAfter,
      perConnection: growthPer(rssBefore, rssAfter, stillOpen),
      seconds: opened.seconds,
      errors: describeErrors(opened.errors),
    };
  } finally {
    await stopChild(child);
    for (const c of held) c.destroy();
  }
}

const udpTarget = Math.min(REQUESTED_UDP, limit - 300);
const udp = await measureUdp(udpTarget);
console.log(`\nUDP: target ${udpTarget} idle reliable-UDP sessions (one client socket each)`);
console.table([{ server: 'tidewire (UDP session + hello, idle)', ...row(udp) }]);
console.log(
  goalLine({ what: 'RSS per idle UDP session', ...perSessionGoal(udp.perConnection) }) +
    ` (held ${udp.held}/${GOAL_SESSIONS})`,
);

// --- TCP and UDP together: one server holds both at once --------------------

/** Per `/proc`: the open fds of process `pid`. */
function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Waits until the server holds at most `fds` open fds: the sockets of the
 * session requests stay open (keep-alive) a few seconds after the last one.
 * Gives up after `KEEP_ALIVE_WAIT_MS` and says so; returns the count.
 */
async function waitForFds(pid: number, fds: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const open = openFds(pid);
    if (open <= fds) return open;
    if (performance.now() - started > KEEP_ALIVE_WAIT_MS) {
      console.log(`capacity: the server still holds ${open} fds (expected at most ${fds})`);
      return open;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** A clients process, the request it was given and its report once it held its sessions. */
interface ClientsChild {
  process: ChildProcess;
  request: ClientsRequest;
  report: ClientsReport;
}

/** Starts a clients process (into `started`, for the cleanup); resolves once it holds its sessions. */
async function startClients(
  request: ClientsRequest,
  started: ChildProcess[],
): Promise<ClientsChild> {
  const child = fork(
    fileURLToPath(new URL('./clients.ts', import.meta.url)),
    [JSON.stringify(request)],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  started.push(child);
  // The opening stops at the deadline; then the steps in flight time out within 15 s.
  const report = await nextMessage<ClientsReport>(
    child,
    request.deadlineMs + CHILD_ANSWER_MS,
    `clients (${request.transport})`,
  );
  return { process: child, request, report };
}

/** The sessions a clients process still holds, counted anew. */
async function recount(clients: ClientsChild): Promise<number> {
  const answered = nextMessage<ClientsReport>(clients.process, CHILD_ANSWER_MS, 'count');
  clients.process.send('count');
  return (await answered).held;
}

/** `total` split into `parts` runs as even as can be: offsets and counts. */
function evenSplit(total: number, parts: number): { offset: number; count: number }[] {
  return Array.from({ length: parts }, (_, k) => {
    const offset = Math.floor((total * k) / parts);
    return { offset, count: Math.floor((total * (k + 1)) / parts) - offset };
  });
}

type ClientsShare = Omit<ClientsRequest, 'concurrency' | 'deadlineMs'>;

/**
 * The client side of `sessions.count` sessions (uids from `sessions.offset`)
 * against `server`: as few processes as `perProcess` sessions each allows,
 * the sessions split evenly.
 */
function clientShares(
  server: Child,
  transport: ClientsRequest['transport'],
  sessions: { offset: number; count: number },
  perProcess: number,
): ClientsShare[] {
  return evenSplit(sessions.count, Math.ceil(sessions.count / perProcess)).map((part) => ({
    transport,
    httpPort: server.httpPort,
    tcpPort: server.tcpPort,
    udpPort: server.udpPort,
    count: part.count,
    offset: sessions.offset + part.offset,
  }));
}

/** Starts a clients process per share, all at once, the openers split evenly between them. */
function runClients(
  shares: ClientsShare[],
  started: ChildProcess[],
  deadlineMs: number = DEADLINE_MS,
): Promise<ClientsChild[]> {
  const concurrency = Math.ceil(CONCURRENCY / shares.length);
  return Promise.all(
    shares.map((share) => startClients({ ...share, concurrency, deadlineMs }, started)),
  );
}

/** Opening time (the slowest of processes that open at once) and errors of some clients processes. */
function opening(clients: ClientsChild[]): { seconds: number; errors: string } {
  return {
    seconds: Math.max(...clients.map((c) => c.report.seconds)),
    errors: describeErrors(...clients.map((c) => c.report.errors)),
  };
}

/**
 * Warm-up of both paths on `server`: the code paths, pools and heap the first
 * sessions bring in are not per-connection costs. Opens and closes a few
 * hundred TCP and UDP sessions from this process, with uids from `tcpTarget`
 * and `udpTarget` on (past the measured ones).
 */
async function warmUpBoth(server: Child, tcpTarget: number, udpTarget: number): Promise<void> {
  const warmTcp = await openMany(
    Math.min(WARMUP, tcpTarget),
    tcpSessions(server, tcpTarget),
    OPEN_OPTIONS,
  );
  await closeAll(warmTcp.items);
  const warmUdp = await openMany(
    Math.min(WARMUP, udpTarget),
    udpSessions(server, udpTarget),
    OPEN_OPTIONS,
  );
  await Promise.all(warmUdp.items.map((c) => c.close()));
}

interface Together {
  tcp: Measured;
  udp: Measured;
  /** TCP sessions still open once the UDP ones are held too. */
  tcpHeldAtEnd: number;
  clients: number;
  /** The server's open fds at start (before any request), before, with TCP, with TCP and UDP. */
  fds: [number, number, number, number];
}

/**
 * One tidewire server child holds `tcpTarget` TCP and `udpTarget` UDP idle
 * sessions at the same time. The server needs one fd per TCP session and none
 * per UDP session (one socket serves them all), so both fit under its fd
 * limit; the client side does not fit in one process, so this process holds
 * the TCP sessions and clients.ts processes (each below the fd limit) hold
 * the UDP ones. RSS is measured before, with the TCP sessions, and with both;
 * each point once the session requests' keep-alive sockets have closed (so
 * it counts idle sessions only, and the server has fd room for the UDP
 * clients' requests after the TCP sessions).
 */
async function measureTogether(
  tcpTarget: number,
  udpTarget: number,
  perProcess: number,
): Promise<Together> {
  const server = await startChild('tidewire');
  const pid = server.process.pid!;
  const tcpSockets: Socket[] = [];
  const udpClients: ChildProcess[] = [];
  try {
    const fdsAtStart = openFds(pid);
    // This process holds no session yet, so it can dial the UDP ones itself.
    await warmUpBoth(server, tcpTarget, udpTarget);
    const fdsBefore = await waitForFds(pid, fdsAtStart);
    const rssBefore = await settledRss(server);

    const tcp = await openMany(tcpTarget, tcpSessions(server, 0), OPEN_OPTIONS);
    tcpSockets.push(...tcp.items);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const tcpHeld = tcpSockets.filter((s) => !s.destroyed).length;
    const fdsTcp = await waitForFds(pid, fdsAtStart + tcpHeld);
    const rssTcp = await settledRss(server);

    // As few processes as the fd limit allows, the sessions and the openers split evenly.
    const clients = await runClients(
      clientShares(server, 'udp', { offset: 0, count: udpTarget }, perProcess),
      udpClients,
    );
    const udpHeld = clients.reduce((sum, c) => sum + c.report.held, 0);
    const tcpHeldAtEnd = tcpSockets.filter((s) => !s.destroyed).length;
    const fdsBoth = await waitForFds(pid, fdsAtStart + tcpHeldAtEnd);
    const rssBoth = await settledRss(server);
    return {
      tcp: {
        held: tcpHeld,
        rssBefore,
        rssAfter: rssTcp,
        perConnection: growthPer(rssBefore, rssTcp, tcpHeld),
        seconds: tcp.seconds,
        errors: describeErrors(tcp.errors),
      },
      udp: {
        held: udpHeld,
        rssBefore: rssTcp,
        rssAfter: rssBoth,
        perConnection: growthPer(rssTcp, rssBoth, udpHeld),
        ...opening(clients),
      },
      tcpHeldAtEnd,
      clients: clients.length,
      fds: [fdsAtStart, fdsBefore, fdsTcp, fdsBoth],
    };
  } finally {
    // The server side closes first, so this side's ports are not left in TIME_WAIT.
    await stopChild(server);
    await Promise.all(udpClients.map(stopProcess));
    await closeAll(tcpSockets);
  }
}

const n = (count: number): string => count.toLocaleString('en-US');
// The server holds one fd per TCP session (and none per UDP one): the TCP target is fd-bound.
const together = await measureTogether(target, REQUESTED_UDP, limit - 300);
const heldTogether = together.tcpHeldAtEnd + together.udp.held;
const combined: Measured = {
  held: heldTogether,
  rssBefore: together.tcp.rssBefore,
  rssAfter: together.udp.rssAfter,
  perConnection: (together.udp.rssAfter - together.tcp.rssBefore) / heldTogether,
  seconds: together.tcp.seconds + together.udp.seconds,
  errors: 'see above',
};
const processes = `${together.clients} process${together.clients === 1 ? '' : 'es'}`;
console.log(
  `\nTCP and UDP together: one tidewire server holds ${n(target)} TCP and ${n(REQUESTED_UDP)} UDP idle sessions at once ` +
    `(TCP clients in this process, UDP clients in ${processes} of at most ${n(limit - 300)} sessions each)`,
);
console.table([
  { sessions: 'TCP (session + hello, idle)', ...row(together.tcp) },
  { sessions: 'UDP (session + handshake + hello, idle)', ...row(together.udp) },
  { sessions: 'both, held at once', ...row(combined) },
]);
const [fdsAtStart, fdsBefore, fdsTcp, fdsBoth] = together.fds.map(n);
console.log(
  `server open fds: ${fdsAtStart} at start, ${fdsBefore} after the warm-up, ${fdsTcp} with the TCP sessions, ${fdsBoth} with the UDP ones too`,
);
console.log(
  goalLine({
    what: 'RSS per session, TCP and UDP held by one server',
    ...perSessionGoal(combined.perConnection),
  }) +
    ` (TCP ${kb(together.tcp.perConnection)}, UDP ${kb(together.udp.perConnection)}; ` +
    `held at once: UDP ${n(together.udp.held)}/${n(GOAL_SESSIONS)}, TCP ${n(together.tcpHeldAtEnd)}/${n(GOAL_SESSIONS)}` +
    `${tcpShortfall(together.tcpHeldAtEnd)})`,
);

/** Why fewer TCP sessions than the goal were held, if they were. */
function tcpShortfall(held: number): string {
  if (held >= GOAL_SESSIONS) return '';
  if (target < REQUESTED) {
    return (
      `; TCP short of the goal: capped by the fd limit, ${n(limit)} per process here: the server needs one fd per TCP session, ` +
      `so ${n(target)} is the most this bench asks for`
    );
  }
  return `; TCP short of the goal: CAPACITY_TCP asked for ${n(REQUESTED)}`;
}

// --- The machine: two servers, one per core, hold 20k + 20k together -------

interface MachineServer {
  tcpHeld: number;
  udpHeld: number;
  rssBefore: number;
  rssAfter: number;
  /** Open fds at start (before any request), after the warm-up, and with both kinds of session. */
  fds: [number, number, number];
}

interface Machine {
  servers: MachineServer[];
  clients: number;
  tcp: { seconds: number; errors: string };
  udp: { seconds: number; errors: string };
}

/**
 * `MACHINE_SERVERS` tidewire server children, each with its own ports (as the
 * nodes of a cluster are), together hold `tcpTotal` TCP and `udpTotal` UDP
 * idle sessions at once, split evenly between them. The client side of every
 * session lives in clients processes of at most `perProcess` sessions each
 * (TCP on both servers first, then UDP); this process only warms the servers
 * up. Each server's RSS is taken after the warm-up of both paths and with both
 * kinds of session, each point after a full GC once the session requests'
 * keep-alive sockets have closed. Held: what the clients processes still hold
 * after the last RSS point.
 */
async function measureMachine(
  tcpTotal: number,
  udpTotal: number,
  perProcess: number,
): Promise<Machine> {
  const servers: Child[] = [];
  const started: ChildProcess[] = [];
  try {
    for (let k = 0; k < MACHINE_SERVERS; k++) servers.push(await startChild('tidewire'));
    const pids = servers.map((server) => server.process.pid!);
    const fdsAtStart = pids.map(openFds);
    for (const server of servers) await warmUpBoth(server, tcpTotal, udpTotal);
    const fdsBefore = await Promise.all(pids.map((pid, k) => waitForFds(pid, fdsAtStart[k]!)));
    const rssBefore: number[] = [];
    for (const server of servers) rssBefore.push(await settledRss(server));

    const tcpShares = evenSplit(tcpTotal, MACHINE_SERVERS);
    const udpShares = evenSplit(udpTotal, MACHINE_SERVERS);
    const tcp = await runClients(
      servers.flatMap((server, k) => clientShares(server, 'tcp', tcpShares[k]!, perProcess)),
      started,
    );
    const udp = await runClients(
      servers.flatMap((server, k) => clientShares(server, 'udp', udpShares[k]!, perProcess)),
      started,
    );
    const clients = [...tcp, ...udp];
    const ofServer = (server: Child, transport: 'tcp' | 'udp'): ClientsChild[] =>
      clients.filter(
        (c) => c.request.httpPort === server.httpPort && c.request.transport === transport,
      );
    const fdsBoth: number[] = [];
    const rssAfter: number[] = [];
    for (const [k, server] of servers.entries()) {
      const tcpOpened = ofServer(server, 'tcp').reduce((sum, c) => sum + c.report.held, 0);
      fdsBoth.push(await waitForFds(pids[k]!, fdsAtStart[k]! + tcpOpened));
      rssAfter.push(await settledRss(server));
    }
    // Held at once: every clients process counts again the sessions it still holds.
    const held = async (server: Child, transport: 'tcp' | 'udp'): Promise<number> => {
      const counts = await Promise.all(ofServer(server, transport).map(recount));
      return counts.reduce((sum, count) => sum + count, 0);
    };
    const measured: MachineServer[] = [];
    for (const [k, server] of servers.entries()) {
      measured.push({
        tcpHeld: await held(server, 'tcp'),
        udpHeld: await held(server, 'udp'),
        rssBefore: rssBefore[k]!,
        rssAfter: rssAfter[k]!,
        fds: [fdsAtStart[k]!, fdsBefore[k]!, fdsBoth[k]!],
      });
    }
    return { servers: measured, clients: clients.length, tcp: opening(tcp), udp: opening(udp) };
  } finally {
    // The servers close first, so the clients' ports are not left in TIME_WAIT.
    await Promise.all(servers.map(stopChild));
    await Promise.all(started.map(stopProcess));
  }
}

// Each server holds one fd per TCP session: its share is fd-bound, the total is not.
const machineTcp = Math.min(REQUESTED, MACHINE_SERVERS * (limit - 300));
if (machineTcp < REQUESTED) {
  console.log(
    `capacity: the fd limit is ${limit}; the machine's TCP target lowered from ${REQUESTED} to ${machineTcp}`,
  );
}
const machine = await measureMachine(machineTcp, REQUESTED_UDP, limit - 300);
const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
const machineTotal: MachineServer = {
  tcpHeld: sum(machine.servers.map((s) => s.tcpHeld)),
  udpHeld: sum(machine.servers.map((s) => s.udpHeld)),
  rssBefore: sum(machine.servers.map((s) => s.rssBefore)),
  rssAfter: sum(machine.servers.map((s) => s.rssAfter)),
  fds: [0, 1, 2].map((i) => sum(machine.servers.map((s) => s.fds[i]!))) as MachineServer['fds'],
};
console.log(
  `\nThe machine: ${MACHINE_SERVERS} tidewire servers (one per core, each with its own ports) hold ` +
    `${n(machineTcp)} TCP and ${n(REQUESTED_UDP)} UDP idle sessions at once, split evenly; ` +
    `the client side in ${machine.clients} clients processes of at most ${n(limit - 300)} sessions each`,
);
console.table([
  ...machine.servers.map((s, k) => ({ server: `server ${k + 1}`, ...machineRow(s) })),
  { server: 'total', ...machineRow(machineTotal) },
]);
console.log(
  `opening (both servers at once): TCP ${machine.tcp.seconds.toFixed(1)} s, errors ${machine.tcp.errors}; ` +
    `UDP ${machine.udp.seconds.toFixed(1)} s, errors ${machine.udp.errors}`,
);
const wsGoals = await reportWs();
// The goal itself: 20,000 + 20,000 at once on this machine, <= 6 KB each.
const sessionCount = (value: number): string => n(value);
printGoals('capacity', [
  ...wsGoals,
  {
    what: `TCP sessions held at once by ${MACHINE_SERVERS} servers`,
    value: machineTotal.tcpHeld,
    bound: '>=',
    target: GOAL_SESSIONS,
    format: sessionCount,
  },
  {
    what: `UDP sessions held at once by ${MACHINE_SERVERS} servers`,
    value: machineTotal.udpHeld,
    bound: '>=',
    target: GOAL_SESSIONS,
    format: sessionCount,
  },
  { what: 'RSS per session, both kinds held', ...perSessionGoal(perSession(machineTotal)) },
]);

/** The 6 KB per idle session goal for one measured figure. */
function perSessionGoal(bytes: number): Omit<Goal, 'what'> {
  return { value: bytes, bound: '<=', target: GOAL_BYTES, format: kb };
}

/** Growth over sessions held: (RSS after - before) / (TCP + UDP held). */
function perSession(s: MachineServer): number {
  const held = s.tcpHeld + s.udpHeld;
  return growthPer(s.rssBefore, s.rssAfter, held);
}

function machineRow(s: MachineServer): Record<string, string> {
  return {
    'TCP held': n(s.tcpHeld),
    'UDP held': n(s.udpHeld),
    'RSS before': mb(s.rssBefore),
    'RSS after': mb(s.rssAfter),
    'per connection': kb(perSession(s)),
    'open fds (start / warm / both)': s.fds.map(n).join(' / '),
  };
}

function row(m: Measured): Record<string, string> {
  return {
    held: String(m.held),
    'open time': `${m.seconds.toFixed(1)} s`,
    'RSS before': mb(m.rssBefore),
    'RSS after': mb(m.rssAfter),
    'per connection': kb(m.perConnection),
    errors: m.errors,
  };
}

// --- WebSocket: two servers hold 20k idle WS connections -------------------

interface WsServerHeld {
  held: number;
  rssBefore: number;
  rssAfter: number;
}

interface WsMachine {
  servers: WsServerHeld[];
  clients: number;
  seconds: number;
  errors: string;
}

/**
 * `MACHINE_SERVERS` server children of `kind` (`tidewire-ws` or `bare-ws`)
 * together hold `total` idle WebSockets, split evenly; the client side lives
 * in clients processes of at most `perProcess` each. Warm-up from this
 * process first (a few hundred opened and closed per server); each server's
 * RSS after a full GC before and with the connections, the latter once the
 * session requests' keep-alive sockets have closed.
 */
async function measureWsMachine(
  kind: 'tidewire-ws' | 'bare-ws',
  total: number,
  perProcess: number,
): Promise<WsMachine> {
  const servers: Child[] = [];
  const started: ChildProcess[] = [];
  const transport = kind === 'tidewire-ws' ? 'ws' : 'bare-ws';
  try {
    for (let k = 0; k < MACHINE_SERVERS; k++) servers.push(await startChild(kind));
    const pids = servers.map((server) => server.process.pid!);
    const fdsAtStart = pids.map(openFds);
    for (const server of servers) {
      const open = kind === 'tidewire-ws' ? wsSessions(server, total) : bareWsSockets(server);
      const warm = await openMany(Math.min(WARMUP, total), open, OPEN_OPTIONS);
      for (const socket of warm.items) socket.terminate();
    }
    await Promise.all(pids.map((pid, k) => waitForFds(pid, fdsAtStart[k]!)));
    const rssBefore: number[] = [];
    for (const server of servers) rssBefore.push(await settledRss(server));
    const shares = evenSplit(total, MACHINE_SERVERS);
    const clients = await runClients(
      servers.flatMap((server, k) => clientShares(server, transport, shares[k]!, perProcess)),
      started,
      WS_DEADLINE_MS,
    );
    const ofServer = (server: Child): ClientsChild[] =>
      clients.filter((c) => c.request.httpPort === server.httpPort);
    const measured: WsServerHeld[] = [];
    for (const [k, server] of servers.entries()) {
      const opened = ofServer(server).reduce((sum, c) => sum + c.report.held, 0);
      await waitForFds(pids[k]!, fdsAtStart[k]! + opened);
      const rssAfter = await settledRss(server);
      const counts = await Promise.all(ofServer(server).map(recount));
      measured.push({
        held: counts.reduce((sum, count) => sum + count, 0),
        rssBefore: rssBefore[k]!,
        rssAfter,
      });
    }
    return { servers: measured, clients: clients.length, ...opening(clients) };
  } finally {
    await Promise.all(servers.map(stopChild));
    await Promise.all(started.map(stopProcess));
  }
}

function wsTotal(machine: WsMachine): WsServerHeld {
  return machine.servers.reduce(
    (sum, s) => ({
      held: sum.held + s.held,
      rssBefore: sum.rssBefore + s.rssBefore,
      rssAfter: sum.rssAfter + s.rssAfter,
    }),
    { held: 0, rssBefore: 0, rssAfter: 0 },
  );
}

function wsRow(s: WsServerHeld): Record<string, string> {
  return {
    held: s.held.toLocaleString('en-US'),
    'RSS before': mb(s.rssBefore),
    'RSS after': mb(s.rssAfter),
    'per connection': kb(growthPer(s.rssBefore, s.rssAfter, s.held)),
  };
}

/** Measurement 5: runs both WS machines, prints their table, returns the WS goals. */
async function reportWs(): Promise<Goal[]> {
  const limit = openFileLimit();
  // Each server holds one fd per connection: its share is fd-bound, the total is not.
  const total = Math.min(REQUESTED_WS, MACHINE_SERVERS * (limit - 300));
  if (total < REQUESTED_WS) {
    console.log(
      `capacity: the fd limit is ${limit}; the WS target lowered from ${REQUESTED_WS} to ${total}`,
    );
  }
  const ours = await measureWsMachine('tidewire-ws', total, limit - 300);
  const bare = await measureWsMachine('bare-ws', total, limit - 300);
  const oursTotal = wsTotal(ours);
  const bareTotal = wsTotal(bare);
  console.log(
    `\nWebSocket (node ${process.version}): ${MACHINE_SERVERS} servers (one per core) hold ` +
      `${total.toLocaleString('en-US')} idle WebSockets at once, split evenly; the client side in ` +
      `${ours.clients} clients processes; then ${MACHINE_SERVERS} bare ws servers as many`,
  );
  console.table([
    ...ours.servers.map((s, k) => ({ server: `tidewire WS ${k + 1}`, ...wsRow(s) })),
    { server: 'tidewire WS total (session + upgrade + hello, idle)', ...wsRow(oursTotal) },
    ...bare.servers.map((s, k) => ({ server: `bare ws ${k + 1}`, ...wsRow(s) })),
    { server: 'bare ws total (upgrade, idle)', ...wsRow(bareTotal) },
  ]);
  const oursPer = growthPer(oursTotal.rssBefore, oursTotal.rssAfter, oursTotal.held);
  const barePer = growthPer(bareTotal.rssBefore, bareTotal.rssAfter, bareTotal.held);
  console.log(
    `opening: tidewire ${ours.seconds.toFixed(1)} s, errors ${ours.errors}; bare ws ${bare.seconds.toFixed(1)} s, errors ${bare.errors}`,
  );
  console.log(`ratio tidewire WS / bare ws per connection: ${(oursPer / barePer).toFixed(2)}x`);
  return [
    {
      what: `WS sessions held at once by ${MACHINE_SERVERS} servers`,
      value: oursTotal.held,
      bound: '>=',
      target: GOAL_SESSIONS,
      format: (value) => value.toLocaleString('en-US'),
    },
  ];
}

import { connect, type TidewireClient } from '@tidewire/client';
import { pack, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createServer,
  Ok,
  type ServerConfigInput,
  type TidewireServer,
  type User,
} from '../src/index.ts';
import type { CutProxy } from './cut-proxy.ts';
import { delay, waitFor } from './helpers.ts';
import { type ProxiedTransport, proxyFor, viaProxy } from './proxied-session.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Echo (2, 1) counting how often each sequence number ran; (2, 2) starts pushes (2, 3) every 50 ms. */
async function resumeServer(config: ServerConfigInput = {}): Promise<{
  server: TidewireServer;
  runs: Map<number, number>;
  leaves: string[];
  disconnects: string[];
}> {
  const server = createServer({
    config: {
      ...config,
      http: { port: 0 },
      tcp: { ...config.tcp, port: 0, connectionTTL: 1 },
      udp: { ...config.udp, port: 0, connectionTTL: 1 },
      ws: { ...config.ws, connectionTTL: 1 },
    },
    env: {},
  });
  await server.setupAsTCPServer();
  await server.setupAsUDPServer();
  await server.setupAsWSServer();
  const runs = new Map<number, number>();
  const leaves: string[] = [];
  const disconnects: string[] = [];
  const pushers = new Map<User, NodeJS.Timeout>();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    const seq = unpack<number>(payload);
    runs.set(seq, (runs.get(seq) ?? 0) + 1);
    user.send(ver, cmd, payload, Ok);
    next();
  });
  server.handleCommand(2, 2, (ver, cmd, _payload, user, next) => {
    let n = 0;
    pushers.set(
      user,
      setInterval(() => user.push(2, 3, pack(++n)), 50),
    );
    user.send(ver, cmd, pack(0), Ok);
    next();
  });
  server.onDisconnect((reason) => disconnects.push(reason));
  server.onLeave((reason, user) => {
    leaves.push(reason);
    clearInterval(pushers.get(user));
    pushers.delete(user);
  });
  await server.start();
  cleanups.push(async () => {
    for (const timer of pushers.values()) clearInterval(timer);
    await server.close();
  });
  return { server, runs, leaves, disconnects };
}

type Transport = ProxiedTransport;

/** A cutting proxy in front of the node's port for `transport`, closed after the test. */
async function proxied(server: TidewireServer, transport: Transport): Promise<CutProxy> {
  const proxy = await proxyFor(server, transport);
  cleanups.push(() => proxy.close());
  return proxy;
}

async function resumingClient(
  server: TidewireServer,
  proxy: CutProxy,
  uid: string,
  transport: Transport,
): Promise<TidewireClient & { events: string[] }> {
  const client = (await connect({
    endpointUrl: `http://127.0.0.1:${server.httpPort}`,
    uid,
    transport,
    keepAliveIntervalMs: 200,
    requestTimeoutMs: 30_000,
    connectTimeoutMs: 1000,
    fetch: viaProxy(proxy),
    reconnect: { attempts: 50, backoff: { initialMs: 20, maxMs: 200 } },
  })) as TidewireClient & { events: string[] };
  client.events = [];
  for (const event of ['resumed', 'reconnected-fresh', 'gave-up', 'close'] as const) {
    client.on(event, (info: unknown) => client.events.push(`${event} ${JSON.stringify(info)}`));
  }
  cleanups.push(() => client.close());
  return client;
}

/**
 * Runs a 20 Hz request stream and the server's 20 Hz pushes through `cuts`,
 * then checks: every request answered once and in order, run once on the
 * server; pushes with no gap and no repeat.
 */
async function streamThrough(
  transport: Transport,
  cuts: ((proxy: CutProxy) => Promise<void>)[],
  config: ServerConfigInput = {},
): Promise<void> {
  const { server, runs } = await resumeServer(config);
  const proxy = await proxied(server, transport);
  const client = await resumingClient(server, proxy, `stream-${transport}`, transport);
  expect(client.transport).toBe(transport);
  const pushes: number[] = [];
  client.on('push', (message) => {
    if (message.cmd === 3) pushes.push(unpack<number>(message.payload));
  });
  await client.request(2, 2);
  const answers: number[] = [];
  const answered: Promise<void>[] = [];
  let seq = 0;
  const stream = setInterval(() => {
    const mine = ++seq;
    answered.push(
      client.request(2, 1, pack(mine)).then((response) => {
        answers.push(unpack<number>(response.payload));
      }),
    );
  }, 50);
  try {
    await delay(300);
    for (const cut of cuts) {
      await cut(proxy);
      await waitFor(
        () => client.events.filter((e) => e.startsWith('resumed')).length > 0,
        15_000,
        'resumed',
      );
      await delay(300);
      client.events.splice(0);
    }
    await delay(500); // the stream and pushes go on after the last cut
  } finally {
    clearInterval(stream);
  }
  await Promise.all(answered);
  expect(answers).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
  for (let i = 1; i <= seq; i++) expect(runs.get(i)).toBe(1);
  const lastPush = pushes.at(-1) ?? 0;
  expect(pushes).toEqual(Array.from({ length: lastPush }, (_, i) => i + 1));
  expect(lastPush).toBeGreaterThan(20);
  // Every cut made the client open a new flow (a new connection) to resume on.
  expect(proxy.counters.flows).toBeGreaterThan(cuts.length);
}

const cutReset = async (proxy: CutProxy): Promise<void> => {
  proxy.cut('reset');
};
const cutClose = async (proxy: CutProxy): Promise<void> => {
  proxy.cut('close');
};
const cutDead = async (proxy: CutProxy): Promise<void> => {
  proxy.cut();
};
/** A path that stalls for longer than both ends' idle timeouts, then comes back. */
const blackhole = async (proxy: CutProxy): Promise<void> => {
  proxy.blackhole();
  await delay(2000);
  proxy.restore();
};

/** A stall that outlasts the idle timeouts by seconds: reconnect attempts open flows into it and time out. */
const longBlackhole = async (proxy: CutProxy): Promise<void> => {
  proxy.blackhole();
  await delay(4000);
  proxy.restore();
};

describe('resume over TCP', () => {
  it('cuts (reset, FIN) and a blackhole under a 20 Hz stream and pushes: 0 lost, 0 twice, in order', async () => {
    await streamThrough('tcp', [cutReset, cutClose, blackhole, cutReset]);
  });
});

describe('resume over UDP', () => {
  it('dead paths and a blackhole under a 20 Hz stream and pushes: 0 lost, 0 twice, in order', async () => {
    await streamThrough('udp', [cutDead, blackhole, cutDead]);
  });
});

describe('resume over WebSocket (a TCP proxy under the WS connection)', () => {
  it('cuts (reset, FIN) and a blackhole under a 20 Hz stream and pushes: 0 lost, 0 twice, in order', async () => {
    await streamThrough('ws', [cutReset, cutClose, blackhole, cutReset]);
  });

  it('a stall long enough for reconnect attempts to time out in the opening handshake still resumes', async () => {
    await streamThrough('ws', [longBlackhole]);
  });
});

describe('resume of encrypted sessions (a resume key per connection)', () => {
  it('TCP sealed by the server: cuts lose nothing', async () => {
    await streamThrough('tcp', [cutReset, cutClose], { tcp: { enableEncryption: true } });
  });

  it('UDP sealed by the transport: dead paths lose nothing', async () => {
    await streamThrough('udp', [cutDead, cutDead], { udp: { enableEncryption: true } });
  });
});

describe.each(['tcp', 'ws'] as const)('seat release over %s', (transport) => {
  it('a held seat is released after resume.ttlMs (onLeave EXPIRED) and the client starts fresh', async () => {
    const { server, leaves, disconnects } = await resumeServer({ resume: { ttlMs: 400 } });
    const proxy = await proxied(server, transport);
    const client = await resumingClient(server, proxy, 'ttl', transport);
    const leftAt: number[] = [];
    const droppedAt: number[] = [];
    server.onDisconnect(() => droppedAt.push(Date.now()));
    server.onLeave(() => leftAt.push(Date.now()));
    expect(server.getUser('ttl')?.held).toBe(false);
    // A round trip: the server has the client's opt-in (its first frame) before the path stalls.
    await client.request(2, 1, pack(1));
    proxy.blackhole();
    await waitFor(() => disconnects.length === 1, 5000, 'the server noticing the dead path');
    expect({ leaves, disconnects, held: server.getUser('ttl')?.held }).toEqual({
      leaves: [],
      disconnects: ['TIDEWIRE_ERR_IDLE_TIMEOUT'],
      held: true,
    });
    expect(leaves).toEqual([]);
    await waitFor(() => leaves.length === 1, 5000, 'the seat released');
    expect(leaves).toEqual(['TIDEWIRE_ERR_RESUME_EXPIRED']);
    expect(leftAt[0]! - droppedAt[0]!).toBeGreaterThanOrEqual(390);
    expect(server.getUser('ttl')).toBeUndefined();
    proxy.restore();
    await waitFor(() => client.events.some((e) => e.startsWith('reconnected-fresh')), 10_000);
    expect(client.events.find((e) => e.startsWith('reconnected-fresh'))).toContain(
      'TIDEWIRE_ERR_RESUME_EXPIRED',
    );
    // A fresh session works as a new user.
    expect(unpack<number>((await client.request(2, 1, pack(7))).payload)).toBe(7);
    expect(server.getUser('ttl')?.held).toBe(false);
  });

  it('past resume.maxBufferedFrames a held seat is released (OVERFLOW) and the client told why', async () => {
    const { server, leaves, disconnects } = await resumeServer({
      resume: { ttlMs: 20_000, maxBufferedFrames: 40 },
    });
    const proxy = await proxied(server, transport);
    const client = await resumingClient(server, proxy, 'bound', transport);
    await client.request(2, 2); // pushes at 20 Hz; the server has the client's opt-in
    proxy.blackhole();
    await waitFor(() => disconnects.length === 1, 5000, 'the server noticing the dead path');
    await waitFor(() => leaves.length === 1, 8000, 'the seat released');
    expect(leaves).toEqual(['TIDEWIRE_ERR_RESUME_OVERFLOW']);
    proxy.restore();
    await waitFor(() => client.events.some((e) => e.startsWith('reconnected-fresh')), 10_000);
    expect(client.events.find((e) => e.startsWith('reconnected-fresh'))).toContain(
      'TIDEWIRE_ERR_RESUME_OVERFLOW',
    );
  });

  it("the client's close() releases the seat at once; no resume", async () => {
    const { server, leaves, disconnects } = await resumeServer();
    const proxy = await proxied(server, transport);
    const client = await resumingClient(server, proxy, 'clean', transport);
    await client.close();
    await waitFor(() => leaves.length === 1, 3000, 'the seat released');
    expect(disconnects).toEqual(['TIDEWIRE_ERR_CLIENT_CLOSED']);
    expect(leaves).toEqual(['TIDEWIRE_ERR_CLIENT_CLOSED']);
    expect(client.events).toEqual([
      'close {"code":"TIDEWIRE_ERR_CLIENT_CLOSED","reason":"client closed","remote":false}',
    ]);
  });
});

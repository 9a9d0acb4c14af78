import { connect, type TidewireClient } from '@tidewire/client';
import { MemoryMesh, MemoryMeshHub } from '@tidewire/mesh';
import { pack, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { delay, endpointOf, waitFor } from './helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(hub: MemoryMeshHub, nodeId: string, leaves: string[]): Promise<TidewireServer> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 } },
    mesh: new MemoryMesh({ hub, nodeId }),
    env: {},
  });
  await server.setupAsTCPServer();
  server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, pack({ seq: unpack<number>(payload), node: nodeId }), Ok);
    next();
  });
  server.onLeave((reason) => leaves.push(`${nodeId} ${reason}`));
  await server.start();
  cleanups.push(() => server.close());
  return server;
}

/** Two nodes; the client lands on a (b is TAKEN while it connects). */
async function onA(): Promise<{
  a: TidewireServer;
  b: TidewireServer;
  client: TidewireClient;
  events: string[];
  leaves: string[];
}> {
  const hub = new MemoryMeshHub();
  const leaves: string[] = [];
  const a = await node(hub, 'a', leaves);
  const b = await node(hub, 'b', leaves);
  b.taken();
  await delay(50);
  const client = await connect({
    endpointUrl: endpointOf(b),
    uid: 'mover',
    keepAliveIntervalMs: 500,
    reconnect: { attempts: 20, backoff: { initialMs: 20, maxMs: 200 } },
  });
  cleanups.push(() => client.close());
  expect(client.session.port).toBe(a.tcpPort);
  b.online();
  await delay(50);
  const events: string[] = [];
  for (const event of [
    'reconnect',
    'reconnecting',
    'resumed',
    'reconnected-fresh',
    'close',
  ] as const) {
    client.on(event, (info: unknown) => events.push(`${event} ${JSON.stringify(info)}`));
  }
  return { a, b, client, events, leaves };
}

describe('resume across nodes', () => {
  it('drain: the client moves to another node by itself; no request is lost on the way', async () => {
    const { a, b, client, events, leaves } = await onA();
    const answers: { seq: number; node: string }[] = [];
    const failures: string[] = [];
    const done: Promise<void>[] = [];
    let seq = 0;
    const stream = setInterval(() => {
      const mine = ++seq;
      done.push(
        client
          .request(2, 1, pack(mine))
          .then((r) => {
            answers.push(unpack<{ seq: number; node: string }>(r.payload));
          })
          .catch((err: Error) => {
            failures.push(err.message);
          }),
      );
    }, 50);
    await delay(300);
    const drained = a.shutdown({ timeoutMs: 10_000 });
    const started = Date.now();
    await waitFor(() => events.some((e) => e.startsWith('reconnected-fresh')), 8000, 'moved');
    await drained;
    // The node did not wait out its timeout: its user left.
    expect(Date.now() - started).toBeLessThan(5000);
    await delay(300);
    clearInterval(stream);
    await Promise.all(done);
    expect(failures).toEqual([]);
    expect(answers.map((x) => x.seq)).toEqual(Array.from({ length: seq }, (_, i) => i + 1));
    expect(answers[0]!.node).toBe('a');
    expect(answers.at(-1)!.node).toBe('b');
    expect(client.session.port).toBe(b.tcpPort);
    expect(events.find((e) => e.startsWith('reconnected-fresh'))).toContain(
      'TIDEWIRE_ERR_DRAINING',
    );
    expect(leaves).toContain('a TIDEWIRE_ERR_CLIENT_CLOSED');
  });

  it('a node that goes away: the client gets a fresh session elsewhere and says the state is gone', async () => {
    const { a, b, client, events } = await onA();
    expect(unpack<{ node: string }>((await client.request(2, 1, pack(1))).payload).node).toBe('a');
    await a.close(); // no drain: its users are closed with TIDEWIRE_ERR_SERVER_CLOSING
    await waitFor(() => events.some((e) => e.startsWith('reconnected-fresh')), 8000, 'fresh');
    expect(events.find((e) => e.startsWith('reconnected-fresh'))).toContain(
      'TIDEWIRE_ERR_SERVER_CLOSING',
    );
    expect(client.session.port).toBe(b.tcpPort);
    expect(unpack<{ node: string }>((await client.request(2, 1, pack(2))).payload).node).toBe('b');
  });
});

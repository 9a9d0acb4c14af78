import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { MemoryMesh, MemoryMeshHub } from '@tidewire/mesh';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../mesh/test/redis-server.ts';
import { createServer, type TidewireServer } from '../src/index.ts';
import { delay, endpointOf, waitFor } from './helpers.ts';

const FIXTURE = new URL('./fixtures/dedicated-server.mjs', import.meta.url).pathname;
const servers: TidewireServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A player: line protocol to the dedicated server. */
async function player(
  port: number,
): Promise<{ say(line: string): Promise<string>; socket: Socket }> {
  const socket = connectTcp({ host: '127.0.0.1', port });
  sockets.push(socket);
  await once(socket, 'connect');
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let newline = buffer.indexOf('\n'); newline !== -1; newline = buffer.indexOf('\n')) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      waiting.shift()?.(line);
    }
  });
  return {
    socket,
    say: (line) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        socket.write(`${line}\n`);
      }),
  };
}

async function session(
  http: TidewireServer,
  uid: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${endpointOf(http)}/v1/endpoint/tcp/user/${uid}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('connector mode', () => {
  it('registers the external server, which checks sessions, reports players and TAKEN, and is drained', async () => {
    const hub = new MemoryMeshHub();
    const http = createServer({
      config: { http: { port: 0 } },
      mesh: new MemoryMesh({ hub, nodeId: 'http' }),
      env: {},
    });
    servers.push(http);
    await http.start();

    const gamePort = await freePort();
    const connector = createServer({
      config: {
        http: { port: 0, sessions: false },
        connector: {
          endpoint: `127.0.0.1:${gamePort}`,
          token: 'secret',
          command: [process.execPath, FIXTURE, String(gamePort)],
        },
      },
      mesh: new MemoryMesh({ hub, nodeId: 'unreal-1' }),
      env: {},
    });
    servers.push(connector);
    await connector.setupAsConnector();
    await expect(connector.setupAsTCPServer()).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_INVALID_STATE',
    });
    await connector.start();
    expect(connector.isConnector()).toBe(true);
    expect(connector.getEndPoint()).toBe(`127.0.0.1:${gamePort}`);

    // The session endpoint sends players to the external server.
    const first = await session(http, 'p1');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ host: '127.0.0.1', port: gamePort });
    let p1!: Awaited<ReturnType<typeof player>>;
    const deadline = Date.now() + 10_000;
    while (p1 === undefined) {
      try {
        p1 = await player(gamePort);
      } catch {
        if (Date.now() > deadline) throw new Error('dedicated server did not start');
        await delay(50);
      }
    }
    expect(await p1.say(String(first.body.sid))).toBe('welcome p1');
    expect(await p1.say(String(first.body.sid))).toBe('denied'); // single use
    await waitFor(() => connector.ccu === 1, 2_000, 'ccu report');
    await delay(1_100);
    const nodes = await http.mesh.listNodes({ role: 'tcp' });
    expect(nodes.map((n) => [n.id, n.ccu, n.meta?.connector])).toEqual([['unreal-1', 1, 'true']]);

    // The connector API refuses callers without the token.
    const anonymous = await fetch(`${endpointOf(connector)}/v1/connector/status`, {
      method: 'PUT',
      body: '{"ccu":0}',
    });
    expect(anonymous.status).toBe(401);
    const bad = await fetch(`${endpointOf(connector)}/v1/connector/status`, {
      method: 'PUT',
      headers: { authorization: 'Bearer secret' },
      body: '{"state":"OFFLINE"}',
    });
    expect(bad.status).toBe(400);

    // The external server marks itself TAKEN: nobody is sent there; then ONLINE again.
    expect(await p1.say('taken')).toBe('ok');
    await delay(50);
    expect((await session(http, 'p2')).status).toBe(503);
    expect(await p1.say('online')).toBe('ok');
    await delay(50);
    expect((await session(http, 'p3')).status).toBe(200);

    // Drain: OFFLINE at once, waits for the player to leave, stops the external server.
    const drained = connector.shutdown({ timeoutMs: 5_000 });
    await delay(100);
    expect((await session(http, 'p4')).status).toBe(503);
    p1.socket.end();
    await drained;
    const gone = connectTcp({ host: '127.0.0.1', port: gamePort });
    const [error] = (await once(gone, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('needs an endpoint', async () => {
    const server = createServer({ config: { http: { port: 0 } }, env: {} });
    await expect(server.setupAsConnector()).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_INVALID_CONFIG',
    });
  });
});

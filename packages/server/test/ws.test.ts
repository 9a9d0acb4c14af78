import { connect } from '@tidewire/client';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { startEchoServer } from './echo-server.ts';
import { endpointOf, getSession } from './helpers.ts';

let server: TidewireServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
}

function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

/** Opens the session's URL and says hello with its sid; resolves with the hello answer's status. */
async function hello(url: string, sid: string): Promise<{ socket: WebSocket; status: number }> {
  const socket = new WebSocket(url);
  await opened(socket);
  const answer = new Promise<number>((resolve) =>
    socket.once('message', (data: Buffer) => resolve(data[5] ?? -1)),
  );
  socket.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(sid, 'hex')));
  return { socket, status: await answer };
}

describe('the WebSocket transport in the server', () => {
  it('serves TCP, UDP and WS at once; the ws session names the full URL on the HTTP port', async () => {
    server = await startEchoServer();
    expect(server.isWS()).toBe(true);
    expect(server.wsPort).toBe(server.httpPort);
    const { status, body } = await getSession(server, 'alice', 'ws');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      serverType: 'ws',
      url: `ws://127.0.0.1:${server.httpPort}/v1/ws`,
    });
    expect(body.sid).toMatch(/^[0-9a-f]{32}$/);
    for (const transport of ['tcp', 'udp', 'ws'] as const) {
      const c = await connect({
        endpointUrl: endpointOf(server),
        uid: `u-${transport}`,
        transport,
        keepAliveIntervalMs: 0,
      });
      try {
        expect(c.transport).toBe(transport);
        const answer = await c.request(2, 1, Buffer.from(`hi ${transport}`));
        expect(Buffer.from(answer.payload).toString()).toBe(`hi ${transport}`);
      } finally {
        await c.close();
      }
    }
  });

  it('a WS client gets pushes, keep-alives, and unreliable sends delivered reliably', async () => {
    server = await startEchoServer();
    const c = await connect({
      endpointUrl: endpointOf(server),
      uid: 'bob',
      transport: 'ws',
      keepAliveIntervalMs: 0,
    });
    try {
      const pushed = new Promise<string>((resolve) =>
        c.once('push', (message) => resolve(Buffer.from(message.payload).toString())),
      );
      await server.sendToUser('bob', 2, 9, Buffer.from('pushed'));
      expect(await pushed).toBe('pushed');
      const alive = await c.keepAlive();
      expect(alive.state).toBe('ONLINE');
      const answered = new Promise<string>((resolve) =>
        c.once('response', (response) => resolve(Buffer.from(response.payload).toString())),
      );
      c.send(2, 1, Buffer.from('unreliable'), { reliable: false });
      expect(await answered).toBe('unreliable');
    } finally {
      await c.close();
    }
  });

  it('the mesh knows which nodes serve WS: a TCP-only node answers 404 for a ws session', async () => {
    server = createServer({ config: { http: { port: 0 }, tcp: { port: 0 } }, env: {} });
    await server.setupAsTCPServer();
    await server.start();
    const { status, body } = await getSession(server, 'alice', 'ws');
    expect(status).toBe(404);
    expect(body.code).toBe('TIDEWIRE_ERR_TRANSPORT_NOT_SERVED');
  });

  it('a WS-only node registers the ws role and hands out its URL', async () => {
    server = createServer({ config: { http: { port: 0 } }, env: {} });
    await server.setupAsWSServer();
    await server.start();
    const nodes = await server.mesh.listNodes();
    expect(nodes.find((n) => n.id === server?.nodeId)?.role).toBe('ws');
    const { body } = await getSession(server, 'alice', 'ws');
    expect(body.url).toBe(`ws://127.0.0.1:${server.httpPort}/v1/ws`);
    const c = await connect({ endpointUrl: endpointOf(server), uid: 'alice', transport: 'ws' });
    await c.close();
  });

  it('refuses a hello with an unknown sid and a reused sid; other users are unaffected', async () => {
    server = await startEchoServer();
    const { body } = await getSession(server, 'carol', 'ws');
    const url = String(body.url);
    const other = await connect({
      endpointUrl: endpointOf(server),
      uid: 'dave',
      transport: 'ws',
      keepAliveIntervalMs: 0,
    });
    const unknown = await hello(url, '00'.repeat(16));
    expect(unknown.status).toBe(Status.Bad);
    unknown.socket.terminate();
    const first = await hello(url, String(body.sid));
    expect(first.status).toBe(Status.Ok);
    const reused = await hello(url, String(body.sid));
    expect(reused.status).toBe(Status.Bad);
    reused.socket.terminate();
    first.socket.terminate();
    const answer = await other.request(2, 1, Buffer.from('still here'));
    expect(Buffer.from(answer.payload).toString()).toBe('still here');
    await other.close();
  });

  it('closes text (1003), oversized (1009) and garbage after the hello (1002)', async () => {
    server = await startEchoServer();
    const sessionUrl = async (uid: string): Promise<{ url: string; sid: string }> => {
      const { body } = await getSession(server!, uid, 'ws');
      return { url: String(body.url), sid: String(body.sid) };
    };
    const a = await sessionUrl('t1');
    const text = new WebSocket(a.url);
    await opened(text);
    const textClosed = closeOf(text);
    text.send('{"hello":1}');
    expect((await textClosed).code).toBe(1003);

    const big = new WebSocket(a.url);
    await opened(big);
    const bigClosed = closeOf(big);
    big.send(Buffer.alloc(200_000));
    expect((await bigClosed).code).toBe(1009);

    const b = await sessionUrl('t2');
    const { socket, status } = await hello(b.url, b.sid);
    expect(status).toBe(Status.Ok);
    const closed = closeOf(socket);
    socket.send(Buffer.from('garbage, not a frame'));
    expect(await closed).toEqual({ code: 1002, reason: 'TIDEWIRE_ERR_BAD_MAGIC' });
  });

  it('refuses an Origin not allowed (403 on the upgrade and on the session endpoint), answers CORS preflights for allowed ones', async () => {
    server = createServer({
      config: { http: { port: 0 }, ws: { allowedOrigins: ['https://game.example'] } },
      env: {},
    });
    await server.setupAsWSServer();
    await server.start();
    const base = endpointOf(server);
    const preflight = await fetch(`${base}/v1/endpoint/ws/user/alice`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://game.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://game.example');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization');
    const allowed = await fetch(`${base}/v1/endpoint/ws/user/alice`, {
      headers: { origin: 'https://game.example' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://game.example');
    const session = (await allowed.json()) as { url: string };
    const refused = await fetch(`${base}/v1/endpoint/ws/user/alice`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const socket = new WebSocket(session.url, { origin: 'https://evil.example' });
    const status = await new Promise<number>((resolve) =>
      socket.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      }),
    );
    expect(status).toBe(403);
  });

  it('survives a burst of 1,000 upgrades that never say hello', async () => {
    server = createServer({
      config: { http: { port: 0, rateLimit: 0 }, ws: { connectionTTL: 1 } },
      env: {},
    });
    await server.setupAsWSServer();
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await server.start();
    const url = `ws://127.0.0.1:${server.httpPort}/v1/ws`;
    const sockets = Array.from({ length: 1000 }, () => new WebSocket(url));
    const closing = sockets.map((socket) => closeOf(socket));
    const results = await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<string>((resolve) => {
            socket.once('open', () => resolve('open'));
            socket.once('error', () => resolve('error'));
          }),
      ),
    );
    expect(results.filter((r) => r === 'open').length).toBe(1000);
    const c = await connect({ endpointUrl: endpointOf(server), uid: 'eve', transport: 'ws' });
    const answer = await c.request(2, 1, Buffer.from('ok'));
    expect(Buffer.from(answer.payload).toString()).toBe('ok');
    await c.close();
    const closes = await Promise.all(closing);
    // Without a hello the server closes them (hello timeout or idle TTL), each with a close code.
    expect(closes.every((c) => c.code >= 1000)).toBe(true);
  }, 60_000);
});

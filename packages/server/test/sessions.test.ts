import { connect as netConnect, type Socket } from 'node:net';
import {
  CoreCommand,
  encodeFrame,
  type Frame,
  FrameDecoder,
  pack,
  Status,
  unpack,
} from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { Ok, type TidewireServer } from '../src/index.ts';
import { client, delay, endpointOf, getSession, testServer, waitFor } from './helpers.ts';

let server: TidewireServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A raw TCP socket to the server that collects decoded frames and the close. */
async function raw(
  port: number,
): Promise<{ socket: Socket; frames: Frame[]; closed: Promise<void> }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk) => decoder.push(chunk, (f) => frames.push(f)));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed };
}

const hello = (sid: string): Buffer =>
  encodeFrame(0, CoreCommand.Hello, Status.Request, Buffer.from(sid, 'hex'));

describe('HTTP session endpoint', () => {
  it('hands out single-use sessions with random sid and key', async () => {
    server = await testServer();
    const { status, body } = await getSession(server, 'u1');
    expect(status).toBe(200);
    expect(body).toMatchObject({ serverType: 'tcp', host: '127.0.0.1', port: server.tcpPort });
    expect(body.sid).toMatch(/^[0-9a-f]{32}$/);
    expect(body.key).toMatch(/^[0-9a-f]{32}$/);
    expect(body.sid).not.toBe(body.key);
    expect(body.expiresAt as number).toBeGreaterThan(Date.now());
    const again = await getSession(server, 'u1');
    expect(again.body.sid).not.toBe(body.sid);
  });

  it('rejects malformed user ids, unknown routes, other methods and udp on a tcp-only node', async () => {
    server = await testServer();
    expect((await getSession(server, 'bad%20id')).status).toBe(400);
    expect((await getSession(server, 'x'.repeat(129))).status).toBe(400);
    // No node serves udp: 404 (a retry cannot succeed), not 503.
    expect((await getSession(server, 'u', 'udp')).status).toBe(404);
    expect((await fetch(`${endpointOf(server)}/nope`)).status).toBe(404);
    const post = await fetch(`${endpointOf(server)}/v1/endpoint/tcp/user/u`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('asks the authenticate hook', async () => {
    server = await testServer({
      authenticate: (req, uid) => req.headers.authorization === `token-${uid}`,
    });
    const refused = await getSession(server, 'dave');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('TIDEWIRE_ERR_FORBIDDEN');
    const c = await client(server, 'dave', { headers: { authorization: 'token-dave' } });
    expect(c.userId).toBe('dave');
    await c.close();
  });

  it('answers 503 with a JSON error while TAKEN or OFFLINE', async () => {
    server = await testServer();
    server.taken();
    const taken = await getSession(server, 'u');
    expect(taken.status).toBe(503);
    expect(taken.body.code).toBe('TIDEWIRE_ERR_NOT_ACCEPTING');
    server.offline();
    expect((await getSession(server, 'u')).status).toBe(503);
    server.online();
    expect((await getSession(server, 'u')).status).toBe(200);
  });
});

describe('hello and bad input', () => {
  it('refuses an unknown sid, a reused sid, and a frame before hello, each with a reason', async () => {
    server = await testServer();
    const unknown = await raw(server.tcpPort);
    unknown.socket.write(hello('00'.repeat(16)));
    await unknown.closed;
    expect(unknown.frames[0]).toMatchObject({ ver: 0, cmd: 4, status: Status.Bad });
    expect(unpack<{ code: string }>(unknown.frames[0]!.payload).code).toBe(
      'TIDEWIRE_ERR_SESSION_INVALID',
    );

    const { body } = await getSession(server, 'reuse');
    const first = await raw(server.tcpPort);
    first.socket.write(hello(body.sid as string));
    await waitFor(() => first.frames.length > 0);
    expect(first.frames[0]!.status).toBe(Status.Ok);
    expect(unpack(first.frames[0]!.payload)).toMatchObject({ userId: 'reuse', state: 'ONLINE' });
    const second = await raw(server.tcpPort);
    second.socket.write(hello(body.sid as string));
    await second.closed;
    expect(unpack<{ code: string }>(second.frames[0]!.payload).code).toBe(
      'TIDEWIRE_ERR_SESSION_INVALID',
    );

    const early = await raw(server.tcpPort);
    early.socket.write(encodeFrame(2, 1, Status.Request, Buffer.from('hi')));
    await early.closed;
    expect(unpack<{ code: string }>(early.frames[0]!.payload).code).toBe(
      'TIDEWIRE_ERR_HELLO_REQUIRED',
    );
    first.socket.destroy();
  });

  it('closes only the offending connection on garbage, bad magic or an oversized length', async () => {
    server = await testServer({ config: { tcp: { maxRcvSize: 1024 } } }, (s) =>
      s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      }),
    );
    const good = await client(server, 'good');
    const attacks = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0xd1, 0xdf, 0, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0xd1, 0xde, 2, 0, 1, 0, 0x7f, 0xff, 0xff, 0xff]),
    ];
    for (const attack of attacks) {
      const bad = await raw(server.tcpPort);
      bad.socket.write(attack);
      await bad.closed;
      const reason = bad.frames.find((f) => f.ver === 0 && f.cmd === 0);
      expect(
        reason,
        `a disconnect frame with a reason for ${attack.subarray(0, 4).toString('hex')}`,
      ).toBeDefined();
      expect(unpack<{ code: string }>(reason!.payload).code).toMatch(/^TIDEWIRE_ERR_/);
      expect((await good.request(2, 1, Buffer.from('still here'))).payload.toString()).toBe(
        'still here',
      );
    }
    // An authenticated user sending an oversized frame is closed too; others carry on.
    const rude = await client(server, 'rude');
    const rudeClosed = new Promise<{ code: string }>((r) => rude.once('close', r));
    rude.send(2, 1, Buffer.alloc(2048));
    expect((await rudeClosed).code).toBe('TIDEWIRE_ERR_FRAME_TOO_LARGE');
    expect((await good.request(2, 1, Buffer.from('ok'))).payload.toString()).toBe('ok');
    await good.close();
  });

  it('a second connection of the same user replaces the first', async () => {
    server = await testServer();
    const first = await client(server, 'twin');
    const closed = new Promise<{ code: string }>((r) => first.once('close', r));
    const second = await client(server, 'twin');
    expect((await closed).code).toBe('TIDEWIRE_ERR_REPLACED');
    expect(server.ccu).toBe(1);
    await second.close();
  });
});

describe('server states', () => {
  it('TAKEN and OFFLINE refuse new users at hello but keep existing ones', async () => {
    server = await testServer({}, (s) =>
      s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      }),
    );
    const existing = await client(server, 'existing');
    const { body } = await getSession(server, 'late');
    server.taken();
    const late = await raw(server.tcpPort);
    late.socket.write(hello(body.sid as string));
    await late.closed;
    expect(unpack<{ code: string }>(late.frames[0]!.payload).code).toBe(
      'TIDEWIRE_ERR_NOT_ACCEPTING',
    );
    expect((await existing.request(2, 1, Buffer.from('a'))).payload.toString()).toBe('a');
    expect((await existing.keepAlive()).state).toBe('TAKEN');
    server.offline();
    expect((await existing.request(2, 1, Buffer.from('b'))).payload.toString()).toBe('b');
    expect((await existing.keepAlive()).state).toBe('OFFLINE');
    await existing.close();
  });

  it('markServerAsTakenIf polls every 2 s and is ignored while OFFLINE', async () => {
    server = await testServer();
    let full = true;
    server.markServerAsTakenIf(() => full);
    expect(server.state).toBe('ONLINE');
    await waitFor(() => server!.state === 'TAKEN', 3000, 'TAKEN');
    full = false;
    await waitFor(() => server!.state === 'ONLINE', 3000, 'ONLINE');
    server.offline();
    full = true;
    await delay(2300);
    expect(server.state).toBe('OFFLINE');
  }, 15_000);
});

describe('debug commands', () => {
  it('only authorised users may run them; the session key is in no dump and no log line', async () => {
    const lines: string[] = [];
    const record = (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
    };
    server = await testServer(
      {
        config: { debug: true, tcp: { enableEncryption: true } },
        logger: { debug: record, info: record, warn: record, error: record },
      },
      (s) => s.setDebugCommandAuthorizer((user) => user.data.admin === true),
    );
    const c = await client(server, 'player', { keepAliveIntervalMs: 0 });
    const refused = await c.request(0, 905);
    expect(refused.status).toBe(Status.Bad);
    expect(unpack<{ code: string }>(refused.payload).code).toBe('TIDEWIRE_ERR_UNKNOWN_COMMAND');
    c.send(0, 902); // OFFLINE: refused too
    await delay(50);
    expect(server.state).toBe('ONLINE');
    server.getUser('player')!.data.admin = true;
    const dump = await c.request(0, 905);
    expect(dump.status).toBe(Status.Ok);
    const text = dump.payload.toString();
    expect(JSON.parse(text)).toMatchObject({ ID: 'player', SID: c.session.sid });
    expect(text).not.toContain(c.session.key);
    expect(JSON.stringify(server.getUser('player'))).not.toContain(c.session.key);
    expect(lines.join('\n')).not.toContain(c.session.key);
    await c.close();
  });

  it('without an authoriser they are allowed from loopback only', async () => {
    server = await testServer({ config: { debug: true } });
    const c = await client(server, 'local', { keepAliveIntervalMs: 0 });
    expect((await c.request(0, 905)).status).toBe(Status.Ok);
    await c.close();
  });

  it('are unknown by default and work after exposeDebugCommands()', async () => {
    server = await testServer();
    expect(server.isDebugCommandsEnabled()).toBe(false);
    const c = await client(server, 'dbg', { keepAliveIntervalMs: 0 });
    expect((await c.request(0, 905)).status).toBe(Status.Bad);
    server.exposeDebugCommands();
    expect(server.isDebugCommandsEnabled()).toBe(true);
    const dump = await c.request(0, 905);
    expect(dump.status).toBe(Status.Ok);
    expect(JSON.parse(dump.payload.toString())).toEqual({
      ID: 'dbg',
      SID: c.session.sid,
      Data: {},
      Latency: 0,
    });
    expect(dump.payload.toString()).not.toContain(c.session.key);
    const rooms = await c.request(0, 904);
    expect(JSON.parse(rooms.payload.toString())).toEqual([]);
    c.send(0, 901);
    await waitFor(() => server!.state === 'TAKEN');
    c.send(0, 902);
    await waitFor(() => server!.state === 'OFFLINE');
    c.send(0, 900);
    await waitFor(() => server!.state === 'ONLINE');
    await c.close();
  });

  it('runs a debug command callback and answers with its data', async () => {
    server = await testServer({ config: { debug: true } });
    server.setDebugCommandCallback(905, (user, _payload, respond) => {
      respond(null, pack({ custom: user.id }));
    });
    expect(() => server!.setDebugCommandCallback(42, () => {})).toThrow(
      expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' }),
    );
    const c = await client(server, 'cb');
    expect(unpack(await c.request(0, 905).then((r) => r.payload))).toEqual({ custom: 'cb' });
    await c.close();
  });

  it('903 pushes reconnect-elsewhere and stops after the clients leave', async () => {
    server = await testServer({ config: { debug: true, shutdownTimeout: 5 } });
    const stopped = new Promise<void>((resolve) => server!.onStop(resolve));
    const a = await client(server, 'a');
    const b = await client(server, 'b');
    const reconnects: unknown[] = [];
    for (const c of [a, b]) {
      c.on('reconnect', (info) => {
        reconnects.push(info);
        void c.close();
      });
    }
    // onShutdown runs first, OFFLINE already, users still connected, before the reconnect push
    const atShutdown: { state: string; ccu: number; reconnects: number }[] = [];
    server.onShutdown(() => {
      atShutdown.push({ state: server!.state, ccu: server!.ccu, reconnects: reconnects.length });
      throw new Error('a failing listener does not stop the drain');
    });
    for (const register of [server.onShutdown, server.onStop]) {
      expect(() => register.call(server, 'not a function' as never)).toThrow(
        expect.objectContaining({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' }),
      );
    }
    server.onShutdown(async () => {
      await new Promise((r) => setTimeout(r, 20));
      atShutdown.push({ state: server!.state, ccu: server!.ccu, reconnects: reconnects.length });
    });
    a.send(0, 903);
    await stopped;
    expect(atShutdown).toEqual([
      { state: 'OFFLINE', ccu: 2, reconnects: 0 },
      { state: 'OFFLINE', ccu: 2, reconnects: 0 },
    ]);
    expect(reconnects).toHaveLength(2);
    expect(server.state).toBe('OFFLINE');
    expect(server.ccu).toBe(0);
    expect((await fetch(endpointOf(server)).catch((e: Error) => e)) instanceof Error).toBe(true);
  });
});

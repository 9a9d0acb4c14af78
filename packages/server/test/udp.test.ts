import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect, requestSession, type TidewireClient } from '@tidewire/client';
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { client, delay, endpointOf, waitFor } from './helpers.ts';

let server: TidewireServer;
const clients: TidewireClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

async function udpServer(
  config: Record<string, unknown> = {},
  tcp = true,
): Promise<TidewireServer> {
  const s = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0, ...config } },
    env: {},
  });
  if (tcp) await s.setupAsTCPServer();
  await s.setupAsUDPServer();
  s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    user.send(ver, cmd, payload, Ok);
    next();
  });
  s.handleCommand(2, 9, (ver, cmd, payload, user, next) => {
    user.push(ver, cmd, payload); // echo as a push: answers unreliable sends too
    next();
  });
  await s.start();
  return s;
}

/** Runs `body` with every UDP connection of `side` established meanwhile (diagnostics channel). */
async function withUdpConnections(
  side: 'server' | 'client',
  body: (established: UdpConnection[]) => Promise<void>,
): Promise<void> {
  const established: UdpConnection[] = [];
  const onConnection = (message: unknown): void => {
    const event = message as { connection: UdpConnection; side: string };
    if (event.side === side) established.push(event.connection);
  };
  subscribe('tidewire:udp:connection', onConnection);
  try {
    await body(established);
  } finally {
    unsubscribe('tidewire:udp:connection', onConnection);
  }
}

async function udpClient(uid: string): Promise<TidewireClient> {
  const c = await client(server, uid, { transport: 'udp' });
  clients.push(c);
  return c;
}

describe('UDP sessions', () => {
  it('a client gets a UDP session, says hello and runs commands through the same router', async () => {
    server = await udpServer();
    const c = await udpClient('ann');
    expect(c.transport).toBe('udp');
    expect(c.session.port).toBe(server.udpPort);
    const echo = await c.request(2, 1, Buffer.from('over udp'));
    expect([echo.status, echo.payload.toString()]).toEqual([Status.Ok, 'over udp']);
    // Many requests in a row arrive in order.
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => c.request(2, 1, Buffer.from(`m${i}`))),
    );
    expect(answers.map((a) => a.payload.toString())).toEqual(
      Array.from({ length: 50 }, (_, i) => `m${i}`),
    );
    expect(server.getUser('ann')?.transport).toBe('udp');
    // TCP users and UDP users are served side by side.
    const t = await connect({
      endpointUrl: endpointOf(server),
      uid: 'bob',
      keepAliveIntervalMs: 0,
    });
    clients.push(t);
    expect(server.ccu).toBe(2);
    const pushes: string[] = [];
    t.on('push', (p) => pushes.push(p.payload.toString()));
    server.broadcast(2, 3, Buffer.from('to all'));
    await waitFor(() => pushes.length === 1, 2_000, 'broadcast');
  });

  it('unreliable sends reach the handler; a large reliable message is fragmented and reassembled', async () => {
    server = await udpServer();
    const c = await udpClient('ann');
    const pushes: string[] = [];
    c.on('push', (p) => pushes.push(p.payload.toString()));
    for (let i = 0; i < 5; i++) c.send(2, 9, Buffer.from(`state ${i}`), { reliable: false });
    await waitFor(() => pushes.length === 5, 2_000, 'unreliable round trips');
    const big = Buffer.alloc(50_000, 7);
    const res = await c.request(2, 1, big);
    expect(res.payload.equals(big)).toBe(true);
  });

  it('an unreliable send that gets no answer does not take the answer of a later request', async () => {
    server = await udpServer();
    // answers only what starts with "answer": the others are like unreliable messages lost on the way
    server.handleCommand(2, 4, (ver, cmd, payload, user, next) => {
      if (payload.toString().startsWith('answer')) user.send(ver, cmd, payload, Ok);
      next();
    });
    const c = await udpClient('ann');
    const events: string[] = [];
    c.on('response', (r) => events.push(r.payload.toString()));
    for (let i = 0; i < 5; i++) c.send(2, 4, Buffer.from(`skip ${i}`), { reliable: false });
    const res = await c.request(2, 4, Buffer.from('answer 1'), { timeoutMs: 2_000 });
    expect(res.payload.toString()).toBe('answer 1');
    // an unreliable send that is answered still comes as a 'response' event
    c.send(2, 4, Buffer.from('answer 2'), { reliable: false });
    await waitFor(() => events.length === 1, 2_000, 'response event');
    expect(events).toEqual(['answer 2']);
  });

  it('periodic keep-alives ride with commands over UDP too, and go alone when there are none', async () => {
    server = await udpServer();
    let keepAlives = 0;
    // Frames of one datagram are delivered in one synchronous run: a microtask
    // queued by the keep-alive's handler runs only after the whole datagram.
    const rides: { rode: boolean }[] = [];
    let inKeepAliveDatagram: { rode: boolean } | null = null;
    server.onKeepAlive((_user, next) => {
      keepAlives++;
      const ride = { rode: false };
      rides.push(ride);
      inKeepAliveDatagram = ride;
      queueMicrotask(() => {
        inKeepAliveDatagram = null;
      });
      next();
    });
    server.handleCommand(2, 1, (_ver, _cmd, _payload, _user, next) => {
      if (inKeepAliveDatagram !== null) inKeepAliveDatagram.rode = true;
      next();
    });
    const c = await client(server, 'udp-rider', { transport: 'udp', keepAliveIntervalMs: 200 });
    clients.push(c);
    const echoes: number[] = [];
    c.on('response', (m) => echoes.push(m.payload.length));
    const sending = setInterval(() => c.send(2, 1, Buffer.from('x')), 10);
    await delay(700);
    clearInterval(sending);
    expect(keepAlives).toBeGreaterThanOrEqual(2);
    // every keep-alive that arrived while commands flowed came in a command's datagram
    expect(rides.map((r) => r.rode)).toEqual(rides.map(() => true));
    expect(echoes.length).toBeGreaterThan(30);
    expect(c.latency).toBeGreaterThan(0);
    const before = keepAlives;
    await delay(500);
    expect(keepAlives).toBeGreaterThanOrEqual(before + 2);
  });

  it('a client with ackDelayMs announces it: its ACKs ride with commands and the server waits for them', async () => {
    server = await udpServer();
    await withUdpConnections('server', async (accepted) => {
      const c = await client(server, 'ann', {
        transport: 'udp',
        ackDelayMs: 60,
        keepAliveIntervalMs: 0,
      });
      clients.push(c);
      expect(accepted).toHaveLength(1);
      const conn = accepted[0]!;
      await delay(20);
      const before = conn.stats().packetsReceived;
      for (let i = 0; i < 10; i++) {
        await c.request(2, 1, Buffer.from(`m${i}`));
        await delay(20);
      }
      // one datagram per request: each answer's ACK came with the next request
      expect(conn.stats().packetsReceived - before).toBe(10);
      expect(conn.stats().retransmits).toBe(0);
      expect(conn.stats().rtoMs).toBeGreaterThanOrEqual(10 + 60);
      await expect(
        connect({ endpointUrl: endpointOf(server), uid: 'x', transport: 'udp', ackDelayMs: 300 }),
      ).rejects.toThrow(/ackDelayMs/);
    });
  });

  it('udp.ackDelay: the server announces it, holds ACKs to ride with its answers, and acknowledges at once when it sends nothing', async () => {
    server = await udpServer({ ackDelay: 60 });
    server.handleCommand(2, 7, (_ver, _cmd, _payload, _user, next) => next()); // no answer
    // answered 15 ms later: the ACK of the command can ride with the answer
    server.handleCommand(2, 8, (ver, cmd, payload, user, next) => {
      setTimeout(() => user.send(ver, cmd, payload, Ok), 15);
      next();
    });
    // the client's own connection, to read what it received and its RTO
    await withUdpConnections('client', async (accepted) => {
      const d = await client(server, 'bob', { transport: 'udp', keepAliveIntervalMs: 0 });
      clients.push(d);
      expect(accepted).toHaveLength(1);
      const conn = accepted[0]!;
      await delay(100);
      let before = conn.stats().packetsReceived;
      for (let i = 0; i < 10; i++) {
        d.send(2, 7, Buffer.from(`input ${i}`));
        await delay(30);
      }
      await delay(100);
      // a server that sends nothing has nothing for an ACK to wait for: one each
      expect(conn.stats().packetsReceived - before).toBeGreaterThanOrEqual(9);
      before = conn.stats().packetsReceived;
      for (let i = 0; i < 10; i++) {
        d.send(2, 8, Buffer.from(`command ${i}`));
        await delay(30);
      }
      await delay(100);
      // answering (it sent data in the last 60 ms), it holds each ACK for the
      // answer: one packet per command instead of an ACK and an answer (the
      // first command found it quiet, and was acknowledged at once)
      expect(conn.stats().packetsReceived - before).toBeLessThanOrEqual(12);
      expect(conn.stats().packetsReceived - before).toBeGreaterThanOrEqual(10);
      expect(conn.stats().retransmits).toBe(0);
      // the client waits the server's delay longer before retransmitting
      expect(conn.stats().rtoMs).toBeGreaterThanOrEqual(10 + 60);
    });
  });

  it('rejects udp.ackDelay and udp.minRto the transport cannot take, with a typed error', async () => {
    for (const udp of [{ ackDelay: 251 }, { minRto: 0.5 }]) {
      const s = createServer({
        config: { http: { port: 0 }, udp: { port: 0, ...udp } },
        env: {},
      });
      await s.setupAsUDPServer();
      await expect(s.start()).rejects.toMatchObject({ code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' });
      await s.close();
    }
  });

  it("udp.minRto sets the floor of the server connections' retransmission timeout", async () => {
    server = await udpServer({ minRto: 50 });
    await withUdpConnections('server', async (accepted) => {
      const c = await udpClient('ann');
      for (let i = 0; i < 5; i++) await c.request(2, 1, Buffer.from(`m${i}`));
      expect(accepted).toHaveLength(1);
      // loopback RTTs are far below it: the RTO sits at the floor
      await waitFor(() => accepted[0]!.stats().rtoMs === 50, 2_000, 'rto at the floor');
    });
  });

  it('refuses a reused sid and a hello naming another sid than the handshake', async () => {
    server = await udpServer();
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'eve',
      transport: 'udp',
    });
    const conn = await dialUdp({
      host: session.host,
      port: session.port,
      sid: Buffer.from(session.sid, 'hex'),
    });
    const answers: number[] = [];
    conn.onFrame = (frame) => answers.push(frame.status);
    // A hello with another (made-up) sid on this connection is refused.
    conn.send(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.alloc(16, 1)));
    await waitFor(() => answers.length === 1, 2_000, 'hello answer');
    expect(answers).toEqual([Status.Bad]);
    await conn.close();
    // The ticket was consumed by the first handshake: a second one is refused.
    await expect(
      dialUdp({
        host: session.host,
        port: session.port,
        sid: Buffer.from(session.sid, 'hex'),
        connectTimeoutMs: 1_000,
      }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^TIDEWIRE_ERR_HANDSHAKE_(REFUSED|TIMEOUT)$/),
    });
  });

  it('with encryption on, sessions are sealed with the session key and a stolen sid gets nothing', async () => {
    server = await udpServer({ enableEncryption: true });
    const c = await udpClient('ann');
    expect(c.session.encryption).toBe(true);
    expect((await c.request(2, 1, Buffer.from('sealed'))).payload.toString()).toBe('sealed');
    // A thief with the sid but not the key: the handshake succeeds only with the right key.
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'victim',
      transport: 'udp',
    });
    const thief = await dialUdp({
      host: session.host,
      port: session.port,
      sid: Buffer.from(session.sid, 'hex'),
      key: Buffer.alloc(16, 9),
      encryption: true,
      connectTimeoutMs: 1_000,
    }).catch((err: unknown) => err as Error);
    if (!(thief instanceof Error)) {
      const answers: number[] = [];
      thief.onFrame = (frame) => answers.push(frame.status);
      thief.send(
        encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(session.sid, 'hex')),
      );
      await delay(300);
      expect(answers).toEqual([]);
      thief.destroy();
    }
    expect(server.getUser('victim')).toBeUndefined();
  });

  it('a UDP-only node registers as udp; a TCP+UDP node lists udp as an extra role', async () => {
    server = await udpServer({}, false);
    const [self] = await server.mesh.listNodes();
    expect([self?.role, self?.publicPort]).toEqual(['udp', server.udpPort]);
    const tcpOnly = await fetch(`${endpointOf(server)}/v1/endpoint/tcp/user/x`);
    // No node serves tcp: 404 (a retry cannot succeed), not 503.
    expect(tcpOnly.status).toBe(404);
    await server.close();
    server = await udpServer();
    const [both] = await server.mesh.listNodes();
    expect(both?.role).toBe('tcp');
    expect(both?.meta).toMatchObject({
      roles: 'udp',
      'endpoint.udp': `127.0.0.1:${server.udpPort}`,
    });
  });
});

describe('TCP encryption', () => {
  it('seals every frame after a hello that proves the key; broadcasts are sealed per user; a stolen sid gets nothing', async () => {
    server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0, enableEncryption: true } },
      env: {},
    });
    await server.setupAsTCPServer();
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await server.start();
    expect(server.isEncryptionEnabled()).toBe(true);
    const c = await connect({
      endpointUrl: endpointOf(server),
      uid: 'ann',
      keepAliveIntervalMs: 0,
      clientInfo: { v: 1 },
    });
    clients.push(c);
    expect(c.session.encryption).toBe(true);
    expect(server.getUser('ann')?.clientInfo).toEqual({ v: 1 });
    const answers = await Promise.all(
      [1, 2, 3].map((i) => c.request(2, 1, Buffer.from(`secret ${i}`))),
    );
    expect(answers.map((a) => a.payload.toString())).toEqual(['secret 1', 'secret 2', 'secret 3']);
    expect((await c.request(0, 3, Buffer.from('ping'))).payload.toString()).toBe('ping');
    const pushes: string[] = [];
    c.on('push', (p) => pushes.push(p.payload.toString()));
    server.broadcast(2, 7, Buffer.from('for everyone'));
    await waitFor(() => pushes.length === 1, 2_000, 'sealed broadcast');
    expect(pushes).toEqual(['for everyone']);

    // With the sid but not the key, a plain hello is refused and the user never appears.
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'victim',
      transport: 'tcp',
    });
    const { dialTcp } = await import('@tidewire/transport-tcp');
    const thief = await dialTcp({ host: session.host, port: session.port });
    const statuses: number[] = [];
    thief.onFrame = (frame) => statuses.push(frame.status);
    thief.send(
      encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(session.sid, 'hex')),
    );
    await waitFor(() => statuses.length === 1, 2_000, 'refusal');
    expect(statuses).toEqual([Status.Bad]);
    expect(server.getUser('victim')).toBeUndefined();
    thief.destroy();
  });
});

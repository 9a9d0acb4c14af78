import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@tidewire/client';
import { afterEach, describe, expect, it } from 'vitest';
import { type CutProxy, startCutProxy } from './cut-proxy.ts';
import { startEchoServer } from './echo-server.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tcpEcho(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, sockets };
}

async function proxyTo(port: number, protocol: 'tcp' | 'udp'): Promise<CutProxy> {
  const proxy = await startCutProxy({ target: { host: '127.0.0.1', port }, protocol });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function dial(port: number): Promise<Socket & { received: Buffer[] }> {
  const socket = netConnect(port, '127.0.0.1') as Socket & { received: Buffer[] };
  socket.received = [];
  socket.on('data', (chunk) => socket.received.push(chunk));
  socket.on('error', () => {});
  await once(socket, 'connect');
  cleanups.push(() => void socket.destroy());
  return socket;
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('cut proxy, TCP', () => {
  it('forwards both ways and counts bytes', async () => {
    const echo = await tcpEcho();
    const proxy = await proxyTo(echo.port, 'tcp');
    const socket = await dial(proxy.port);
    socket.write('hello');
    await until(() => Buffer.concat(socket.received).toString() === 'hello');
    expect(proxy.counters).toMatchObject({ flows: 1, bytesUp: 5, bytesDown: 5 });
    expect(proxy.openFlows).toBe(1);
  });

  it("cut('close') ends both sides with a FIN, no error", async () => {
    const echo = await tcpEcho();
    const proxy = await proxyTo(echo.port, 'tcp');
    const socket = await dial(proxy.port);
    socket.write('x');
    await until(() => socket.received.length > 0);
    const errors: Error[] = [];
    socket.on('error', (err) => errors.push(err));
    const ended = once(socket, 'end');
    const serverSide = echo.sockets[0]!;
    const serverEnded = once(serverSide, 'end');
    expect(proxy.cut('close')).toBe(1);
    await Promise.all([ended, serverEnded]);
    expect(errors).toEqual([]);
    expect(proxy.openFlows).toBe(0);
    expect(proxy.counters.cuts).toBe(1);
    // The proxy still accepts new flows after a cut.
    const again = await dial(proxy.port);
    again.write('y');
    await until(() => Buffer.concat(again.received).toString() === 'y');
  });

  it("cut('reset') resets both sides", async () => {
    const echo = await tcpEcho();
    const proxy = await proxyTo(echo.port, 'tcp');
    const socket = await dial(proxy.port);
    socket.write('x');
    await until(() => socket.received.length > 0);
    const serverSide = echo.sockets[0]!;
    const serverError = new Promise<NodeJS.ErrnoException>((resolve) =>
      serverSide.on('error', resolve),
    );
    const clientError = new Promise<NodeJS.ErrnoException>((resolve) =>
      socket.on('error', resolve),
    );
    proxy.cut('reset');
    expect((await clientError).code).toBe('ECONNRESET');
    expect((await serverError).code).toBe('ECONNRESET');
  });

  it('blackhole holds bytes back without losing any; restore delivers them', async () => {
    const echo = await tcpEcho();
    const proxy = await proxyTo(echo.port, 'tcp');
    const socket = await dial(proxy.port);
    proxy.blackhole();
    socket.write('abc');
    await sleep(150);
    expect(socket.received).toEqual([]);
    expect(proxy.counters.bytesUp).toBe(0);
    // A flow opened while blackholed waits too.
    const late = await dial(proxy.port);
    late.write('late');
    await sleep(100);
    expect(late.received).toEqual([]);
    proxy.restore();
    await until(() => Buffer.concat(socket.received).toString() === 'abc');
    await until(() => Buffer.concat(late.received).toString() === 'late');
    expect(socket.destroyed).toBe(false);
  });
});

async function udpEcho(): Promise<number> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket.address().port;
}

async function udpClient(): Promise<UdpSocket & { received: string[] }> {
  const socket = createSocket('udp4') as UdpSocket & { received: string[] };
  socket.received = [];
  socket.on('message', (msg) => socket.received.push(msg.toString()));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

describe('cut proxy, UDP', () => {
  it('forwards, and a cut kills the flow for good while a new socket works', async () => {
    const port = await udpEcho();
    const proxy = await proxyTo(port, 'udp');
    const a = await udpClient();
    a.send('one', proxy.port, '127.0.0.1');
    await until(() => a.received.includes('one'));
    expect(proxy.cut()).toBe(1);
    a.send('two', proxy.port, '127.0.0.1');
    await sleep(100);
    expect(a.received).toEqual(['one']);
    expect(proxy.counters.dropped).toBeGreaterThan(0);
    const b = await udpClient();
    b.send('three', proxy.port, '127.0.0.1');
    await until(() => b.received.includes('three'));
    expect(proxy.openFlows).toBe(1);
  });

  it('blackhole drops every datagram until restore', async () => {
    const port = await udpEcho();
    const proxy = await proxyTo(port, 'udp');
    const a = await udpClient();
    proxy.blackhole();
    a.send('lost', proxy.port, '127.0.0.1');
    await sleep(100);
    expect(a.received).toEqual([]);
    proxy.restore();
    a.send('kept', proxy.port, '127.0.0.1');
    await until(() => a.received.includes('kept'));
    expect(a.received).toEqual(['kept']);
  });
});

describe('cut proxy under a Tidewire client', () => {
  it('a TCP cut closes the client and the server with link codes', async () => {
    const server = await startEchoServer();
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server.tcpPort, 'tcp');
    const closes: string[] = [];
    server.onDisconnect((reason) => closes.push(reason));
    const client = await connect({
      endpointUrl: `http://127.0.0.1:${server.httpPort}`,
      uid: 'cut-tcp',
      fetch: proxyFetch(proxy.port),
      reconnect: false, // what the transport reports, without the client's reconnect
    });
    cleanups.push(() => client.close());
    expect((await client.request(2, 1, Buffer.from('a'))).payload.toString()).toBe('a');
    const closed = once(client, 'close');
    proxy.cut('reset');
    const [info] = (await closed) as [{ code: string }];
    expect(info.code).toBe('TIDEWIRE_ERR_CONNECTION_RESET');
    await until(() => closes.length === 1);
    expect(closes).toEqual(['TIDEWIRE_ERR_CONNECTION_RESET']);
  });

  it('a UDP cut leaves the client to its idle timeout', async () => {
    const server = await startEchoServer();
    cleanups.push(() => server.close());
    const proxy = await proxyTo(server.udpPort, 'udp');
    const client = await connect({
      endpointUrl: `http://127.0.0.1:${server.httpPort}`,
      uid: 'cut-udp',
      transport: 'udp',
      keepAliveIntervalMs: 200,
      fetch: proxyFetch(proxy.port),
      reconnect: false,
    });
    cleanups.push(() => client.close());
    expect((await client.request(2, 1, Buffer.from('a'))).payload.toString()).toBe('a');
    const closed = once(client, 'close');
    proxy.cut();
    const [info] = (await closed) as [{ code: string }];
    expect(['TIDEWIRE_ERR_IDLE_TIMEOUT', 'TIDEWIRE_ERR_PEER_GONE']).toContain(info.code);
  });
});

/** A fetch that rewrites the session's port to the proxy's, so the client dials through it. */
function proxyFetch(port: number): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const body = (await response.json()) as Record<string, unknown>;
    return new Response(JSON.stringify({ ...body, port }), {
      status: response.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dialWs, listenWs, WsErrorCode } from '../src/index.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback TCP server that hands each accepted socket to `onSocket`. */
async function tcpServer(onSocket: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves when the peer of a server-side socket has gone (its end or reset read). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.once('close', () => resolve());
    socket.resume();
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  throw new Error('dialWs resolved');
}

describe('dialWs errors', () => {
  it('nothing listening: CONNECT_FAILED (the node is gone)', async () => {
    const port = await closedPort();
    expect(await codeOf(dialWs({ url: `ws://127.0.0.1:${port}/v1/ws` }))).toBe(
      WsErrorCode.ConnectFailed,
    );
  });

  it('the server refuses the upgrade with an HTTP status: CONNECT_FAILED', async () => {
    const http = createHttpServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const listener = await listenWs(
      { server: http, verifyUpgrade: () => ({ status: 503, reason: 'full' }) },
      () => {},
    );
    cleanups.push(async () => {
      await listener.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    const { port } = http.address() as { port: number };
    expect(await codeOf(dialWs({ url: `ws://127.0.0.1:${port}/v1/ws` }))).toBe(
      WsErrorCode.ConnectFailed,
    );
  });

  it('a path that accepts and then stalls: CONNECT_TIMEOUT after connectTimeoutMs, the socket closed', async () => {
    const accepted: Socket[] = [];
    const port = await tcpServer((socket) => accepted.push(socket));
    const code = await codeOf(
      dialWs({ url: `ws://127.0.0.1:${port}/v1/ws`, connectTimeoutMs: 200 }),
    );
    expect(code).toBe(WsErrorCode.ConnectTimeout);
    expect(accepted).toHaveLength(1);
    // The dialer gave its socket up: the server side sees the end.
    await closed(accepted[0]!);
  });

  it('a connection reset during the opening handshake: SOCKET (a link loss, worth another attempt)', async () => {
    const port = await tcpServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    expect(await codeOf(dialWs({ url: `ws://127.0.0.1:${port}/v1/ws` }))).toBe(
      WsErrorCode.SocketClosed,
    );
  });

  it('a connection closed before the upgrade answer: SOCKET', async () => {
    const port = await tcpServer((socket) => socket.once('data', () => socket.end()));
    expect(await codeOf(dialWs({ url: `ws://127.0.0.1:${port}/v1/ws` }))).toBe(
      WsErrorCode.SocketClosed,
    );
  });

  it('an aborted signal rejects with its reason and closes the socket', async () => {
    const accepted: Socket[] = [];
    const port = await tcpServer((socket) => accepted.push(socket));
    const aborter = new AbortController();
    const dialing = dialWs({ url: `ws://127.0.0.1:${port}/v1/ws`, signal: aborter.signal });
    await expect.poll(() => accepted.length).toBe(1);
    aborter.abort(new Error('stop'));
    await expect(dialing).rejects.toThrow('stop');
    await closed(accepted[0]!);
  });
});

import { createServer, type Server } from 'node:http';
import { CORE_VER, CoreCommand, encodeFrame, type Frame, packFrame, Status } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { dialWs, listenWs, type WsListener, type WsListenerOptions } from '../src/index.ts';

let http: Server | null = null;
let listener: WsListener | null = null;

afterEach(async () => {
  await listener?.close();
  listener = null;
  const server = http;
  http = null;
  if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** An echo listener attached to a fresh HTTP server on an ephemeral port. */
async function echo(options: Omit<WsListenerOptions, 'server'> = {}): Promise<string> {
  const server = createServer((_req, res) => res.end('ok'));
  http = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  listener = await listenWs({ ...options, server }, (connection) => {
    connection.onFrame = (frame, conn) => {
      conn.send(encodeFrame(frame.ver, frame.cmd, Status.Ok, frame.payload));
    };
  });
  const { port } = server.address() as { port: number };
  return `ws://127.0.0.1:${port}${listener.path}`;
}

function closeOf(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
}

describe('listenWs', () => {
  it('answers each frame of a binary message holding several whole frames', async () => {
    const url = await echo();
    const connection = await dialWs({ url });
    const frames: Frame[] = [];
    connection.onFrame = (frame) => frames.push(frame);
    const two = Buffer.concat([
      encodeFrame(2, 10, Status.Request, Buffer.from('a')),
      encodeFrame(2, 11, Status.Request, Buffer.from('bc')),
    ]);
    expect(connection.send(two)).toBe(true);
    await expect.poll(() => frames.length).toBe(2);
    expect(frames.map((f) => [f.cmd, f.status, f.payload.toString()])).toEqual([
      [10, Status.Ok, 'a'],
      [11, Status.Ok, 'bc'],
    ]);
    await connection.close();
  });

  it('closes a text message with 1003', async () => {
    const socket = new WebSocket(await echo());
    await opened(socket);
    const closed = closeOf(socket);
    socket.send('hello');
    expect(await closed).toEqual({ code: 1003, reason: 'TIDEWIRE_ERR_TEXT_MESSAGE' });
  });

  it('closes a message over maxMessageBytes with 1009', async () => {
    const socket = new WebSocket(await echo({ maxPayloadLength: 100 }));
    await opened(socket);
    const closed = closeOf(socket);
    socket.send(Buffer.alloc(200));
    expect((await closed).code).toBe(1009);
  });

  it('closes a bad frame with 1002 after a disconnect frame naming the wire code', async () => {
    const socket = new WebSocket(await echo());
    await opened(socket);
    const messages: Buffer[] = [];
    socket.on('message', (data) => messages.push(data as Buffer));
    const closed = closeOf(socket);
    socket.send(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    expect(await closed).toEqual({ code: 1002, reason: 'TIDEWIRE_ERR_BAD_MAGIC' });
    expect(messages[0]?.subarray(0, 6)).toEqual(
      packFrame(CORE_VER, CoreCommand.Disconnect, Status.Push, {}).subarray(0, 6),
    );
  });

  it('closes a frame split across two messages with 1002 (frames are whole per message)', async () => {
    const socket = new WebSocket(await echo());
    await opened(socket);
    const closed = closeOf(socket);
    socket.send(encodeFrame(2, 1, 0, Buffer.alloc(20)).subarray(0, 15));
    expect(await closed).toEqual({ code: 1002, reason: 'TIDEWIRE_ERR_TRUNCATED' });
  });

  it('refuses an Origin not allowed with 403, and allows its own host and localhost', async () => {
    const url = await echo();
    const refused = new WebSocket(url, { origin: 'https://evil.example' });
    const status = await new Promise<number>((resolve) =>
      refused.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      }),
    );
    expect(status).toBe(403);
    const local = new WebSocket(url, { origin: 'http://localhost:5173' });
    await opened(local);
    local.close();
    const { port } = new URL(url);
    const own = new WebSocket(url, { origin: `http://127.0.0.1:${port}` });
    await opened(own);
    own.close();
  });

  it('lets verifyUpgrade refuse before the upgrade', async () => {
    const url = await echo({
      verifyUpgrade: (req) => (req.url?.includes('ok') ? null : { status: 401, reason: 'no' }),
    });
    const socket = new WebSocket(url);
    const status = await new Promise<number>((resolve) =>
      socket.once('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      }),
    );
    expect(status).toBe(401);
  });

  it('closes a connection that sends nothing for idleTimeoutMs', async () => {
    const socket = new WebSocket(await echo({ idleTimeoutMs: 100 }));
    await opened(socket);
    expect(await closeOf(socket)).toEqual({ code: 4000, reason: 'TIDEWIRE_ERR_IDLE_TIMEOUT' });
  });

  it('reports backpressure and drops a slow consumer past maxBufferedBytes', async () => {
    const server = createServer();
    http = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let closeCode = '';
    let results: boolean[] = [];
    listener = await listenWs({ server, maxBufferedBytes: 256 * 1024 }, (connection) => {
      connection.onClose = (info) => {
        closeCode = info.code;
      };
      connection.onFrame = (_frame, conn) => {
        const big = encodeFrame(2, 1, Status.Push, Buffer.alloc(60_000));
        results = [];
        for (let i = 0; i < 100 && !conn.closed; i++) results.push(conn.send(big));
      };
    });
    const { port } = server.address() as { port: number };
    const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`);
    await opened(socket);
    socket.pause();
    socket.send(encodeFrame(2, 1, Status.Request));
    await expect.poll(() => closeCode, { timeout: 5000 }).toBe('TIDEWIRE_ERR_SLOW_CONSUMER');
    expect(results).toContain(false);
    socket.terminate();
  });

  it('closes its connections with 1001 on close()', async () => {
    const socket = new WebSocket(await echo());
    await opened(socket);
    const closed = closeOf(socket);
    await listener?.close();
    expect(await closed).toEqual({ code: 1001, reason: 'TIDEWIRE_ERR_SERVER_CLOSING' });
  });
});

/**
 * Bad input over the WebSocket transport (protocol section 14): every case
 * gets its exact close code (and the Tidewire code as the close reason where
 * the protocol sends one), and a well-behaved user connected at the same time
 * keeps its connection and gets its answers.
 */
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { connect, type TidewireClient } from '@tidewire/client';
import type { WsConnection } from '@tidewire/transport-ws';
import {
  CORE_VER,
  CoreCommand,
  decodeFrames,
  encodeFrame,
  type Frame,
  Status,
  unpack,
} from '@tidewire/wire';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ServerConfigInput, TidewireServer } from '../src/index.ts';
import { startEchoServer } from './echo-server.ts';
import { endpointOf, getSession } from './helpers.ts';

let server: TidewireServer | undefined;
/**
 * The server side's WebSocket connections (the channels also see the good
 * user's client end, whose remote port is the server's): how many opened,
 * and the Tidewire code of each that ended.
 */
let serverCloses: string[] = [];
let serverOpens = 0;
const serverSide = (message: unknown): boolean =>
  (message as { connection: WsConnection }).connection.remotePort !== server?.httpPort;
const onServerClose = (message: unknown): void => {
  if (serverSide(message)) serverCloses.push((message as { code: string }).code);
};
const onServerOpen = (message: unknown): void => {
  if (serverSide(message)) serverOpens++;
};

beforeEach(() => {
  serverCloses = [];
  serverOpens = 0;
  subscribe('tidewire:ws:close', onServerClose);
  subscribe('tidewire:ws:connection', onServerOpen);
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  unsubscribe('tidewire:ws:close', onServerClose);
  unsubscribe('tidewire:ws:connection', onServerOpen);
});

/** The echo node (TCP, UDP, WS on the HTTP port, command 2/1); the session endpoint is not rate limited. */
function wsServer(config: ServerConfigInput = {}): Promise<TidewireServer> {
  return startEchoServer({ ...config, http: { rateLimit: 0, ...config.http } });
}

function wsUrl(s: TidewireServer): string {
  return `ws://127.0.0.1:${s.httpPort}/v1/ws`;
}

interface WsClose {
  code: number;
  reason: string;
}

/** A raw `ws` client: every binary message it got, and its close. */
interface Peer {
  socket: WebSocket;
  messages: Buffer[];
  closed: Promise<WsClose>;
}

async function open(url: string, options: WebSocket.ClientOptions = {}): Promise<Peer> {
  const socket = new WebSocket(url, options);
  const messages: Buffer[] = [];
  socket.on('message', (data: Buffer) => messages.push(data));
  const closed = new Promise<WsClose>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages, closed };
}

/** Every frame of every message, in order. */
function framesOf(messages: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const message of messages) decodeFrames(message, (frame) => frames.push(frame));
  return frames;
}

function helloFrame(sidBytes: Buffer): Buffer {
  return encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, sidBytes);
}

/** Says hello with `sid` and resolves once the hello answer came. */
async function sayHello(peer: Peer, sid: string): Promise<Frame> {
  const answered = new Promise<Frame>((resolve) =>
    peer.socket.once('message', (data: Buffer) => {
      decodeFrames(data, resolve);
    }),
  );
  peer.socket.send(helloFrame(Buffer.from(sid, 'hex')));
  return answered;
}

async function session(s: TidewireServer, uid: string, transport = 'ws'): Promise<string> {
  const { status, body } = await getSession(s, uid, transport);
  expect(status).toBe(200);
  return String(body.sid);
}

/** A user that said hello over a raw socket: answers 2/1 round trips. */
async function admitted(s: TidewireServer, uid: string): Promise<Peer> {
  const peer = await open(wsUrl(s));
  const answer = await sayHello(peer, await session(s, uid));
  expect(answer.status).toBe(Status.Ok);
  return peer;
}

async function rawRoundTrip(peer: Peer, text: string): Promise<string> {
  const answered = new Promise<Frame>((resolve) =>
    peer.socket.once('message', (data: Buffer) => {
      decodeFrames(data, resolve);
    }),
  );
  peer.socket.send(encodeFrame(2, 1, Status.Request, Buffer.from(text)));
  const frame = await answered;
  expect(frame.status).toBe(Status.Ok);
  return frame.payload.toString();
}

/** A well-behaved WS user connected through the client, reconnect off: any loss shows. */
interface GoodUser {
  client: TidewireClient;
  /** Asserts the user kept its connection and still gets its answers, then closes it. */
  stillServed(): Promise<void>;
}

async function goodUser(s: TidewireServer, keepAliveIntervalMs = 0): Promise<GoodUser> {
  const client = await connect({
    endpointUrl: endpointOf(s),
    uid: 'good-user',
    transport: 'ws',
    keepAliveIntervalMs,
    reconnect: false,
  });
  const losses: string[] = [];
  client.on('close', (info) => losses.push(info.code));
  return {
    client,
    async stillServed() {
      const body = Buffer.from(`still here ${randomBytes(4).toString('hex')}`);
      const answer = await client.request(2, 1, body, { timeoutMs: 5000 });
      expect(Buffer.from(answer.payload).equals(body)).toBe(true);
      expect(losses).toEqual([]);
      expect(client.closed).toBe(false);
      await client.close();
    },
  };
}

/** The refusal of a hello: a Bad answer naming `code`, a disconnect frame, then close 4000 with `code`. */
async function expectHelloRefused(peer: Peer, code: string): Promise<void> {
  expect(await peer.closed).toEqual({ code: 4000, reason: code });
  const frames = framesOf(peer.messages);
  expect(frames.map((f) => [f.ver, f.cmd, f.status])).toEqual([
    [CORE_VER, CoreCommand.Hello, Status.Bad],
    [CORE_VER, CoreCommand.Disconnect, Status.Push],
  ]);
  expect(unpack(frames[0]!.payload)).toMatchObject({ code });
  expect(unpack(frames[1]!.payload)).toMatchObject({ code });
}

/** A close for a bad frame: a disconnect frame naming `code` (the last frame), then the close. */
async function expectBadFrameClose(peer: Peer, wsCode: number, code: string): Promise<void> {
  expect(await peer.closed).toEqual({ code: wsCode, reason: code });
  const last = framesOf(peer.messages).at(-1);
  expect([last?.ver, last?.cmd, last?.status]).toEqual([
    CORE_VER,
    CoreCommand.Disconnect,
    Status.Push,
  ]);
  expect(unpack(last!.payload)).toMatchObject({ code });
}

/** Waits until the server saw `n` WebSocket connections end. */
async function serverClosed(n: number): Promise<void> {
  await expect.poll(() => serverCloses.length, { timeout: 5000 }).toBe(n);
}

/**
 * Upgrades a plain TCP socket by hand: what a client can send that `ws`
 * would not (a WebSocket frame header announcing any length).
 */
async function rawUpgrade(s: TidewireServer): Promise<Socket> {
  const req = request({
    host: '127.0.0.1',
    port: s.httpPort,
    path: '/v1/ws',
    headers: {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': randomBytes(16).toString('base64'),
    },
  });
  req.end();
  const [, socket] = (await once(req, 'upgrade')) as [unknown, Socket];
  return socket;
}

/** A masked binary WebSocket frame header with a 64-bit payload length, and no payload. */
function messageHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x82; // FIN, binary
  header[1] = 0x80 | 127; // masked, 64-bit length follows
  header.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(header, 10);
  return header;
}

describe('bad input over the WebSocket transport', () => {
  it('a hello without a sid: Bad TIDEWIRE_ERR_SESSION_INVALID, close 4000; others unaffected', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const bad = await open(wsUrl(server));
    bad.socket.send(helloFrame(Buffer.alloc(0)));
    await expectHelloRefused(bad, 'TIDEWIRE_ERR_SESSION_INVALID');
    await serverClosed(1);
    expect(serverCloses).toEqual(['TIDEWIRE_ERR_SESSION_INVALID']);
    expect(server.ccu).toBe(1);
    await good.stillServed();
  });

  it('a hello with an unknown sid: close 4000 TIDEWIRE_ERR_SESSION_INVALID; others unaffected', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const bad = await open(wsUrl(server));
    bad.socket.send(helloFrame(randomBytes(16)));
    await expectHelloRefused(bad, 'TIDEWIRE_ERR_SESSION_INVALID');
    expect(server.ccu).toBe(1);
    await good.stillServed();
  });

  it('a sid issued for TCP, said over WS: close 4000 TIDEWIRE_ERR_SESSION_INVALID', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const bad = await open(wsUrl(server));
    bad.socket.send(helloFrame(Buffer.from(await session(server, 'tcp-user', 'tcp'), 'hex')));
    await expectHelloRefused(bad, 'TIDEWIRE_ERR_SESSION_INVALID');
    await good.stillServed();
  });

  it('a reused sid: close 4000 TIDEWIRE_ERR_SESSION_INVALID; the sid holder and others unaffected', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const sid = await session(server, 'holder');
    const holder = await open(wsUrl(server));
    expect((await sayHello(holder, sid)).status).toBe(Status.Ok);
    const reuse = await open(wsUrl(server));
    reuse.socket.send(helloFrame(Buffer.from(sid, 'hex')));
    await expectHelloRefused(reuse, 'TIDEWIRE_ERR_SESSION_INVALID');
    expect(await rawRoundTrip(holder, 'holder still here')).toBe('holder still here');
    expect(server.ccu).toBe(2);
    await good.stillServed();
    holder.socket.close();
    await holder.closed;
  });

  it('a first frame that is not a hello: close 4000 TIDEWIRE_ERR_HELLO_REQUIRED', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const bad = await open(wsUrl(server));
    bad.socket.send(encodeFrame(2, 1, Status.Request, Buffer.from('no hello')));
    await expectHelloRefused(bad, 'TIDEWIRE_ERR_HELLO_REQUIRED');
    await good.stillServed();
  });

  it('an upgrade that never says hello: close 4000 TIDEWIRE_ERR_IDLE_TIMEOUT after connectionTTL', async () => {
    server = await wsServer({ ws: { connectionTTL: 0.3 } });
    const good = await goodUser(server, 100);
    const silent = await open(wsUrl(server));
    expect(await silent.closed).toEqual({ code: 4000, reason: 'TIDEWIRE_ERR_IDLE_TIMEOUT' });
    const frames = framesOf(silent.messages);
    expect(frames.map((f) => [f.cmd, f.status])).toEqual([[CoreCommand.Disconnect, Status.Push]]);
    expect(unpack(frames[0]!.payload)).toMatchObject({ code: 'TIDEWIRE_ERR_IDLE_TIMEOUT' });
    await good.stillServed();
    // Bounded well above 0.3 s and below the transport's default TTL (10 s):
    // a node that ignored `ws.connectionTTL` fails here.
  }, 5_000);

  it('an Origin not allowed: HTTP 403 on the upgrade, no connection made; others unaffected', async () => {
    server = await wsServer({ ws: { allowedOrigins: ['https://game.example'] } });
    const good = await goodUser(server);
    const opensBefore = serverOpens;
    const socket = new WebSocket(wsUrl(server), { origin: 'https://evil.example' });
    const refusal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      socket.once('open', () => reject(new Error('the upgrade was accepted')));
      socket.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
          req.destroy();
        });
      });
    });
    expect(refusal).toEqual({ status: 403, body: 'origin not allowed' });
    expect(serverOpens).toBe(opensBefore);
    const allowed = await open(wsUrl(server), { origin: 'https://game.example' });
    allowed.socket.close();
    await allowed.closed;
    await good.stillServed();
  });

  it.each([
    ['before the hello', false],
    ['after the hello', true],
  ])(
    'a text message %s: close 1003 TIDEWIRE_ERR_TEXT_MESSAGE, no disconnect frame',
    async (_when, afterHello) => {
      server = await wsServer();
      const good = await goodUser(server);
      const bad = afterHello ? await admitted(server, 'texter') : await open(wsUrl(server));
      const before = bad.messages.length;
      bad.socket.send('{"cmd":"hello"}');
      expect(await bad.closed).toEqual({ code: 1003, reason: 'TIDEWIRE_ERR_TEXT_MESSAGE' });
      expect(bad.messages.length).toBe(before);
      await serverClosed(1);
      expect(serverCloses).toEqual(['TIDEWIRE_ERR_TEXT_MESSAGE']);
      await expect.poll(() => server?.ccu).toBe(1);
      await good.stillServed();
    },
  );

  it.each([
    ['before the hello', false],
    ['after the hello', true],
  ])(
    'a message over the limit %s: close 1009 (ws, no reason) TIDEWIRE_ERR_MESSAGE_TOO_LARGE',
    async (_when, afterHello) => {
      server = await wsServer({ ws: { maxRcvSize: 1024 } });
      const good = await goodUser(server);
      const bad = afterHello ? await admitted(server, 'big') : await open(wsUrl(server));
      bad.socket.send(Buffer.alloc(1024 + 11));
      // `ws` closes by itself (maxPayload): code 1009, no reason, no disconnect frame.
      expect(await bad.closed).toEqual({ code: 1009, reason: '' });
      await serverClosed(1);
      expect(serverCloses).toEqual(['TIDEWIRE_ERR_MESSAGE_TOO_LARGE']);
      await expect.poll(() => server?.ccu).toBe(1);
      await good.stillServed();
    },
  );

  it('a message whose header announces more than the limit is closed with 1009 before its payload', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const socket = await rawUpgrade(server);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = once(socket, 'close');
    // Only the header, one byte over maxRcvSize (64 KiB) + 10: a server that
    // waited for the payload would never answer.
    socket.write(messageHeader(64 * 1024 + 11));
    await ended;
    const reply = Buffer.concat(received);
    // An unmasked close frame (0x88) whose 2-byte payload is the code 1009.
    expect([reply[0], reply[1], reply.readUInt16BE(2)]).toEqual([0x88, 2, 1009]);
    await serverClosed(1);
    expect(serverCloses).toEqual(['TIDEWIRE_ERR_MESSAGE_TOO_LARGE']);
    await good.stillServed();
  });

  const badFrames: [string, number, string, () => Buffer][] = [
    [
      'garbage (bad magic)',
      1002,
      'TIDEWIRE_ERR_BAD_MAGIC',
      () => Buffer.from('garbage, not a frame'),
    ],
    [
      'a frame cut by the end of its message',
      1002,
      'TIDEWIRE_ERR_TRUNCATED',
      () => encodeFrame(2, 1, Status.Request, Buffer.alloc(40)).subarray(0, 30),
    ],
    [
      'a header shorter than 10 bytes',
      1002,
      'TIDEWIRE_ERR_TRUNCATED',
      () => encodeFrame(2, 1, Status.Request).subarray(0, 6),
    ],
    [
      'a frame announcing a payload over maxRcvSize',
      1009,
      'TIDEWIRE_ERR_FRAME_TOO_LARGE',
      () => {
        const frame = encodeFrame(2, 1, Status.Request, Buffer.alloc(8));
        frame.writeUInt32BE(1024 + 1, 6);
        return frame;
      },
    ],
  ];
  for (const afterHello of [false, true]) {
    for (const [what, wsCode, code, bytes] of badFrames) {
      it(`${what} ${afterHello ? 'after' : 'before'} the hello: disconnect frame, close ${wsCode} ${code}`, async () => {
        server = await wsServer({ ws: { maxRcvSize: 1024 } });
        const good = await goodUser(server);
        const bad = afterHello ? await admitted(server, 'framer') : await open(wsUrl(server));
        bad.socket.send(bytes());
        await expectBadFrameClose(bad, wsCode, code);
        await serverClosed(1);
        expect(serverCloses).toEqual([code]);
        await good.stillServed();
      });
    }
  }

  it('a burst of 1,000 upgrades with no sid or a bad sid: all closed 4000, the server still serves, no socket left', async () => {
    server = await wsServer();
    const good = await goodUser(server);
    const opensBefore = serverOpens;
    const n = 1000;
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i): Promise<WsClose & { answers: number[] }> => {
        const socket = new WebSocket(wsUrl(server!));
        const statuses: number[] = [];
        socket.on('message', (data: Buffer) => {
          decodeFrames(data, (frame) => {
            if (frame.cmd === CoreCommand.Hello) statuses.push(frame.status);
          });
        });
        socket.once('open', () =>
          socket.send(helloFrame(i % 2 === 0 ? Buffer.alloc(0) : randomBytes(16))),
        );
        socket.on('error', () => {});
        const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
        return { code, reason: reason.toString(), answers: statuses };
      }),
    );
    const tally: Record<string, number> = {};
    for (const r of results) {
      const key = `${r.code} ${r.reason} ${r.answers.join(',')}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
    expect(tally).toEqual({ [`4000 TIDEWIRE_ERR_SESSION_INVALID ${Status.Bad}`]: n });
    // Every upgrade was accepted and every one of them ended on the server side too.
    expect(serverOpens - opensBefore).toBe(n);
    await serverClosed(n);
    expect(new Set(serverCloses)).toEqual(new Set(['TIDEWIRE_ERR_SESSION_INVALID']));
    expect(server.ccu).toBe(1);
    await good.stillServed();
    await serverClosed(n + 1);
  }, 30_000);
});

import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { requestSession } from '@tidewire/client';
import { dialUdp, type UdpConnection } from '@tidewire/transport-udp';
import {
  CORE_VER,
  CoreCommand,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_SIZE,
  openFrame,
  SessionCipher,
  Status,
  sealFrame,
} from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Ok, type TidewireServer } from '../src/index.ts';
import { endpointOf, waitFor } from './helpers.ts';

// Protocol section 9.2: commands sent together with the hello, before its
// answer, run once the hello is admitted, after its Ok; with a refused hello
// they are discarded. The same rule on every transport.

let server: TidewireServer;
let handled: string[];
const sockets: Socket[] = [];
const udp: UdpConnection[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(udp.splice(0).map((c) => c.close()));
  await server?.close();
});

async function start(): Promise<TidewireServer> {
  handled = [];
  const s = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } },
    env: {},
  });
  await s.setupAsTCPServer();
  await s.setupAsUDPServer();
  s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
    handled.push(payload.toString());
    user.send(ver, cmd, payload, Ok);
    next();
  });
  await s.start();
  return s;
}

const helloFrame = (sid: Buffer): Buffer =>
  encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, sid);
const command = (text: string): Buffer => encodeFrame(2, 1, Status.Request, Buffer.from(text));
const summary = (frames: Frame[]): string[] =>
  frames.map((f) => `${f.ver},${f.cmd},${f.status}${f.ver === 2 ? `,${f.payload}` : ''}`);

async function tcpSession(uid: string): Promise<{ sid: Buffer; port: number }> {
  const session = await requestSession({ endpointUrl: endpointOf(server), uid, transport: 'tcp' });
  return { sid: Buffer.from(session.sid, 'hex'), port: session.port };
}

async function rawTcp(port: number): Promise<{ socket: Socket; frames: Frame[] }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  socket.on('data', (chunk) => decoder.push(chunk, (f) => frames.push(f)));
  return { socket, frames };
}

describe('commands sent together with the hello', () => {
  it('over TCP run after the hello is admitted, in order, answered after its Ok', async () => {
    server = await start();
    const { sid, port } = await tcpSession('eager');
    const { socket, frames } = await rawTcp(port);
    // One write: the hello and two commands in the same segment.
    socket.write(Buffer.concat([helloFrame(sid), command('a'), command('b')]));
    await waitFor(() => frames.length >= 3, 3_000, 'three answers');
    expect(summary(frames)).toEqual(['0,4,1', '2,1,1,a', '2,1,1,b']);
    expect(handled).toEqual(['a', 'b']);
  });

  it('over TCP are discarded with a refused hello', async () => {
    server = await start();
    const { port } = await tcpSession('refused');
    const { socket, frames } = await rawTcp(port);
    const closed = once(socket, 'close');
    socket.write(Buffer.concat([helloFrame(Buffer.alloc(16, 7)), command('x')]));
    await closed;
    expect(frames[0]).toMatchObject({ ver: 0, cmd: CoreCommand.Hello, status: Status.Bad });
    expect(frames.filter((f) => f.ver === 2)).toEqual([]);
    expect(handled).toEqual([]);
  });

  it('over UDP run after the hello is admitted, in order, answered after its Ok', async () => {
    server = await start();
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'eager-udp',
      transport: 'udp',
    });
    const sid = Buffer.from(session.sid, 'hex');
    const conn = await dialUdp({ host: session.host, port: session.port, sid });
    udp.push(conn);
    const frames: Frame[] = [];
    conn.onFrame = (frame) => frames.push(frame);
    // The same turn of the event loop: one flight.
    conn.send(helloFrame(sid));
    conn.send(command('a'));
    conn.send(command('b'));
    await waitFor(() => frames.length >= 3, 3_000, 'three answers');
    expect(summary(frames)).toEqual(['0,4,1', '2,1,1,a', '2,1,1,b']);
    expect(handled).toEqual(['a', 'b']);
  });

  it('over UDP are discarded with a refused hello', async () => {
    server = await start();
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'refused-udp',
      transport: 'udp',
    });
    const conn = await dialUdp({
      host: session.host,
      port: session.port,
      sid: Buffer.from(session.sid, 'hex'),
    });
    udp.push(conn);
    const frames: Frame[] = [];
    conn.onFrame = (frame) => frames.push(frame);
    // A hello naming another sid than the handshake's is refused.
    conn.send(helloFrame(Buffer.alloc(16, 7)));
    conn.send(command('x'));
    await waitFor(() => conn.closed, 3_000, 'the refusal to close the connection');
    expect(frames[0]).toMatchObject({ ver: 0, cmd: CoreCommand.Hello, status: Status.Bad });
    expect(frames.filter((f) => f.ver === 2)).toEqual([]);
    expect(handled).toEqual([]);
  });

  it('more frames before the answer than commands.maxQueuedCommands close the connection', async () => {
    handled = [];
    server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0 }, commands: { maxQueuedCommands: 4 } },
      env: {},
    });
    await server.setupAsTCPServer();
    server.handleCommand(2, 1, (_ver, _cmd, payload, _user, next) => {
      handled.push(payload.toString());
      next();
    });
    await server.start();
    const { sid, port } = await tcpSession('flood');
    const { socket, frames } = await rawTcp(port);
    const closed = once(socket, 'close');
    const flood = Array.from({ length: 6 }, (_, i) => command(`c${i}`));
    socket.write(Buffer.concat([helloFrame(sid), ...flood]));
    await closed;
    const last = frames.at(-1);
    expect(last).toMatchObject({ ver: 0, cmd: CoreCommand.Disconnect });
    expect(last?.payload.toString()).toContain('TIDEWIRE_ERR_QUEUE_OVERFLOW');
    expect(handled).toEqual([]);
  });

  it('over TCP with encryption, sealed commands in the hello flight open in order and run', async () => {
    handled = [];
    server = createServer({
      config: { http: { port: 0 }, tcp: { port: 0, enableEncryption: true } },
      env: {},
    });
    await server.setupAsTCPServer();
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      handled.push(payload.toString());
      user.send(ver, cmd, payload, Ok);
      next();
    });
    await server.start();
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'sealed',
      transport: 'tcp',
    });
    expect(session.encryption).toBe(true);
    const cipher = new SessionCipher(Buffer.from(session.key, 'hex'), 'client');
    const sid = Buffer.from(session.sid, 'hex');
    const info = sealFrame(cipher, CORE_VER, CoreCommand.Hello, Status.Request, Buffer.alloc(0));
    const hello = encodeFrame(
      CORE_VER,
      CoreCommand.Hello,
      Status.Request,
      Buffer.concat([sid, info.subarray(HEADER_SIZE)]),
    );
    const a = sealFrame(cipher, 2, 1, Status.Request, Buffer.from('a'));
    const b = sealFrame(cipher, 2, 1, Status.Request, Buffer.from('b'));
    const { socket, frames } = await rawTcp(session.port);
    socket.write(Buffer.concat([hello, a, b]));
    await waitFor(() => frames.length >= 3, 3_000, 'three answers');
    const opened = frames.map((f) => openFrame(cipher, f));
    expect(summary(opened)).toEqual(['0,4,1', '2,1,1,a', '2,1,1,b']);
    expect(handled).toEqual(['a', 'b']);
  });
});

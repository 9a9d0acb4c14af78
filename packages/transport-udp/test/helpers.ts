import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { encodeFrame, type Frame } from '@tidewire/wire';
import { vi } from 'vitest';
import {
  type CloseInfo,
  dialUdp,
  listenUdp,
  type UdpClientConnection,
  type UdpConnection,
  type UdpDialOptions,
  type UdpListener,
  type UdpListenerOptions,
} from '../src/index.ts';

export interface TestServer {
  listener: UdpListener;
  accepted: UdpConnection[];
  /** sid hex -> key handed out (what the lead's ticket store would hold). */
  tickets: Map<string, Buffer>;
  ticket(): { sid: Buffer; key: Buffer };
  closes: Map<UdpConnection, CloseInfo>;
  nextConnection(): Promise<UdpConnection>;
}

export async function startServer(
  options: Partial<UdpListenerOptions> = {},
  onConnection?: (c: UdpConnection) => void,
): Promise<TestServer> {
  const tickets = new Map<string, Buffer>();
  const accepted: UdpConnection[] = [];
  const closes = new Map<UdpConnection, CloseInfo>();
  const waiting: ((c: UdpConnection) => void)[] = [];
  const listener = await listenUdp(
    {
      authenticate: (sid) => {
        const key = tickets.get(sid.toString('hex'));
        return key === undefined ? null : { key };
      },
      ...options,
    },
    (connection) => {
      accepted.push(connection);
      connection.onClose = (info) => closes.set(connection, info);
      onConnection?.(connection);
      waiting.shift()?.(connection);
    },
  );
  return {
    listener,
    accepted,
    tickets,
    closes,
    ticket() {
      const sid = randomBytes(16);
      const key = randomBytes(16);
      tickets.set(sid.toString('hex'), key);
      return { sid, key };
    },
    nextConnection() {
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

export async function dialTo(
  server: TestServer,
  options: Partial<UdpDialOptions> = {},
  target: { host: string; port: number } = { host: '127.0.0.1', port: server.listener.port },
): Promise<UdpClientConnection> {
  const { sid, key } = server.ticket();
  return dialUdp({ host: target.host, port: target.port, sid, key, ...options });
}

export function frame(index: number, size = 16): Buffer {
  const payload = Buffer.alloc(Math.max(4, size));
  payload.writeUInt32BE(index, 0);
  for (let i = 4; i < payload.length; i++) payload[i] = (index * 7 + i) & 0xff;
  return encodeFrame(2, 1, 0, payload);
}

export function indexOf(f: Frame): number {
  return f.payload.readUInt32BE(0);
}

export function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/** A raw UDP socket for hostile datagrams; collects every reply. */
export async function rawSocket(address = '127.0.0.1'): Promise<{
  socket: Socket;
  replies: Buffer[];
  close(): Promise<void>;
}> {
  const socket = createSocket('udp4');
  const replies: Buffer[] = [];
  socket.on('message', (msg) => replies.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return {
    socket,
    replies,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `body` while every `process.nextTick` callback that throws an Error
 * with `message` has that error collected instead of thrown (how the shared
 * timer and end-of-tick flush rethrow a handler's error); returns them.
 *
 * Vitest's worker swaps `process.nextTick` for its own calls to the main
 * process and puts back what it found one tick later: a spy installed in
 * between was replaced by the real function (and the error went uncaught)
 * when such a call happened as the test began. One turn of the event loop
 * first lets any such restore happen before the spy goes in.
 */
export async function catchTickErrors(
  message: string,
  body: () => Promise<void>,
): Promise<unknown[]> {
  await new Promise((resolve) => setImmediate(resolve));
  const caught: unknown[] = [];
  const realNextTick = process.nextTick.bind(process);
  const spy = vi.spyOn(process, 'nextTick').mockImplementation(((
    fn: (...args: unknown[]) => void,
    ...args: unknown[]
  ) => {
    realNextTick(() => {
      try {
        fn(...args);
      } catch (err) {
        if ((err as Error).message !== message) throw err;
        caught.push(err);
      }
    });
  }) as typeof process.nextTick);
  try {
    await body();
  } finally {
    spy.mockRestore();
  }
  return caught;
}

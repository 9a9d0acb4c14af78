/**
 * Shared pieces of the TCP benchmarks: a bare node:net echo server that does
 * the 10-byte-header framing by hand (the baseline), bare echo clients that
 * keep one request in flight each, and the alternating-rounds harness.
 */

import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import {
  CORE_VER,
  CoreCommand,
  encodeFrame,
  HEADER_SIZE,
  Status,
  writeHeader,
} from '@tidewire/wire';
import { median } from './stats.ts';

export const DURATION_MS = Number(process.env.BENCH_TIME_MS ?? 1000);
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

export interface Running {
  /** Stops issuing requests, waits for the ones in flight, closes everything; returns round trips. */
  stop(): Promise<number>;
}

/** Splits a byte stream into frames by hand: the same work FrameDecoder does, minimally. */
export function handFramer(
  onFrame: (chunk: Buffer, start: number, end: number) => void,
): (data: Buffer) => void {
  let pending: Buffer | null = null;
  return (data) => {
    let buffer = data;
    if (pending !== null) {
      buffer = Buffer.concat([pending, data]);
      pending = null;
    }
    let offset = 0;
    while (buffer.length - offset >= HEADER_SIZE) {
      if (buffer[offset] !== 0xd1 || buffer[offset + 1] !== 0xde) throw new Error('bad magic');
      const end = offset + HEADER_SIZE + buffer.readUInt32BE(offset + 6);
      if (end > buffer.length) break;
      onFrame(buffer, offset, end);
      offset = end;
    }
    if (offset < buffer.length) pending = Buffer.from(buffer.subarray(offset));
  };
}

/** The Ok frame answering the frame `chunk[start, end)`: same ver, cmd and payload. */
export function okReply(chunk: Buffer, start: number, end: number): Buffer {
  const length = end - start - HEADER_SIZE;
  const reply = Buffer.allocUnsafe(HEADER_SIZE + length);
  writeHeader(
    reply,
    0,
    chunk[start + 2]!,
    (chunk[start + 3]! << 8) | chunk[start + 4]!,
    Status.Ok,
    length,
  );
  chunk.copy(reply, HEADER_SIZE, start + HEADER_SIZE, end);
  return reply;
}

/** The baseline: a node:net server answering every frame with an Ok frame carrying the same payload. */
export async function startBareEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const serverSockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    serverSockets.add(socket);
    socket.on('close', () => serverSockets.delete(socket));
    socket.on('error', () => {});
    socket.on(
      'data',
      handFramer((chunk, start, end) => {
        socket.write(okReply(chunk, start, end));
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of serverSockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `clients` bare node:net clients, each keeping one `request` in flight.
 * `prepare` runs on each connected socket before the loop (a handshake).
 */
export async function startEchoClients(
  port: number,
  clients: number,
  request: Uint8Array,
  prepare: (socket: Socket, index: number) => Promise<void> = async () => {},
): Promise<Running> {
  let count = 0;
  let running = true;
  let inFlight = 0;
  let settle: (() => void) | null = null;
  const sockets = await Promise.all(
    Array.from({ length: clients }, async (_, index) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      await once(socket, 'connect');
      await prepare(socket, index);
      return socket;
    }),
  );
  for (const socket of sockets) {
    socket.on(
      'data',
      handFramer(() => {
        count++;
        if (running) socket.write(request);
        else if (--inFlight === 0) settle?.();
      }),
    );
  }
  for (const socket of sockets) socket.write(request);
  return {
    async stop() {
      running = false;
      inFlight = clients;
      await new Promise<void>((resolve) => {
        settle = resolve;
      });
      const total = count;
      await Promise.all(
        sockets.map((socket) => {
          socket.end();
          return once(socket, 'close');
        }),
      );
      return total;
    },
  };
}

/** Baseline server and clients together: the bare node:net echo, `clients` strong. */
export async function startBareEcho(clients: number, request: Uint8Array): Promise<Running> {
  const server = await startBareEchoServer();
  const running = await startEchoClients(server.port, clients, request);
  return {
    async stop() {
      const total = await running.stop();
      await server.close();
      return total;
    },
  };
}

/**
 * The session step over HTTP: asks the server at `endpoint` (e.g.
 * `http://127.0.0.1:7000`) for a TCP session for user `uid`; resolves the
 * session id (hex), rejects when the server refuses.
 */
export async function fetchTcpSession(endpoint: string, uid: string): Promise<string> {
  const res = await fetch(`${endpoint}/v1/endpoint/tcp/user/${uid}`);
  if (!res.ok) throw new Error(`session refused: ${res.status}`);
  const { sid } = (await res.json()) as { sid: string };
  return sid;
}

/**
 * Says hello on a raw socket with the session id `sid` (hex) and waits for
 * the answer: resolves on Ok, rejects on a refusal or a close. The server
 * sends nothing else before the answer, and the caller nothing after the hello
 * until this resolves.
 */
export function sayHello(socket: Socket, sid: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < HEADER_SIZE || buffered.length < HEADER_SIZE + buffered.readUInt32BE(6))
        return;
      socket.off('data', onData);
      socket.off('close', onClose);
      if (buffered[5] === Status.Ok) resolve();
      else reject(new Error('hello refused'));
    };
    const onClose = (): void => reject(new Error('closed during hello'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(sid, 'hex')));
  });
}

/** Runs one implementation for DURATION_MS and returns its round trips per second. */
export async function measure(
  start: (clients: number) => Promise<Running>,
  clients: number,
): Promise<number> {
  const running = await start(clients);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const trips = await running.stop();
  return trips / ((performance.now() - started) / 1000);
}

/**
 * Compares `ours` with `baseline` at each client count: one warm-up run each,
 * then ROUNDS alternating rounds; returns a table row per count with medians
 * and the ratio, and the ratios as numbers (for the goal lines).
 */
export async function compareEcho(
  labels: { ours: string; baseline: string },
  ours: (clients: number) => Promise<Running>,
  baseline: (clients: number) => Promise<Running>,
  clientCounts: readonly number[],
): Promise<{ rows: Record<string, string>[]; ratios: { clients: number; ratio: number }[] }> {
  const rows: Record<string, string>[] = [];
  const ratios: { clients: number; ratio: number }[] = [];
  for (const clients of clientCounts) {
    await measure(ours, clients);
    await measure(baseline, clients);
    const oursSamples: number[] = [];
    const baseSamples: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        oursSamples.push(await measure(ours, clients));
        baseSamples.push(await measure(baseline, clients));
      } else {
        baseSamples.push(await measure(baseline, clients));
        oursSamples.push(await measure(ours, clients));
      }
    }
    const a = median(oursSamples);
    const b = median(baseSamples);
    rows.push({
      clients: String(clients),
      [`${labels.ours} round trips/s`]: Math.round(a).toLocaleString('en-US'),
      [`${labels.baseline} round trips/s`]: Math.round(b).toLocaleString('en-US'),
      ratio: `${(a / b).toFixed(2)}x`,
    });
    ratios.push({ clients, ratio: a / b });
  }
  return { rows, ratios };
}

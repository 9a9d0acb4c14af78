import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { encodeFrame } from '@tidewire/wire';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listenTcp, TcpConnection, type TcpListener } from '../src/index.ts';
import { nextTick, type RawClient, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

async function burstInOrder(coalesceWrites: boolean): Promise<void> {
  listener = await listenTcp({ coalesceWrites }, () => {});
  const client = await rawClient(listener.port);
  await waitFor(() => listener!.connections.size === 1);
  const [connection] = [...listener.connections];
  // 200 frames sent in one tick, payloads of varying size.
  for (let i = 0; i < 200; i++) {
    expect(connection!.send(encodeFrame(2, i, 0xff, new Uint8Array(i % 37).fill(i & 0xff)))).toBe(
      true,
    );
  }
  await waitFor(() => client.frames.length === 200);
  for (const [i, frame] of client.frames.entries()) {
    expect(frame.cmd).toBe(i);
    expect(frame.payload).toEqual(Buffer.alloc(i % 37, i & 0xff));
  }
  client.socket.destroy();
}

/** A connection wrapping a socket the test can inspect, and the raw client at the other end. */
async function wrappedPair(coalesceWrites: boolean): Promise<{
  connection: TcpConnection;
  socket: Socket;
  client: RawClient;
  cleanup: () => Promise<void>;
}> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = await rawClient((server.address() as AddressInfo).port);
  const [socket] = (await accepted) as [Socket];
  const connection = new TcpConnection(socket, { coalesceWrites, idleTimeoutMs: 0 });
  return {
    connection,
    socket,
    client,
    cleanup: async () => {
      client.socket.destroy();
      await connection.whenClosed();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('write coalescing', () => {
  it('writes the first send of a tick at once and corks later ones until the tick ends', async () => {
    const { connection, socket, cleanup } = await wrappedPair(true);
    const frame = encodeFrame(2, 1, 0);
    connection.send(frame);
    expect(socket.writableCorked).toBe(0);
    connection.send(frame);
    expect(socket.writableCorked).toBe(1);
    connection.send(frame);
    expect(socket.writableCorked).toBe(1);
    await nextTick();
    expect(socket.writableCorked).toBe(0);
    connection.send(frame);
    expect(socket.writableCorked).toBe(0);
    await cleanup();
  });

  it('costs request/response traffic no tick callback: one answer per read is written at once', async () => {
    /** Tick callbacks scheduled while the answer to each of 20 requests is sent, and the bytes left queued after it. */
    async function answer(coalesceWrites: boolean): Promise<{ ticks: number[]; queued: number[] }> {
      const ticks: number[] = [];
      const queued: number[] = [];
      const server = await listenTcp({ coalesceWrites }, (connection) => {
        connection.onFrame = (f) => {
          const spy = vi.spyOn(process, 'nextTick');
          try {
            connection.sendFrame(f.ver, f.cmd, 1, f.payload);
            ticks.push(spy.mock.calls.length);
          } finally {
            spy.mockRestore();
          }
          queued.push(connection.bufferedBytes);
        };
      });
      const client = await rawClient(server.port);
      for (let i = 0; i < 20; i++) {
        client.socket.write(encodeFrame(2, i, 0, new Uint8Array(8)));
        await waitFor(() => client.frames.length === i + 1);
      }
      client.socket.destroy();
      await server.close({ graceMs: 100 });
      return { ticks, queued };
    }
    const coalesced = await answer(true);
    const plain = await answer(false);
    // the same tick callbacks as without coalescing (Node's own write bookkeeping)
    expect(coalesced.ticks).toEqual(plain.ticks);
    // and nothing held back: each answer went to the kernel at once
    expect(coalesced.queued).toEqual(new Array(20).fill(0));
  });

  it('answers the frames of one read in one write: the socket is corked before the first is delivered', async () => {
    const { connection, socket, client, cleanup } = await wrappedPair(true);
    const corkedAtFrame: number[] = [];
    connection.onFrame = (f) => {
      corkedAtFrame.push(socket.writableCorked);
      connection.sendFrame(f.ver, f.cmd, 1, f.payload);
    };
    // three frames in one write: one read on the server
    client.socket.write(
      Buffer.concat([0, 1, 2].map((i) => encodeFrame(2, i, 0, new Uint8Array(4).fill(i)))),
    );
    await waitFor(() => client.frames.length === 3);
    expect(corkedAtFrame).toEqual([1, 1, 1]);
    expect(client.frames.map((f) => f.cmd)).toEqual([0, 1, 2]);
    // a read with one frame is answered at once, uncorked
    client.socket.write(encodeFrame(2, 3, 0));
    await waitFor(() => client.frames.length === 4);
    expect(corkedAtFrame.at(-1)).toBe(0);
    await cleanup();
  });

  it('never corks with coalesceWrites: false', async () => {
    const { connection, socket, cleanup } = await wrappedPair(false);
    const frame = encodeFrame(2, 1, 0);
    for (let i = 0; i < 5; i++) connection.send(frame);
    expect(socket.writableCorked).toBe(0);
    await cleanup();
  });

  it('delivers a 200-frame burst of one tick in order, coalesced or not', async () => {
    await burstInOrder(true);
    await listener!.close();
    await burstInOrder(false);
  });
});

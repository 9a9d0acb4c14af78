import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { encodeFrame, type Frame } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  dialTcp,
  listenTcp,
  TcpConnection,
  TcpErrorCode,
  type TcpListener,
} from '../src/index.ts';
import { closeInfoOf, nextTick, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

describe('send queue', () => {
  it('closes a consumer that stops reading, keeps memory bounded, and serves the others', async () => {
    const maxBufferedBytes = 256 * 1024;
    const accepted: TcpConnection[] = [];
    listener = await listenTcp({ maxBufferedBytes, idleTimeoutMs: 0 }, (connection) => {
      accepted.push(connection);
      connection.onFrame = (frame) => {
        connection.sendFrame(frame.ver, frame.cmd, 1, frame.payload);
      };
    });
    const slow = await rawClient(listener.port);
    slow.socket.pause();
    const healthy = await dialTcp({ host: '127.0.0.1', port: listener.port, idleTimeoutMs: 0 });
    const echoes: Frame[] = [];
    healthy.onFrame = (frame) => echoes.push(frame);
    await waitFor(() => accepted.length === 2);
    const slowConnection = accepted[0]!;
    const slowClose = closeInfoOf(slowConnection);

    // Flood the slow connection; a 16 KiB frame per send, a bounded number of them.
    const frame = encodeFrame(2, 9, 0xff, new Uint8Array(16 * 1024));
    let falses = 0;
    let maxSeen = 0;
    let sends = 0;
    const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    while (!slowConnection.closed && sends < 8192) {
      for (let i = 0; i < 16 && !slowConnection.closed; i++) {
        if (!slowConnection.send(frame)) falses++;
        sends++;
        maxSeen = Math.max(maxSeen, slowConnection.bufferedBytes);
      }
      // Meanwhile the healthy client gets its echoes.
      healthy.sendFrame(2, 1, 0, Uint8Array.of(sends & 0xff));
      await nextTick();
    }
    const info = await slowClose;
    expect(info).toMatchObject({ code: TcpErrorCode.SlowConsumer, remote: false });
    expect(falses).toBeGreaterThan(0);
    expect(maxSeen).toBeLessThanOrEqual(maxBufferedBytes);
    const heapAfter = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    // Far less than the bytes we tried to push (sends * 16 KiB): the queue was bounded.
    expect(sends * frame.length).toBeGreaterThan(maxBufferedBytes);
    expect(heapAfter - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(slowConnection.send(frame)).toBe(false);

    const before = echoes.length;
    healthy.sendFrame(2, 1, 0, Uint8Array.of(1));
    await waitFor(() => echoes.length > before);
    expect(healthy.closed).toBe(false);
    expect(listener.connections.size).toBe(1);
    slow.socket.destroy();
    await healthy.close();
  });

  it('send returns false above the high-water mark and onDrain fires once the queue empties', async () => {
    const closes: CloseInfo[] = [];
    listener = await listenTcp(
      { maxBufferedBytes: 8 * 1024 * 1024, idleTimeoutMs: 0 },
      (connection) => {
        connection.onClose = (info) => closes.push(info);
      },
    );
    const reader = await rawClient(listener.port);
    reader.socket.pause();
    await waitFor(() => listener!.connections.size === 1);
    const [connection] = [...listener.connections];
    expect(connection!.highWaterMark).toBe(64 * 1024);
    let drained = 0;
    connection!.onDrain = () => drained++;
    const frame = encodeFrame(2, 1, 0, new Uint8Array(8 * 1024));
    let sent = 0;
    while (connection!.send(frame)) {
      sent++;
      if (sent > 10_000) throw new Error('send never reported backpressure');
    }
    expect(connection!.bufferedBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(drained).toBe(0);
    reader.socket.resume();
    await waitFor(() => drained === 1);
    expect(connection!.bufferedBytes).toBeLessThan(64 * 1024);
    expect(closes).toEqual([]);
    reader.socket.destroy();
  });

  it('honours a maxBufferedBytes below 64 KiB as the high-water mark', async () => {
    listener = await listenTcp({ maxBufferedBytes: 4096, idleTimeoutMs: 0 }, () => {});
    const reader = await rawClient(listener.port);
    await waitFor(() => listener!.connections.size === 1);
    const [connection] = [...listener.connections];
    expect(connection!.highWaterMark).toBe(4096);
    // A frame larger than the whole bound cannot be queued: slow-consumer policy.
    const closed = closeInfoOf(connection!);
    expect(connection!.send(new Uint8Array(5000))).toBe(false);
    expect(await closed).toMatchObject({ code: TcpErrorCode.SlowConsumer });
    await reader.closed;
  });
});

describe('wrapping a socket whose own high-water mark is above ours', () => {
  it('still reports drain (through a flush callback)', async () => {
    const server = createServer({ highWaterMark: 1024 * 1024 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const accepted = once(server, 'connection');
    const peer = connect({ host: '127.0.0.1', port });
    const [socket] = (await accepted) as [Socket];
    peer.pause();
    const connection = new TcpConnection(socket, {
      maxBufferedBytes: 32 * 1024 * 1024,
      idleTimeoutMs: 0,
    });
    expect(connection.highWaterMark).toBe(64 * 1024);
    let drained = 0;
    connection.onDrain = () => drained++;
    const frame = encodeFrame(2, 1, 0, new Uint8Array(8 * 1024));
    let guard = 0;
    while (connection.send(frame) && guard++ < 10_000);
    expect(guard).toBeLessThan(10_000);
    expect(socket.writableNeedDrain).toBe(false);
    peer.resume();
    await waitFor(() => drained === 1);
    const closed = closeInfoOf(connection);
    peer.destroy();
    await closed;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

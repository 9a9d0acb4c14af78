import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { encodeFrame } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  dialTcp,
  listenTcp,
  type TcpBytesMessage,
  TcpChannel,
  type TcpCloseMessage,
  type TcpConnection,
  type TcpConnectionMessage,
  type TcpListener,
  tcpByteTotals,
} from '../src/index.ts';
import { waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

describe('byte totals', () => {
  it('count every byte read and written, with or without subscribers', async () => {
    listener = await listenTcp({}, (connection) => {
      connection.onFrame = (frame) => connection.sendFrame(frame.ver, frame.cmd, 1, frame.payload);
    });
    const before = tcpByteTotals();
    const client = await dialTcp({ host: '127.0.0.1', port: listener.port });
    let echoed = 0;
    client.onFrame = () => echoed++;
    const frame = encodeFrame(2, 1, 0, new Uint8Array(7));
    for (let i = 0; i < 3; i++) client.send(frame);
    await waitFor(() => echoed === 3);
    const after = tcpByteTotals();
    // Both ends are in this process: each frame is written and read twice (request, echo).
    expect(after.out - before.out).toBe(6 * frame.length);
    expect(after.in - before.in).toBe(6 * frame.length);
    await client.close();
  });
});

describe('diagnostics channels', () => {
  it('publish connection, bytes and close events', async () => {
    const opened: TcpConnection[] = [];
    const closed: TcpCloseMessage[] = [];
    const bytes: TcpBytesMessage[] = [];
    const onOpen = (message: unknown): void => {
      opened.push((message as TcpConnectionMessage).connection);
    };
    const onClose = (message: unknown): void => {
      closed.push(message as TcpCloseMessage);
    };
    const onBytes = (message: unknown): void => {
      bytes.push(message as TcpBytesMessage);
    };
    subscribe(TcpChannel.Connection, onOpen);
    subscribe(TcpChannel.Close, onClose);
    subscribe(TcpChannel.Bytes, onBytes);
    try {
      let server: TcpConnection | undefined;
      listener = await listenTcp({}, (connection) => {
        server = connection;
        connection.onFrame = (frame) =>
          connection.sendFrame(frame.ver, frame.cmd, 1, frame.payload);
      });
      const client = await dialTcp({ host: '127.0.0.1', port: listener.port });
      let echoed = 0;
      client.onFrame = () => echoed++;
      const frame = encodeFrame(2, 1, 0, new Uint8Array(5));
      client.send(frame);
      await waitFor(() => echoed === 1);
      await client.close('BYE', 'done');
      await waitFor(() => closed.length === 2);

      expect(opened).toHaveLength(2);
      expect(opened).toContain(client);
      expect(opened).toContain(server);
      const mine = (c: TcpConnection | undefined, direction: 'in' | 'out') =>
        bytes
          .filter((b) => b.connection === c && b.direction === direction)
          .reduce((n, b) => n + b.bytes, 0);
      expect(mine(client, 'out')).toBe(frame.length);
      expect(mine(server, 'in')).toBeGreaterThanOrEqual(frame.length);
      expect(mine(server, 'out')).toBe(frame.length);
      expect(mine(client, 'in')).toBe(frame.length);
      expect(closed).toContainEqual({
        connection: client,
        code: 'BYE',
        reason: 'done',
        remote: false,
      });
      expect(closed).toContainEqual({
        connection: server,
        code: 'BYE',
        reason: 'done',
        remote: true,
      });
    } finally {
      unsubscribe(TcpChannel.Connection, onOpen);
      unsubscribe(TcpChannel.Close, onClose);
      unsubscribe(TcpChannel.Bytes, onBytes);
    }
  });
});

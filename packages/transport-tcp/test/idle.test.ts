import { encodeFrame, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  dialTcp,
  listenTcp,
  type TcpConnection,
  TcpErrorCode,
  type TcpListener,
} from '../src/index.ts';
import { closeInfoOf, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

describe('idle TTL', () => {
  it('closes a connection that receives no frame for idleTimeoutMs, telling the peer', async () => {
    const closes: CloseInfo[] = [];
    listener = await listenTcp({ idleTimeoutMs: 150 }, (connection) => {
      connection.onClose = (info) => closes.push(info);
    });
    const started = Date.now();
    const client = await dialTcp({ host: '127.0.0.1', port: listener.port, idleTimeoutMs: 0 });
    const clientClose = await closeInfoOf(client);
    const elapsed = Date.now() - started;
    expect(clientClose).toMatchObject({ code: TcpErrorCode.IdleTimeout, remote: true });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(2000);
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ code: TcpErrorCode.IdleTimeout, remote: false });
  });

  it('any received frame resets the TTL; bytes without a whole frame do not', async () => {
    const accepted: TcpConnection[] = [];
    listener = await listenTcp({ idleTimeoutMs: 200 }, (connection) => {
      accepted.push(connection);
    });
    const busy = await rawClient(listener.port);
    const partial = await rawClient(listener.port);
    await waitFor(() => accepted.length === 2);
    const frame = encodeFrame(2, 1, 0);
    // `partial` trickles one byte of a never-finished frame every 50 ms.
    const big = encodeFrame(2, 1, 0, new Uint8Array(100));
    let sent = 0;
    const keepAlive = setInterval(() => {
      busy.socket.write(frame);
      partial.socket.write(big.subarray(sent, sent + 1));
      sent++;
    }, 50);
    try {
      const partialClosed = closeInfoOf(accepted[1]!);
      expect(await partialClosed).toMatchObject({ code: TcpErrorCode.IdleTimeout });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(accepted[0]!.closed).toBe(false);
      expect(accepted[0]!.framesReceived).toBeGreaterThanOrEqual(8);
    } finally {
      clearInterval(keepAlive);
    }
    await partial.closed;
    const last = partial.frames.at(-1)!;
    expect(unpack(last.payload)).toMatchObject({ code: TcpErrorCode.IdleTimeout });
    busy.socket.destroy();
  });

  it('idleTimeoutMs 0 disables the TTL', async () => {
    const accepted: TcpConnection[] = [];
    listener = await listenTcp({ idleTimeoutMs: 0 }, (connection) => {
      accepted.push(connection);
    });
    const client = await rawClient(listener.port);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(accepted[0]!.closed).toBe(false);
    client.socket.destroy();
  });
});

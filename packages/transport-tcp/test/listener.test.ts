import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { isTidewireError, unpack } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CloseInfo,
  dialTcp,
  listenTcp,
  TcpErrorCode,
  type TcpListener,
} from '../src/index.ts';
import { closeInfoOf, rawClient, waitFor } from './helpers.ts';

let listener: TcpListener | null = null;
afterEach(async () => {
  await listener?.close({ graceMs: 100 });
  listener = null;
});

/** A port with nothing listening on it (bound, then released). */
async function freePort(): Promise<number> {
  const probe = await listenTcp({}, () => {});
  const { port } = probe;
  await probe.close();
  return port;
}

describe('listenTcp', () => {
  it('binds 127.0.0.1 on an ephemeral port by default', async () => {
    listener = await listenTcp({}, () => {});
    expect(listener.host).toBe('127.0.0.1');
    expect(listener.port).toBeGreaterThan(0);
  });

  it('rejects EADDRINUSE with LISTEN_FAILED naming host:port and the cause', async () => {
    listener = await listenTcp({}, () => {});
    const error = await listenTcp({ port: listener.port }, () => {}).then(
      () => null,
      (err: unknown) => err,
    );
    expect(isTidewireError(error, TcpErrorCode.ListenFailed)).toBe(true);
    const err = error as Error & { cause: NodeJS.ErrnoException };
    expect(err.message).toContain(`127.0.0.1:${listener.port}`);
    expect(err.message).toContain('EADDRINUSE');
    expect(err.cause.code).toBe('EADDRINUSE');
  });

  it('destroys connections beyond maxConnections', async () => {
    listener = await listenTcp({ maxConnections: 2 }, () => {});
    const a = await rawClient(listener.port);
    const b = await rawClient(listener.port);
    await waitFor(() => listener!.connections.size === 2);
    const c = await rawClient(listener.port);
    await c.closed;
    expect(listener.connections.size).toBe(2);
    a.socket.destroy();
    await waitFor(() => listener!.connections.size === 1);
    const d = await rawClient(listener.port);
    await waitFor(() => listener!.connections.size === 2);
    b.socket.destroy();
    d.socket.destroy();
  });

  it('close() tells every connection SERVER_CLOSING and resolves when all are gone', async () => {
    const serverSide: CloseInfo[] = [];
    listener = await listenTcp({}, (connection) => {
      connection.onClose = (info) => serverSide.push(info);
    });
    const a = await dialTcp({ host: '127.0.0.1', port: listener.port });
    const b = await dialTcp({ host: '127.0.0.1', port: listener.port });
    const closes = [closeInfoOf(a), closeInfoOf(b)];
    await waitFor(() => listener!.connections.size === 2);
    const closing = listener.close();
    expect(listener.close()).toBe(closing);
    await closing;
    expect(listener.connections.size).toBe(0);
    expect(serverSide).toHaveLength(2);
    for (const info of serverSide) expect(info).toMatchObject({ code: TcpErrorCode.ServerClosing });
    for (const info of await Promise.all(closes)) {
      expect(info).toMatchObject({ code: TcpErrorCode.ServerClosing, remote: true });
    }
    // No longer accepting.
    await expect(dialTcp({ host: '127.0.0.1', port: listener.port })).rejects.toMatchObject({
      code: TcpErrorCode.ConnectFailed,
    });
    listener = null;
  });

  it('whenClosed() resolves after onClose, whether asked before the close or after it', async () => {
    listener = await listenTcp({}, () => {});
    const early = await dialTcp({ host: '127.0.0.1', port: listener.port });
    const order: string[] = [];
    early.onClose = () => order.push('onClose');
    const waiting = early.whenClosed().then(() => order.push('whenClosed'));
    expect(early.whenClosed()).toBe(early.whenClosed());
    early.destroy();
    await waiting;
    expect(order).toEqual(['onClose', 'whenClosed']);
    // asked only once the connection is gone: already resolved
    const late = await dialTcp({ host: '127.0.0.1', port: listener.port });
    const gone = closeInfoOf(late);
    late.destroy();
    await gone;
    expect(late.closed).toBe(true);
    await expect(late.whenClosed()).resolves.toBeUndefined();
    await expect(late.close()).resolves.toBeUndefined();
  });

  it('close() destroys connections whose peer does not close within graceMs', async () => {
    listener = await listenTcp({}, () => {});
    // A half-open-tolerant peer that never ends its side.
    const stubborn = await rawClient(listener.port, { allowHalfOpen: true });
    await waitFor(() => listener!.connections.size === 1);
    const started = Date.now();
    const ended = once(stubborn.socket, 'end');
    await listener.close({ graceMs: 150 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1000);
    await ended;
    stubborn.socket.destroy();
    expect(unpack(stubborn.frames.at(-1)!.payload)).toMatchObject({
      code: TcpErrorCode.ServerClosing,
    });
    listener = null;
  });

  it('an aborted signal closes the listener; an already aborted one rejects', async () => {
    const controller = new AbortController();
    const serverSide: CloseInfo[] = [];
    listener = await listenTcp({ signal: controller.signal }, (connection) => {
      connection.onClose = (info) => serverSide.push(info);
    });
    const client = await rawClient(listener.port);
    await waitFor(() => listener!.connections.size === 1);
    controller.abort();
    await client.closed;
    await waitFor(() => serverSide.length === 1);
    expect(serverSide[0]).toMatchObject({ code: TcpErrorCode.ServerClosing });
    await listener.close();
    listener = null;

    const reason = new Error('stop');
    await expect(listenTcp({ signal: AbortSignal.abort(reason) }, () => {})).rejects.toBe(reason);
  });
});

describe('dialTcp', () => {
  it('rejects CONNECT_FAILED when nothing listens', async () => {
    const port = await freePort();
    const error = await dialTcp({ host: '127.0.0.1', port }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(isTidewireError(error, TcpErrorCode.ConnectFailed)).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('an abort rejects with the signal reason (or an AbortError) and leaves no socket', async () => {
    listener = await listenTcp({}, () => {});
    await expect(
      dialTcp({ host: '127.0.0.1', port: listener.port, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    const dialing = dialTcp({ host: '127.0.0.1', port: listener.port, signal: controller.signal });
    const reason = new Error('changed my mind');
    controller.abort(reason);
    await expect(dialing).rejects.toBe(reason);
  });

  it('rejects CONNECT_TIMEOUT when the handshake does not complete in time', async () => {
    // A listener in a stopped child process: once its accept queue is full the
    // kernel drops further SYNs, so a connect to it hangs.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "require('node:net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, function () { console.log(this.address().port) })",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      const port = Number(line.toString().trim());
      child.kill('SIGSTOP');
      // Fill the accept queue (backlog + 1 on Linux, more elsewhere): connects that complete.
      for (let i = 0; i < 4; i++) {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        fillers.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      const error = await dialTcp({ host: '127.0.0.1', port, connectTimeoutMs: 200 }).then(
        (connection) => {
          connection.destroy();
          return null;
        },
        (err: unknown) => err,
      );
      expect(isTidewireError(error, TcpErrorCode.ConnectTimeout)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    } finally {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
    }
  });
});

describe('option validation', () => {
  it('rejects out-of-range options with TIDEWIRE_ERR_INVALID_ARGUMENT', async () => {
    const invalid = { code: 'TIDEWIRE_ERR_INVALID_ARGUMENT' };
    await expect(listenTcp({ maxConnections: -1 }, () => {})).rejects.toMatchObject(invalid);
    await expect(listenTcp({ idleTimeoutMs: -5 }, () => {})).rejects.toMatchObject(invalid);
    await expect(listenTcp({ maxBufferedBytes: 0 }, () => {})).rejects.toMatchObject(invalid);
    await expect(listenTcp({ port: 70_000 }, () => {})).rejects.toMatchObject(invalid);
    await expect(dialTcp({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject(invalid);
    await expect(
      dialTcp({ host: '127.0.0.1', port: 1, connectTimeoutMs: 1.5 }),
    ).rejects.toMatchObject(invalid);
  });
});

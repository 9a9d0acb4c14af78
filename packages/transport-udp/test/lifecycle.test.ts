import { afterEach, describe, expect, it } from 'vitest';
import { timerArmed } from '../src/deadlines.ts';
import { dialUdp, listenUdp, UdpErrorCode } from '../src/index.ts';
import { dialTo, frame, rawSocket, sleep, startServer, until } from './helpers.ts';
import { LossyProxy } from './lossy-proxy.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function activeUdpAndTimers(): { udp: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return {
    udp: info.filter((r) => r === 'UDPWrap').length,
    timers: info.filter((r) => r === 'Timeout').length,
  };
}

describe('lifecycle', () => {
  it('leaves no socket or timer behind after close', async () => {
    await sleep(20);
    const before = activeUdpAndTimers();
    const s = await startServer();
    const clients = await Promise.all(Array.from({ length: 20 }, () => dialTo(s)));
    for (const c of clients) c.send(frame(1));
    await until(() => s.accepted.length === 20);
    const during = activeUdpAndTimers();
    expect(during.udp).toBe(before.udp + 21);
    // every connection's deadlines share one process-wide timer (the
    // runner's own timers come and go, so the count only shows there is no
    // timer per connection)
    expect(timerArmed()).toBe(true);
    expect(during.timers).toBeLessThan(before.timers + 20);
    await Promise.all(clients.slice(0, 10).map((c) => c.close()));
    for (const c of clients.slice(10)) c.destroy();
    await s.listener.close({ graceMs: 50 });
    await sleep(20);
    const after = activeUdpAndTimers();
    expect(after.udp).toBe(before.udp);
    // the runner may hold a timer of its own; ours must all be gone
    expect(timerArmed()).toBe(false);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
  });

  it('closes the listener on abort and refuses to start with an aborted signal', async () => {
    const controller = new AbortController();
    const s = await startServer({ signal: controller.signal });
    const client = await dialTo(s);
    const closed = new Promise((resolve) => {
      client.onClose = resolve;
    });
    controller.abort();
    expect(await closed).toMatchObject({ code: UdpErrorCode.ServerClosing });
    await expect(
      listenUdp({ authenticate: () => null, signal: AbortSignal.abort() }, () => {}),
    ).rejects.toBeDefined();
  });

  it('reports a port in use as LISTEN_FAILED', async () => {
    const s = await startServer();
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    await expect(
      listenUdp({ port: s.listener.port, authenticate: () => null }, () => {}),
    ).rejects.toMatchObject({ code: UdpErrorCode.ListenFailed });
  });

  it('binds to a host name, resolved once, and answers from the address it found', async () => {
    const s = await startServer({ host: 'localhost' });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    expect(s.listener.host).toBe('127.0.0.1');
    const next = s.nextConnection();
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    const echoed = new Promise<Buffer>((resolve) => {
      client.onFrame = (f) => resolve(Buffer.from(f.payload));
    });
    const accepted = await next;
    accepted.onFrame = (f, reliable, c) => c.send(frame(f.payload.readUInt32BE(0)), { reliable });
    client.send(frame(7));
    expect((await echoed).readUInt32BE(0)).toBe(7);
  });

  it('reports a host name that does not resolve as LISTEN_FAILED', async () => {
    await expect(
      listenUdp({ host: 'no-such-host.invalid', authenticate: () => null }, () => {}),
    ).rejects.toMatchObject({ code: UdpErrorCode.ListenFailed, message: /no-such-host\.invalid/ });
  });

  it('validates options', async () => {
    expect(() => dialUdp({ host: '127.0.0.1', port: 1, sid: Buffer.alloc(3) })).toThrow(/sid/);
    expect(() =>
      dialUdp({ host: '127.0.0.1', port: 1, sid: Buffer.alloc(16), encryption: true }),
    ).toThrow(/key/);
    await expect(listenUdp({ mtu: 10, authenticate: () => null }, () => {})).rejects.toMatchObject({
      code: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
    });
    // one byte in the handshake: 0..250 ms
    for (const ackDelayMs of [-1, 251, 1.5]) {
      expect(() =>
        dialUdp({ host: '127.0.0.1', port: 1, sid: Buffer.alloc(16), ackDelayMs }),
      ).toThrow(/ackDelayMs/);
    }
  });

  it('answers REFUSE 2 past maxHalfOpen while authenticate is pending', async () => {
    let release: (() => void) | null = null;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const s = await startServer({
      maxHalfOpen: 1,
      authenticate: async () => {
        await gate;
        return { key: null };
      },
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const first = dialTo(s);
    await sleep(50);
    await expect(dialTo(s)).rejects.toMatchObject({
      code: UdpErrorCode.HandshakeRefused,
      message: expect.stringContaining('busy'),
    });
    release!();
    const client = await first;
    cleanups.push(() => client.destroy());
    expect(client.closed).toBe(false);
  });

  it('drops a replayed sealed packet: no delivery, no move', async () => {
    const s = await startServer({ encryption: true });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const proxy = await LossyProxy.start({ target: { host: '127.0.0.1', port: s.listener.port } });
    cleanups.push(() => proxy.close());
    const captured: Buffer[] = [];
    proxy.onDatagram = (msg, direction) => {
      if (direction === 'up' && msg[0] === 0x10) captured.push(Buffer.from(msg));
    };
    const client = await dialTo(s, { encryption: true }, { host: proxy.host, port: proxy.port });
    cleanups.push(() => client.destroy());
    await until(() => s.accepted.length === 1);
    const conn = s.accepted[0]!;
    let frames = 0;
    conn.onFrame = () => {
      frames++;
    };
    client.send(frame(1));
    await until(() => frames === 1 && captured.length > 0);
    const port = conn.remotePort;
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    for (const packet of captured) raw.socket.send(packet, s.listener.port, '127.0.0.1');
    await sleep(100);
    expect(frames).toBe(1);
    expect(conn.remotePort).toBe(port);
    expect(conn.stats().duplicates).toBeGreaterThanOrEqual(captured.length);
  });
});

import { channel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpErrorCode } from '../src/index.ts';
import { dialTo, frame, indexOf, rawSocket, sleep, startServer, until } from './helpers.ts';
import { LossyProxy } from './lossy-proxy.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('liveness', () => {
  it('expires a connection whose peer went silent (TTL)', async () => {
    const s = await startServer({ idleTimeoutMs: 300 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s, { idleTimeoutMs: 5000 });
    await until(() => s.accepted.length === 1);
    const started = Date.now();
    client.destroy(); // vanishes without FIN
    await until(() => s.closes.size === 1, 2000, 'idle close');
    expect(s.closes.get(s.accepted[0]!)?.code).toBe(UdpErrorCode.IdleTimeout);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(s.listener.connections.size).toBe(0);
  });

  it('keeps a quiet connection alive with keep-alive pings', async () => {
    // pings every idleTimeoutMs / 4 keep both sides alive for three idle periods
    const s = await startServer({ idleTimeoutMs: 400 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s, { idleTimeoutMs: 400 });
    cleanups.push(() => client.destroy());
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(client.stats().packetsSent).toBeGreaterThanOrEqual(5);
    expect(client.closed).toBe(false);
    expect(s.closes.size).toBe(0);
  });

  it('sends no PING while unreliable streams flow both ways', async () => {
    // keep-alive every 100 ms (idleTimeoutMs / 4); frames every 20 ms each way
    const s = await startServer({ idleTimeoutMs: 400 }, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f)), { reliable: false });
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s, { idleTimeoutMs: 400 });
    cleanups.push(() => client.destroy());
    let echoed = 0;
    client.onFrame = () => echoed++;
    let sent = 0;
    const timer = setInterval(() => {
      client.send(frame(sent++), { reliable: false });
    }, 20);
    await sleep(800);
    clearInterval(timer);
    await until(() => echoed === sent, 1000, 'the last echoes');
    const serverSide = s.accepted[0]!;
    // one packet per frame each way: no PING, and no ACK drawn by one
    expect(sent).toBeGreaterThanOrEqual(20);
    expect(client.stats().packetsSent).toBe(sent);
    expect(serverSide.stats().packetsSent).toBe(echoed);
    expect(client.closed).toBe(false);
    expect(s.closes.size).toBe(0);
  });

  it('declares the peer gone after the retry limit', async () => {
    const s = await startServer({ idleTimeoutMs: 60_000 });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const proxy = await LossyProxy.start({ target: { host: '127.0.0.1', port: s.listener.port } });
    cleanups.push(() => proxy.close());
    const client = await dialTo(
      s,
      { idleTimeoutMs: 60_000, maxRetries: 3, maxRtoMs: 100 },
      { host: proxy.host, port: proxy.port },
    );
    const closed = new Promise((resolve) => {
      client.onClose = resolve;
    });
    proxy.blackhole = true;
    client.send(frame(1));
    expect(await closed).toMatchObject({ code: UdpErrorCode.PeerGone, remote: false });
    expect(client.stats().retransmits).toBe(3);
  });

  it('follows a client that moves to a new socket (NAT rebinding) and keeps the session', async () => {
    const s = await startServer({}, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f)));
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    const got: number[] = [];
    client.onFrame = (f) => got.push(indexOf(f));
    for (let i = 0; i < 50; i++) client.send(frame(i));
    await until(() => got.length === 50);
    const serverSide = s.accepted[0]!;
    const oldPort = serverSide.remotePort;
    expect(oldPort).toBe(client.localPort);
    await client.rebind();
    expect(client.localPort).not.toBe(oldPort);
    for (let i = 50; i < 100; i++) client.send(frame(i));
    await until(() => got.length === 100);
    expect(got).toEqual([...Array(100).keys()]);
    expect(serverSide.remotePort).toBe(client.localPort);
    expect(s.accepted.length).toBe(1);
    expect(serverSide.closed).toBe(false);
  });

  it('follows an encrypted client to its new socket', async () => {
    const s = await startServer({ encryption: true }, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f)));
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s, { encryption: true });
    cleanups.push(() => client.destroy());
    const got: number[] = [];
    client.onFrame = (f) => got.push(indexOf(f));
    client.send(frame(0));
    await until(() => got.length === 1);
    await client.rebind();
    client.send(frame(1));
    await until(() => got.length === 2);
    expect(s.accepted[0]!.remotePort).toBe(client.localPort);
  });

  it('publishes retransmissions and drops on their diagnostics channels', async () => {
    const retransmits: unknown[] = [];
    const drops: { reason: string }[] = [];
    const onRetransmit = (m: unknown): void => {
      retransmits.push(m);
    };
    const onDrop = (m: unknown): void => {
      drops.push(m as { reason: string });
    };
    channel('tidewire:udp:retransmit').subscribe(onRetransmit);
    channel('tidewire:udp:drop').subscribe(onDrop);
    cleanups.push(() => {
      channel('tidewire:udp:retransmit').unsubscribe(onRetransmit);
      channel('tidewire:udp:drop').unsubscribe(onDrop);
    });
    const s = await startServer();
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const proxy = await LossyProxy.start({ target: { host: '127.0.0.1', port: s.listener.port } });
    cleanups.push(() => proxy.close());
    const client = await dialTo(s, {}, { host: proxy.host, port: proxy.port });
    cleanups.push(() => client.destroy());
    let frames = 0;
    await until(() => s.accepted.length === 1);
    s.accepted[0]!.onFrame = () => {
      frames++;
    };
    proxy.blackhole = true;
    client.send(frame(1));
    await until(() => retransmits.length >= 1, 3000, 'a retransmission');
    proxy.blackhole = false;
    await until(() => frames === 1);
    expect(retransmits[0]).toMatchObject({ connection: client, seq: 0 });
    // a DATA datagram for an unknown id
    const bogus = Buffer.alloc(20);
    bogus[0] = 0x10;
    bogus.writeUInt32BE((s.accepted[0]!.id ^ 0xffff) >>> 0, 2);
    const raw = await rawSocket();
    cleanups.push(() => raw.close());
    raw.socket.send(bogus, s.listener.port, '127.0.0.1');
    await until(() => drops.some((d) => d.reason === 'unknown-connection'), 2000, 'a drop');
    // an id equal to a connection's in its low 30 bits (the listener's map key) is still unknown
    const sameKey = Buffer.from(bogus);
    sameKey.writeUInt32BE((s.accepted[0]!.id ^ 0xc000_0000) >>> 0, 2);
    raw.socket.send(sameKey, s.listener.port, '127.0.0.1');
    await until(
      () => drops.filter((d) => d.reason === 'unknown-connection').length === 2,
      2000,
      'a second drop',
    );
    expect(drops.some((d) => (d as { connection?: unknown }).connection === s.accepted[0])).toBe(
      false,
    );
  });
});

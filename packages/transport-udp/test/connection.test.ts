import { channel } from 'node:diagnostics_channel';
import type { Frame } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { dialUdp, type UdpConnection, UdpErrorCode } from '../src/index.ts';
import { dialTo, frame, indexOf, startServer, type TestServer, until } from './helpers.ts';
import { LossyProxy } from './lossy-proxy.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options, (c) => {
    c.onFrame = (f, reliable) => {
      c.send(Buffer.concat([header(f), f.payload]), { reliable });
    };
  });
  cleanups.push(() => s.listener.close({ graceMs: 50 }));
  return s;
}

function header(f: Frame): Buffer {
  const h = Buffer.alloc(10);
  h[0] = 0xd1;
  h[1] = 0xde;
  h[2] = f.ver;
  h.writeUInt16BE(f.cmd, 3);
  h[5] = f.status;
  h.writeUInt32BE(f.payload.length, 6);
  return h;
}

describe('listenUdp / dialUdp', () => {
  it('puts frames sent outside a receive on the wire at the end of the tick, packed together', async () => {
    const s = await server();
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    await new Promise((r) => setTimeout(r, 20)); // nothing left from the handshake
    const before = client.stats().packetsSent;
    let atImmediate = -1;
    setImmediate(() => {
      atImmediate = client.stats().packetsSent - before;
    });
    for (let i = 0; i < 3; i++) client.send(frame(i));
    expect(client.stats().packetsSent - before).toBe(0); // still queued in this tick
    await new Promise<void>((resolve) => process.nextTick(resolve));
    // one packet for the three frames, before the event loop turned
    expect(client.stats().packetsSent - before).toBe(1);
    await until(() => atImmediate >= 0);
    expect(atImmediate).toBe(1);
  });

  it('handshakes and echoes reliable and unreliable frames', async () => {
    const s = await server();
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    expect(client.id).toBeGreaterThan(0);
    expect(s.accepted.length).toBe(1);
    expect(s.accepted[0]!.id).toBe(client.id);
    const got: { index: number; reliable: boolean }[] = [];
    client.onFrame = (f, reliable) => got.push({ index: indexOf(f), reliable });
    for (let i = 0; i < 100; i++) client.send(frame(i));
    expect(client.sendFrame(2, 9, 0, Buffer.from([0, 0, 0, 200]), { reliable: false })).toBe(true);
    await until(() => got.length === 101);
    expect(got.filter((g) => g.reliable).map((g) => g.index)).toEqual([...Array(100).keys()]);
    expect(got.find((g) => !g.reliable)?.index).toBe(200);
    expect(client.rttMs).toBeGreaterThanOrEqual(0);
    expect(client.stats().packetsReceived).toBeGreaterThan(0);
    await until(() => client.bufferedBytes === 0);
  });

  it('hands onFrame the connection, so one handler serves all of them through `data`', async () => {
    const shared = (f: Frame, reliable: boolean, c: UdpConnection): void => {
      const state = c.data as { count: number };
      state.count++;
      c.sendFrame(f.ver, f.cmd, 0, Buffer.from([0, 0, 0, state.count]), { reliable });
    };
    const s = await startServer({}, (c) => {
      expect(c.data).toBeUndefined();
      c.data = { count: 0 };
      c.onFrame = shared;
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const clients = [await dialTo(s), await dialTo(s)];
    const got: number[][] = [[], []];
    clients.forEach((client, i) => {
      cleanups.push(() => client.destroy());
      client.onFrame = (f, _reliable, c) => {
        expect(c).toBe(client);
        got[i]!.push(indexOf(f));
      };
    });
    for (const client of clients) {
      client.send(frame(0));
      client.send(frame(0));
    }
    await until(() => got[0]!.length === 2 && got[1]!.length === 2);
    expect(got).toEqual([
      [1, 2],
      [1, 2],
    ]);
  });

  it('closes with FIN: the other side gets the code and reason', async () => {
    const s = await server();
    const client = await dialTo(s);
    let clientClose: unknown = null;
    client.onClose = (info) => {
      clientClose = info;
    };
    await until(() => s.accepted.length === 1);
    await client.close('TIDEWIRE_ERR_KICKED', 'bye now');
    expect(client.closed).toBe(true);
    expect(clientClose).toEqual({ code: 'TIDEWIRE_ERR_KICKED', reason: 'bye now', remote: false });
    await until(() => s.closes.size === 1);
    expect(s.closes.get(s.accepted[0]!)).toEqual({
      code: 'TIDEWIRE_ERR_KICKED',
      reason: 'bye now',
      remote: true,
    });
    expect(s.listener.connections.size).toBe(0);
  });

  it('tells clients the server is closing', async () => {
    const s = await startServer();
    const client = await dialTo(s);
    const closed = new Promise((resolve) => {
      client.onClose = resolve;
    });
    await s.listener.close();
    expect(await closed).toMatchObject({ code: UdpErrorCode.ServerClosing, remote: true });
  });

  it('refuses unknown sessions and times out without a server', async () => {
    const s = await server();
    await expect(
      dialUdp({ host: '127.0.0.1', port: s.listener.port, sid: Buffer.alloc(16, 7) }),
    ).rejects.toMatchObject({ code: UdpErrorCode.HandshakeRefused });
    const started = Date.now();
    await expect(
      dialUdp({ host: '127.0.0.1', port: 9, sid: Buffer.alloc(16), connectTimeoutMs: 300 }),
    ).rejects.toMatchObject({ code: UdpErrorCode.HandshakeTimeout });
    expect(Date.now() - started).toBeLessThan(1000);
    const controller = new AbortController();
    const dialing = dialUdp({
      host: '127.0.0.1',
      port: 9,
      sid: Buffer.alloc(16),
      signal: controller.signal,
    });
    controller.abort(new Error('stop'));
    await expect(dialing).rejects.toThrow('stop');
  });

  it('connects through 20% handshake loss by retrying INIT', async () => {
    const s = await server();
    const proxy = await LossyProxy.start({
      target: { host: '127.0.0.1', port: s.listener.port },
      seed: 42,
      up: { loss: 0.2 },
      down: { loss: 0.2 },
    });
    cleanups.push(() => proxy.close());
    const clients = await Promise.all(
      Array.from({ length: 10 }, () => dialTo(s, {}, { host: proxy.host, port: proxy.port })),
    );
    for (const c of clients) cleanups.push(() => c.destroy());
    expect(new Set(clients.map((c) => c.id)).size).toBe(10);
    await until(() => s.accepted.length === 10);
  }, 15_000);

  it('encrypts: frames arrive and nothing readable is on the wire', async () => {
    const s = await server({ encryption: true });
    const proxy = await LossyProxy.start({ target: { host: '127.0.0.1', port: s.listener.port } });
    cleanups.push(() => proxy.close());
    const seen: Buffer[] = [];
    proxy.onDatagram = (msg) => seen.push(Buffer.from(msg));
    const client = await dialTo(s, { encryption: true }, { host: proxy.host, port: proxy.port });
    cleanups.push(() => client.destroy());
    const secret = Buffer.from('the-plaintext-marker-0123456789');
    const got: Buffer[] = [];
    client.onFrame = (f) => got.push(Buffer.from(f.payload));
    client.sendFrame(2, 1, 0, secret);
    await until(() => got.length === 1);
    expect(got[0]!.equals(secret)).toBe(true);
    expect(client.encrypted).toBe(true);
    const data = seen.filter((m) => m[0] === 0x10);
    expect(data.length).toBeGreaterThan(0);
    for (const m of data) {
      expect(m[1]! & 1).toBe(1);
      expect(m.includes(secret)).toBe(false);
    }
    // a client without encryption is refused by an encrypted server
    await expect(dialTo(s, { encryption: false })).rejects.toMatchObject({
      code: UdpErrorCode.HandshakeRefused,
    });
  });

  it('publishes on diagnostics channels', async () => {
    const events: string[] = [];
    const subscribe = (name: string): void => {
      const fn = (): void => {
        events.push(name);
      };
      channel(name).subscribe(fn);
      cleanups.push(() => {
        channel(name).unsubscribe(fn);
      });
    };
    subscribe('tidewire:udp:connection');
    subscribe('tidewire:udp:close');
    subscribe('tidewire:udp:drop');
    const s = await server();
    const client = await dialTo(s);
    await until(() => s.accepted.length === 1);
    await client.close();
    await until(() => s.closes.size === 1);
    expect(events.filter((e) => e === 'tidewire:udp:connection').length).toBe(2);
    expect(events.filter((e) => e === 'tidewire:udp:close').length).toBe(2);
  });

  it('publishes a spurious loss when the process stalls past the RTO, and the RTO floor rises', async () => {
    const losses: { connection: UdpConnection; lateMs: number; cause: string }[] = [];
    const onLoss = (message: unknown): void => {
      losses.push(message as (typeof losses)[number]);
    };
    channel('tidewire:udp:spurious-loss').subscribe(onLoss);
    cleanups.push(() => {
      channel('tidewire:udp:spurious-loss').unsubscribe(onLoss);
    });
    let stallNext = false;
    let stallMs = 60;
    const s = await startServer({}, (c) => {
      c.onFrame = (f) => {
        c.send(Buffer.concat([header(f), f.payload]));
        if (!stallNext) return;
        stallNext = false;
        // The echo has left; the process (both sides here) stalls before the
        // client reads it. After the stall the server's RTO fires first
        // (timers run before I/O), then the client reads both copies.
        setImmediate(() => {
          const end = performance.now() + stallMs;
          while (performance.now() < end) {}
        });
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s);
    cleanups.push(() => client.destroy());
    let echoed = 0;
    client.onFrame = () => echoed++;
    await until(() => s.accepted.length === 1);
    const serverSide = s.accepted[0]!;
    for (let i = 0; i < 10; i++) {
      client.send(frame(i));
      await until(() => echoed === i + 1);
    }
    // loopback: the RTO sits at (or near, on a loaded machine) its 10 ms floor; the stall outlasts it
    stallMs = Math.max(60, 2 * serverSide.stats().rtoMs);
    const retransmitted = serverSide.stats().retransmits;
    stallNext = true;
    client.send(frame(10));
    // both sides stalled, so each retransmitted what it had in flight: the
    // echo, and the client's frame whose ACK (in the echo) waited unread
    const stalled = (l: (typeof losses)[number]): boolean =>
      l.connection === serverSide && l.cause === 'late-ack' && l.lateMs >= stallMs;
    await until(() => echoed === 11 && losses.some(stalled), 2000);
    expect(losses.some((l) => l.connection === client && l.cause === 'late-ack')).toBe(true);
    expect(serverSide.stats().retransmits).toBeGreaterThan(retransmitted);
    expect(serverSide.stats().spuriousLosses).toBeGreaterThanOrEqual(1);
    // the floor: 1.25x the lateness, less 1% per RTT sample since
    client.send(frame(11));
    await until(() => echoed === 12);
    // (the floor stops at initialRtoMs, 200)
    expect(serverSide.stats().rtoMs).toBeGreaterThanOrEqual(Math.min(1.15 * stallMs, 190));
  });

  it('reports backpressure, drains, and closes a slow consumer', async () => {
    const s = await server();
    const proxy = await LossyProxy.start({ target: { host: '127.0.0.1', port: s.listener.port } });
    cleanups.push(() => proxy.close());
    const client = await dialTo(
      s,
      { maxBufferedBytes: 200_000 },
      { host: proxy.host, port: proxy.port },
    );
    cleanups.push(() => client.destroy());
    client.onFrame = () => {};
    let drained = 0;
    client.onDrain = () => {
      drained++;
    };
    proxy.blackhole = true;
    let i = 0;
    while (client.send(frame(i, 1000))) i++;
    expect(i).toBeGreaterThan(50);
    expect(client.bufferedBytes).toBeGreaterThanOrEqual(64 * 1024);
    proxy.blackhole = false;
    await until(() => drained === 1, 5000, 'drain');
    proxy.blackhole = true;
    const closed = new Promise((resolve) => {
      client.onClose = resolve;
    });
    for (let k = 0; k < 300 && !client.closed; k++) client.send(frame(k, 1000));
    expect(await closed).toMatchObject({ code: UdpErrorCode.SlowConsumer, remote: false });
  });

  it('closes a connection whose frame handler throws', async () => {
    const s = await startServer({}, (c) => {
      c.onFrame = () => {
        throw new Error('boom');
      };
    });
    cleanups.push(() => s.listener.close({ graceMs: 50 }));
    const client = await dialTo(s);
    const closed = new Promise((resolve) => {
      client.onClose = resolve;
    });
    client.send(frame(1));
    expect(await closed).toMatchObject({ code: UdpErrorCode.HandlerFailed, remote: true });
    await until(() => s.closes.size === 1);
    const info = s.closes.get(s.accepted[0] as UdpConnection);
    expect(info?.code).toBe(UdpErrorCode.HandlerFailed);
    expect(info?.error?.message).toBe('boom');
  });

  it('rejects frames over maxPayloadLength and refuses sends once closed', async () => {
    const s = await server({ maxPayloadLength: 1000 });
    const client = await dialTo(s, { maxPayloadLength: 1000 });
    expect(() => client.sendFrame(2, 1, 0, Buffer.alloc(1001))).toThrow(
      expect.objectContaining({ code: UdpErrorCode.FrameTooLarge }),
    );
    expect(client.sendFrame(2, 1, 0, Buffer.alloc(1000))).toBe(true);
    await client.close();
    expect(client.send(frame(1))).toBe(false);
    expect(client.send(frame(1), { reliable: false })).toBe(false);
    await client.close(); // idempotent
    expect(client.closed).toBe(true);
  });

  it('announces ackDelayMs in the handshake: ACKs ride with the next frame, the peer waits for them', async () => {
    const s = await server();
    const client = await dialTo(s, { ackDelayMs: 60 });
    cleanups.push(() => client.destroy());
    let echoed = 0;
    client.onFrame = () => echoed++;
    await until(() => s.accepted.length === 1);
    const serverSide = s.accepted[0]!;
    // before any RTT sample: the 200 ms initial RTO plus the client's delay
    expect(serverSide.stats().rtoMs).toBe(260);
    await new Promise((r) => setTimeout(r, 20)); // nothing left from the handshake
    const before = client.stats().packetsSent;
    const frames = 15;
    for (let i = 0; i < frames; i++) {
      client.send(frame(i));
      await until(() => echoed === i + 1);
      await new Promise((r) => setTimeout(r, 20));
    }
    // each echo's ACK left with the next frame: no packet of its own
    expect(client.stats().packetsSent - before).toBe(frames);
    expect(serverSide.stats().retransmits).toBe(0);
    expect(serverSide.stats().rtoMs).toBeGreaterThanOrEqual(10 + 60);
    // the last echo's ACK goes alone once the delay is over
    await until(() => client.stats().packetsSent - before === frames + 1, 1000);
    await until(() => serverSide.bufferedBytes === 0, 1000);
  });
});

describe('mtu from ACCEPT', () => {
  it("a dialed connection adopts the server's mtu and both sides carry a frame of that size in one packet", async () => {
    const s = await startServer({ mtu: 1400 }, (c) => {
      c.onFrame = (f) => {
        c.send(frame(indexOf(f), f.payload.length));
      };
    });
    const client = await dialTo(s); // its own mtu: the default 1200
    try {
      expect(client.mtu).toBe(1400);
      const got: number[] = [];
      client.onFrame = (f) => got.push(f.payload.length);
      // 1300 bytes of payload: over a 1200 mtu, within 1400 (one RELIABLE unit each way)
      client.send(frame(1, 1300));
      await until(() => got.length === 1, 3000, 'echo');
      expect(got).toEqual([1300]);
      expect(s.accepted[0]!.mtu).toBe(1400);
    } finally {
      client.destroy();
      await s.listener.close({ graceMs: 50 });
    }
  });
});

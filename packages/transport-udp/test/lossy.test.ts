import { encodeFrame } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import type { UdpClientConnection, UdpConnection } from '../src/index.ts';
import { dialTo, frame, indexOf, startServer, type TestServer, until } from './helpers.ts';
import { type DirectionConditions, LossyProxy } from './lossy-proxy.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** 10% loss, 5% duplication, 10% reordering, 5 ± 2 ms each way. */
const BAD_LINK: DirectionConditions = {
  loss: 0.1,
  duplicate: 0.05,
  reorder: 0.1,
  reorderMs: 8,
  delayMs: 3,
  jitterMs: 4,
};

async function lossyPair(
  seed: number,
  options: { maxPayloadLength?: number } = {},
): Promise<{
  s: TestServer;
  client: UdpClientConnection;
  server: UdpConnection;
  proxy: LossyProxy;
}> {
  const s = await startServer({ ...options, idleTimeoutMs: 30_000 });
  cleanups.push(() => s.listener.close({ graceMs: 50 }));
  const proxy = await LossyProxy.start({
    target: { host: '127.0.0.1', port: s.listener.port },
    seed,
    up: BAD_LINK,
    down: BAD_LINK,
  });
  cleanups.push(() => proxy.close());
  const client = await dialTo(
    s,
    { ...options, idleTimeoutMs: 30_000 },
    { host: proxy.host, port: proxy.port },
  );
  cleanups.push(() => client.destroy());
  await until(() => s.accepted.length === 1);
  return { s, client, server: s.accepted[0]!, proxy };
}

/** Sends frames 0..count-1 reliably, respecting backpressure. */
function pump(
  connection: UdpConnection,
  count: number,
  make: (i: number) => Buffer,
): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    const go = (): void => {
      while (i < count) {
        const ok = connection.send(make(i++));
        if (!ok) return; // onDrain resumes
      }
      resolve();
    };
    connection.onDrain = go;
    go();
  });
}

describe('through a lossy proxy (10% loss, duplication, reordering)', () => {
  it('delivers 100k reliable messages complete, in order, exactly once', async () => {
    const { client, server, proxy } = await lossyPair(2024);
    const count = 100_000;
    let received = 0;
    let outOfOrder = 0;
    server.onFrame = (f, reliable) => {
      if (!reliable || indexOf(f) !== received) outOfOrder++;
      received++;
    };
    await pump(client, count, (i) => frame(i, 8));
    await until(() => received >= count, 20_000, '100k messages');
    await until(() => client.bufferedBytes === 0, 5000, 'all acknowledged');
    expect(received).toBe(count);
    expect(outOfOrder).toBe(0);
    const stats = client.stats();
    expect(proxy.counters.dropped).toBeGreaterThan(100);
    expect(proxy.counters.duplicated).toBeGreaterThan(10);
    expect(stats.retransmits).toBeGreaterThan(0);
    expect(server.stats().duplicates).toBeGreaterThan(0);
  }, 30_000);

  it('reassembles 256 KiB messages split into fragments', async () => {
    const { client, server, proxy } = await lossyPair(7, { maxPayloadLength: 300 * 1024 });
    const messages = Array.from({ length: 6 }, (_, i) => {
      const payload = Buffer.alloc(256 * 1024);
      for (let k = 0; k < payload.length; k += 4)
        payload.writeUInt32BE((k * 2654435761 + i) >>> 0, k);
      return encodeFrame(2, 3, 0, payload);
    });
    const got: Buffer[] = [];
    server.onFrame = (f) => got.push(Buffer.from(f.payload));
    await pump(client, messages.length, (i) => messages[i]!);
    await until(() => got.length === messages.length, 15_000, 'big messages');
    expect(proxy.counters.dropped).toBeGreaterThan(50);
    expect(client.closed).toBe(false);
    for (let i = 0; i < messages.length; i++)
      expect(got[i]!.equals(messages[i]!.subarray(10))).toBe(true);
  }, 20_000);

  it('the unreliable channel never blocks the reliable one', async () => {
    const { client, server } = await lossyPair(99);
    const reliable: number[] = [];
    const unreliable = new Set<number>();
    let unreliableDuplicates = 0;
    server.onFrame = (f, isReliable) => {
      if (isReliable) reliable.push(indexOf(f));
      else {
        const i = indexOf(f);
        if (unreliable.has(i)) unreliableDuplicates++;
        unreliable.add(i);
      }
    };
    // a flood of unreliable 3 KiB frames (fragmented: any lost fragment loses the frame)
    // interleaved with reliable ones
    const count = 3000;
    await pump(client, count, (i) => {
      if (i % 3 === 0) client.send(frame(i, 3000), { reliable: false });
      return frame(i, 20);
    });
    await until(() => reliable.length === count, 10_000, 'reliable frames');
    expect(reliable).toEqual([...Array(count).keys()]);
    expect(unreliable.size).toBeGreaterThan(100);
    expect(unreliable.size).toBeLessThan(count / 3);
    expect(unreliableDuplicates).toBe(0);
  }, 15_000);
});

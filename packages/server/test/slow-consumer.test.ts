import { connect as netConnect } from 'node:net';
import { requestSession } from '@tidewire/client';
import { CORE_VER, CoreCommand, encodeFrame, Status } from '@tidewire/wire';
import { afterEach, describe, expect, it } from 'vitest';
import { Ok, type TidewireServer } from '../src/index.ts';
import { client, delay, endpointOf, testServer, waitFor } from './helpers.ts';

let server: TidewireServer;
afterEach(async () => {
  await server?.close();
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('slow consumers', () => {
  it('a client that stops reading is cut off at the send-queue bound; others keep their latency', async () => {
    const queueBound = 256 * 1024;
    server = await testServer({ config: { tcp: { maxSendQueue: queueBound } } }, (s) => {
      s.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
        user.send(ver, cmd, payload, Ok);
        next();
      });
    });
    const good = await client(server, 'good', { keepAliveIntervalMs: 0 });
    const latency = async (n: number): Promise<number> => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await good.request(2, 1, Buffer.from('x'));
        samples.push(performance.now() - t);
      }
      return median(samples);
    };
    const normal = await latency(200);

    // The slow one: says hello, then never reads again.
    const session = await requestSession({
      endpointUrl: endpointOf(server),
      uid: 'slow',
      transport: 'tcp',
    });
    const slow = netConnect({ host: session.host, port: session.port });
    slow.on('error', () => {});
    await new Promise((r) => slow.once('connect', r));
    slow.write(
      encodeFrame(CORE_VER, CoreCommand.Hello, Status.Request, Buffer.from(session.sid, 'hex')),
    );
    await waitFor(() => server.getUser('slow') !== undefined, 2_000, 'slow user');
    slow.pause();
    const slowUser = server.getUser('slow')!;
    const closed = new Promise<string>((resolve) =>
      server.onDisconnect((reason, user) => user.id === 'slow' && resolve(reason)),
    );

    // Push 64 KiB chunks at it while measuring the good client.
    const chunk = Buffer.alloc(60 * 1024, 1);
    let pushed = 0;
    const flood = setInterval(() => {
      for (let i = 0; i < 8; i++) {
        slowUser.push(2, 9, chunk);
        pushed += chunk.length;
      }
    }, 1);
    const rssBefore = process.memoryUsage().rss;
    const during = await latency(200);
    const reason = await Promise.race([closed, delay(5_000).then(() => 'still connected')]);
    clearInterval(flood);
    slow.destroy();

    expect(reason).toBe('TIDEWIRE_ERR_SLOW_CONSUMER');
    // The kernel buffers plus the queue bound are all it could take, not what was pushed.
    expect(pushed).toBeGreaterThan(4 * queueBound);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    // Other users' latency stays within 2x of normal (plus 1 ms for loopback jitter).
    expect(during).toBeLessThanOrEqual(2 * normal + 1);
    await good.close();
  });
});

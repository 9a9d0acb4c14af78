import { channel } from 'node:diagnostics_channel';
import { createConnection } from 'node:net';
import { createServer } from '@tidewire/server';
import { encodeFrame, FrameDecoder, Status } from '@tidewire/wire';
import { Histogram, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../src/metrics.ts';

describe('metrics', () => {
  let metrics: Metrics | null = null;
  afterEach(() => {
    metrics?.close();
    metrics = null;
  });

  it('counts UDP retransmissions and spurious losses by cause from the transport channels', async () => {
    metrics = createMetrics(createServer({ config: {}, env: {} }));
    const retransmit = channel('tidewire:udp:retransmit');
    const spurious = channel('tidewire:udp:spurious-loss');
    for (let i = 0; i < 3; i++) retransmit.publish({ seq: i, sends: 2 });
    spurious.publish({ lateMs: 31, cause: 'late-ack' });
    spurious.publish({ lateMs: 40, cause: 'late-ack' });
    spurious.publish({ lateMs: 12, cause: 'after-gap' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^tidewire_retransmits_total 3$/m);
    expect(text).toMatch(/^tidewire_spurious_losses_total\{cause="late-ack"\} 2$/m);
    expect(text).toMatch(/^tidewire_spurious_losses_total\{cause="after-gap"\} 1$/m);

    // closed: no longer subscribed
    metrics.close();
    spurious.publish({ lateMs: 50, cause: 'late-ack' });
    expect(await metrics.registry.metrics()).toMatch(
      /^tidewire_spurious_losses_total\{cause="late-ack"\} 2$/m,
    );
  });
});

async function waitUntil(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('metrics under real traffic', () => {
  let metrics: Metrics | null = null;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    metrics?.close();
    metrics = null;
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('counts commands, their latency buckets and TCP bytes exactly, in the prom-client text format', async () => {
    const server = createServer({ config: { http: { port: 0 }, tcp: { port: 0 } }, env: {} });
    await server.setupAsTCPServer();
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Status.Ok);
      next();
    });
    server.handleCommand(2, 3, (_ver, _cmd, _payload, _user, next) => next(new Error('refused')));
    metrics = createMetrics(server);
    await server.start();
    closers.push(() => server.close());
    // A raw socket as the client: the TCP byte counts are the server's alone.
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/endpoint/tcp/user/counted`);
    const session = (await res.json()) as { sid: string };
    const socket = createConnection(server.tcpPort, '127.0.0.1');
    closers.push(async () => {
      socket.destroy();
    });
    let received = 0;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk) => {
      decoder.push(chunk, () => {
        received++;
      });
    });
    socket.write(encodeFrame(0, 4, Status.Request, Buffer.from(session.sid, 'hex')));
    for (let i = 0; i < 5; i++) socket.write(encodeFrame(2, 1, Status.Request, Buffer.from('x')));
    for (let i = 0; i < 2; i++) socket.write(encodeFrame(2, 3, Status.Request, Buffer.from('y')));
    await waitUntil(() => received >= 8); // the hello's answer and seven answers
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^tidewire_commands_total\{ver="2",cmd="1",ok="true"\} 5$/m);
    expect(text).toMatch(/^tidewire_commands_total\{ver="2",cmd="3",ok="false"\} 2$/m);
    expect(text).toMatch(/^tidewire_command_duration_seconds_count\{ver="2",cmd="1"\} 5$/m);
    // The hello (10 + 16 bytes) and seven requests of one payload byte (11 each).
    expect(text).toMatch(/^tidewire_bytes_total\{transport="tcp",direction="in"\} 103$/m);
    expect(text).toMatch(/^tidewire_bytes_total\{transport="tcp",direction="out"\} [1-9]\d*$/m);

    // The histogram's series print as prom-client's own Histogram prints them.
    const reference = new Registry();
    const histogram = new Histogram({
      name: 'tidewire_command_duration_seconds',
      help: 'Time from the start of a command chain to its end',
      labelNames: ['ver', 'cmd'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [reference],
    });
    histogram.observe({ ver: '2', cmd: '1' }, 0);
    histogram.observe({ ver: '2', cmd: '3' }, 0);
    const series = (t: string): string[] =>
      t
        .split('\n')
        .filter((l) => l.startsWith('tidewire_command_duration_seconds'))
        .map((l) => l.replace(/ [^ ]+$/, ''));
    expect(series(text)).toEqual(series(await reference.metrics()));
    expect(series(text)).toHaveLength(2 * 13);
  });
});

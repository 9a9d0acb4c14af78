import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.ts';
import type { LoadReport } from '../src/runner.ts';
import {
  captureIo,
  closedPort,
  type EchoServer,
  startEchoServer,
  startMetricsServer,
} from './helpers.ts';

const MIB = 1024 * 1024;

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('tidewire-loadtest against a real server', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo.close();
  });

  /** 10 clients at 20/s for 1 s over `transport`; asserts the run ended well and returns its report. */
  async function runUdp(transport: string, extra: string[] = []): Promise<LoadReport> {
    const io = captureIo();
    const code = await runCli(
      [
        ...['--target', echo.target, '--transport', transport, ...extra],
        ...['-c', '10', '-r', '20', '-p', '64', '-d', '1', '--json'],
      ],
      io,
    );
    expect(code).toBe(0);
    const report = JSON.parse(io.out()) as LoadReport;
    expect(report.transport).toBe(transport);
    expect(report.connections.connected).toBe(10);
    expect(report.errors).toEqual({});
    // Loopback loses nothing, even on the unreliable channel.
    expect(report.messages.ok).toBe(report.messages.sent);
    return report;
  }

  it.each(['udp', 'udp-unreliable'])('over %s too: every message answered', async (transport) => {
    const report = await runUdp(transport);
    expect(report.messages.sent).toBeGreaterThan(150);
  });

  it('--ack-delay: UDP clients whose ACKs ride with their next request', async () => {
    const accepted: { stats(): { packetsReceived: number } }[] = [];
    const onConnection = (message: unknown): void => {
      const { connection, side } = message as {
        connection: { stats(): { packetsReceived: number } };
        side: string;
      };
      if (side === 'server') accepted.push(connection);
    };
    subscribe('tidewire:udp:connection', onConnection);
    try {
      const report = await runUdp('udp', ['--ack-delay', '60ms']);
      expect(accepted).toHaveLength(10);
      // every answer's ACK came with the next request (20/s, 50 ms apart): the
      // server received about one datagram per request, not two; the rest is
      // the hello, the last ACKs and the close
      const received = accepted.reduce((n, c) => n + c.stats().packetsReceived, 0);
      expect(received).toBeLessThan(report.messages.sent + 10 * 5);
    } finally {
      unsubscribe('tidewire:udp:connection', onConnection);
    }
  });

  it('20 clients for 1 s: every message answered, no errors, sane numbers, --json parses', async () => {
    const io = captureIo();
    const started = performance.now();
    const code = await runCli(
      ['--target', echo.target, '-c', '20', '-r', '20', '-p', '64', '-d', '1', '--json'],
      io,
    );
    const wall = performance.now() - started;
    expect(io.err()).not.toContain('TIDEWIRE_ERR');
    expect(code).toBe(0);
    const report = JSON.parse(io.out()) as LoadReport;
    expect(report.transport).toBe('tcp');
    expect(report.connections).toEqual({ attempted: 20, connected: 20, failed: 0, closedEarly: 0 });
    expect(report.errors).toEqual({});
    // 20 clients x 20/s x 1 s, give or take the ticks at the edges.
    expect(report.messages.sent).toBeGreaterThan(300);
    expect(report.messages.sent).toBeLessThanOrEqual(420);
    expect(report.messages.received).toBe(report.messages.sent);
    expect(report.messages.ok).toBe(report.messages.sent);
    expect(report.messages.unanswered).toBe(0);
    expect(report.roundTrip.count).toBe(report.messages.ok);
    expect(report.roundTrip.p50).toBeGreaterThan(0);
    expect(report.roundTrip.p50).toBeLessThanOrEqual(report.roundTrip.p99);
    expect(report.roundTrip.p99).toBeLessThanOrEqual(report.roundTrip.p999);
    expect(report.roundTrip.p999).toBeLessThanOrEqual(report.roundTrip.max);
    expect(report.connectTime.count).toBe(20);
    expect(report.connectTime.p50).toBeGreaterThan(0);
    expect(report.throughput.messagesPerSecond).toBeGreaterThan(250);
    expect(report.throughput.bytesPerSecond).toBeCloseTo(
      report.throughput.messagesPerSecond * 64,
      0,
    );
    // Duration respected: sending stopped at 1 s; the whole run ends soon after.
    expect(report.elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(report.elapsedMs).toBeLessThan(1500);
    expect(wall).toBeLessThan(4000);
    // The server has no /metrics: reported as absent, not as an error.
    expect(report.server).toBeNull();
    // Progress lines went to stderr (not a TTY: one a second).
    expect(io.err()).toMatch(/connected \d+\/20 {2}msgs\/s/);
    // Every simulated client left.
    await expect.poll(() => echo.server.ccu).toBe(0);
  });

  it('prints the final table and reads server CPU, RSS and retransmissions from a /metrics endpoint', async () => {
    const metrics = await startMetricsServer({ rssBytes: [100 * MIB, 100 * MIB + 5 * 40 * 1024] });
    try {
      const io = captureIo();
      const code = await runCli(
        ['--target', echo.target, '-c', '5', '-r', '50', '-d', '500ms', '--metrics', metrics.url],
        io,
      );
      expect(code).toBe(0);
      const out = io.out();
      expect(out).toContain('tidewire-loadtest tcp');
      expect(out).toMatch(/connections +attempted 5 {2}connected 5 {2}failed 0/);
      expect(out).toMatch(/round trip +p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms {2}p99\.9/);
      expect(out).toMatch(/connect time +p50 [\d.]+ ms {2}p99 [\d.]+ ms/);
      expect(out).toMatch(/errors +none/);
      expect(out).toMatch(
        /server +CPU [\d.]+ s \(\d+ % of a core\) {2}RSS 100\.0 MiB -> 100\.2 MiB \(\+200\.0 KiB: 40\.0 KiB per open connection, heap and GC included\) {2}retransmits 5$/m,
      );
      expect(out).toMatch(/connected \d\/5 {2}msgs\/s/); // progress on stdout without --json
    } finally {
      await metrics.close();
    }
  });

  it('prints no per-connection RSS figure when a GC made RSS fall during the run', async () => {
    const metrics = await startMetricsServer({ rssBytes: [102 * MIB, 77 * MIB] });
    try {
      const io = captureIo();
      const code = await runCli(
        ['--target', echo.target, '-c', '5', '-r', '50', '-d', '300ms', '--metrics', metrics.url],
        io,
      );
      expect(code).toBe(0);
      const out = io.out();
      expect(out).toMatch(
        /RSS 102\.0 MiB -> 77\.0 MiB \(fell: a GC freed more than the connections took; no per-connection figure\)/,
      );
      expect(out).not.toContain('per open connection');

      const json = captureIo();
      expect(
        await runCli(
          [
            '--target',
            echo.target,
            '-c',
            '5',
            '-r',
            '50',
            '-d',
            '300ms',
            '--metrics',
            metrics.url,
            '--json',
            '-q',
          ],
          json,
        ),
      ).toBe(0);
      const report = JSON.parse(json.out()) as {
        server: { rssPerConnectionBytes: number | null; rssAfterBytes: number };
      };
      expect(report.server.rssAfterBytes).toBe(77 * MIB);
      expect(report.server.rssPerConnectionBytes).toBeNull();
    } finally {
      await metrics.close();
    }
  });

  it('counts errors by their typed code: a server without the echo answers UNKNOWN_COMMAND', async () => {
    const bare = await startEchoServer({ echo: false });
    try {
      const io = captureIo();
      let published = 0;
      const onError = (message: unknown): void => {
        published += (message as { count: number }).count;
      };
      subscribe('tidewire:loadtest:error', onError);
      const code = await runCli(
        ['--target', bare.target, '-c', '3', '-r', '20', '-d', '400ms', '--json', '-q'],
        io,
      ).finally(() => unsubscribe('tidewire:loadtest:error', onError));
      expect(code).toBe(0);
      const report = JSON.parse(io.out()) as LoadReport;
      expect(report.messages.sent).toBeGreaterThan(0);
      expect(report.messages.ok).toBe(0);
      expect(report.errors).toEqual({ TIDEWIRE_ERR_UNKNOWN_COMMAND: report.messages.sent });
      expect(published).toBe(report.messages.sent);
      expect(report.errorSamples.TIDEWIRE_ERR_UNKNOWN_COMMAND).toMatch(/^status 4: /);
      expect(report.roundTrip.count).toBe(0);
      expect(io.err()).toBe('');
    } finally {
      await bare.close();
    }
  });

  it('refuses a session that points away from the target host and loopback', async () => {
    const far = await startEchoServer({ publicEndPoint: '192.0.2.7:7200' });
    try {
      const io = captureIo();
      const started = performance.now();
      const code = await runCli(['--target', far.target, '-c', '2', '-d', '1', '-q'], io);
      expect(code).toBe(1);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(io.err()).toContain('TIDEWIRE_ERR_LOADTEST_TARGET_UNREACHABLE');
      expect(io.err()).toContain('TIDEWIRE_ERR_LOADTEST_FOREIGN_HOST');
      expect(io.err()).toContain('192.0.2.7');
      expect(io.out()).toBe('');
    } finally {
      await far.close();
    }
  });

  it('SIGINT ends the run early and prints the partial report (exit 130)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@tidewire/source',
        '--import',
        'tsx',
        'apps/loadtest/src/main.ts',
        '--target',
        echo.target,
        '-c',
        '4',
        '-d',
        '30s',
        '--no-metrics',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (out.includes('connected 4/4') && !child.killed) child.kill('SIGINT');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(err).toBe('');
    expect(code).toBe(130);
    expect(out).toContain('(interrupted: partial report)');
    expect(out).toMatch(/messages +sent \d+/);
  }, 20_000);
});

describe('tidewire-loadtest failures', () => {
  it('an unreachable target: a clear error and exit 1, quickly', async () => {
    const port = await closedPort();
    const io = captureIo();
    const started = performance.now();
    const code = await runCli(
      ['--target', `http://127.0.0.1:${port}`, '-c', '5', '-d', '5', '--connect-timeout', '2s'],
      io,
    );
    expect(code).toBe(1);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(io.err()).toContain('TIDEWIRE_ERR_LOADTEST_TARGET_UNREACHABLE');
    expect(io.err()).toContain(`http://127.0.0.1:${port}`);
    expect(io.err()).toContain('TIDEWIRE_ERR_SESSION_REQUEST_FAILED');
    expect(io.out()).toBe('');
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--clients', '0'], /--clients must be an integer >= 1/],
    [['-c', 'ten'], /--clients must be an integer >= 1, got 'ten'/],
    [['--duration', 'soon'], /--duration must be a time/],
    [['--rate=-1'], /--rate must be a number >= 0/],
    [['--transport', 'quic'], /--transport must be one of tcp/],
    [['--ack-delay', '60ms'], /--ack-delay applies to the udp transports only/],
    [
      ['--transport', 'udp', '--ack-delay', '300ms'],
      /--ack-delay must be at most 250ms, got '300ms'\n/,
    ],
    [['--transport', 'udp', '--ack-delay', '60'], /got '60' \(seconds: write 60ms for 60 ms\)/],
    [['--transport', 'udp', '--ack-delay', 'later'], /--ack-delay must be a time/],
    [['--target', 'ftp://x'], /target must be an http\(s\) URL/],
    [['--payload', '99999999'], /payloadSize must be an integer in 0\.\.16777216/],
    [['--metrics', 'http://x/metrics', '--no-metrics'], /exclude each other/],
    [['stray'], /Unexpected argument 'stray'/],
  ])('bad flags %j exit 2 with a message', async (argv, message) => {
    const io = captureIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).toContain('--help');
    expect(io.out()).toBe('');
  });

  it('--help prints the usage and exits 0', async () => {
    const io = captureIo();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: tidewire-loadtest');
  });
});

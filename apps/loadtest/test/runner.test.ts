import { Status } from '@tidewire/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../src/cli.ts';
import { LoadtestErrorCode } from '../src/errors.ts';
import { readMetric } from '../src/metrics.ts';
import { isLoopback, type Progress, runLoad } from '../src/runner.ts';
import type { LoadConnection, LoadTransport } from '../src/transport.ts';
import { type EchoServer, startEchoServer } from './helpers.ts';

describe('runLoad', () => {
  let echo: EchoServer;
  beforeAll(async () => {
    echo = await startEchoServer();
  });
  afterAll(async () => {
    await echo.close();
  });

  it('keeps the rate on schedule (drift correction) with many requests in flight', async () => {
    const rate = 400;
    // The event loop stalls for 150 ms mid-run: the requests due meanwhile go
    // out when it resumes, so the count still matches the schedule.
    const stall = setTimeout(() => {
      const until = performance.now() + 150;
      while (performance.now() < until) {}
    }, 400);
    const report = await runLoad({
      target: echo.target,
      clients: 1,
      rate,
      payloadSize: 8,
      durationMs: 1000,
      metricsUrl: null,
    });
    clearTimeout(stall);
    expect(report.errors).toEqual({});
    const sendingMs = report.elapsedMs - report.connectTime.max / 1000;
    const expected = (rate * sendingMs) / 1000;
    expect(report.messages.sent).toBeGreaterThanOrEqual(Math.floor(expected * 0.97));
    expect(report.messages.sent).toBeLessThanOrEqual(Math.ceil(expected) + 1);
    expect(report.messages.ok).toBe(report.messages.sent);
  });

  it('ramps the clients up over the given time and reports progress', async () => {
    const seen: Progress[] = [];
    const report = await runLoad({
      target: echo.target,
      clients: 10,
      rampUpMs: 600,
      rate: 10,
      payloadSize: 0,
      durationMs: 900,
      metricsUrl: null,
      progressIntervalMs: 100,
      onProgress: (p) => seen.push(p),
    });
    expect(report.connections.connected).toBe(10);
    expect(report.messages.unanswered).toBe(0);
    // Early snapshots see only part of the clients; the last one sees them all.
    const early = seen.find((p) => p.elapsedMs >= 150 && p.elapsedMs < 350);
    expect(early?.connected).toBeGreaterThan(0);
    expect(early?.connected).toBeLessThan(10);
    expect(seen.at(-1)?.connected).toBe(10);
    expect(seen.at(-1)?.received).toBeGreaterThan(0);
    expect(seen.at(-1)?.received).toBeLessThanOrEqual(report.messages.received);
  });

  it('an aborted run resolves early with a partial report', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    const report = await runLoad({
      target: echo.target,
      clients: 3,
      rate: 20,
      payloadSize: 16,
      durationMs: 20_000,
      metricsUrl: null,
      signal: controller.signal,
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(report.interrupted).toBe(true);
    expect(report.elapsedMs).toBeLessThan(1000);
    expect(report.messages.sent).toBeGreaterThan(0);
    expect(report.messages.received + report.messages.unanswered).toBe(report.messages.sent);
  });
});

/**
 * A transport without a network: it answers each request with its echo after
 * `delayMs`, except every `loseEvery`th request (1-based), which it loses, as
 * the unreliable channel may, and every `mangleEvery`th, whose number it changes.
 */
function lossyEchoTransport(
  loseEvery: number,
  delayMs: number,
  mangleEvery = 0,
): LoadTransport & { lost: number; mangled: number } {
  const transport = {
    name: 'lossy-echo',
    lost: 0,
    mangled: 0,
    open: async (): Promise<LoadConnection> => {
      let requests = 0;
      let closed = false;
      const timers = new Set<NodeJS.Timeout>();
      const conn: LoadConnection = {
        remote: 'memory',
        onResponse: null,
        onClose: null,
        get closed() {
          return closed;
        },
        send(ver, cmd, payload) {
          requests++;
          if (requests % loseEvery === 0) {
            transport.lost++;
            return true;
          }
          const echo = Buffer.from(payload);
          if (mangleEvery > 0 && requests % mangleEvery === 0) {
            // a server that changes the payload: same length, another number
            echo.writeUInt32BE(0xffff_fff0, 0);
            transport.mangled++;
          }
          const timer = setTimeout(() => {
            timers.delete(timer);
            conn.onResponse?.(ver, cmd, Status.Ok, echo);
          }, delayMs);
          timers.add(timer);
          return true;
        },
        close: async () => {
          closed = true;
          for (const timer of timers) clearTimeout(timer);
        },
      };
      return conn;
    },
  };
  return transport;
}

describe('runLoad on a channel that loses requests', () => {
  it('matches each echo to its own request: a lost one neither shifts later round trips nor goes uncounted', async () => {
    const transport = lossyEchoTransport(5, 3);
    const report = await runLoad({
      target: 'http://127.0.0.1:1',
      transport,
      clients: 10,
      // one request every 200 ms: an echo matched to the request before it
      // would show ~203 ms, far above what a late timer on a loaded machine adds
      rate: 5,
      payloadSize: 16,
      durationMs: 1_000,
      drainTimeoutMs: 300,
      metricsUrl: null,
    });
    expect(transport.lost).toBeGreaterThan(5);
    expect(report.messages.unanswered).toBe(transport.lost);
    expect(report.messages.received + report.messages.unanswered).toBe(report.messages.sent);
    expect(report.messages.ok).toBe(report.messages.received);
    expect(Object.keys(report.errors)).toEqual([LoadtestErrorCode.Unanswered]);
    expect(report.roundTrip.max).toBeLessThan(100_000); // µs
  });

  it('counts an echo whose number matches no request as unexpected, and its request as unanswered', async () => {
    // several requests in flight (one every 2 ms, echoed after 6 ms): a bad number must not take them along
    const transport = lossyEchoTransport(1_000_000, 6, 7);
    const report = await runLoad({
      target: 'http://127.0.0.1:1',
      transport,
      clients: 1,
      rate: 500,
      payloadSize: 8,
      durationMs: 400,
      drainTimeoutMs: 300,
      metricsUrl: null,
    });
    expect(transport.mangled).toBeGreaterThan(3);
    expect(report.errors[LoadtestErrorCode.UnexpectedResponse]).toBe(transport.mangled);
    expect(report.messages.unanswered).toBe(transport.mangled);
    expect(report.messages.ok).toBe(report.messages.sent - transport.mangled);
  });
});

describe('helpers', () => {
  it('readMetric reads unlabelled Prometheus samples', () => {
    const text =
      '# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\n' +
      'process_cpu_seconds_total 1.25\nprocess_cpu_seconds_total_extra 9\n' +
      'process_resident_memory_bytes{} 123456 1700000000000\nother 1\n';
    expect(readMetric(text, 'process_cpu_seconds_total')).toBe(1.25);
    expect(readMetric(text, 'process_resident_memory_bytes')).toBe(123456);
    expect(readMetric(text, 'absent_metric')).toBeNull();
    expect(readMetric('process_cpu_seconds_total NaN', 'process_cpu_seconds_total')).toBeNull();
  });

  it('parseDuration takes seconds and ms/s/m suffixes', () => {
    expect(parseDuration('d', '10')).toBe(10_000);
    expect(parseDuration('d', '1.5s')).toBe(1500);
    expect(parseDuration('d', '250ms')).toBe(250);
    expect(parseDuration('d', '2m')).toBe(120_000);
    expect(() => parseDuration('d', '-1')).toThrow(/--d must be a time/);
  });

  it('isLoopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopback(h)).toBe(true);
    }
    for (const h of ['10.0.0.1', '128.0.0.1', 'example.com', '::2', '192.0.2.7']) {
      expect(isLoopback(h)).toBe(false);
    }
  });
});

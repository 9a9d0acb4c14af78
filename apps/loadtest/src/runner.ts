import { type Channel, channel } from 'node:diagnostics_channel';
import { isIP } from 'node:net';
import { Status, TidewireError, unpack } from '@tidewire/wire';
import { tcpTransport } from './client-transport.ts';
import { errorKind, LoadtestErrorCode, loadtestError } from './errors.ts';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import { InFlightRequests } from './in-flight.ts';
import { type ServerSample, scrapeServer } from './metrics.ts';
import type { LoadConnection, LoadTransport } from './transport.ts';

export interface LoadOptions {
  /** Base URL of the target's HTTP session endpoint, e.g. `http://127.0.0.1:7000`. */
  target: string;
  /** Default: TCP. */
  transport?: LoadTransport;
  /** Simulated clients. */
  clients: number;
  /** Clients connect evenly over this many ms from the start. Default 0: all at once. */
  rampUpMs?: number;
  /** Echo requests per second, per client. */
  rate: number;
  /** Payload bytes of each request. */
  payloadSize: number;
  /** Length of the run from its start (ramp-up included), ms. */
  durationMs: number;
  /** Bound on one client's session request, connect and hello, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** After the end, wait this long at most for the answers in flight, ms. Default 2000. */
  drainTimeoutMs?: number;
  /** Requests one client may have unanswered; past it a send is skipped and counted. Default 1000. */
  maxInFlight?: number;
  /** Connection attempts under way at once. Default 200. */
  maxConnecting?: number;
  /** Prometheus text endpoint; default `<target>/metrics`; null: do not read it. */
  metricsUrl?: string | null;
  /** Request (ver, cmd). Default (2, 1): the reference server's echo. */
  ver?: number;
  cmd?: number;
  /** User ids are `<prefix><index>`. Default `lt-<random>-`. */
  uidPrefix?: string;
  /** Aborting ends the run early; the report is still produced (`interrupted: true`). */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Default 1000 ms. */
  progressIntervalMs?: number;
}

/** A live snapshot, every `progressIntervalMs`. */
export interface Progress {
  elapsedMs: number;
  durationMs: number;
  clients: number;
  connected: number;
  sent: number;
  received: number;
  /** Responses per second over the last interval. */
  messagesPerSecond: number;
  errors: number;
}

/** Server figures from `/metrics`, null fields when the endpoint lacks them. */
export interface ServerUsage {
  /** CPU time the server spent between the two samples, s. */
  cpuSeconds: number | null;
  /** The same over the wall time between the samples, % of one core. */
  cpuPercent: number | null;
  rssBeforeBytes: number | null;
  rssAfterBytes: number | null;
  /**
   * (RSS after - RSS before) / connections open at the second sample, only
   * when RSS grew: heap growth and GC timing are in it, so it is a rough
   * figure; when a collection made RSS fall or stay, null (no figure is
   * better than a negative one).
   */
  rssPerConnectionBytes: number | null;
  /** Reliable UDP packets the server sent again between the samples (`tidewire_retransmits_total`). */
  retransmits: number | null;
}

export interface LoadReport {
  target: string;
  transport: string;
  clients: number;
  ratePerClient: number;
  payloadSize: number;
  durationMs: number;
  /** Wall time from the start to the end of sending, ms. */
  elapsedMs: number;
  interrupted: boolean;
  connections: {
    attempted: number;
    connected: number;
    failed: number;
    /** Connections the server (or the network) closed during the run. */
    closedEarly: number;
  };
  /** Session request + connect + hello, µs. */
  connectTime: LatencySummary;
  /** Round trip of each Ok echo, µs. */
  roundTrip: LatencySummary;
  messages: {
    sent: number;
    /** Every response, whatever its status. */
    received: number;
    ok: number;
    unanswered: number;
  };
  throughput: {
    /** Responses per second over `elapsedMs`. */
    messagesPerSecond: number;
    /** Payload bytes echoed per second (Ok responses). */
    bytesPerSecond: number;
  };
  /** Count per error code (typed `TIDEWIRE_*` codes). */
  errors: Record<string, number>;
  /** The first message seen for each error code. */
  errorSamples: Record<string, string>;
  /** null when the target does not expose `/metrics` (or it was disabled). */
  server: ServerUsage | null;
}

interface SimClient {
  index: number;
  conn: LoadConnection | null;
  sentAt: InFlightRequests;
  timer: NodeJS.Timeout | null;
  /** When the next request is due, performance.now() ms. */
  next: number;
}

/**
 * `tidewire:loadtest:error`: `{ kind, count, message }` for every error
 * counted (connect failures, closes, error answers, unanswered requests).
 */
export const errorChannel: Channel = channel('tidewire:loadtest:error');

const DEFAULTS = {
  rampUpMs: 0,
  connectTimeoutMs: 5000,
  drainTimeoutMs: 2000,
  maxInFlight: 1000,
  maxConnecting: 200,
  progressIntervalMs: 1000,
  ver: 2,
  cmd: 1,
} as const;

/** Checks the options; throws a `TidewireError` (`TIDEWIRE_ERR_INVALID_ARGUMENT`). */
export function checkLoadOptions(options: LoadOptions): void {
  const int = (name: string, value: number | undefined, min: number, max: number): void => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw loadtestError(
        LoadtestErrorCode.InvalidArgument,
        `${name} must be an integer in ${min}..${max}, got ${value}`,
      );
    }
  };
  let url: URL;
  try {
    url = new URL(options.target);
  } catch {
    throw loadtestError(
      LoadtestErrorCode.InvalidArgument,
      `target must be an http(s) URL, got ${options.target}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw loadtestError(
      LoadtestErrorCode.InvalidArgument,
      `target must be an http(s) URL, got ${options.target}`,
    );
  }
  int('clients', options.clients, 1, 1_000_000);
  int('rampUpMs', options.rampUpMs, 0, 86_400_000);
  int('payloadSize', options.payloadSize, 0, 16 * 1024 * 1024);
  int('durationMs', options.durationMs, 1, 86_400_000);
  int('connectTimeoutMs', options.connectTimeoutMs, 1, 600_000);
  int('drainTimeoutMs', options.drainTimeoutMs, 0, 600_000);
  int('maxInFlight', options.maxInFlight, 1, 1_000_000);
  int('maxConnecting', options.maxConnecting, 1, 1_000_000);
  int('progressIntervalMs', options.progressIntervalMs, 10, 3_600_000);
  int('ver', options.ver, 0, 255);
  int('cmd', options.cmd, 0, 65535);
  if (!(Number.isFinite(options.rate) && options.rate >= 0 && options.rate <= 1_000_000)) {
    throw loadtestError(
      LoadtestErrorCode.InvalidArgument,
      `rate must be a number in 0..1000000, got ${options.rate}`,
    );
  }
}

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h.toLowerCase().startsWith('::ffff:127.');
}

/**
 * Runs the workload: `clients` simulated clients connect (session request,
 * connect, hello) over the ramp-up, each sends `rate` echo requests per
 * second on a timer with drift correction until the duration ends, and every
 * response's round trip is recorded. Resolves with the report. Rejects with
 * `TIDEWIRE_ERR_LOADTEST_TARGET_UNREACHABLE` when the first client cannot
 * connect (nothing else is attempted then).
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  checkLoadOptions(options);
  const transport = options.transport ?? tcpTransport;
  const rampUpMs = options.rampUpMs ?? DEFAULTS.rampUpMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs;
  const maxInFlight = options.maxInFlight ?? DEFAULTS.maxInFlight;
  const maxConnecting = options.maxConnecting ?? DEFAULTS.maxConnecting;
  const progressIntervalMs = options.progressIntervalMs ?? DEFAULTS.progressIntervalMs;
  const ver = options.ver ?? DEFAULTS.ver;
  const cmd = options.cmd ?? DEFAULTS.cmd;
  const targetUrl = new URL(options.target);
  const endpointUrl = targetUrl.href;
  const targetHost = targetUrl.hostname;
  const metricsUrl =
    options.metricsUrl === undefined
      ? new URL('metrics', endpointUrl.endsWith('/') ? endpointUrl : `${endpointUrl}/`).href
      : options.metricsUrl;
  const uidPrefix = options.uidPrefix ?? `lt-${Math.random().toString(36).slice(2, 8)}-`;
  const interval = options.rate > 0 ? 1000 / options.rate : Number.POSITIVE_INFINITY;
  const payload = Buffer.alloc(options.payloadSize);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  // A payload of 4 bytes or more starts with the request's number (per
  // client), so that an echo finds its request even when requests are lost
  // (the unreliable channel); shorter payloads are matched in order.
  const numbered = payload.length >= 4;
  const allowHost = (host: string): boolean => host === targetHost || isLoopback(host);

  const connectHistogram = new LatencyHistogram();
  const rttHistogram = new LatencyHistogram();
  const errors: Record<string, number> = {};
  let errorCount = 0;
  const errorSamples: Record<string, string> = {};
  const countError = (kind: string, n: number, message: string): void => {
    errors[kind] = (errors[kind] ?? 0) + n;
    errorCount += n;
    errorSamples[kind] ??= message;
    if (errorChannel.hasSubscribers) errorChannel.publish({ kind, count: n, message });
  };
  let attempted = 0;
  let connected = 0;
  let failed = 0;
  let closedEarly = 0;
  let sent = 0;
  let received = 0;
  let ok = 0;
  let unanswered = 0;
  let inFlight = 0;
  let sending = true;
  let onDrained: (() => void) | null = null;
  const clients: SimClient[] = [];
  const connectAbort = new AbortController();
  const connectSignal = options.signal
    ? AbortSignal.any([options.signal, connectAbort.signal])
    : connectAbort.signal;

  const before = metricsUrl === null ? null : await scrapeServer(metricsUrl);
  const start = performance.now();
  const endAt = start + options.durationMs;

  /** Counts `lost` of `client`'s requests as unanswered (already removed from its in-flight set). */
  const countLost = (client: SimClient, lost: number): void => {
    inFlight -= lost;
    unanswered += lost;
    countError(
      LoadtestErrorCode.Unanswered,
      lost,
      `client ${client.index}: ${lost} request(s) unanswered`,
    );
    if (inFlight === 0) onDrained?.();
  };

  const settle = (client: SimClient): void => {
    const lost = client.sentAt.size;
    if (lost > 0) {
      client.sentAt.clear();
      countLost(client, lost);
    }
  };

  const tick = (client: SimClient): void => {
    client.timer = null;
    const conn = client.conn;
    if (!sending || conn === null || conn.closed) return;
    const now = performance.now();
    // Every request due by now goes out (a late timer catches up), on the
    // schedule start + k * interval: no drift from timer lateness.
    while (client.next <= now && client.next < endAt) {
      if (client.sentAt.size >= maxInFlight) {
        countError(
          LoadtestErrorCode.InFlightLimit,
          1,
          `client ${client.index}: ${maxInFlight} requests unanswered, send skipped`,
        );
      } else {
        const number = client.sentAt.push(performance.now());
        if (numbered) payload.writeUInt32BE(number >>> 0, 0);
        inFlight++;
        sent++;
        conn.send(ver, cmd, payload);
      }
      client.next += interval;
    }
    if (client.next < endAt) {
      client.timer = setTimeout(tick, Math.max(0, client.next - performance.now()), client);
    }
  };

  const onResponse = (
    client: SimClient,
    rVer: number,
    rCmd: number,
    status: number,
    body: Buffer,
  ): void => {
    let sentAt: number | undefined;
    if (rVer === ver && rCmd === cmd) {
      if (numbered && status === Status.Ok && body.length === payload.length) {
        const number = body.readUInt32BE(0);
        sentAt = client.sentAt.take(number);
        if (sentAt !== undefined) {
          // Unanswered requests older than an answered one were lost on the way.
          const lost = client.sentAt.dropBefore(number);
          if (lost > 0) countLost(client, lost);
        }
      } else {
        sentAt = client.sentAt.shift();
      }
    }
    if (sentAt === undefined) {
      countError(
        LoadtestErrorCode.UnexpectedResponse,
        1,
        `client ${client.index}: response (${rVer}, ${rCmd}) status ${status} matches no request`,
      );
      return;
    }
    const now = performance.now();
    received++;
    inFlight--;
    if (status === Status.Ok) {
      if (body.length === payload.length) {
        ok++;
        rttHistogram.record((now - sentAt) * 1000);
      } else {
        countError(
          LoadtestErrorCode.BadEcho,
          1,
          `echo of ${body.length} bytes for a ${payload.length}-byte request`,
        );
      }
    } else {
      const answer = errorAnswer(body);
      countError(answer.code, 1, `status ${status}: ${answer.message}`);
    }
    if (inFlight === 0) onDrained?.();
  };

  const open = async (client: SimClient): Promise<void> => {
    attempted++;
    const began = performance.now();
    const conn = await transport.open({
      endpointUrl,
      uid: `${uidPrefix}${client.index}`,
      connectTimeoutMs,
      allowHost,
      signal: connectSignal,
    });
    connectHistogram.record((performance.now() - began) * 1000);
    connected++;
    client.conn = conn;
    conn.onResponse = (v, c, status, body) => onResponse(client, v, c, status, body);
    conn.onClose = (code, remote) => {
      closedEarly++;
      countError(
        code,
        1,
        `client ${client.index}: connection closed by ${remote ? 'the server' : 'this side'}`,
      );
      if (client.timer !== null) clearTimeout(client.timer);
      client.timer = null;
      settle(client);
    };
    if (!sending) return;
    // Spread the clients' first sends over one interval: no lockstep.
    const now = performance.now();
    const phase = Number.isFinite(interval) ? (interval * client.index) / options.clients : 0;
    client.next = now + phase;
    if (Number.isFinite(interval)) client.timer = setTimeout(tick, phase, client);
  };

  for (let i = 0; i < options.clients; i++) {
    clients.push({ index: i, conn: null, sentAt: new InFlightRequests(), timer: null, next: 0 });
  }

  // The first client alone: an unreachable target fails fast and clearly.
  const first = clients[0]!;
  try {
    await open(first);
  } catch (err) {
    if (options.signal?.aborted) {
      failed++;
    } else {
      throw loadtestError(
        LoadtestErrorCode.TargetUnreachable,
        `cannot load ${options.target}: ${errorKind(err, LoadtestErrorCode.ConnectFailed)}: ${(err as Error).message}`,
        err,
      );
    }
  }

  // The rest over the ramp-up, at most `maxConnecting` attempts at once.
  let nextToConnect = 1;
  let connecting = 0;
  let rampTimer: NodeJS.Timeout | null = null;
  const connectDone = (): void => {
    connecting--;
    pump();
  };
  const pump = (): void => {
    if (rampTimer !== null) clearTimeout(rampTimer);
    rampTimer = null;
    if (!sending || connectSignal.aborted) return;
    const now = performance.now();
    while (nextToConnect < options.clients && connecting < maxConnecting) {
      const due = start + (rampUpMs * nextToConnect) / options.clients;
      if (due > now) {
        rampTimer = setTimeout(pump, due - now);
        return;
      }
      const client = clients[nextToConnect++]!;
      connecting++;
      open(client).then(connectDone, (err: unknown) => {
        if (!connectSignal.aborted) {
          failed++;
          countError(errorKind(err, LoadtestErrorCode.ConnectFailed), 1, (err as Error).message);
        }
        connectDone();
      });
    }
  };

  const progressTimer = options.onProgress
    ? startProgress(options.onProgress, progressIntervalMs, () => ({
        elapsedMs: performance.now() - start,
        durationMs: options.durationMs,
        clients: options.clients,
        connected: connected - closedEarly,
        sent,
        received,
        errors: errorCount,
      }))
    : null;

  let interrupted = false;
  await new Promise<void>((resolve) => {
    const onAbort = (): void => {
      interrupted = true;
      finish();
    };
    const finish = (): void => {
      clearTimeout(endTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    // Timers may fire a little early against performance.now(): re-arm until the end.
    const onEnd = (): void => {
      const left = endAt - performance.now();
      if (left > 0) endTimer = setTimeout(onEnd, Math.ceil(left));
      else finish();
    };
    let endTimer = setTimeout(onEnd, Math.max(0, endAt - performance.now()));
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    pump();
  });

  // Stop sending and connecting; wait for the answers in flight.
  sending = false;
  const elapsedMs = performance.now() - start;
  if (rampTimer !== null) clearTimeout(rampTimer);
  connectAbort.abort();
  for (const client of clients) {
    if (client.timer !== null) clearTimeout(client.timer);
    client.timer = null;
  }
  const drainMs = interrupted ? Math.min(drainTimeoutMs, 500) : drainTimeoutMs;
  if (inFlight > 0 && drainMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, drainMs);
      function done(): void {
        clearTimeout(timer);
        onDrained = null;
        resolve();
      }
      onDrained = done;
    });
  }
  // Attempts still under way were aborted: wait for them to unwind.
  while (connecting > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const openCount = clients.filter((c) => c.conn !== null && !c.conn.closed).length;
  const after = metricsUrl === null || before === null ? null : await scrapeServer(metricsUrl);
  progressTimer?.stop();
  for (const client of clients) settle(client);
  await Promise.all(
    clients.map(async (client) => {
      const conn = client.conn;
      if (conn === null) return;
      conn.onResponse = null;
      conn.onClose = null;
      await conn.close().catch(() => {});
    }),
  );

  return {
    target: options.target,
    transport: transport.name,
    clients: options.clients,
    ratePerClient: options.rate,
    payloadSize: options.payloadSize,
    durationMs: options.durationMs,
    elapsedMs,
    interrupted,
    connections: { attempted, connected, failed, closedEarly },
    connectTime: connectHistogram.summary(),
    roundTrip: rttHistogram.summary(),
    messages: { sent, received, ok, unanswered },
    throughput: {
      messagesPerSecond: elapsedMs > 0 ? (received * 1000) / elapsedMs : 0,
      bytesPerSecond: elapsedMs > 0 ? (ok * payload.length * 1000) / elapsedMs : 0,
    },
    errors,
    errorSamples,
    server: serverUsage(before, after, openCount),
  };
}

function serverUsage(
  before: ServerSample | null,
  after: ServerSample | null,
  connections: number,
): ServerUsage | null {
  if (before === null || after === null) return null;
  const cpuSeconds =
    before.cpuSeconds !== null && after.cpuSeconds !== null
      ? after.cpuSeconds - before.cpuSeconds
      : null;
  const wall = (after.at - before.at) / 1000;
  return {
    cpuSeconds,
    cpuPercent: cpuSeconds !== null && wall > 0 ? (cpuSeconds / wall) * 100 : null,
    rssBeforeBytes: before.rssBytes,
    rssAfterBytes: after.rssBytes,
    rssPerConnectionBytes:
      before.rssBytes !== null && after.rssBytes !== null && connections > 0
        ? rssGrowthPerConnection(before.rssBytes, after.rssBytes, connections)
        : null,
    retransmits:
      before.retransmits !== null && after.retransmits !== null
        ? after.retransmits - before.retransmits
        : null,
  };
}

/** RSS growth per open connection, or null when RSS did not grow (a GC ran in between). */
export function rssGrowthPerConnection(
  beforeBytes: number,
  afterBytes: number,
  connections: number,
): number | null {
  return afterBytes > beforeBytes ? (afterBytes - beforeBytes) / connections : null;
}

/** The `{ code, message }` of a msgpack error answer, else a generic code. */
function errorAnswer(body: Buffer): { code: string; message: string } {
  try {
    const value = unpack<{ code?: unknown; message?: unknown }>(body);
    if (typeof value?.code === 'string' && value.code.startsWith('TIDEWIRE_')) {
      return { code: value.code, message: String(value.message ?? '') };
    }
  } catch (err) {
    if (!(err instanceof TidewireError)) throw err;
  }
  return {
    code: LoadtestErrorCode.ErrorStatus,
    message: `${body.length}-byte answer without a { code, message } map`,
  };
}

function startProgress(
  onProgress: (progress: Progress) => void,
  intervalMs: number,
  snapshot: () => Omit<Progress, 'messagesPerSecond'>,
): { stop(): void } {
  let lastAt = performance.now();
  let lastReceived = 0;
  let emitted = false;
  const emit = (): void => {
    emitted = true;
    const now = performance.now();
    const s = snapshot();
    const seconds = (now - lastAt) / 1000;
    const messagesPerSecond = seconds > 0 ? (s.received - lastReceived) / seconds : 0;
    lastAt = now;
    lastReceived = s.received;
    onProgress({ ...s, messagesPerSecond });
  };
  const timer = setInterval(emit, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      // A last snapshot unless one was just shown.
      if (!emitted || performance.now() - lastAt >= intervalMs / 2) emit();
    },
  };
}

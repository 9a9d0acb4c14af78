import { parseArgs } from 'node:util';
import { TidewireError } from '@tidewire/wire';
import {
  tcpTransport,
  udpTransport,
  udpTransportWithAckDelay,
  udpUnreliableTransport,
} from './client-transport.ts';
import { formatProgress, formatReport } from './report.ts';
import { checkLoadOptions, type LoadOptions, runLoad } from './runner.ts';
import type { LoadTransport } from './transport.ts';

/** Transports `--transport` accepts. */
export const transports: Readonly<Record<string, LoadTransport>> = {
  tcp: tcpTransport,
  udp: udpTransport,
  'udp-unreliable': udpUnreliableTransport,
};

export const HELP = `tidewire-loadtest: N simulated Tidewire clients against one server

Usage: tidewire-loadtest [options]

Options:
  --target <url>           HTTP session endpoint of the server (default http://127.0.0.1:7000)
  --transport <name>       tcp, udp or udp-unreliable (default tcp)
  --ack-delay <time>       UDP: clients hold the ACK of an answer up to this long (at most
                           250ms) so it rides with their next request (default 0)
  -c, --clients <n>        simulated clients (default 100)
  --ramp-up <time>         connect the clients evenly over this time (default 0)
  -r, --rate <n>           echo requests per second, per client (default 10)
  -p, --payload <bytes>    payload size of each request (default 32)
  -d, --duration <time>    length of the run, ramp-up included (default 10s)
  --connect-timeout <time> bound on session request + connect + hello (default 5s)
  --drain-timeout <time>   after the end, wait this long for answers in flight (default 2s)
  --max-in-flight <n>      unanswered requests per client before sends are skipped (default 1000)
  --metrics <url>          Prometheus text endpoint of the server (default <target>/metrics)
  --no-metrics             do not read server metrics
  --json                   print the report as JSON on stdout (progress goes to stderr)
  -q, --quiet              no live progress
  -h, --help               show this help

Times are seconds, or a number with ms, s or m (500ms, 2s, 1m).
The workload: each client sends (ver 2, cmd 1) echo requests on a timer and
records the round trip of each answer. Clients connect only to the target's
host or to loopback, whatever the session endpoint says.

Exit codes: 0 the run completed, 1 the target is unreachable (or a fatal
error), 2 bad options, 130 interrupted (SIGINT; the partial report is printed).
`;

/** Where the CLI writes; `isTTY` picks the in-place status line. */
export interface CliOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Aborting (SIGINT) ends the run early; the partial report is printed. */
  signal?: AbortSignal;
}

class UsageError extends Error {}

/** Parses "1.5", "1.5s", "500ms", "2m" into ms. */
export function parseDuration(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) {
    throw new UsageError(`--${name} must be a time like 10, 10s, 500ms or 1m, got '${text}'`);
  }
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? value : unit === 'm' ? value * 60_000 : value * 1000);
}

function parseInteger(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${text}'`);
  }
  return value;
}

function parse(argv: string[]): { options: LoadOptions; json: boolean; quiet: boolean } | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'http://127.0.0.1:7000' },
      transport: { type: 'string', default: 'tcp' },
      'ack-delay': { type: 'string', default: '0' },
      clients: { type: 'string', short: 'c', default: '100' },
      'ramp-up': { type: 'string', default: '0' },
      rate: { type: 'string', short: 'r', default: '10' },
      payload: { type: 'string', short: 'p', default: '32' },
      duration: { type: 'string', short: 'd', default: '10s' },
      'connect-timeout': { type: 'string', default: '5s' },
      'drain-timeout': { type: 'string', default: '2s' },
      'max-in-flight': { type: 'string', default: '1000' },
      metrics: { type: 'string' },
      'no-metrics': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  let transport = transports[values.transport];
  if (transport === undefined) {
    throw new UsageError(
      `--transport must be one of ${Object.keys(transports).join(', ')}, got '${values.transport}'`,
    );
  }
  const ackDelayMs = parseDuration('ack-delay', values['ack-delay']);
  if (ackDelayMs > 0) {
    if (transport === tcpTransport) {
      throw new UsageError('--ack-delay applies to the udp transports only');
    }
    if (ackDelayMs > 250) {
      // a bare number is seconds, as for every time option: say so, '60' meant 60ms is the likely slip
      const seconds = /^\s*\d+(?:\.\d+)?\s*$/.test(values['ack-delay'])
        ? ' (seconds: write 60ms for 60 ms)'
        : '';
      throw new UsageError(
        `--ack-delay must be at most 250ms, got '${values['ack-delay']}'${seconds}`,
      );
    }
    transport = udpTransportWithAckDelay(transport === udpTransport, ackDelayMs);
  }
  if (values.metrics !== undefined && values['no-metrics']) {
    throw new UsageError('--metrics and --no-metrics exclude each other');
  }
  const rate = Number(values.rate);
  if (values.rate.trim() === '' || !Number.isFinite(rate) || rate < 0) {
    throw new UsageError(`--rate must be a number >= 0, got '${values.rate}'`);
  }
  const options: LoadOptions = {
    target: values.target,
    transport,
    clients: parseInteger('clients', values.clients, 1),
    rampUpMs: parseDuration('ramp-up', values['ramp-up']),
    rate,
    payloadSize: parseInteger('payload', values.payload, 0),
    durationMs: parseDuration('duration', values.duration),
    connectTimeoutMs: parseDuration('connect-timeout', values['connect-timeout']),
    drainTimeoutMs: parseDuration('drain-timeout', values['drain-timeout']),
    maxInFlight: parseInteger('max-in-flight', values['max-in-flight'], 1),
    ...(values['no-metrics']
      ? { metricsUrl: null }
      : values.metrics !== undefined
        ? { metricsUrl: values.metrics }
        : {}),
  };
  return { options, json: values.json, quiet: values.quiet };
}

/**
 * The `tidewire-loadtest` command: parses `argv`, runs the load, prints the
 * live status and the report. Resolves with the exit code.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
    if (parsed !== 'help') checkLoadOptions(parsed.options);
  } catch (err) {
    const message = (err as Error).message;
    io.stderr.write(
      `tidewire-loadtest: ${message}\nRun tidewire-loadtest --help for the options.\n`,
    );
    return 2;
  }
  if (parsed === 'help') {
    io.stdout.write(HELP);
    return 0;
  }
  const { options, json, quiet } = parsed;
  // The report owns stdout with --json; the status line then goes to stderr.
  const status = json ? io.stderr : io.stdout;
  const tty = status.isTTY === true;
  let statusShown = false;
  try {
    const report = await runLoad({
      ...options,
      ...(io.signal ? { signal: io.signal } : {}),
      ...(quiet
        ? {}
        : {
            progressIntervalMs: tty ? 250 : 1000,
            onProgress: (p) => {
              const line = formatProgress(p);
              status.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
              statusShown = true;
            },
          }),
    });
    if (tty && statusShown) status.write('\n');
    io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.interrupted ? 130 : 0;
  } catch (err) {
    if (tty && statusShown) status.write('\n');
    const code = err instanceof TidewireError ? `${err.code}: ` : '';
    io.stderr.write(`tidewire-loadtest: ${code}${(err as Error).message}\n`);
    return 1;
  }
}

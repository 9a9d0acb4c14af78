#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { installRooms } from '@tidewire/room';
import { createServer } from '@tidewire/server';
import { fdLimitProblem, openFileLimit } from './checks.ts';
import { type AppConfig, loadAppConfig } from './config.ts';
import { registerDemoCommands } from './demo-commands.ts';
import { createLogger, type LogLevel } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';

const HELP = `tidewire-server: the Tidewire reference server (HTTP session endpoint + TCP)

Usage: tidewire-server [options]

Options:
  --config <path>      JSON config file (see apps/server/config/default.json)
  --role <role>        all (default): sessions, TCP and UDP in one process; http: the
                       session endpoint only; tcp or udp: that transport only;
                       connector: an external server (config connector) registered in
                       the cluster (a cluster needs a shared mesh: config mesh or
                       TIDEWIRE_MESH_URL)
  --host <address>     bind address for HTTP, TCP and UDP (default 127.0.0.1)
  --http-port <port>   HTTP session endpoint port (default 7000)
  --tcp-port <port>    TCP port (default 7200)
  --udp-port <port>    UDP port (default 7100)
  --debug              enable the debug commands (ver 0, 900-905)
  --log-level <level>  debug | info | warn | error (default: config log.level, else info)
  -h, --help           show this help

Environment:
  TIDEWIRE_SHUTDOWN_TIMEOUT   seconds to wait for users to leave on SIGTERM (overrides config)
  TIDEWIRE_LOG_LEVEL          log level (overrides config; --log-level wins)
  TIDEWIRE_PUBLIC_ENDPOINT    public host handed to clients (wins over config publicEndpoint)
  TIDEWIRE_MESH_URL           cluster mesh: "memory" or a redis:// URL (wins over config mesh)

HTTP routes besides sessions: GET /healthcheck, GET /ready (503 while OFFLINE),
GET /metrics (Prometheus text; config metrics.enabled, default true).

Signals: SIGTERM/SIGINT drain (OFFLINE, reconnect-elsewhere, wait, exit 0); a second one exits at once
(a SIGINT within 1 s of the first counts as the same Ctrl-C: pnpm forwards it too).
`;

/** Users assumed when capacity.maxUsers is not configured (for the warning only). */
const DEFAULT_EXPECTED_USERS = 10_000;

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let config: AppConfig;
  try {
    config = await loadAppConfig(args.config ?? '');
    applyOverrides(config, args);
  } catch (err) {
    process.stderr.write(`tidewire-server: ${(err as Error).message}\n`);
    return 1;
  }
  const logger = createLogger(config.log.level, config.log.pretty);
  // A configured capacity the descriptor limit cannot hold is an error; without
  // one, a low limit is only a warning (development machines often have 1024).
  const fdLimit = await openFileLimit();
  const fdProblem = fdLimitProblem(fdLimit, config.capacity.maxUsers ?? DEFAULT_EXPECTED_USERS);
  if (fdProblem !== null) {
    if (config.capacity.maxUsers !== undefined) {
      process.stderr.write(`tidewire-server: ${fdProblem}\n`);
      return 1;
    }
    logger.warn?.(fdProblem, { openFileLimit: fdLimit });
  }
  let metrics: Metrics | null = null;
  let server: ReturnType<typeof createServer>;
  try {
    server = createServer({
      config: config.server,
      logger,
      httpRoutes: (req, res) => metrics?.route(req, res) ?? false,
    });
  } catch (err) {
    process.stderr.write(`tidewire-server: ${(err as Error).message}\n`);
    return 1;
  }
  if (config.metrics.enabled) metrics = createMetrics(server);
  try {
    if (args.role === 'connector') await server.setupAsConnector();
    if (args.role === 'all' || args.role === 'tcp') await server.setupAsTCPServer();
    if (args.role === 'all' || args.role === 'udp') await server.setupAsUDPServer();
  } catch (err) {
    process.stderr.write(`tidewire-server: ${(err as Error).message}\n`);
    return 1;
  }
  if (config.notifications.enabled) {
    server.enableNotifications(
      config.notifications.maxMessageBytes !== undefined
        ? { maxMessageBytes: config.notifications.maxMessageBytes }
        : {},
    );
  }
  registerDemoCommands(server);
  // Rooms (ver 1): not on a connector, whose players talk to the external server.
  if (args.role !== 'connector' && args.role !== 'http') installRooms(server);
  server.onStop(() => metrics?.close());
  try {
    await server.start();
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    const message =
      error.code === 'EADDRINUSE'
        ? `address in use: ${(error as { address?: string }).address ?? ''}:${(error as { port?: number }).port ?? ''} (another server is running there; pick other ports)`
        : error.message;
    process.stderr.write(`tidewire-server: ${message}\n`);
    metrics?.close();
    return 1;
  }
  const http = server.config.http;
  process.stdout.write(
    `tidewire-server ready: http://${http.address}:${server.httpPort} tcp ${server.getEndPoint() || '-'} udp ${server.getUdpEndPoint() || '-'} node ${server.nodeId}\n`,
  );
  return await new Promise<number>((resolve) => {
    let stopping: { signal: NodeJS.Signals; at: number } | null = null;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping !== null) {
        if (isSameCtrlC(stopping, signal, Date.now())) return;
        logger.warn?.('second signal: exiting now', { signal });
        resolve(1);
        return;
      }
      stopping = { signal, at: Date.now() };
      logger.info?.('draining', { signal, timeoutSeconds: server.config.shutdownTimeout });
      server.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error?.('shutdown failed', { error: String(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Debug command 903 stops the server from inside.
    server.onStop(() => resolve(0));
  });
}

/**
 * A Ctrl-C in a terminal sends SIGINT to the whole foreground process group,
 * and `pnpm start` forwards the SIGINT it gets to the server too: one Ctrl-C
 * can arrive twice. A SIGINT this soon after the first is that same Ctrl-C,
 * not a second request to exit at once.
 */
const SAME_CTRL_C_MS = 1000;

function isSameCtrlC(
  first: { signal: NodeJS.Signals; at: number },
  signal: NodeJS.Signals,
  now: number,
): boolean {
  return first.signal === 'SIGINT' && signal === 'SIGINT' && now - first.at < SAME_CTRL_C_MS;
}

/**
 * The command line without a leading `--`: `pnpm start -- --debug` hands the
 * `--` on (pnpm 10), and npm-style commands write it, so both forms run.
 */
function cliArgs(argv: readonly string[]): string[] {
  return argv[0] === '--' ? argv.slice(1) : [...argv];
}

function parse() {
  return parseArgs({
    args: cliArgs(process.argv.slice(2)),
    options: {
      config: { type: 'string' },
      role: { type: 'string', default: 'all' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'tcp-port': { type: 'string' },
      'udp-port': { type: 'string' },
      debug: { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

function applyOverrides(config: AppConfig, args: ReturnType<typeof parse>): void {
  const port = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`--${name} must be a port in 0..65535, got ${value}`);
    return n;
  };
  const server = config.server;
  if (args.host !== undefined) {
    server.http = { ...server.http, address: args.host };
    server.tcp = { ...server.tcp, address: args.host };
    server.udp = { ...server.udp, address: args.host };
  }
  const httpPort = port('http-port', args['http-port']);
  if (httpPort !== undefined) server.http = { ...server.http, port: httpPort };
  const tcpPort = port('tcp-port', args['tcp-port']);
  if (tcpPort !== undefined) server.tcp = { ...server.tcp, port: tcpPort };
  const udpPort = port('udp-port', args['udp-port']);
  if (udpPort !== undefined) server.udp = { ...server.udp, port: udpPort };
  if (args.debug) server.debug = true;
  if (!['all', 'http', 'tcp', 'udp', 'connector'].includes(args.role ?? 'all')) {
    throw new Error(`--role must be all, http, tcp, udp or connector, got ${args.role}`);
  }
  if (args.role === 'tcp' || args.role === 'udp' || args.role === 'connector')
    server.http = { ...server.http, sessions: false };
  if (args.role === 'http') server.http = { ...server.http, sessions: true };
  const level = args['log-level'] ?? process.env.TIDEWIRE_LOG_LEVEL;
  if (level !== undefined && level !== '') {
    if (!['debug', 'info', 'warn', 'error'].includes(level)) {
      throw new Error(`log level must be debug, info, warn or error, got ${level}`);
    }
    config.log.level = level as LogLevel;
  }
  const timeout = process.env.TIDEWIRE_SHUTDOWN_TIMEOUT;
  if (timeout !== undefined && timeout !== '') {
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new Error(`TIDEWIRE_SHUTDOWN_TIMEOUT must be a number of seconds > 0, got ${timeout}`);
    }
    server.shutdownTimeout = seconds;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tidewire-server: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

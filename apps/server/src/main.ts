#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { createServer, loadConfig, type ServerConfig } from '@tidewire/server';
import { registerDemoCommands } from './demo-commands.ts';
import { createConsoleLogger } from './logger.ts';

const HELP = `tidewire-server: the Tidewire reference server (HTTP session endpoint + TCP)

Usage: tidewire-server [options]

Options:
  --config <path>      JSON config file (see apps/server/config/default.json)
  --host <address>     bind address for HTTP and TCP (default 127.0.0.1)
  --http-port <port>   HTTP session endpoint port (default 7000)
  --tcp-port <port>    TCP port (default 7200)
  --debug              enable the debug commands (ver 0, 900-905)
  --log-level <level>  debug | info | warn | error (default info)
  -h, --help           show this help

Environment:
  TIDEWIRE_SHUTDOWN_TIMEOUT   seconds to wait for users to leave on SIGTERM (overrides config)

Signals: SIGTERM/SIGINT drain (OFFLINE, reconnect-elsewhere, wait, exit 0); a second one exits at once.
`;

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
  const logger = createConsoleLogger(args['log-level'] as 'info');
  let config: ServerConfig;
  try {
    config = await loadConfig(args.config ?? '');
    applyOverrides(config, args);
  } catch (err) {
    process.stderr.write(`tidewire-server: ${(err as Error).message}\n`);
    return 1;
  }
  const server = createServer({ config, logger });
  await server.setupAsTCPServer();
  registerDemoCommands(server);
  try {
    await server.start();
  } catch (err) {
    process.stderr.write(`tidewire-server: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `tidewire-server ready: http://${config.http.address}:${server.httpPort} tcp ${server.getEndPoint()}\n`,
  );
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn?.('second signal: exiting now', { signal });
        resolve(1);
        return;
      }
      stopping = true;
      logger.info?.('draining', { signal, timeoutSeconds: config.shutdownTimeout });
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

function parse() {
  return parseArgs({
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      'http-port': { type: 'string' },
      'tcp-port': { type: 'string' },
      debug: { type: 'boolean' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

function applyOverrides(config: ServerConfig, args: ReturnType<typeof parse>): void {
  const port = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`--${name} must be a port in 0..65535, got ${value}`);
    return n;
  };
  if (args.host !== undefined) {
    config.http.address = args.host;
    config.tcp.address = args.host;
  }
  config.http.port = port('http-port', args['http-port']) ?? config.http.port;
  config.tcp.port = port('tcp-port', args['tcp-port']) ?? config.tcp.port;
  if (args.debug) config.debug = true;
  if (!['debug', 'info', 'warn', 'error'].includes(args['log-level'] ?? 'info')) {
    throw new Error(`--log-level must be debug, info, warn or error, got ${args['log-level']}`);
  }
  const timeout = process.env.TIDEWIRE_SHUTDOWN_TIMEOUT;
  if (timeout !== undefined && timeout !== '') {
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new Error(`TIDEWIRE_SHUTDOWN_TIMEOUT must be a number of seconds > 0, got ${timeout}`);
    }
    config.shutdownTimeout = seconds;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tidewire-server: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

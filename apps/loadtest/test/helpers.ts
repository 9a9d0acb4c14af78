import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, Ok, type TidewireServer } from '@tidewire/server';
import type { CliIo } from '../src/cli.ts';

export interface EchoServer {
  server: TidewireServer;
  target: string;
  close(): Promise<void>;
}

/** A real @tidewire/server on loopback, free ports, with the (2, 1) echo unless `echo` is false. */
export async function startEchoServer(
  options: { echo?: boolean; publicEndPoint?: string } = {},
): Promise<EchoServer> {
  const server = createServer({
    config: { http: { port: 0 }, tcp: { port: 0 }, udp: { port: 0 } },
    env: {},
  });
  await server.setupAsTCPServer();
  await server.setupAsUDPServer();
  if (options.echo !== false) {
    server.handleCommand(2, 1, (ver, cmd, payload, user, next) => {
      user.send(ver, cmd, payload, Ok);
      next();
    });
  }
  await server.start();
  if (options.publicEndPoint !== undefined) server.setPublicEndPoint(options.publicEndPoint);
  return {
    server,
    target: `http://127.0.0.1:${server.httpPort}`,
    close: () => server.close(),
  };
}

/**
 * Prometheus text of this process (which also runs the server under test).
 * `rssBytes`: the RSS of each scrape in turn, from the start again after the
 * last (a run scrapes twice), instead of this process's own.
 */
export async function startMetricsServer(
  options: { rssBytes?: readonly number[] } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  let scrapes = 0;
  const http: HttpServer = createHttpServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const cpu = process.cpuUsage();
    // a counter that moves by 5 between two scrapes
    scrapes++;
    const rss = options.rssBytes;
    const rssBytes =
      rss === undefined || rss.length === 0
        ? process.memoryUsage().rss
        : rss[(scrapes - 1) % rss.length]!;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n' +
        '# TYPE process_cpu_seconds_total counter\n' +
        `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}\n` +
        '# TYPE process_resident_memory_bytes gauge\n' +
        `process_resident_memory_bytes ${rssBytes}\n` +
        '# TYPE tidewire_retransmits_total counter\n' +
        `tidewire_retransmits_total ${scrapes * 5}\n`,
    );
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`,
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

/** A free loopback port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const http = createHttpServer();
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  await new Promise<void>((resolve) => http.close(() => resolve()));
  return port;
}

/** Captures what the CLI writes. */
export function captureIo(signal?: AbortSignal): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (text: string) => (out += text), isTTY: false },
    stderr: { write: (text: string) => (err += text), isTTY: false },
    ...(signal ? { signal } : {}),
    out: () => out,
    err: () => err,
  };
}

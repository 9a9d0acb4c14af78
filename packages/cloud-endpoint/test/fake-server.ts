import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FetchFunction } from '../src/index.ts';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** An HTTP server on 127.0.0.1, ephemeral port, that records every request. */
export async function startFake(handler: Handler): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    handler(req, res, new URL(req.url ?? '/', 'http://fake'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL where nothing listens (connection refused). */
export async function closedPortUrl(): Promise<string> {
  const fake = await startFake((_req, res) => res.end());
  await fake.close();
  return fake.baseUrl;
}

export function send(
  res: ServerResponse,
  status: number,
  body = '',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
  res.end(body);
}

/** Never answers: the client's deadline must fire. The server's close() cuts it. */
export function hang(_res: ServerResponse): void {}

export const HTML_ERROR_PAGE =
  '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>';

/**
 * The only fetch tests use: refuses (and records) any request to a host other
 * than 127.0.0.1, so no test can reach a real metadata service or the Internet.
 */
export function loopbackFetch(): { fetch: FetchFunction; violations: string[]; calls: string[] } {
  const violations: string[] = [];
  const calls: string[] = [];
  const fetch: FetchFunction = (input, init) => {
    const url = new URL(String(input));
    calls.push(url.href);
    if (url.hostname !== '127.0.0.1') {
      violations.push(url.href);
      return Promise.reject(new Error(`test refused non-loopback request to ${url.href}`));
    }
    return globalThis.fetch(url, init);
  };
  return { fetch, violations, calls };
}

/** A fetch that fails the test if it is called at all. */
export function forbiddenFetch(): { fetch: FetchFunction; calls: string[] } {
  const calls: string[] = [];
  const fetch: FetchFunction = (input) => {
    calls.push(String(input));
    return Promise.reject(new Error(`no network call expected, got ${String(input)}`));
  };
  return { fetch, calls };
}

export function header(req: SeenRequest | IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Per-file fixture: fakes started through `start` are closed after each test,
 * and each test fails if any request left the loopback interface.
 */
export function useFakes(afterEach: (fn: () => Promise<void>) => void): {
  start(handler: Handler): Promise<FakeServer>;
  fetch: FetchFunction;
  violations: string[];
} {
  const fakes: FakeServer[] = [];
  const guard = loopbackFetch();
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.close()));
    if (guard.violations.length > 0)
      throw new Error(`non-loopback requests: ${guard.violations.join(', ')}`);
  });
  return {
    async start(handler) {
      const fake = await startFake(handler);
      fakes.push(fake);
      return fake;
    },
    fetch: guard.fetch,
    violations: guard.violations,
  };
}

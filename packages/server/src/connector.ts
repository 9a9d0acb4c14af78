import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@tidewire/wire';
import type { ServerState } from './state.ts';

/**
 * Connector mode (the engine's `SetupAsConnector`): the node runs no client
 * transport. It registers an external real-time server (an Unreal dedicated
 * server, say) in the mesh under its own node id, so the session endpoint
 * sends players there, and it gives that server a small HTTP API:
 *
 * - `POST /v1/connector/sessions/{sid}`: the external server checks a
 *   player's session id (single use); answers `{ userId, key, clientInfo }`
 *   or 404.
 * - `PUT /v1/connector/status` with JSON `{ ccu?, state? }`: the external
 *   server reports its player count and, if it wants, TAKEN/ONLINE.
 *
 * Both need `authorization: Bearer <connector.token>`; without a token only
 * loopback callers are allowed.
 */
/** The loopback addresses a local caller connects from (IPv4, IPv6, IPv4-mapped). */
export function isLoopbackAddress(address: string): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

export interface ConnectorOptions {
  /** Public "host:port" of the external server: what players are sent to. */
  endpoint: string;
  /** Shared secret of the external server's calls; '' allows loopback callers only. */
  token: string;
  /** Optional: the external server's command line; the connector starts it and stops it on drain. */
  command: readonly string[];
  logger: Logger;
  /** Consumes a session ticket issued for this node; null when unknown, used, expired or for another node. */
  consumeSession: (
    sid: string,
  ) => Promise<{ userId: string; key: string; clientInfo?: Record<string, unknown> } | null>;
  /** The external server asked for a state change. */
  onState: (state: ServerState) => void;
  /** The external server reported its player count. */
  onCcu: (ccu: number) => void;
}

const SESSION_ROUTE = /^\/v1\/connector\/sessions\/([0-9a-f]{32})$/;
const STATUS_ROUTE = '/v1/connector/status';
const MAX_BODY_BYTES = 4096;

export class Connector {
  readonly #options: ConnectorOptions;
  #child: ChildProcess | null = null;
  #ccu = 0;

  constructor(options: ConnectorOptions) {
    this.#options = options;
  }

  /** Players on the external server, as last reported. */
  get ccu(): number {
    return this.#ccu;
  }

  /**
   * Starts the external server when a command is configured, with
   * `TIDEWIRE_CONNECTOR_URL` (this node's HTTP base URL) and
   * `TIDEWIRE_CONNECTOR_TOKEN` in its environment.
   */
  start(connectorUrl: string): void {
    const [file, ...args] = this.#options.command;
    if (file === undefined) return;
    const child = spawn(file, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        TIDEWIRE_CONNECTOR_URL: connectorUrl,
        TIDEWIRE_CONNECTOR_TOKEN: this.#options.token,
      },
    });
    child.once('exit', (code, signal) => {
      if (this.#child === child) {
        this.#child = null;
        this.#ccu = 0;
        this.#options.logger.warn?.('connector: external server exited', { code, signal });
      }
    });
    this.#child = child;
  }

  /** Stops the external server it started (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** The connector's HTTP routes; true when handled. */
  async route(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const session = SESSION_ROUTE.exec(path);
    if (session === null && path !== STATUS_ROUTE) return false;
    if (!this.#authorised(req)) {
      reply(res, 401, { error: 'connector token required', code: 'TIDEWIRE_ERR_UNAUTHORIZED' });
      return true;
    }
    if (session !== null) {
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      const found = await this.#options.consumeSession(session[1]!);
      if (found === null) {
        reply(res, 404, {
          error: 'unknown, used or expired session',
          code: 'TIDEWIRE_ERR_SESSION_INVALID',
        });
      } else {
        reply(res, 200, found);
      }
      return true;
    }
    if (req.method !== 'PUT') return methodNotAllowed(res, 'PUT');
    let body: { ccu?: unknown; state?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch (err) {
      reply(res, 400, {
        error: `body must be JSON { ccu?, state? }: ${(err as Error).message}`,
        code: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
      });
      return true;
    }
    const { ccu, state } = body ?? {};
    if (ccu !== undefined && !(Number.isInteger(ccu) && (ccu as number) >= 0)) {
      reply(res, 400, {
        error: 'ccu must be an integer >= 0',
        code: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
      });
      return true;
    }
    if (state !== undefined && state !== 'ONLINE' && state !== 'TAKEN') {
      reply(res, 400, {
        error: "state must be 'ONLINE' or 'TAKEN' (drain with SIGTERM)",
        code: 'TIDEWIRE_ERR_INVALID_ARGUMENT',
      });
      return true;
    }
    if (typeof ccu === 'number') {
      this.#ccu = ccu;
      this.#options.onCcu(ccu);
    }
    if (state === 'ONLINE' || state === 'TAKEN') this.#options.onState(state);
    reply(res, 204, null);
    return true;
  }

  #authorised(req: IncomingMessage): boolean {
    const { token } = this.#options;
    if (token !== '') return req.headers.authorization === `Bearer ${token}`;
    return isLoopbackAddress(req.socket.remoteAddress ?? '');
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (body === null) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function methodNotAllowed(res: ServerResponse, allow: string): true {
  res.setHeader('allow', allow);
  reply(res, 405, { error: 'method not allowed', code: 'TIDEWIRE_ERR_METHOD_NOT_ALLOWED' });
  return true;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SessionTicket } from '@tidewire/mesh';
import { TidewireError } from '@tidewire/wire';
import { ServerErrorCode, serverError } from './errors.ts';
import { isLoopbackAddress, TokenBuckets } from './rate-limit.ts';

/** What the HTTP endpoint answers for a session request. */
export interface SessionResponse {
  serverType: 'tcp' | 'udp';
  host: string;
  port: number;
  sid: string;
  key: string;
  expiresAt: number;
  /** True when the node seals the transport with the session key (AES-128-GCM). */
  encryption: boolean;
}

/**
 * Decides whether `uid` may get a session. Return true to allow, false to
 * refuse (403), or throw a `TidewireError` whose message is sent to the client.
 */
export type AuthenticateHook = (
  request: IncomingMessage,
  uid: string,
) => boolean | Promise<boolean>;

/**
 * Where a session for `transport` should go: this node or another one of the
 * cluster, skipping nodes whose endpoint ("host:port") is in `avoid`; null
 * when nodes serve it but none accepts users now, 'unserved' when no node of
 * the cluster serves that transport at all.
 */
export type AllocateSession = (
  transport: 'tcp' | 'udp',
  avoid: ReadonlySet<string>,
) => Promise<
  { nodeId: string; host: string; port: number; encryption: boolean } | null | 'unserved'
>;

/** Per-address limit of session requests (a token bucket each). */
export interface SessionRateLimit {
  /** Requests per second each address gains; 0 turns the limit off. */
  perSecond: number;
  /** Requests an address may make at once. */
  burst: number;
  /** Limit loopback callers too (off: load tests and local tools are not limited). */
  loopback: boolean;
}

/** How many `avoid` endpoints a session request may name. */
const MAX_AVOID = 8;

export interface HttpEndpointOptions {
  host: string;
  port: number;
  sessionTtlMs: number;
  /** Serve `/v1/endpoint/...`; when false those paths are 404 like any unknown route. */
  sessions: boolean;
  authenticate: AuthenticateHook;
  allocate: AllocateSession;
  issueTicket: (ticket: SessionTicket, ttlMs: number) => Promise<void>;
  rateLimit?: SessionRateLimit;
  /**
   * Called once when the cluster store stops answering session requests
   * (`down` true, with the error) and once when it answers again.
   */
  onStoreOutage?: (down: boolean, err?: unknown) => void;
  /** Extra routes (health checks, metrics): return true when handled. */
  extraRoutes?: (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;
  onError?: (err: unknown) => void;
}

/** Well-formed user ids: 1 to 128 characters of letters, digits and `_ . : @ -`. */
export const USER_ID_PATTERN: RegExp = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** The default authenticate hook: any well-formed uid gets a session. Replace it in production. */
export const allowAnyUser: AuthenticateHook = () => true;

const ROUTE = /^\/v1\/endpoint\/(tcp|udp)\/user\/([^/?#]+)$/;

/** The HTTP session endpoint: `GET /v1/endpoint/{tcp|udp}/user/{uid}`. */
export class HttpEndpoint {
  readonly #options: HttpEndpointOptions;
  readonly #buckets: TokenBuckets | null;
  #server: Server | null = null;
  #storeDown = false;

  constructor(options: HttpEndpointOptions) {
    this.#options = options;
    const limit = options.rateLimit;
    this.#buckets =
      limit !== undefined && limit.perSecond > 0
        ? new TokenBuckets(limit.perSecond, limit.burst)
        : null;
  }

  /** The bound port (after `listen`). */
  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get host(): string {
    return this.#options.host;
  }

  /** The listening HTTP server (after `listen`), for transports that attach to it. */
  get server(): Server | null {
    return this.#server;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#options.onError?.(err);
        if (!res.headersSent)
          json(res, 500, { error: 'internal error', code: 'TIDEWIRE_ERR_INTERNAL' });
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          serverError(
            ServerErrorCode.InvalidConfig,
            `HTTP endpoint cannot listen on ${this.#options.host}:${this.#options.port}: ${err.message}`,
            err,
          ),
        );
      };
      server.once('error', onError);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = this.#options.sessions ? ROUTE.exec(url.pathname) : null;
    if (match === null) {
      if (this.#options.extraRoutes !== undefined && (await this.#options.extraRoutes(req, res)))
        return;
      json(res, 404, { error: 'not found', code: 'TIDEWIRE_ERR_NOT_FOUND' });
      return;
    }
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      json(res, 405, { error: 'method not allowed', code: 'TIDEWIRE_ERR_METHOD_NOT_ALLOWED' });
      return;
    }
    if (this.#limited(req, res)) return;
    const transport = match[1] as 'tcp' | 'udp';
    const avoid = new Set(url.searchParams.getAll('avoid').slice(0, MAX_AVOID));
    let uid: string;
    try {
      uid = decodeURIComponent(match[2]!);
    } catch {
      uid = '';
    }
    if (!USER_ID_PATTERN.test(uid)) {
      json(res, 400, {
        error: 'user id must be 1-128 characters of letters, digits and _ . : @ -',
        code: 'TIDEWIRE_ERR_INVALID_USER_ID',
      });
      return;
    }
    let allowed: boolean;
    try {
      allowed = await this.#options.authenticate(req, uid);
    } catch (err) {
      const message = err instanceof TidewireError ? err.message : 'authentication failed';
      json(res, 403, { error: message, code: 'TIDEWIRE_ERR_FORBIDDEN' });
      return;
    }
    if (!allowed) {
      json(res, 403, { error: 'user may not connect', code: 'TIDEWIRE_ERR_FORBIDDEN' });
      return;
    }
    let target: Awaited<ReturnType<AllocateSession>>;
    let ticket: SessionTicket | null = null;
    try {
      target = await this.#options.allocate(transport, avoid);
      if (target !== null && target !== 'unserved') {
        ticket = newTicket(uid, target.nodeId, transport, this.#options.sessionTtlMs);
        await this.#options.issueTicket(ticket, this.#options.sessionTtlMs);
      }
    } catch (err) {
      if (!isStoreOutage(err)) throw err;
      if (!this.#storeDown) {
        this.#storeDown = true;
        this.#options.onStoreOutage?.(true, err);
      }
      res.setHeader('retry-after', '1');
      json(res, 503, {
        error: 'the cluster store is unavailable',
        code: ServerErrorCode.ClusterUnavailable,
      });
      return;
    }
    if (this.#storeDown) {
      this.#storeDown = false;
      this.#options.onStoreOutage?.(false);
    }
    if (target === 'unserved') {
      json(res, 404, {
        error: `no node of this cluster serves ${transport}`,
        code: ServerErrorCode.TransportNotServed,
      });
      return;
    }
    if (target === null || ticket === null) {
      res.setHeader('retry-after', '2');
      json(res, 503, {
        error: `no ${transport} server is accepting users`,
        code: ServerErrorCode.NotAccepting,
      });
      return;
    }
    const body: SessionResponse = {
      serverType: transport,
      host: target.host,
      port: target.port,
      sid: ticket.sid,
      key: ticket.key,
      expiresAt: ticket.expiresAt,
      encryption: target.encryption,
    };
    res.setHeader('cache-control', 'no-store');
    json(res, 200, body);
  }

  /** Answers 429 and returns true when the caller's address is over the limit. */
  #limited(req: IncomingMessage, res: ServerResponse): boolean {
    const buckets = this.#buckets;
    if (buckets === null) return false;
    const address = req.socket.remoteAddress ?? '';
    if (!this.#options.rateLimit!.loopback && isLoopbackAddress(address)) return false;
    const waitMs = buckets.take(address);
    if (waitMs === 0) return false;
    res.setHeader('retry-after', String(Math.ceil(waitMs / 1000)));
    json(res, 429, {
      error: 'too many session requests from this address',
      code: ServerErrorCode.TooManyRequests,
    });
    return true;
  }
}

function newTicket(
  userId: string,
  nodeId: string,
  transport: 'tcp' | 'udp',
  ttlMs: number,
): SessionTicket {
  return {
    sid: randomBytes(16).toString('hex'),
    key: randomBytes(16).toString('hex'),
    userId,
    nodeId,
    transport,
    expiresAt: Date.now() + ttlMs,
  };
}

/** Errors of the cluster store that a retry may get past (Redis down or slow). */
const STORE_OUTAGE_CODES: ReadonlySet<string> = new Set([
  'TIDEWIRE_ERR_MESH_UNAVAILABLE',
  'TIDEWIRE_ERR_MESH_UNREACHABLE',
]);

function isStoreOutage(err: unknown): boolean {
  return err instanceof TidewireError && STORE_OUTAGE_CODES.has(err.code);
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

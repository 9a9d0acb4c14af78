import { ClientErrorCode, clientError } from './errors.ts';

/** What the HTTP session endpoint hands out. */
export interface Session {
  serverType: 'tcp' | 'udp';
  host: string;
  port: number;
  /** Session id, 32 hex characters. */
  sid: string;
  /** Session key, 32 hex characters. */
  key: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
  /** True when the node seals the transport with `key` (AES-128-GCM). Absent from older servers: false. */
  encryption?: boolean;
}

export interface RequestSessionOptions {
  /** Base URL of the HTTP endpoint, e.g. `http://127.0.0.1:7000`. */
  endpointUrl: string;
  uid: string;
  transport: 'tcp' | 'udp';
  signal?: AbortSignal;
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Extra request headers (an auth token for the server's authenticate hook). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Endpoints ("host:port") the server should not hand out: nodes this client could not reach. */
  avoid?: readonly string[];
}

const HEX32 = /^[0-9a-f]{32}$/;

/** `GET {endpointUrl}/v1/endpoint/{transport}/user/{uid}` and validates the answer. */
export async function requestSession(options: RequestSessionOptions): Promise<Session> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const url = new URL(
    `v1/endpoint/${options.transport}/user/${encodeURIComponent(options.uid)}`,
    options.endpointUrl.endsWith('/') ? options.endpointUrl : `${options.endpointUrl}/`,
  );
  for (const endpoint of options.avoid ?? []) url.searchParams.append('avoid', endpoint);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetchFn(url, { signal, headers: options.headers ?? {} });
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw fail(`session request to ${url.origin} failed: ${(err as Error).message}`, err);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const info = body as { error?: string; code?: string } | undefined;
    throw fail(
      `session endpoint answered ${response.status}${info?.code ? ` ${info.code}` : ''}: ${info?.error ?? text.slice(0, 200)}`,
    );
  }
  const s = body as Partial<Session> | undefined;
  if (
    !s ||
    (s.serverType !== 'tcp' && s.serverType !== 'udp') ||
    typeof s.host !== 'string' ||
    !Number.isInteger(s.port) ||
    typeof s.sid !== 'string' ||
    !HEX32.test(s.sid) ||
    typeof s.key !== 'string' ||
    !HEX32.test(s.key) ||
    typeof s.expiresAt !== 'number' ||
    (s.encryption !== undefined && typeof s.encryption !== 'boolean')
  ) {
    throw fail(`session endpoint answered an unexpected body: ${text.slice(0, 200)}`);
  }
  return s as Session;
}

function fail(message: string, cause?: unknown): Error {
  return clientError(ClientErrorCode.SessionRequestFailed, message, cause);
}

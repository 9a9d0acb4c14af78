import type { IncomingMessage } from 'node:http';

/** Which page origins may open a WebSocket: a list of exact origins, '*', or a function. */
export type OriginPolicy =
  | readonly string[]
  | '*'
  | ((origin: string, request: IncomingMessage) => boolean);

const LOCAL_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * True when an upgrade with this Origin may proceed. No Origin header (a
 * native client, not a browser): allowed. The default policy (undefined)
 * allows the node's own host (the request's Host header) and localhost on
 * any port; a list allows exactly those origins (plus the default's).
 */
export function originAllowed(request: IncomingMessage, policy: OriginPolicy | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined || origin === '') return true;
  if (policy === '*') return true;
  if (typeof policy === 'function') return policy(origin, request);
  if (policy?.includes(origin) === true) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (LOCAL_HOSTS.has(url.hostname)) return true;
  return request.headers.host !== undefined && url.host === request.headers.host;
}

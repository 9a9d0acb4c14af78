/**
 * A node's client transport behind a cutting proxy, and a session step that
 * sends the client there: what the resume tests and the resume soak share.
 */
import type { TidewireServer } from '../src/index.ts';
import { type CutProxy, startCutProxy } from './cut-proxy.ts';

export type ProxiedTransport = 'tcp' | 'udp' | 'ws';

/** A cutting proxy in front of the node's port for `transport` (WS: a TCP proxy before the WS port). */
export function proxyFor(server: TidewireServer, transport: ProxiedTransport): Promise<CutProxy> {
  const port = { tcp: server.tcpPort, udp: server.udpPort, ws: server.wsPort }[transport];
  return startCutProxy({
    target: { host: '127.0.0.1', port },
    protocol: transport === 'udp' ? 'udp' : 'tcp',
  });
}

/** A fetch that hands out the proxy's port (and for WS its URL) instead of the node's. */
export function viaProxy(proxy: CutProxy): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const body = (await response.json()) as Record<string, unknown>;
    const url = typeof body.url === 'string' ? new URL(body.url) : null;
    if (url !== null) url.port = String(proxy.port);
    const rewritten = { ...body, port: proxy.port, ...(url !== null ? { url: String(url) } : {}) };
    return new Response(JSON.stringify(rewritten), {
      status: response.status,
      headers: { 'content-type': 'application/json' },
    });
  };
}

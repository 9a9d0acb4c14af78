import { type ConnectOptions, connect, type TidewireClient } from '@tidewire/client';
import { type CreateServerOptions, createServer, type TidewireServer } from '../src/index.ts';

/** A server on free loopback ports, set up as TCP, not yet started unless `start` is true. */
export async function testServer(
  options: CreateServerOptions = {},
  setup: (server: TidewireServer) => void = () => {},
): Promise<TidewireServer> {
  const server = createServer({
    ...options,
    config: {
      ...options.config,
      http: { port: 0, ...options.config?.http },
      tcp: { port: 0, ...options.config?.tcp },
    },
  });
  await server.setupAsTCPServer();
  setup(server);
  await server.start();
  return server;
}

export function endpointOf(server: TidewireServer): string {
  return `http://127.0.0.1:${server.httpPort}`;
}

export function client(
  server: TidewireServer,
  uid: string,
  options: Partial<ConnectOptions> = {},
): Promise<TidewireClient> {
  return connect({ endpointUrl: endpointOf(server), uid, keepAliveIntervalMs: 0, ...options });
}

export async function getSession(
  server: TidewireServer,
  uid: string,
  transport = 'tcp',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${endpointOf(server)}/v1/endpoint/${transport}/user/${uid}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export function waitFor(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

import { connect, type TidewireClient } from '@tidewire/client';
import { LoadtestErrorCode, loadtestError } from './errors.ts';
import type {
  CloseHandler,
  LoadConnection,
  LoadTransport,
  OpenOptions,
  ResponseHandler,
} from './transport.ts';

/**
 * A load transport through `@tidewire/client` (session request, connect and
 * hello): TCP, or reliable UDP sending requests on the reliable or the
 * unreliable channel.
 */
function clientTransport(
  name: string,
  transport: 'tcp' | 'udp',
  reliable: boolean,
  ackDelayMs = 0,
): LoadTransport {
  return {
    name,
    open: (options) => openClient(options, transport, reliable, ackDelayMs),
  };
}

/** TCP. */
export const tcpTransport: LoadTransport = clientTransport('tcp', 'tcp', true);
/** Reliable UDP, requests on the reliable ordered channel. */
export const udpTransport: LoadTransport = clientTransport('udp', 'udp', true);
/** Reliable UDP, requests on the unreliable channel (answers come back reliable). */
export const udpUnreliableTransport: LoadTransport = clientTransport(
  'udp-unreliable',
  'udp',
  false,
);

/**
 * `udp` or `udp-unreliable` with clients that hold their ACKs up to
 * `ackDelayMs` (the client's `ackDelayMs` option): the ACK of an answer rides
 * with the next request when one follows within that time.
 */
export function udpTransportWithAckDelay(reliable: boolean, ackDelayMs: number): LoadTransport {
  return clientTransport(reliable ? 'udp' : 'udp-unreliable', 'udp', reliable, ackDelayMs);
}

async function openClient(
  options: OpenOptions,
  transport: 'tcp' | 'udp',
  reliable: boolean,
  ackDelayMs: number,
): Promise<LoadConnection> {
  let refused: string | null = null;
  const client = await connect({
    endpointUrl: options.endpointUrl,
    uid: options.uid,
    transport,
    connectTimeoutMs: options.connectTimeoutMs,
    ...(ackDelayMs > 0 ? { ackDelayMs } : {}),
    // A check before any byte goes to the session's host: fetch is the seam.
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      if (response.ok) {
        const body = (await response.clone().json()) as { host?: unknown };
        if (typeof body.host === 'string' && !options.allowHost(body.host)) {
          refused = body.host;
          throw loadtestError(
            LoadtestErrorCode.ForeignHost,
            `the session endpoint sent the client to ${body.host}, which is neither loopback nor the target's host`,
          );
        }
      }
      return response;
    },
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((err: unknown) => {
    if (refused !== null) {
      throw loadtestError(
        LoadtestErrorCode.ForeignHost,
        `the session endpoint sent the client to ${refused}, which is neither loopback nor the target's host`,
      );
    }
    throw err;
  });
  return new ClientLoadConnection(client, reliable);
}

class ClientLoadConnection implements LoadConnection {
  readonly remote: string;
  onResponse: ResponseHandler | null = null;
  onClose: CloseHandler | null = null;
  readonly #client: TidewireClient;
  readonly #options: { reliable: boolean };
  #closing = false;

  constructor(client: TidewireClient, reliable: boolean) {
    this.#client = client;
    this.#options = { reliable };
    this.remote = `${client.session.host}:${client.session.port}`;
    client.on('response', (message) =>
      this.onResponse?.(message.ver, message.cmd, message.status, message.payload),
    );
    client.on('close', (info) => {
      if (!this.#closing) this.onClose?.(info.code, info.remote);
    });
  }

  get closed(): boolean {
    return this.#client.closed;
  }

  send(ver: number, cmd: number, payload: Uint8Array): boolean {
    return this.#client.send(ver, cmd, payload, this.#options);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#client.close();
  }
}

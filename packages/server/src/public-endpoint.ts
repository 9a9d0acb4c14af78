/**
 * The public endpoint: the "host:port" clients are sent to. An explicit
 * `setPublicEndPoint` wins; else a public host resolved from config
 * `publicEndpoint` or a cloud's metadata (`setupServerFor*`) with the bound
 * port; else the bound address (loopback for a wildcard bind).
 */
import {
  type EndpointProvider,
  type PublicEndpointOptions,
  resolvePublicEndpoint,
} from '@tidewire/cloud-endpoint';
import type { Logger } from '@tidewire/wire';
import { formatEndpoint, parseEndpoint, type ServerConfig } from './config.ts';
import type { TransportListener } from './user-connection.ts';

/** Options of `setupServerForAWS()` and its siblings. */
export interface CloudSetupOptions {
  signal?: AbortSignal;
}

export type CloudOptions = Omit<PublicEndpointOptions, 'signal' | 'timeoutMs' | 'logger'>;

export interface PublicEndpointContext {
  readonly logger: Logger;
  readonly cloud: CloudOptions;
  config(): ServerConfig;
  /** The running listeners in registration order (the first is the node's main one). */
  listeners(): readonly TransportListener[];
  /** The UDP listener, if UDP runs. */
  udp(): TransportListener | undefined;
  /** Runs after the public endpoint changed (the registry hears of it). */
  onChange(): void;
}

export class PublicEndpoint {
  readonly #context: PublicEndpointContext;
  /** Set by setPublicEndPoint: "host:port", wins over everything. */
  #explicit = '';
  /** Resolved from config publicEndpoint or a setupServerFor* call; '' = the bound address. */
  #host = '';
  /** True once a lookup succeeded (setupServerFor* before start): start() does not repeat it. */
  #resolved = false;

  constructor(context: PublicEndpointContext) {
    this.#context = context;
  }

  /** The resolved public host ('' when the bound address is used). */
  get host(): string {
    return this.#host;
  }

  get resolved(): boolean {
    return this.#resolved;
  }

  set(address: string): void {
    parseEndpoint(address, 'setPublicEndPoint');
    this.#explicit = address;
    this.#context.onChange();
  }

  /** `getPublicEndPoint()`. */
  get(): string {
    if (this.#explicit !== '') return this.#explicit;
    const main = this.#context.listeners()[0];
    if (main === undefined) return '';
    return formatEndpoint(this.#hostFor(main.host), main.port);
  }

  /** `getPublicUdpEndPoint()`. */
  udp(): string {
    const udp = this.#context.udp();
    if (udp === undefined) return '';
    const onlyUdp = this.#context.listeners().every((l) => l === udp);
    if (onlyUdp && this.#explicit !== '') return this.#explicit;
    const host =
      this.#explicit !== ''
        ? parseEndpoint(this.#explicit, 'public endpoint').host
        : this.#hostFor(udp.host);
    return formatEndpoint(host, udp.port);
  }

  /** Makes `provider` the source of the public host and resolves it now. */
  async setupCloud(provider: EndpointProvider, options: CloudSetupOptions = {}): Promise<void> {
    this.#context.config().publicEndpoint.provider = provider;
    await this.resolve(options.signal);
  }

  async resolve(signal?: AbortSignal): Promise<void> {
    const context = this.#context;
    const section = context.config().publicEndpoint;
    const resolved = await resolvePublicEndpoint(
      {
        provider: section.provider,
        ...(section.address !== '' ? { address: section.address } : {}),
        ...(section.fallback !== '' ? { fallback: section.fallback } : {}),
      },
      {
        ...context.cloud,
        timeoutMs: section.timeoutMs,
        logger: context.logger,
        ...(signal !== undefined ? { signal } : {}),
      },
    );
    // 'default' is static without an address: keep the bound address.
    this.#host = resolved.source === 'default' ? '' : resolved.host;
    this.#resolved = true;
    context.onChange();
    context.logger.info?.('public endpoint', {
      provider: resolved.provider,
      source: resolved.source,
      host: resolved.host,
    });
  }

  #hostFor(bound: string): string {
    if (this.#host !== '') return this.#host;
    return bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
  }
}

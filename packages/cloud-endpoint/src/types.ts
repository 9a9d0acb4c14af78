/** A provider with a resolver in this package. */
export type ProviderName = 'aws' | 'gcp' | 'azure' | 'alibaba' | 'tencent' | 'linode' | 'generic';

/** Every provider name, in the order `detect()` reports them. */
export const PROVIDER_NAMES: readonly ProviderName[] = [
  'aws',
  'gcp',
  'azure',
  'alibaba',
  'tencent',
  'linode',
  'generic',
];

/** A public address found by a resolver: at least one of `ipv4`, `ipv6` is set. */
export interface PublicAddress {
  provider: ProviderName;
  ipv4?: string;
  ipv6?: string;
}

/** Optional logger; any object with some of these methods (console, pino...) fits. */
export interface CloudLogger {
  debug?(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  warn?(message: string, details?: Record<string, unknown>): void;
  error?(message: string, details?: Record<string, unknown>): void;
}

/** The `fetch` signature this package uses (the global one by default). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Options every resolver takes. */
export interface ResolveOptions {
  /** Aborts the resolution (the error has code `TIDEWIRE_ERR_CLOUD_ABORTED`). */
  signal?: AbortSignal;
  /** Deadline for the whole resolution (token and lookups), in ms. Default 1000 (generic: 1500 per service). */
  timeoutMs?: number;
  /** Overrides the metadata service origin, e.g. `http://127.0.0.1:8080` in tests. */
  baseUrl?: string;
  /** Defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
  logger?: CloudLogger;
}

/** Options of `resolveGeneric`. */
export interface GenericResolveOptions extends ResolveOptions {
  /**
   * "What is my address" services, tried in turn; each must answer a bare IP
   * address as text. Default: `DEFAULT_GENERIC_SERVICES`. `baseUrl`, when set,
   * replaces this list with `[baseUrl]`.
   */
  services?: readonly string[];
}
